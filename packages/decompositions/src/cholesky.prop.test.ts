import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { NotPositiveDefiniteError, type FloatDType } from '@llmpress/tensor';
import { cholesky, solveTriangular, choleskySolve, choleskyInverse } from './index.js';
import { f64, mm, fro, diffFro, makeMatrix, recTol, toTensor } from './test-support.js';
import { BACKENDS } from './test-backends.js';

/** SPD G = Aᵀ A + shift·I from a generated A (cond(G) = cond(A)²). */
function spd(n: number, dtype: FloatDType, seed: number, kind: 'random' | 'illConditioned' | 'graded' = 'random') {
  const { a } = makeMatrix(kind === 'graded' ? 'random' : kind, n + 3, n, 'f64', seed);
  const A = f64(a);
  const G = mm(A, n + 3, n, A, n + 3, n, true, false);
  if (kind === 'illConditioned') for (let i = 0; i < n; i++) G[i * n + i] += dtype === 'f32' ? 1e-5 : 1e-11; // keep cond(G) ≲ 1/(n eps)
  if (kind === 'graded') {
    // G = D G0 D with D spanning 6 (f32) / 12 (f64) orders of magnitude: Cholesky is invariant to it
    const span = dtype === 'f32' ? 6 : 12;
    const d = Array.from({ length: n }, (_, i) => 10 ** (-(span * i) / Math.max(1, n - 1) / 2));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) G[i * n + j] *= d[i]! * d[j]!;
  }
  return { g: toTensor(G, [n, n], dtype), G: Float64Array.from(toTensor(G, [n, n], dtype).data as ArrayLike<number>) };
}

for (const nb of BACKENDS) {
  describe.skipIf(!nb.backend)(`cholesky properties (${nb.name} backend)${nb.backend ? '' : ` (skipped: ${nb.reason})`}`, () => {
    const backend = nb.backend!;
    for (const dtype of ['f64', 'f32'] as FloatDType[]) {
      it(`${dtype}: L Lᵀ = A, L lower with positive diagonal, solves and inverse have small residuals`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 100 }),
            fc.integer({ min: 1, max: 1e6 }),
            fc.constantFrom<'random' | 'illConditioned' | 'graded'>('random', 'illConditioned', 'graded'),
            (n, seed, kind) => {
              const { g, G } = spd(n, dtype, seed, kind);
              const nG = fro(G);
              const { l, jitter } = cholesky(g, { backend });
              expect(jitter).toBe(0);
              const L = f64(l);
              let bad = 0;
              for (let i = 0; i < n; i++) {
                if (!(L[i * n + i]! > 0)) bad++;
                for (let j = i + 1; j < n; j++) if (L[i * n + j] !== 0) bad++;
              }
              expect(bad).toBe(0);
              expect(diffFro(mm(L, n, n, L, n, n, false, true), G)).toBeLessThanOrEqual(recTol(dtype, n, n) * nG);
              // choleskySolve: backward error ‖G x − b‖ ≤ c eps ‖G‖ ‖x‖
              const b = toTensor(
                Array.from({ length: n * 2 }, (_, i) => Math.cos(i)),
                [n, 2],
                dtype,
              );
              const X = f64(choleskySolve(l, b, { backend }));
              expect(diffFro(mm(G, n, n, X, n, 2), f64(b))).toBeLessThanOrEqual(recTol(dtype, n, n, 40) * nG * fro(X));
              // inverse: ‖G G⁻¹ − I‖ ≤ c eps cond(G) √n — use the backward form ‖G Y − I‖ ≤ c eps ‖G‖ ‖Y‖
              const Y = f64(choleskyInverse(l, { backend }));
              const GY = mm(G, n, n, Y, n, n);
              for (let i = 0; i < n; i++) GY[i * n + i] -= 1;
              expect(fro(GY)).toBeLessThanOrEqual(recTol(dtype, n, n, 40) * nG * fro(Y) * Math.sqrt(n));
              let asym = 0;
              for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) if (Y[i * n + j] !== Y[j * n + i]) asym++;
              expect(asym).toBe(0);
            },
          ),
          { numRuns: 15, seed: 31 },
        );
      });

      it(`${dtype}: solveTriangular, all lower/trans/unit combinations, vector and matrix right-hand sides`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 100 }),
            fc.integer({ min: 0, max: 3 }),
            fc.boolean(),
            fc.boolean(),
            fc.boolean(),
            fc.integer({ min: 1, max: 1e6 }),
            (n, k, lower, trans, unit, seed) => {
              // well-conditioned triangular T: unit-ish diagonal, small off-diagonal
              const T = new Float64Array(n * n);
              let s = seed;
              const rnd = () => {
                s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
                return s / 4294967296 - 0.5;
              };
              for (let i = 0; i < n; i++)
                for (let j = 0; j < n; j++) {
                  const inTri = lower ? j < i : j > i;
                  T[i * n + j] = i === j ? 1 + Math.abs(rnd()) : inTri ? rnd() / Math.sqrt(n) : 99; // 99: must not be read
                }
              const t = toTensor(T, [n, n], dtype);
              const Teff = new Float64Array(n * n),
                Tr = f64(t);
              for (let i = 0; i < n; i++)
                for (let j = 0; j < n; j++) {
                  const inTri = lower ? j <= i : j >= i;
                  Teff[i * n + j] = !inTri ? 0 : i === j && unit ? 1 : Tr[i * n + j]!;
                }
              const kk = Math.max(1, k);
              const B = Array.from({ length: n * kk }, () => rnd());
              const b = k === 0 ? toTensor(B, [n], dtype) : toTensor(B, [n, kk], dtype);
              const x = solveTriangular(t, b, { lower, trans, unitDiagonal: unit, backend });
              expect(x.shape).toEqual(b.shape);
              const X = f64(x);
              const R = mm(Teff, n, n, X, n, kk, trans, false);
              expect(diffFro(R, f64(b))).toBeLessThanOrEqual(recTol(dtype, n, n, 40) * fro(Teff) * fro(X));
            },
          ),
          { numRuns: 40, seed: 32 },
        );
      });

      it(`${dtype}: non-SPD input throws NotPositiveDefiniteError with the pivot; jitter is opt-in and reported`, () => {
        // rank-deficient PSD Gram matrix: second half of the pivots are (numerically) zero
        const n = 12;
        const { a } = makeMatrix('rankDeficient', n, n, 'f64', 7);
        const A = f64(a);
        const G = toTensor(mm(A, n, n, A, n, n, true, false), [n, n], dtype);
        let caught: unknown;
        try {
          cholesky(G, { backend });
        } catch (e) {
          caught = e;
        }
        // may also happen to survive with a tiny positive pivot in rounding; an indefinite matrix never does
        const indef = toTensor(
          [
            [1, 2, 0],
            [2, 1, 0],
            [0, 0, 1],
          ].flat(),
          [3, 3],
          dtype,
        );
        let e2: any;
        try {
          cholesky(indef, { backend });
        } catch (e) {
          e2 = e;
        }
        expect(NotPositiveDefiniteError.isInstance(e2)).toBe(true);
        expect(e2.pivot).toBe(1);
        expect(e2.message).toMatch(/^cholesky: .*pivot 1/);
        if (caught) expect(NotPositiveDefiniteError.isInstance(caught)).toBe(true);
        const { l, jitter } = cholesky(G, { jitter: true, backend });
        expect(jitter).toBeGreaterThan(0);
        const Lf = f64(l),
          Gf = f64(G);
        const LLt = mm(Lf, n, n, Lf, n, n, false, true);
        for (let i = 0; i < n; i++) Gf[i * n + i] += jitter;
        expect(diffFro(LLt, Gf)).toBeLessThanOrEqual(recTol(dtype, n, n) * fro(Gf));
        // the indefinite matrix needs a jitter of about 1 (its eigenvalue −1): escalation finds it
        const r = cholesky(indef, { jitter: 1e-3, backend });
        expect(r.jitter).toBeGreaterThanOrEqual(1); // must reach |λ_min| = 1
        expect(r.jitter).toBeLessThanOrEqual((10 * (1 + 1 + 1)) / 3);
      });
    }
  });
}

describe('cholesky across several outer blocks (n > 128)', () => {
  for (const dtype of ['f64', 'f32'] as FloatDType[]) {
    it(`${dtype}: n = 300, L Lᵀ = A; a non-PD pivot in a late block is reported with its index`, () => {
      const n = 300;
      const { g, G } = spd(n, dtype, 77);
      const L = f64(cholesky(g).l);
      expect(diffFro(mm(L, n, n, L, n, n, false, true), G)).toBeLessThanOrEqual(recTol(dtype, n, n) * fro(G));
      const bad = G.slice();
      bad[250 * n + 250] = -1e3;
      let e: any;
      try {
        cholesky(toTensor(bad, [n, n], dtype));
      } catch (err) {
        e = err;
      }
      expect(NotPositiveDefiniteError.isInstance(e)).toBe(true);
      expect(e.pivot).toBe(250);
    });
  }
});
