/**
 * The GPTQ-specific dense f64 steps of this package (row-major Float64Array, n × n): the inverse upper
 * Cholesky factor of H⁻¹ and the blocked triangular inverse (LAPACK `dtrtri`), plus a Haar-random
 * orthogonal matrix for rotations. Cholesky, eigh and the Gram accumulator are not here: they live in
 * @llmpress/decompositions (`choleskyInPlace`, `eigh`) and @llmpress/tensor (`gramAccumulate`).
 */
import { ArgumentError, NotPositiveDefiniteError, ShapeError, Rng, resolveBackend, routine, type Backend } from '@llmpress/tensor';
import { choleskyInPlace } from '@llmpress/decompositions';

/** The one Gram accumulator (re-exported for this package's users; its home is @llmpress/tensor). */
export { gramAccumulate } from '@llmpress/tensor';

/**
 * The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U) from one Cholesky and one triangular inverse:
 * with J the reversal, J H J = L' L'ᵀ gives H⁻¹ = (J L'⁻ᵀ J)(J L'⁻¹ J), and J L'⁻¹ J is upper.
 * Returns null with the failing pivot when H is not positive definite.
 */
export function inverseUpperCholesky(h: Float64Array, n: number, backend?: Backend): { u: Float64Array | null; pivot: number } {
  // r = J H J (lower triangle read by the factorization), factored and inverted in place, then J · J.
  const r = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) r[i] = h[n * n - 1 - i]!;
  try {
    choleskyInPlace(r, n, { backend });
  } catch (e) {
    if (NotPositiveDefiniteError.isInstance(e)) return { u: null, pivot: n - 1 - (e as NotPositiveDefiniteError).pivot };
    throw e;
  }
  lowerInverseInPlace(r, n, backend);
  r.reverse();
  return { u: r, pivot: -1 };
}

const TRTRI_NB = 128;

/**
 * In-place inverse of a lower-triangular L (n × n row-major, strict upper triangle zero): blocked like
 * LAPACK `dtrtri` (lower, right-to-left over 128-column blocks), the n³/3 flops in backend GEMMs
 * (A21 ← −inv(A22)·A21·inv(A11), with inv(A22) already in place), the 128 × 128 diagonal blocks
 * inverted in JS. The strict upper triangle stays zero. Throws `NotPositiveDefiniteError` on a zero
 * or non-finite diagonal entry.
 */
export function lowerInverseInPlace(a: Float64Array, n: number, backend?: Backend): void {
  const fn = 'lowerInverseInPlace';
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(fn, 'n', n, 'must be a non-negative integer');
  if (a.length < n * n) throw new ShapeError(fn, `argument 'a' must hold ${n} × ${n} values, got length ${a.length}`);
  for (let i = 0; i < n; i++) {
    const d = a[i * n + i]!;
    if (d === 0 || !Number.isFinite(d)) throw new NotPositiveDefiniteError(fn, i, d);
  }
  const gemm = routine(resolveBackend(fn, backend), 'gemm');
  const NB = TRTRI_NB;
  const tmp = new Float64Array(NB * NB);
  for (let j0 = Math.floor((n - 1) / NB) * NB; j0 >= 0; j0 -= NB) {
    const j1 = Math.min(n, j0 + NB),
      jb = j1 - j0;
    // (1) P ← inv(A22) · P for the panel P = A[j1:n, j0:j1]; bottom-up in row blocks so the rows read are still the old P
    for (let q1 = n; q1 > j1; q1 -= NB) {
      const q0 = Math.max(j1, q1 - NB),
        h = q1 - q0;
      gemm({
        transA: false,
        transB: false,
        m: h,
        n: jb,
        k: q1 - j1,
        alpha: 1,
        a,
        aOffset: q0 * n + j1,
        lda: n,
        b: a,
        bOffset: j1 * n + j0,
        ldb: n,
        beta: 0,
        c: tmp,
        cOffset: 0,
        ldc: jb,
      });
      for (let i = 0; i < h; i++) {
        const ro = (q0 + i) * n + j0,
          to = i * jb;
        for (let c = 0; c < jb; c++) a[ro + c] = tmp[to + c]!;
      }
    }
    // (2) invert the diagonal block A11 in place (row i of inv(L) from rows < i, column by column)
    const o = j0 * n + j0;
    for (let i = 0; i < jb; i++) {
      const ri = o + i * n,
        inv = 1 / a[ri + i]!;
      for (let j = 0; j < i; j++) {
        let s = 0;
        for (let k = j; k < i; k++) s += a[ri + k]! * a[o + k * n + j]!;
        a[ri + j] = -s * inv;
      }
      a[ri + i] = inv;
    }
    // (3) P ← −P · inv(A11)
    for (let q0 = j1; q0 < n; q0 += NB) {
      const h = Math.min(NB, n - q0);
      gemm({
        transA: false,
        transB: false,
        m: h,
        n: jb,
        k: jb,
        alpha: -1,
        a,
        aOffset: q0 * n + j0,
        lda: n,
        b: a,
        bOffset: o,
        ldb: n,
        beta: 0,
        c: tmp,
        cOffset: 0,
        ldc: jb,
      });
      for (let i = 0; i < h; i++) {
        const ro = (q0 + i) * n + j0,
          to = i * jb;
        for (let c = 0; c < jb; c++) a[ro + c] = tmp[to + c]!;
      }
    }
  }
}

/**
 * A Haar-random n × n orthogonal matrix (row-major f64): QR of a Gaussian by twice-applied modified
 * Gram–Schmidt, columns' signs fixed by R's diagonal.
 */
export function randomOrthogonal(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const cols: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (const q of cols) {
        let d = 0;
        for (let i = 0; i < n; i++) d += q[i]! * v[i]!;
        for (let i = 0; i < n; i++) v[i]! -= d * q[i]!;
      }
    }
    let nr = 0;
    for (let i = 0; i < n; i++) nr += v[i]! * v[i]!;
    nr = Math.sqrt(nr);
    for (let i = 0; i < n; i++) v[i]! /= nr;
    cols.push(v);
  }
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) out[i * n + j] = cols[j]![i]!;
  return out;
}

export { NotPositiveDefiniteError };
