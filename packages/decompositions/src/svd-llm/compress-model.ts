/**
 * Whole-model low-rank compression: every q, k, v, o, gate, up, down of every block of a Llama
 * model, with SVD-LLM (whitening, optionally + the closed-form sequential update), plain SVD or
 * ASVD, at one parameter-removal ratio. Shapes come from each layer (hence from the config), so
 * GQA models (k/v narrower than q) need nothing special.
 */
import { ArgumentError, DenseLinear, Tensor, type Backend, type LinearLayer } from '@llmpress/tensor';
import { captureLinearStats, sequentialCalibration, LINEAR_ROLES, type LlamaModel, type LinearRole, type CalibrationWindows, type SequentialStats } from '@llmpress/models';
import { LowRankLinear } from './low-rank.js';
import { svdLlmFactor, svdLowRankFactor, asvdFactor, type LowRankReport, type Whitening, type SvdLlmRoute, type LowRankMethodName } from './svd-llm.js';
import { updateLowRank, type UpdateOptions, type UpdateReport } from './update.js';
import { rankFromRatio } from './rank.js';

/** Token windows, as `evalSplit().calibration` returns them (or plain token arrays). */
export type Windows = CalibrationWindows;

function sq(fn: string, name: string, a: Float64Array | undefined, n: number): Tensor<'f64'> {
  if (!(a instanceof Float64Array) || a.length !== n * n) throw new ArgumentError(fn, `stats of '${name}'`, a, `must hold an ${n}×${n} f64 Gram`);
  return new Tensor('f64', a, [n, n]);
}

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
  /** Which roles to compress (default all seven). */
  roles?: readonly LinearRole[];
  /**
   * Calibration with fewer tokens than a layer's input width gives a singular Gram. By default that
   * is an ArgumentError; `true` accepts it (the eigh whitening floors the missing directions).
   */
  allowRankDeficient?: boolean;
  onProgress?: (event: CompressProgress) => void;
  backend?: Backend;
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
}

/** Loader map for `loadCompressedModel(file, { kinds })`. */
export const lowRankKinds = { 'low-rank': LowRankLinear.deserialize, dense: DenseLinear.deserialize } as const;

function denseWeight(fn: string, name: string, layer: LinearLayer): Tensor {
  if (layer.kind !== 'dense') throw new ArgumentError(fn, `model.${name}`, layer.kind, "must be a dense layer (compress an uncompressed model)");
  return layer.toDense();
}

function checkCount(fn: string, name: string, count: number, n: number, allow: boolean): void {
  if (!allow && !(count >= n)) {
    throw new ArgumentError(fn, 'options.calibration', `${count} tokens`, `must hold at least ${n} tokens so the Gram of '${name}' (${n} inputs) can be full rank (or set allowRankDeficient: true to floor it)`);
  }
}

export async function compressModel(model: LlamaModel, options: CompressModelOptions): Promise<CompressModelResult> {
  const fn = 'compressModel';
  if (!model || typeof (model as any).linears !== 'function' || typeof (model as any).clone !== 'function') throw new ArgumentError(fn, 'model', model, 'must be a LlamaModel');
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  const method = options.method;
  if (method !== 'svd-llm' && method !== 'svd' && method !== 'asvd') throw new ArgumentError(fn, 'options.method', method, "must be 'svd-llm', 'svd' or 'asvd'");
  const ratio = options.ratio;
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1)) throw new ArgumentError(fn, 'options.ratio', ratio, 'must be a number in the open interval (0, 1)');
  const update = options.update === true ? {} : options.update || undefined;
  if (update && method !== 'svd-llm') throw new ArgumentError(fn, 'options.update', options.update, "is only defined for method 'svd-llm'");
  const uw = options.updateWhitening ?? 'original';
  if (uw !== 'original' && uw !== 'compressed') throw new ArgumentError(fn, 'options.updateWhitening', uw, "must be 'original' or 'compressed'");
  const roles = options.roles ?? LINEAR_ROLES;
  for (const r of roles) if (!LINEAR_ROLES.includes(r)) throw new ArgumentError(fn, 'options.roles', roles, `must hold only ${LINEAR_ROLES.join(', ')}`);
  const needCal = method !== 'svd';
  if (needCal && (!options.calibration || (options.calibration as any).length === 0)) throw new ArgumentError(fn, 'options.calibration', options.calibration, `must be a non-empty list of token windows for method '${method}'`);
  const allow = options.allowRankDeficient ?? false;
  const be = options.backend;
  const entries = model.linears().filter((e) => roles.includes(e.role));
  // validate every shape up front (fail before any heavy work)
  for (const e of entries) { denseWeight(fn, e.name, e.layer); rankFromRatio(e.layer.outFeatures, e.layer.inFeatures, ratio, fn); }
  const total = entries.length;
  let done = 0;
  const working = model.clone();
  const layers: CompressedLayerInfo[] = [];
  const record = (e: { name: string; block: number; role: LinearRole }, layer: LowRankLinear, report: LowRankReport, upd?: UpdateReport) => {
    working.setLinear(e.name, layer);
    layers.push({
      name: e.name, block: e.block, role: e.role, outFeatures: layer.outFeatures, inFeatures: layer.inFeatures, rank: layer.rank,
      params: layer.params(), bytes: layer.bytes(), denseParams: layer.outFeatures * layer.inFeatures, report, update: upd,
    });
    done++;
    options.onProgress?.({ stage: 'compress', name: e.name, block: e.block, role: e.role, done, total });
  };
  const factorOpts = { ratio, backend: be };

  if (!needCal) {
    for (const e of entries) {
      const r = svdLowRankFactor(denseWeight(fn, e.name, e.layer), factorOpts);
      record(e, r.layer, r.report);
    }
  } else if (!update) {
    options.onProgress?.({ stage: 'calibrate', block: 0, done, total });
    const stats = captureLinearStats(model, options.calibration as Windows, { gram: method === 'svd-llm', meanAbs: method === 'asvd', roles, backend: be });
    for (const e of entries) {
      const st = stats.get(e.name);
      if (!st) throw new ArgumentError(fn, 'calibration', e.name, 'produced no statistics for this layer');
      const W = denseWeight(fn, e.name, e.layer);
      checkCount(fn, e.name, st.count, e.layer.inFeatures, allow);
      const r = method === 'svd-llm'
        ? svdLlmFactor(W, sq(fn, e.name, st.gram, st.n), { ...factorOpts, whitening: options.whitening, floor: options.floor, route: options.route ?? 'auto' })
        : asvdFactor(W, new Tensor('f64', st.meanAbs!, [st.n]), { ...factorOpts, alpha: options.alpha });
      record(e, r.layer, r.report);
    }
  } else {
    // sequential: block b is calibrated with the inputs the already-compressed blocks 0..b-1 produce
    await sequentialCalibration(model, working, options.calibration as Windows, (b: number, stats: Map<LinearRole, SequentialStats>) => {
      options.onProgress?.({ stage: 'calibrate', block: b, done, total });
      for (const e of entries.filter((x) => x.block === b)) {
        const st = stats.get(e.role);
        if (!st) throw new ArgumentError(fn, 'calibration', e.name, 'produced no statistics for this layer');
        const W = denseWeight(fn, e.name, e.layer);
        checkCount(fn, e.name, st.count, e.layer.inFeatures, allow);
        const n = st.n;
        const gram = sq(fn, e.name, st.gram, n), origGram = sq(fn, e.name, st.origGram, n), crossGram = sq(fn, e.name, st.crossGram, n);
        const r = svdLlmFactor(W, (options.updateWhitening ?? 'original') === 'original' ? origGram : gram, { ...factorOpts, whitening: options.whitening, floor: options.floor, route: options.route ?? 'auto' });
        const u = updateLowRank(W, r.layer, { gram, origGram, crossGram }, { ...update, backend: be });
        record(e, u.layer, r.report, u.report);
      }
    }, { backend: be, roles });
  }
  let params = 0, bytes = 0, denseParams = 0;
  for (const l of layers) { params += l.params; bytes += l.bytes; denseParams += l.denseParams; }
  return { model: working, layers, params, bytes, denseParams, denseBytes: 4 * denseParams };
}
