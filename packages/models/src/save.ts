/**
 * Save / load of (compressed) models as safetensors. Every linear is stored through its own
 * `serialize()`; the metadata records the config and, per layer, its kind, meta and tensor names, so
 * `loadCompressedModel` can rebuild each layer with an explicit deserializer map.
 */
import { ArgumentError, DenseLinear, Tensor, UnsupportedError, type LinearLayer, type SerializedLayer } from '@llmpress/tensor';
import { validateConfig, type LlamaConfig } from './config.js';
import { FormatError } from './errors.js';
import { LINEAR_ROLES, LlamaModel, type LlamaBlock } from './model.js';
import { SafetensorsFile, bytesSource, writeSafetensors, type ByteSource } from './safetensors.js';

export const MODEL_FORMAT = 'llmpress-model/1';

export interface SavedModel {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

interface LayerRecord {
  kind: string;
  meta: SerializedLayer['meta'];
  tensors: string[];
}

/** Tensors + metadata of a model (norms, embedding, each layer's serialize()). */
export function saveModel(model: LlamaModel): SavedModel {
  const fn = 'saveModel';
  const tensors = new Map<string, Tensor>();
  const layers: Record<string, LayerRecord> = {};
  const c = model.config;
  tensors.set('embedding', model.embedding);
  model.blocks.forEach((b, i) => {
    tensors.set(`blocks.${i}.attn_norm`, new Tensor('f32', b.attnNorm, [c.dim]));
    tensors.set(`blocks.${i}.ffn_norm`, new Tensor('f32', b.ffnNorm, [c.dim]));
  });
  tensors.set('final_norm', new Tensor('f32', model.finalNorm, [c.dim]));
  const put = (name: string, layer: LinearLayer) => {
    const s = layer.serialize();
    if (!s || typeof s.kind !== 'string' || typeof s.tensors !== 'object')
      throw new ArgumentError(fn, `model.${name}`, layer, 'must serialize() to { kind, meta, tensors }');
    for (const [k, v] of Object.entries(s.meta ?? {}))
      if (!['string', 'number', 'boolean'].includes(typeof v)) throw new ArgumentError(fn, `${name}.meta.${k}`, v, 'must be a string, number or boolean');
    const names: string[] = [];
    for (const [tn, t] of Object.entries(s.tensors)) {
      if (!(t instanceof Tensor)) throw new ArgumentError(fn, `${name}.tensors.${tn}`, t, 'must be a Tensor');
      tensors.set(`${name}.${tn}`, t);
      names.push(tn);
    }
    layers[name] = { kind: s.kind, meta: s.meta ?? {}, tensors: names };
  };
  for (const e of model.linears()) put(e.name, e.layer);
  const tied = model.headIsTied();
  if (!tied) put('lm_head', model.lmHead);
  return {
    tensors,
    metadata: {
      format: MODEL_FORMAT,
      'llmpress.format': MODEL_FORMAT,
      'llmpress.config': JSON.stringify(c),
      'llmpress.head': tied ? 'tied' : 'lm_head',
      'llmpress.layers': JSON.stringify(layers),
    },
  };
}

/** saveModel as safetensors bytes. */
export function saveModelBytes(model: LlamaModel): Uint8Array {
  const s = saveModel(model);
  return writeSafetensors(s.tensors, s.metadata);
}

export type LayerDeserializer = (s: SerializedLayer) => LinearLayer;

export interface LoadCompressedOptions {
  /** kind → deserializer. 'dense' defaults to DenseLinear.deserialize. */
  kinds?: Record<string, LayerDeserializer>;
  file?: string;
}

/** Rebuilds a model saved by saveModel/saveModelBytes (bytes or a synchronous ByteSource). */
export function loadCompressedModel(file: Uint8Array | ByteSource, options: LoadCompressedOptions = {}): LlamaModel {
  const fn = 'loadCompressedModel';
  const name = options.file ?? (file instanceof Uint8Array ? '<bytes>' : (file.name ?? '<source>'));
  const f = SafetensorsFile.openSync(file instanceof Uint8Array ? bytesSource(file, name) : file, { file: name });
  const md = f.metadata;
  if (md['llmpress.format'] !== MODEL_FORMAT)
    throw new FormatError(fn, name, { field: '__metadata__.llmpress.format' }, `is ${JSON.stringify(md['llmpress.format'])}, expected "${MODEL_FORMAT}"`);
  let config: LlamaConfig, layers: Record<string, LayerRecord>;
  try {
    config = JSON.parse(md['llmpress.config']!);
    validateConfig(fn, config);
  } catch (e) {
    throw new FormatError(fn, name, { field: '__metadata__.llmpress.config' }, (e as Error).message);
  }
  try {
    layers = JSON.parse(md['llmpress.layers']!);
    if (typeof layers !== 'object' || layers === null || Array.isArray(layers)) throw new Error('not an object');
  } catch (e) {
    throw new FormatError(fn, name, { field: '__metadata__.llmpress.layers' }, (e as Error).message);
  }
  const kinds: Record<string, LayerDeserializer> = { dense: (s) => DenseLinear.deserialize(s), ...(options.kinds ?? {}) };
  const get = (tn: string): Tensor => {
    if (!f.has(tn)) throw new FormatError(fn, name, { tensor: tn }, 'is missing');
    return f.tensorSync(tn);
  };
  const vec = (tn: string): Float32Array => {
    const t = get(tn);
    if (t.dtype !== 'f32' || t.size !== config.dim) throw new FormatError(fn, name, { tensor: tn, field: 'shape' }, `must be f32 [${config.dim}]`);
    return t.data as Float32Array;
  };
  const layer = (ln: string): LinearLayer => {
    const rec = layers[ln];
    if (!rec) throw new FormatError(fn, name, { tensor: ln, field: '__metadata__.llmpress.layers' }, 'has no record for this layer');
    // the record's shape: { kind: string, meta?: {string|number|boolean}, tensors: string[] }
    const where = { tensor: ln, field: '__metadata__.llmpress.layers' };
    if (typeof rec !== 'object' || Array.isArray(rec))
      throw new FormatError(fn, name, where, `record must be an object { kind, meta, tensors }, got ${JSON.stringify(rec)?.slice(0, 60)}`);
    if (typeof rec.kind !== 'string') throw new FormatError(fn, name, where, `record's kind must be a string, got ${JSON.stringify(rec.kind)?.slice(0, 60)}`);
    if (!Array.isArray(rec.tensors) || !rec.tensors.every((t) => typeof t === 'string'))
      throw new FormatError(fn, name, where, `record's tensors must be an array of tensor names, got ${JSON.stringify(rec.tensors)?.slice(0, 60)}`);
    if (
      rec.meta !== undefined &&
      (typeof rec.meta !== 'object' ||
        rec.meta === null ||
        Array.isArray(rec.meta) ||
        !Object.values(rec.meta).every((v) => ['string', 'number', 'boolean'].includes(typeof v)))
    ) {
      throw new FormatError(fn, name, where, `record's meta must be an object of strings, numbers and booleans, got ${JSON.stringify(rec.meta)?.slice(0, 60)}`);
    }
    const de = kinds[rec.kind];
    if (!de) throw new UnsupportedError(fn, `file '${name}', layer '${ln}': no deserializer for kind '${rec.kind}' (pass options.kinds['${rec.kind}'])`);
    const tensors: Record<string, Tensor> = {};
    for (const tn of rec.tensors) tensors[tn] = get(`${ln}.${tn}`);
    try {
      return de({ kind: rec.kind, meta: rec.meta ?? {}, tensors });
    } catch (e) {
      if (e instanceof TypeError || e instanceof RangeError)
        throw new FormatError(fn, name, where, `record of kind '${rec.kind}' does not rebuild a layer (${e.message})`);
      throw e;
    }
  };
  const blocks: LlamaBlock[] = [];
  for (let i = 0; i < config.nLayers; i++) {
    const b: Partial<LlamaBlock> = { attnNorm: vec(`blocks.${i}.attn_norm`), ffnNorm: vec(`blocks.${i}.ffn_norm`) };
    for (const r of LINEAR_ROLES) b[r] = layer(`blocks.${i}.${r}`);
    blocks.push(b as LlamaBlock);
  }
  const emb = get('embedding');
  if (emb.dtype !== 'f32') throw new FormatError(fn, name, { tensor: 'embedding', field: 'dtype' }, `is ${emb.dtype}, expected f32`);
  return new LlamaModel(config, {
    embedding: emb as Tensor<'f32'>,
    blocks,
    finalNorm: vec('final_norm'),
    lmHead: md['llmpress.head'] === 'tied' ? undefined : layer('lm_head'),
  });
}
