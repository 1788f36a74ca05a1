import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Rng, type Tensor, randn, dotTolerance, type LinearLayer, type SerializedLayer } from '@llmpress/tensor';
import { TTLinear, TTSparseLinear, LowRankSparseLinear, CsrMatrix, Sparse24Matrix, ttMatrixToDense, indexWidth, topK, type SparseMatrix } from './index.js';

function randomTTLinear(rowDims: number[], colDims: number[], r: number, seed: number): TTLinear {
  const d = rowDims.length;
  const ranks = [1, ...rowDims.slice(1).map(() => r), 1];
  const rng = new Rng(seed);
  const cores = rowDims.map((m, k) => Float32Array.from({ length: ranks[k]! * m * colDims[k]! * ranks[k + 1]! }, () => rng.normal()));
  void d;
  return new TTLinear(rowDims, colDims, ranks, cores);
}

/** f64 reference y = x Wᵀ and the rounding bound Σ|w||x| per entry. */
function reference(w: ArrayLike<number>, absW: ArrayLike<number>, x: Float32Array, T: number, m: number, n: number) {
  const y = new Float64Array(T * m),
    b = new Float64Array(T * m);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < m; i++) {
      let s = 0,
        a = 0;
      for (let j = 0; j < n; j++) {
        s += w[i * n + j]! * x[t * n + j]!;
        a += absW[i * n + j]! * Math.abs(x[t * n + j]!);
      }
      y[t * m + i] = s;
      b[t * m + i] = a;
    }
  return { y, b };
}

function serializedBytes(s: SerializedLayer): number {
  return Object.values(s.tensors).reduce((a, t) => a + t.data.byteLength, 0);
}

const factor = fc.integer({ min: 1, max: 5 });

describe('TTLinear', () => {
  it('forward equals the dense matvec of its own weight (all contraction paths)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 4 })
          .chain((d) => fc.tuple(fc.array(factor, { minLength: d, maxLength: d }), fc.array(factor, { minLength: d, maxLength: d }))),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer(),
        ([rd, cd], r, T, seed) => {
          const layer = randomTTLinear(rd, cd, r, seed);
          const m = layer.outFeatures,
            n = layer.inFeatures;
          const x = randn([T, n], { seed: seed + 7 }) as Tensor<'f32'>;
          const y = layer.forward(x);
          expect(y.shape).toEqual([T, m]);
          const tt = { rowDims: rd, colDims: cd, ranks: layer.ranks.slice(), dims: rd.map((a, k) => a * cd[k]!) };
          const w = ttMatrixToDense({ ...tt, cores: layer.cores.map((c) => Float64Array.from(c)) });
          const absW = ttMatrixToDense({ ...tt, cores: layer.cores.map((c) => Float64Array.from(c, Math.abs)) });
          const ref = reference(w, absW, x.data, T, m, n);
          const K = layer.ranks.reduce((a, b) => a + b, 0) * Math.max(...cd) * rd.length + n;
          for (let i = 0; i < y.size; i++) expect(Math.abs(y.data[i]! - ref.y[i]!)).toBeLessThanOrEqual(dotTolerance('f32', K, 4) * ref.b[i]! + 1e-30);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a large-P, small-R shape exercises the permuted single-GEMM path', () => {
    const layer = randomTTLinear([4, 4, 4], [4, 4, 4], 3, 1);
    const x = randn([20, 64], { seed: 2 }) as Tensor<'f32'>;
    const y = layer.forward(x);
    const w = layer.toDense();
    const absW = ttMatrixToDense({
      rowDims: [4, 4, 4],
      colDims: [4, 4, 4],
      ranks: layer.ranks.slice(),
      dims: [16, 16, 16],
      cores: layer.cores.map((c) => Float64Array.from(c, Math.abs)),
    });
    const ref = reference(w.data, absW, x.data, 20, 64, 64);
    for (let i = 0; i < y.size; i++)
      expect(Math.abs(y.data[i]! - ref.y[i]!)).toBeLessThanOrEqual(dotTolerance('f32', 200, 4) * ref.b[i]! + 1e-6 * Math.abs(ref.b[i]!));
  });

  it('counts bytes exactly and round-trips through serialize', () => {
    const layer = randomTTLinear([2, 8], [4, 16], 5, 3);
    expect(layer.params()).toBe(1 * 2 * 4 * 5 + 5 * 8 * 16 * 1);
    expect(layer.bytes()).toBe(4 * layer.params());
    const s = layer.serialize();
    expect(serializedBytes(s)).toBe(layer.bytes());
    const back = TTLinear.deserialize(s);
    expect(Array.from(back.toDense().data)).toEqual(Array.from(layer.toDense().data));
    expect(() => TTLinear.deserialize({ ...s, kind: 'dense' })).toThrow(/TTLinear.deserialize: argument 's.kind'/);
    expect(() => new TTLinear([2, 2], [2, 2], [1, 2, 1], [new Float32Array(8), new Float32Array(7)])).toThrow(/cores\[1\]/);
    expect(() => layer.forward(randn([2, 5]) as Tensor<'f32'>)).toThrow(/TTLinear.forward/);
  });
});

function randomResidual(m: number, n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: m * n }, () => rng.normal() * (rng.uniform() < 0.1 ? 10 : 1));
}

function checkSparseKernel(sp: SparseMatrix, T: number, seed: number) {
  const m = sp.rows,
    n = sp.cols;
  const dense = sp.toDense();
  const x = randn([T, n], { seed }).data as Float32Array;
  const y = new Float32Array(T * m).fill(0.5);
  sp.addMatmulT(x, T, y);
  const ref = reference(dense, Float64Array.from(dense, Math.abs), x, T, m, n);
  for (let i = 0; i < y.length; i++) expect(Math.abs(y[i]! - 0.5 - ref.y[i]!)).toBeLessThanOrEqual(dotTolerance('f32', n, 4) * (ref.b[i]! + 0.5));
}

describe('sparse parts', () => {
  it('CSR keeps exactly the nnz largest entries; kernel equals dense; bytes are exact', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        (m, n, frac, T, seed) => {
          const r = randomResidual(m, n, seed);
          const nnz = Math.floor(frac * m * n);
          const sp = CsrMatrix.fromTopK(r, m, n, nnz);
          expect(sp.nnz).toBe(nnz);
          const dense = sp.toDense();
          let kept = 0,
            minKept = Infinity,
            maxDropped = 0;
          for (let i = 0; i < r.length; i++) {
            if (dense[i] !== 0) {
              kept++;
              expect(dense[i]).toBe(Math.fround(r[i]!));
              minKept = Math.min(minKept, Math.abs(r[i]!));
            } else maxDropped = Math.max(maxDropped, Math.abs(r[i]!));
          }
          expect(kept).toBe(nnz);
          expect(maxDropped).toBeLessThanOrEqual(minKept);
          checkSparseKernel(sp, T, seed + 1);
          expect(sp.bytes()).toBe(4 * nnz + indexWidth(n - 1) * nnz + indexWidth(nnz) * (m + 1));
          expect(sp.bytes()).toBe(CsrMatrix.bytesFor(m, n, nnz));
          const s = sp.serialize('x.');
          expect(Object.values(s.tensors).reduce((a, t) => a + t.data.byteLength, 0)).toBe(sp.bytes());
        },
      ),
      { numRuns: 40 },
    );
    expect(Array.from(topK([1, 3, 3, 2, 3, NaN], 3))).toEqual([1, 2, 4]);
    expect(Array.from(topK([1, 3, 3, 2, 3, NaN], 2))).toEqual([1, 2]);
    expect(Array.from(topK([5, NaN, 1], 3))).toEqual([0, 1, 2]);
    expect(topK([1, 2], 0).length).toBe(0);
    expect(indexWidth(255)).toBe(1);
    expect(indexWidth(256)).toBe(2);
    expect(indexWidth(65536)).toBe(4);
    expect(CsrMatrix.bytesFor(10, 300, CsrMatrix.nnzForBytes(10, 300, 1000))).toBeLessThanOrEqual(1000);
    expect(CsrMatrix.bytesFor(10, 300, CsrMatrix.nnzForBytes(10, 300, 1000) + 1)).toBeGreaterThan(1000);
  });

  it('2:4 keeps the 2 largest of every 4; packed 2-bit positions; kernel equals dense; bytes exact', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }), fc.integer(), (m, g, T, seed) => {
        const n = 4 * g;
        const r = randomResidual(m, n, seed);
        const covered = Math.max(0, m - (seed & 3));
        const sp = Sparse24Matrix.fromDense(r, m, n, covered);
        const dense = sp.toDense();
        let rowsWithValues = 0;
        for (let i = 0; i < m; i++) {
          let any = false;
          for (let q = 0; q < g; q++) {
            const o = i * n + 4 * q;
            const nzs = [0, 1, 2, 3].filter((p) => dense[o + p] !== 0);
            if (nzs.length) any = true;
            expect(nzs.length === 0 || nzs.length === 2 || nzs.length === 1).toBe(true);
            if (nzs.length === 2) {
              const mags = [0, 1, 2, 3].map((p) => Math.abs(r[o + p]!));
              const keptMin = Math.min(...nzs.map((p) => mags[p]!));
              for (let p = 0; p < 4; p++) if (!nzs.includes(p)) expect(mags[p]!).toBeLessThanOrEqual(keptMin);
              for (const p of nzs) expect(dense[o + p]).toBe(Math.fround(r[o + p]!));
            }
          }
          if (any) rowsWithValues++;
        }
        expect(rowsWithValues).toBe(covered);
        expect(sp.nnz).toBe((covered * n) / 2);
        checkSparseKernel(sp, T, seed + 2);
        const want = 4 * sp.nnz + Math.ceil(sp.nnz / 4) + (covered === m ? 0 : indexWidth(m - 1) * covered);
        expect(sp.bytes()).toBe(want);
        expect(Sparse24Matrix.bytesFor(m, n, covered)).toBe(want);
        const s = sp.serialize('y.');
        expect(Object.values(s.tensors).reduce((a, t) => a + t.data.byteLength, 0)).toBe(sp.bytes());
      }),
      { numRuns: 40 },
    );
    expect(() => Sparse24Matrix.fromDense(new Float64Array(6), 2, 3)).toThrow(/Sparse24Matrix.fromDense: argument 'n'/);
  });
});

function checkRoundTrip(layer: LinearLayer, back: LinearLayer) {
  expect(back.kind).toBe(layer.kind);
  expect(back.bytes()).toBe(layer.bytes());
  expect(back.params()).toBe(layer.params());
  expect(Array.from(back.toDense().data)).toEqual(Array.from(layer.toDense().data));
  const x = randn([3, layer.inFeatures], { seed: 4 }) as Tensor<'f32'>;
  expect(Array.from(back.forward(x).data)).toEqual(Array.from(layer.forward(x).data));
}

describe('TT + sparse and low-rank + sparse layers', () => {
  it('forward = TT part + sparse part (dense check), bytes add up, serialize round-trips', () => {
    const tt = randomTTLinear([4, 6], [4, 8], 3, 11);
    const m = tt.outFeatures,
      n = tt.inFeatures;
    const r = randomResidual(m, n, 12);
    for (const sp of [CsrMatrix.fromTopK(r, m, n, 100), Sparse24Matrix.fromDense(r, m, n), Sparse24Matrix.fromDense(r, m, n, 10), null]) {
      const layer = new TTSparseLinear(tt, sp);
      expect(layer.bytes()).toBe(tt.bytes() + (sp?.bytes() ?? 0));
      const s = layer.serialize();
      expect(serializedBytes(s)).toBe(layer.bytes());
      checkRoundTrip(layer, TTSparseLinear.deserialize(s));
      const x = randn([5, n], { seed: 13 }) as Tensor<'f32'>;
      const y = layer.forward(x);
      const w = layer.toDense().data;
      const ref = reference(w, Float64Array.from(w, Math.abs), x.data, 5, m, n);
      for (let i = 0; i < y.size; i++) expect(Math.abs(y.data[i]! - ref.y[i]!)).toBeLessThanOrEqual(1e-5 * (ref.b[i]! + 1));
    }
  });

  it('LowRankSparseLinear: forward equals a·b + E, bytes exact, round trip', () => {
    const m = 12,
      n = 16,
      k = 3;
    const rng = new Rng(21);
    const a = Float32Array.from({ length: m * k }, () => rng.normal()),
      b = Float32Array.from({ length: k * n }, () => rng.normal());
    const sp = CsrMatrix.fromTopK(randomResidual(m, n, 22), m, n, 20);
    const layer = new LowRankSparseLinear(m, n, k, a, b, sp);
    expect(layer.bytes()).toBe(4 * (m + n) * k + sp.bytes());
    expect(serializedBytes(layer.serialize())).toBe(layer.bytes());
    checkRoundTrip(layer, LowRankSparseLinear.deserialize(layer.serialize()));
    const x = randn([4, n], { seed: 23 }) as Tensor<'f32'>;
    const y = layer.forward(x);
    const w = layer.toDense().data;
    const ref = reference(w, Float64Array.from(w, Math.abs), x.data, 4, m, n);
    for (let i = 0; i < y.size; i++) expect(Math.abs(y.data[i]! - ref.y[i]!)).toBeLessThanOrEqual(dotTolerance('f32', n * k, 4) * (ref.b[i]! + 1) * 4);
    expect(() => new LowRankSparseLinear(m, n, k, a.subarray(1), b, null)).toThrow(/LowRankSparseLinear: a has/);
  });
});
