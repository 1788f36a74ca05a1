/**
 * Whole-model RTN and GPTQ on `@llmpress/models`' one driver (`compressLinears`), in the per-method
 * shape every method follows:
 * - per layer: `rtnLayer(weight, options)`, `gptqLayer(weight, stats, options)` → `{ layer, report }`;
 * - per model: `rtnModel(model, options)`, `gptqModel(model, options)` → `Promise<CompressResult>`,
 *   options = `{ calibration, schedule, backend, onProgress, signal, roles, blocks, ...method options }`.
 * The driver owns the calibration schedule (true-sequential per group by default: {q,k,v} → o →
 * {gate,up} → down, each group calibrated on the partly quantized block; 'per-block' and 'dense'
 * are ablations). RTN is data-free unless `calibration` is given (then it walks the same schedule,
 * which changes nothing for RTN itself but lets a post-step such as Q2N see the statistics).
 * The head and embedding stay f32. Optional per-token activation quantization wraps each layer in a
 * `QuantActLinear` (W4A8 / W4A4).
 */
import { ArgumentError, type Tensor, type Backend } from '@llmpress/tensor';
import {
  compressLinears,
  type LlamaModel,
  type LinearRole,
  type CalibrationWindows,
  type CalibrationSchedule,
  type CompressResult,
  type DriverProgress,
  type LayerJob,
  type LayerOutcome,
} from '@llmpress/models';
import { rtnQuantize } from './rtn.js';
import { gptq, type GptqOptions, type GptqReport } from './gptq.js';
import { QuantActLinear } from './act-linear.js';
import type { QuantizedLinear } from './quantized-linear.js';
import type { ActQuantOptions } from './act-quant.js';
import type { QuantSpec } from './scheme.js';

export interface ActivationPlan {
  /** Activation bits of q/k/v/gate/up inputs (null = f32). */
  readers: 4 | 8 | null;
  /** Activation bits of o inputs. */
  o: 4 | 8 | null;
  /** Activation bits of down inputs. */
  down: 4 | 8 | null;
  /** Clip ratio (default 0.9). */
  clip?: number;
}

export function actFor(plan: ActivationPlan | null | undefined, role: LinearRole): ActQuantOptions | null {
  if (!plan) return null;
  const bits = role === 'o' ? plan.o : role === 'down' ? plan.down : plan.readers;
  return bits === null ? null : { bits, clip: plan.clip ?? 0.9 };
}

/** The options every whole-model quantizer shares with the driver. */
export interface ModelDriverOptions {
  /** Calibration token windows (`evalSplit().calibration`). Required by GPTQ; optional for RTN. */
  calibration?: CalibrationWindows;
  /** Default 'sequential' (true-sequential per group); 'per-block' and 'dense' are ablations. */
  schedule?: CalibrationSchedule;
  backend?: Backend;
  onProgress?: (p: DriverProgress) => void;
  signal?: AbortSignal;
  /** Roles / blocks to quantize (default all); the others stay as they are. */
  roles?: readonly LinearRole[];
  blocks?: readonly number[];
}

/** What RTN reports per layer. */
export interface RtnReport {
  bits: number;
  groupSize: number;
  nGroups: number;
  bitsPerWeight: number;
}

/** RTN of one layer's weight (`[out, in]`): the per-method layer step (no statistics needed). */
export function rtnLayer(weight: Tensor, options: QuantSpec): { layer: QuantizedLinear; report: RtnReport } {
  const layer = rtnQuantize(weight, options);
  return { layer, report: { bits: layer.bits, groupSize: layer.groupSize, nGroups: layer.nGroups, bitsPerWeight: layer.bitsPerWeight() } };
}

/** GPTQ of one layer from its calibration statistics (`stats.gram` = Σ x̂ x̂ᵀ of the inputs it will see). */
export function gptqLayer(weight: Tensor, stats: { gram: Float64Array | Tensor }, options: GptqOptions): { layer: QuantizedLinear; report: GptqReport } {
  if (!stats || typeof stats !== 'object' || !stats.gram)
    throw new ArgumentError('gptqLayer', 'stats.gram', stats?.gram, 'must be the n × n Gram of the layer inputs');
  const { layer, report } = gptq(weight, stats.gram, options);
  return { layer, report };
}

/** The layer as stored: the quantized weight, wrapped for per-token activation quantization when the plan asks. */
function withActivations(layer: QuantizedLinear, plan: ActivationPlan | null | undefined, role: LinearRole): QuantizedLinear | QuantActLinear {
  const act = actFor(plan, role);
  return act ? new QuantActLinear({ weight: layer, outlier: null, outlierColumns: 0, act, rotation: null }) : layer;
}
function outcome<R>(layer: QuantizedLinear | QuantActLinear, report: R): LayerOutcome<R> {
  return { layer, report, bytes: layer.bytes(), kind: layer.kind };
}

function driverOptions(o: ModelDriverOptions) {
  return { calibration: o.calibration, schedule: o.schedule, backend: o.backend, onProgress: o.onProgress, signal: o.signal, roles: o.roles, blocks: o.blocks };
}

export interface RtnModelOptions extends QuantSpec, ModelDriverOptions {
  /** Per-token activation quantization (null / undefined = weight-only). */
  activations?: ActivationPlan | null;
}

/** RTN over every block linear of a copy of `model` (data-free unless `calibration` is given). */
export async function rtnModel(model: LlamaModel, options: RtnModelOptions): Promise<CompressResult<RtnReport>> {
  const fn = 'rtnModel';
  if (!options || typeof options !== 'object')
    throw new ArgumentError(fn, 'options', options, 'must be an object with bits (and optionally calibration, groupSize, …)');
  return compressLinears<RtnReport>(model, {
    ...driverOptions(options),
    dataFree: options.calibration === undefined,
    compress: (job: LayerJob) => {
      const { layer, report } = rtnLayer(job.weight, options);
      return outcome(withActivations(layer, options.activations, job.role), report);
    },
  });
}

/**
 * `gptqModel`'s defaults where the caller says nothing, chosen on validation windows 100..107 of the
 * TinyStories validation text (calibration 200..231, stories260K, g32, true-sequential schedule;
 * README "Choosing GPTQ's settings"): act-order with static groups (no stored permutation) and the
 * clip search. percdamp stays at the reference's 0.01 (0.001 / 0.1 were not consistently better).
 * `gptq` itself keeps the reference defaults (no act-order, no clip search).
 */
export const GPTQ_MODEL_DEFAULTS = Object.freeze({ actOrder: 'static' as const, clipSearch: true, percdamp: 0.01 });

export interface GptqModelOptions extends GptqOptions, ModelDriverOptions {
  calibration: CalibrationWindows;
  /** Per-token activation quantization (null / undefined = weight-only). */
  activations?: ActivationPlan | null;
}

/**
 * GPTQ over every block linear of a copy of `model`. Each layer's Hessian is the Gram of the inputs
 * the partly quantized model feeds it under the schedule (default true-sequential per group).
 * Unset options take `GPTQ_MODEL_DEFAULTS` (act-order static, clip search, percdamp 0.01).
 */
export async function gptqModel(model: LlamaModel, options: GptqModelOptions): Promise<CompressResult<GptqReport>> {
  const fn = 'gptqModel';
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object with calibration and bits');
  if (!Array.isArray(options.calibration) || options.calibration.length === 0)
    throw new ArgumentError(fn, 'options.calibration', options.calibration, 'must be a non-empty array of token windows');
  return compressLinears<GptqReport>(model, {
    ...driverOptions(options),
    compress: (job: LayerJob, ctx) => {
      const { layer, report } = gptqLayer(job.weight, job.stats, { ...GPTQ_MODEL_DEFAULTS, ...options, backend: options.backend ?? ctx.backend });
      return outcome(withActivations(layer, options.activations, job.role), report);
    },
  });
}
