import { EPS, type FloatDType } from './dtype.js';

/**
 * The one place tolerances are derived: `c · eps(dtype) · sqrt(max dims)`, the classic backward-error
 * bound of a stable algorithm on an m × n problem (Higham, ch. 3), with c a small constant
 * chosen by the caller (default 10). Compare against a norm of the inputs, never an absolute 1e-6.
 */
export function tolerance(dtype: FloatDType, dims: readonly number[] | number, c = 10): number {
  const d = typeof dims === 'number' ? dims : Math.max(1, ...dims);
  return c * EPS[dtype] * Math.sqrt(Math.max(1, d));
}

/** Error bound for an inner product of length k accumulated in `dtype`: `c · k · eps · Σ|a_i b_i|` per entry (γ_k). */
export function dotTolerance(dtype: FloatDType, k: number, c = 2): number {
  return c * Math.max(1, k) * EPS[dtype];
}
