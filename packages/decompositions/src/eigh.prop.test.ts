import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { FloatDType } from '@llmpress/tensor';
import { eigh, eigvalsh } from './index.js';
import { f64, mm, fro, diffFro, orthErr, randomOrthogonal, spectrum, recTol, orthTol, toTensor, type Kind } from './test-support.js';
import { BACKENDS } from './test-backends.js';
import { Rng } from '@llmpress/tensor';

/** Symmetric A = Q diag(λ) Qᵀ with signed eigenvalues of a kind. */
function sym(kind: Kind, n: number, dtype: FloatDType, seed: number) {
  const rng = new Rng(seed);
  const lam = spectrum(kind, n, dtype, rng).map((v, i) => (i % 3 === 1 ? -v : v));
  const Q = randomOrthogonal(n, rng);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += Q[i * n + p]! * lam[p]! * Q[j * n + p]!;
      A[i * n + j] = s;
      A[j * n + i] = s;
    }
  if (kind === 'graded') for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] *= 10 ** (-(3 * (i + j)) / Math.max(1, n - 1));
  return { a: toTensor(A, [n, n], dtype), lam: kind === 'graded' ? null : lam.slice().sort((x, y) => x - y) };
}

for (const nb of BACKENDS) {
  describe.skipIf(!nb.backend)(`eigh properties (${nb.name} backend)${nb.backend ? '' : ` (skipped: ${nb.reason})`}`, () => {
    const backend = nb.backend!;
    for (const dtype of ['f64', 'f32'] as FloatDType[]) {
      it(`${dtype}: A V = V Λ, V orthogonal, sorted values, eigvalsh agrees, prescribed spectrum recovered`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 70 }),
            fc.constantFrom<Kind>('random', 'rankDeficient', 'illConditioned', 'graded', 'clustered'),
            fc.integer({ min: 1, max: 1e6 }),
            fc.constantFrom<'ascending' | 'descending'>('ascending', 'descending'),
            (n, kind, seed, order) => {
              const { a, lam } = sym(kind, n, dtype, seed);
              const A = f64(a),
                nA = fro(A);
              const { values, vectors } = eigh(a, { order, backend });
              expect(values.shape).toEqual([n]);
              expect(vectors.shape).toEqual([n, n]);
              const w = f64(values),
                V = f64(vectors);
              let unsorted = 0;
              for (let i = 1; i < n; i++) if (order === 'ascending' ? w[i]! < w[i - 1]! : w[i]! > w[i - 1]!) unsorted++;
              expect(unsorted).toBe(0);
              const AV = mm(A, n, n, V, n, n);
              const VL = new Float64Array(n * n);
              for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) VL[i * n + j] = V[i * n + j]! * w[j]!;
              expect(diffFro(AV, VL)).toBeLessThanOrEqual(recTol(dtype, n, n) * nA);
              expect(orthErr(V, n, n)).toBeLessThanOrEqual(orthTol(dtype, n));
              const w2 = f64(eigvalsh(a, { order, backend }));
              expect(diffFro(w2, w)).toBeLessThanOrEqual(recTol(dtype, n, n) * nA);
              if (lam) {
                const asc = order === 'ascending' ? w : w.slice().reverse();
                let d = 0;
                for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(asc[i]! - lam[i]!));
                expect(d).toBeLessThanOrEqual(recTol(dtype, n, n) * nA);
              }
            },
          ),
          { numRuns: 20, seed: 41 },
        );
      });
    }
  });
}

describe('eigh divide and conquer on larger, deflation-heavy matrices (reference backend)', () => {
  const cases: [string, number, (n: number) => Float64Array][] = [
    [
      'identity (everything deflates)',
      97,
      (n) => {
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; i++) a[i * n + i] = 1;
        return a;
      },
    ],
    ['zero matrix', 70, (n) => new Float64Array(n * n)],
    [
      'Wilkinson W+ (close pairs)',
      141,
      (n) => {
        const m = (n - 1) / 2,
          a = new Float64Array(n * n);
        for (let i = 0; i < n; i++) {
          a[i * n + i] = Math.abs(i - m);
          if (i + 1 < n) {
            a[i * n + i + 1] = 1;
            a[(i + 1) * n + i] = 1;
          }
        }
        return a;
      },
    ],
    [
      '1-2-1 Toeplitz tridiagonal',
      200,
      (n) => {
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; i++) {
          a[i * n + i] = 2;
          if (i + 1 < n) {
            a[i * n + i + 1] = -1;
            a[(i + 1) * n + i] = -1;
          }
        }
        return a;
      },
    ],
    [
      'rank-3 Gram matrix (many zero eigenvalues)',
      160,
      (n) => {
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; i++)
          for (let j = 0; j < n; j++) a[i * n + j] = Math.sin(i) * Math.sin(j) + Math.cos(2 * i) * Math.cos(2 * j) + 0.5 * ((i + j) % 2 ? -1 : 1);
        return a;
      },
    ],
  ];
  for (const [name, n, make] of cases)
    for (const dtype of ['f64', 'f32'] as FloatDType[]) {
      it(`${name}, n=${n}, ${dtype}`, () => {
        const a = toTensor(make(n), [n, n], dtype);
        const A = f64(a),
          nA = Math.max(fro(A), 1e-300);
        const { values, vectors } = eigh(a);
        const w = f64(values),
          V = f64(vectors);
        const VL = new Float64Array(n * n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) VL[i * n + j] = V[i * n + j]! * w[j]!;
        expect(diffFro(mm(A, n, n, V, n, n), VL)).toBeLessThanOrEqual(recTol(dtype, n, n) * nA);
        expect(orthErr(V, n, n)).toBeLessThanOrEqual(orthTol(dtype, n));
        let unsorted = 0;
        for (let i = 1; i < n; i++) if (w[i]! < w[i - 1]!) unsorted++;
        expect(unsorted).toBe(0);
      });
    }
});
