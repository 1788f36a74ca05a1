/**
 * Array-level adapters over @llmpress/decompositions and @llmpress/tensor (this package keeps its TT
 * cores as row-major Float64Arrays): thin SVD, whitening factors and GEMM. No numerics of its own.
 * Internal (not exported from the package entry).
 */
import { NonFiniteError, ArgumentError, Tensor, matmul, type Backend } from '@llmpress/tensor';
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
  const u = res.u.contiguous().data as Float64Array,
    s = res.s.contiguous().data as Float64Array,
    vt = res.vt.contiguous().data as Float64Array;
  return { u: Float64Array.from(u), s: Float64Array.from(s), vt: Float64Array.from(vt), m, n, r };
}

/**
 * Whitening factors of a Gram (`whiten` of @llmpress/decompositions, eigh route, eigenvalues floored at
 * `floor · λ_max`): `S` with `S Sᵀ = G` and `S⁻¹`, as row-major f64 arrays.
 */
export function whitenFactors(g: Float64Array, n: number, floor = 1e-8, backend?: Backend): { s: Float64Array; sInv: Float64Array } {
  const w = whiten(new Tensor('f64', g, [n, n]), { method: 'eigh', floor, backend });
  return { s: w.s.contiguous().data as Float64Array, sInv: w.sInv.contiguous().data as Float64Array };
}

/** C (m × n) = A (m × k) · B (k × n) for row-major f64 arrays, through the backend's GEMM (`matmul` of @llmpress/tensor). */
export function matmulF64(a: Float64Array, b: Float64Array, m: number, k: number, n: number, backend?: Backend): Float64Array {
  return matmul(
    new Tensor('f64', a.length === m * k ? a : a.subarray(0, m * k), [m, k]),
    new Tensor('f64', b.length === k * n ? b : b.subarray(0, k * n), [k, n]),
    { backend },
  ).data as Float64Array;
}
