/**
 * Tensor trains (Oseledets 2011) in f64: TT-SVD with a rank cap and/or an error budget, TT
 * rounding, conversion to dense, inner products and norms that never densify, and TT-matrices
 * (row and column digits interleaved: mode k merges (m_k, n_k)).
 *
 * Memory: TT-SVD keeps one unfolding at a time, and that unfolding shrinks after every step
 * (its row count is r_{k-1}·n_k, its column count the product of the remaining modes), so peak
 * memory is about two copies of the input plus one SVD workspace — no Kronecker blow-ups.
 */
import { ArgumentError, ShapeError, NonFiniteError } from '@llmpress/tensor';
import { svdThin, matmulF64 } from './linalg.js';

/** A tensor train: `cores[k]` is `ranks[k] × dims[k] × ranks[k+1]`, row-major; ranks[0] = ranks[d] = 1. */
export interface TT {
  dims: number[];
  ranks: number[];
  cores: Float64Array[];
}

export interface TTTruncation {
  /** Rank cap: one number for every bond, or one per bond (length d − 1). */
  maxRank?: number | readonly number[];
  /**
   * Relative error budget ε: each of the d − 1 steps discards at most ε‖W‖_F/√(d−1) of Frobenius
   * norm, so ‖W − W_TT‖_F ≤ ε‖W‖_F (when no rank cap binds). Default 0: only exact zeros are dropped.
   */
  eps?: number;
}

export interface TTSvdResult extends TT {
  /** Frobenius norm discarded at each of the d − 1 truncations. */
  discarded: number[];
  /** sqrt(Σ discarded²): equals ‖W − W_TT‖_F for TT-SVD in exact arithmetic (orthogonal steps). */
  error: number;
  /** ‖W‖_F of the input. */
  norm: number;
}

function checkDims(fn: string, dims: readonly number[], size?: number): number[] {
  if (!Array.isArray(dims) || dims.length < 1 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ArgumentError(fn, 'dims', dims, 'must be a non-empty array of positive integers');
  }
  if (size !== undefined) {
    const p = dims.reduce((a, b) => a * b, 1);
    if (p !== size) throw new ShapeError(fn, `dims [${dims.join(', ')}] have product ${p}, but the data has ${size} values`);
  }
  return dims.slice();
}

function capFor(fn: string, maxRank: TTTruncation['maxRank'], k: number, d: number): number {
  if (maxRank === undefined) return Infinity;
  if (typeof maxRank === 'number') {
    if (!(maxRank >= 1) || !Number.isInteger(maxRank)) throw new ArgumentError(fn, 'options.maxRank', maxRank, 'must be a positive integer');
    return maxRank;
  }
  if (maxRank.length !== d - 1) throw new ArgumentError(fn, 'options.maxRank', maxRank, `must have d − 1 = ${d - 1} entries`);
  const r = maxRank[k]!;
  if (!(r >= 1) || !Number.isInteger(r)) throw new ArgumentError(fn, `options.maxRank[${k}]`, r, 'must be a positive integer');
  return r;
}

/** Smallest rank r ≥ 1 whose discarded tail sqrt(Σ_{i ≥ r} σ_i²) is ≤ delta, then capped. */
function chooseRank(s: Float64Array, delta: number, cap: number): { r: number; discarded: number } {
  const n = s.length;
  const tail = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) tail[i] = tail[i + 1]! + s[i]! * s[i]!;
  let r = n;
  while (r > 1 && Math.sqrt(tail[r - 1]!) <= delta) r--;
  r = Math.max(1, Math.min(r, cap));
  return { r, discarded: Math.sqrt(tail[r]!) };
}

function frob(a: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]!));
  if (scale === 0) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]! / scale;
    s += v * v;
  }
  return scale * Math.sqrt(s);
}

/**
 * TT-SVD: d − 1 sequential truncated SVDs of unfoldings. `data` is the full tensor in row-major
 * order with shape `dims`.
 */
export function ttSvd(data: ArrayLike<number>, dims: readonly number[], options: TTTruncation = {}): TTSvdResult {
  const fn = 'ttSvd';
  const ds = checkDims(fn, dims, data.length);
  const d = ds.length;
  const eps = options.eps ?? 0;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new ArgumentError(fn, 'options.eps', options.eps, 'must be a finite number ≥ 0');
  let c = Float64Array.from(data as ArrayLike<number>);
  for (let i = 0; i < c.length; i++) if (!Number.isFinite(c[i]!)) throw new NonFiniteError(fn, 'data', i, c[i]!);
  const norm = frob(c);
  const delta = d > 1 ? (eps * norm) / Math.sqrt(d - 1) : 0;
  const ranks = [1];
  const cores: Float64Array[] = [];
  const discarded: number[] = [];
  let rest = c.length;
  for (let k = 0; k < d - 1; k++) {
    const rows = ranks[k]! * ds[k]!;
    rest /= ds[k]!;
    const svd = svdThin(c, rows, rest, fn);
    const { r, discarded: disc } = chooseRank(svd.s, delta, capFor(fn, options.maxRank, k, d));
    discarded.push(disc);
    const core = new Float64Array(rows * r);
    for (let i = 0; i < rows; i++) for (let j = 0; j < r; j++) core[i * r + j] = svd.u[i * svd.r + j]!;
    cores.push(core);
    const next = new Float64Array(r * rest);
    for (let i = 0; i < r; i++) {
      const si = svd.s[i]!;
      for (let j = 0; j < rest; j++) next[i * rest + j] = si * svd.vt[i * rest + j]!;
    }
    ranks.push(r);
    c = next;
  }
  cores.push(c);
  ranks.push(1);
  const error = Math.sqrt(discarded.reduce((a, b) => a + b * b, 0));
  return { dims: ds, ranks, cores, discarded, error, norm };
}

/** Number of stored values Σ r_k n_k r_{k+1}. */
export function ttParams(tt: Pick<TT, 'dims' | 'ranks'>): number {
  let p = 0;
  for (let k = 0; k < tt.dims.length; k++) p += tt.ranks[k]! * tt.dims[k]! * tt.ranks[k + 1]!;
  return p;
}

function checkTT(fn: string, arg: string, tt: TT): void {
  const d = tt.dims?.length;
  if (!d || tt.ranks?.length !== d + 1 || tt.cores?.length !== d || tt.ranks[0] !== 1 || tt.ranks[d] !== 1) {
    throw new ArgumentError(fn, arg, tt, 'must be a TT with d cores, d + 1 ranks and ranks[0] = ranks[d] = 1');
  }
  for (let k = 0; k < d; k++) {
    const want = tt.ranks[k]! * tt.dims[k]! * tt.ranks[k + 1]!;
    if (tt.cores[k]!.length !== want)
      throw new ShapeError(fn, `${arg}.cores[${k}] has ${tt.cores[k]!.length} values, expected ${tt.ranks[k]}·${tt.dims[k]}·${tt.ranks[k + 1]} = ${want}`);
  }
}

/** The full tensor (row-major, shape dims). Forms N = Π dims values: for analysis and tests. */
export function ttToDense(tt: TT): Float64Array {
  checkTT('ttToDense', 'tt', tt);
  let acc: Float64Array = Float64Array.of(1);
  let rows = 1;
  for (let k = 0; k < tt.dims.length; k++) {
    const r0 = tt.ranks[k]!,
      nk = tt.dims[k]!,
      r1 = tt.ranks[k + 1]!;
    acc = matmulF64(acc, tt.cores[k]!, rows, r0, nk * r1);
    rows *= nk;
  }
  return acc;
}

/** ⟨a, b⟩ = Σ a_i b_i computed core by core (transfer matrices), O(d · n · r³), never densifying. */
export function ttDot(a: TT, b: TT): number {
  const fn = 'ttDot';
  checkTT(fn, 'a', a);
  checkTT(fn, 'b', b);
  if (a.dims.length !== b.dims.length || a.dims.some((x, i) => x !== b.dims[i])) throw new ShapeError(fn, `dims differ: [${a.dims}] and [${b.dims}]`);
  let m = Float64Array.of(1); // ra × rb
  for (let k = 0; k < a.dims.length; k++) {
    const ra0 = a.ranks[k]!,
      ra1 = a.ranks[k + 1]!,
      rb0 = b.ranks[k]!,
      rb1 = b.ranks[k + 1]!,
      nk = a.dims[k]!;
    // t[α, i, β'] = Σ_β m[α, β] B[β, i, β']
    const t = matmulF64(m, b.cores[k]!, ra0, rb0, nk * rb1);
    // m'[α', β'] = Σ_{α,i} A[α, i, α'] t[α, i, β']  = Aᵀ (ra1 × ra0·nk) · t (ra0·nk × rb1)
    const A = a.cores[k]!;
    const out = new Float64Array(ra1 * rb1);
    const K = ra0 * nk;
    for (let p = 0; p < K; p++) {
      for (let i = 0; i < ra1; i++) {
        const av = A[p * ra1 + i]!;
        if (av === 0) continue;
        for (let j = 0; j < rb1; j++) out[i * rb1 + j] += av * t[p * rb1 + j]!;
      }
    }
    m = out;
  }
  return m[0]!;
}

/**
 * ‖a‖_F without densifying: right-orthogonalize (the norm moves into the first core), then take
 * that core's Frobenius norm — more accurate than sqrt(ttDot(a, a)) when cores are ill-scaled.
 */
export function ttNorm(a: TT): number {
  checkTT('ttNorm', 'a', a);
  const o = orthogonalizeRight(a);
  return frob(o.cores[0]!);
}

/** Right-to-left orthogonalization via SVD (cores 1..d−1 get orthonormal rows); ranks may shrink. */
function orthogonalizeRight(tt: TT): TT {
  const d = tt.dims.length;
  const cores: Float64Array[] = tt.cores.map((c) => Float64Array.from(c));
  const ranks = tt.ranks.slice();
  for (let k = d - 1; k >= 1; k--) {
    const r0 = ranks[k]!,
      cols = tt.dims[k]! * ranks[k + 1]!;
    const svd = svdThin(cores[k]!, r0, cols, 'ttRound');
    const p = svd.r;
    // core k ← Vt (p × cols); core k−1 ← core k−1 · (U S)
    cores[k] = svd.vt.slice(0, p * cols);
    const us = new Float64Array(r0 * p);
    for (let i = 0; i < r0; i++) for (let j = 0; j < p; j++) us[i * p + j] = svd.u[i * p + j]! * svd.s[j]!;
    const prevRows = ranks[k - 1]! * tt.dims[k - 1]!;
    cores[k - 1] = matmulF64(cores[k - 1]!, us, prevRows, r0, p);
    ranks[k] = p;
  }
  return { dims: tt.dims.slice(), ranks, cores };
}

/**
 * TT rounding (Oseledets Alg. 2): right-to-left orthogonalization, then left-to-right truncated
 * SVDs with the same rank cap / error budget rule as `ttSvd` (relative to ‖tt‖).
 */
export function ttRound(tt: TT, options: TTTruncation = {}): TTSvdResult {
  const fn = 'ttRound';
  checkTT(fn, 'tt', tt);
  const eps = options.eps ?? 0;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new ArgumentError(fn, 'options.eps', options.eps, 'must be a finite number ≥ 0');
  const d = tt.dims.length;
  const o = orthogonalizeRight(tt);
  const norm = frob(o.cores[0]!);
  const delta = d > 1 ? (eps * norm) / Math.sqrt(d - 1) : 0;
  const cores = o.cores,
    ranks = o.ranks;
  const discarded: number[] = [];
  for (let k = 0; k < d - 1; k++) {
    const rows = ranks[k]! * tt.dims[k]!,
      r1 = ranks[k + 1]!;
    const svd = svdThin(cores[k]!, rows, r1, fn);
    const { r, discarded: disc } = chooseRank(svd.s, delta, capFor(fn, options.maxRank, k, d));
    discarded.push(disc);
    const u = new Float64Array(rows * r);
    for (let i = 0; i < rows; i++) for (let j = 0; j < r; j++) u[i * r + j] = svd.u[i * svd.r + j]!;
    const svt = new Float64Array(r * r1);
    for (let i = 0; i < r; i++) for (let j = 0; j < r1; j++) svt[i * r1 + j] = svd.s[i]! * svd.vt[i * r1 + j]!;
    cores[k] = u;
    const cols = tt.dims[k + 1]! * ranks[k + 2]!;
    cores[k + 1] = matmulF64(svt, cores[k + 1]!, r, r1, cols);
    ranks[k + 1] = r;
  }
  const error = Math.sqrt(discarded.reduce((a, b) => a + b * b, 0));
  return { dims: tt.dims.slice(), ranks, cores, discarded, error, norm };
}

// ------------------------------------------------------------------ TT-matrices

/** A TT-matrix: a TT whose mode k merges (rowDims[k], colDims[k]); core k is r_k × m_k × n_k × r_{k+1}. */
export interface TTMatrix extends TT {
  rowDims: number[];
  colDims: number[];
}

/**
 * Offsets that scatter W[i, j] (row-major m × n) into the interleaved tensor
 * T[(i_1 j_1), …, (i_d j_d)]: position rowOff[i] + colOff[j].
 */
export function interleaveOffsets(rowDims: readonly number[], colDims: readonly number[]): { rowOff: Int32Array; colOff: Int32Array } {
  const d = rowDims.length;
  const m = rowDims.reduce((a, b) => a * b, 1),
    n = colDims.reduce((a, b) => a * b, 1);
  const stride = new Array<number>(d);
  let acc = 1;
  for (let k = d - 1; k >= 0; k--) {
    stride[k] = acc;
    acc *= rowDims[k]! * colDims[k]!;
  }
  const rowOff = new Int32Array(m),
    colOff = new Int32Array(n);
  for (let i = 0; i < m; i++) {
    let rem = i,
      off = 0;
    for (let k = d - 1; k >= 0; k--) {
      const ik = rem % rowDims[k]!;
      rem = (rem - ik) / rowDims[k]!;
      off += ik * colDims[k]! * stride[k]!;
    }
    rowOff[i] = off;
  }
  for (let j = 0; j < n; j++) {
    let rem = j,
      off = 0;
    for (let k = d - 1; k >= 0; k--) {
      const jk = rem % colDims[k]!;
      rem = (rem - jk) / colDims[k]!;
      off += jk * stride[k]!;
    }
    colOff[j] = off;
  }
  return { rowOff, colOff };
}

function checkMatrixDims(fn: string, rowDims: readonly number[], colDims: readonly number[], m?: number, n?: number): void {
  checkDims(fn, rowDims);
  checkDims(fn, colDims);
  if (rowDims.length !== colDims.length) throw new ArgumentError(fn, 'colDims', colDims, `must have as many factors as rowDims [${rowDims.join(', ')}]`);
  const pm = rowDims.reduce((a, b) => a * b, 1),
    pn = colDims.reduce((a, b) => a * b, 1);
  if (m !== undefined && pm !== m) throw new ArgumentError(fn, 'rowDims', rowDims, `must multiply to m = ${m}`);
  if (n !== undefined && pn !== n) throw new ArgumentError(fn, 'colDims', colDims, `must multiply to n = ${n}`);
}

/** TT-SVD of a dense m × n matrix (row-major) as a TT-matrix with the given factorizations. */
export function ttMatrixFromDense(
  w: ArrayLike<number>,
  m: number,
  n: number,
  rowDims: readonly number[],
  colDims: readonly number[],
  options: TTTruncation = {},
): TTMatrix & TTSvdResult {
  const fn = 'ttMatrixFromDense';
  checkMatrixDims(fn, rowDims, colDims, m, n);
  if (w.length !== m * n) throw new ShapeError(fn, `argument 'w' has ${w.length} values, expected ${m}·${n}`);
  const { rowOff, colOff } = interleaveOffsets(rowDims, colDims);
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ro = rowOff[i]!,
      wo = i * n;
    for (let j = 0; j < n; j++) t[ro + colOff[j]!] = w[wo + j]!;
  }
  const dims = rowDims.map((mk, k) => mk * colDims[k]!);
  const r = ttSvd(t, dims, options);
  return { ...r, rowDims: rowDims.slice(), colDims: colDims.slice() };
}

/** The dense m × n matrix of a TT-matrix (row-major f64). */
export function ttMatrixToDense(tt: TTMatrix): Float64Array {
  const t = ttToDense(tt);
  const m = tt.rowDims.reduce((a, b) => a * b, 1),
    n = tt.colDims.reduce((a, b) => a * b, 1);
  const { rowOff, colOff } = interleaveOffsets(tt.rowDims, tt.colDims);
  const w = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ro = rowOff[i]!;
    for (let j = 0; j < n; j++) w[i * n + j] = t[ro + colOff[j]!]!;
  }
  return w;
}

/** Stored values of a TT-matrix with these dims and ranks. */
export function ttMatrixParams(rowDims: readonly number[], colDims: readonly number[], ranks: readonly number[]): number {
  let p = 0;
  for (let k = 0; k < rowDims.length; k++) p += ranks[k]! * rowDims[k]! * colDims[k]! * ranks[k + 1]!;
  return p;
}

// ------------------------------------------------------------------ shapes

/** All ordered d-tuples of positive integers with product n (factors of 1 allowed only when needed). */
export function factorizations(n: number, d: number): number[][] {
  const fn = 'factorizations';
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(fn, 'n', n, 'must be a positive integer');
  if (!Number.isInteger(d) || d < 1 || d > 8) throw new ArgumentError(fn, 'd', d, 'must be an integer in 1..8');
  const out: number[][] = [];
  const rec = (rem: number, left: number, acc: number[], allowOne: boolean) => {
    if (left === 1) {
      if (rem >= (allowOne ? 1 : 2)) out.push([...acc, rem]);
      return;
    }
    for (let f = allowOne ? 1 : 2; f <= rem; f++) if (rem % f === 0) rec(rem / f, left - 1, [...acc, f], allowOne);
  };
  rec(n, d, [], false);
  if (out.length === 0) rec(n, d, [], true);
  return out;
}

/** The `count` most balanced factorizations (smallest largest factor, then smallest spread), in order. */
export function balancedFactorizations(n: number, d: number, count = 3): number[][] {
  const all = factorizations(n, d);
  const key = (f: number[]) => Math.max(...f) * 1e6 + (Math.max(...f) - Math.min(...f));
  return all.sort((a, b) => key(a) - key(b) || (a < b ? -1 : 1)).slice(0, count);
}

/** Upper bound on each TT bond rank: min(Π_{l≤k} m_l n_l, Π_{l>k} m_l n_l). */
export function fullRanks(rowDims: readonly number[], colDims: readonly number[]): number[] {
  const dims = rowDims.map((m, k) => m * colDims[k]!);
  const d = dims.length;
  const r = [1];
  let left = 1;
  const total = dims.reduce((a, b) => a * b, 1);
  for (let k = 0; k < d - 1; k++) {
    left *= dims[k]!;
    r.push(Math.min(left, total / left));
  }
  r.push(1);
  return r;
}

export interface ShapeSearchOptions {
  /** TT orders to try (default [2, 3, 4]). */
  orders?: readonly number[];
  /** Factorizations tried per side and order (default 3 most balanced). */
  perSide?: number;
  /** Points of the ε grid (log-spaced in [1e-4, 1], default 16). */
  steps?: number;
  /**
   * Data-aware search: maps the matrix into another space per factorization (e.g. a Kronecker-
   * factored whitening W·(S_1 ⊗ … ⊗ S_d)) and back (`unmap` applied to the TT found there). Errors
   * compared between candidates are then relative errors in the mapped space.
   */
  map?: (rowDims: readonly number[], colDims: readonly number[]) => { w: ArrayLike<number>; unmap: (tt: TTMatrix & TTSvdResult) => TTMatrix & TTSvdResult };
}

export interface ShapeCandidate {
  tt: TTMatrix & TTSvdResult;
  params: number;
  /** ‖W − W_TT‖_F / ‖W‖_F in the space the search ran in (see `map`). */
  relError: number;
}

export interface ShapeSearchResult extends ShapeCandidate {
  /** Every candidate tried, for reports. */
  tried: { rowDims: number[]; colDims: number[]; ranks: number[]; params: number; relError: number }[];
}

/**
 * Every TT-matrix candidate for a dense m × n matrix: for each order d and each pair of the most
 * balanced factorizations, TT-SVDs at a ladder of uniform rank caps and at a log-spaced grid of
 * error budgets ε (adaptive ranks). Reuse the list to pick the best candidate at several budgets
 * (`bestCandidate`) without recomputing SVDs.
 */
export function ttCandidates(w: ArrayLike<number>, m: number, n: number, options: ShapeSearchOptions = {}): ShapeCandidate[] {
  const fn = 'ttCandidates';
  if (w.length !== m * n) throw new ShapeError(fn, `argument 'w' has ${w.length} values, expected ${m}·${n}`);
  const orders = options.orders ?? [2, 3, 4];
  const perSide = options.perSide ?? 3;
  const steps = options.steps ?? 16;
  if (!Number.isInteger(steps) || steps < 1 || steps > 200) throw new ArgumentError(fn, 'options.steps', steps, 'must be an integer in 1..200');
  const out: ShapeCandidate[] = [];
  const seen = new Set<string>();
  for (const d of orders) {
    if (!Number.isInteger(d) || d < 1 || d > 8) throw new ArgumentError(fn, 'options.orders', orders, 'must hold integers in 1..8');
    for (const rd of balancedFactorizations(m, d, perSide)) {
      for (const cd of balancedFactorizations(n, d, perSide)) {
        const mapped = options.map ? options.map(rd, cd) : { w, unmap: (t: TTMatrix & TTSvdResult) => t };
        const wNorm = frob(mapped.w);
        const push = (t: TTMatrix & TTSvdResult) => {
          const key = `${rd}|${cd}|${t.ranks}`;
          if (seen.has(key)) return;
          seen.add(key);
          const relError = wNorm > 0 ? t.error / wNorm : 0;
          const tt = mapped.unmap(t);
          out.push({ tt, params: ttMatrixParams(rd, cd, tt.ranks), relError });
        };
        const full = fullRanks(rd, cd);
        const hi = Math.max(...full);
        // uniform caps: 1, 2, 3, 4, 6, 8, 12, 16, ... up to the largest useful rank
        const caps: number[] = [];
        for (let r = 1; r < hi; r = r < 4 ? r + 1 : Math.ceil(r * 1.5)) caps.push(r);
        caps.push(hi);
        for (const cap of caps) push(ttMatrixFromDense(mapped.w, m, n, rd, cd, { maxRank: cap }));
        for (let s = 0; s < steps; s++) {
          const eps = 10 ** (-4 + (4 * s) / Math.max(1, steps - 1));
          push(ttMatrixFromDense(mapped.w, m, n, rd, cd, { eps }));
        }
      }
    }
  }
  return out;
}

/** The candidate with the smallest error among those with at most `maxParams` values (null if none). */
export function bestCandidate(candidates: readonly ShapeCandidate[], maxParams: number): ShapeCandidate | null {
  let best: ShapeCandidate | null = null;
  for (const c of candidates)
    if (c.params <= maxParams && (!best || c.relError < best.relError || (c.relError === best.relError && c.params < best.params))) best = c;
  return best;
}

/**
 * Chooses TT-matrix factorizations and ranks for a dense m × n matrix at a parameter budget:
 * the candidate of `ttCandidates` with the smallest error within `maxParams`.
 * Returns null when not even rank 1 fits.
 */
export function searchTTShape(w: ArrayLike<number>, m: number, n: number, maxParams: number, options: ShapeSearchOptions = {}): ShapeSearchResult | null {
  const fn = 'searchTTShape';
  if (!(maxParams >= 0) || !Number.isFinite(maxParams)) throw new ArgumentError(fn, 'maxParams', maxParams, 'must be a finite number ≥ 0');
  const cands = ttCandidates(w, m, n, options);
  const best = bestCandidate(cands, maxParams);
  if (!best) return null;
  return {
    ...best,
    tried: cands.map((c) => ({ rowDims: c.tt.rowDims, colDims: c.tt.colDims, ranks: c.tt.ranks.slice(), params: c.params, relError: c.relError })),
  };
}
