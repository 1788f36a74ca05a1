import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { FloatDType } from '@llmpress/tensor';
import { svd, svdvals, truncatedSvd, randomizedSvd } from './index.js';
import { KINDS, f64, mm, fro, diffFro, orthErr, makeMatrix, recTol, orthTol, toTensor } from './test-support.js';
import { BACKENDS } from './test-backends.js';

const shapeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 })),
  fc.tuple(fc.constant(1), fc.integer({ min: 1, max: 30 })),
  fc.tuple(fc.integer({ min: 1, max: 30 }), fc.constant(1)),
  fc.tuple(fc.integer({ min: 30, max: 60 }), fc.integer({ min: 2, max: 12 })),
);

for (const nb of BACKENDS) {
  describe.skipIf(!nb.backend)(`svd properties (${nb.name} backend)${nb.backend ? '' : ` (skipped: ${nb.reason})`}`, () => {
    const backend = nb.backend;
    for (const dtype of ['f64', 'f32'] as FloatDType[]) {
      it(`${dtype}: reconstruction, orthogonality, sorted non-negative s, matches the prescribed spectrum`, () => {
        fc.assert(
          fc.property(
            shapeArb,
            fc.constantFrom(...KINDS),
            fc.integer({ min: 1, max: 1e6 }),
            fc.constantFrom<'thin' | 'full'>('thin', 'full'),
            ([m, n], kind, seed, vectors) => {
              const { a, sigma } = makeMatrix(kind, m, n, dtype, seed);
              const A = f64(a),
                nA = fro(A);
              const { u, s, vt } = svd(a, { vectors, backend: backend! });
              const k = Math.min(m, n);
              const uc = vectors === 'full' ? m : k,
                vr = vectors === 'full' ? n : k;
              expect(u.shape).toEqual([m, uc]);
              expect(vt.shape).toEqual([vr, n]);
              expect(s.shape).toEqual([k]);
              const S = f64(s);
              let unsorted = 0;
              for (let i = 0; i < k; i++) if (!(S[i]! >= 0) || (i > 0 && S[i]! > S[i - 1]!)) unsorted++;
              expect(unsorted).toBe(0);
              const U = f64(u),
                Vt = f64(vt);
              // U[:, :k] diag(s) Vt[:k]
              const US = new Float64Array(m * k);
              for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) US[i * k + j] = U[i * uc + j]! * S[j]!;
              const R = mm(US, m, k, Vt.subarray(0, k * n), k, n);
              expect(diffFro(R, A)).toBeLessThanOrEqual(recTol(dtype, m, n) * nA + 1e-300);
              expect(orthErr(U, m, uc)).toBeLessThanOrEqual(orthTol(dtype, Math.max(m, uc)));
              expect(orthErr(transpose(Vt, vr, n), n, vr)).toBeLessThanOrEqual(orthTol(dtype, Math.max(n, vr)));
              // Weyl: |σ_i(Â) − σ_i| ≤ ‖Â − A_exact‖₂ ≤ (rounding of A) + backward error
              let maxDs = 0;
              for (let i = 0; i < sigma.length; i++) maxDs = Math.max(maxDs, Math.abs(S[i]! - sigma[i]!));
              expect(maxDs).toBeLessThanOrEqual(recTol(dtype, m, n) * nA + 1e-300);
              // svdvals agrees with svd
              const sv = f64(svdvals(a, { backend: backend! }));
              let maxDv = 0;
              for (let i = 0; i < k; i++) maxDv = Math.max(maxDv, Math.abs(sv[i]! - S[i]!));
              expect(maxDv).toBeLessThanOrEqual(recTol(dtype, m, n) * nA + 1e-300);
            },
          ),
          { numRuns: 20, seed: 11 },
        );
      });
    }

    it('truncatedSvd gives the top-k factors, randomizedSvd recovers a low-rank-plus-noise spectrum', () => {
      if (!backend) return;
      fc.assert(
        fc.property(
          fc.integer({ min: 20, max: 50 }),
          fc.integer({ min: 20, max: 50 }),
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 1e6 }),
          (m, n, k, seed) => {
            const { a, sigma } = makeMatrix('graded', m, n, 'f64', seed);
            void sigma;
            const t = truncatedSvd(a, k, { backend: backend! });
            const full = svd(a, { backend: backend! });
            expect(t.u.shape).toEqual([m, k]);
            expect(t.vt.shape).toEqual([k, n]);
            const fs = f64(full.s),
              ts = f64(t.s);
            for (let i = 0; i < k; i++) expect(ts[i]).toBeCloseTo(fs[i]!, 12);
            // randomized on an exactly-low-rank + tiny-noise matrix
            const lr = makeMatrix('random', m, k, 'f64', seed).a,
              rr = makeMatrix('random', k, n, 'f64', seed + 1).a;
            const L = mm(f64(lr), m, k, f64(rr), k, n);
            for (let i = 0; i < L.length; i++) L[i] += 1e-10 * Math.sin(i * 1.7);
            const At = toTensor(L, [m, n], 'f64');
            const r = randomizedSvd(At, k, { seed: 3, backend: backend! });
            const ex = f64(svd(At, { vectors: 'none', backend: backend! }).s);
            const rs = f64(r.s);
            for (let i = 0; i < k; i++) expect(Math.abs(rs[i]! - ex[i]!)).toBeLessThanOrEqual(1e-8 * ex[0]!);
            expect(orthErr(f64(r.u), m, k)).toBeLessThanOrEqual(orthTol('f64', m));
            // same seed, same result
            expect(f64(randomizedSvd(At, k, { seed: 3, backend: backend! }).s)).toEqual(rs);
          },
        ),
        { numRuns: 10, seed: 5 },
      );
    });
  });
}

function transpose(a: Float64Array, r: number, c: number): Float64Array {
  const o = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = a[i * c + j]!;
  return o;
}
