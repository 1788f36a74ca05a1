import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { FloatDType } from '@llmpress/tensor';
import { qr } from './index.js';
import { KINDS, f64, mm, fro, diffFro, orthErr, makeMatrix, recTol, orthTol } from './test-support.js';
import { BACKENDS } from './test-backends.js';

const shapeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 })),
  fc.tuple(fc.constant(1), fc.integer({ min: 1, max: 30 })),
  fc.tuple(fc.integer({ min: 1, max: 30 }), fc.constant(1)),
  fc.tuple(fc.integer({ min: 50, max: 120 }), fc.integer({ min: 40, max: 70 })), // more than one panel
);

for (const nb of BACKENDS) {
  describe.skipIf(!nb.backend)(`qr properties (${nb.name} backend)${nb.backend ? '' : ` (skipped: ${nb.reason})`}`, () => {
    const backend = nb.backend!;
    for (const dtype of ['f64', 'f32'] as FloatDType[]) {
      it(`${dtype}: Q R = A (thin/full/pivoted), Q orthonormal, R upper triangular, pivoted |r_ii| non-increasing`, () => {
        fc.assert(
          fc.property(
            shapeArb,
            fc.constantFrom(...KINDS),
            fc.integer({ min: 1, max: 1e6 }),
            fc.constantFrom<'thin' | 'full'>('thin', 'full'),
            fc.boolean(),
            ([m, n], kind, seed, mode, pivoting) => {
              const { a } = makeMatrix(kind, m, n, dtype, seed);
              const A = f64(a),
                nA = fro(A);
              const { q, r, perm } = qr(a, { mode, pivoting, backend });
              const k = Math.min(m, n),
                qc = mode === 'full' ? m : k;
              expect(q!.shape).toEqual([m, qc]);
              expect(r.shape).toEqual([qc, n]);
              const Q = f64(q!),
                R = f64(r);
              let below = 0;
              for (let i = 0; i < qc; i++) for (let j = 0; j < Math.min(i, n); j++) if (R[i * n + j] !== 0) below++;
              expect(below).toBe(0);
              let Ap = A;
              if (pivoting) {
                expect(perm).toBeInstanceOf(Int32Array);
                expect(Array.from(perm!).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
                Ap = new Float64Array(m * n);
                for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) Ap[i * n + j] = A[i * n + perm![j]!]!;
                let unsorted = 0;
                for (let i = 1; i < k; i++) if (Math.abs(R[i * n + i]!) > Math.abs(R[(i - 1) * n + i - 1]!) * (1 + 1e-6) + recTol(dtype, m, n) * nA) unsorted++;
                expect(unsorted).toBe(0);
              } else expect(perm).toBeUndefined();
              expect(diffFro(mm(Q, m, qc, R, qc, n), Ap)).toBeLessThanOrEqual(recTol(dtype, m, n) * nA);
              expect(orthErr(Q, m, qc)).toBeLessThanOrEqual(orthTol(dtype, m));
            },
          ),
          { numRuns: 20, seed: 21 },
        );
      });
      it(`${dtype}: mode 'r' returns the same R without Q`, () => {
        const { a } = makeMatrix('random', 70, 55, dtype, 4);
        const full = qr(a, { backend }),
          ronly = qr(a, { mode: 'r', backend });
        expect(ronly.q).toBeUndefined();
        expect(f64(ronly.r)).toEqual(f64(full.r));
      });
    }
  });
}

describe('qr across several panels (min(m, n) > block size)', () => {
  for (const dtype of ['f64', 'f32'] as FloatDType[])
    for (const [m, n] of [
      [200, 110],
      [110, 200],
    ] as const) {
      it(`${dtype} ${m}×${n}: thin and full Q R = A, Q orthonormal`, () => {
        const { a } = makeMatrix('illConditioned', m, n, dtype, m + n);
        const A = f64(a),
          nA = fro(A);
        for (const mode of ['thin', 'full'] as const) {
          const { q, r } = qr(a, { mode });
          const qc = q!.shape[1]!;
          expect(diffFro(mm(f64(q!), m, qc, f64(r), qc, n), A)).toBeLessThanOrEqual(recTol(dtype, m, n) * nA);
          expect(orthErr(f64(q!), m, qc)).toBeLessThanOrEqual(orthTol(dtype, m));
        }
      });
    }
});
