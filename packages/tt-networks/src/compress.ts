/**
 * `compressModelTT`: every per-block linear of a model replaced at a total byte budget.
 *
 * Budget rule (tested): each layer gets the same fraction of its dense f32 bytes
 * (budget · bytes_l / Σ bytes), floored to whole bytes; inside a layer, the split between TT
 * cores (or low-rank factors) and sparse values + indices is the one, among the offered shares,
 * with the smallest proxy error — the whitened relative error sqrt(tr(E G Eᵀ)/tr(W G Wᵀ)) when
 * calibration Grams are given, the relative Frobenius error otherwise.
 */
import { ArgumentError, Tensor, matmul, type Backend, type LinearLayer } from '@llmpress/tensor';
import { cholesky, choleskySolve } from '@llmpress/decompositions';
import {
  compressLinears,
  LINEAR_ROLES,
  type LlamaModel,
  type LinearRole,
  type CalibrationWindows,
  type CalibrationSchedule,
  type CompressResult,
  type DriverProgress,
} from '@llmpress/models';
import { planLayer, fitTT, fitLowRank, type FitReport, type LayerPlan, type SparseKind } from './saten.js';
import type { ShapeSearchOptions } from './tt.js';
import type { TTSparseLinear, LowRankSparseLinear } from './layers.js';

export type TTMethod = 'tt' | 'saten-u' | 'saten-2:4' | 'lowrank' | 'lowrank-u' | 'lowrank-2:4';

const METHODS: Record<TTMethod, { family: 'tt' | 'lowrank'; sparse: SparseKind }> = {
  tt: { family: 'tt', sparse: 'none' },
  'saten-u': { family: 'tt', sparse: 'unstructured' },
  'saten-2:4': { family: 'tt', sparse: '2:4' },
  lowrank: { family: 'lowrank', sparse: 'none' },
  'lowrank-u': { family: 'lowrank', sparse: 'unstructured' },
  'lowrank-2:4': { family: 'lowrank', sparse: '2:4' },
};

/** The structural part of a model this needs (a `LlamaModel` of @llmpress/models fits). */
export interface CompressibleModel<M> {
  linears(): ReadonlyArray<{ name: string; layer: LinearLayer }>;
  setLinear(name: string, layer: LinearLayer): void;
  clone(): M;
}

export interface CompressTTOptions {
  method: TTMethod;
  /** Total stored bytes allowed for all the compressed linears. */
  budget: number;
  /** Fit cores / factors in the whitened space of the calibration Gram (default: true when calibration is given). */
  whitened?: boolean;
  /** Calibration statistics per linear name (e.g. `captureLinearStats(model, windows)` of @llmpress/models): `gram` is Σ x xᵀ, n × n f64. */
  calibration?: ReadonlyMap<string, { gram?: Float64Array }>;
  /** Shares of each layer budget offered to the sparse part (see `FitOptions.shares`). */
  shares?: readonly number[];
  search?: ShapeSearchOptions;
  /**
   * Reuse of per-layer work (SVDs, TT candidates) across calls with the same model, calibration
   * and `whitened`: pass the same Map every time. Opaque.
   */
  cache?: Map<string, unknown>;
  /** Only these linear names (default all). */
  names?: readonly string[];
  backend?: Backend;
  onLayer?(name: string, report: FitReport, done: number, total: number): void;
}

export interface CompressTTResult<M> {
  model: M;
  layers: { name: string; kind: string; budget: number; report: FitReport }[];
  /** Σ bytes of the compressed linears (≤ budget). */
  bytes: number;
  /** Σ dense f32 bytes of the same linears. */
  denseBytes: number;
}

/** Dense weight of a layer (f64 copy of `toDense()`). */
function weightOf(layer: LinearLayer): Float64Array {
  return Float64Array.from(layer.toDense().contiguous().data as Float32Array);
}

export function compressModelTT<M extends CompressibleModel<M>>(model: M, options: CompressTTOptions): CompressTTResult<M> {
  const fn = 'compressModelTT';
  if (!model || typeof model.linears !== 'function' || typeof model.setLinear !== 'function' || typeof model.clone !== 'function') {
    throw new ArgumentError(fn, 'model', model, 'must have linears(), setLinear() and clone() (e.g. a LlamaModel)');
  }
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  const spec = METHODS[options.method];
  if (!spec) throw new ArgumentError(fn, 'options.method', options.method, `must be one of ${Object.keys(METHODS).join(', ')}`);
  if (!(options.budget > 0) || !Number.isFinite(options.budget))
    throw new ArgumentError(fn, 'options.budget', options.budget, 'must be a positive finite number of bytes');
  const whitened = options.whitened ?? options.calibration !== undefined;
  if (whitened && !options.calibration) throw new ArgumentError(fn, 'options.whitened', true, 'needs options.calibration (Gram matrices per linear)');
  const entries = model.linears().filter((e) => !options.names || options.names.includes(e.name));
  if (entries.length === 0) throw new ArgumentError(fn, 'options.names', options.names, 'must select at least one linear of the model');
  const denseBytes = entries.reduce((a, e) => a + 4 * e.layer.inFeatures * e.layer.outFeatures, 0);
  const frac = options.budget / denseBytes;
  const out = model.clone();
  const layers: CompressTTResult<M>['layers'] = [];
  let total = 0;
  entries.forEach((e, idx) => {
    const m = e.layer.outFeatures,
      n = e.layer.inFeatures;
    const gram = options.calibration?.get(e.name)?.gram;
    if (options.calibration && !gram) throw new ArgumentError(fn, 'options.calibration', e.name, 'has no gram for this linear');
    const budget = Math.floor(frac * 4 * m * n);
    const fit = fitOne(
      fn,
      e.name,
      weightOf(e.layer),
      m,
      n,
      gram,
      { method: options.method, bytes: budget, whitened, shares: options.shares, search: options.search, cache: options.cache, backend: options.backend },
      'options.budget',
      options.budget,
    );
    out.setLinear(e.name, fit.layer);
    total += fit.layer.bytes();
    layers.push({ name: e.name, kind: fit.layer.kind, budget, report: fit.report });
    options.onLayer?.(e.name, fit.report, idx + 1, entries.length);
  });
  return { model: out, layers, bytes: total, denseBytes };
}

/** One layer's fit (shared by `compressModelTT`, `satenLayer` and so `satenModel`). */
function fitOne(
  fn: string,
  name: string,
  w: Float64Array,
  m: number,
  n: number,
  gram: Float64Array | undefined,
  o: {
    method: TTMethod;
    bytes: number;
    whitened: boolean;
    shares?: readonly number[];
    search?: ShapeSearchOptions;
    cache?: Map<string, unknown>;
    backend?: Backend;
  },
  budgetArg: string,
  budgetValue: unknown,
): { layer: TTSparseLinear | LowRankSparseLinear; report: FitReport } {
  const spec = METHODS[o.method];
  const tooFew = () =>
    new ArgumentError(
      fn,
      budgetArg,
      budgetValue,
      `leaves ${o.bytes} bytes for '${name}' (${m}×${n}), too few for a rank-1 ${spec.family === 'tt' ? 'TT' : 'factorization'}`,
    );
  if (!(o.bytes >= 1)) throw tooFew();
  // the plan (SVDs, TT candidates) depends on W and the Gram: the key fingerprints both, so a cache is
  // only ever reused for the same statistics (under the sequential schedule every run has its own)
  const key = `${name}|${m}x${n}|${o.whitened}|${gram ? fingerprint(gram) : '-'}|${fingerprint(w)}|${JSON.stringify(o.search ?? {})}`;
  let plan = o.cache?.get(key) as LayerPlan | undefined;
  if (!plan) {
    plan = planLayer(w, m, n, { gram, whitened: o.whitened, search: o.search, backend: o.backend });
    o.cache?.set(key, plan);
  }
  const fit =
    spec.family === 'tt'
      ? fitTT(plan, { bytes: o.bytes, sparse: spec.sparse, shares: o.shares })
      : fitLowRank(plan, { bytes: o.bytes, sparse: spec.sparse, shares: o.shares });
  if (!fit) throw tooFew();
  return { layer: fit.layer, report: fit.report };
}

/** A cheap content fingerprint of a matrix (length, sum, weighted sum): distinguishes Grams of different runs. */
function fingerprint(a: Float64Array): string {
  let s = 0,
    t = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    s += v;
    t += v * Math.cos(1 + 0.37 * i);
  }
  return `${a.length}:${s.toPrecision(17)}:${t.toPrecision(17)}`;
}

export interface SatenLayerOptions {
  method: TTMethod;
  /** Stored bytes allowed for this layer. */
  bytes: number;
  /** Fit in the whitened space of the Gram (default: true when the stats carry a Gram). */
  whitened?: boolean;
  /**
   * What the data-aware fit minimises, with X the original model's inputs of the layer and X̂ the
   * inputs it sees in the compressed model (the driver's stats):
   * - 'corrected' (default): ‖W X − Ŵ X̂‖_F, the layer's original outputs from its actual inputs. Exactly
   *   ‖(Ŵ − W*) Ĝ^{1/2}‖_F² + const with W* = (W C + μW)(Ĝ + μI)⁻¹ (C = X X̂ᵀ, Ĝ = X̂ X̂ᵀ, μ = ridge·tr(Ĝ)/n):
   *   the fit runs on W* whitened by Ĝ. Needs `origGram`/`crossGram`; without drift W* = W.
   * - 'working': ‖(W − Ŵ) X̂‖_F (Ĝ only; GPTQ's choice) — ignores the drift of the targets.
   * - 'original': ‖(W − Ŵ) X‖_F (G only; the previous behaviour, the same under every schedule).
   * Under the 'dense' schedule all three coincide. `relError` in the report is measured against the
   * weight that was fitted (W* for 'corrected').
   */
  fit?: 'corrected' | 'working' | 'original';
  /** δ of the 'corrected' fit's ridge μ = δ·tr(Ĝ)/n (default 0.01). */
  ridge?: number;
  /**
   * 'corrected' needs at least this many calibration tokens per input feature (`stats.count ≥ k·n`,
   * default 16); with fewer it runs 'working' (W* = W, Ĝ). W* is a regression of the original outputs on
   * the drifted inputs, n unknowns per row: from a few × n tokens it fits the noise of the sample (on
   * stories260K from 256 tokens: perplexity in the thousands, and chaotic — reference vs WASM f64
   * summation order alone moved it from 1941 to 2902). `report.fit` says which fit ran.
   */
  minTokensPerFeature?: number;
  shares?: readonly number[];
  search?: ShapeSearchOptions;
  /** Reuse of per-layer plans across calls with the same weight and statistics (opaque). */
  cache?: Map<string, unknown>;
  backend?: Backend;
  /** Layer name used in errors and cache keys. */
  name?: string;
}

/** The statistics `satenLayer` reads (a `SequentialStats` of the driver fits); omit for the data-free variants. */
export interface SatenStats {
  n: number;
  count: number;
  gram?: Float64Array;
  origGram?: Float64Array;
  crossGram?: Float64Array;
}

/**
 * TT / Saten / low-rank (+ sparse) for one layer at a byte budget: `{ layer, report }`. With stats
 * carrying a Gram, the data-aware variant (whitened fit, Wanda-style sparse selection); without, data-free.
 */
export function satenLayer(
  weight: Tensor,
  stats: SatenStats | undefined,
  options: SatenLayerOptions,
): { layer: TTSparseLinear | LowRankSparseLinear; report: FitReport } {
  return satenLayerAt('satenLayer', 'options.bytes', options?.bytes, weight, stats, options);
}

function satenLayerAt(
  fn: string,
  budgetArg: string,
  budgetValue: unknown,
  weight: Tensor,
  stats: SatenStats | undefined,
  options: SatenLayerOptions,
): { layer: TTSparseLinear | LowRankSparseLinear; report: FitReport } {
  if (!(weight instanceof Tensor) || weight.ndim !== 2) throw new ArgumentError(fn, 'weight', weight, 'must be a matrix tensor [out, in]');
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  if (!METHODS[options.method]) throw new ArgumentError(fn, 'options.method', options.method, `must be one of ${Object.keys(METHODS).join(', ')}`);
  if (!(options.bytes >= 0) || !Number.isFinite(options.bytes))
    throw new ArgumentError(fn, 'options.bytes', options.bytes, 'must be a finite number of bytes >= 0');
  const [m, n] = weight.shape as [number, number];
  const fit = options.fit ?? 'corrected';
  if (fit !== 'corrected' && fit !== 'working' && fit !== 'original')
    throw new ArgumentError(fn, 'options.fit', fit, "must be 'corrected', 'working' or 'original'");
  const ridge = options.ridge ?? 0.01;
  if (typeof ridge !== 'number' || !(ridge >= 0) || !Number.isFinite(ridge))
    throw new ArgumentError(fn, 'options.ridge', ridge, 'must be a finite number >= 0');
  const minPer = options.minTokensPerFeature ?? 16;
  if (typeof minPer !== 'number' || !(minPer >= 0) || !Number.isFinite(minPer))
    throw new ArgumentError(fn, 'options.minTokensPerFeature', minPer, 'must be a finite number >= 0');
  let ran: 'corrected' | 'working' | 'original' | undefined;
  let gram: Float64Array | undefined;
  let w: Float64Array = Float64Array.from(weight.contiguous().data as ArrayLike<number>);
  const sq = (arg: string, g: Float64Array | undefined): Float64Array | undefined => {
    if (g === undefined || g.length === 0) return undefined;
    if (!(g instanceof Float64Array) || g.length !== n * n) throw new ArgumentError(fn, arg, g, `must be an ${n}×${n} f64 Gram`);
    return g;
  };
  if (stats !== undefined && stats !== null) {
    if (typeof stats !== 'object' || stats.n !== n)
      throw new ArgumentError(fn, 'stats.n', (stats as SatenStats)?.n, `must equal the weight's input features ${n}`);
    if (fit === 'original') gram = sq('stats.origGram', stats.origGram) ?? sq('stats.gram', stats.gram);
    else gram = sq('stats.gram', stats.gram);
    ran = gram ? fit : undefined;
    if (fit === 'corrected' && gram) {
      const c = sq('stats.crossGram', stats.crossGram);
      if (!c) throw new ArgumentError(fn, 'stats.crossGram', stats.crossGram, "is needed by fit 'corrected' (or pass fit: 'working')");
      // too few tokens for the n-unknowns-per-row regression: 'working' (see `minTokensPerFeature`)
      if (!(stats.count >= minPer * n)) ran = 'working';
      else if (!sameValues(c, gram)) w = correctedTarget(w, m, n, gram, c, ridge, options.backend); // no drift (first group, 'dense'): W* = W
    }
  }
  const whitened = options.whitened ?? gram !== undefined;
  if (whitened && !gram) throw new ArgumentError(fn, 'options.whitened', true, 'needs calibration statistics with a Gram');
  const r = fitOne(
    fn,
    options.name ?? 'layer',
    w,
    m,
    n,
    gram,
    {
      method: options.method,
      bytes: Math.floor(options.bytes),
      whitened,
      shares: options.shares,
      search: options.search,
      cache: options.cache,
      backend: options.backend,
    },
    budgetArg,
    budgetValue,
  );
  if (ran) r.report = { ...r.report, fit: ran };
  return r;
}

export interface SatenModelOptions extends Omit<SatenLayerOptions, 'bytes' | 'name' | 'backend'> {
  /** Total stored bytes for the compressed linears; each gets budget·(its dense bytes)/Σ dense bytes. */
  budget: number;
  /** Calibration token windows: the data-aware variant. Omit for the data-free one. */
  calibration?: CalibrationWindows;
  /** Default 'sequential' (true-sequential per group); 'per-block' and 'dense' are ablations. */
  schedule?: CalibrationSchedule;
  roles?: readonly LinearRole[];
  blocks?: readonly number[];
  backend?: Backend;
  onProgress?: (p: DriverProgress) => void;
  signal?: AbortSignal;
}

/** TT / Saten / low-rank (+ sparse) over a whole model on the one driver (`compressLinears`). */
export async function satenModel(model: LlamaModel, options: SatenModelOptions): Promise<CompressResult<FitReport>> {
  const fn = 'satenModel';
  if (!model || typeof (model as any).linears !== 'function') throw new ArgumentError(fn, 'model', model, 'must be a LlamaModel');
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  if (!METHODS[options.method]) throw new ArgumentError(fn, 'options.method', options.method, `must be one of ${Object.keys(METHODS).join(', ')}`);
  if (!(options.budget > 0) || !Number.isFinite(options.budget))
    throw new ArgumentError(fn, 'options.budget', options.budget, 'must be a positive finite number of bytes');
  const roles = options.roles ?? LINEAR_ROLES;
  const selected = model.linears().filter((e) => roles.includes(e.role) && (!options.blocks || options.blocks.includes(e.block)));
  if (selected.length === 0) throw new ArgumentError(fn, 'options.roles', options.roles, 'must select at least one linear of the model');
  const denseBytes = selected.reduce((a, e) => a + 4 * e.layer.inFeatures * e.layer.outFeatures, 0);
  const frac = options.budget / denseBytes;
  const dataFree = options.calibration === undefined;
  if (dataFree && options.whitened) throw new ArgumentError(fn, 'options.whitened', true, 'needs options.calibration (token windows)');
  const { budget: _b, calibration, schedule, roles: _r, blocks, backend, onProgress, signal, ...layerOpts } = options;
  return compressLinears(model, {
    calibration,
    dataFree,
    schedule,
    roles,
    blocks,
    backend,
    onProgress,
    signal,
    compress: (job, ctx) => {
      const m = job.weight.shape[0]!,
        n = job.weight.shape[1]!;
      const bytes = Math.floor(frac * 4 * m * n);
      const r = satenLayerAt(fn, 'options.budget', options.budget, job.weight, dataFree ? undefined : job.stats, {
        ...layerOpts,
        bytes,
        name: job.name,
        backend: ctx.backend,
      });
      return { layer: r.layer, report: r.report, bytes: r.layer.bytes(), kind: r.layer.kind };
    },
  });
}

/** W* = (W C + μW)(Ĝ + μI)⁻¹, μ = δ·tr(Ĝ)/n: the dense weight that best maps the drifted inputs to the original outputs. */
function correctedTarget(w: Float64Array, m: number, n: number, gHat: Float64Array, c: Float64Array, delta: number, backend?: Backend): Float64Array {
  let tr = 0;
  for (let i = 0; i < n; i++) tr += gHat[i * n + i]!;
  const mu = (delta * tr) / n;
  const W = new Tensor('f64', w, [m, n]);
  const b = matmul(W, new Tensor('f64', c, [n, n]), { backend }).contiguous().data as Float64Array; // m × n
  for (let i = 0; i < b.length; i++) b[i]! += mu * w[i]!;
  const M = Float64Array.from(gHat);
  // a tiny floor keeps the factorisation defined when δ = 0 and Ĝ is singular
  const floor = mu > 0 ? 0 : 1e-12 * Math.max(tr / n, Number.MIN_VALUE);
  for (let i = 0; i < n; i++) M[i * n + i]! += mu + floor;
  const { l } = cholesky(new Tensor('f64', M, [n, n]), { backend });
  // (Ĝ + μI) W*ᵀ = Bᵀ
  const bt = new Tensor('f64', b, [m, n]).T.contiguous();
  const xt = choleskySolve(l, bt, { backend }).contiguous().data as Float64Array; // n × m
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = xt[j * m + i]!;
  return out;
}

function sameValues(a: Float64Array, b: Float64Array): boolean {
  if (a === b) return true;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
