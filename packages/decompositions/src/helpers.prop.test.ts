import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { FloatDType } from '@llmpress/tensor';
import { pinv, lstsq, spdSqrt, nullSpace, rangeBasis, whiten } from './index.js';
import { f64, mm, fro, diffFro, orthErr, makeMatrix, recTol, orthTol, toTensor } from './test-support.js';
import { BACKENDS } from './test-backends.js';

const shapeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 })),
  fc.tuple(fc.constant(1), fc.integer({ min: 1, max: 20 })),
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constant(1)),
);

for (const nb of BACKENDS) {
  describe.skipIf(!nb.backend)(`helper properties (${nb.name} backend)${nb.backend ? '' : ` (skipped: ${nb.reason})`}`, () => {
    const backend = nb.backend!;
    for (const dtype of ['f64', 'f32'] as FloatDType[]) {
      it(`${dtype}: nullSpace (A N ≈ 0, orthonormal, right size), rangeBasis, pinv (Penrose), lstsq (normal equations)`, () => {
        fc.assert(
          fc.property(
            shapeArb,
            fc.constantFrom<'random' | 'rankDeficient'>('random', 'rankDeficient'),
            fc.integer({ min: 1, max: 1e6 }),
            ([m, n], kind, seed) => {
              const { a, sigma } = makeMatrix(kind, m, n, dtype, seed);
              const A = f64(a),
                nA = fro(A);
              const rank = sigma.filter((s) => s > 0).length;
              const N = nullSpace(a, { backend });
              expect(N.shape).toEqual([n, n - rank]);
              const Nf = f64(N);
              if (n - rank > 0) {
                expect(fro(mm(A, m, n, Nf, n, n - rank))).toBeLessThanOrEqual(recTol(dtype, m, n) * nA);
                expect(orthErr(Nf, n, n - rank)).toBeLessThanOrEqual(orthTol(dtype, n));
              }
              const R = rangeBasis(a, { backend });
              expect(R.shape).toEqual([m, rank]);
              if (rank > 0) {
                const Rf = f64(R);
                expect(orthErr(Rf, m, rank)).toBeLessThanOrEqual(orthTol(dtype, m));
                // A = R Rᵀ A (A's columns lie in the range)
                const P = mm(Rf, m, rank, mm(Rf, m, rank, A, m, n, true, false), rank, n);
                expect(diffFro(P, A)).toBeLessThanOrEqual(recTol(dtype, m, n) * nA);
              }
              // Penrose: A X A = A, X A X = X
              const X = f64(pinv(a, { backend }));
              expect(diffFro(mm(mm(A, m, n, X, n, m), m, m, A, m, n), A)).toBeLessThanOrEqual(recTol(dtype, m, n) * nA);
              if (rank > 0) expect(diffFro(mm(mm(X, n, m, A, m, n), n, n, X, n, m), X)).toBeLessThanOrEqual(recTol(dtype, m, n) * fro(X) * nA * fro(X));
              // lstsq: Aᵀ (A x − b) ≈ 0 and x = pinv(A) b
              const b = toTensor(
                Array.from({ length: m }, (_, i) => Math.sin(i + seed)),
                [m],
                dtype,
              );
              const r = lstsq(a, b, { backend });
              expect(r.rank).toBe(rank);
              const x = f64(r.x),
                Xb = mm(X, n, m, f64(b), m, 1);
              expect(diffFro(x, Xb)).toBeLessThanOrEqual(recTol(dtype, m, n, 40) * fro(X) * fro(f64(b)) * Math.max(1, nA * fro(X)));
            },
          ),
          { numRuns: 20, seed: 51 },
        );
      });

      it(`${dtype}: whiten (S Sᵀ = G, S⁻¹ S = I, floors), spdSqrt (R R = A, R R⁻¹ = I)`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 40 }),
            fc.integer({ min: 1, max: 1e6 }),
            fc.constantFrom<'eigh' | 'cholesky'>('eigh', 'cholesky'),
            (n, seed, method) => {
              const { a } = makeMatrix('random', n + 2, n, 'f64', seed);
              const A = f64(a);
              const G = mm(A, n + 2, n, A, n + 2, n, true, false);
              const g = toTensor(G, [n, n], dtype);
              const Gd = f64(g),
                nG = fro(Gd);
              const w = whiten(g, { method, backend });
              expect(w.method).toBe(method);
              expect(w.floored).toBe(0);
              const S = f64(w.s),
                Si = f64(w.sInv);
              expect(diffFro(mm(S, n, n, S, n, n, false, true), Gd)).toBeLessThanOrEqual(recTol(dtype, n, n) * nG);
              const I = mm(Si, n, n, S, n, n);
              for (let i = 0; i < n; i++) I[i * n + i] -= 1;
              expect(fro(I)).toBeLessThanOrEqual(recTol(dtype, n, n, 200)); // cond(S) ≤ ~10 for these G
              const { sqrt, invSqrt } = spdSqrt(g, { backend });
              const Rt = f64(sqrt),
                Ri = f64(invSqrt);
              expect(diffFro(mm(Rt, n, n, Rt, n, n), Gd)).toBeLessThanOrEqual(recTol(dtype, n, n) * nG);
              const J = mm(Rt, n, n, Ri, n, n);
              for (let i = 0; i < n; i++) J[i * n + i] -= 1;
              expect(fro(J)).toBeLessThanOrEqual(recTol(dtype, n, n, 200));
            },
          ),
          { numRuns: 20, seed: 52 },
        );
      });

      it(`${dtype}: whiten floors the tiny eigenvalues of a rank-deficient Gram matrix (eigh) and reports how many`, () => {
        const n = 20,
          r = 8;
        const { a } = makeMatrix('random', r, n, 'f64', 3); // rank r
        const A = f64(a);
        const g = toTensor(mm(A, r, n, A, r, n, true, false), [n, n], dtype);
        const w = whiten(g, { backend });
        expect(w.floored).toBe(n - r);
        expect(w.floor).toBeGreaterThan(0);
        const S = f64(w.s),
          Si = f64(w.sInv),
          Gd = f64(g);
        // S Sᵀ = G + (floored part) with ‖floored part‖ ≤ (n − r) · floor · λ_max
        const lmax = fro(Gd);
        expect(diffFro(mm(S, n, n, S, n, n, false, true), Gd)).toBeLessThanOrEqual(recTol(dtype, n, n) * lmax + (n - r) * w.floor * lmax);
        const I = mm(Si, n, n, S, n, n);
        for (let i = 0; i < n; i++) I[i * n + i] -= 1;
        expect(fro(I)).toBeLessThanOrEqual(1e-2); // finite, invertible despite rank deficiency
        expect(() => whiten(g, { method: 'cholesky', backend })).toThrow(/not positive definite/);
      });
    }
  });
}
