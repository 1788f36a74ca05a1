/**
 * Small dense f64 kernels this package needs (row-major Float64Array, n × n). They are kept local so
 * GPTQ has a tight, allocation-free inner loop; `@llmpress/decompositions` is the general-purpose
 * home of Cholesky / eigh / QR.
 */
import { ArgumentError, NotPositiveDefiniteError, NoConvergenceError, ShapeError, Rng, resolveBackend, routine, type Backend } from '@llmpress/tensor';
import { Work } from './work.js';

/**
 * In-place lower Cholesky of the n × n row-major `a` (only the lower triangle is read; the strict
 * upper triangle is zeroed). Returns -1 on success, else the failing pivot (a is then garbage).
 */
export function choleskyInPlace(a: Float64Array, n: number): number {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) { const v = a[rj + k]!; d -= v * v; }
    if (!(d > 0) || !Number.isFinite(d)) return j;
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s0 = a[ri + j]!, s1 = 0, s2 = 0, s3 = 0, k = 0;
      for (; k + 3 < j; k += 4) { s0 -= a[ri + k]! * a[rj + k]!; s1 -= a[ri + k + 1]! * a[rj + k + 1]!; s2 -= a[ri + k + 2]! * a[rj + k + 2]!; s3 -= a[ri + k + 3]! * a[rj + k + 3]!; }
      for (; k < j; k++) s0 -= a[ri + k]! * a[rj + k]!;
      a[ri + j] = (s0 + s1 + s2 + s3) * inv;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = 0;
  return -1;
}

/** Inverse of a lower-triangular L (row-major), returned as a new lower-triangular matrix. */
export function lowerInverse(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    // row i of X = (e_i − Σ_{k<i} L[i,k] X[k,:]) / L[i,i]; X[k,:] is nonzero only in 0..k
    for (let k = 0; k < i; k++) {
      const c = l[ri + k]!;
      if (c === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) x[ri + j]! -= c * x[rk + j]!;
    }
    x[ri + i] = 1;
    const inv = 1 / l[ri + i]!;
    for (let j = 0; j <= i; j++) x[ri + j]! *= inv;
  }
  return x;
}

/**
 * The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U) from one Cholesky and one triangular inverse:
 * with J the reversal, J H J = L' L'ᵀ gives H⁻¹ = (J L'⁻ᵀ J)(J L'⁻¹ J), and J L'⁻¹ J is upper.
 * Returns null with the failing pivot when H is not positive definite.
 */
export function inverseUpperCholesky(h: Float64Array, n: number): { u: Float64Array | null; pivot: number } {
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) r[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)]!;
  const p = choleskyInPlace(r, n);
  if (p >= 0) return { u: null, pivot: n - 1 - p };
  const li = lowerInverse(r, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) u[(n - 1 - i) * n + (n - 1 - j)] = li[i * n + j]!;
  return { u, pivot: -1 };
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
  for (let i = 0; i < n; i++) { const d = a[i * n + i]!; if (d === 0 || !Number.isFinite(d)) throw new NotPositiveDefiniteError(fn, i, d); }
  const gemm = routine(resolveBackend(fn, backend), 'gemm');
  const NB = TRTRI_NB;
  const tmp = new Float64Array(NB * NB);
  for (let j0 = Math.floor((n - 1) / NB) * NB; j0 >= 0; j0 -= NB) {
    const j1 = Math.min(n, j0 + NB), jb = j1 - j0;
    // (1) P ← inv(A22) · P for the panel P = A[j1:n, j0:j1]; bottom-up in row blocks so the rows read are still the old P
    for (let q1 = n; q1 > j1; q1 -= NB) {
      const q0 = Math.max(j1, q1 - NB), h = q1 - q0;
      gemm({ transA: false, transB: false, m: h, n: jb, k: q1 - j1, alpha: 1, a, aOffset: q0 * n + j1, lda: n, b: a, bOffset: j1 * n + j0, ldb: n, beta: 0, c: tmp, cOffset: 0, ldc: jb });
      for (let i = 0; i < h; i++) { const ro = (q0 + i) * n + j0, to = i * jb; for (let c = 0; c < jb; c++) a[ro + c] = tmp[to + c]!; }
    }
    // (2) invert the diagonal block A11 in place (row i of inv(L) from rows < i, column by column)
    const o = j0 * n + j0;
    for (let i = 0; i < jb; i++) {
      const ri = o + i * n, inv = 1 / a[ri + i]!;
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
      gemm({ transA: false, transB: false, m: h, n: jb, k: jb, alpha: -1, a, aOffset: q0 * n + j0, lda: n, b: a, bOffset: o, ldb: n, beta: 0, c: tmp, cOffset: 0, ldc: jb });
      for (let i = 0; i < h; i++) { const ro = (q0 + i) * n + j0, to = i * jb; for (let c = 0; c < jb; c++) a[ro + c] = tmp[to + c]!; }
    }
  }
}

/** Rows of X per GEMM in the backend Gram (bounded so the f64 copy of X stays ≤ 64 MiB). */
const GRAM_ROW_BLOCK = 256;

/**
 * G += Xᵀ X for X = rows × n (row-major, f32 or f64); G is n × n f64, filled fully (symmetric).
 * With a backend: a syrk-like product — X is copied to f64 in chunks of tokens (in the backend's memory
 * when it offers `allocate`), each 256-row block of the upper triangle `G[i0:i1, i0:n] += X[:, i0:i1]ᵀ
 * X[:, i0:n]` is one GEMM (about half the flops of the full XᵀX), then the upper triangle is mirrored.
 * Without a backend: a blocked JS loop.
 */
export function gramAccumulate(g: Float64Array, x: ArrayLike<number>, rows: number, n: number, backend?: Backend): void {
  if (backend) {
    const gemm = routine(resolveBackend('gramAccumulate', backend), 'gemm');
    const work = new Work(backend);
    try {
      const chunk = Math.max(1, Math.min(rows, Math.max(256, Math.floor((1 << 23) / Math.max(1, n)))));
      const a = work.f64(chunk * n);
      for (let t0 = 0; t0 < rows; t0 += chunk) {
        const tc = Math.min(chunk, rows - t0);
        if (x instanceof Float64Array || x instanceof Float32Array) a.set(x.subarray(t0 * n, (t0 + tc) * n));
        else for (let i = 0, o = t0 * n; i < tc * n; i++) a[i] = x[o + i]!;
        for (let i0 = 0; i0 < n; i0 += GRAM_ROW_BLOCK) {
          const i1 = Math.min(n, i0 + GRAM_ROW_BLOCK);
          gemm({ transA: true, transB: false, m: i1 - i0, n: n - i0, k: tc, alpha: 1, a, aOffset: i0, lda: n, b: a, bOffset: i0, ldb: n, beta: 1, c: g, cOffset: i0 * n + i0, ldc: n });
        }
      }
    } finally { work.done(); }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i]!;
    return;
  }
  const CH = 64;
  const tmp = new Float64Array(CH * n);
  for (let t0 = 0; t0 < rows; t0 += CH) {
    const tc = Math.min(CH, rows - t0);
    for (let i = 0; i < tc * n; i++) tmp[i] = x[t0 * n + i]!;
    for (let i = 0; i < n; i++) {
      const gi = i * n;
      for (let t = 0; t < tc; t++) {
        const xi = tmp[t * n + i]!;
        if (xi === 0) continue;
        const xt = t * n;
        for (let j = i; j < n; j++) g[gi + j]! += xi * tmp[xt + j]!;
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i]!;
}

/**
 * Symmetric eigendecomposition by cyclic Jacobi (for the small d × d covariances of QUAD).
 * Returns eigenvalues DESCENDING and eigenvectors as columns of `vectors` (n × n row-major).
 */
export function eighJacobi(a: Float64Array, n: number, maxSweeps = 100): { values: Float64Array; vectors: Float64Array } {
  const A = a.slice();
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let fro = 0;
  for (let i = 0; i < n * n; i++) fro += A[i]! * A[i]!;
  fro = Math.sqrt(fro);
  let sweep = 0, off = 0;
  for (; sweep < maxSweeps; sweep++) {
    off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q]! ** 2;
    off = Math.sqrt(2 * off);
    if (off <= 1e-15 * fro || fro === 0) break;
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) {
      const apq = A[p * n + q]!;
      if (Math.abs(apq) < 1e-300) continue;
      const app = A[p * n + p]!, aqq = A[q * n + q]!;
      const theta = (aqq - app) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < n; k++) {
        const akp = A[k * n + p]!, akq = A[k * n + q]!;
        A[k * n + p] = c * akp - s * akq; A[k * n + q] = s * akp + c * akq;
      }
      for (let k = 0; k < n; k++) {
        const apk = A[p * n + k]!, aqk = A[q * n + k]!;
        A[p * n + k] = c * apk - s * aqk; A[q * n + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < n; k++) {
        const vkp = V[k * n + p]!, vkq = V[k * n + q]!;
        V[k * n + p] = c * vkp - s * vkq; V[k * n + q] = s * vkp + c * vkq;
      }
    }
  }
  if (sweep === maxSweeps) throw new NoConvergenceError('eighJacobi', maxSweeps, off / (fro || 1));
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => A[y * n + y]! - A[x * n + x]!);
  const values = new Float64Array(n), vectors = new Float64Array(n * n);
  order.forEach((src, dst) => { values[dst] = A[src * n + src]!; for (let k = 0; k < n; k++) vectors[k * n + dst] = V[k * n + src]!; });
  return { values, vectors };
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
      for (const q of cols) { let d = 0; for (let i = 0; i < n; i++) d += q[i]! * v[i]!; for (let i = 0; i < n; i++) v[i]! -= d * q[i]!; }
    }
    let nr = 0; for (let i = 0; i < n; i++) nr += v[i]! * v[i]!;
    nr = Math.sqrt(nr);
    for (let i = 0; i < n; i++) v[i]! /= nr;
    cols.push(v);
  }
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) out[i * n + j] = cols[j]![i]!;
  return out;
}

export { NotPositiveDefiniteError };
