import { describe, it, expect } from 'vitest';
import { Tensor, matmul, ArgumentError, ShapeError, tolerance } from '@llmpress/tensor';
import { svdLlm } from './svd-llm.js';
import { updateLowRank } from './update.js';
import { syntheticWeight, syntheticInputs, gramOf, outputError } from './testutil.js';

const m = 20,
  n = 24,
  T = 160;
const T32 = tolerance('f32', [m, n], 100); // factors are stored in f32
const T64 = tolerance('f64', [m, n], 1000); // the objective trace is f64 from the same f64 factors
const W = syntheticWeight(m, n, 11);
const X = syntheticInputs(n, T, 12);
// drifted inputs: X̂ = X + structured noise, as if earlier layers were compressed
const noise = syntheticInputs(n, T, 13);
const Xh = new Tensor(
  'f64',
  X.data.map((v, i) => v + 0.3 * noise.data[i]!),
  [T, n],
);
const stats = { gram: gramOf(Xh), origGram: gramOf(X), crossGram: matmul(X.T, Xh) as Tensor<'f64'> };

/** ‖W Xᵀ − A X̂ᵀ‖² directly from activations. */
function driftError(a: Tensor): number {
  const A = a.astype('f64');
  const y = matmul(X, W.T) as Tensor<'f64'>,
    yh = matmul(Xh, A.T) as Tensor<'f64'>;
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += (y.data[i]! - yh.data[i]!) ** 2;
  return s;
}

describe('updateLowRank (closed-form sequential update)', () => {
  it('objective from Grams matches the activations and never increases', () => {
    const base = svdLlm(W, stats.gram, { rank: 8 });
    const { layer, report } = updateLowRank(W, base, stats, { sweeps: 3 });
    expect(Math.abs(report.objective[0]! - driftError(base.toDense())) / report.objective[0]!).toBeLessThan(T32);
    for (let i = 1; i < report.objective.length; i++) expect(report.objective[i]!).toBeLessThanOrEqual(report.objective[i - 1]! * (1 + T64));
    const after = driftError(layer.toDense());
    expect(Math.abs(after - report.objective.at(-1)!) / after).toBeLessThan(T32);
    // and it actually improves on whitening alone against the original outputs
    expect(after).toBeLessThan(0.98 * report.objective[0]!);
    expect(report.relativeAfter).toBeLessThan(report.relativeBefore);
    expect(layer.rank).toBe(8);
  });

  it('without drift and with ridge 0 the whitened solution is already optimal (update changes ~nothing)', () => {
    const same = { gram: gramOf(X), origGram: gramOf(X), crossGram: gramOf(X) };
    const base = svdLlm(W, same.gram, { rank: 8 });
    const { report } = updateLowRank(W, base, same, { ridge: 0 });
    expect(report.objective.at(-1)!).toBeGreaterThan(report.objective[0]! * (1 - 1e-3));
    expect(report.objective.at(-1)!).toBeLessThanOrEqual(report.objective[0]! * (1 + T32));
    expect(outputError(W, base.toDense(), X)).toBeCloseTo(report.objective[0]!, 0);
  });

  it('rank-deficient Ĝ stays finite: with a ridge (PD systems), and with the default δ = 0 (minimum-norm fallback)', () => {
    const Xs = syntheticInputs(n, 10, 14);
    const s2 = { gram: gramOf(Xs), origGram: gramOf(Xs), crossGram: gramOf(Xs) };
    const base = svdLlm(W, s2.gram, { rank: 5 });
    for (const opts of [{ ridge: 1 }, {}]) {
      const { layer, report } = updateLowRank(W, base, s2, opts);
      for (const v of layer.toDense().data) expect(Number.isFinite(v)).toBe(true);
      expect(report.objective.at(-1)!).toBeLessThanOrEqual(report.objective[0]! * (1 + 1e-6));
    }
  });

  it('defaults: δ = 0 and two sweeps (1 + 2·2 objective values)', () => {
    const base = svdLlm(W, stats.gram, { rank: 8 });
    const { report } = updateLowRank(W, base, stats);
    expect(report.mu).toBe(0);
    expect(report.objective).toHaveLength(5);
  });

  it('bad input', () => {
    const base = svdLlm(W, stats.gram, { rank: 4 });
    expect(() => updateLowRank(W.slice([0, m - 1]), base, stats)).toThrow(ShapeError);
    expect(() => updateLowRank(W, base, { ...stats, crossGram: undefined as any })).toThrow(ArgumentError);
    expect(() => updateLowRank(W, base, { ...stats, gram: gramOf(syntheticInputs(n - 1, 30, 1)) })).toThrow(ShapeError);
    expect(() => updateLowRank(W, base, stats, { ridge: -1 })).toThrow(ArgumentError);
    expect(() => updateLowRank(W, base, stats, { sweeps: 0 })).toThrow(ArgumentError);
    expect(() => updateLowRank(W, base, { ...stats, gram: new Tensor('f64', new Float64Array(n * n), [n, n]) })).toThrow(/positive trace/);
  });
});
