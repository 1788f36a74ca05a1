import { describe, it, expect } from 'vitest';
import { Tensor, matmul, randn, maxAbsDiff, tolerance, norm, ArgumentError, ShapeError, NonFiniteError, NotPositiveDefiniteError } from '@llmpress/tensor';
import { svdLlm, svdLlmFactor, svdLowRank, svdLowRankFactor, asvdFactor } from './svd-llm.js';
import { LowRankLinear } from './low-rank.js';
import { rankFromRatio, rankFromEnergy } from './rank.js';
import { syntheticWeight, syntheticInputs, gramOf, meanAbsOf, outputError } from './testutil.js';

const m = 24,
  n = 32,
  T = 200;
// factors are stored in f32: energies agree to f32 rounding of the factors (relative to the total energy)
const TOL = tolerance('f32', [m, n], 100);
const W = syntheticWeight(m, n, 1);
const X = syntheticInputs(n, T, 2);
const G = gramOf(X);

describe('rank from ratio / energy', () => {
  it('k = ⌊m·n·(1−ρ)/(m+n)⌋ and the factors never exceed the budget', () => {
    expect(rankFromRatio(64, 64, 0.2)).toBe(25);
    expect(rankFromRatio(64, 172, 0.6)).toBe(18);
    expect(rankFromRatio(4096, 11008, 0.4)).toBe(Math.floor((4096 * 11008 * 0.6) / (4096 + 11008)));
    for (const [a, b, r] of [
      [64, 64, 0.2],
      [172, 64, 0.4],
      [32, 64, 0.6],
    ] as const) {
      const k = rankFromRatio(a, b, r);
      expect(k * (a + b)).toBeLessThanOrEqual((1 - r) * a * b);
      expect((k + 1) * (a + b)).toBeGreaterThan((1 - r) * a * b);
    }
  });
  it('rejects ratios outside (0, 1) and ratios that leave rank 0', () => {
    for (const r of [0, 1, -0.1, 1.5, NaN]) expect(() => rankFromRatio(8, 8, r)).toThrow(ArgumentError);
    expect(() => rankFromRatio(4, 4, 0.9)).toThrow(/rank 0/);
  });
  it('energy keeps the smallest prefix reaching the budget', () => {
    expect(rankFromEnergy([3, 2, 1], 1)).toBe(3);
    expect(rankFromEnergy([3, 2, 1], 9 / 14)).toBe(1);
    expect(rankFromEnergy([3, 2, 1], 10 / 14)).toBe(2);
  });
});

describe('svdLlm (one layer)', () => {
  it('returns a LowRankLinear whose forward is W_u (W_v x) with honest params/bytes', () => {
    const layer = svdLlm(W, G, { ratio: 0.4 });
    const k = rankFromRatio(m, n, 0.4);
    expect(layer).toBeInstanceOf(LowRankLinear);
    expect(layer.rank).toBe(k);
    expect(layer.wu.shape).toEqual([m, k]);
    expect(layer.wv.shape).toEqual([k, n]);
    expect(layer.params()).toBe(k * (m + n));
    expect(layer.bytes()).toBe(4 * k * (m + n));
    const x = randn([5, n], { seed: 3 });
    const y = layer.forward(x);
    const yRef = matmul(x, layer.toDense().T);
    expect(maxAbsDiff(y, yRef)).toBeLessThan(tolerance('f32', [m, n], 100) * (norm(yRef) + 1));
  });

  it('whitened truncation error equals the dropped singular values (cholesky and eigh routes agree)', () => {
    for (const whitening of ['cholesky', 'eigh'] as const) {
      const { layer, report } = svdLlmFactor(W, G, { rank: 10, whitening });
      expect(report.whitening?.floored ?? 0).toBe(0);
      const err = outputError(W, layer.toDense(), X);
      const scale = report.totalEnergy;
      expect(Math.abs(err - report.droppedEnergy)).toBeLessThan(TOL * scale);
    }
  });

  it('beats plain SVD and ASVD on the calibration inputs at equal rank', () => {
    for (const k of [4, 12, 20]) {
      const e = outputError(W, svdLlm(W, G, { rank: k }).toDense(), X);
      const es = outputError(W, svdLowRank(W, { rank: k }).toDense(), X);
      const ea = outputError(W, asvdFactor(W, meanAbsOf(X), { rank: k }).layer.toDense(), X);
      expect(e).toBeLessThanOrEqual(es * (1 + TOL));
      expect(e).toBeLessThanOrEqual(ea * (1 + TOL));
    }
  });

  it("factors: 'projection' (Σ^{-1/2} U_kᵀ W) equals the paper's 'inverse' form (Σ^{1/2} V_kᵀ S⁻¹)", () => {
    for (const whitening of ['eigh', 'cholesky'] as const) {
      const a = svdLlm(W, G, { rank: 9, whitening });
      const b = svdLlm(W, G, { rank: 9, whitening, factors: 'projection' });
      expect(maxAbsDiff(a.wu, b.wu)).toBe(0);
      expect(maxAbsDiff(a.toDense(), b.toDense())).toBeLessThan(TOL * (norm(a.toDense()) + 1));
    }
    expect(() => svdLlm(W, G, { rank: 3, factors: 'lu' as any })).toThrow(ArgumentError);
  });

  it('plain SVD drops exactly its tail singular values in the Frobenius norm', () => {
    const { layer, report } = svdLowRankFactor(W, { rank: 7 });
    const d = new Float64Array(m * n);
    const dense = layer.toDense();
    for (let i = 0; i < d.length; i++) d[i] = W.data[i]! - dense.data[i]!;
    const fro2 = norm(new Tensor('f64', d, [m, n])) ** 2;
    expect(Math.abs(fro2 - report.droppedEnergy)).toBeLessThan(TOL * report.totalEnergy);
  });

  it('energy budget picks the rank from the whitened spectrum', () => {
    const { report } = svdLlmFactor(W, G, { energy: 0.9 });
    const kept = report.totalEnergy - report.droppedEnergy;
    expect(kept).toBeGreaterThanOrEqual(0.9 * report.totalEnergy * (1 - 1e-9));
    expect(report.rank).toBe(rankFromEnergy(report.sigma, 0.9));
  });

  it('serializes and deserializes to the identical layer', () => {
    const layer = svdLlm(W, G, { rank: 6 });
    const s = layer.serialize();
    expect(s.kind).toBe('low-rank');
    const back = LowRankLinear.deserialize(s);
    expect(back.rank).toBe(6);
    expect(maxAbsDiff(back.wu, layer.wu)).toBe(0);
    expect(maxAbsDiff(back.wv, layer.wv)).toBe(0);
    expect(() => LowRankLinear.deserialize({ ...s, kind: 'dense' })).toThrow(ArgumentError);
    expect(() => LowRankLinear.deserialize({ ...s, meta: { rank: 5 } })).toThrow(ShapeError);
  });
});

describe('svdLlm bad input', () => {
  it('rank 0, rank > min(m, n), several rank specs, ratio outside (0,1)', () => {
    expect(() => svdLlm(W, G, { rank: 0 })).toThrow(ArgumentError);
    expect(() => svdLlm(W, G, { rank: m + 1 })).toThrow(/options.rank/);
    expect(() => svdLlm(W, G, { rank: 2.5 })).toThrow(ArgumentError);
    expect(() => svdLlm(W, G, { rank: 3, ratio: 0.5 })).toThrow(/exactly one/);
    expect(() => svdLlm(W, G, {})).toThrow(/exactly one/);
    expect(() => svdLlm(W, G, { ratio: 1 })).toThrow(ArgumentError);
    expect(() => svdLlm(W, G, { ratio: 0 })).toThrow(ArgumentError);
    expect(() => svdLlm(W, G, { energy: 0 })).toThrow(ArgumentError);
  });
  it('mismatched and non-square Grams, non-finite values', () => {
    expect(() => svdLlm(W, gramOf(syntheticInputs(n + 1, 50, 3)), { rank: 3 })).toThrow(ShapeError);
    expect(() => svdLlm(W, G.slice(null, [0, n - 1]), { rank: 3 })).toThrow(/must be square/);
    const bad = G.contiguous(true);
    bad.data[5] = NaN;
    expect(() => svdLlm(W, bad, { rank: 3 })).toThrow(NonFiniteError);
    const badW = W.contiguous(true);
    badW.data[0] = Infinity;
    expect(() => svdLlm(badW, G, { rank: 3 })).toThrow(NonFiniteError);
    expect(() => svdLlm(W, G, { rank: 3, whitening: 'qr' as any })).toThrow(ArgumentError);
  });
  it('too-small calibration (rank-deficient G): cholesky throws NotPositiveDefiniteError, eigh floors and reports', () => {
    const Xs = syntheticInputs(n, 10, 5); // 10 tokens < 32 features
    const Gs = gramOf(Xs);
    expect(() => svdLlm(W, Gs, { rank: 4, whitening: 'cholesky' })).toThrow(NotPositiveDefiniteError);
    const { layer, report } = svdLlmFactor(W, Gs, { rank: 4, whitening: 'eigh' });
    expect(report.whitening!.floored).toBeGreaterThanOrEqual(n - 10);
    const d = layer.toDense().data;
    for (let i = 0; i < d.length; i++) expect(Number.isFinite(d[i]!)).toBe(true);
    // on the calibration tokens it is still the best rank-4 fit (whitened error = dropped energy)
    const err = outputError(W, layer.toDense(), Xs);
    expect(err).toBeLessThanOrEqual(outputError(W, svdLowRank(W, { rank: 4 }).toDense(), Xs) * (1 + 1e-3));
  });
  it('an indefinite Gram is rejected by cholesky and floored by eigh; a negative definite one is a typed error', () => {
    const Gi = gramOf(syntheticInputs(n, 10, 6)).contiguous(true);
    let tr = 0;
    for (let i = 0; i < n; i++) tr += Gi.data[i * n + i]!;
    for (let i = 0; i < n; i++) Gi.data[i * n + i]! -= (1e-6 * tr) / n; // null eigenvalues become negative
    expect(() => svdLlm(W, Gi, { rank: 4, whitening: 'cholesky' })).toThrow(NotPositiveDefiniteError);
    const { layer, report } = svdLlmFactor(W, Gi, { rank: 4 });
    expect(report.whitening!.floored).toBeGreaterThanOrEqual(n - 10);
    for (const v of layer.toDense().data) expect(Number.isFinite(v)).toBe(true);
    const Gneg = G.contiguous(true);
    for (let i = 0; i < Gneg.data.length; i++) Gneg.data[i] = -Gneg.data[i]!;
    expect(() => svdLlm(W, Gneg, { rank: 4 })).toThrow(NotPositiveDefiniteError);
  });
  it('ASVD input checks', () => {
    expect(() => asvdFactor(W, meanAbsOf(X).slice([0, n - 1]), { rank: 3 })).toThrow(ShapeError);
    expect(() => asvdFactor(W, new Tensor('f64', new Float64Array(n), [n]), { rank: 3 })).toThrow(/positive entry/);
    expect(() => asvdFactor(W, meanAbsOf(X), { rank: 3, alpha: -1 })).toThrow(ArgumentError);
  });
});
