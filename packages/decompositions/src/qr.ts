/** QR factorisation: blocked Householder (compact WY) with GEMM trailing updates, optional column pivoting. */
import { ArgumentError, type Backend, type Tensor } from '@llmpress/tensor';
import { alloc, checkMatrix, copyOf, dot, gemm, gemv, house, withCtx, nrm2, tensorOf, transposeOf, type Ctx, type FA } from './internal/util.js';
import { NB, applyBlockRight, formQt, larft } from './internal/householder.js';

export interface QrOptions {
  /** 'thin' (default): Q m×k, R k×n with k = min(m, n); 'full': Q m×m, R m×n; 'r': R only (k×n). */
  mode?: 'thin' | 'full' | 'r';
  /** Column pivoting (rank revealing): A[:, perm] = Q R with |R₀₀| ≥ |R₁₁| ≥ … */
  pivoting?: boolean;
  backend?: Backend;
}
export interface QrResult {
  q?: Tensor;
  r: Tensor;
  perm?: Int32Array;
}

/** Inner (sub-panel) block size of the two-level blocked QR. */
const IB = 16;

/** Factored form: At = Aᵀ (n × m) holding R in its "lower" part, reflectors V (k × m), taus. */
export interface QrFactors {
  At: FA;
  V: FA;
  tau: Float64Array;
  k: number;
  perm?: Int32Array;
}

/**
 * Householder QR of A (m × n row-major) on its transpose At (n × m), so column operations on A are
 * contiguous row operations. Panels of NB columns; trailing columns updated with three GEMMs.
 */
export function geqrf(ctx: Ctx, At0: FA, m: number, n: number): QrFactors {
  const k = Math.min(m, n);
  const tau = new Float64Array(k);
  const V = ctx.work(k * m);
  const At = ctx.work(n * m);
  At.set(At0);
  const wcol = alloc(ctx.dtype, NB);
  for (let j0 = 0; j0 < k; j0 += NB) {
    const j1 = Math.min(k, j0 + NB),
      nb = j1 - j0;
    // two-level panel: sub-panels of IB columns unblocked (Level 2), each applied to the rest of the
    // panel as a block reflector (GEMMs), so only IB-wide work runs at Level-2 speed
    for (let i0 = j0; i0 < j1; i0 += IB) {
      const i1 = Math.min(j1, i0 + IB);
      for (let j = i0; j < i1; j++) {
        const off = j * m + j,
          len = m - j;
        const t = house(At, off, len);
        tau[j] = t;
        // explicit reflector row
        const vo = j * m;
        V[vo + j] = 1;
        V.set(At.subarray(j * m + j + 1, j * m + m), vo + j + 1);
        if (t !== 0 && j + 1 < i1) {
          // apply to the remaining columns of this sub-panel (rows of At): w = P v, P -= tau w vᵀ
          const rows = i1 - j - 1;
          gemv(ctx, false, rows, len, 1, At, (j + 1) * m + j, m, V, vo + j, 0, wcol, 0);
          gemm(ctx, false, false, rows, len, 1, -t, wcol, 0, 1, V, vo + j, len, 1, At, (j + 1) * m + j, m);
        }
      }
      if (i1 < j1) {
        const len = m - i0;
        const T = larft(ctx, V, i0 * m + i0, m, i1 - i0, len, tau, i0);
        applyBlockRight(ctx, At, i1 * m + i0, m, j1 - i1, len, V, i0 * m + i0, m, i1 - i0, T, false);
        ctx.free(T);
      }
    }
    if (j1 < n) {
      const len = m - j0;
      const T = larft(ctx, V, j0 * m + j0, m, nb, len, tau, j0);
      applyBlockRight(ctx, At, j1 * m + j0, m, n - j1, len, V, j0 * m + j0, m, nb, T, false);
      ctx.free(T);
    }
  }
  return { At, V, tau, k };
}

/** Householder QR with column pivoting (LAPACK dgeqp2-style norm downdating), unblocked, contiguous. */
export function geqp3(ctx: Ctx, At: FA, m: number, n: number): QrFactors {
  const k = Math.min(m, n);
  const tau = new Float64Array(k);
  const V = alloc(ctx.dtype, k * m);
  const perm = new Int32Array(n);
  const norms = new Float64Array(n),
    orig = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    perm[j] = j;
    norms[j] = orig[j] = nrm2(At, j * m, m);
  }
  const tol3z = Math.sqrt(ctx.eps);
  const tmp = alloc(ctx.dtype, m);
  for (let j = 0; j < k; j++) {
    let p = j;
    for (let i = j + 1; i < n; i++) if (norms[i]! > norms[p]!) p = i;
    if (p !== j) {
      tmp.set(At.subarray(p * m, p * m + m));
      At.copyWithin(p * m, j * m, j * m + m);
      At.set(tmp, j * m);
      [norms[p], norms[j]] = [norms[j]!, norms[p]!];
      [orig[p], orig[j]] = [orig[j]!, orig[p]!];
      [perm[p], perm[j]] = [perm[j]!, perm[p]!];
    }
    const len = m - j,
      vo = j * m;
    const t = house(At, vo + j, len);
    tau[j] = t;
    V[vo + j] = 1;
    for (let i = j + 1; i < m; i++) V[vo + i] = At[vo + i]!;
    for (let i = j + 1; i < n; i++) {
      const ro = i * m;
      if (t !== 0) {
        const w = t * dot(At, ro + j, V, vo + j, len);
        if (w !== 0) for (let q = j; q < m; q++) At[ro + q] = At[ro + q]! - w * V[vo + q]!;
      }
      if (norms[i] !== 0) {
        let temp = Math.abs(At[ro + j]!) / norms[i]!;
        temp = Math.max(0, 1 - temp * temp);
        const ratio = norms[i]! / orig[i]!;
        if (temp * ratio * ratio <= tol3z) {
          norms[i] = orig[i] = j + 1 < m ? nrm2(At, ro + j + 1, m - j - 1) : 0;
        } else norms[i] = norms[i]! * Math.sqrt(temp);
      }
    }
  }
  return { At, V, tau, k, perm };
}

/** R (rows × n) from factored At: R[i][j] = At[j][i] for j ≥ i, i < k. */
export function extractR(dtype: 'f32' | 'f64', f: QrFactors, m: number, n: number, rows: number): FA {
  const R = alloc(dtype, rows * n);
  for (let i = 0; i < Math.min(rows, f.k); i++) for (let j = i; j < n; j++) R[i * n + j] = f.At[j * m + i]!;
  return R;
}

/**
 * QR factorisation `A = Q R` (or `A[:, perm] = Q R` with pivoting).
 * Blocked Householder with compact-WY GEMM updates; Q formed by blocked backward accumulation.
 */
export function qr(a: Tensor, options: QrOptions = {}): QrResult {
  const fn = 'qr';
  const [m, n] = checkMatrix(fn, 'a', a);
  const mode = options.mode ?? 'thin';
  if (mode !== 'thin' && mode !== 'full' && mode !== 'r') throw new ArgumentError(fn, 'options.mode', mode, "must be 'thin', 'full' or 'r'");
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const At = transposeOf(copyOf(a), m, n);
    const f = options.pivoting ? geqp3(ctx, At, m, n) : geqrf(ctx, At, m, n);
    const k = f.k;
    const rRows = mode === 'full' ? m : k;
    const r = tensorOf(ctx.dtype, extractR(ctx.dtype, f, m, n, rRows), [rRows, n]);
    const out: QrResult = { r };
    if (f.perm) out.perm = f.perm;
    if (mode !== 'r') {
      const qc = mode === 'full' ? m : k;
      const Qt = formQt(ctx, f.V, f.tau, k, m, qc, 0);
      out.q = tensorOf(ctx.dtype, transposeOf(Qt, qc, m), [m, qc]);
    }
    return out;
  });
}
