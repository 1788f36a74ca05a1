/**
 * Whole-model Q2N: quantize every linear with a base quantizer (RTN or GPTQ), keeping each layer's
 * original weight and calibration Gram, then apply the Q2N post-step per layer (optionally skipping
 * down_proj, as the authors do). The post-step only rescales rows of the stored scales, so the
 * quantized model's bytes are unchanged.
 *
 * Grams: GPTQ runs sequentially (block b is calibrated on the inputs the already-quantized blocks
 * produce); Q2N uses exactly the Gram GPTQ used for that layer. RTN needs no calibration; its Q2N
 * uses the original model's Grams.
 */
import { ArgumentError, Tensor, type Backend } from '@llmpress/tensor';
import { captureLinearStats, sequentialCalibration, LINEAR_ROLES, type LlamaModel, type LinearRole, type CalibrationWindows } from '@llmpress/models';
import { gptq, rtnQuantize, QuantizedLinear, type GptqOptions, type QuantSpec } from '@llmpress/quantizers';
import { q2nLayer, type Q2nOptions, type Q2nReport } from './q2n.js';

export interface QuantizedLayerRecord {
  name: string;
  block: number;
  role: LinearRole;
  /** The original dense weight. */
  weight: Tensor;
  /** The base quantizer's layer. */
  layer: QuantizedLinear;
  /** Σ x xᵀ of this layer's calibration inputs (f64). */
  gram: Tensor<'f64'>;
  /** Optional weight to build B from instead of `weight` (ablation: GPTQ's working copy). */
  reference?: Tensor;
}

export interface BaseQuantOptions extends GptqOptions {
  quantizer: 'rtn' | 'gptq';
  /**
   * Group size that does not divide a layer's input width (stories260K's down_proj has 172
   * inputs): 'ragged' (default) gives that layer ⌈n / g⌉ groups, the last one shorter;
   * 'per-channel' (ablation: the old behaviour) quantizes it per channel; 'error' throws.
   */
  groupFallback?: 'ragged' | 'per-channel' | 'error';
  backend?: Backend;
}

function specFor(fn: string, spec: QuantSpec, n: number, fallback: 'ragged' | 'per-channel' | 'error'): QuantSpec {
  const g = spec.groupSize ?? 0;
  if (g > 0 && n % g !== 0 && fallback !== 'ragged') {
    if (fallback === 'error') throw new ArgumentError(fn, 'options.groupSize', g, `must divide the input width ${n}`);
    return { ...spec, groupSize: 0 };
  }
  return spec;
}

function denseOf(fn: string, model: LlamaModel, name: string): Tensor {
  const l = model.getLinear(name);
  if (l.kind !== 'dense') throw new ArgumentError(fn, `model.${name}`, l.kind, 'must be a dense layer');
  return l.toDense();
}

/** Base quantization of every linear, recording what Q2N needs. */
export async function quantizeWithGrams(model: LlamaModel, windows: CalibrationWindows, options: BaseQuantOptions): Promise<{ model: LlamaModel; layers: QuantizedLayerRecord[] }> {
  const fn = 'quantizeWithGrams';
  const fb = options.groupFallback ?? 'ragged';
  if (fb !== 'ragged' && fb !== 'per-channel' && fb !== 'error') throw new ArgumentError(fn, 'options.groupFallback', fb, "must be 'ragged', 'per-channel' or 'error'");
  if (options.quantizer !== 'rtn' && options.quantizer !== 'gptq') throw new ArgumentError(fn, 'options.quantizer', options.quantizer, "must be 'rtn' or 'gptq'");
  const layers: QuantizedLayerRecord[] = [];
  const working = model.clone();
  if (options.quantizer === 'rtn') {
    const stats = captureLinearStats(model, windows, { gram: true, meanAbs: false, backend: options.backend });
    for (const e of model.linears()) {
      const W = denseOf(fn, model, e.name);
      const q = rtnQuantize(W, specFor(fn, options, e.layer.inFeatures, fb));
      const st = stats.get(e.name)!;
      layers.push({ name: e.name, block: e.block, role: e.role, weight: W, layer: q, gram: new Tensor('f64', st.gram!, [st.n, st.n]) });
      working.setLinear(e.name, q);
    }
    return { model: working, layers };
  }
  await sequentialCalibration(model, working, windows, (b, stats) => {
    for (const role of LINEAR_ROLES) {
      const name = `blocks.${b}.${role}`;
      const W = denseOf(fn, model, name);
      const st = stats.get(role)!;
      const gram = new Tensor('f64', st.gram, [st.n, st.n]);
      const { layer } = gptq(W, gram, specFor(fn, options, st.n, fb) as GptqOptions);
      layers.push({ name, block: b, role, weight: W, layer, gram });
      working.setLinear(name, layer);
    }
  }, { backend: options.backend });
  return { model: working, layers };
}

export interface ModelQ2nOptions extends Q2nOptions {
  /** Skip down_proj (the authors' default). Default true. */
  skipDown?: boolean;
}

/** Applies the Q2N post-step to every recorded layer; returns a new model (bytes unchanged) and per-layer reports. */
export function applyQ2n(base: LlamaModel, layers: readonly QuantizedLayerRecord[], options: ModelQ2nOptions = {}): { model: LlamaModel; reports: Map<string, Q2nReport> } {
  const fn = 'applyQ2n';
  if (!Array.isArray(layers) || layers.length === 0) throw new ArgumentError(fn, 'layers', layers, 'must be a non-empty list of quantized layer records');
  const skipDown = options.skipDown ?? true;
  const out = base.clone();
  const reports = new Map<string, Q2nReport>();
  for (const rec of layers) {
    if (skipDown && rec.role === 'down') continue;
    const { layer, report } = q2nLayer(rec.weight, rec.layer, rec.gram, rec.reference ? { ...options, reference: rec.reference } : options);
    out.setLinear(rec.name, layer);
    reports.set(rec.name, report);
  }
  return { model: out, reports };
}
