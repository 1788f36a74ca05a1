/**
 * GPTQ (Frantar et al. 2022), following the reference `fasterquant`: H = 2 X Xᵀ (from the Gram
 * Σ x xᵀ), dead columns zeroed, damping λ = percdamp · mean(diag H) escalated ×10 when Cholesky
 * fails (reported), U = upper Cholesky factor of H⁻¹, column-by-column quantization with error
 * feedback inside blocks of `blockSize` columns and one lazy batch update of the remaining
 * columns per block; per-channel or groups along the input (⌈n / g⌉ groups, the last one ragged
 * when g does not divide n). Without act-order a group's scale is taken from the error-updated
 * weights when the loop reaches the group's first column.
 *
 * Act-order (columns processed by descending diag H):
 * - `actOrder: true` / `'static'` (the reference's `static_groups`): every group's scale is fixed
 *   from the (dead-zeroed) original weights in the ORIGINAL column order before the loop; the loop
 *   runs in activation order and each column uses its original group's scale. Codes are stored in
 *   the original order: no permutation is stored.
 * - `actOrder: 'dynamic'`: groups are consecutive columns in activation order, scales taken from
 *   the working weights at each group start; codes are stored in that order with the permutation
 *   (u16 per column, counted in `bytes()`).
 * Per-channel act-order never stores a permutation (one group per row: both modes coincide).
 * All arithmetic in f64.
 */
import {
  ArgumentError,
  NonFiniteError,
  NotPositiveDefiniteError,
  ShapeError,
  Tensor,
  assertMatrix,
  resolveBackend,
  routine,
  type Backend,
} from '@llmpress/tensor';
import { choleskyInPlace } from '@llmpress/decompositions';
import { QuantizedLinear } from './quantized-linear.js';
import { resolveSpec, groupParams, type QuantSpec } from './scheme.js';
import { lowerInverseInPlace } from './linalg.js';
import { Work } from './work.js';

export interface GptqOptions extends QuantSpec {
  /** Relative damping (default 0.01). */
  percdamp?: number;
  /** Columns per lazy batch (default 128). */
  blockSize?: number;
  /**
   * Quantize columns in order of decreasing Hessian diagonal (default false). `true` = `'static'`:
   * group scales fixed in the original column order, no stored permutation; `'dynamic'`: groups
   * follow the permuted order and the permutation is stored (u16 per column).
   */
  actOrder?: boolean | 'static' | 'dynamic';
  /** Also return GPTQ's error-fed working copy: column j as it was right before it was quantized (original column order). Default false. */
  keepWorking?: boolean;
  /** How many times damping may grow ×10 when Cholesky fails (default 4). */
  maxDampEscalations?: number;
  /**
   * Backend for the f64 GEMMs (blocked Cholesky, triangular inverse, lazy batch updates); default: the
   * default backend (`resolveBackend`). With `allocate` (WASM) the big buffers live in its memory.
   */
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
  /** Wall-clock milliseconds: `factor` = H, Cholesky (all attempts), inverse, U; `loop` = the column loop with lazy batches. */
  timings?: { factorMs: number; loopMs: number };
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

/** The Gram as a flat f64 array without copying when it already is one (validated, finite). */
function gramData(fn: string, t: Tensor | Float64Array, n: number): Float64Array {
  let g: Float64Array;
  if (t instanceof Float64Array) {
    if (t.length !== n * n) throw new ShapeError(fn, `argument 'gram' must hold ${n} × ${n} values, got length ${t.length}`);
    g = t;
  } else {
    assertMatrix(fn, 'gram', t);
    if (t.shape[0] !== n || t.shape[1] !== n) throw new ShapeError(fn, `argument 'gram' must be [${n}, ${n}], got [${t.shape.join(', ')}]`);
    const c = t.contiguous();
    g = c.data instanceof Float64Array ? c.data : Float64Array.from(c.data as ArrayLike<number>);
  }
  for (let i = 0; i < n * n; i++) if (!Number.isFinite(g[i]!)) throw new NonFiniteError(fn, 'gram', i, g[i]!);
  return g;
}

/**
 * GPTQ with a report. `gram` is Σ x xᵀ over calibration tokens (n × n); it is read, never modified.
 *
 * Memory: one n × n f64 buffer (H, then its Cholesky factor, then U in place) plus the transposed
 * f64 working weights (n × m) and small per-block arrays; on a backend with `allocate` (WASM) these
 * live in the backend's memory so its GEMMs use them in place.
 */
export function gptq(
  weight: Tensor,
  gram: Tensor | Float64Array,
  options: GptqOptions,
): { layer: QuantizedLinear; report: GptqReport; working?: Tensor<'f64'> } {
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
  if (!Number.isInteger(maxEsc) || maxEsc < 0) throw new ArgumentError(fn, 'options.maxDampEscalations', maxEsc, 'must be a non-negative integer');
  const ao = options.actOrder ?? false;
  if (ao !== false && ao !== true && ao !== 'static' && ao !== 'dynamic')
    throw new ArgumentError(fn, 'options.actOrder', ao, "must be false, true, 'static' or 'dynamic'");
  const actOrder = ao === false ? null : ao === 'dynamic' ? 'dynamic' : 'static';
  const G = gramData(fn, gram, n);
  const w0 = weight.contiguous().data;
  for (let i = 0; i < w0.length; i++) if (!Number.isFinite(w0[i]!)) throw new NonFiniteError(fn, 'weight', i, w0[i]!);
  const be = resolveBackend(fn, options.backend);
  const gemm = routine(be, 'gemm');
  const work = new Work(be);
  try {
    // permutation (act-order: columns by decreasing diag H = 2 diag G)
    let perm: Int32Array | null = null;
    if (actOrder) {
      const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => G[b * n + b]! - G[a * n + a]! || a - b);
      perm = Int32Array.from(idx);
    }
    const P = perm ?? Int32Array.from({ length: n }, (_, i) => i);
    let dead = 0,
      diagSum = 0;
    const isDead = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const d = 2 * G[P[i]! * n + P[i]!]!;
      if (d === 0) {
        isDead[i] = 1;
        dead++;
        diagSum += 1;
      } else diagSum += d;
    }
    const meanDiag = diagSum / n;
    const tFactor = performance.now();

    // H (permuted, dead columns' diagonal 1, damped) reversed: R = J H J, then R = L Lᵀ in place and
    // L⁻¹ in place; U = J L⁻¹ J (the flat array reversed) is upper with Uᵀ U = H⁻¹.
    const R = work.f64(n * n);
    const fill = (damp: number) => {
      for (let i = 0; i < n; i++) {
        const gi = P[i]! * n,
          ri = i * n;
        if (perm) for (let j = 0; j < n; j++) R[ri + j] = 2 * G[gi + P[j]!]!;
        else for (let j = 0; j < n; j++) R[ri + j] = 2 * G[gi + j]!;
        R[ri + i] = (isDead[i] ? 1 : R[ri + i]!) + damp;
      }
      R.reverse();
    };
    let percdamp = percdamp0,
      escalations = 0,
      damp = 0;
    for (;;) {
      damp = percdamp * meanDiag;
      fill(damp);
      let maxDiag = 0;
      for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, R[i * n + i]!);
      let pivot = -1,
        value = 0;
      try {
        choleskyInPlace(R, n, { backend: be });
      } catch (e) {
        if (!NotPositiveDefiniteError.isInstance(e)) throw e;
        const err = e as NotPositiveDefiniteError;
        pivot = err.pivot;
        value = err.diagonal;
      }
      // a pivot at rounding level (d = L_jj² ≤ n·eps·max diag) is numerically singular too: the exact
      // pivots of H + λI are ≥ λ, so one lost in rounding means λ is too small
      const tol = n * 2.220446049250313e-16 * maxDiag;
      for (let j = 0; pivot < 0 && j < n; j++) {
        const d = R[j * n + j]! ** 2;
        if (!(d > tol)) {
          pivot = j;
          value = d;
        }
      }
      if (pivot < 0) {
        lowerInverseInPlace(R, n, be);
        // an inverse that overflowed is as unusable as a failed pivot: escalate the damping too
        let bad = -1;
        for (let i = 0; i < n * n; i++)
          if (!Number.isFinite(R[i]!)) {
            bad = i;
            break;
          }
        if (bad < 0) break;
        pivot = Math.floor(bad / n);
        value = R[bad]!;
      }
      if (escalations >= maxEsc) throw new NotPositiveDefiniteError(fn, n - 1 - pivot, value);
      escalations++;
      percdamp *= 10;
    }
    R.reverse();
    const U = R;
    const factorMs = performance.now() - tFactor;
    const tLoop = performance.now();

    // transposed working copy Wt[n, m] (column j of W is row j of Wt), permuted, dead columns zeroed
    const Wt = work.f64(n * m);
    const TB = 64;
    for (let r0 = 0; r0 < m; r0 += TB) {
      const r1 = Math.min(m, r0 + TB);
      for (let j0 = 0; j0 < n; j0 += TB) {
        const j1 = Math.min(n, j0 + TB);
        for (let j = j0; j < j1; j++) {
          const pj = P[j]!,
            o = j * m;
          if (isDead[j]) for (let r = r0; r < r1; r++) Wt[o + r] = 0;
          else for (let r = r0; r < r1; r++) Wt[o + r] = w0[r * n + pj]!;
        }
      }
    }

    const g = s.groupSize,
      ng = s.nGroups;
    const perChannel = ng === 1;
    // how group parameters are chosen: 'static' = fixed up front from the original weights in the
    // original column order (per-channel: always); 'dynamic' = from the working copy at each group
    // start in processing order (no act-order, or act-order with dynamic groups)
    const staticGroups = perChannel || actOrder === 'static';
    const storedPerm = !staticGroups && perm !== null; // dynamic act-order with groups: codes stay permuted
    const codesT = new Uint8Array(n * m);
    const scales = s.scaleDtype === 'f16' ? new Uint16Array(m * ng) : new Float32Array(m * ng);
    const zeros = new Uint8Array(m * ng);
    // scale / zero of every (group, row), group-major so the column loop reads m contiguous values
    const scG = new Float64Array(ng * m),
      zcG = new Float64Array(ng * m);
    // group of each processed column (processing position i): original group of P[i] when static, else ⌊i / g⌋
    const colGroup = new Int32Array(n);
    for (let i = 0; i < n; i++) colGroup[i] = Math.floor((staticGroups ? P[i]! : i) / g);
    const RC = 64;
    const rowTmp = new Float64Array(RC * g);
    const Err = work.f64(B * m);
    const put = (rr: number, k: number, p: { scale: number; stored: number; zero: number }) => {
      scG[k * m + rr] = p.scale;
      zcG[k * m + rr] = p.zero;
      scales[rr * ng + k] = p.stored;
      zeros[rr * ng + k] = p.zero;
    };
    if (staticGroups) {
      // original order, dead columns zeroed (as the reference zeroes W[:, dead] before its static groups)
      const deadOrig = new Uint8Array(n);
      for (let i = 0; i < n; i++) if (isDead[i]) deadOrig[P[i]!] = 1;
      const row = new Float64Array(n);
      for (let r = 0; r < m; r++) {
        for (let j = 0; j < n; j++) row[j] = deadOrig[j] ? 0 : w0[r * n + j]!;
        for (let k = 0; k < ng; k++) put(r, k, groupParams(fn, row, k * g, 1, Math.min(g, n - k * g), s));
      }
    }
    // dynamic: group k = processed columns [k·g, min(n, (k+1)·g)) of Wt, taken with every error of the
    // columns before it applied. Columns of the group past the current block [i1, i2) still miss the
    // block's pending lazy update: it is applied to a copy (`ahead`), so the result does not depend on
    // the block size. Rows gathered 64 at a time into a contiguous scratch (Wt is column-major for W).
    let ahead: Float64Array | null = null;
    const setParams = (col: number, i1: number, i2: number) => {
      const k = Math.floor(col / g),
        len = Math.min(g, n - col);
      const end = col + len,
        extra = Math.max(0, end - Math.max(i2, col));
      if (extra > 0) {
        if (!ahead || ahead.length < extra * m) ahead = new Float64Array(extra * m);
        ahead.set(Wt.subarray(i2 * m, end * m));
        for (let p = i1; p < col; p++) {
          const ep = (p - i1) * m;
          for (let j = i2; j < end; j++) {
            const u = U[p * n + j]!,
              o = (j - i2) * m;
            if (u !== 0) for (let r = 0; r < m; r++) ahead[o + r]! -= u * Err[ep + r]!;
          }
        }
      }
      for (let r0 = 0; r0 < m; r0 += RC) {
        const rc = Math.min(RC, m - r0);
        for (let c = 0; c < len; c++) {
          const j = col + c;
          const src = j < i2 ? Wt : ahead!,
            o = (j < i2 ? j * m : (j - i2) * m) + r0;
          for (let r = 0; r < rc; r++) rowTmp[r * g + c] = src[o + r]!;
        }
        for (let r = 0; r < rc; r++) put(r0 + r, k, groupParams(fn, rowTmp, r * g, 1, len, s));
      }
    };
    const working = options.keepWorking ? new Float64Array(n * m) : null;
    const maxq = s.maxq,
      minq = s.minq;
    let loss = 0;
    // Columns in blocks of B (lazy batch: one GEMM updates the columns after the block); inside a block,
    // sub-blocks of SB columns (also cut at group starts, so group parameters see fully updated
    // weights): error feedback inside a sub-block in JS, then one GEMM updates the rest of the block.
    const SB = 16;
    for (let i1 = 0; i1 < n; i1 += B) {
      const i2 = Math.min(i1 + B, n),
        bc = i2 - i1;
      for (let s1 = i1; s1 < i2; ) {
        let s2 = Math.min(s1 + SB, i2);
        if (!staticGroups) s2 = Math.min(s2, (Math.floor(s1 / g) + 1) * g);
        for (let i = s1; i < s2; i++) {
          if (!staticGroups && i % g === 0) setParams(i, i1, i2);
          const d = U[i * n + i]!;
          const wi = i * m,
            ei = (i - i1) * m,
            go = colGroup[i]! * m;
          if (working) working.set(Wt.subarray(wi, wi + m), wi);
          for (let r = 0; r < m; r++) {
            const w = Wt[wi + r]!,
              scale = scG[go + r]!,
              zero = zcG[go + r]!;
            const q = Math.round(w / scale) + zero;
            const c = q < minq ? minq : q > maxq ? maxq : q;
            codesT[wi + r] = c;
            const e = (w - scale * (c - zero)) / d;
            Err[ei + r] = e;
            loss += e * e;
          }
          // error feedback inside the sub-block: Wt[j, :] −= U[i, j] · Err[i, :]
          const ui = i * n;
          let j = i + 1;
          for (; j + 1 < s2; j += 2) {
            const c0 = U[ui + j]!,
              c1 = U[ui + j + 1]!,
              w0o = j * m,
              w1o = w0o + m;
            for (let r = 0; r < m; r++) {
              const e = Err[ei + r]!;
              Wt[w0o + r]! -= c0 * e;
              Wt[w1o + r]! -= c1 * e;
            }
          }
          for (; j < s2; j++) {
            const c0 = U[ui + j]!,
              wo = j * m;
            for (let r = 0; r < m; r++) Wt[wo + r]! -= c0 * Err[ei + r]!;
          }
        }
        // rest of the block: Wt[j, :] −= Σ_{i in sub-block} U[i, j] · Err[i, :]  for s2 ≤ j < i2
        if (s2 < i2)
          gemm({
            transA: true,
            transB: false,
            m: i2 - s2,
            n: m,
            k: s2 - s1,
            alpha: -1,
            a: U,
            aOffset: s1 * n + s2,
            lda: n,
            b: Err,
            bOffset: (s1 - i1) * m,
            ldb: m,
            beta: 1,
            c: Wt,
            cOffset: s2 * m,
            ldc: m,
          });
        s1 = s2;
      }
      // lazy batch update: Wt[j, :] −= Σ_{i in block} U[i, j] · Err[i, :]  for j ≥ i2 (one backend GEMM)
      if (i2 < n)
        gemm({
          transA: true,
          transB: false,
          m: n - i2,
          n: m,
          k: bc,
          alpha: -1,
          a: U,
          aOffset: i1 * n + i2,
          lda: n,
          b: Err,
          bOffset: 0,
          ldb: m,
          beta: 1,
          c: Wt,
          cOffset: i2 * m,
          ldc: m,
        });
    }
    work.done();
    const loopMs = performance.now() - tLoop;
    // codes back to [m, n]: stored order = processing order with a stored permutation, else the original order
    const codes = new Uint8Array(m * n);
    const dst = storedPerm || !perm ? null : P;
    for (let j0 = 0; j0 < n; j0 += TB) {
      const j1 = Math.min(n, j0 + TB);
      for (let r0 = 0; r0 < m; r0 += TB) {
        const r1 = Math.min(m, r0 + TB);
        for (let r = r0; r < r1; r++) {
          const o = r * n;
          for (let j = j0; j < j1; j++) codes[o + (dst ? dst[j]! : j)] = codesT[j * m + r]!;
        }
      }
    }
    const layer = QuantizedLinear.fromCodes({
      inFeatures: n,
      outFeatures: m,
      bits: s.bits,
      symmetric: s.symmetric,
      groupSize: s.groupSize,
      scaleDtype: s.scaleDtype,
      codes,
      scales,
      zeros: s.symmetric ? null : zeros,
      perm: storedPerm ? perm : null,
    });
    let workingT: Tensor<'f64'> | undefined;
    if (working) {
      const wo = new Float64Array(m * n);
      for (let j = 0; j < n; j++) {
        const pj = P[j]!;
        for (let r = 0; r < m; r++) wo[r * n + pj] = working[j * m + r]!;
      }
      workingT = new Tensor('f64', wo, [m, n]);
    }
    return {
      layer,
      report: { percdamp, damp, escalations, deadColumns: dead, loss, timings: { factorMs, loopMs } },
      ...(workingT ? { working: workingT } : {}),
    };
  } finally {
    work.done();
  }
}

/** GPTQ, returning just the layer. */
export function gptqQuantize(weight: Tensor, gram: Tensor | Float64Array, options: GptqOptions): QuantizedLinear {
  return gptq(weight, gram, options).layer;
}

/** The proxy loss tr((W − Q) G (W − Q)ᵀ) for a Gram G (n × n). */
export function proxyLoss(weight: Tensor, q: Tensor, gram: Tensor | Float64Array): number {
  const [m, n] = weight.shape as [number, number];
  const G = toF64('proxyLoss', 'gram', gram, n);
  const w = weight.contiguous().data,
    qd = q.contiguous().data;
  const d = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < n; j++) d[j] = w[r * n + j]! - qd[r * n + j]!;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += G[i * n + j]! * d[j]!;
      total += d[i]! * s;
    }
  }
  return total;
}
