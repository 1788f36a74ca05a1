import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, NonFiniteError, NotPositiveDefiniteError, Tensor, randn, Rng } from '@llmpress/tensor';
import {
  gptq,
  gptqQuantize,
  rtnQuantize,
  proxyLoss,
  gramAccumulate,
  inverseUpperCholesky,
  resolveSpec,
  groupParams,
  quantCode,
  type Bits,
  type QuantGrid,
} from './index.js';

/** Correlated calibration inputs with a few outlier channels (what makes GPTQ matter). */
function calib(T: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed),
    x = new Float32Array(T * n);
  const mix = Array.from({ length: n }, () => rng.normal());
  for (let t = 0; t < T; t++) {
    const z = rng.normal();
    for (let j = 0; j < n; j++) x[t * n + j] = (rng.normal() + 1.5 * z * mix[j]!) * (j % 7 === 0 ? 4 : 1);
  }
  return x;
}
function gramOf(x: Float32Array, T: number, n: number): Float64Array {
  const g = new Float64Array(n * n);
  gramAccumulate(g, x, T, n);
  return g;
}

describe('linalg helpers', () => {
  it('inverseUpperCholesky gives Uᵀ U = H⁻¹', () => {
    const n = 7,
      x = calib(40, n, 1),
      H = gramOf(x, 40, n);
    const { u } = inverseUpperCholesky(H, n);
    // (Uᵀ U) H = I
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) {
          let a = 0;
          for (let p = 0; p < n; p++) a += u![p * n + i]! * u![p * n + k]!;
          s += a * H[k * n + j]!;
        }
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-9);
      }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(u![i * n + j]).toBe(0);
  });
});

/**
 * A plain, unblocked GPTQ written straight from the reference algorithm (no lazy batches, no
 * sub-blocks, no transposes), returning the dequantized weight in the original column order.
 * mode: 'none' (no act-order), 'static' (act-order, groups fixed from the original W in the
 * original order), 'dynamic' (act-order, groups over the permuted order, params at group start).
 */
function plainGptq(W: Tensor, G: Float64Array, bits: Bits, groupSize: number, mode: 'none' | 'static' | 'dynamic', grid: QuantGrid): Float64Array {
  const [m, n] = W.shape as [number, number];
  const s = resolveSpec('plain', { bits, groupSize, grid }, n),
    g = s.groupSize;
  const H = Float64Array.from(G, (v) => 2 * v);
  const w = Float64Array.from(W.contiguous().data as ArrayLike<number>);
  for (let j = 0; j < n; j++)
    if (H[j * n + j] === 0) {
      H[j * n + j] = 1;
      for (let r = 0; r < m; r++) w[r * n + j] = 0;
    }
  let mean = 0;
  for (let j = 0; j < n; j++) mean += H[j * n + j]! / n;
  const perm = Array.from({ length: n }, (_, i) => i);
  if (mode !== 'none') perm.sort((a, b) => H[b * n + b]! - H[a * n + a]! || a - b);
  const Hp = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Hp[i * n + j] = H[perm[i]! * n + perm[j]!]! + (i === j ? 0.01 * mean : 0);
  const U = inverseUpperCholesky(Hp, n).u!;
  const wp = new Float64Array(m * n);
  for (let r = 0; r < m; r++) for (let i = 0; i < n; i++) wp[r * n + i] = w[r * n + perm[i]!]!;
  const staticG = mode === 'static' || s.nGroups === 1;
  const params = new Map<string, { scale: number; zero: number }>();
  if (staticG)
    for (let r = 0; r < m; r++)
      for (let k = 0; k < s.nGroups; k++) params.set(`${r},${k}`, groupParams('plain', w, r * n + k * g, 1, Math.min(g, n - k * g), s));
  const out = new Float64Array(m * n);
  for (let i = 0; i < n; i++) {
    if (!staticG && i % g === 0) for (let r = 0; r < m; r++) params.set(`${r},${i / g}`, groupParams('plain', wp, r * n + i, 1, Math.min(g, n - i), s));
    const k = Math.floor((staticG ? perm[i]! : i) / g);
    for (let r = 0; r < m; r++) {
      const p = params.get(`${r},${k}`)!,
        x = wp[r * n + i]!;
      const deq = p.scale * (quantCode(x, p.scale, p.zero, s.maxq, s.minq) - p.zero);
      const e = (x - deq) / U[i * n + i]!;
      for (let j = i + 1; j < n; j++) wp[r * n + j]! -= e * U[i * n + j]!;
      out[r * n + perm[i]!] = deq;
    }
  }
  return out;
}

describe('gptq', () => {
  it('matches a plain unblocked reference GPTQ (every act-order mode, grid, ragged groups)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Bits>(2, 3, 4, 8),
        fc.constantFrom<'none' | 'static' | 'dynamic'>('none', 'static', 'dynamic'),
        fc.constantFrom<QuantGrid>('full', 'restricted'),
        fc.constantFrom(0, 8, 12, 40),
        fc.constantFrom(8, 16, 128),
        fc.integer({ min: 0, max: 500 }),
        (bits, mode, grid, groupSize, blockSize, seed) => {
          const m = 7,
            n = 40,
            T = 120;
          const W = randn([m, n], { seed }) as Tensor<'f32'>;
          const G = gramOf(calib(T, n, seed + 1), T, n);
          const q = gptqQuantize(W, G, { bits, groupSize, grid, blockSize, actOrder: mode === 'none' ? false : mode });
          const ref = plainGptq(W, G, bits, groupSize, mode, grid),
            d = q.toDense().data;
          let same = 0;
          for (let i = 0; i < m * n; i++) if (d[i] === Math.fround(ref[i]!)) same++;
          expect(same).toBeGreaterThanOrEqual(m * n - 2); // reassociated sums may flip a rounding tie, rarely
          expect(q.nGroups).toBe(groupSize ? Math.ceil(n / groupSize) : 1);
        },
      ),
      { numRuns: 40 },
    );
  });
  it('static act-order stores no permutation; dynamic stores a u16 one, counted in bytes; forward agrees with toDense in both', () => {
    const m = 6,
      n = 44,
      T = 128;
    const W = randn([m, n], { seed: 31 }) as Tensor<'f32'>;
    const X = calib(T, n, 32),
      G = gramOf(X, T, n);
    const none = gptqQuantize(W, G, { bits: 4, groupSize: 16 });
    const st = gptqQuantize(W, G, { bits: 4, groupSize: 16, actOrder: true });
    const st2 = gptqQuantize(W, G, { bits: 4, groupSize: 16, actOrder: 'static' });
    const dy = gptqQuantize(W, G, { bits: 4, groupSize: 16, actOrder: 'dynamic' });
    const pc = gptqQuantize(W, G, { bits: 4, actOrder: 'dynamic' });
    expect(st.perm).toBeNull();
    expect(pc.perm).toBeNull();
    expect(Array.from(st.toDense().data)).toEqual(Array.from(st2.toDense().data));
    expect(st.bytes()).toBe(none.bytes());
    expect(dy.perm).toBeInstanceOf(Uint16Array);
    expect(dy.bytes()).toBe(none.bytes() + 2 * n);
    expect(dy.nGroups).toBe(3);
    const x = new Tensor('f32', X.slice(0, 3 * n), [3, n]);
    for (const layer of [st, dy, pc]) {
      const y = layer.forward(x),
        D = layer.toDense();
      for (let t = 0; t < 3; t++)
        for (let i = 0; i < m; i++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += x.get(t, j) * D.get(i, j);
          expect(Math.abs(y.get(t, i) - s)).toBeLessThan(1e-4 * (1 + Math.abs(s)));
        }
    }
  });
  it('keepWorking returns the error-fed working copy in the original column order', () => {
    const m = 4,
      n = 24,
      T = 64;
    const W = randn([m, n], { seed: 41 }) as Tensor<'f32'>;
    const G = gramOf(calib(T, n, 42), T, n);
    for (const actOrder of [false, true, 'dynamic'] as const) {
      const { layer, working } = gptq(W, G, { bits: 3, groupSize: 8, actOrder, keepWorking: true });
      expect(working!.shape).toEqual([m, n]);
      // the first processed column is untouched; the others moved; quantizing the working copy by the layer's grid gives its codes
      const D = layer.toDense();
      let moved = 0;
      for (let r = 0; r < m; r++)
        for (let j = 0; j < n; j++) {
          if (working!.get(r, j) !== Math.fround(W.get(r, j))) moved++;
          const k = layer.perm ? Math.floor(Array.from(layer.perm).indexOf(j) / 8) : Math.floor(j / 8);
          const sc = layer.scale(r, k),
            c = quantCode(working!.get(r, j), sc, 4, 7);
          expect(D.get(r, j)).toBe(Math.fround(sc * (c - 4)));
        }
      expect(moved).toBeGreaterThan((m * n) / 2);
    }
    expect(gptq(W, G, { bits: 3 }).working).toBeUndefined();
  });
  it("proxy loss tr((W−Q)H(W−Q)ᵀ) is no worse than RTN's (property, several settings)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Bits>(2, 3, 4),
        fc.constantFrom<boolean | 'dynamic'>(false, true, 'dynamic'),
        fc.constantFrom(0, 8, 12),
        fc.integer({ min: 0, max: 500 }),
        (bits, actOrder, groupSize, seed) => {
          const m = 12,
            n = 32,
            T = 96;
          const W = randn([m, n], { seed }) as Tensor<'f32'>;
          const G = gramOf(calib(T, n, seed + 1), T, n);
          const g = gptqQuantize(W, G, { bits, actOrder, groupSize, percdamp: 0.01 });
          const r = rtnQuantize(W, { bits, groupSize });
          const lg = proxyLoss(W, g.toDense(), G),
            lr = proxyLoss(W, r.toDense(), G);
          expect(lg).toBeLessThanOrEqual(lr * 1.0001);
        },
      ),
      { numRuns: 12 },
    );
  });
  it('is clearly better than RTN on correlated inputs, and act-order keeps a consistent permutation', () => {
    const m = 16,
      n = 64,
      T = 256;
    const W = randn([m, n], { seed: 3 }) as Tensor<'f32'>;
    const X = calib(T, n, 4),
      G = gramOf(X, T, n);
    const { layer, report } = gptq(W, G, { bits: 3, actOrder: 'dynamic', groupSize: 16, blockSize: 16 });
    expect(layer.perm).not.toBeNull();
    expect(report.escalations).toBe(0);
    const lg = proxyLoss(W, layer.toDense(), G),
      lr = proxyLoss(W, rtnQuantize(W, { bits: 3, groupSize: 16 }).toDense(), G);
    expect(lg).toBeLessThan(0.8 * lr);
    // forward through the stored permutation equals x · toDense()ᵀ
    const x = new Tensor('f32', X.slice(0, 3 * n), [3, n]);
    const y = layer.forward(x),
      D = layer.toDense();
    for (let t = 0; t < 3; t++)
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += x.get(t, j) * D.get(i, j);
        expect(Math.abs(y.get(t, i) - s)).toBeLessThan(1e-4 * (1 + Math.abs(s)));
      }
  });
  it('block size does not change the result (lazy batch updates are exact)', () => {
    const W = randn([5, 24], { seed: 9 }) as Tensor<'f32'>;
    const G = gramOf(calib(64, 24, 10), 64, 24);
    const a = gptqQuantize(W, G, { bits: 4, blockSize: 24 }).toDense(),
      b = gptqQuantize(W, G, { bits: 4, blockSize: 5 }).toDense();
    let same = 0;
    for (let i = 0; i < a.size; i++) if (a.data[i] === b.data[i]) same++;
    expect(same).toBeGreaterThanOrEqual(a.size - 2); // float reassociation may flip a tie at most rarely
  });
  it('damping escalates on a singular Hessian (reported), dead columns are zeroed', () => {
    const n = 8,
      W = randn([3, n], { seed: 1 }) as Tensor<'f32'>;
    const G = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) G[i * n + j] = i === 7 || j === 7 ? 0 : 1; // rank 1 + a dead column
    const { layer, report } = gptq(W, G, { bits: 4, percdamp: 1e-18 });
    expect(report.escalations).toBeGreaterThan(0);
    expect(report.percdamp).toBeGreaterThan(1e-18);
    expect(report.deadColumns).toBe(1);
    const D = layer.toDense();
    for (let r = 0; r < 3; r++) expect(D.get(r, 7)).toBe(0);
    expect(() => gptq(W, G, { bits: 4, percdamp: 1e-18, maxDampEscalations: 0 })).toThrow(NotPositiveDefiniteError);
  });
  it('rejects bad input with typed errors', () => {
    const W = randn([2, 8], { seed: 1 }) as Tensor<'f32'>;
    const G = new Float64Array(64);
    for (let i = 0; i < 8; i++) G[i * 9] = 1;
    expect(() => gptq(W, G, { bits: 9 as Bits })).toThrow(ArgumentError);
    expect(() => gptq(W, G, { bits: 1 as Bits })).toThrow(/gptq.*options\.bits/s);
    expect(() => gptq(W, G, { bits: 4, groupSize: 9 })).toThrow(/options\.groupSize.*must not exceed the input width 8/s);
    expect(() => gptq(W, G, { bits: 4, groupSize: 3 })).not.toThrow(); // ragged: 3 + 3 + 2
    expect(() => gptq(W, G, { bits: 4, actOrder: 'yes' as 'static' })).toThrow(/options\.actOrder/);
    expect(() => gptq(W, G, { bits: 4, percdamp: -1 })).toThrow(/options\.percdamp/);
    expect(() => gptq(W, new Float64Array(10), { bits: 4 })).toThrow(/8 × 8/);
    const Gb = G.slice();
    Gb[3] = NaN;
    expect(() => gptq(W, Gb, { bits: 4 })).toThrow(NonFiniteError);
    const Wb = W.contiguous(true);
    Wb.data[0] = Infinity;
    expect(() => gptq(Wb, G, { bits: 4 })).toThrow(NonFiniteError);
  });
});

describe('gptq on a backend', () => {
  it('the backend GEMM lazy update and Gram give the same result as the JS loops', async () => {
    const { referenceBackend } = await import('@llmpress/tensor');
    const m = 9,
      n = 40,
      T = 64;
    const W = randn([m, n], { seed: 21 }) as Tensor<'f32'>;
    const X = calib(T, n, 22);
    const G1 = gramOf(X, T, n),
      G2 = new Float64Array(n * n);
    gramAccumulate(G2, X, T, n, referenceBackend);
    for (let i = 0; i < n * n; i++) expect(Math.abs(G1[i]! - G2[i]!)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(G1[i]!)));
    const a = gptq(W, G1, { bits: 4, blockSize: 8 }),
      b = gptq(W, G1, { bits: 4, blockSize: 8, backend: referenceBackend });
    let same = 0;
    for (let i = 0; i < m * n; i++) if (a.layer.toDense().data[i] === b.layer.toDense().data[i]) same++;
    expect(same).toBeGreaterThanOrEqual(m * n - 2);
    expect(Math.abs(a.report.loss - b.report.loss)).toBeLessThanOrEqual(1e-9 * a.report.loss);
  });
});
