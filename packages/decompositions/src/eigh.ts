/** Symmetric eigendecomposition: Householder tridiagonalisation + implicit QL (tql2) with Wilkinson-type shifts. */
import { ArgumentError, NoConvergenceError, type Backend, type Tensor } from '@llmpress/tensor';
import { alloc, checkMatrix, copyOf, gemm, gemv, house, withCtx, rot, tensorOf, type Ctx, type FA } from './internal/util.js';
import { applyQLeft } from './internal/householder.js';
import { stedc } from './internal/stedc.js';

export interface EighOptions {
  /** Order of the eigenvalues (default 'ascending', like numpy/LAPACK). */
  order?: 'ascending' | 'descending';
  backend?: Backend;
}
export interface EighResult {
  /** Eigenvalues, 1-D. */
  values: Tensor;
  /** Eigenvectors as columns: a · vectors[:, i] = values[i] · vectors[:, i]. */
  vectors: Tensor;
}

/** √(a² + b²): the plain formula inside a safe range (Math.hypot is several times slower), hypot outside. */
function pyth(a: number, b: number): number {
  const t = a * a + b * b;
  return t > 1e-290 && t < 1e290 ? Math.sqrt(t) : Math.hypot(a, b);
}

/** Max QL iterations per eigenvalue before NoConvergenceError. */
const MAX_ITER = 60;
/** Panel width of the blocked tridiagonal reduction. */
const TRD_NB = 32;

/**
 * Householder reduction A = Q T Qᵀ of a full symmetric n×n matrix (in place, both triangles kept).
 * Returns d (diagonal), e (e[i] couples i and i+1; e[n-1] = 0), reflectors V ((n-2) × n) and taus.
 */
export function sytrd(ctx: Ctx, A0: FA, n: number, wantV: boolean): { d: Float64Array; e: Float64Array; V: FA | null; tau: Float64Array } {
  const d = new Float64Array(n),
    e = new Float64Array(n);
  const k = Math.max(0, n - 2);
  const tau = new Float64Array(k);
  // work arrays resident in the backend (no copy-in per GEMV/GEMM call)
  const A = ctx.work(n * n);
  A.set(A0);
  // reflector i lives in row i of V (support i+1 .. n-1, V[i][i+1] = 1)
  const V = ctx.work(Math.max(1, k) * n);
  const W = ctx.work(TRD_NB * n);
  const y = ctx.work(n);
  const vv = alloc(ctx.dtype, TRD_NB),
    wv = alloc(ctx.dtype, TRD_NB),
    colV = alloc(ctx.dtype, TRD_NB),
    colW = alloc(ctx.dtype, TRD_NB);
  for (let k0 = 0; k0 < k; k0 += TRD_NB) {
    const nb = Math.min(TRD_NB, k - k0);
    W.fill(0);
    for (let j = 0; j < nb; j++) {
      const i = k0 + j,
        io = i * n,
        s = i + 1,
        len = n - s;
      // bring row i (= column i) up to date with this block's earlier reflectors
      if (j > 0) {
        for (let p = 0; p < j; p++) {
          colW[p] = W[p * n + i]!;
          colV[p] = V[(k0 + p) * n + i]!;
        }
        gemv(ctx, true, j, n - i, -1, V, k0 * n + i, n, colW, 0, 1, A, io + i);
        gemv(ctx, true, j, n - i, -1, W, i, n, colV, 0, 1, A, io + i);
      }
      d[i] = A[io + i]!;
      const t = house(A, io + s, len);
      e[i] = A[io + s]!;
      tau[i] = t;
      const vo = i * n;
      V[vo + s] = 1;
      V.set(A.subarray(io + s + 1, io + n), vo + s + 1);
      if (t === 0) continue;
      // y = A22 v with A22 the block-start trailing matrix (both triangles stored)
      gemv(ctx, false, len, len, 1, A, s * n + s, n, V, vo + s, 0, y, s);
      if (j > 0) {
        // y -= V_blkᵀ (W_blk v) + W_blkᵀ (V_blk v)
        gemv(ctx, false, j, len, 1, W, s, n, V, vo + s, 0, wv, 0);
        gemv(ctx, false, j, len, 1, V, k0 * n + s, n, V, vo + s, 0, vv, 0);
        gemv(ctx, true, j, len, -1, V, k0 * n + s, n, wv, 0, 1, y, s);
        gemv(ctx, true, j, len, -1, W, s, n, vv, 0, 1, y, s);
      }
      // w = tau y − (tau/2)(tau yᵀv) v
      let yv = 0;
      for (let r = s; r < n; r++) yv += y[r]! * V[vo + r]!;
      const alpha = -0.5 * t * t * yv;
      const wo = j * n;
      for (let r = s; r < n; r++) W[wo + r] = t * y[r]! + alpha * V[vo + r]!;
    }
    // trailing update A[k1:, k1:] -= Vᵀ W + Wᵀ V over this block (two GEMMs, full symmetric storage)
    const k1 = k0 + nb;
    if (k1 < n) {
      const N2 = n - k1;
      gemm(ctx, true, false, N2, N2, nb, -1, V, k0 * n + k1, n, W, k1, n, 1, A, k1 * n + k1, n);
      gemm(ctx, true, false, N2, N2, nb, -1, W, k1, n, V, k0 * n + k1, n, 1, A, k1 * n + k1, n);
    }
  }
  if (n >= 2) {
    d[n - 2] = A[(n - 2) * n + n - 2]!;
    e[n - 2] = A[(n - 1) * n + n - 2]!;
  }
  d[n - 1] = A[(n - 1) * n + n - 1]!;
  e[n - 1] = 0;
  ctx.free(A);
  ctx.free(W);
  ctx.free(y);
  if (!wantV) ctx.free(V);
  return { d, e, V: wantV ? V : null, tau };
}

/**
 * Implicit QL on the symmetric tridiagonal (d, e) (EISPACK tql2). When Zt is given (n × n, rows),
 * the rotations are applied to its rows: on return row i of Zt is the eigenvector of d[i] (unsorted).
 */
export function tql2(fn: string, d: Float64Array, e: Float64Array, n: number, Zt: FA | null): void {
  const eps = 2 ** -52;
  let f = 0,
    tst1 = 0,
    total = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > MAX_ITER) throw new NoConvergenceError(fn, total, Math.abs(e[l]!));
        total++;
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1,
          c2 = c,
          c3 = c,
          s = 0,
          s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = pyth(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          // columns (i, i+1) of Z: z_i ← c z_i − s z_{i+1}, z_{i+1} ← s z_i + c z_{i+1}
          if (Zt) rot(Zt, i * n, (i + 1) * n, n, c, -s);
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!Number.isFinite(d[l]!) || !Number.isFinite(e[l]!)) throw new NoConvergenceError(fn, total, NaN);
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}

function checkOrder(fn: string, order: unknown): 'ascending' | 'descending' {
  const o = order ?? 'ascending';
  if (o !== 'ascending' && o !== 'descending') throw new ArgumentError(fn, 'options.order', o, "must be 'ascending' or 'descending'");
  return o;
}

export function symmetricCopy(a: Tensor, n: number): FA {
  const A = copyOf(a);
  // only the lower triangle is referenced (LAPACK 'L')
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i]!;
  return A;
}

function sortPerm(d: Float64Array, order: 'ascending' | 'descending'): number[] {
  const idx = Array.from(d, (_, i) => i);
  idx.sort(order === 'ascending' ? (x, y) => d[x]! - d[y]! : (x, y) => d[y]! - d[x]!);
  return idx;
}

/**
 * Full symmetric eigendecomposition on raw storage (A is overwritten): eigenvalues ascending and
 * V (n × n row-major, column j = eigenvector j). Tridiagonal reduction, then divide and conquer
 * (eigenvector updates as GEMMs), then V = Q Z by applying the reflectors to Z (blocked, GEMMs).
 */
export function eighCore(ctx: Ctx, A: FA, n: number): { w: Float64Array; V: FA } {
  const { d, e, V, tau } = sytrd(ctx, A, n, true);
  const { w, Z } = stedc(ctx, d, e, n);
  applyQLeft(ctx, V!, tau, Math.max(0, n - 2), n, 1, Z, n); // Z ← Q Z (reflectors applied directly)
  return { w, V: Z.slice() }; // copy out of the backend-resident work array
}

/** Eigenvalues and eigenvectors of a real symmetric matrix (only its lower triangle is read). */
export function eigh(a: Tensor, options: EighOptions = {}): EighResult {
  const fn = 'eigh';
  const [n] = checkMatrix(fn, 'a', a, { square: true });
  const order = checkOrder(fn, options.order);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const { w, V } = eighCore(ctx, symmetricCopy(a, n), n);
    const values = alloc(ctx.dtype, n);
    if (order === 'ascending') {
      values.set(w);
      return { values: tensorOf(ctx.dtype, values, [n]), vectors: tensorOf(ctx.dtype, V, [n, n]) };
    }
    const vecs = alloc(ctx.dtype, n * n);
    for (let c = 0; c < n; c++) {
      values[c] = w[n - 1 - c]!;
      for (let r = 0; r < n; r++) vecs[r * n + c] = V[r * n + n - 1 - c]!;
    }
    return { values: tensorOf(ctx.dtype, values, [n]), vectors: tensorOf(ctx.dtype, vecs, [n, n]) };
  });
}

/** Eigenvalues only (O(n²) after the O(n³) reduction). */
export function eigvalsh(a: Tensor, options: EighOptions = {}): Tensor {
  const fn = 'eigvalsh';
  const [n] = checkMatrix(fn, 'a', a, { square: true });
  const order = checkOrder(fn, options.order);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const A = symmetricCopy(a, n);
    const { d, e } = sytrd(ctx, A, n, false);
    tql2(fn, d, e, n, null);
    const perm = sortPerm(d, order);
    const values = alloc(ctx.dtype, n);
    for (let c = 0; c < n; c++) values[c] = d[perm[c]!]!;
    return tensorOf(ctx.dtype, values, [n]);
  });
}
