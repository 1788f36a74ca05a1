/**
 * LAPACK fixtures (fixtures/make_fixtures.py, scipy gesdd / syevr in float64).
 *
 * Tolerance, derived: LAPACK and this package are both backward stable, so each computed σ̂ᵢ is an
 * exact singular value of A + E with ‖E‖₂ ≤ c·eps·√n·‖A‖₂; by Weyl |σ̂ᵢ − σᵢ| ≤ ‖E‖₂ (the same for
 * eigenvalues of symmetric matrices). Two such errors (ours and LAPACK's, whose eps is f64) plus the
 * rounding of A to f32 (‖A − fl(A)‖₂ ≤ eps_f32·‖A‖_F ≤ eps_f32·√n·‖A‖₂) stay below
 * `tolerance(dtype, n, 20) · ‖A‖₂`. Small singular values of Kahan/Hilbert/graded matrices are only
 * accurate to that absolute level (no algorithm based on orthogonal transformations of A does better).
 */
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tolerance, type FloatDType } from '@llmpress/tensor';
import { svd, svdvals, eigvalsh, eigh } from './index.js';
import { toTensor, f64 } from './test-support.js';
import { BACKENDS } from './test-backends.js';

interface Fixture {
  name: string;
  shape: [number, number];
  data: number[];
  singular_values: number[];
  eigenvalues?: number[];
  norm2: number;
}
const dir = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixtures: Fixture[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(dir + f, 'utf8')));

describe('LAPACK fixtures', () => {
  it('are present (run fixtures/make_fixtures.py to regenerate)', () => {
    expect(fixtures.map((f) => f.name)).toEqual(
      expect.arrayContaining(['kahan-40', 'hilbert-12', 'graded-30', 'wilkinson-21', 'low-rank-noise-60x40', 'clustered-sym-45']),
    );
  });
  for (const nb of BACKENDS) {
    describe.skipIf(!nb.backend)(`${nb.name} backend${nb.backend ? '' : ` (skipped: ${nb.reason})`}`, () => {
      const backend = nb.backend!;
      for (const fx of fixtures)
        for (const dtype of ['f64', 'f32'] as FloatDType[]) {
          it(`${fx.name} ${dtype}: singular values${fx.eigenvalues ? ' and eigenvalues' : ''} match LAPACK within tolerance(dtype, n, 20)·‖A‖₂`, () => {
            const [m, n] = fx.shape;
            const a = toTensor(fx.data, [m, n], dtype);
            const tol = tolerance(dtype, [m, n], 20) * fx.norm2;
            const s = f64(svdvals(a, { backend }));
            const s2 = f64(svd(a, { backend }).s);
            expect(s.length).toBe(fx.singular_values.length);
            let d = 0,
              d2 = 0;
            for (let i = 0; i < s.length; i++) {
              d = Math.max(d, Math.abs(s[i]! - fx.singular_values[i]!));
              d2 = Math.max(d2, Math.abs(s2[i]! - fx.singular_values[i]!));
            }
            expect(d).toBeLessThanOrEqual(tol);
            expect(d2).toBeLessThanOrEqual(tol);
            // the large singular values are relatively accurate
            expect(Math.abs(s[0]! - fx.singular_values[0]!) / fx.singular_values[0]!).toBeLessThanOrEqual(tolerance(dtype, [m, n], 20));
            if (fx.eigenvalues) {
              const w = f64(eigvalsh(a, { backend }));
              const w2 = f64(eigh(a, { backend }).values);
              let e = 0,
                e2 = 0;
              for (let i = 0; i < n; i++) {
                e = Math.max(e, Math.abs(w[i]! - fx.eigenvalues[i]!));
                e2 = Math.max(e2, Math.abs(w2[i]! - fx.eigenvalues[i]!));
              }
              expect(e).toBeLessThanOrEqual(tol);
              expect(e2).toBeLessThanOrEqual(tol);
            }
          });
        }
    });
  }
});
