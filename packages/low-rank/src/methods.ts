/**
 * The per-method shape (issue 18) for the low-rank methods:
 *   per layer  `<method>Layer(weight, stats, options) → { layer, report }`
 *   per model  `<method>Model(model, { calibration, backend, onProgress, signal, schedule, …options })
 *              → Promise<CompressResult>`, built on `compressLinears` of @llmpress/models.
 * SVD-LLM (whitening, optionally + the closed-form sequential update), ASVD and plain truncated SVD.
 */
import { ArgumentError, Tensor, type Backend } from '@llmpress/tensor';
import {
  compressLinears,
  LINEAR_ROLES,
  type LlamaModel,
  type LinearRole,
  type CalibrationWindows,
  type CalibrationSchedule,
  type CompressResult,
  type DriverProgress,
  type SequentialStats,
} from '@llmpress/models';
import {
  svdLlmFactor,
  svdLlmFactorFromInputs,
  svdLowRankFactor,
  asvdFactor,
  type LowRankReport,
  type Whitening,
  type SvdLlmRoute,
  type FactorOptions,
} from './svd-llm.js';
import type { WhitenResult } from '@llmpress/decompositions';
import { updateLowRank, type UpdateOptions, type UpdateReport } from './update.js';
import { checkRankSpec, type RankSpec } from './rank.js';
import type { LowRankLinear } from './low-rank.js';

/**
 * The statistics a low-rank layer function reads (a `SequentialStats` from the driver fits). `inputs`
 * ([T, n] rows of the layer's input) may stand in for the Gram of whitening-only SVD-LLM: when the
 * layer has fewer outputs than inputs and T < n the Gram route runs on the rows and the n × n Gram is
 * never formed (streaming's down projection).
 */
export type LowRankStats = Pick<SequentialStats, 'n' | 'count'> &
  Partial<Pick<SequentialStats, 'gram' | 'origGram' | 'crossGram' | 'meanAbs' | 'origMeanAbs'>> & { inputs?: Tensor };

export interface LowRankLayerReport extends LowRankReport {
  /** k·(m + n) and m·n. */
  params: number;
  denseParams: number;
  /** The sequential update's report (SVD-LLM with `update`). */
  update?: UpdateReport;
}
export interface LowRankLayerResult {
  layer: LowRankLinear;
  report: LowRankLayerReport;
}

interface CommonLayerOptions extends RankSpec {
  backend?: Backend;
  /**
   * With fewer calibration tokens than input features the Gram is singular: an ArgumentError by
   * default; `true` accepts it (the eigh whitening floors the missing directions).
   */
  allowRankDeficient?: boolean;
  /** Layer name used in error messages. */
  name?: string;
  solver?: FactorOptions['solver'];
  factors?: FactorOptions['factors'];
}

export interface SvdLlmLayerOptions extends CommonLayerOptions {
  /** The closed-form sequential update (`true` = defaults; an object sets ridge / sweeps). */
  update?: boolean | UpdateOptions;
  whitening?: Whitening;
  floor?: number;
  /** Default 'auto' (the Gram route for layers with fewer outputs than inputs). */
  route?: SvdLlmRoute;
  /**
   * Which Gram whitens the truncation: the ORIGINAL model's inputs ('original', default — whitening-only
   * then equals the paper's SVD-LLM whatever the schedule, and the update refits from there) or the
   * working (already compressed) model's inputs ('working').
   */
  whitenWith?: 'original' | 'working';
  /** A whitening of the Gram that whitens this layer, computed once and shared by the layers reading the same input. */
  whitened?: WhitenResult;
}

export interface AsvdLayerOptions extends CommonLayerOptions {
  /** Exponent on mean |x| (default 0.5). */
  alpha?: number;
  /** Mean |x| of the original model's inputs ('original', default) or of the working model's. */
  scaleWith?: 'original' | 'working';
}

export type SvdLayerOptions = Omit<CommonLayerOptions, 'allowRankDeficient'>;

function gramTensor(fn: string, name: string, arg: string, a: Float64Array | undefined, n: number): Tensor<'f64'> {
  if (!(a instanceof Float64Array) || a.length !== n * n) throw new ArgumentError(fn, arg, a, `must hold the ${n}×${n} f64 Gram of '${name}'`);
  return new Tensor('f64', a, [n, n]);
}

function checkStats(fn: string, weight: Tensor, stats: LowRankStats, allow: boolean | undefined, name: string): number {
  if (!weight || !(weight instanceof Tensor) || weight.ndim !== 2) throw new ArgumentError(fn, 'weight', weight, 'must be a matrix tensor [out, in]');
  const n = weight.shape[1]!;
  if (!stats || typeof stats !== 'object') throw new ArgumentError(fn, 'stats', stats, 'must be calibration statistics ({ n, count, gram, … })');
  if (stats.n !== n) throw new ArgumentError(fn, 'stats.n', stats.n, `must equal the weight's input features ${n}`);
  if (!allow && !(stats.count >= n)) {
    throw new ArgumentError(
      fn,
      'stats.count',
      `${stats.count} tokens`,
      `must be at least ${n} tokens so the Gram of '${name}' (${n} inputs) can be full rank (or set allowRankDeficient: true to floor it)`,
    );
  }
  return n;
}

function withParams(layer: LowRankLinear, report: LowRankReport, update?: UpdateReport): LowRankLayerResult {
  return { layer, report: { ...report, params: layer.params(), denseParams: layer.outFeatures * layer.inFeatures, ...(update ? { update } : {}) } };
}

function rankSpec(o: RankSpec): RankSpec {
  return o.rank !== undefined ? { rank: o.rank } : o.ratio !== undefined ? { ratio: o.ratio } : o.energy !== undefined ? { energy: o.energy } : {};
}

/**
 * SVD-LLM for one layer: whitening with the Gram (`whitenWith`), truncation, and with `update` the
 * closed-form refit against the original layer on the drifted inputs, min ‖W X − W_u W_v X̂‖_F, from
 * gram (X̂X̂ᵀ), origGram (XXᵀ) and crossGram (XX̂ᵀ).
 */
export function svdLlmLayer(weight: Tensor, stats: LowRankStats, options: SvdLlmLayerOptions = {}): LowRankLayerResult {
  const fn = 'svdLlmLayer';
  const name = options.name ?? 'layer';
  const n = checkStats(fn, weight, stats, options.allowRankDeficient, name);
  const ww = options.whitenWith ?? 'original';
  if (ww !== 'original' && ww !== 'working') throw new ArgumentError(fn, 'options.whitenWith', ww, "must be 'original' or 'working'");
  const update = options.update === true ? {} : options.update || undefined;
  if (update !== undefined && typeof update !== 'object')
    throw new ArgumentError(fn, 'options.update', options.update, 'must be a boolean or { ridge, sweeps }');
  const orig = stats.origGram ?? (update ? undefined : stats.gram);
  const factorOpts = {
    ...rankSpec(options),
    whitening: options.whitening,
    floor: options.floor,
    route: options.route ?? 'auto',
    solver: options.solver,
    factors: options.factors,
    backend: options.backend,
    whitened: options.whitened,
  };
  const haveGram = (ww === 'original' ? orig : stats.gram) !== undefined;
  if (!haveGram && !update && stats.inputs !== undefined) {
    const x = stats.inputs;
    if (!(x instanceof Tensor) || x.ndim !== 2 || x.shape[1] !== n)
      throw new ArgumentError(fn, 'stats.inputs', x, `must be the [T, ${n}] input rows of '${name}'`);
    const r = svdLlmFactorFromInputs(weight, x, factorOpts);
    return withParams(r.layer, r.report);
  }
  const g = ww === 'original' ? gramTensor(fn, name, 'stats.origGram', orig, n) : gramTensor(fn, name, 'stats.gram', stats.gram, n);
  const r = svdLlmFactor(weight, g, factorOpts);
  if (!update) return withParams(r.layer, r.report);
  const u = updateLowRank(
    weight,
    r.layer,
    {
      gram: gramTensor(fn, name, 'stats.gram', stats.gram, n),
      origGram: gramTensor(fn, name, 'stats.origGram', stats.origGram, n),
      crossGram: gramTensor(fn, name, 'stats.crossGram', stats.crossGram, n),
    },
    { ...update, backend: update.backend ?? options.backend },
  );
  return withParams(u.layer, r.report, u.report);
}

/** ASVD for one layer: S = diag(mean|x|)^α before the SVD (mean |x| of the original inputs by default). */
export function asvdLayer(weight: Tensor, stats: LowRankStats, options: AsvdLayerOptions = {}): LowRankLayerResult {
  const fn = 'asvdLayer';
  const name = options.name ?? 'layer';
  const n = checkStats(fn, weight, stats, options.allowRankDeficient, name);
  const sw = options.scaleWith ?? 'original';
  if (sw !== 'original' && sw !== 'working') throw new ArgumentError(fn, 'options.scaleWith', sw, "must be 'original' or 'working'");
  const ma = sw === 'original' ? (stats.origMeanAbs ?? stats.meanAbs) : stats.meanAbs;
  if (!(ma instanceof Float64Array) || ma.length !== n)
    throw new ArgumentError(fn, sw === 'original' ? 'stats.origMeanAbs' : 'stats.meanAbs', ma, `must hold ${n} per-channel mean |x| values of '${name}'`);
  const r = asvdFactor(weight, new Tensor('f64', ma, [n]), {
    ...rankSpec(options),
    alpha: options.alpha,
    solver: options.solver,
    factors: options.factors,
    backend: options.backend,
  });
  return withParams(r.layer, r.report);
}

/** Plain truncated SVD of one layer (data-free). */
export function svdLayer(weight: Tensor, options: SvdLayerOptions = {}): LowRankLayerResult {
  const r = svdLowRankFactor(weight, { ...rankSpec(options), solver: options.solver, factors: options.factors, backend: options.backend });
  return withParams(r.layer, r.report);
}

interface CommonModelOptions {
  /** Fraction of each compressed linear's parameters to remove, in (0, 1). */
  ratio: number;
  backend?: Backend;
  onProgress?: (p: DriverProgress) => void;
  signal?: AbortSignal;
  /** Which roles / blocks to compress (default all). */
  roles?: readonly LinearRole[];
  blocks?: readonly number[];
  solver?: FactorOptions['solver'];
  factors?: FactorOptions['factors'];
}

export interface SvdLlmModelOptions
  extends CommonModelOptions,
    Omit<SvdLlmLayerOptions, keyof RankSpec | 'name' | 'backend' | 'solver' | 'factors' | 'whitened'> {
  /** Calibration token windows (disjoint from evaluation). */
  calibration: CalibrationWindows;
  /**
   * Default: 'sequential' with `update` (true-sequential per group), 'dense' without (whitening-only reads
   * the original model's Grams, identical under every schedule, so the cheapest one runs).
   */
  schedule?: CalibrationSchedule;
}
export interface AsvdModelOptions extends CommonModelOptions, Omit<AsvdLayerOptions, keyof RankSpec | 'name' | 'backend' | 'solver' | 'factors'> {
  calibration: CalibrationWindows;
  /** Default 'dense' (mean |x| of the original model). */
  schedule?: CalibrationSchedule;
}
export type SvdModelOptions = CommonModelOptions;

const ROLE_SET = new Set<string>(LINEAR_ROLES);

/** Fails before any heavy work: the model, the ratio, every layer dense and a rank ≥ 1 at the ratio. */
function precheck(fn: string, model: LlamaModel, options: CommonModelOptions): void {
  if (!model || typeof (model as any).linears !== 'function' || typeof (model as any).clone !== 'function')
    throw new ArgumentError(fn, 'model', model, 'must be a LlamaModel');
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  const ratio = options.ratio;
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1))
    throw new ArgumentError(fn, 'options.ratio', ratio, 'must be a number in the open interval (0, 1)');
  const roles = options.roles ?? LINEAR_ROLES;
  if (!Array.isArray(roles) || roles.length === 0 || roles.some((r) => !ROLE_SET.has(r)))
    throw new ArgumentError(fn, 'options.roles', roles, `must hold only ${LINEAR_ROLES.join(', ')}`);
  for (const e of model.linears()) {
    if (!roles.includes(e.role) || (options.blocks && !options.blocks.includes(e.block))) continue;
    if (e.layer.kind !== 'dense') throw new ArgumentError(fn, `model.${e.name}`, e.layer.kind, 'must be a dense layer (compress an uncompressed model)');
    checkRankSpec(fn, e.layer.outFeatures, e.layer.inFeatures, { ratio });
  }
}

function outcome(r: LowRankLayerResult) {
  return { layer: r.layer, report: r.report, bytes: r.layer.bytes(), kind: r.layer.kind };
}

/** SVD-LLM over a whole model on the one driver. */
export async function svdLlmModel(model: LlamaModel, options: SvdLlmModelOptions): Promise<CompressResult<LowRankLayerReport>> {
  const fn = 'svdLlmModel';
  precheck(fn, model, options);
  const { calibration, schedule, onProgress, signal, roles, blocks, backend, ratio, ...layerOpts } = options;
  return compressLinears(model, {
    calibration,
    roles,
    blocks,
    backend,
    onProgress,
    signal,
    schedule: schedule ?? (options.update ? 'sequential' : 'dense'),
    compress: (job, ctx) => outcome(svdLlmLayer(job.weight, job.stats, { ...layerOpts, ratio, name: job.name, backend: ctx.backend })),
  });
}

/** ASVD over a whole model on the one driver. */
export async function asvdModel(model: LlamaModel, options: AsvdModelOptions): Promise<CompressResult<LowRankLayerReport>> {
  const fn = 'asvdModel';
  precheck(fn, model, options);
  const { calibration, schedule, onProgress, signal, roles, blocks, backend, ratio, ...layerOpts } = options;
  return compressLinears(model, {
    calibration,
    roles,
    blocks,
    backend,
    onProgress,
    signal,
    schedule: schedule ?? 'dense',
    compress: (job, ctx) => outcome(asvdLayer(job.weight, job.stats, { ...layerOpts, ratio, name: job.name, backend: ctx.backend })),
  });
}

/** Plain truncated SVD over a whole model (data-free; no calibration runs). */
export async function svdModel(model: LlamaModel, options: SvdModelOptions): Promise<CompressResult<LowRankLayerReport>> {
  const fn = 'svdModel';
  precheck(fn, model, options);
  const { onProgress, signal, roles, blocks, backend, ratio, solver, factors } = options;
  return compressLinears(model, {
    dataFree: true,
    roles,
    blocks,
    backend,
    onProgress,
    signal,
    compress: (job, ctx) => outcome(svdLayer(job.weight, { ratio, solver, factors, backend: ctx.backend })),
  });
}
