import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, NonFiniteError, NotPositiveDefiniteError, Tensor, randn, Rng } from '@llmpress/tensor';
import { gptq, gptqQuantize, rtnQuantize, proxyLoss, gramAccumulate, inverseUpperCholesky, type Bits } from './index.js';

/** Correlated calibration inputs with a few outlier channels (what makes GPTQ matter). */
function calib(T: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed), x = new Float32Array(T * n);
  const mix = Array.from({ length: n }, () => rng.normal());
  for (let t = 0; t < T; t++) {
    const z = rng.normal();
    for (let j = 0; j < n; j++) x[t * n + j] = (rng.normal() + 1.5 * z * mix[j]!) * (j % 7 === 0 ? 4 : 1);
  }
  return x;
}
function gramOf(x: Float32Array, T: number, n: number): Float64Array { const g = new Float64Array(n * n); gramAccumulate(g, x, T, n); return g; }

describe('linalg helpers', () => {
  it('inverseUpperCholesky gives Uᵀ U = H⁻¹', () => {
    const n = 7, x = calib(40, n, 1), H = gramOf(x, 40, n);
    const { u } = inverseUpperCholesky(H, n);
    // (Uᵀ U) H = I
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) { let a = 0; for (let p = 0; p < n; p++) a += u![p * n + i]! * u![p * n + k]!; s += a * H[k * n + j]!; }
      expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-9);
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(u![i * n + j]).toBe(0);
  });
});

describe('gptq', () => {
  it("proxy loss tr((W−Q)H(W−Q)ᵀ) is no worse than RTN's (property, several settings)", () => {
    fc.assert(fc.property(fc.constantFrom<Bits>(2, 3, 4), fc.boolean(), fc.constantFrom(0, 8), fc.integer({ min: 0, max: 500 }), (bits, actOrder, groupSize, seed) => {
      const m = 12, n = 32, T = 96;
      const W = randn([m, n], { seed }) as Tensor<'f32'>;
      const G = gramOf(calib(T, n, seed + 1), T, n);
      const g = gptqQuantize(W, G, { bits, actOrder, groupSize, percdamp: 0.01 });
      const r = rtnQuantize(W, { bits, groupSize });
      const lg = proxyLoss(W, g.toDense(), G), lr = proxyLoss(W, r.toDense(), G);
      expect(lg).toBeLessThanOrEqual(lr * 1.0001);
    }), { numRuns: 12 });
  });
  it('is clearly better than RTN on correlated inputs, and act-order keeps a consistent permutation', () => {
    const m = 16, n = 64, T = 256;
    const W = randn([m, n], { seed: 3 }) as Tensor<'f32'>;
    const X = calib(T, n, 4), G = gramOf(X, T, n);
    const { layer, report } = gptq(W, G, { bits: 3, actOrder: true, groupSize: 16, blockSize: 16 });
    expect(layer.perm).not.toBeNull();
    expect(report.escalations).toBe(0);
    const lg = proxyLoss(W, layer.toDense(), G), lr = proxyLoss(W, rtnQuantize(W, { bits: 3, groupSize: 16 }).toDense(), G);
    expect(lg).toBeLessThan(0.8 * lr);
    // forward through the stored permutation equals x · toDense()ᵀ
    const x = new Tensor('f32', X.slice(0, 3 * n), [3, n]);
    const y = layer.forward(x), D = layer.toDense();
    for (let t = 0; t < 3; t++) for (let i = 0; i < m; i++) {
      let s = 0; for (let j = 0; j < n; j++) s += x.get(t, j) * D.get(i, j);
      expect(Math.abs(y.get(t, i) - s)).toBeLessThan(1e-4 * (1 + Math.abs(s)));
    }
  });
  it('block size does not change the result (lazy batch updates are exact)', () => {
    const W = randn([5, 24], { seed: 9 }) as Tensor<'f32'>;
    const G = gramOf(calib(64, 24, 10), 64, 24);
    const a = gptqQuantize(W, G, { bits: 4, blockSize: 24 }).toDense(), b = gptqQuantize(W, G, { bits: 4, blockSize: 5 }).toDense();
    let same = 0; for (let i = 0; i < a.size; i++) if (a.data[i] === b.data[i]) same++;
    expect(same).toBeGreaterThanOrEqual(a.size - 2); // float reassociation may flip a tie at most rarely
  });
  it('damping escalates on a singular Hessian (reported), dead columns are zeroed', () => {
    const n = 8, W = randn([3, n], { seed: 1 }) as Tensor<'f32'>;
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
    const G = new Float64Array(64); for (let i = 0; i < 8; i++) G[i * 9] = 1;
    expect(() => gptq(W, G, { bits: 7 as Bits })).toThrow(ArgumentError);
    expect(() => gptq(W, G, { bits: 4, groupSize: 3 })).toThrow(/must divide the input width 8/);
    expect(() => gptq(W, new Float64Array(10), { bits: 4 })).toThrow(/8 × 8/);
    const Gb = G.slice(); Gb[3] = NaN;
    expect(() => gptq(W, Gb, { bits: 4 })).toThrow(NonFiniteError);
    const Wb = W.contiguous(true); Wb.data[0] = Infinity;
    expect(() => gptq(Wb, G, { bits: 4 })).toThrow(NonFiniteError);
  });
});

describe('gptq on a backend', () => {
  it('the backend GEMM lazy update and Gram give the same result as the JS loops', async () => {
    const { referenceBackend } = await import('@llmpress/tensor');
    const m = 9, n = 40, T = 64;
    const W = randn([m, n], { seed: 21 }) as Tensor<'f32'>;
    const X = calib(T, n, 22);
    const G1 = gramOf(X, T, n), G2 = new Float64Array(n * n);
    gramAccumulate(G2, X, T, n, referenceBackend);
    for (let i = 0; i < n * n; i++) expect(Math.abs(G1[i]! - G2[i]!)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(G1[i]!)));
    const a = gptq(W, G1, { bits: 4, blockSize: 8 }), b = gptq(W, G1, { bits: 4, blockSize: 8, backend: referenceBackend });
    let same = 0; for (let i = 0; i < m * n; i++) if (a.layer.toDense().data[i] === b.layer.toDense().data[i]) same++;
    expect(same).toBeGreaterThanOrEqual(m * n - 2);
    expect(Math.abs(a.report.loss - b.report.loss)).toBeLessThanOrEqual(1e-9 * a.report.loss);
  });
});
