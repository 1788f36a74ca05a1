/**
 * Model-level quantization on `@llmpress/models`' LlamaModel: RTN and GPTQ over every block linear
 * (weight-only or with per-token activation quantization), GPTQ sequential over the blocks
 * (`sequentialCalibration`: inputs of block b come from the model whose blocks < b are already
 * quantized). The head and embedding stay f32.
 */
import { ArgumentError, DenseLinear, Tensor, type LinearLayer } from '@llmpress/tensor';
import { sequentialCalibration, LINEAR_ROLES, type LlamaModel, type LinearRole, type CalibrationWindows } from '@llmpress/models';
import { rtnQuantize } from './rtn.js';
import { gptq, type GptqOptions, type GptqReport } from './gptq.js';
import { QuantActLinear } from './act-linear.js';
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

function denseWeight(fn: string, name: string, layer: LinearLayer): Tensor<'f32'> {
  if (!(layer instanceof DenseLinear)) throw new ArgumentError(fn, name, layer.kind, "must be a 'dense' layer (quantize a float model)");
  return layer.weight;
}

/** RTN on every block linear of a copy of `model` (optionally with activation quantization). */
export function rtnModel(model: LlamaModel, spec: QuantSpec, acts: ActivationPlan | null = null): LlamaModel {
  const fn = 'rtnModel';
  const out = model.clone();
  for (const e of model.linears()) {
    const q = rtnQuantize(denseWeight(fn, e.name, e.layer), spec);
    const act = actFor(acts, e.role);
    out.setLinear(e.name, act ? new QuantActLinear({ weight: q, outlier: null, outlierColumns: 0, act, rotation: null }) : q);
  }
  return out;
}

export interface GptqModelOptions extends GptqOptions {
  /** Activation quantization (null = weight-only). */
  activations?: ActivationPlan | null;
  roles?: readonly LinearRole[];
  onLayer?(name: string, report: GptqReport): void;
}

/** GPTQ over the model, block by block, with already-quantized earlier blocks feeding calibration. */
export async function gptqModel(model: LlamaModel, windows: CalibrationWindows, options: GptqModelOptions): Promise<LlamaModel> {
  const fn = 'gptqModel';
  const working = model.clone();
  const roles = options.roles ?? LINEAR_ROLES;
  await sequentialCalibration(model, working, windows, (b, stats) => {
    for (const role of roles) {
      const name = `blocks.${b}.${role}`;
      const W = denseWeight(fn, name, model.blocks[b]![role]);
      const { layer, report } = gptq(W, stats.get(role)!.gram, options);
      options.onLayer?.(name, report);
      const act = actFor(options.activations, role);
      working.setLinear(name, act ? new QuantActLinear({ weight: layer, outlier: null, outlierColumns: 0, act, rotation: null }) : layer);
    }
  }, { roles });
  return working;
}
