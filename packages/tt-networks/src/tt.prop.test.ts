import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Rng, tolerance, ArgumentError, ShapeError, NonFiniteError } from '@llmpress/tensor';
import {
  ttSvd,
  ttRound,
  ttToDense,
  ttDot,
  ttNorm,
  ttParams,
  ttMatrixFromDense,
  ttMatrixToDense,
  factorizations,
  balancedFactorizations,
  searchTTShape,
  type TT,
} from './index.js';

function randomTT(dims: number[], ranks: number[], seed: number): TT {
  const rng = new Rng(seed);
  const cores = dims.map((n, k) => Float64Array.from({ length: ranks[k]! * n * ranks[k + 1]! }, () => rng.normal()));
  return { dims, ranks, cores };
}
function frob(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}
function diffNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return Math.sqrt(s);
}
/** a + b as a TT with block cores (ranks add). */
function ttAdd(a: TT, b: TT): TT {
  const d = a.dims.length;
  const ranks = a.ranks.map((r, k) => (k === 0 || k === d ? 1 : r + b.ranks[k]!));
  const cores = a.dims.map((n, k) => {
    const R0 = ranks[k]!,
      R1 = ranks[k + 1]!;
    const c = new Float64Array(R0 * n * R1);
    const put = (src: Float64Array, r0: number, r1: number, o0: number, o1: number) => {
      for (let x = 0; x < r0; x++) for (let i = 0; i < n; i++) for (let y = 0; y < r1; y++) c[((x + o0) * n + i) * R1 + y + o1] = src[(x * n + i) * r1 + y]!;
    };
    put(a.cores[k]!, a.ranks[k]!, a.ranks[k + 1]!, 0, 0);
    put(b.cores[k]!, b.ranks[k]!, b.ranks[k + 1]!, k === 0 ? 0 : a.ranks[k]!, k === d - 1 ? 0 : a.ranks[k + 1]!);
    return c;
  });
  // first core: rows shared (R0 = 1), columns concatenated; last core: columns shared, rows stacked
  return { dims: a.dims.slice(), ranks, cores };
}

const dimsArb = fc.array(fc.integer({ min: 2, max: 5 }), { minLength: 2, maxLength: 4 });

describe('TT-SVD', () => {
  it('recovers a tensor with known TT ranks exactly (ranks and values)', () => {
    fc.assert(
      fc.property(dimsArb, fc.integer({ min: 1, max: 3 }), fc.integer(), (dims, r, seed) => {
        const d = dims.length;
        // ranks no larger than the unfolding bounds, so they are the true TT ranks generically
        const ranks = [1];
        let left = 1;
        const total = dims.reduce((a, b) => a * b, 1);
        for (let k = 0; k < d - 1; k++) {
          left *= dims[k]!;
          ranks.push(Math.min(r, left, total / left));
        }
        ranks.push(1);
        const tt = randomTT(dims, ranks, seed);
        const w = ttToDense(tt);
        const res = ttSvd(w, dims, { eps: 1e-9 });
        expect(res.ranks).toEqual(ranks);
        const back = ttToDense(res);
        expect(diffNorm(back, w)).toBeLessThanOrEqual(tolerance('f64', w.length, 100) * frob(w));
      }),
      { numRuns: 30 },
    );
  });

  it('respects the error budget ε‖W‖ and reports the true error', () => {
    fc.assert(
      fc.property(dimsArb, fc.double({ min: 0.02, max: 0.9, noNaN: true }), fc.integer(), (dims, eps, seed) => {
        const rng = new Rng(seed);
        const w = Float64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal());
        const res = ttSvd(w, dims, { eps });
        const err = diffNorm(ttToDense(res), w);
        const nw = frob(w);
        expect(err).toBeLessThanOrEqual(eps * nw * (1 + 1e-10));
        expect(Math.abs(err - res.error)).toBeLessThanOrEqual(tolerance('f64', w.length, 1000) * nw);
        for (const disc of res.discarded) expect(disc).toBeLessThanOrEqual(((eps * nw) / Math.sqrt(dims.length - 1)) * (1 + 1e-12));
      }),
      { numRuns: 30 },
    );
  });

  it('caps ranks with maxRank', () => {
    const rng = new Rng(3);
    const w = Float64Array.from({ length: 4 * 5 * 6 }, () => rng.normal());
    const res = ttSvd(w, [4, 5, 6], { maxRank: 2 });
    expect(res.ranks).toEqual([1, 2, 2, 1]);
    expect(ttParams(res)).toBe(4 * 2 + 2 * 5 * 2 + 2 * 6);
    const per = ttSvd(w, [4, 5, 6], { maxRank: [3, 1] });
    expect(per.ranks).toEqual([1, 3, 1, 1]);
  });

  it('names the function, argument and value in errors', () => {
    expect(() => ttSvd([1, 2, 3], [2, 2])).toThrow(ShapeError);
    expect(() => ttSvd([1, 2, 3, 4], [2, 0])).toThrow(ArgumentError);
    expect(() => ttSvd([1, 2, 3, 4], [2, 2], { eps: -1 })).toThrow(/ttSvd: argument 'options.eps'/);
    expect(() => ttSvd([1, NaN, 3, 4], [2, 2])).toThrow(NonFiniteError);
    expect(() => ttSvd([1, 2, 3, 4], [2, 2], { maxRank: 0 })).toThrow(/maxRank/);
  });
});

describe('TT algebra without densifying', () => {
  it('ttDot and ttNorm equal their dense values', () => {
    fc.assert(
      fc.property(dimsArb, fc.integer({ min: 1, max: 3 }), fc.integer(), (dims, r, seed) => {
        const ranks = [1, ...dims.slice(1).map(() => r), 1];
        const a = randomTT(dims, ranks, seed),
          b = randomTT(dims, ranks, seed + 1);
        const da = ttToDense(a),
          db = ttToDense(b);
        let dot = 0,
          abs = 0;
        for (let i = 0; i < da.length; i++) {
          dot += da[i]! * db[i]!;
          abs += Math.abs(da[i]! * db[i]!);
        }
        expect(Math.abs(ttDot(a, b) - dot)).toBeLessThanOrEqual(tolerance('f64', da.length, 1000) * (abs + frob(da) * frob(db)));
        expect(Math.abs(ttNorm(a) - frob(da))).toBeLessThanOrEqual(tolerance('f64', da.length, 1000) * frob(da));
      }),
      { numRuns: 30 },
    );
  });

  it('ttRound compresses a + a back to the ranks of a, and respects ε', () => {
    fc.assert(
      fc.property(dimsArb, fc.integer(), (dims, seed) => {
        const ranks = [1, ...dims.slice(1).map(() => 2), 1];
        const a = randomTT(dims, ranks, seed);
        const s = ttAdd(a, a);
        const da = ttToDense(a);
        const ref = Float64Array.from(da, (v) => 2 * v);
        expect(diffNorm(ttToDense(s), ref)).toBeLessThanOrEqual(tolerance('f64', da.length, 100) * frob(ref));
        const r = ttRound(s, { eps: 1e-9 });
        for (let k = 0; k < ranks.length; k++) expect(r.ranks[k]).toBeLessThanOrEqual(ranks[k]!);
        expect(diffNorm(ttToDense(r), ref)).toBeLessThanOrEqual(1e-8 * frob(ref));
        const r2 = ttRound(s, { eps: 0.3 });
        expect(diffNorm(ttToDense(r2), ref)).toBeLessThanOrEqual(0.3 * frob(ref) * (1 + 1e-10));
      }),
      { numRuns: 30 },
    );
  });
});

describe('TT-matrices and shapes', () => {
  it('to/from dense round-trips at full rank with interleaved digits', () => {
    const rng = new Rng(5);
    const m = 12,
      n = 10;
    const w = Float64Array.from({ length: m * n }, () => rng.normal());
    for (const [rd, cd] of [
      [
        [3, 4],
        [2, 5],
      ],
      [
        [2, 2, 3],
        [1, 2, 5],
      ],
      [[12], [10]],
    ] as const) {
      const tt = ttMatrixFromDense(w, m, n, rd, cd);
      expect(diffNorm(ttMatrixToDense(tt), w)).toBeLessThanOrEqual(tolerance('f64', m * n, 100) * frob(w));
    }
    // a Kronecker product A ⊗ B is a TT-matrix of rank 1 (mode 1 = rows/cols of A)
    const A = [1, 2, 3, 4, 5, 6],
      B = [7, -1, 0.5, 2]; // A 2×3, B 2×2
    const K = new Float64Array(4 * 6);
    for (let i1 = 0; i1 < 2; i1++)
      for (let j1 = 0; j1 < 3; j1++)
        for (let i2 = 0; i2 < 2; i2++) for (let j2 = 0; j2 < 2; j2++) K[(i1 * 2 + i2) * 6 + j1 * 2 + j2] = A[i1 * 3 + j1]! * B[i2 * 2 + j2]!;
    const kt = ttMatrixFromDense(K, 4, 6, [2, 2], [3, 2], { eps: 1e-12 });
    expect(kt.ranks).toEqual([1, 1, 1]);
  });

  it('factorizations multiply back and the balanced ones come first', () => {
    for (const [n, d] of [
      [64, 3],
      [172, 2],
      [172, 4],
      [4096, 3],
      [7, 2],
    ] as const) {
      const fs = factorizations(n, d);
      expect(fs.length).toBeGreaterThan(0);
      for (const f of fs) {
        expect(f.length).toBe(d);
        expect(f.reduce((a, b) => a * b, 1)).toBe(n);
      }
    }
    expect(balancedFactorizations(64, 3, 1)[0]).toEqual([4, 4, 4]);
    expect(balancedFactorizations(4096, 3, 1)[0]).toEqual([16, 16, 16]);
    expect(() => factorizations(0, 2)).toThrow(/factorizations: argument 'n'/);
  });

  it('searchTTShape stays within the parameter budget and reports its true error', () => {
    const rng = new Rng(9);
    const m = 16,
      n = 24;
    // smooth-ish matrix: low TT rank structure plus noise
    const w = Float64Array.from({ length: m * n }, (_, f) => Math.sin((f % n) / 5) * Math.cos(Math.floor(f / n) / 3) + 0.05 * rng.normal());
    const budget = Math.floor(0.4 * m * n);
    const res = searchTTShape(w, m, n, budget, { orders: [2, 3], perSide: 2, steps: 12 })!;
    expect(res).not.toBeNull();
    expect(res.params).toBeLessThanOrEqual(budget);
    const err = diffNorm(ttMatrixToDense(res.tt), w) / frob(w);
    expect(Math.abs(err - res.relError)).toBeLessThanOrEqual(1e-8);
    // it picks the best feasible candidate it tried
    for (const t of res.tried) if (t.params <= budget) expect(res.relError).toBeLessThanOrEqual(t.relError + 1e-15);
    expect(searchTTShape(w, m, n, 1)).toBeNull();
  });
});
