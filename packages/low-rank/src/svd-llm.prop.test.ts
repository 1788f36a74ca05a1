import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { tolerance } from '@llmpress/tensor';
import { svdLlmFactor, svdLowRank, asvd } from './svd-llm.js';
import { syntheticWeight, syntheticInputs, gramOf, meanAbsOf, outputError } from './testutil.js';

describe('SVD-LLM properties (synthetic layers)', () => {
  it('whitened truncation error = Σ dropped σ², and SVD-LLM ≤ plain SVD and ASVD on calibration inputs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 24 }),
        fc.integer({ min: 2, max: 24 }),
        fc.integer({ min: 1, max: 1e6 }),
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.constantFrom('eigh' as const, 'cholesky' as const),
        (m, n, seed, frac, whitening) => {
          const W = syntheticWeight(m, n, seed);
          const X = syntheticInputs(n, 3 * n + 8, seed + 1);
          const G = gramOf(X);
          const k = Math.max(1, Math.min(Math.min(m, n), Math.round(frac * Math.min(m, n))));
          const { layer, report } = svdLlmFactor(W, G, { rank: k, whitening });
          const tol = tolerance('f32', [m, n], 100) * report.totalEnergy; // f32-stored factors
          const err = outputError(W, layer.toDense(), X);
          expect(Math.abs(err - report.droppedEnergy)).toBeLessThanOrEqual(tol);
          const es = outputError(W, svdLowRank(W, { rank: k }).toDense(), X);
          const ea = outputError(W, asvd(W, meanAbsOf(X), { rank: k }).toDense(), X);
          expect(err).toBeLessThanOrEqual(es + tol);
          expect(err).toBeLessThanOrEqual(ea + tol);
        },
      ),
      { numRuns: 30 },
    );
  });
});
