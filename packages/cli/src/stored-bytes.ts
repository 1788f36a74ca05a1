/**
 * Stored bytes of a (compressed) model, web-safe: every tensor each layer serializes (so QUAD's
 * rotation matrices and sign vectors count), plus embedding, norms and an untied head — exactly what
 * `saveModel` writes. Used by the CLI, the demo and the browser demo.
 */
import { BYTES_PER_ELEMENT, type LinearLayer, type Tensor } from '@llmpress/tensor';
import type { LlamaModel } from '@llmpress/models';

export interface Footprint {
  /** Bytes of the block linears as stored. */
  linearBytes: number;
  /** Every stored tensor's bytes (no file header). */
  totalBytes: number;
  /** 8 · linearBytes / Σ in·out of the block linears. */
  bitsPerWeight: number;
  /** Storage dtypes (or layer kinds) of the block linears, e.g. ['Q4_0'] or ['BF16'] or ['quantized']. */
  dtypes: string[];
  /** True when the block linears are stored quantized (integer codes). */
  quantized: boolean;
  /** Bytes per component (tensor suffix), e.g. { weight: …, scales: … }. */
  components?: Record<string, number>;
}

/** Σ in·out of the model's block linears (the dense parameters they stand for). */
export function linearParams(model: LlamaModel): number {
  let w = 0;
  for (const e of model.linears()) w += e.layer.inFeatures * e.layer.outFeatures;
  return w;
}

const tensorBytes = (t: Tensor) => t.size * BYTES_PER_ELEMENT[t.dtype];

/** Bytes of every tensor a layer stores (its serialize()), with the per-tensor breakdown. */
export function layerStoredBytes(layer: LinearLayer): { bytes: number; parts: Record<string, number> } {
  const s = layer.serialize();
  const parts: Record<string, number> = {};
  let bytes = 0;
  for (const [k, t] of Object.entries(s.tensors)) {
    const b = tensorBytes(t as Tensor);
    parts[k] = (parts[k] ?? 0) + b;
    bytes += b;
  }
  return { bytes, parts };
}

/** A (compressed) model's footprint over every tensor `saveModel` writes; `params` = Σ in·out of the input's linears. */
export function modelFootprint(model: LlamaModel, params: number = linearParams(model)): Footprint {
  let linearBytes = 0;
  const components: Record<string, number> = {};
  const kinds = new Set<string>();
  for (const e of model.linears()) {
    const { bytes, parts } = layerStoredBytes(e.layer);
    linearBytes += bytes;
    kinds.add(e.layer.kind);
    for (const [k, b] of Object.entries(parts)) components[k] = (components[k] ?? 0) + b;
  }
  const c = model.config;
  let total = tensorBytes(model.embedding) + 4 * (2 * c.nLayers * c.dim + c.dim) + linearBytes;
  if (!model.headIsTied()) total += layerStoredBytes(model.lmHead).bytes;
  return {
    linearBytes,
    totalBytes: total,
    bitsPerWeight: (8 * linearBytes) / params,
    dtypes: [...kinds],
    quantized: kinds.has('quantized') || kinds.has('quant-act'),
    components,
  };
}
