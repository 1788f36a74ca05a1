/** Cholesky (blocked, left-looking, lower), triangular solves, SPD solve and inverse. */
import { ArgumentError, NotPositiveDefiniteError, ShapeError, EPS, assertTensor, assertFloat, assertFinite, type Backend, type Tensor } from '@llmpress/tensor';
import { SingularMatrixError, alloc, checkMatrix, checkSameDtype, copyOf, gemm, withCtx, tensorOf, type Ctx, type FA } from './internal/util.js';

export interface CholeskyOptions {
  /**
   * Opt-in diagonal jitter when the matrix is not (numerically) positive definite. `true` starts at
   * 10·eps(dtype) relative to the mean diagonal; a number is the starting relative amount. The
   * amount is multiplied by 10 on every failed attempt (at most 16 attempts).
   */
  jitter?: boolean | number;
  backend?: Backend;
}
/** `l` lower triangular with A + jitter·I = L Lᵀ; `jitter` is the absolute amount added (0 when none). */
export interface CholeskyResult {
  l: Tensor;
  jitter: number;
}

const CHOL_NB = 128;
const CHOL_NBI = 16;

/** In-place blocked Cholesky of the lower triangle of L (n × n row-major). Throws NotPositiveDefiniteError. */
export function potrf(ctx: Ctx, L: FA, n: number): void {
  for (let j0 = 0; j0 < n; j0 += CHOL_NB) {
    const j1 = Math.min(n, j0 + CHOL_NB);
    // left-looking update of the block column: L[j0:, j0:j1] -= L[j0:, :j0] L[j0:j1, :j0]ᵀ
    if (j0 > 0) gemm(ctx, false, true, n - j0, j1 - j0, j0, -1, L, j0 * n, n, L, j0 * n, n, 1, L, j0 * n + j0, n);
    // inside the block column, again left-looking in sub-blocks of CHOL_NBI columns
    for (let s0 = j0; s0 < j1; s0 += CHOL_NBI) {
      const s1 = Math.min(j1, s0 + CHOL_NBI);
      if (s0 > j0) gemm(ctx, false, true, n - s0, s1 - s0, s0 - j0, -1, L, s0 * n + j0, n, L, s0 * n + j0, n, 1, L, s0 * n + s0, n);
      for (let j = s0; j < s1; j++) {
        const jo = j * n;
        let d = L[jo + j]!;
        for (let p = s0; p < j; p++) {
          const v = L[jo + p]!;
          d -= v * v;
        }
        if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefiniteError(ctx.fn, j, d);
        const ljj = Math.sqrt(d);
        L[jo + j] = ljj;
        const inv = 1 / ljj;
        for (let i = j + 1; i < n; i++) {
          const io = i * n;
          let s = L[io + j]!;
          for (let p = s0; p < j; p++) s -= L[io + p]! * L[jo + p]!;
          L[io + j] = s * inv;
        }
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) L[i * n + j] = 0;
}

/**
 * In-place blocked Cholesky `A = L Lᵀ` on a raw row-major n × n array: the lower triangle of `a` is
 * read and overwritten by L, the strict upper triangle is zeroed. No copies are made, so a caller that
 * owns a large buffer (e.g. one from `backend.allocate`, used by the backend's GEMM in place) pays no
 * extra memory. Throws `NotPositiveDefiniteError` (0-based pivot; `a` is then partly overwritten).
 */
export function choleskyInPlace(a: Float32Array | Float64Array, n: number, options: { backend?: Backend } = {}): void {
  const fn = 'choleskyInPlace';
  if (!(a instanceof Float32Array || a instanceof Float64Array)) throw new ArgumentError(fn, 'a', a, 'must be a Float32Array or Float64Array');
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(fn, 'n', n, 'must be a non-negative integer');
  if (a.length < n * n) throw new ShapeError(fn, `argument 'a' must hold ${n} × ${n} values, got length ${a.length}`);
  withCtx(fn, a instanceof Float32Array ? 'f32' : 'f64', options.backend, (ctx) => potrf(ctx, a, n));
}

/**
 * Cholesky factor `A = L Lᵀ` (L lower). Only the lower triangle of `a` is read.
 * Throws `NotPositiveDefiniteError` (0-based `pivot`) unless `jitter` is opted in.
 */
export function cholesky(a: Tensor, options: CholeskyOptions = {}): CholeskyResult {
  const fn = 'cholesky';
  const [n] = checkMatrix(fn, 'a', a, { square: true });
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const jit = options.jitter ?? false;
    if (typeof jit === 'number' && !(Number.isFinite(jit) && jit > 0))
      throw new ArgumentError(fn, 'options.jitter', jit, 'must be true, false or a positive finite relative amount');
    if (typeof jit !== 'number' && typeof jit !== 'boolean')
      throw new ArgumentError(fn, 'options.jitter', jit, 'must be true, false or a positive finite relative amount');
    const A0 = copyOf(a);
    const L = ctx.work(n * n);
    L.set(A0);
    try {
      potrf(ctx, L, n);
      return { l: tensorOf(ctx.dtype, L.slice(), [n, n]), jitter: 0 };
    } catch (e) {
      if (!jit || !NotPositiveDefiniteError.isInstance(e)) throw e;
      let lastErr = e;
      let meanDiag = 0;
      for (let i = 0; i < n; i++) meanDiag += Math.abs(A0[i * n + i]!);
      meanDiag /= n;
      if (meanDiag === 0) meanDiag = 1;
      let rel = typeof jit === 'number' ? jit : 10 * EPS[ctx.dtype];
      for (let attempt = 0; attempt < 16; attempt++, rel *= 10) {
        const delta = rel * meanDiag;
        L.set(A0);
        for (let i = 0; i < n; i++) L[i * n + i] = L[i * n + i]! + delta;
        try {
          potrf(ctx, L, n);
          return { l: tensorOf(ctx.dtype, L.slice(), [n, n]), jitter: delta };
        } catch (e2) {
          if (!NotPositiveDefiniteError.isInstance(e2)) throw e2;
          lastErr = e2;
        }
      }
      throw lastErr;
    }
  });
}

export interface TriangularOptions {
  /** `t` is lower triangular (default true). Only that triangle is read. */
  lower?: boolean;
  /** Solve Tᵀ X = B instead of T X = B. */
  trans?: boolean;
  /** Assume a unit diagonal (not read). */
  unitDiagonal?: boolean;
  backend?: Backend;
}

const TRSM_NB = 64;

/** Solve op(T) X = B in place on X (n × k row-major). Blocked: GEMM updates + unblocked diagonal blocks. */
export function trsm(ctx: Ctx, T: FA, n: number, X: FA, k: number, lower: boolean, trans: boolean, unit: boolean): void {
  const fwd = lower !== trans; // op(T) lower triangular
  const e = trans ? (i: number, p: number) => T[p * n + i]! : (i: number, p: number) => T[i * n + p]!;
  if (!unit) for (let i = 0; i < n; i++) if (T[i * n + i] === 0) throw new SingularMatrixError(ctx.fn, 't', i);
  const nblocks = Math.ceil(n / TRSM_NB);
  for (let bb = 0; bb < nblocks; bb++) {
    const b = fwd ? bb : nblocks - 1 - bb;
    const i0 = b * TRSM_NB,
      i1 = Math.min(n, i0 + TRSM_NB),
      h = i1 - i0;
    if (fwd) {
      if (i0 > 0) {
        if (!trans) gemm(ctx, false, false, h, k, i0, -1, T, i0 * n, n, X, 0, k, 1, X, i0 * k, k);
        else gemm(ctx, true, false, h, k, i0, -1, T, i0, n, X, 0, k, 1, X, i0 * k, k);
      }
      for (let i = i0; i < i1; i++) {
        const xo = i * k;
        for (let p = i0; p < i; p++) {
          const c = e(i, p);
          if (c !== 0) {
            const po = p * k;
            for (let q = 0; q < k; q++) X[xo + q] = X[xo + q]! - c * X[po + q]!;
          }
        }
        if (!unit) {
          const inv = 1 / e(i, i);
          for (let q = 0; q < k; q++) X[xo + q] = X[xo + q]! * inv;
        }
      }
    } else {
      if (i1 < n) {
        if (!trans) gemm(ctx, false, false, h, k, n - i1, -1, T, i0 * n + i1, n, X, i1 * k, k, 1, X, i0 * k, k);
        else gemm(ctx, true, false, h, k, n - i1, -1, T, i1 * n + i0, n, X, i1 * k, k, 1, X, i0 * k, k);
      }
      for (let i = i1 - 1; i >= i0; i--) {
        const xo = i * k;
        for (let p = i + 1; p < i1; p++) {
          const c = e(i, p);
          if (c !== 0) {
            const po = p * k;
            for (let q = 0; q < k; q++) X[xo + q] = X[xo + q]! - c * X[po + q]!;
          }
        }
        if (!unit) {
          const inv = 1 / e(i, i);
          for (let q = 0; q < k; q++) X[xo + q] = X[xo + q]! * inv;
        }
      }
    }
  }
}

function rhsShape(fn: string, t: Tensor, b: unknown): { k: number; shape: number[] } {
  assertTensor(fn, 'b', b);
  assertFloat(fn, 'b', b);
  checkSameDtype(fn, t, 'b', b);
  const n = t.shape[0]!;
  if (b.ndim === 1) {
    if (b.shape[0] !== n) throw new ShapeError(fn, `argument 'b' must be [${n}] or [${n}, k], got shape [${b.shape.join(', ')}]`);
    return { k: 1, shape: [n] };
  }
  if (b.ndim !== 2 || b.shape[0] !== n) throw new ShapeError(fn, `argument 'b' must be [${n}] or [${n}, k], got shape [${b.shape.join(', ')}]`);
  return { k: b.shape[1]!, shape: [n, b.shape[1]!] };
}

/** Solves `op(T) X = B` for triangular `T` (`B` 1-D or 2-D; result has B's shape). */
export function solveTriangular(t: Tensor, b: Tensor, options: TriangularOptions = {}): Tensor {
  const fn = 'solveTriangular';
  const [n] = checkMatrix(fn, 't', t, { square: true });
  const { k, shape } = rhsShape(fn, t, b);
  assertFinite(fn, 'b', b);
  return withCtx(fn, t.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const T = t.contiguous().data as FA;
    const X = copyOf(b);
    if (k > 0) trsm(ctx, T, n, X, k, options.lower ?? true, options.trans ?? false, options.unitDiagonal ?? false);
    return tensorOf(ctx.dtype, X, shape);
  });
}

/** Solves `(L Lᵀ) X = B` given the Cholesky factor `l`. */
export function choleskySolve(l: Tensor, b: Tensor, options: { backend?: Backend } = {}): Tensor {
  const fn = 'choleskySolve';
  const [n] = checkMatrix(fn, 'l', l, { square: true });
  const { k, shape } = rhsShape(fn, l, b);
  assertFinite(fn, 'b', b);
  return withCtx(fn, l.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const L = l.contiguous().data as FA;
    const X = copyOf(b);
    if (k > 0) {
      trsm(ctx, L, n, X, k, true, false, false);
      trsm(ctx, L, n, X, k, true, true, false);
    }
    return tensorOf(ctx.dtype, X, shape);
  });
}

/** `(L Lᵀ)⁻¹` from the Cholesky factor: L⁻ᵀ L⁻¹ (symmetric). */
export function choleskyInverse(l: Tensor, options: { backend?: Backend } = {}): Tensor {
  const fn = 'choleskyInverse';
  const [n] = checkMatrix(fn, 'l', l, { square: true });
  return withCtx(fn, l.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const L = l.contiguous().data as FA;
    const X = alloc(ctx.dtype, n * n);
    for (let i = 0; i < n; i++) X[i * n + i] = 1;
    trsm(ctx, L, n, X, n, true, false, false); // X = L⁻¹ (lower)
    const out = alloc(ctx.dtype, n * n);
    gemm(ctx, true, false, n, n, n, 1, X, 0, n, X, 0, n, 0, out, 0, n);
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const v = 0.5 * (out[i * n + j]! + out[j * n + i]!);
        out[i * n + j] = v;
        out[j * n + i] = v;
      }
    return tensorOf(ctx.dtype, out, [n, n]);
  });
}
