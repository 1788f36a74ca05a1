/**
 * SVD-LLM (Wang et al., ICLR 2025) for one linear layer, and its two baselines behind the same
 * interface: plain truncated SVD and ASVD. All three factor W·S = U Σ Vᵀ for some invertible
 * right scaling S, keep the top k triplets and store
 *   W_u = U_k Σ_k^{1/2}   (m × k),     W_v = Σ_k^{1/2} V_kᵀ S⁻¹   (k × n),
 * so W ≈ W_u W_v. SVD-LLM takes S with S Sᵀ = G (the calibration Gram): then the output error on
 * the calibration inputs is ‖(W − W_u W_v) X‖_F² = Σ_{i>k} σ_i², exactly the dropped energy.
 */
import { ArgumentError, ShapeError, assertMatrix, assertFloat, type Backend, type Tensor } from '@llmpress/tensor';
import { svd } from '@llmpress/decompositions';
import { randomizedSvd } from '@llmpress/decompositions';
import { whiten, type WhitenResult } from '@llmpress/decompositions';
import { eigh } from '@llmpress/decompositions';
import { LowRankLinear } from './low-rank.js';
import { checkRankSpec, rankFromEnergy, type RankSpec } from './rank.js';
import { toF64, toF32, mm, scaleCols, scaleRows, checkSquare, checkFinite, type M64 } from './mat.js';

export type Whitening = 'eigh' | 'cholesky';
/**
 * How SVD-LLM computes the truncation (see `svdLlmFactor`): 'whiten' (the paper: S Sᵀ = G, SVD of
 * W S), 'gram' (the same subspace and σ² from an eigendecomposition of the smaller Gram side:
 * W G Wᵀ (m × m, no whitening) when m < n, (W S)ᵀ(W S) (n × n) otherwise), or 'auto' ('gram',
 * except with whitening 'cholesky' when m < n).
 */
export type SvdLlmRoute = 'whiten' | 'gram' | 'auto';
export type LowRankMethodName = 'svd-llm' | 'svd' | 'asvd';

export interface FactorOptions extends RankSpec {
  /**
   * SVD of the scaled weight: 'full' (thin SVD, exact spectrum, default) or 'randomized'
   * (randomizedSvd with oversampling + power iterations; only with `rank`/`ratio`, worth it when
   * k ≪ min(m, n)).
   */
  solver?: 'full' | 'randomized';
  /** Randomized solver knobs (passed through). */
  oversample?: number;
  powerIterations?: number;
  seed?: number;
  /**
   * How W_v is formed. 'inverse' (default): W_v = Σ_k^{1/2} V_kᵀ S⁻¹, as in the paper.
   * 'projection': W_v = Σ_k^{-1/2} U_kᵀ W — the same matrix in exact arithmetic (V_kᵀ = Σ_k⁻¹ U_kᵀ W S),
   * one k × m × n GEMM, no S⁻¹ (so no amplification through floored eigenvalues); the optimal right
   * factor for the computed left subspace in the whitened norm. Needs σ_k > 0: rows with σ_i = 0 are 0.
   */
  factors?: 'inverse' | 'projection';
  backend?: Backend;
}

export interface SvdLlmOptions extends FactorOptions {
  /** 'eigh' (default; robust: G = QΛQᵀ, tiny eigenvalues floored and reported) or 'cholesky' (paper; throws NotPositiveDefiniteError). */
  whitening?: Whitening;
  /** Eigenvalue floor for the eigh route, relative to λ_max (passed to `whiten`). */
  floor?: number;
  /**
   * A whitening of `g` computed once by `whiten(g, …)` and shared by every layer that reads the same
   * input (q/k/v, gate/up): skips the n × n eigendecomposition per layer. It must belong to `g`.
   */
  whitened?: WhitenResult;
  /** Default 'whiten' (the paper's computation); see `SvdLlmRoute`. */
  route?: SvdLlmRoute;
}

export interface AsvdOptions extends FactorOptions {
  /** Exponent on mean |x|: S = diag(mean|x|)^α. Default 0.5. */
  alpha?: number;
}

export interface LowRankReport {
  method: LowRankMethodName;
  rank: number;
  m: number;
  n: number;
  /** Singular values of the scaled weight W·S that were computed (all of them for solver 'full'). */
  sigma: Float64Array;
  /** Σ_{i>k} σ_i² (NaN when the randomized solver did not compute the tail). For SVD-LLM this is the calibration output error ‖(W − W_u W_v)X‖². */
  droppedEnergy: number;
  /** Σ_i σ_i² (NaN for the randomized solver). */
  totalEnergy: number;
  /**
   * The whitening used: 'eigh' / 'cholesky' (floored = eigenvalues of G raised to the floor), or 'gram'
   * for the m < n Gram route (floor = the relative ridge; floored = eigenvalues of W (G + δI) Wᵀ no
   * larger than the ridge alone can make them: output directions the calibration did not reach).
   */
  whitening?: { method: string; floor: number; floored: number };
  /** SVD-LLM only: which computation ran ('whiten': SVD of W·S; 'gram': eigh of the smaller Gram side). */
  route?: 'whiten' | 'gram';
}

/** The low-rank layer plus what the factorisation saw. */
export interface LowRankResult {
  layer: LowRankLinear;
  report: LowRankReport;
}

interface Scaling {
  /** A = W S */
  apply(w: M64): M64;
  /** V_kᵀ S⁻¹ */
  applyInv(vtk: M64): M64;
}

function checkWeight(fn: string, w: Tensor): [number, number] {
  assertMatrix(fn, 'w', w);
  assertFloat(fn, 'w', w);
  const [m, n] = w.shape as [number, number];
  if (m < 1 || n < 1) throw new ShapeError(fn, `argument 'w' must be a non-empty matrix, got shape [${w.shape.join(', ')}]`);
  checkFinite(fn, 'w', w);
  return [m, n];
}

/** The rank k (from the spec or the energy budget), the kept/total energies and Σ_k^{±1/2} of a descending spectrum. */
function truncation(fn: string, sigma: Float64Array, spec: { k?: number }, energy: number | undefined) {
  const k = spec.k ?? rankFromEnergy(sigma, energy!, fn);
  if (k > sigma.length) throw new ArgumentError(fn, 'rank', k, `exceeds the ${sigma.length} singular values computed`);
  let total = 0,
    dropped = 0;
  for (let i = 0; i < sigma.length; i++) {
    const e = sigma[i]! * sigma[i]!;
    total += e;
    if (i >= k) dropped += e;
  }
  const root = new Float64Array(k),
    invRoot = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    root[i] = Math.sqrt(Math.max(0, sigma[i]!));
    invRoot[i] = root[i]! > 0 ? 1 / root[i]! : 0;
  }
  return { k, total, dropped, root, invRoot };
}

function factor(fn: string, method: LowRankMethodName, w64: M64, scaling: Scaling, opts: FactorOptions): LowRankResult {
  const [m, n] = w64.shape as [number, number];
  const spec = checkRankSpec(fn, m, n, opts);
  const solver = opts.solver ?? 'full';
  if (solver !== 'full' && solver !== 'randomized') throw new ArgumentError(fn, 'options.solver', solver, "must be 'full' or 'randomized'");
  if (solver === 'randomized' && spec.kind === 'energy')
    throw new ArgumentError(fn, 'options.solver', solver, "cannot be 'randomized' with an energy budget (needs the whole spectrum)");
  const a = scaling.apply(w64);
  checkFinite(fn, 'w·S', a);
  let u: Tensor, s: Tensor, vt: Tensor;
  if (solver === 'randomized') {
    ({ u, s, vt } = randomizedSvd(a, spec.k!, { oversample: opts.oversample, powerIterations: opts.powerIterations, seed: opts.seed, backend: opts.backend }));
  } else {
    const r = svd(a, { vectors: 'thin', backend: opts.backend });
    u = r.u!;
    s = r.s;
    vt = r.vt!;
  }
  const sigma = Float64Array.from(s.contiguous().data as ArrayLike<number>);
  const t = truncation(fn, sigma, spec, opts.energy);
  const { k, root } = t;
  const total = solver === 'randomized' ? NaN : t.total,
    dropped = solver === 'randomized' ? NaN : t.dropped;
  const uk = toF64(u).slice(null, [0, k]).contiguous() as M64;
  const vtk = toF64(vt).slice([0, k]).contiguous() as M64;
  const wu = scaleCols(uk, root);
  const form = opts.factors ?? 'inverse';
  if (form !== 'inverse' && form !== 'projection') throw new ArgumentError(fn, 'options.factors', form, "must be 'inverse' or 'projection'");
  let wv: M64;
  if (form === 'inverse') wv = scaleRows(scaling.applyInv(vtk), root);
  else {
    wv = scaleRows(mm(uk.T, w64, opts.backend), t.invRoot);
  }
  checkFinite(fn, 'W_v', wv);
  const report: LowRankReport = { method, rank: k, m, n, sigma, droppedEnergy: dropped, totalEnergy: total };
  return { layer: new LowRankLinear(toF32(wu), toF32(wv), { method }), report };
}

/**
 * SVD-LLM for one layer: whiten with S Sᵀ = G, truncate the SVD of W S, return the two factors.
 * `w` is [m, n] (out × in), `g` the calibration Gram Σ x xᵀ [n, n] (f64 preferred).
 *
 * The kept subspace is the top-k left singular vectors U_k of W S, and W_u W_v = U_k U_kᵀ W. Since
 * (W S)(W S)ᵀ = W G Wᵀ, route 'gram' gets U_k and σ² from the eigendecomposition of the m × m
 * matrix W (G + δI) Wᵀ instead (δ = floor · λ_max(G), the ridge that stands in for the eigh
 * whitening's eigenvalue floor) and forms W_v = Σ_k^{-1/2} U_kᵀ W (the 'projection' factors). For a
 * layer with m < n — Llama's down projection, 2048 × 8192 — that replaces an 8192² eigendecomposition,
 * two 8192² factors and a 2048 × 8192 SVD by two GEMMs and a 2048² eigendecomposition: the memory
 * and most of the time of SVD-LLM on real models. For m ≥ n the route whitens as usual and replaces
 * the m × n SVD of W S by the n × n eigendecomposition of (W S)ᵀ(W S). σ_i from the Gram route are
 * accurate to about √eps · σ_1 (squared spectrum), which is plenty for choosing and keeping the top k.
 */
export function svdLlmFactor(w: Tensor, g: Tensor, options: SvdLlmOptions = {}): LowRankResult {
  const fn = 'svdLlm';
  const [m, n] = checkWeight(fn, w);
  checkSquare(fn, 'g', g, n);
  checkFinite(fn, 'g', g);
  const method = options.whitening ?? 'eigh';
  if (method !== 'eigh' && method !== 'cholesky') throw new ArgumentError(fn, 'options.whitening', method, "must be 'eigh' or 'cholesky'");
  checkRankSpec(fn, m, n, options);
  const routeOpt = options.route ?? 'whiten';
  if (routeOpt !== 'whiten' && routeOpt !== 'gram' && routeOpt !== 'auto')
    throw new ArgumentError(fn, 'options.route', routeOpt, "must be 'whiten', 'gram' or 'auto'");
  if (routeOpt === 'gram' && method === 'cholesky' && m < n)
    throw new ArgumentError(
      fn,
      'options.route',
      routeOpt,
      "cannot be 'gram' with whitening 'cholesky' when m < n (that Gram route uses no whitening: pass whitening 'eigh')",
    );
  const route = routeOpt === 'auto' ? (method === 'cholesky' && m < n ? 'whiten' : 'gram') : routeOpt;
  if (route === 'gram' && m < n) return leftGramRoute(fn, toF64(w), { g: toF64(g) }, options);
  let wh: WhitenResult;
  if (options.whitened) {
    wh = options.whitened;
    if (
      !wh ||
      typeof wh !== 'object' ||
      !wh.s ||
      !wh.sInv ||
      wh.s.ndim !== 2 ||
      wh.s.shape[0] !== n ||
      wh.s.shape[1] !== n ||
      wh.sInv.shape[0] !== n ||
      wh.sInv.shape[1] !== n
    ) {
      throw new ArgumentError(
        fn,
        'options.whitened',
        wh && wh.s ? `{ s: [${wh.s.shape.join(', ')}] }` : wh,
        `must be a whiten() result for an [${n}, ${n}] Gram`,
      );
    }
  } else wh = whiten(toF64(g), { method, floor: options.floor, backend: options.backend });
  const sMat = toF64(wh.s),
    sInv = toF64(wh.sInv);
  const res =
    route === 'gram'
      ? rightGramRoute(fn, toF64(w), sMat, sInv, options)
      : factor(
          fn,
          'svd-llm',
          toF64(w),
          {
            apply: (w64) => mm(w64, sMat, options.backend),
            applyInv: (vtk) => mm(vtk, sInv, options.backend),
          },
          options,
        );
  res.report.whitening = { method: wh.method, floor: wh.floor, floored: wh.floored };
  res.report.route = route;
  return res;
}

/**
 * SVD-LLM for one layer from the calibration inputs themselves (rows X [T, n], the inputs this layer
 * saw) instead of their Gram. When m < n and T < n (Llama's down projection calibrated with 512
 * tokens) the Gram route runs on X directly — W Xᵀ is m × T — and the n × n Gram is never formed;
 * otherwise G = XᵀX is formed and `svdLlmFactor` runs. Same result as `svdLlmFactor(w, XᵀX, options)`
 * up to rounding.
 */
export function svdLlmFactorFromInputs(w: Tensor, x: Tensor, options: SvdLlmOptions = {}): LowRankResult {
  const fn = 'svdLlmFromInputs';
  const [m, n] = checkWeight(fn, w);
  assertMatrix(fn, 'x', x);
  assertFloat(fn, 'x', x);
  if (x.shape[1] !== n || x.shape[0]! < 1)
    throw new ShapeError(fn, `argument 'x' must be [T, ${n}] (calibration rows of the layer's input), got [${x.shape.join(', ')}]`);
  checkFinite(fn, 'x', x);
  checkRankSpec(fn, m, n, options);
  const T = x.shape[0]!;
  const method = options.whitening ?? 'eigh';
  const route = options.route ?? 'auto';
  if (m < n && T < n && method === 'eigh' && route !== 'whiten' && !options.whitened) {
    if (route !== 'gram' && route !== 'auto') throw new ArgumentError(fn, 'options.route', route, "must be 'whiten', 'gram' or 'auto'");
    return leftGramRoute(fn, toF64(w), { x: toF64(x) }, options);
  }
  const x64 = toF64(x);
  return svdLlmFactor(w, mm(x64.T, x64, options.backend), { ...options, route });
}

/** λ_max of a symmetric PSD matrix (row-major, n × n) by a few power iterations: an estimate within a few %. */
function lambdaMaxEstimate(g: Float64Array, n: number, iters = 12): number {
  let v = new Float64Array(n).fill(1 / Math.sqrt(n));
  let y = new Float64Array(n);
  let lam = 0;
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < n; i++) {
      let s0 = 0,
        s1 = 0;
      const o = i * n;
      let j = 0;
      for (; j + 1 < n; j += 2) {
        s0 += g[o + j]! * v[j]!;
        s1 += g[o + j + 1]! * v[j + 1]!;
      }
      if (j < n) s0 += g[o + j]! * v[j]!;
      y[i] = s0 + s1;
    }
    let nrm = 0;
    for (let i = 0; i < n; i++) nrm += y[i]! * y[i]!;
    nrm = Math.sqrt(nrm);
    if (!(nrm > 0)) return 0;
    lam = nrm; // ‖G v‖ with ‖v‖ = 1 → λ_max from below
    for (let i = 0; i < n; i++) y[i]! /= nrm;
    [v, y] = [y, v];
  }
  return lam;
}

/** λ_max of XᵀX from the rows X [T, n] (power iterations on v ↦ Xᵀ(X v)). */
function lambdaMaxFromRows(x: Float64Array, T: number, n: number, iters = 12): number {
  const v = new Float64Array(n).fill(1 / Math.sqrt(n));
  const y = new Float64Array(T),
    z = new Float64Array(n);
  let lam = 0;
  for (let it = 0; it < iters; it++) {
    for (let t = 0; t < T; t++) {
      let s0 = 0;
      const o = t * n;
      for (let j = 0; j < n; j++) s0 += x[o + j]! * v[j]!;
      y[t] = s0;
    }
    z.fill(0);
    for (let t = 0; t < T; t++) {
      const c = y[t]!,
        o = t * n;
      for (let j = 0; j < n; j++) z[j]! += c * x[o + j]!;
    }
    let nrm = 0;
    for (let j = 0; j < n; j++) nrm += z[j]! * z[j]!;
    nrm = Math.sqrt(nrm);
    if (!(nrm > 0)) return 0;
    lam = nrm;
    for (let j = 0; j < n; j++) v[j] = z[j]! / nrm;
  }
  return lam;
}

/**
 * The Gram route for m < n: U_k and σ² from the eigh of M = W (G + δI) Wᵀ (m × m). Given the Gram,
 * M = (W G + δW) Wᵀ; given the calibration rows X [T, n] with T < n (G = XᵀX never formed),
 * M = (W Xᵀ)(W Xᵀ)ᵀ + δ W Wᵀ — for Llama's down projection with 512 tokens about a third of the flops
 * and none of the n² memory.
 */
function leftGramRoute(fn: string, w64: M64, src: { g: M64 } | { x: M64 }, opts: SvdLlmOptions): LowRankResult {
  const [m, n] = w64.shape as [number, number];
  const spec = checkRankSpec(fn, m, n, opts);
  const floor = opts.floor ?? n * 2.220446049250313e-16;
  if (typeof floor !== 'number' || !Number.isFinite(floor) || floor <= 0 || floor >= 1)
    throw new ArgumentError(fn, 'options.floor', floor, 'must be a number in (0, 1)');
  const lmax =
    'g' in src ? lambdaMaxEstimate(src.g.contiguous().data as Float64Array, n) : lambdaMaxFromRows(src.x.contiguous().data as Float64Array, src.x.shape[0]!, n);
  if (!(lmax > 0)) throw new ArgumentError(fn, 'g' in src ? 'g' : 'x', `λ_max ≈ ${lmax}`, 'must give a nonzero Gram (all calibration inputs were zero?)');
  const delta = floor * lmax;
  const wd = w64.data as Float64Array;
  let mMat: M64;
  if ('g' in src) {
    // A = W (G + δI), M = A Wᵀ (m × m, symmetric PSD)
    const a = mm(w64, src.g, opts.backend);
    const ad = a.data as Float64Array;
    for (let i = 0; i < ad.length; i++) ad[i]! += delta * wd[i]!;
    mMat = mm(a, w64.T, opts.backend);
  } else {
    const b = mm(w64, src.x.T, opts.backend); // m × T
    mMat = mm(b, b.T, opts.backend);
    const r = mm(w64, w64.T, opts.backend);
    const md = mMat.data as Float64Array,
      rd = r.data as Float64Array;
    for (let i = 0; i < md.length; i++) md[i]! += delta * rd[i]!;
  }
  checkFinite(fn, 'W·G·Wᵀ', mMat);
  const { values, vectors } = eigh(mMat, { order: 'descending', backend: opts.backend });
  const lam = values.contiguous().data;
  const sigma = new Float64Array(m);
  // 'floored' here: eigenvalues at or below what the ridge alone can contribute (δ‖W‖₂² ≤ δ‖W‖_F²),
  // i.e. output directions the calibration did not reach (the eigh whitening's floored count, seen from the output side)
  let wf2 = 0;
  for (let i = 0; i < wd.length; i++) wf2 += wd[i]! * wd[i]!;
  const ridgeOnly = delta * wf2;
  let floored = 0;
  for (let i = 0; i < m; i++) {
    const l = lam[i]!;
    if (!(l > ridgeOnly)) floored++;
    sigma[i] = Math.sqrt(Math.max(0, l));
  }
  const { k, total, dropped, root, invRoot } = truncation(fn, sigma, spec, opts.energy);
  const uk = toF64(vectors).slice(null, [0, k]).contiguous() as M64;
  const wu = scaleCols(uk, root);
  const wv = scaleRows(mm(uk.T, w64, opts.backend), invRoot);
  checkFinite(fn, 'W_v', wv);
  const report: LowRankReport = {
    method: 'svd-llm',
    rank: k,
    m,
    n,
    sigma,
    droppedEnergy: dropped,
    totalEnergy: total,
    whitening: { method: 'gram', floor, floored },
    route: 'gram',
  };
  return { layer: new LowRankLinear(toF32(wu), toF32(wv), { method: 'svd-llm' }), report };
}

/**
 * The Gram route for m ≥ n: with A = W S, the right singular vectors V and σ² of A are the
 * eigenpairs of the n × n matrix Aᵀ A; then W_u = A V_k Σ_k^{-1/2} (= U_k Σ_k^{1/2}) and
 * W_v = Σ_k^{1/2} V_kᵀ S⁻¹, the paper's factors. Two GEMMs and an n × n eigh instead of an m × n SVD.
 */
function rightGramRoute(fn: string, w64: M64, sMat: M64, sInv: M64, opts: SvdLlmOptions): LowRankResult {
  const [m, n] = w64.shape as [number, number];
  const spec = checkRankSpec(fn, m, n, opts);
  const a = mm(w64, sMat, opts.backend);
  checkFinite(fn, 'w·S', a);
  const c = mm(a.T, a, opts.backend);
  const { values, vectors } = eigh(c, { order: 'descending', backend: opts.backend });
  const lam = values.contiguous().data;
  const sigma = new Float64Array(n);
  for (let i = 0; i < n; i++) sigma[i] = Math.sqrt(Math.max(0, lam[i]!));
  const { k, total, dropped, root, invRoot } = truncation(fn, sigma, spec, opts.energy);
  const vk = toF64(vectors).slice(null, [0, k]).contiguous() as M64;
  const wu = scaleCols(mm(a, vk, opts.backend), invRoot);
  const wv = scaleRows(mm(vk.T, sInv, opts.backend), root);
  checkFinite(fn, 'W_v', wv);
  const report: LowRankReport = { method: 'svd-llm', rank: k, m, n, sigma, droppedEnergy: dropped, totalEnergy: total, route: 'gram' };
  return { layer: new LowRankLinear(toF32(wu), toF32(wv), { method: 'svd-llm' }), report };
}

/** SVD-LLM for one layer, returning just the `LowRankLinear` (see `svdLlmFactor` for the report). */
export function svdLlm(w: Tensor, g: Tensor, options: SvdLlmOptions = {}): LowRankLinear {
  return svdLlmFactor(w, g, options).layer;
}

/** Baseline: plain truncated SVD of W (S = I). */
export function svdLowRankFactor(w: Tensor, options: FactorOptions = {}): LowRankResult {
  const fn = 'svdLowRank';
  checkWeight(fn, w);
  return factor(fn, 'svd', toF64(w), { apply: (x) => x, applyInv: (x) => x }, options);
}
export function svdLowRank(w: Tensor, options: FactorOptions = {}): LowRankLinear {
  return svdLowRankFactor(w, options).layer;
}

/**
 * Baseline: ASVD (Yuan et al. 2023). S = diag(s), s_j = (mean_t |x_tj|)^α, α = 0.5 by default.
 * Channels whose mean |x| is 0 (never active in calibration) get the smallest positive scale
 * (or 1 when every channel is 0 would be meaningless: that throws).
 */
export function asvdFactor(w: Tensor, meanAbs: Tensor, options: AsvdOptions = {}): LowRankResult {
  const fn = 'asvd';
  const [, n] = checkWeight(fn, w);
  if (meanAbs.ndim !== 1 || meanAbs.shape[0] !== n)
    throw new ShapeError(fn, `argument 'meanAbs' must have shape [${n}] (one per input feature), got [${meanAbs.shape.join(', ')}]`);
  checkFinite(fn, 'meanAbs', meanAbs);
  const alpha = options.alpha ?? 0.5;
  if (typeof alpha !== 'number' || !(alpha >= 0) || !Number.isFinite(alpha))
    throw new ArgumentError(fn, 'options.alpha', alpha, 'must be a finite number >= 0');
  const ma = meanAbs.contiguous().data;
  let mx = 0,
    minPos = Infinity;
  for (let j = 0; j < n; j++) {
    if (ma[j]! < 0) throw new ArgumentError(fn, `meanAbs[${j}]`, ma[j], 'must be >= 0 (a mean of absolute values)');
    mx = Math.max(mx, ma[j]!);
    if (ma[j]! > 0) minPos = Math.min(minPos, ma[j]!);
  }
  if (!(mx > 0)) throw new ArgumentError(fn, 'meanAbs', meanAbs, 'must have a positive entry (all calibration inputs were zero)');
  const sc = new Float64Array(n),
    inv = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    sc[j] = Math.pow(ma[j]! > 0 ? ma[j]! : minPos, alpha);
    inv[j] = 1 / sc[j]!;
  }
  return factor(fn, 'asvd', toF64(w), { apply: (x) => scaleCols(x, sc), applyInv: (x) => scaleCols(x, inv) }, options);
}
export function asvd(w: Tensor, meanAbs: Tensor, options: AsvdOptions = {}): LowRankLinear {
  return asvdFactor(w, meanAbs, options).layer;
}
