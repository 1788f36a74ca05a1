/**
 * Whole-model low-rank compression in one call (the earlier API, kept): `compressModel(model,
 * { method, ratio, update, calibration, … })` dispatches to `svdLlmModel` / `asvdModel` / `svdModel`
 * (the per-method functions on the one driver, `compressLinears` of @llmpress/models) and returns
 * the result in its own shape (params as well as bytes, per-layer rank and update report).
 */
import { ArgumentError, DenseLinear, type Backend } from '@llmpress/tensor';
import { LINEAR_ROLES, type LlamaModel, type LinearRole, type CalibrationWindows, type CalibrationSchedule, type CompressResult } from '@llmpress/models';
import { LowRankLinear } from './low-rank.js';
import type { LowRankReport, Whitening, SvdLlmRoute, LowRankMethodName } from './svd-llm.js';
import type { UpdateOptions, UpdateReport } from './update.js';
import { svdLlmModel, asvdModel, svdModel, type LowRankLayerReport } from './methods.js';

/** Token windows, as `evalSplit().calibration` returns them (or plain token arrays). */
export type Windows = CalibrationWindows;

export interface CompressModelOptions {
  method: LowRankMethodName;
  /** Fraction of each compressed linear's parameters to remove, in (0, 1). */
  ratio: number;
  /** SVD-LLM's sequential update (closed form). `true` = defaults; an object sets ridge/sweeps. Only for method 'svd-llm'. */
  update?: boolean | UpdateOptions;
  /** Calibration token windows (disjoint from evaluation!). Required for 'svd-llm' and 'asvd'. */
  calibration?: Windows;
  whitening?: Whitening;
  floor?: number;
  /**
   * SVD-LLM's computation per layer (see `SvdLlmRoute`). Default 'auto': the Gram route (m × m
   * eigendecomposition of W G Wᵀ) for layers with fewer outputs than inputs — the down projection —
   * and the paper's whitening route elsewhere. Same truncation in exact arithmetic.
   */
  route?: SvdLlmRoute;
  /** ASVD exponent (default 0.5). */
  alpha?: number;
  /**
   * With `update`: whiten with the Gram of the inputs the ORIGINAL model produces ('original', the
   * same factors as whitening-only, then refit) or of the inputs the compressed prefix produces
   * ('compressed'). Default 'original'.
   */
  updateWhitening?: 'original' | 'compressed';
  /** Calibration schedule (see `CalibrationSchedule`); default as `svdLlmModel` / `asvdModel`. */
  schedule?: CalibrationSchedule;
  /** Which roles to compress (default all seven). */
  roles?: readonly LinearRole[];
  /**
   * Calibration with fewer tokens than a layer's input width gives a singular Gram. By default that
   * is an ArgumentError; `true` accepts it (the eigh whitening floors the missing directions).
   */
  allowRankDeficient?: boolean;
  onProgress?: (event: CompressProgress) => void;
  backend?: Backend;
  signal?: AbortSignal;
}

export interface CompressProgress {
  stage: 'calibrate' | 'compress';
  name?: string;
  block: number;
  role?: LinearRole;
  done: number;
  total: number;
}

export interface CompressedLayerInfo {
  name: string;
  block: number;
  role: LinearRole;
  outFeatures: number;
  inFeatures: number;
  rank: number;
  params: number;
  bytes: number;
  denseParams: number;
  report: LowRankReport;
  update?: UpdateReport;
}

export interface CompressModelResult {
  model: LlamaModel;
  layers: CompressedLayerInfo[];
  /** Parameters / bytes of the compressed linears, and what they were dense. */
  params: number;
  bytes: number;
  denseParams: number;
  denseBytes: number;
  /** Name of the backend that ran. */
  backend: string;
}

/** Loader map for `loadCompressedModel(file, { kinds })`. */
export const lowRankKinds = { 'low-rank': LowRankLinear.deserialize, dense: DenseLinear.deserialize } as const;

export async function compressModel(model: LlamaModel, options: CompressModelOptions): Promise<CompressModelResult> {
  const fn = 'compressModel';
  if (!model || typeof (model as any).linears !== 'function' || typeof (model as any).clone !== 'function')
    throw new ArgumentError(fn, 'model', model, 'must be a LlamaModel');
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  const method = options.method;
  if (method !== 'svd-llm' && method !== 'svd' && method !== 'asvd')
    throw new ArgumentError(fn, 'options.method', method, "must be 'svd-llm', 'svd' or 'asvd'");
  const update = options.update === true ? {} : options.update || undefined;
  if (update && method !== 'svd-llm') throw new ArgumentError(fn, 'options.update', options.update, "is only defined for method 'svd-llm'");
  const uw = options.updateWhitening ?? 'original';
  if (uw !== 'original' && uw !== 'compressed') throw new ArgumentError(fn, 'options.updateWhitening', uw, "must be 'original' or 'compressed'");
  const roles = options.roles ?? LINEAR_ROLES;
  for (const r of roles) if (!LINEAR_ROLES.includes(r)) throw new ArgumentError(fn, 'options.roles', roles, `must hold only ${LINEAR_ROLES.join(', ')}`);
  if (method !== 'svd' && (!options.calibration || (options.calibration as any).length === 0))
    throw new ArgumentError(fn, 'options.calibration', options.calibration, `must be a non-empty list of token windows for method '${method}'`);
  // progress in this function's own shape: 'compress' events carry done = 1..total (the layer being built)
  const onProgress = options.onProgress
    ? (p: { phase: 'calibrate' | 'compress'; layer: string; done: number; total: number }) => {
        const [, b, role] = p.layer.split('.');
        if (p.phase === 'calibrate') options.onProgress!({ stage: 'calibrate', block: Number(b), done: p.done, total: p.total });
        else options.onProgress!({ stage: 'compress', name: p.layer, block: Number(b), role: role as LinearRole, done: p.done + 1, total: p.total });
      }
    : undefined;
  const common = { ratio: options.ratio, roles, backend: options.backend, signal: options.signal, onProgress };
  let res: CompressResult<LowRankLayerReport>;
  if (method === 'svd') res = await svdModel(model, common);
  else if (method === 'asvd')
    res = await asvdModel(model, {
      ...common,
      calibration: options.calibration!,
      alpha: options.alpha,
      allowRankDeficient: options.allowRankDeficient,
      schedule: options.schedule,
    });
  else
    res = await svdLlmModel(model, {
      ...common,
      calibration: options.calibration!,
      update,
      whitening: options.whitening,
      floor: options.floor,
      route: options.route,
      whitenWith: uw === 'compressed' ? 'working' : 'original',
      allowRankDeficient: options.allowRankDeficient,
      schedule: options.schedule,
    });
  const layers: CompressedLayerInfo[] = res.layers.map((l) => {
    const L = res.model.getLinear(l.name) as LowRankLinear;
    const [, b, role] = l.name.split('.');
    const { params, denseParams, update: upd, ...report } = l.report;
    return {
      name: l.name,
      block: Number(b),
      role: role as LinearRole,
      outFeatures: L.outFeatures,
      inFeatures: L.inFeatures,
      rank: L.rank,
      params,
      bytes: l.bytes,
      denseParams,
      report,
      update: upd,
    };
  });
  let params = 0,
    bytes = 0,
    denseParams = 0;
  for (const l of layers) {
    params += l.params;
    bytes += l.bytes;
    denseParams += l.denseParams;
  }
  return { model: res.model, layers, params, bytes, denseParams, denseBytes: 4 * denseParams, backend: res.backend };
}
