/** Helpers built on the factorisations: pinv, lstsq, SPD square roots, null/range bases, whitening. */
import { ArgumentError, NotPositiveDefiniteError, ShapeError, EPS, assertTensor, assertFloat, assertFinite, type Backend, type Tensor } from '@llmpress/tensor';
import { alloc, checkMatrix, checkSameDtype, checkTolerance, copyOf, gemm, withCtx, tensorOf, transposeOf, type Ctx, type FA } from './internal/util.js';
import { svdRaw } from './svd.js';
import { eighCore, symmetricCopy } from './eigh.js';
import { potrf, trsm } from './cholesky.js';

/** Default relative cutoff for rank decisions: max(m, n) · eps(dtype) (LAPACK/numpy matrix_rank). */
function defaultRtol(ctx: Ctx, m: number, n: number): number {
  return Math.max(m, n) * ctx.eps;
}

function rankOf(s: Float64Array, rtol: number): number {
  const cut = rtol * (s[0] ?? 0);
  let r = 0;
  while (r < s.length && s[r]! > cut) r++;
  return r;
}

/** Moore–Penrose pseudo-inverse via the SVD; singular values ≤ rcond·s₀ are treated as zero. */
export function pinv(a: Tensor, options: { rcond?: number; backend?: Backend } = {}): Tensor {
  const fn = 'pinv';
  const [m, n] = checkMatrix(fn, 'a', a);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const rcond = checkTolerance(fn, 'options.rcond', options.rcond) ?? defaultRtol(ctx, m, n);
    const r = svdRaw(ctx, copyOf(a), m, n, 'thin');
    const k = rankOf(r.s, rcond);
    // pinv = V_k diag(1/s) U_kᵀ : (n × k)(k × m); scale rows of vt by 1/s
    const W = alloc(ctx.dtype, k * n);
    for (let i = 0; i < k; i++) {
      const inv = 1 / r.s[i]!;
      for (let j = 0; j < n; j++) W[i * n + j] = r.vt![i * n + j]! * inv;
    }
    const out = alloc(ctx.dtype, n * m);
    gemm(ctx, true, true, n, m, k, 1, W, 0, n, r.u!, 0, r.ucols, 0, out, 0, m);
    return tensorOf(ctx.dtype, out, [n, m]);
  });
}

export interface LstsqResult {
  x: Tensor;
  rank: number;
  s: Tensor;
}

/** Minimum-norm least squares `min ‖A x − b‖` via the SVD (`b` 1-D or 2-D). */
export function lstsq(a: Tensor, b: Tensor, options: { rcond?: number; backend?: Backend } = {}): LstsqResult {
  const fn = 'lstsq';
  const [m, n] = checkMatrix(fn, 'a', a);
  assertTensor(fn, 'b', b);
  assertFloat(fn, 'b', b);
  checkSameDtype(fn, a, 'b', b);
  if (!(b.ndim === 1 || b.ndim === 2) || b.shape[0] !== m)
    throw new ShapeError(fn, `argument 'b' must be [${m}] or [${m}, k], got shape [${b.shape.join(', ')}]`);
  assertFinite(fn, 'b', b);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const rcond = checkTolerance(fn, 'options.rcond', options.rcond) ?? defaultRtol(ctx, m, n);
    const kb = b.ndim === 1 ? 1 : b.shape[1]!;
    const B = copyOf(b);
    const r = svdRaw(ctx, copyOf(a), m, n, 'thin');
    const k = rankOf(r.s, rcond);
    const C = alloc(ctx.dtype, Math.max(1, k * kb));
    gemm(ctx, true, false, k, kb, m, 1, r.u!, 0, r.ucols, B, 0, kb, 0, C, 0, kb); // U_kᵀ b
    for (let i = 0; i < k; i++) {
      const inv = 1 / r.s[i]!;
      for (let j = 0; j < kb; j++) C[i * kb + j] = C[i * kb + j]! * inv;
    }
    const X = alloc(ctx.dtype, n * kb);
    gemm(ctx, true, false, n, kb, k, 1, r.vt!, 0, n, C, 0, kb, 0, X, 0, kb);
    const s = alloc(ctx.dtype, r.s.length);
    s.set(r.s);
    return { x: tensorOf(ctx.dtype, X, b.ndim === 1 ? [n] : [n, kb]), rank: k, s: tensorOf(ctx.dtype, s, [r.s.length]) };
  });
}

/** Eigendecomposition on raw storage: values (ascending) and Zt (row i = eigenvector i). */
export function eighRaw(ctx: Ctx, a: Tensor, n: number): { w: Float64Array; Zt: FA } {
  const { w, V } = eighCore(ctx, symmetricCopy(a, n), n);
  return { w, Zt: transposeOf(V, n, n) };
}

/** Q diag(f(λ)) Qᵀ from Zt rows. */
function spectral(ctx: Ctx, Zt: FA, n: number, f: Float64Array): FA {
  const W = alloc(ctx.dtype, n * n);
  for (let i = 0; i < n; i++) {
    const fi = f[i]!;
    const o = i * n;
    for (let j = 0; j < n; j++) W[o + j] = Zt[o + j]! * fi;
  }
  const out = alloc(ctx.dtype, n * n);
  gemm(ctx, true, false, n, n, n, 1, Zt, 0, n, W, 0, n, 0, out, 0, n);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (out[i * n + j]! + out[j * n + i]!);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  return out;
}

/**
 * Principal square root and inverse square root of a symmetric positive definite matrix, by eigh.
 * Throws NotPositiveDefiniteError (pivot = index of the offending eigenvalue, ascending) when an
 * eigenvalue is ≤ n·eps·λ_max (the eigensolver's noise level, where λ^{-1/2} is meaningless).
 */
export function spdSqrt(a: Tensor, options: { backend?: Backend } = {}): { sqrt: Tensor; invSqrt: Tensor } {
  const fn = 'spdSqrt';
  const [n] = checkMatrix(fn, 'a', a, { square: true });
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const { w, Zt } = eighRaw(ctx, a, n);
    const lmax = Math.max(Math.abs(w[n - 1]!), Math.abs(w[0]!));
    const thr = n * ctx.eps * lmax;
    for (let i = 0; i < n; i++) if (!(w[i]! > thr)) throw new NotPositiveDefiniteError(fn, i, w[i]!);
    const sq = Float64Array.from(w, Math.sqrt),
      isq = Float64Array.from(w, (x) => 1 / Math.sqrt(x));
    return { sqrt: tensorOf(ctx.dtype, spectral(ctx, Zt, n, sq), [n, n]), invSqrt: tensorOf(ctx.dtype, spectral(ctx, Zt, n, isq), [n, n]) };
  });
}

/** Orthonormal basis (columns) of the null space: right singular vectors with s ≤ rtol·s₀ (default rtol max(m,n)·eps). */
export function nullSpace(a: Tensor, options: { rtol?: number; backend?: Backend } = {}): Tensor {
  const fn = 'nullSpace';
  const [m, n] = checkMatrix(fn, 'a', a);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const rtol = checkTolerance(fn, 'options.rtol', options.rtol) ?? defaultRtol(ctx, m, n);
    const r = svdRaw(ctx, copyOf(a), m, n, 'full');
    const rank = rankOf(r.s, rtol);
    const k = n - rank;
    const out = alloc(ctx.dtype, n * k);
    for (let c = 0; c < k; c++) {
      const o = (rank + c) * n;
      for (let i = 0; i < n; i++) out[i * k + c] = r.vt![o + i]!;
    }
    return tensorOf(ctx.dtype, out, [n, k]);
  });
}

/** Orthonormal basis (columns) of the range: left singular vectors with s > rtol·s₀. */
export function rangeBasis(a: Tensor, options: { rtol?: number; backend?: Backend } = {}): Tensor {
  const fn = 'rangeBasis';
  const [m, n] = checkMatrix(fn, 'a', a);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const rtol = checkTolerance(fn, 'options.rtol', options.rtol) ?? defaultRtol(ctx, m, n);
    const r = svdRaw(ctx, copyOf(a), m, n, 'thin');
    const k = rankOf(r.s, rtol);
    const out = alloc(ctx.dtype, m * k);
    for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) out[i * k + c] = r.u![i * r.ucols + c]!;
    return tensorOf(ctx.dtype, out, [m, k]);
  });
}

export interface WhitenOptions {
  /** 'eigh' (default, robust; SVD-LLM V2) or 'cholesky' (the SVD-LLM paper; throws on non-PD input). */
  method?: 'eigh' | 'cholesky';
  /** eigh route: eigenvalues below floor·λ_max are raised to it. Default n·eps(dtype), the eigensolver's noise level. */
  floor?: number;
  backend?: Backend;
}
export interface WhitenResult {
  s: Tensor;
  sInv: Tensor;
  method: 'eigh' | 'cholesky';
  floor: number;
  floored: number;
}

/**
 * Whitening factor S with S Sᵀ = G (G symmetric PSD, e.g. a Gram matrix Σ x xᵀ) and its inverse.
 * eigh: G = Q Λ Qᵀ, S = Q Λ^{1/2}, S⁻¹ = Λ^{-1/2} Qᵀ with tiny eigenvalues floored (S Sᵀ = G exactly
 * up to rounding when nothing is floored). cholesky: S = L, S⁻¹ = L⁻¹.
 */
export function whiten(g: Tensor, options: WhitenOptions = {}): WhitenResult {
  const fn = 'whiten';
  const [n] = checkMatrix(fn, 'g', g, { square: true });
  const method = options.method ?? 'eigh';
  if (method !== 'eigh' && method !== 'cholesky') throw new ArgumentError(fn, 'options.method', method, "must be 'eigh' or 'cholesky'");
  return withCtx(fn, g.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    if (method === 'cholesky') {
      if (options.floor !== undefined) throw new ArgumentError(fn, 'options.floor', options.floor, "applies only to method 'eigh'");
      const L = copyOf(g);
      potrf(ctx, L, n);
      const X = alloc(ctx.dtype, n * n);
      for (let i = 0; i < n; i++) X[i * n + i] = 1;
      trsm(ctx, L, n, X, n, true, false, false);
      return { s: tensorOf(ctx.dtype, L, [n, n]), sInv: tensorOf(ctx.dtype, X, [n, n]), method, floor: 0, floored: 0 };
    }
    const floor = options.floor ?? n * EPS[ctx.dtype];
    if (typeof floor !== 'number' || !Number.isFinite(floor) || floor <= 0 || floor >= 1)
      throw new ArgumentError(fn, 'options.floor', floor, 'must be a number in (0, 1)');
    const { w, Zt } = eighRaw(ctx, g, n);
    const lmax = w[n - 1]!;
    if (!(lmax > 0)) throw new NotPositiveDefiniteError(fn, n - 1, lmax);
    const lo = floor * lmax;
    let floored = 0;
    const S = alloc(ctx.dtype, n * n),
      Si = alloc(ctx.dtype, n * n);
    for (let i = 0; i < n; i++) {
      let l = w[i]!;
      if (l < lo) {
        l = lo;
        floored++;
      }
      const sq = Math.sqrt(l),
        isq = 1 / sq,
        o = i * n;
      for (let j = 0; j < n; j++) {
        const z = Zt[o + j]!;
        S[j * n + i] = z * sq; // S = Q Λ^{1/2}: column i = λ_i^{1/2} q_i
        Si[o + j] = z * isq; // S⁻¹ = Λ^{-1/2} Qᵀ: row i = λ_i^{-1/2} q_iᵀ
      }
    }
    return { s: tensorOf(ctx.dtype, S, [n, n]), sInv: tensorOf(ctx.dtype, Si, [n, n]), method, floor, floored };
  });
}
