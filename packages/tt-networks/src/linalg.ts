/**
 * Small dense f64 kernels this package needs: a thin SVD (one-sided Jacobi, Hestenes) and the
 * symmetric PSD square root used for whitening. Internal (not exported from the package entry).
 *
 * Why local: `@llmpress/decompositions` was being written concurrently when this package was
 * built. One-sided Jacobi is slow for large matrices (O(sweeps · min(m,n)² · max(m,n))) but
 * accurate to high relative precision and short; the matrices TT-SVD meets on stories260K are at
 * most 172 × 172. Every loop has an iteration cap and raises `NoConvergenceError`.
 */
import { NoConvergenceError, NonFiniteError, ArgumentError } from '@llmpress/tensor';

export interface Svd {
  /** m × r, row-major, orthonormal columns (columns for σ = 0 are zero). */
  u: Float64Array;
  /** r singular values, non-increasing. */
  s: Float64Array;
  /** r × n, row-major, orthonormal rows. */
  vt: Float64Array;
  m: number;
  n: number;
  r: number;
}

const MAX_SWEEPS = 80;

/** Thin SVD of a row-major m × n f64 matrix: A = U diag(s) Vᵀ with r = min(m, n). */
export function svdThin(a: Float64Array, m: number, n: number, fn = 'svdThin'): Svd {
  if (a.length < m * n) throw new ArgumentError(fn, 'a', a, `must hold ${m}·${n} values`);
  for (let i = 0; i < m * n; i++) if (!Number.isFinite(a[i]!)) throw new NonFiniteError(fn, 'a', i, a[i]!);
  if (m < n) {
    // SVD of Aᵀ (n × m): Aᵀ = U' S V'ᵀ  ⇒  A = V' S U'ᵀ
    const at = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) at[j * m + i] = a[i * n + j]!;
    const t = svdThin(at, n, m, fn);
    const r = t.r;
    // u = V' (m × r) = t.vtᵀ ; vt = U'ᵀ (r × n)
    const u = new Float64Array(m * r), vt = new Float64Array(r * n);
    for (let k = 0; k < r; k++) {
      for (let i = 0; i < m; i++) u[i * r + k] = t.vt[k * m + i]!;
      for (let j = 0; j < n; j++) vt[k * n + j] = t.u[j * r + k]!;
    }
    return { u, s: t.s, vt, m, n, r };
  }
  const r = n;
  // columns of A stored contiguously: col j at j*m
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c[j * m + i] = a[i * n + j]!;
  const v = new Float64Array(n * n); // column j of V at j*n
  for (let j = 0; j < n; j++) v[j * n + j] = 1;
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) { let s = 0; for (let i = 0; i < m; i++) { const x = c[j * m + i]!; s += x * x; } norms[j] = s; }
  const tol = 4 * 2.220446049250313e-16 * Math.sqrt(m);
  // columns below this norm² are at rounding level of ‖A‖_F: rotating them cannot converge
  // relative to tol (their rounding error is absolute), and their σ is noise anyway
  let total = 0;
  for (let j = 0; j < n; j++) total += norms[j]!;
  const negligible = total * (2.220446049250313e-16 * n) ** 2;
  let sweep = 0, off = Infinity;
  for (; sweep < MAX_SWEEPS; sweep++) {
    let rotated = 0;
    off = 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const alpha = norms[p]!, beta = norms[q]!;
        if (alpha <= negligible || beta <= negligible) continue;
        const po = p * m, qo = q * m;
        let gamma = 0;
        for (let i = 0; i < m; i++) gamma += c[po + i]! * c[qo + i]!;
        const rel = Math.abs(gamma) / (Math.sqrt(alpha) * Math.sqrt(beta));
        if (rel > off) off = rel;
        if (rel <= tol) continue;
        rotated++;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t), sn = cs * t;
        let na = 0, nb = 0;
        for (let i = 0; i < m; i++) {
          const x = c[po + i]!, y = c[qo + i]!;
          const xn = cs * x - sn * y, yn = sn * x + cs * y;
          c[po + i] = xn; c[qo + i] = yn;
          na += xn * xn; nb += yn * yn;
        }
        norms[p] = na; norms[q] = nb;
        const pv = p * n, qv = q * n;
        for (let i = 0; i < n; i++) {
          const x = v[pv + i]!, y = v[qv + i]!;
          v[pv + i] = cs * x - sn * y; v[qv + i] = sn * x + cs * y;
        }
      }
    }
    if (rotated === 0) break;
  }
  if (sweep >= MAX_SWEEPS) throw new NoConvergenceError(fn, MAX_SWEEPS, off);
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => norms[y]! - norms[x]!);
  const u = new Float64Array(m * r), s = new Float64Array(r), vt = new Float64Array(r * n);
  for (let k = 0; k < r; k++) {
    const j = order[k]!;
    let nn = 0;
    for (let i = 0; i < m; i++) { const x = c[j * m + i]!; nn += x * x; }
    const sig = Math.sqrt(nn);
    s[k] = sig;
    if (sig > 0) for (let i = 0; i < m; i++) u[i * r + k] = c[j * m + i]! / sig;
    for (let i = 0; i < n; i++) vt[k * n + i] = v[j * n + i]!;
  }
  return { u, s, vt, m, n, r };
}

/**
 * Symmetric PSD square root for whitening: `S = Q Λ^{1/2}` with `S Sᵀ = G` (eigenvalues floored
 * at `floor · λ_max`), and `S⁻¹ = Λ^{-1/2} Qᵀ`. Both n × n row-major.
 */
export function psdSqrt(g: Float64Array, n: number, floor = 1e-8, fn = 'psdSqrt'): { s: Float64Array; sInv: Float64Array; lambda: Float64Array } {
  // G is symmetric PSD up to rounding, so its SVD is its eigendecomposition (U = Q, σ = |λ|).
  const d = svdThin(g, n, n, fn);
  const lmax = d.s[0] ?? 0;
  if (!(lmax > 0)) throw new ArgumentError(fn, 'g', 'zero matrix', 'must have a positive eigenvalue');
  const lo = lmax * floor;
  const s = new Float64Array(n * n), sInv = new Float64Array(n * n), lambda = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const lam = Math.max(d.s[k]!, lo);
    lambda[k] = lam;
    const r = Math.sqrt(lam), ri = 1 / r;
    for (let i = 0; i < n; i++) {
      const q = d.u[i * n + k]!;
      s[i * n + k] = q * r;
      sInv[k * n + i] = q * ri;
    }
  }
  return { s, sInv, lambda };
}

/** C (m × n) = A (m × k) · B (k × n), row-major f64 (plain loops; for setup-time work, not forward). */
export function matmulF64(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const co = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      if (av === 0) continue;
      const bo = p * n;
      for (let j = 0; j < n; j++) c[co + j] += av * b[bo + j]!;
    }
  }
  return c;
}
