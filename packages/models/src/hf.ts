/** Hugging Face Llama checkpoints: config.json → LlamaConfig, safetensors weights → LlamaModel. */
import { DenseLinear, type Tensor, UnsupportedError } from '@llmpress/tensor';
import { validateConfig, type LlamaConfig } from './config.js';
import { FormatError } from './errors.js';
import { LlamaModel, denseBlock, type LlamaBlock } from './model.js';
import { SafetensorsFile, bytesSource } from './safetensors.js';

const FN = 'hfConfigToLlama';

/** Maps a Hugging Face LlamaConfig (parsed config.json) to LlamaConfig (rope_scaling must be null). */
export function hfConfigToLlama(json: unknown, file = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null) throw new FormatError(FN, file, { field: '(root)' }, 'must be a JSON object');
  const j = json as Record<string, any>;
  const int = (k: string, dflt?: number): number => {
    const v = j[k] ?? dflt;
    if (!Number.isSafeInteger(v) || v <= 0) throw new FormatError(FN, file, { field: k }, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const mt = j.model_type;
  if (mt !== undefined && mt !== 'llama' && mt !== 'mistral')
    throw new UnsupportedError(FN, `file '${file}': model_type ${JSON.stringify(mt)} is not a Llama-family model`);
  if (j.rope_scaling !== undefined && j.rope_scaling !== null)
    throw new UnsupportedError(FN, `file '${file}': rope_scaling ${JSON.stringify(j.rope_scaling)} is not supported`);
  if (j.hidden_act !== undefined && j.hidden_act !== 'silu')
    throw new UnsupportedError(FN, `file '${file}': hidden_act ${JSON.stringify(j.hidden_act)} (only silu)`);
  if (j.attention_bias === true || j.mlp_bias === true) throw new UnsupportedError(FN, `file '${file}': biased projections are not supported`);
  const dim = int('hidden_size'),
    nHeads = int('num_attention_heads');
  const headDim = j.head_dim !== undefined ? int('head_dim') : dim / nHeads;
  if (!Number.isInteger(headDim)) throw new FormatError(FN, file, { field: 'num_attention_heads' }, `hidden_size ${dim} is not a multiple of ${nHeads}`);
  const eps = j.rms_norm_eps ?? 1e-6,
    theta = j.rope_theta ?? 10000;
  if (typeof eps !== 'number' || !(eps > 0))
    throw new FormatError(FN, file, { field: 'rms_norm_eps' }, `must be a positive number, got ${JSON.stringify(eps)}`);
  if (typeof theta !== 'number' || !(theta > 0))
    throw new FormatError(FN, file, { field: 'rope_theta' }, `must be a positive number, got ${JSON.stringify(theta)}`);
  const c: LlamaConfig = {
    dim,
    hiddenDim: int('intermediate_size'),
    nLayers: int('num_hidden_layers'),
    nHeads,
    nKvHeads: j.num_key_value_heads !== undefined && j.num_key_value_heads !== null ? int('num_key_value_heads') : nHeads,
    headDim,
    vocabSize: int('vocab_size'),
    seqLen: int('max_position_embeddings', 2048),
    normEps: eps,
    ropeTheta: theta,
    ropeStyle: 'half',
    tiedEmbeddings: j.tie_word_embeddings === true,
    bosId: Number.isInteger(j.bos_token_id) ? j.bos_token_id : 1,
    eosId: Number.isInteger(j.eos_token_id) ? j.eos_token_id : 2,
  };
  try {
    validateConfig(FN, c);
  } catch (e) {
    throw new FormatError(FN, file, { field: 'config' }, (e as Error).message);
  }
  return c;
}

/** Builds a dense model from HF tensor names through a getter (weights are [out, in], y = x Wᵀ). */
export function modelFromHfTensors(config: LlamaConfig, get: (name: string) => Tensor | undefined, file = '<weights>'): LlamaModel {
  const c = config;
  const need = (name: string, shape: number[], got?: Tensor): Tensor<'f32'> => {
    const t = got ?? get(name);
    if (!t) throw new FormatError('loadHfModel', file, { tensor: name }, 'is missing');
    if (t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new FormatError('loadHfModel', file, { tensor: name, field: 'shape' }, `is [${t.shape}], config implies [${shape}]`);
    const f = t.dtype === 'f32' ? (t as Tensor<'f32'>) : t.astype('f32');
    return f.contiguous();
  };
  const vec = (name: string) => need(name, [c.dim]).data as Float32Array;
  const qDim = c.nHeads * c.headDim,
    kvDim = c.nKvHeads * c.headDim;
  const blocks: LlamaBlock[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    blocks.push(
      denseBlock({
        attnNorm: vec(p + 'input_layernorm.weight'),
        ffnNorm: vec(p + 'post_attention_layernorm.weight'),
        q: need(p + 'self_attn.q_proj.weight', [qDim, c.dim]),
        k: need(p + 'self_attn.k_proj.weight', [kvDim, c.dim]),
        v: need(p + 'self_attn.v_proj.weight', [kvDim, c.dim]),
        o: need(p + 'self_attn.o_proj.weight', [c.dim, qDim]),
        gate: need(p + 'mlp.gate_proj.weight', [c.hiddenDim, c.dim]),
        up: need(p + 'mlp.up_proj.weight', [c.hiddenDim, c.dim]),
        down: need(p + 'mlp.down_proj.weight', [c.dim, c.hiddenDim]),
      }),
    );
  }
  const tied = c.tiedEmbeddings;
  // tied checkpoints may store the shared matrix once, as lm_head.weight only (e.g. TinyStories-656K)
  const emb = get('model.embed_tokens.weight');
  const embedding =
    emb === undefined && tied && get('lm_head.weight') !== undefined
      ? need('lm_head.weight', [c.vocabSize, c.dim])
      : need('model.embed_tokens.weight', [c.vocabSize, c.dim], emb);
  return new LlamaModel(c, {
    embedding,
    blocks,
    finalNorm: vec('model.norm.weight'),
    lmHead: tied ? undefined : new DenseLinear(need('lm_head.weight', [c.vocabSize, c.dim])),
  });
}

/** Loads an HF Llama checkpoint from its config.json text and model.safetensors bytes. */
export function parseHfModel(configJson: string, safetensors: Uint8Array, options: { file?: string; configFile?: string } = {}): LlamaModel {
  let cfg: unknown;
  const cf = options.configFile ?? 'config.json';
  try {
    cfg = JSON.parse(configJson);
  } catch (e) {
    throw new FormatError(FN, cf, { field: '(root)' }, `is not valid JSON (${(e as Error).message})`);
  }
  const config = hfConfigToLlama(cfg, cf);
  const f = SafetensorsFile.openSync(bytesSource(safetensors, options.file ?? 'model.safetensors'));
  return modelFromHfTensors(config, (n) => (f.has(n) ? f.tensorSync(n) : undefined), f.header.file);
}
