/** Symmetric eigendecomposition: Householder tridiagonalisation + implicit QL (tql2) with Wilkinson-type shifts. */
import { ArgumentError, NoConvergenceError, type Backend, type Tensor } from '@llmpress/tensor';
import { alloc, checkMatrix, copyOf, dot, gemm, house, makeCtx, rot, tensorOf, transposeOf, type Ctx, type FA } from './internal/util.js';
import { formQt } from './internal/householder.js';
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

/** Max QL iterations per eigenvalue before NoConvergenceError. */
const MAX_ITER = 60;

/**
 * Householder reduction A = Q T Qᵀ of a full symmetric n×n matrix (in place, both triangles kept).
 * Returns d (diagonal), e (e[i] couples i and i+1; e[n-1] = 0), reflectors V ((n-2) × n) and taus.
 */
export function sytrd(ctx: Ctx, A: FA, n: number, wantV: boolean): { d: Float64Array; e: Float64Array; V: FA | null; tau: Float64Array } {
  const d = new Float64Array(n), e = new Float64Array(n);
  const k = Math.max(0, n - 2);
  const tau = new Float64Array(k);
  const V = wantV ? alloc(ctx.dtype, k * n) : null;
  const v = alloc(ctx.dtype, n), p = new Float64Array(n), w = alloc(ctx.dtype, n);
  for (let j = 0; j < k; j++) {
    const len = n - j - 1, s = j + 1;
    d[j] = A[j * n + j]!;
    // x = A[j, j+1:] (= column j below the diagonal)
    for (let i = 0; i < len; i++) v[s + i] = A[j * n + s + i]!;
    const t = house(v, s, len);
    e[j] = v[s]!;
    v[s] = 1;
    tau[j] = t;
    if (V) { const vo = j * n; for (let i = s; i < n; i++) V[vo + i] = v[i]!; }
    if (t === 0) continue;
    // p = tau A22 v ; w = p - (tau/2)(pᵀv) v ; A22 -= v wᵀ + w vᵀ
    let pv = 0;
    for (let i = s; i < n; i++) { const pi = t * dot(A, i * n + s, v, s, len); p[i] = pi; pv += pi * v[i]!; }
    const K = 0.5 * t * pv;
    for (let i = s; i < n; i++) w[i] = p[i]! - K * v[i]!;
    for (let i = s; i < n; i++) {
      const io = i * n, vi = v[i]!, wi = w[i]!;
      for (let c = s; c < n; c++) A[io + c] = A[io + c]! - vi * w[c]! - wi * v[c]!;
    }
  }
  if (n >= 2) { d[n - 2] = A[(n - 2) * n + n - 2]!; e[n - 2] = A[(n - 1) * n + n - 2]!; }
  d[n - 1] = A[(n - 1) * n + n - 1]!;
  e[n - 1] = 0;
  return { d, e, V, tau };
}

/**
 * Implicit QL on the symmetric tridiagonal (d, e) (EISPACK tql2). When Zt is given (n × n, rows),
 * the rotations are applied to its rows: on return row i of Zt is the eigenvector of d[i] (unsorted).
 */
export function tql2(fn: string, d: Float64Array, e: Float64Array, n: number, Zt: FA | null): void {
  const eps = 2 ** -52;
  let f = 0, tst1 = 0, total = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) { if (Math.abs(e[m]!) <= eps * tst1) break; m++; }
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
        let c = 1, c2 = c, c3 = c, s = 0, s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2; c2 = c; s2 = s;
          g = c * e[i]!; h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r; s = e[i]! / r; c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          // columns (i, i+1) of Z: z_i ← c z_i − s z_{i+1}, z_{i+1} ← s z_i + c z_{i+1}
          if (Zt) rot(Zt, i * n, (i + 1) * n, n, c, -s);
        }
        p = -s * s2 * c3 * el1 * e[l]! / dl1;
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
 * (eigenvector updates as GEMMs), then V = Q Z by one GEMM.
 */
export function eighCore(ctx: Ctx, A: FA, n: number): { w: Float64Array; V: FA } {
  const { d, e, V, tau } = sytrd(ctx, A, n, true);
  const Qt = formQt(ctx, V!, tau, Math.max(0, n - 2), n, n, 1);
  const { w, Z } = stedc(ctx, d, e, n);
  const out = alloc(ctx.dtype, n * n);
  gemm(ctx, true, false, n, n, n, 1, Qt, 0, n, Z, 0, n, 0, out, 0, n);
  return { w, V: out };
}

/** Eigenvalues and eigenvectors of a real symmetric matrix (only its lower triangle is read). */
export function eigh(a: Tensor, options: EighOptions = {}): EighResult {
  const fn = 'eigh';
  const [n] = checkMatrix(fn, 'a', a, { square: true });
  const order = checkOrder(fn, options.order);
  const ctx = makeCtx(fn, a.dtype as 'f32' | 'f64', options.backend);
  const { w, V } = eighCore(ctx, symmetricCopy(a, n), n);
  const values = alloc(ctx.dtype, n);
  if (order === 'ascending') { values.set(w); return { values: tensorOf(ctx.dtype, values, [n]), vectors: tensorOf(ctx.dtype, V, [n, n]) }; }
  const vecs = alloc(ctx.dtype, n * n);
  for (let c = 0; c < n; c++) {
    values[c] = w[n - 1 - c]!;
    for (let r = 0; r < n; r++) vecs[r * n + c] = V[r * n + n - 1 - c]!;
  }
  return { values: tensorOf(ctx.dtype, values, [n]), vectors: tensorOf(ctx.dtype, vecs, [n, n]) };
}

/** Eigenvalues only (O(n²) after the O(n³) reduction). */
export function eigvalsh(a: Tensor, options: EighOptions = {}): Tensor {
  const fn = 'eigvalsh';
  const [n] = checkMatrix(fn, 'a', a, { square: true });
  const order = checkOrder(fn, options.order);
  const ctx = makeCtx(fn, a.dtype as 'f32' | 'f64', options.backend);
  const A = symmetricCopy(a, n);
  const { d, e } = sytrd(ctx, A, n, false);
  tql2(fn, d, e, n, null);
  const perm = sortPerm(d, order);
  const values = alloc(ctx.dtype, n);
  for (let c = 0; c < n; c++) values[c] = d[perm[c]!]!;
  return tensorOf(ctx.dtype, values, [n]);
}
