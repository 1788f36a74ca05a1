/**
 * GPTQ (Frantar et al. 2022), following the reference `fasterquant`: H = 2 X Xᵀ (from the Gram
 * Σ x xᵀ), dead columns zeroed, damping λ = percdamp · mean(diag H) escalated ×10 when Cholesky
 * fails (reported), U = upper Cholesky factor of H⁻¹, column-by-column quantization with error
 * feedback inside blocks of `blockSize` columns and one lazy batch update of the remaining
 * columns per block; optional act-order (columns by descending diag H; codes stored in that order
 * with the permutation, so groups follow the permuted order consistently); per-channel or groups.
 * All arithmetic in f64.
 */
import { ArgumentError, NonFiniteError, NotPositiveDefiniteError, ShapeError, Tensor, assertMatrix, routine, type Backend } from '@llmpress/tensor';
import { QuantizedLinear } from './quantized-linear.js';
import { resolveSpec, groupParams, quantCode, type QuantSpec } from './scheme.js';
import { inverseUpperCholesky } from './linalg.js';

export interface GptqOptions extends QuantSpec {
  /** Relative damping (default 0.01). */
  percdamp?: number;
  /** Columns per lazy batch (default 128). */
  blockSize?: number;
  /** Quantize columns in order of decreasing Hessian diagonal (default false). */
  actOrder?: boolean;
  /** How many times damping may grow ×10 when Cholesky fails (default 4). */
  maxDampEscalations?: number;
  /** When given, the lazy batch update (a GEMM) runs on this backend's f64 `gemm`; otherwise a JS loop. */
  backend?: Backend;
}

export interface GptqReport {
  /** percdamp actually used (after any escalation). */
  percdamp: number;
  /** Absolute damping added to diag H. */
  damp: number;
  /** Number of ×10 escalations needed. */
  escalations: number;
  /** Columns whose Hessian diagonal was zero (weights set to 0). */
  deadColumns: number;
  /** Σ_i ‖err_i‖² / U_ii² (GPTQ's own loss accounting, f64). */
  loss: number;
}

function toF64(fn: string, arg: string, t: Tensor | Float64Array, n: number): Float64Array {
  if (t instanceof Float64Array) {
    if (t.length !== n * n) throw new ShapeError(fn, `argument '${arg}' must hold ${n} × ${n} values, got length ${t.length}`);
    return t.slice();
  }
  assertMatrix(fn, arg, t);
  if (t.shape[0] !== n || t.shape[1] !== n) throw new ShapeError(fn, `argument '${arg}' must be [${n}, ${n}], got [${t.shape.join(', ')}]`);
  return Float64Array.from(t.contiguous().data as ArrayLike<number>);
}

/** GPTQ with a report. `gram` is Σ x xᵀ over calibration tokens (n × n). */
export function gptq(weight: Tensor, gram: Tensor | Float64Array, options: GptqOptions): { layer: QuantizedLinear; report: GptqReport } {
  const fn = 'gptq';
  assertMatrix(fn, 'weight', weight);
  if (weight.dtype !== 'f32' && weight.dtype !== 'f64') throw new ArgumentError(fn, 'weight.dtype', weight.dtype, "must be 'f32' or 'f64'");
  const [m, n] = weight.shape as [number, number];
  const s = resolveSpec(fn, options, n);
  const percdamp0 = options.percdamp ?? 0.01;
  if (!(percdamp0 > 0 && Number.isFinite(percdamp0))) throw new ArgumentError(fn, 'options.percdamp', percdamp0, 'must be a positive finite number');
  const B = options.blockSize ?? 128;
  if (!Number.isInteger(B) || B <= 0) throw new ArgumentError(fn, 'options.blockSize', B, 'must be a positive integer');
  const maxEsc = options.maxDampEscalations ?? 4;
  const H = toF64(fn, 'gram', gram, n);
  for (let i = 0; i < H.length; i++) if (!Number.isFinite(H[i]!)) throw new NonFiniteError(fn, 'gram', i, H[i]!);
  for (let i = 0; i < H.length; i++) H[i]! *= 2;
  const w0 = weight.contiguous().data;
  for (let i = 0; i < w0.length; i++) if (!Number.isFinite(w0[i]!)) throw new NonFiniteError(fn, 'weight', i, w0[i]!);

  // permutation (act-order) and the transposed working copy Wt[n, m] (column j of W is row j of Wt)
  let perm: Int32Array | null = null;
  if (options.actOrder) {
    const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => H[b * n + b]! - H[a * n + a]! || a - b);
    perm = Int32Array.from(idx);
  }
  const P = (j: number) => (perm ? perm[j]! : j);
  const Hp = perm ? new Float64Array(n * n) : H;
  if (perm) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Hp[i * n + j] = H[P(i) * n + P(j)]!;
  const Wt = new Float64Array(n * m);
  for (let j = 0; j < n; j++) { const pj = P(j); for (let r = 0; r < m; r++) Wt[j * m + r] = w0[r * n + pj]!; }

  let dead = 0, diagSum = 0;
  for (let i = 0; i < n; i++) {
    if (Hp[i * n + i] === 0) { Hp[i * n + i] = 1; Wt.fill(0, i * m, (i + 1) * m); dead++; }
    diagSum += Hp[i * n + i]!;
  }
  const meanDiag = diagSum / n;
  let percdamp = percdamp0, U: Float64Array | null = null, escalations = 0, damp = 0, lastPivot = -1;
  for (;;) {
    damp = percdamp * meanDiag;
    const Hd = Hp.slice();
    for (let i = 0; i < n; i++) Hd[i * n + i]! += damp;
    const r = inverseUpperCholesky(Hd, n);
    if (r.u) { U = r.u; break; }
    lastPivot = r.pivot;
    if (escalations >= maxEsc) throw new NotPositiveDefiniteError(fn, lastPivot, Hd[lastPivot * n + lastPivot]!);
    escalations++; percdamp *= 10;
  }

  const ng = n / s.groupSize;
  const codes = new Uint8Array(m * n);
  const scales = s.scaleDtype === 'f16' ? new Uint16Array(m * ng) : new Float32Array(m * ng);
  const zeros = new Uint8Array(m * ng);
  const sc = new Float64Array(m), zc = new Float64Array(m);
  const perChannel = s.groupSize === n;
  const setParams = (col: number) => {
    const k = Math.floor(col / s.groupSize);
    for (let r = 0; r < m; r++) {
      const p = groupParams(fn, Wt, col * m + r, m, s.groupSize, s);
      sc[r] = p.scale; zc[r] = p.zero; scales[r * ng + k] = p.stored; zeros[r * ng + k] = p.zero;
    }
  };
  if (perChannel) setParams(0);
  const Err = new Float64Array(B * m);
  let loss = 0;
  const TILE = 256;
  for (let i1 = 0; i1 < n; i1 += B) {
    const i2 = Math.min(i1 + B, n), bc = i2 - i1;
    for (let i = i1; i < i2; i++) {
      if (!perChannel && i % s.groupSize === 0) setParams(i);
      const d = U![i * n + i]!;
      const wi = i * m, ei = (i - i1) * m;
      for (let r = 0; r < m; r++) {
        const w = Wt[wi + r]!;
        const c = quantCode(w, sc[r]!, zc[r]!, s.maxq);
        codes[r * n + i] = c;
        const e = (w - sc[r]! * (c - zc[r]!)) / d;
        Err[ei + r] = e; loss += e * e;
      }
      for (let j = i + 1; j < i2; j++) {
        const cf = U![i * n + j]!;
        if (cf === 0) continue;
        const wj = j * m;
        for (let r = 0; r < m; r++) Wt[wj + r]! -= cf * Err[ei + r]!;
      }
    }
    // lazy batch update: Wt[j, :] −= Σ_{i in block} U[i, j] · Err[i, :]  for j ≥ i2
    if (options.backend && i2 < n) {
      routine(options.backend, 'gemm')({ transA: true, transB: false, m: n - i2, n: m, k: bc, alpha: -1, a: U!, aOffset: i1 * n + i2, lda: n, b: Err, bOffset: 0, ldb: m, beta: 1, c: Wt, cOffset: i2 * m, ldc: m });
      continue;
    }
    for (let r0 = 0; r0 < m; r0 += TILE) {
      const r1 = Math.min(r0 + TILE, m);
      for (let j = i2; j < n; j++) {
        const wj = j * m;
        let ii = 0;
        for (; ii + 3 < bc; ii += 4) {
          const c0 = U![(i1 + ii) * n + j]!, c1 = U![(i1 + ii + 1) * n + j]!, c2 = U![(i1 + ii + 2) * n + j]!, c3 = U![(i1 + ii + 3) * n + j]!;
          const e0 = ii * m, e1 = e0 + m, e2 = e1 + m, e3 = e2 + m;
          for (let r = r0; r < r1; r++) Wt[wj + r]! -= c0 * Err[e0 + r]! + c1 * Err[e1 + r]! + c2 * Err[e2 + r]! + c3 * Err[e3 + r]!;
        }
        for (; ii < bc; ii++) {
          const c0 = U![(i1 + ii) * n + j]!, e0 = ii * m;
          for (let r = r0; r < r1; r++) Wt[wj + r]! -= c0 * Err[e0 + r]!;
        }
      }
    }
  }
  const layer = QuantizedLinear.fromCodes({
    inFeatures: n, outFeatures: m, bits: s.bits, symmetric: s.symmetric, groupSize: s.groupSize, scaleDtype: s.scaleDtype,
    codes, scales, zeros: s.symmetric ? null : zeros, perm,
  });
  return { layer, report: { percdamp, damp, escalations, deadColumns: dead, loss } };
}

/** GPTQ, returning just the layer. */
export function gptqQuantize(weight: Tensor, gram: Tensor | Float64Array, options: GptqOptions): QuantizedLinear {
  return gptq(weight, gram, options).layer;
}

/** The proxy loss tr((W − Q) G (W − Q)ᵀ) for a Gram G (n × n). */
export function proxyLoss(weight: Tensor, q: Tensor, gram: Tensor | Float64Array): number {
  const [m, n] = weight.shape as [number, number];
  const G = toF64('proxyLoss', 'gram', gram, n);
  const w = weight.contiguous().data, qd = q.contiguous().data;
  const d = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < n; j++) d[j] = w[r * n + j]! - qd[r * n + j]!;
    for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < n; j++) s += G[i * n + j]! * d[j]!; total += d[i]! * s; }
  }
  return total;
}
