import { describe, it, expect } from 'vitest';
import { Tensor, matmul, maxAbsDiff, ArgumentError } from '@llmpress/tensor';
import { svdLlmFactor } from './svd-llm.js';
import { whiten } from '../helpers.js';
import { syntheticWeight, syntheticInputs, gramOf, outputError } from './testutil.js';

const product = (r: ReturnType<typeof svdLlmFactor>) => matmul(r.layer.wu.astype('f64'), r.layer.wv.astype('f64'));

describe("svdLlm route 'gram' (eigh of W G Wᵀ) agrees with the whitening route", () => {
  for (const [m, n] of [[16, 40], [40, 16], [24, 24]] as const) {
    it(`full-rank Gram, W ${m}×${n}: same σ, same truncated product, same calibration error`, () => {
      const W = syntheticWeight(m, n, 5);
      const X = syntheticInputs(n, 4 * n, 6);
      const G = gramOf(X);
      const a = svdLlmFactor(W, G, { ratio: 0.4, route: 'whiten' });
      const b = svdLlmFactor(W, G, { ratio: 0.4, route: 'gram' });
      expect(b.report.whitening!.method).toBe('gram');
      expect(b.report.rank).toBe(a.report.rank);
      const r = Math.min(m, n);
      for (let i = 0; i < r; i++) expect(Math.abs(b.report.sigma[i]! - a.report.sigma[i]!)).toBeLessThan(1e-6 * a.report.sigma[0]!);
      // factors are stored in f32: the products agree to f32 rounding
      const scale = Math.max(...Array.from(W.data as Float64Array, Math.abs));
      expect(maxAbsDiff(product(a), product(b))).toBeLessThan(1e-5 * scale);
      const ea = outputError(W, product(a), X), eb = outputError(W, product(b), X);
      expect(Math.abs(ea - eb)).toBeLessThan(1e-4 * Math.max(ea, 1e-12) + 1e-9);
      expect(Math.abs(b.report.droppedEnergy - a.report.droppedEnergy)).toBeLessThan(1e-8 * a.report.totalEnergy);
    });
  }
  it('rank-deficient Gram (fewer tokens than inputs): calibration error equals the dropped energy on both routes', () => {
    const m = 12, n = 48, T = 20;
    const W = syntheticWeight(m, n, 7);
    const X = syntheticInputs(n, T, 8);
    const G = gramOf(X);
    const a = svdLlmFactor(W, G, { rank: 6, route: 'whiten' });
    const b = svdLlmFactor(W, G, { rank: 6, route: 'gram' });
    const ea = outputError(W, product(a), X), eb = outputError(W, product(b), X);
    expect(Math.abs(eb - b.report.droppedEnergy)).toBeLessThan(1e-4 * b.report.totalEnergy);
    expect(Math.abs(ea - eb)).toBeLessThan(1e-4 * b.report.totalEnergy);
  });
  it("'auto' takes the Gram route when m < n and the whitening route otherwise", () => {
    const W = syntheticWeight(8, 24, 9), G = gramOf(syntheticInputs(24, 80, 10));
    expect(svdLlmFactor(W, G, { ratio: 0.3, route: 'auto' }).report.whitening!.method).toBe('gram');
    const W2 = syntheticWeight(24, 8, 9), G2 = gramOf(syntheticInputs(8, 80, 10));
    expect(svdLlmFactor(W2, G2, { ratio: 0.3, route: 'auto' }).report.whitening!.method).toBe('eigh');
    expect(svdLlmFactor(W, G, { ratio: 0.3, route: 'auto', whitening: 'cholesky' }).report.whitening!.method).toBe('cholesky');
  });
});

describe('svdLlm with a shared whitening (options.whitened)', () => {
  it('gives exactly the factors of whitening inside', () => {
    const n = 20;
    const G = gramOf(syntheticInputs(n, 90, 11));
    const wh = whiten(G);
    for (const m of [8, 30]) {
      const W = syntheticWeight(m, n, 12 + m);
      const a = svdLlmFactor(W, G, { ratio: 0.3 });
      const b = svdLlmFactor(W, G, { ratio: 0.3, whitened: wh, route: 'auto' });
      expect(b.report.whitening!.method).toBe('eigh');
      expect(maxAbsDiff(a.layer.wu, b.layer.wu)).toBe(0);
      expect(maxAbsDiff(a.layer.wv, b.layer.wv)).toBe(0);
    }
  });
  it('rejects a whitening of another size, a bad route and gram + cholesky, naming the argument', () => {
    const W = syntheticWeight(8, 20, 1), G = gramOf(syntheticInputs(20, 60, 2));
    const other = whiten(gramOf(syntheticInputs(10, 40, 3)));
    expect(() => svdLlmFactor(W, G, { ratio: 0.3, whitened: other })).toThrow(/options\.whitened/);
    expect(() => svdLlmFactor(W, G, { ratio: 0.3, route: 'fast' as any })).toThrow(ArgumentError);
    expect(() => svdLlmFactor(W, G, { ratio: 0.3, route: 'gram', whitening: 'cholesky' })).toThrow(/options\.route/);
    expect(() => svdLlmFactor(W, new Tensor('f64', new Float64Array(400), [20, 20]), { ratio: 0.3, route: 'gram' })).toThrow(/svdLlm.*'g'/);
  });
});
