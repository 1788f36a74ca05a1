import { describe, it, expect } from 'vitest';
import { Tensor, matmul, maxAbsDiff, ArgumentError } from '@llmpress/tensor';
import { svdLlmFactor } from './svd-llm.js';
import { whiten } from '@llmpress/decompositions';
import { syntheticWeight, syntheticInputs, gramOf, outputError } from './testutil.js';

const product = (r: ReturnType<typeof svdLlmFactor>) => matmul(r.layer.wu.astype('f64'), r.layer.wv.astype('f64'));

describe("svdLlm route 'gram' (eigh of W G Wᵀ) agrees with the whitening route", () => {
  for (const [m, n] of [
    [16, 40],
    [40, 16],
    [24, 24],
  ] as const) {
    it(`full-rank Gram, W ${m}×${n}: same σ, same truncated product, same calibration error`, () => {
      const W = syntheticWeight(m, n, 5);
      const X = syntheticInputs(n, 4 * n, 6);
      const G = gramOf(X);
      const a = svdLlmFactor(W, G, { ratio: 0.4, route: 'whiten' });
      const b = svdLlmFactor(W, G, { ratio: 0.4, route: 'gram' });
      expect(b.report.route).toBe('gram');
      expect(a.report.route).toBe('whiten');
      expect(b.report.rank).toBe(a.report.rank);
      const r = Math.min(m, n);
      for (let i = 0; i < r; i++) expect(Math.abs(b.report.sigma[i]! - a.report.sigma[i]!)).toBeLessThan(1e-6 * a.report.sigma[0]!);
      // factors are stored in f32: the products agree to f32 rounding
      const scale = Math.max(...Array.from(W.data as Float64Array, Math.abs));
      expect(maxAbsDiff(product(a), product(b))).toBeLessThan(1e-5 * scale);
      const ea = outputError(W, product(a), X),
        eb = outputError(W, product(b), X);
      expect(Math.abs(ea - eb)).toBeLessThan(1e-4 * Math.max(ea, 1e-12) + 1e-9);
      expect(Math.abs(b.report.droppedEnergy - a.report.droppedEnergy)).toBeLessThan(1e-8 * a.report.totalEnergy);
    });
  }
  it('rank-deficient Gram (fewer tokens than inputs): calibration error equals the dropped energy on both routes', () => {
    const m = 12,
      n = 48,
      T = 20;
    const W = syntheticWeight(m, n, 7);
    const X = syntheticInputs(n, T, 8);
    const G = gramOf(X);
    const a = svdLlmFactor(W, G, { rank: 6, route: 'whiten' });
    const b = svdLlmFactor(W, G, { rank: 6, route: 'gram' });
    const ea = outputError(W, product(a), X),
      eb = outputError(W, product(b), X);
    expect(Math.abs(eb - b.report.droppedEnergy)).toBeLessThan(1e-4 * b.report.totalEnergy);
    expect(Math.abs(ea - eb)).toBeLessThan(1e-4 * b.report.totalEnergy);
  });
  it("'auto' takes the Gram route (W G Wᵀ when m < n, (W S)ᵀ(W S) otherwise), the paper's route for cholesky with m < n", () => {
    const W = syntheticWeight(8, 24, 9),
      G = gramOf(syntheticInputs(24, 80, 10));
    const a = svdLlmFactor(W, G, { ratio: 0.3, route: 'auto' });
    expect([a.report.route, a.report.whitening!.method]).toEqual(['gram', 'gram']);
    const W2 = syntheticWeight(24, 8, 9),
      G2 = gramOf(syntheticInputs(8, 80, 10));
    const b = svdLlmFactor(W2, G2, { ratio: 0.3, route: 'auto' });
    expect([b.report.route, b.report.whitening!.method]).toEqual(['gram', 'eigh']);
    const c = svdLlmFactor(W, G, { ratio: 0.3, route: 'auto', whitening: 'cholesky' });
    expect([c.report.route, c.report.whitening!.method]).toEqual(['whiten', 'cholesky']);
    const d = svdLlmFactor(W2, G2, { ratio: 0.3, route: 'gram', whitening: 'cholesky' });
    expect([d.report.route, d.report.whitening!.method]).toEqual(['gram', 'cholesky']);
    const e = svdLlmFactor(W2, G2, { ratio: 0.3, route: 'whiten', whitening: 'cholesky' });
    expect(maxAbsDiff(matmul(d.layer.wu, d.layer.wv), matmul(e.layer.wu, e.layer.wv))).toBeLessThan(1e-4);
  });
});

describe('svdLlm with a shared whitening (options.whitened)', () => {
  it('gives exactly the factors of whitening inside (both routes)', () => {
    const n = 20;
    const G = gramOf(syntheticInputs(n, 90, 11));
    const wh = whiten(G);
    for (const m of [8, 30]) {
      const W = syntheticWeight(m, n, 12 + m);
      const a = svdLlmFactor(W, G, { ratio: 0.3 });
      const b = svdLlmFactor(W, G, { ratio: 0.3, whitened: wh });
      expect(b.report.whitening!.method).toBe('eigh');
      expect(b.report.route).toBe('whiten');
      expect(maxAbsDiff(a.layer.wu, b.layer.wu)).toBe(0);
      expect(maxAbsDiff(a.layer.wv, b.layer.wv)).toBe(0);
      if (m >= n) {
        const c = svdLlmFactor(W, G, { ratio: 0.3, route: 'gram' });
        const d = svdLlmFactor(W, G, { ratio: 0.3, route: 'gram', whitened: wh });
        expect(maxAbsDiff(c.layer.wu, d.layer.wu)).toBe(0);
        expect(maxAbsDiff(c.layer.wv, d.layer.wv)).toBe(0);
      }
    }
  });
  it('rejects a whitening of another size, a bad route and gram + cholesky, naming the argument', () => {
    const W = syntheticWeight(8, 20, 1),
      G = gramOf(syntheticInputs(20, 60, 2));
    const other = whiten(gramOf(syntheticInputs(10, 40, 3)));
    expect(() => svdLlmFactor(W, G, { ratio: 0.3, whitened: other })).toThrow(/options\.whitened/);
    expect(() => svdLlmFactor(W, G, { ratio: 0.3, route: 'fast' as any })).toThrow(ArgumentError);
    expect(() => svdLlmFactor(W, G, { ratio: 0.3, route: 'gram', whitening: 'cholesky' })).toThrow(/options\.route/);
    expect(() => svdLlmFactor(W, new Tensor('f64', new Float64Array(400), [20, 20]), { ratio: 0.3, route: 'gram' })).toThrow(/svdLlm.*'g'/);
  });
});

describe('svdLlmFactorFromInputs (calibration rows instead of the Gram)', () => {
  it('T < n, m < n: never forms the Gram and matches svdLlmFactor(W, XᵀX) (σ, product, calibration error)', async () => {
    const { svdLlmFactorFromInputs } = await import('./svd-llm.js');
    const m = 12,
      n = 48,
      T = 20;
    const W = syntheticWeight(m, n, 21),
      X = syntheticInputs(n, T, 22),
      G = gramOf(X);
    const a = svdLlmFactor(W, G, { rank: 9, route: 'gram' });
    const b = svdLlmFactorFromInputs(W, X, { rank: 9 });
    expect(b.report.route).toBe('gram');
    for (let i = 0; i < m; i++) expect(Math.abs(b.report.sigma[i]! - a.report.sigma[i]!)).toBeLessThan(1e-6 * a.report.sigma[0]!);
    expect(maxAbsDiff(product(a), product(b))).toBeLessThan(1e-5);
    // beyond rank T the ridge picks the directions: both agree there too
    expect(Math.abs(outputError(W, product(b), X) - b.report.droppedEnergy)).toBeLessThan(1e-4 * b.report.totalEnergy);
  });
  it('T ≥ n or m ≥ n: forms XᵀX and runs svdLlmFactor', async () => {
    const { svdLlmFactorFromInputs } = await import('./svd-llm.js');
    const W = syntheticWeight(30, 16, 23),
      X = syntheticInputs(16, 64, 24);
    const a = svdLlmFactor(W, gramOf(X), { ratio: 0.3, route: 'auto' });
    const b = svdLlmFactorFromInputs(W, X, { ratio: 0.3 });
    expect(maxAbsDiff(product(a), product(b))).toBeLessThan(1e-5);
  });
  it('names the function and argument on bad inputs', async () => {
    const { svdLlmFactorFromInputs } = await import('./svd-llm.js');
    const W = syntheticWeight(8, 16, 1);
    expect(() => svdLlmFactorFromInputs(W, syntheticInputs(12, 5, 2), { ratio: 0.3 })).toThrow(/svdLlmFromInputs: argument 'x' must be \[T, 16\]/);
    const bad = syntheticInputs(16, 5, 3);
    (bad.data as Float64Array)[7] = NaN;
    expect(() => svdLlmFactorFromInputs(W, bad, { ratio: 0.3 })).toThrow(/svdLlmFromInputs/);
    expect(() => svdLlmFactorFromInputs(W, new Tensor('f64', new Float64Array(80), [5, 16]), { ratio: 0.3 })).toThrow(/svdLlmFromInputs.*'x'/);
  });
});
