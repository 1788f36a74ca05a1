/**
 * The dense f64 kernels this package needs, on top of @llmpress/decompositions: a thin SVD and the
 * symmetric PSD square root used for whitening (eigh route, tiny eigenvalues floored).
 * Internal (not exported from the package entry).
 */
import { NonFiniteError, ArgumentError, Tensor, type Backend } from '@llmpress/tensor';
import { svd, whiten } from '@llmpress/decompositions';

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

/** Thin SVD of a row-major m × n f64 matrix (`svd` of @llmpress/decompositions): A = U diag(s) Vᵀ, r = min(m, n). */
export function svdThin(a: Float64Array, m: number, n: number, fn = 'svdThin', backend?: Backend): Svd {
  if (a.length < m * n) throw new ArgumentError(fn, 'a', a, `must hold ${m}·${n} values`);
  for (let i = 0; i < m * n; i++) if (!Number.isFinite(a[i]!)) throw new NonFiniteError(fn, 'a', i, a[i]!);
  const t = new Tensor('f64', a.length === m * n ? a : a.subarray(0, m * n), [m, n]);
  const r = Math.min(m, n);
  const res = svd(t, { vectors: 'thin', backend });
  const u = res.u.contiguous().data as Float64Array, s = res.s.contiguous().data as Float64Array, vt = res.vt.contiguous().data as Float64Array;
  return { u: Float64Array.from(u), s: Float64Array.from(s), vt: Float64Array.from(vt), m, n, r };
}

/**
 * Symmetric PSD square root for whitening: `S = Q Λ^{1/2}` with `S Sᵀ = G` (eigenvalues floored
 * at `floor · λ_max`), and `S⁻¹ = Λ^{-1/2} Qᵀ`. Both n × n row-major.
 */
export function psdSqrt(g: Float64Array, n: number, floor = 1e-8, fn = 'psdSqrt', backend?: Backend): { s: Float64Array; sInv: Float64Array } {
  if (g.length !== n * n) throw new ArgumentError(fn, 'g', g, `must hold ${n}·${n} values`);
  for (let i = 0; i < n * n; i++) if (!Number.isFinite(g[i]!)) throw new NonFiniteError(fn, 'g', i, g[i]!);
  const w = whiten(new Tensor('f64', g, [n, n]), { method: 'eigh', floor, backend });
  return { s: Float64Array.from(w.s.contiguous().data as Float64Array), sInv: Float64Array.from(w.sInv.contiguous().data as Float64Array) };
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
