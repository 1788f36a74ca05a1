/**
 * `compressModelTT`: every per-block linear of a model replaced at a total byte budget.
 *
 * Budget rule (tested): each layer gets the same fraction of its dense f32 bytes
 * (budget · bytes_l / Σ bytes), floored to whole bytes; inside a layer, the split between TT
 * cores (or low-rank factors) and sparse values + indices is the one, among the offered shares,
 * with the smallest proxy error — the whitened relative error sqrt(tr(E G Eᵀ)/tr(W G Wᵀ)) when
 * calibration Grams are given, the relative Frobenius error otherwise.
 */
import { ArgumentError, type Backend, type LinearLayer } from '@llmpress/tensor';
import { planLayer, fitTT, fitLowRank, type FitReport, type LayerPlan, type SparseKind } from './saten.js';
import type { ShapeSearchOptions } from './tt.js';

export type TTMethod = 'tt' | 'saten-u' | 'saten-2:4' | 'lowrank' | 'lowrank-u' | 'lowrank-2:4';

const METHODS: Record<TTMethod, { family: 'tt' | 'lowrank'; sparse: SparseKind }> = {
  'tt': { family: 'tt', sparse: 'none' },
  'saten-u': { family: 'tt', sparse: 'unstructured' },
  'saten-2:4': { family: 'tt', sparse: '2:4' },
  'lowrank': { family: 'lowrank', sparse: 'none' },
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
  if (!(options.budget > 0) || !Number.isFinite(options.budget)) throw new ArgumentError(fn, 'options.budget', options.budget, 'must be a positive finite number of bytes');
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
    const m = e.layer.outFeatures, n = e.layer.inFeatures;
    const gram = options.calibration?.get(e.name)?.gram;
    if (options.calibration && !gram) throw new ArgumentError(fn, 'options.calibration', e.name, 'has no gram for this linear');
    const key = `${e.name}|${m}x${n}|${whitened}|${gram ? 'g' : '-'}|${JSON.stringify(options.search ?? {})}`;
    let plan = options.cache?.get(key) as LayerPlan | undefined;
    if (!plan) {
      plan = planLayer(weightOf(e.layer), m, n, { gram, whitened, search: options.search, backend: options.backend });
      options.cache?.set(key, plan);
    }
    const budget = Math.floor(frac * 4 * m * n);
    const fit = spec.family === 'tt'
      ? fitTT(plan, { bytes: budget, sparse: spec.sparse, shares: options.shares })
      : fitLowRank(plan, { bytes: budget, sparse: spec.sparse, shares: options.shares });
    if (!fit) throw new ArgumentError(fn, 'options.budget', options.budget, `leaves ${budget} bytes for '${e.name}' (${m}×${n}), too few for a rank-1 ${spec.family === 'tt' ? 'TT' : 'factorization'}`);
    out.setLinear(e.name, fit.layer);
    total += fit.layer.bytes();
    layers.push({ name: e.name, kind: fit.layer.kind, budget, report: fit.report });
    options.onLayer?.(e.name, fit.report, idx + 1, entries.length);
  });
  return { model: out, layers, bytes: total, denseBytes };
}
