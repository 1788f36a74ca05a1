/** Internal helpers: input checks, raw row-major storage, the GEMM wrapper and Householder reflectors. */
import {
  Tensor,
  EPS,
  ArgumentError,
  ShapeError,
  DTypeError,
  LlmpressError,
  assertMatrix,
  assertFloat,
  assertFinite,
  resolveBackend,
  routine,
  Workspace,
  type Backend,
  type BackendRoutines,
  type FloatDType,
} from '@llmpress/tensor';

export type FA = Float32Array | Float64Array;

/** Everything an algorithm needs: its public name (for errors), backend GEMM, dtype and eps. */
export interface Ctx {
  fn: string;
  backend: Backend;
  gemmFn: BackendRoutines['gemm'];
  gemvFn: BackendRoutines['gemv'];
  dtype: FloatDType;
  eps: number;
  /** Zeroed work array, resident in the backend's memory when it offers `allocate` (no copy-in per call). */
  work(n: number): FA;
  /** Returns a work array early (no-op for ordinary arrays). */
  free(a: FA): void;
  /** Releases every work array still held (call in `finally`). */
  done(): void;
}

export function makeCtx(fn: string, dtype: FloatDType, backend?: Backend): Ctx {
  const b = resolveBackend(fn, backend);
  const ws = new Workspace(b, { minResident: 256 });
  return {
    fn,
    backend: b,
    gemmFn: routine(b, 'gemm'),
    gemvFn: routine(b, 'gemv'),
    dtype,
    eps: EPS[dtype],
    work: (n: number): FA => ws.array(dtype, n, true),
    free: (a: FA): void => ws.free(a),
    done: (): void => ws.done(),
  };
}

/** Runs `body` with a context whose work arrays are released afterwards. */
export function withCtx<T>(fn: string, dtype: FloatDType, backend: Backend | undefined, body: (ctx: Ctx) => T): T {
  const ctx = makeCtx(fn, dtype, backend);
  try {
    return body(ctx);
  } finally {
    ctx.done();
  }
}

/** y = alpha op(A) x + beta y through the backend. */
export function gemv(
  ctx: Ctx,
  trans: boolean,
  m: number,
  n: number,
  alpha: number,
  a: FA,
  aOffset: number,
  lda: number,
  x: FA,
  xOffset: number,
  beta: number,
  y: FA,
  yOffset: number,
): void {
  if (m <= 0 || n <= 0) {
    const ly = trans ? n : m;
    for (let i = 0; i < ly; i++) y[yOffset + i] = beta === 0 ? 0 : beta * y[yOffset + i]!;
    return;
  }
  ctx.gemvFn({ trans, m, n, alpha, a, aOffset, lda: Math.max(lda, 1), x, xOffset, beta, y, yOffset });
}

export function alloc(dtype: FloatDType, n: number): FA {
  return dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
}

/** Raised when a triangular (or otherwise) system is exactly singular. */
export class SingularMatrixError extends LlmpressError {
  readonly index: number;
  constructor(fn: string, arg: string, index: number) {
    super(fn, `argument '${arg}' is singular: diagonal entry ${index} is zero`, 'E_SINGULAR');
    this.index = index;
  }
}

/** Validates a 2-D float, finite, non-empty matrix (optionally square). Returns [m, n]. */
export function checkMatrix(fn: string, arg: string, a: unknown, opts: { square?: boolean } = {}): [number, number] {
  assertMatrix(fn, arg, a);
  assertFloat(fn, arg, a as Tensor);
  const t = a as Tensor;
  const [m, n] = t.shape as [number, number];
  if (m === 0 || n === 0) throw new ShapeError(fn, `argument '${arg}' must be non-empty, got shape [${m}, ${n}]`);
  if (opts.square && m !== n) throw new ShapeError(fn, `argument '${arg}' must be square, got shape [${m}, ${n}]`);
  assertFinite(fn, arg, t);
  return [m, n];
}

export function checkSameDtype(fn: string, a: Tensor, argB: string, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new DTypeError(fn, `argument '${argB}' has dtype ${b.dtype}, expected ${a.dtype} (same as the matrix)`);
}

/** Fresh contiguous row-major copy of a 2-D float tensor. */
export function copyOf(t: Tensor): FA {
  const c = t.contiguous(true);
  return c.data as FA;
}

/** Row-major m×n (row stride ld) → fresh n×m row-major. Blocked for cache. */
export function transposeOf(src: FA, m: number, n: number, ld = n, srcOff = 0, dtype?: FloatDType): FA {
  const out = alloc(dtype ?? (src instanceof Float32Array ? 'f32' : 'f64'), m * n);
  const B = 32;
  for (let i0 = 0; i0 < m; i0 += B) {
    const i1 = Math.min(m, i0 + B);
    for (let j0 = 0; j0 < n; j0 += B) {
      const j1 = Math.min(n, j0 + B);
      for (let i = i0; i < i1; i++) {
        const so = srcOff + i * ld;
        for (let j = j0; j < j1; j++) out[j * m + i] = src[so + j]!;
      }
    }
  }
  return out;
}

export function tensorOf(dtype: FloatDType, data: FA, shape: number[]): Tensor {
  return new Tensor(dtype, data as any, shape);
}

/** C = alpha op(A) op(B) + beta C through the backend (row-major, explicit leading dimensions). */
export function gemm(
  ctx: Ctx,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: FA,
  aOffset: number,
  lda: number,
  b: FA,
  bOffset: number,
  ldb: number,
  beta: number,
  c: FA,
  cOffset: number,
  ldc: number,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        const p = cOffset + i * ldc + j;
        c[p] = beta === 0 ? 0 : beta * c[p]!;
      }
    return;
  }
  ctx.gemmFn({ transA, transB, m, n, k, alpha, a, aOffset, lda: Math.max(lda, 1), b, bOffset, ldb: Math.max(ldb, 1), beta, c, cOffset, ldc: Math.max(ldc, 1) });
}

/** Euclidean norm of x[off .. off+n) without overflow/underflow (fast path + scaled fallback). */
export function nrm2(x: FA, off: number, n: number): number {
  let s = 0;
  for (let i = off, e = off + n; i < e; i++) {
    const v = x[i]!;
    s += v * v;
  }
  if (Number.isFinite(s) && s > 1e-280) return Math.sqrt(s);
  let scale = 0;
  for (let i = off, e = off + n; i < e; i++) scale = Math.max(scale, Math.abs(x[i]!));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  s = 0;
  for (let i = off, e = off + n; i < e; i++) {
    const v = x[i]! / scale;
    s += v * v;
  }
  return scale * Math.sqrt(s);
}

/**
 * Householder reflector (LAPACK dlarfg) on x[off .. off+n): afterwards x[off] = beta and
 * x[off+1 ..] holds v[1 ..] (v[0] = 1 implicit), with (I − tau v vᵀ) x_old = beta e₁.
 * Returns tau (0 when no reflection is needed).
 */
export function house(x: FA, off: number, n: number): number {
  if (n <= 1) return 0;
  const alpha = x[off]!;
  const xnorm = nrm2(x, off + 1, n - 1);
  if (xnorm === 0) return 0;
  let beta = -Math.hypot(alpha, xnorm);
  if (alpha < 0) beta = -beta;
  const tau = (beta - alpha) / beta;
  const scal = 1 / (alpha - beta);
  for (let i = off + 1, e = off + n; i < e; i++) x[i] = x[i]! * scal;
  x[off] = beta;
  return tau;
}

export function dot(x: FA, xo: number, y: FA, yo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[xo + i]! * y[yo + i]!;
  return s;
}

/** y[yo ..] += alpha x[xo ..] over n entries. */
export function axpy(alpha: number, x: FA, xo: number, y: FA, yo: number, n: number): void {
  for (let i = 0; i < n; i++) y[yo + i] = y[yo + i]! + alpha * x[xo + i]!;
}

/** Plane rotation of rows x[xo ..] and x[yo ..]: (x, y) ← (c x + s y, c y − s x). */
export function rot(a: FA, xo: number, yo: number, n: number, c: number, s: number): void {
  for (let i = 0; i < n; i++) {
    const x = a[xo + i]!,
      y = a[yo + i]!;
    a[xo + i] = c * x + s * y;
    a[yo + i] = c * y - s * x;
  }
}

export function checkPositiveInt(fn: string, arg: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new ArgumentError(fn, arg, v, `must be an integer in [1, ${max}]`);
  return v;
}

export function checkTolerance(fn: string, arg: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ArgumentError(fn, arg, v, 'must be a finite non-negative number');
  return v;
}
