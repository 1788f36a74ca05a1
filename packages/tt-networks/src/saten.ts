/**
 * Fitting one layer at a byte budget: TT alone, Saten (TT + unstructured or 2:4 sparse), and the
 * low-rank (+ sparse) baseline — data-free, or data-aware from the calibration Gram G = Σ x xᵀ.
 *
 * Data-aware TT ("whitened"): SVD-LLM whitens with a dense S (S Sᵀ = G) and folds S⁻¹ into its
 * second factor; a dense S⁻¹ cannot be folded into TT cores without destroying the TT structure.
 * So this package whitens with a Kronecker-factored S = S_1 ⊗ … ⊗ S_d matched to the column
 * factorization (S_k S_kᵀ = G_k, the mode-k partial trace of G): TT-SVD runs on W·S, and each
 * S_k⁻¹ is folded into core k's column mode — same ranks, same bytes, exact inverse.
 * Sparse selection with data uses the diagonal of G (score |R_ij|·sqrt(G_jj), as Wanda does).
 * The split between cores and sparse values is chosen per layer by the proxy error
 * (whitened relative error tr(E G Eᵀ)/tr(W G Wᵀ) with data, relative Frobenius error without).
 */
import { ArgumentError, ShapeError, NonFiniteError, type Backend } from '@llmpress/tensor';
import { ttCandidates, bestCandidate, type ShapeCandidate, type ShapeSearchOptions, type TTMatrix, type TTSvdResult } from './tt.js';
import { TTLinear } from './tt-linear.js';
import { CsrMatrix, Sparse24Matrix, type SparseMatrix } from './sparse.js';
import { TTSparseLinear, LowRankSparseLinear } from './layers.js';
import { svdThin, whitenFactors, matmulF64 } from './linalg.js';

export type SparseKind = 'none' | 'unstructured' | '2:4';

export interface LayerPlanOptions {
  /** Calibration Gram Σ x xᵀ (n × n, row-major f64): enables the data-aware proxy and selection. */
  gram?: Float64Array;
  /** Fit the TT / low-rank part in the whitened space (needs `gram`). Default: true when `gram` is given. */
  whitened?: boolean;
  /** TT shape search settings. */
  search?: ShapeSearchOptions;
  backend?: Backend;
}

/** What one layer's fits share across budgets and methods (SVDs, TT candidates, whitening). */
export interface LayerPlan {
  m: number;
  n: number;
  w: Float64Array;
  gram?: Float64Array;
  whitened: boolean;
  /** tr(W G Wᵀ) (with data) or ‖W‖²_F. */
  denom: number;
  /** Per-column selection weight: sqrt(G_jj) with data, else 1. */
  colScale?: Float64Array;
  ttCands?: ShapeCandidate[];
  lowRank?: { u: Float64Array; s: Float64Array; vt: Float64Array; r: number; sInv?: Float64Array };
  search?: ShapeSearchOptions;
  backend?: Backend;
}

export interface FitReport {
  bytes: number;
  params: number;
  coreBytes: number;
  sparseBytes: number;
  nnz: number;
  /** Fraction of the layer budget offered to the sparse part. */
  share: number;
  /** ‖W − Ŵ‖_F / ‖W‖_F. */
  relError: number;
  /** sqrt(tr(E G Eᵀ) / tr(W G Wᵀ)) with data (the proxy the split minimizes). */
  whitenedError?: number;
  /** TT: factorizations and ranks; low-rank: rank. */
  rowDims?: number[];
  colDims?: number[];
  ranks?: number[];
  rank?: number;
  /** `satenLayer`/`satenModel` with data: the fit that ran ('working' where 'corrected' had too few tokens). */
  fit?: 'corrected' | 'working' | 'original';
}

function checkW(fn: string, w: ArrayLike<number>, m: number, n: number): Float64Array {
  if (!Number.isInteger(m) || m < 1) throw new ArgumentError(fn, 'm', m, 'must be a positive integer');
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(fn, 'n', n, 'must be a positive integer');
  if (w.length !== m * n) throw new ShapeError(fn, `argument 'w' has ${w.length} values, expected ${m}·${n}`);
  const out = Float64Array.from(w as ArrayLike<number>);
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i]!)) throw new NonFiniteError(fn, 'w', i, out[i]!);
  return out;
}

/** Mode-k partial traces of G for the column factorization colDims, normalized to unit trace. */
export function kroneckerFactors(gram: Float64Array, colDims: readonly number[]): Float64Array[] {
  const n = colDims.reduce((a, b) => a * b, 1);
  if (gram.length !== n * n) throw new ShapeError('kroneckerFactors', `argument 'gram' has ${gram.length} values, expected ${n}·${n}`);
  const d = colDims.length;
  const stride = new Array<number>(d);
  let acc = 1;
  for (let k = d - 1; k >= 0; k--) {
    stride[k] = acc;
    acc *= colDims[k]!;
  }
  return colDims.map((nk, k) => {
    const gk = new Float64Array(nk * nk);
    const st = stride[k]!;
    for (let j = 0; j < n; j++) {
      const a = Math.floor(j / st) % nk;
      const base = j - a * st;
      for (let b = 0; b < nk; b++) gk[a * nk + b] += gram[j * n + base + b * st]!;
    }
    let tr = 0;
    for (let a = 0; a < nk; a++) tr += gk[a * nk + a]!;
    if (tr > 0) for (let i = 0; i < gk.length; i++) gk[i] /= tr;
    return gk;
  });
}

/** W · (M_1 ⊗ … ⊗ M_d) for an m × n row-major W, applied mode by mode (M_k is n_k × n_k). */
export function applyKronecker(w: Float64Array, m: number, colDims: readonly number[], mats: readonly Float64Array[]): Float64Array {
  const n = colDims.reduce((a, b) => a * b, 1);
  let cur = w;
  let stride = n;
  for (let k = 0; k < colDims.length; k++) {
    const nk = colDims[k]!,
      M = mats[k]!;
    stride /= nk;
    const out = new Float64Array(m * n);
    const v = new Float64Array(nk);
    for (let i = 0; i < m; i++) {
      const ro = i * n;
      for (let j = 0; j < n; j++) {
        if (Math.floor(j / stride) % nk !== 0) continue; // j is a base with j_k = 0
        for (let a = 0; a < nk; a++) v[a] = cur[ro + j + a * stride]!;
        for (let b = 0; b < nk; b++) {
          let s = 0;
          for (let a = 0; a < nk; a++) s += v[a]! * M[a * nk + b]!;
          out[ro + j + b * stride] = s;
        }
      }
    }
    cur = out;
  }
  return cur;
}

/** Folds M_k into the column mode of core k: new[α,i,j,β] = Σ_j' old[α,i,j',β] M_k[j',j]. */
function foldColumns(tt: TTMatrix & TTSvdResult, mats: readonly Float64Array[]): TTMatrix & TTSvdResult {
  const cores = tt.cores.map((c, k) => {
    const r0 = tt.ranks[k]!,
      mk = tt.rowDims[k]!,
      nk = tt.colDims[k]!,
      r1 = tt.ranks[k + 1]!,
      M = mats[k]!;
    const out = new Float64Array(c.length);
    for (let a0 = 0; a0 < r0; a0++)
      for (let i = 0; i < mk; i++)
        for (let jp = 0; jp < nk; jp++) {
          const src = ((a0 * mk + i) * nk + jp) * r1;
          for (let j = 0; j < nk; j++) {
            const f = M[jp * nk + j]!;
            if (f === 0) continue;
            const dst = ((a0 * mk + i) * nk + j) * r1;
            for (let b = 0; b < r1; b++) out[dst + b] += f * c[src + b]!;
          }
        }
    return out;
  });
  return { ...tt, cores };
}

/** Everything the fits of one layer share. Heavy parts (TT candidates, SVD) are computed lazily. */
export function planLayer(w: ArrayLike<number>, m: number, n: number, options: LayerPlanOptions = {}): LayerPlan {
  const fn = 'planLayer';
  const w64 = checkW(fn, w, m, n);
  const gram = options.gram;
  if (gram !== undefined) {
    if (!(gram instanceof Float64Array) || gram.length !== n * n)
      throw new ArgumentError(fn, 'options.gram', gram, `must be a Float64Array of n·n = ${n * n} values`);
    for (let i = 0; i < gram.length; i++) if (!Number.isFinite(gram[i]!)) throw new NonFiniteError(fn, 'options.gram', i, gram[i]!);
  }
  const whitened = options.whitened ?? gram !== undefined;
  if (whitened && !gram) throw new ArgumentError(fn, 'options.whitened', true, 'needs options.gram (the calibration Gram matrix)');
  let denom = 0;
  let colScale: Float64Array | undefined;
  if (gram) {
    denom = traceEGE(w64, gram, m, n);
    colScale = new Float64Array(n);
    for (let j = 0; j < n; j++) colScale[j] = Math.sqrt(Math.max(0, gram[j * n + j]!));
  } else {
    for (let i = 0; i < w64.length; i++) denom += w64[i]! * w64[i]!;
  }
  return { m, n, w: w64, gram, whitened, denom, colScale, search: options.search, backend: options.backend };
}

/** tr(E G Eᵀ) = Σ_i e_iᵀ G e_i. */
function traceEGE(e: Float64Array, g: Float64Array, m: number, n: number): number {
  let t = 0;
  const eg = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    eg.fill(0);
    const ro = i * n;
    for (let p = 0; p < n; p++) {
      const v = e[ro + p]!;
      if (v === 0) continue;
      const go = p * n;
      for (let j = 0; j < n; j++) eg[j] += v * g[go + j]!;
    }
    for (let j = 0; j < n; j++) t += eg[j]! * e[ro + j]!;
  }
  return Math.max(0, t);
}

/** Relative errors of an approximation (dense f64 m × n) under the plan's metrics. */
export function planErrors(plan: LayerPlan, approx: ArrayLike<number>): { relError: number; whitenedError?: number } {
  const { m, n, w } = plan;
  const e = new Float64Array(m * n);
  let num = 0,
    den = 0;
  for (let i = 0; i < e.length; i++) {
    e[i] = w[i]! - approx[i]!;
    num += e[i]! * e[i]!;
    den += w[i]! * w[i]!;
  }
  const relError = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
  if (!plan.gram) return { relError };
  const wd = plan.denom;
  const whitenedError = wd > 0 ? Math.sqrt(traceEGE(e, plan.gram, m, n) / wd) : 0;
  return { relError, whitenedError };
}

function proxyOf(plan: LayerPlan, errs: { relError: number; whitenedError?: number }): number {
  return plan.gram ? errs.whitenedError! : errs.relError;
}

function ttCandidatesOf(plan: LayerPlan): ShapeCandidate[] {
  if (plan.ttCands) return plan.ttCands;
  const { m, n, w } = plan;
  const search: ShapeSearchOptions = { ...plan.search };
  if (plan.whitened) {
    const gram = plan.gram!;
    const cache = new Map<string, { s: Float64Array[]; sInv: Float64Array[] }>();
    search.map = (_rd, cd) => {
      const key = cd.join(',');
      let f = cache.get(key);
      if (!f) {
        const gks = kroneckerFactors(gram, cd);
        const roots = gks.map((g, k) => whitenFactors(g, cd[k]!, 1e-8, plan.backend));
        f = { s: roots.map((r) => r.s), sInv: roots.map((r) => r.sInv) };
        cache.set(key, f);
      }
      const ff = f;
      return { w: applyKronecker(w, m, cd, ff.s), unmap: (tt) => foldColumns(tt, ff.sInv) };
    };
  }
  plan.ttCands = ttCandidates(w, m, n, search);
  return plan.ttCands;
}

function lowRankOf(plan: LayerPlan): NonNullable<LayerPlan['lowRank']> {
  if (plan.lowRank) return plan.lowRank;
  const { m, n, w } = plan;
  let a = w,
    sInv: Float64Array | undefined;
  if (plan.whitened) {
    const ws = whitenFactors(plan.gram!, n, 1e-8, plan.backend);
    a = matmulF64(w, ws.s, m, n, n);
    sInv = ws.sInv;
  }
  const svd = svdThin(a, m, n, 'planLayer', plan.backend);
  plan.lowRank = { u: svd.u, s: svd.s, vt: svd.vt, r: svd.r, sInv };
  return plan.lowRank;
}

function buildSparse(plan: LayerPlan, resid: Float64Array, kind: SparseKind, bytes: number): SparseMatrix | null {
  const { m, n } = plan;
  if (kind === 'none' || bytes <= 0) return null;
  let score: Float64Array | undefined;
  if (plan.colScale) {
    score = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) score[i * n + j] = Math.abs(resid[i * n + j]!) * plan.colScale[j]!;
  }
  if (kind === 'unstructured') {
    const nnz = CsrMatrix.nnzForBytes(m, n, bytes);
    return nnz > 0 ? CsrMatrix.fromTopK(resid, m, n, nnz, score) : null;
  }
  const rows = Sparse24Matrix.rowsForBytes(m, n, bytes);
  return rows > 0 ? Sparse24Matrix.fromDense(resid, m, n, rows, score) : null;
}

/** Sparse bytes actually used when `bytes` are offered (so the cores can take the rest). */
function sparseBytesFor(m: number, n: number, kind: SparseKind, bytes: number): number {
  if (kind === 'none' || bytes <= 0) return 0;
  if (kind === 'unstructured') {
    const k = CsrMatrix.nnzForBytes(m, n, bytes);
    return k > 0 ? CsrMatrix.bytesFor(m, n, k) : 0;
  }
  const r = Sparse24Matrix.rowsForBytes(m, n, bytes);
  return r > 0 ? Sparse24Matrix.bytesFor(m, n, r) : 0;
}

export interface FitOptions {
  /** Byte budget of the layer (cores/factors + sparse values + every index byte). */
  bytes: number;
  sparse?: SparseKind;
  /**
   * Fractions of the budget offered to the sparse part; the one with the smallest proxy error
   * wins. Default [0, 0.1, …, 0.6] with a sparse part, [0] without.
   */
  shares?: readonly number[];
}

const DEFAULT_SHARES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];

function checkFit(fn: string, plan: LayerPlan, options: FitOptions): { kind: SparseKind; shares: readonly number[] } {
  if (!options || !(options.bytes > 0) || !Number.isFinite(options.bytes))
    throw new ArgumentError(fn, 'options.bytes', options?.bytes, 'must be a positive finite number of bytes');
  const kind = options.sparse ?? 'none';
  if (kind !== 'none' && kind !== 'unstructured' && kind !== '2:4')
    throw new ArgumentError(fn, 'options.sparse', kind, "must be 'none', 'unstructured' or '2:4'");
  if (kind === '2:4' && plan.n % 4 !== 0) throw new ArgumentError(fn, 'n', plan.n, 'must be a multiple of 4 for 2:4 sparsity');
  const shares = kind === 'none' ? [0] : (options.shares ?? DEFAULT_SHARES);
  if (!Array.isArray(shares) || shares.length === 0 || shares.some((s) => !(s >= 0 && s < 1)))
    throw new ArgumentError(fn, 'options.shares', shares, 'must be a non-empty array of numbers in [0, 1)');
  return { kind, shares };
}

export interface FitResult<L> {
  layer: L;
  report: FitReport /** Every split tried (share → proxy). */;
  tried: { share: number; proxy: number; bytes: number }[];
}

/** TT (+ sparse) for one layer at a byte budget; null when not even a rank-1 TT fits. */
export function fitTT(plan: LayerPlan, options: FitOptions): FitResult<TTSparseLinear> | null {
  const fn = 'fitTT';
  const { kind, shares } = checkFit(fn, plan, options);
  const { m, n, w } = plan;
  const cands = ttCandidatesOf(plan);
  let best: FitResult<TTSparseLinear> | null = null;
  let bestProxy = Infinity;
  const tried: FitResult<TTSparseLinear>['tried'] = [];
  for (const share of shares) {
    const sb = sparseBytesFor(m, n, kind, Math.floor(share * options.bytes));
    const cand = bestCandidate(cands, Math.floor((options.bytes - sb) / 4));
    if (!cand) continue;
    const tt = TTLinear.fromTT(cand.tt);
    const dense = tt.toDense().data;
    const resid = new Float64Array(m * n);
    for (let i = 0; i < resid.length; i++) resid[i] = w[i]! - dense[i]!;
    const sp = buildSparse(plan, resid, kind, sb);
    const layer = new TTSparseLinear(tt, sp);
    const approx = Float64Array.from(dense);
    if (sp) {
      const e = sp.toDense();
      for (let i = 0; i < approx.length; i++) approx[i] += e[i]!;
    }
    const errs = planErrors(plan, approx);
    const proxy = proxyOf(plan, errs);
    tried.push({ share, proxy, bytes: layer.bytes() });
    if (layer.bytes() > options.bytes) throw new Error(`${fn}: internal error, ${layer.bytes()} bytes exceed the budget ${options.bytes}`);
    if (proxy < bestProxy) {
      bestProxy = proxy;
      best = {
        layer,
        tried,
        report: {
          bytes: layer.bytes(),
          params: layer.params(),
          coreBytes: tt.bytes(),
          sparseBytes: sp?.bytes() ?? 0,
          nnz: sp?.nnz ?? 0,
          share,
          ...errs,
          rowDims: tt.rowDims.slice(),
          colDims: tt.colDims.slice(),
          ranks: tt.ranks.slice(),
        },
      };
    }
  }
  return best;
}

/** Low-rank (truncated or whitened SVD) + sparse for one layer at a byte budget; null when rank 1 does not fit. */
export function fitLowRank(plan: LayerPlan, options: FitOptions): FitResult<LowRankSparseLinear> | null {
  const fn = 'fitLowRank';
  const { kind, shares } = checkFit(fn, plan, options);
  const { m, n, w } = plan;
  const lr = lowRankOf(plan);
  let best: FitResult<LowRankSparseLinear> | null = null;
  let bestProxy = Infinity;
  const tried: FitResult<LowRankSparseLinear>['tried'] = [];
  for (const share of shares) {
    const sb = sparseBytesFor(m, n, kind, Math.floor(share * options.bytes));
    const k = Math.min(lr.r, Math.floor((options.bytes - sb) / (4 * (m + n))));
    if (k < 1) continue;
    // a = U_k Σ_k^{1/2}, b = Σ_k^{1/2} V_kᵀ (S⁻¹)
    const a = new Float32Array(m * k);
    let bt: Float64Array = new Float64Array(k * n);
    for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) a[i * k + p] = lr.u[i * lr.r + p]! * Math.sqrt(lr.s[p]!);
    for (let p = 0; p < k; p++) {
      const sq = Math.sqrt(lr.s[p]!);
      for (let j = 0; j < n; j++) bt[p * n + j] = sq * lr.vt[p * n + j]!;
    }
    if (lr.sInv) bt = matmulF64(bt, lr.sInv, k, n, n);
    const b = Float32Array.from(bt);
    const base = new LowRankSparseLinear(m, n, k, a, b, null);
    const dense = base.toDense().data;
    const resid = new Float64Array(m * n);
    for (let i = 0; i < resid.length; i++) resid[i] = w[i]! - dense[i]!;
    const sp = buildSparse(plan, resid, kind, sb);
    const layer = sp ? new LowRankSparseLinear(m, n, k, a, b, sp) : base;
    const approx = Float64Array.from(dense);
    if (sp) {
      const e = sp.toDense();
      for (let i = 0; i < approx.length; i++) approx[i] += e[i]!;
    }
    const errs = planErrors(plan, approx);
    const proxy = proxyOf(plan, errs);
    tried.push({ share, proxy, bytes: layer.bytes() });
    if (layer.bytes() > options.bytes) throw new Error(`${fn}: internal error, ${layer.bytes()} bytes exceed the budget ${options.bytes}`);
    if (proxy < bestProxy) {
      bestProxy = proxy;
      best = {
        layer,
        tried,
        report: {
          bytes: layer.bytes(),
          params: layer.params(),
          coreBytes: 4 * k * (m + n),
          sparseBytes: sp?.bytes() ?? 0,
          nnz: sp?.nnz ?? 0,
          share,
          ...errs,
          rank: k,
        },
      };
    }
  }
  return best;
}
