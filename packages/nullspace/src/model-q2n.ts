/**
 * Whole-model Q2N on the one driver (`compressLinears` of `@llmpress/models`).
 *
 * Q2N is a post-step over any quantizer's layer: `withQ2n(compress, options)` wraps a per-layer
 * compressor (`LayerCompressor`) so that each quantized layer gets its Q2N row scales folded in
 * right after it is quantized, from the SAME statistics the quantizer saw (the Gram of the inputs
 * the partly compressed model feeds the layer under the schedule). The folded layer is what the
 * later layers are calibrated through. `q2nModel` = RTN or GPTQ + that post-step.
 *
 * down_proj is included by default (`skipDown: true` is the authors' choice, kept as an ablation).
 * The post-step only rescales rows of the stored scales, so the bytes are the base quantizer's.
 *
 * `quantizeWithGrams` + `applyQ2n` are the same two steps split apart (records of the base
 * quantization with their Grams, then Q2N over the records), for ablations that change Q2N's inputs
 * (e.g. B from GPTQ's working copy) on one base quantization.
 */
import { ArgumentError, Tensor, type Backend } from '@llmpress/tensor';
import {
  compressLinears,
  type LlamaModel,
  type LinearRole,
  type CalibrationWindows,
  type CompressResult,
  type LayerCompressor,
  type LayerOutcome,
} from '@llmpress/models';
import {
  gptqLayer,
  rtnLayer,
  QuantizedLinear,
  GPTQ_MODEL_DEFAULTS,
  type GptqOptions,
  type GptqReport,
  type RtnReport,
  type ModelDriverOptions,
} from '@llmpress/quantizers';
import { q2nLayer, type Q2nOptions, type Q2nReport } from './q2n.js';

export interface ModelQ2nOptions extends Q2nOptions {
  /** Skip down_proj (the authors' choice; ablation). Default false: down_proj is included. */
  skipDown?: boolean;
}

function checkQ2n(fn: string, o: ModelQ2nOptions | undefined): ModelQ2nOptions {
  const q = o ?? {};
  if (typeof q !== 'object') throw new ArgumentError(fn, 'options.q2n', q, 'must be an object');
  if (q.skipDown !== undefined && typeof q.skipDown !== 'boolean') throw new ArgumentError(fn, 'options.q2n.skipDown', q.skipDown, 'must be a boolean');
  return q;
}

export interface WithQ2nReport<R> {
  base: R;
  q2n: Q2nReport | null;
}

/**
 * Q2N as a post-step on any per-layer quantizer of the driver: the base layer must be a
 * `QuantizedLinear` (its scales are where the row factors fold); layers skipped (`skipDown`) pass
 * through unchanged with `q2n: null`.
 */
export function withQ2n<R>(compress: LayerCompressor<R>, options: ModelQ2nOptions = {}): LayerCompressor<WithQ2nReport<R>> {
  const q = checkQ2n('withQ2n', options);
  return async (job, ctx): Promise<LayerOutcome<WithQ2nReport<R>>> => {
    const base = await compress(job, ctx);
    if (q.skipDown && job.role === 'down') return { ...base, report: { base: base.report, q2n: null } };
    if (!(base.layer instanceof QuantizedLinear))
      throw new ArgumentError('withQ2n', 'compress', base.layer?.kind, `must return a QuantizedLinear for '${job.name}' (Q2N folds into its scales)`);
    if (job.stats.count === 0 && (q.target ?? 'B') === 'B')
      throw new ArgumentError('withQ2n', 'calibration', job.name, 'is required: Q2N needs the Gram of the layer inputs');
    const n = job.stats.n;
    const { layer, report } = q2nLayer(job.weight, base.layer, new Tensor('f64', job.stats.gram, [n, n]), { ...q, backend: q.backend ?? ctx.backend });
    return { layer, report: { base: base.report, q2n: report }, bytes: layer.bytes(), kind: layer.kind };
  };
}

export type BaseQuantizer = 'rtn' | 'gptq';

export interface Q2nModelOptions extends GptqOptions, ModelDriverOptions {
  calibration: CalibrationWindows;
  /** The base quantizer (GPTQ options apply to 'gptq' only; unset ones take `GPTQ_MODEL_DEFAULTS`, as `gptqModel`). */
  quantizer: BaseQuantizer;
  /** Q2N's options (λ = 0.2, null space by the ratio rule t = 0.1, down_proj included). */
  q2n?: ModelQ2nOptions;
}

function baseCompressor(fn: string, options: GptqOptions & { quantizer: BaseQuantizer }): LayerCompressor<GptqReport | RtnReport> {
  if (options.quantizer !== 'rtn' && options.quantizer !== 'gptq')
    throw new ArgumentError(fn, 'options.quantizer', options.quantizer, "must be 'rtn' or 'gptq'");
  return (job, ctx) => {
    const { layer, report } =
      options.quantizer === 'gptq'
        ? gptqLayer(job.weight, job.stats, { ...GPTQ_MODEL_DEFAULTS, ...options, backend: options.backend ?? ctx.backend })
        : rtnLayer(job.weight, options);
    return { layer, report, bytes: layer.bytes(), kind: layer.kind };
  };
}

function driverOptions(o: ModelDriverOptions) {
  return { calibration: o.calibration, schedule: o.schedule, backend: o.backend, onProgress: o.onProgress, signal: o.signal, roles: o.roles, blocks: o.blocks };
}

/** RTN or GPTQ + Q2N over every block linear of a copy of `model`, through the driver (default schedule: true-sequential per group). */
export async function q2nModel(model: LlamaModel, options: Q2nModelOptions): Promise<CompressResult<WithQ2nReport<GptqReport | RtnReport>>> {
  const fn = 'q2nModel';
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object with calibration, quantizer and bits');
  if (!Array.isArray(options.calibration) || options.calibration.length === 0)
    throw new ArgumentError(fn, 'options.calibration', options.calibration, 'must be a non-empty array of token windows (Q2N needs the layer inputs)');
  const compress = withQ2n(baseCompressor(fn, options), checkQ2n(fn, options.q2n));
  return compressLinears(model, { ...driverOptions(options), compress });
}

// ---------------------------------------------------------------- the two steps apart (ablations)

export interface QuantizedLayerRecord {
  name: string;
  block: number;
  role: LinearRole;
  /** The original dense weight. */
  weight: Tensor;
  /** The base quantizer's layer. */
  layer: QuantizedLinear;
  /** Σ x̂ x̂ᵀ of the inputs this layer was quantized for (f64). */
  gram: Tensor<'f64'>;
  /** Optional weight to build B from instead of `weight` (ablation: GPTQ's working copy). */
  reference?: Tensor;
}

export interface BaseQuantOptions extends GptqOptions, Omit<ModelDriverOptions, 'calibration'> {
  quantizer: BaseQuantizer;
  /**
   * Group size that does not divide a layer's input width (stories260K's down_proj has 172
   * inputs): 'ragged' (default) gives that layer ⌈n / g⌉ groups, the last one shorter;
   * 'per-channel' (ablation: the old behaviour) quantizes it per channel; 'error' throws.
   */
  groupFallback?: 'ragged' | 'per-channel' | 'error';
  backend?: Backend;
}

/**
 * The base quantization alone, through the driver, recording what a later `applyQ2n` needs (each
 * layer's original weight, its quantized layer and the Gram it was quantized with).
 */
export async function quantizeWithGrams(
  model: LlamaModel,
  windows: CalibrationWindows,
  options: BaseQuantOptions,
): Promise<{ model: LlamaModel; layers: QuantizedLayerRecord[]; result: CompressResult<GptqReport | RtnReport> }> {
  const fn = 'quantizeWithGrams';
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object with quantizer and bits');
  const fb = options.groupFallback ?? 'ragged';
  if (fb !== 'ragged' && fb !== 'per-channel' && fb !== 'error')
    throw new ArgumentError(fn, 'options.groupFallback', fb, "must be 'ragged', 'per-channel' or 'error'");
  const base = baseCompressor(fn, options);
  const layers: QuantizedLayerRecord[] = [];
  const g = options.groupSize ?? 0;
  const result = await compressLinears<GptqReport | RtnReport>(model, {
    ...driverOptions({ ...options, calibration: windows }),
    compress: async (job, ctx) => {
      const n = job.weight.shape[1]!;
      let o = options;
      if (g > 0 && n % g !== 0 && fb !== 'ragged') {
        if (fb === 'error') throw new ArgumentError(fn, 'options.groupSize', g, `must divide the input width ${n} (groupFallback: 'error')`);
        o = { ...options, groupSize: 0 };
      }
      const out = await (o === options ? base : baseCompressor(fn, o))(job, ctx);
      layers.push({
        name: job.name,
        block: job.block,
        role: job.role,
        weight: job.weight,
        layer: out.layer as QuantizedLinear,
        gram: new Tensor('f64', job.stats.gram, [n, n]),
      });
      return out;
    },
  });
  return { model: result.model, layers, result };
}

/** Applies the Q2N post-step to every recorded layer; returns a new model (bytes unchanged) and per-layer reports. */
export function applyQ2n(
  base: LlamaModel,
  layers: readonly QuantizedLayerRecord[],
  options: ModelQ2nOptions = {},
): { model: LlamaModel; reports: Map<string, Q2nReport> } {
  const fn = 'applyQ2n';
  if (!Array.isArray(layers) || layers.length === 0) throw new ArgumentError(fn, 'layers', layers, 'must be a non-empty list of quantized layer records');
  const q = checkQ2n(fn, options);
  const out = base.clone();
  const reports = new Map<string, Q2nReport>();
  for (const rec of layers) {
    if (q.skipDown && rec.role === 'down') continue;
    const { layer, report } = q2nLayer(rec.weight, rec.layer, rec.gram, rec.reference ? { ...q, reference: rec.reference } : q);
    out.setLinear(rec.name, layer);
    reports.set(rec.name, report);
  }
  return { model: out, reports };
}
