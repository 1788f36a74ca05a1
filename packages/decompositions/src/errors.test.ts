import { describe, it, expect } from 'vitest';
import {
  ArgumentError,
  DTypeError,
  NonFiniteError,
  NoConvergenceError,
  NotPositiveDefiniteError,
  ShapeError,
  tensor,
  zeros,
  type Tensor,
} from '@llmpress/tensor';
import * as D from './index.js';
import { tql2 } from './eigh.js';
import { bdsqr } from './svd.js';

const sq = tensor(
  [
    [4, 1],
    [1, 3],
  ],
  { dtype: 'f64' },
) as Tensor;
const rect = tensor(
  [
    [1, 2, 3],
    [4, 5, 6],
  ],
  { dtype: 'f64' },
) as Tensor;
const withNaN = tensor(
  [
    [1, NaN],
    [NaN, 1],
  ],
  { dtype: 'f64' },
) as Tensor;
const withInf = tensor(
  [
    [1, 0],
    [0, Infinity],
  ],
  { dtype: 'f32' },
) as Tensor;
const empty = zeros([0, 3], 'f64');

function throwsTyped(f: () => unknown, cls: { isInstance(e: unknown): boolean }, re: RegExp) {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a throw').toBeDefined();
  expect(cls.isInstance(err), String(err)).toBe(true);
  expect(String((err as Error).message)).toMatch(re);
  return err as any;
}

describe('bad input gives typed errors naming function, argument and value', () => {
  it('non-square where square is required', () => {
    throwsTyped(() => D.cholesky(rect), ShapeError, /^cholesky: argument 'a' must be square, got shape \[2, 3\]/);
    throwsTyped(() => D.eigh(rect), ShapeError, /^eigh: argument 'a' must be square/);
    throwsTyped(() => D.eigvalsh(rect), ShapeError, /^eigvalsh: /);
    throwsTyped(() => D.spdSqrt(rect), ShapeError, /^spdSqrt: /);
    throwsTyped(() => D.whiten(rect), ShapeError, /^whiten: argument 'g' must be square/);
    throwsTyped(() => D.solveTriangular(rect, tensor([1, 2], { dtype: 'f64' }) as Tensor), ShapeError, /^solveTriangular: argument 't' must be square/);
  });
  it('NaN / Inf entries', () => {
    for (const f of [D.svd, D.svdvals, D.qr, D.cholesky, D.eigh, D.eigvalsh, D.pinv, D.nullSpace, D.rangeBasis, D.whiten, D.spdSqrt] as ((
      a: Tensor,
    ) => unknown)[]) {
      const e = throwsTyped(() => f(withNaN), NonFiniteError, /must be finite, found NaN at flat index 1/);
      expect(e.index).toBe(1);
    }
    throwsTyped(() => D.svd(withInf), NonFiniteError, /^svd: argument 'a' must be finite, found Infinity/);
    throwsTyped(() => D.lstsq(sq, tensor([1, NaN], { dtype: 'f64' }) as Tensor), NonFiniteError, /^lstsq: argument 'b'/);
  });
  it('empty matrices', () => {
    throwsTyped(() => D.svd(empty), ShapeError, /^svd: argument 'a' must be non-empty, got shape \[0, 3\]/);
    throwsTyped(() => D.qr(empty), ShapeError, /^qr: /);
    throwsTyped(() => D.randomizedSvd(empty, 1), ShapeError, /^randomizedSvd: /);
  });
  it('wrong dtype, non-matrix, bad options', () => {
    throwsTyped(() => D.svd(tensor([[1, 2]], { dtype: 'i32' }) as Tensor), DTypeError, /^svd: argument 'a' must be f32 or f64, got i32/);
    throwsTyped(() => D.svd(tensor([1, 2], { dtype: 'f64' }) as Tensor), ShapeError, /must be a 2-D matrix, got shape \[2\]/);
    throwsTyped(() => D.svd(sq, { vectors: 'some' as any }), ArgumentError, /^svd: argument 'options.vectors' must be 'thin', 'full' or 'none', got "some"/);
    throwsTyped(() => D.qr(sq, { mode: 'economic' as any }), ArgumentError, /options.mode/);
    throwsTyped(() => D.eigh(sq, { order: 'up' as any }), ArgumentError, /options.order/);
    throwsTyped(() => D.truncatedSvd(sq, 3), ArgumentError, /^truncatedSvd: argument 'k' must be an integer in \[1, 2\], got 3/);
    throwsTyped(() => D.randomizedSvd(sq, 0), ArgumentError, /argument 'k'/);
    throwsTyped(() => D.randomizedSvd(sq, 1, { oversample: -1 }), ArgumentError, /options.oversample/);
    throwsTyped(() => D.cholesky(sq, { jitter: -1 }), ArgumentError, /options.jitter/);
    throwsTyped(() => D.pinv(sq, { rcond: -1 }), ArgumentError, /options.rcond/);
    throwsTyped(() => D.whiten(sq, { floor: 2 }), ArgumentError, /options.floor/);
    throwsTyped(
      () => D.solveTriangular(sq, tensor([1, 2], { dtype: 'f32' }) as Tensor),
      DTypeError,
      /^solveTriangular: argument 'b' has dtype f32, expected f64/,
    );
    throwsTyped(() => D.choleskySolve(sq, tensor([1, 2, 3], { dtype: 'f64' }) as Tensor), ShapeError, /argument 'b' must be \[2\] or \[2, k\]/);
    throwsTyped(() => D.svd(sq, { backend: {} as any }), ArgumentError, /options.backend/);
  });
  it('non-SPD input to cholesky: NotPositiveDefiniteError with pivot and diagonal', () => {
    const e = throwsTyped(
      () =>
        D.cholesky(
          tensor(
            [
              [1, 0, 0],
              [0, -2, 0],
              [0, 0, 1],
            ],
            { dtype: 'f32' },
          ) as Tensor,
        ),
      NotPositiveDefiniteError,
      /^cholesky: matrix is not positive definite: pivot 1 has value -2/,
    );
    expect(e.pivot).toBe(1);
    expect(e.diagonal).toBe(-2);
    throwsTyped(
      () =>
        D.spdSqrt(
          tensor(
            [
              [1, 0],
              [0, -1],
            ],
            { dtype: 'f64' },
          ) as Tensor,
        ),
      NotPositiveDefiniteError,
      /^spdSqrt: /,
    );
  });
  it('singular triangular systems are reported, not divided by zero', () => {
    const e = throwsTyped(
      () =>
        D.solveTriangular(
          tensor(
            [
              [1, 0],
              [5, 0],
            ],
            { dtype: 'f64' },
          ) as Tensor,
          tensor([1, 1], { dtype: 'f64' }) as Tensor,
        ),
      D.SingularMatrixError,
      /^solveTriangular: argument 't' is singular: diagonal entry 1 is zero/,
    );
    expect(e.index).toBe(1);
  });
  it('iteration caps: a poisoned tridiagonal / bidiagonal ends in NoConvergenceError, never a hang or NaN result', () => {
    const d = new Float64Array([1, 2, 3]),
      e = new Float64Array([NaN, 1, 0]);
    throwsTyped(() => tql2('eigh', d, e, 3, null), NoConvergenceError, /^eigh: did not converge after \d+ iterations/);
    const s = new Float64Array([1, 2, 3]),
      f = new Float64Array([1, NaN, 0]);
    throwsTyped(() => bdsqr('svd', s, f, 3, null, 0, null, 0), NoConvergenceError, /^svd: did not converge/);
  });
  it('1×1 and tiny cases are exact', () => {
    const one = tensor([[-3]], { dtype: 'f64' }) as Tensor;
    const r = D.svd(one);
    expect(Array.from(r.s.data)).toEqual([3]);
    expect(r.u.get(0, 0) * 3 * r.vt.get(0, 0)).toBe(-3);
    expect(Array.from(D.eigvalsh(one).data)).toEqual([-3]);
    expect(D.cholesky(tensor([[4]], { dtype: 'f32' }) as Tensor).l.get(0, 0)).toBe(2);
    expect(D.nullSpace(tensor([[0, 0]], { dtype: 'f64' }) as Tensor).shape).toEqual([2, 2]);
  });
});
