/**
 * Hugging Face folder export: `config.json`, `model.safetensors` (dense tensors in f16/bf16/f32) and
 * the tokenizer files given; with `gptq: true` quantized layers are written in the GPTQ v1 layout
 * (see gptq.ts) and `config.json` carries `quantization_config` {bits, group_size, desc_act, sym,
 * quant_method: "gptq"}. llama2.c / GGUF models (interleaved RoPE) get the inverse of llama.cpp's
 * Q/K permutation, since Hugging Face Llama uses rotate-half RoPE.
 * `readHfExport` reads such a folder back (dense or GPTQ) into a LlamaModel.
 */
import { ArgumentError, DenseLinear, type Tensor, encodeHalf, type LinearLayer, type SerializedLayer } from '@llmpress/tensor';
import type { LlamaConfig } from '../config.js';
import { FormatError } from '../errors.js';
import { hfConfigToLlama } from '../hf.js';
import { LINEAR_ROLES, LlamaModel, type LinearRole, type LlamaBlock } from '../model.js';
import { SafetensorsFile, bytesSource, writeSafetensors, type RawTensor } from '../safetensors.js';
import { LossyExportError } from './errors.js';
import { fromGptq, gptqProblem, toGptq } from './gptq.js';
import { isQuantizedLike } from './ggml.js';
import { bpeToHfTokenizerJson } from './hf-tokenizer-json.js';
import type { BpeTokenizer } from '../tokenizer.js';
import type { ExportReport, ExportedTensor } from './gguf-export.js';

export interface HfExportOptions {
  /** Dense tensors' dtype (default 'f16'; 'f32' keeps them exact). */
  dtype?: 'f32' | 'f16' | 'bf16';
  /** Write quantized layers as GPTQ v1 (default false: everything dense). */
  gptq?: boolean;
  /** Files to copy into the folder as they are (tokenizer.json, tokenizer_config.json, …). */
  tokenizerFiles?: ReadonlyMap<string, Uint8Array>;
  /** Without tokenizerFiles: a llama2.c / GGUF SentencePiece vocabulary written as tokenizer.json + tokenizer_config.json. */
  bpeTokenizer?: BpeTokenizer;
  lossless?: boolean;
}

const HF_ROLE: Record<LinearRole, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

/** Row order taking interleaved-pair RoPE rows (llama2.c / GGUF) to Hugging Face rotate-half rows. */
export function ropeHalfRows(nHeads: number, headDim: number): Int32Array {
  const half = headDim / 2,
    p = new Int32Array(nHeads * headDim);
  for (let h = 0; h < nHeads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) p[h * headDim + j * half + i] = h * headDim + 2 * i + j;
  return p;
}

function rowsOf(x: Float32Array, cols: number, order?: ArrayLike<number>): Float32Array {
  if (!order) return x;
  const out = new Float32Array(x.length);
  for (let r = 0; r < order.length; r++) out.set(x.subarray(order[r]! * cols, order[r]! * cols + cols), r * cols);
  return out;
}

export function hfConfigJson(c: LlamaConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: c.tiedEmbeddings,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: c.bosId ?? 1,
    eos_token_id: c.eosId ?? 2,
    ...extra,
  };
}

/** The folder's files (name → bytes) and what was written how. */
export function exportHfFiles(model: LlamaModel, options: HfExportOptions = {}): { files: Map<string, Uint8Array>; report: ExportReport } {
  const fn = 'exportHf';
  const dtype = options.dtype ?? 'f16';
  if (!['f32', 'f16', 'bf16'].includes(dtype)) throw new ArgumentError(fn, 'options.dtype', dtype, "must be 'f32', 'f16' or 'bf16'");
  const c = model.config;
  const tensors = new Map<string, Tensor | RawTensor>();
  const report: ExportedTensor[] = [];
  const stDtype = dtype === 'f32' ? 'F32' : dtype === 'f16' ? 'F16' : 'BF16';
  const dense = (name: string, source: string, kind: string, x: Float32Array, shape: number[], how: ExportedTensor['how'], note?: string) => {
    const data = dtype === 'f32' ? new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength)) : encodeHalf(x, dtype);
    tensors.set(name, { dtype: stDtype, shape, data });
    report.push({
      name,
      source,
      kind,
      type: stDtype as ExportedTensor['type'],
      how: dtype === 'f32' ? how : how === 'exact' ? 'rounded' : how,
      note,
      bytes: data.length,
    });
    if (dtype !== 'f32' && options.lossless) throw new LossyExportError(fn, name, `rounded to ${dtype} (use dtype 'f32')`);
  };
  const toHalfRope = c.ropeStyle === 'interleaved';
  const qRows = toHalfRope ? ropeHalfRows(c.nHeads, c.headDim) : undefined;
  const kRows = toHalfRope ? ropeHalfRows(c.nKvHeads, c.headDim) : undefined;
  const gptqLayers: Array<{ name: string; bits: number; groupSize: number; inFeatures: number; sym: boolean; desc: boolean }> = [];
  const quantizedRoles = new Set<LinearRole>(),
    denseRoles = new Set<LinearRole>();
  const linear = (name: string, source: string, role: LinearRole | 'head', L: LinearLayer, order?: Int32Array) => {
    if (options.gptq && isQuantizedLike(L) && role !== 'head') {
      const problem = gptqProblem(L);
      if (!problem) {
        const t = toGptq(L, order);
        for (const [k, v] of Object.entries(t)) tensors.set(`${name}.${k}`, v);
        gptqLayers.push({ name: source, bits: L.bits, groupSize: L.groupSize, inFeatures: L.inFeatures, sym: L.symmetric, desc: !!L.perm });
        quantizedRoles.add(role);
        const bytes = t.qweight.data.length + t.qzeros.data.length + t.scales.data.length + t.g_idx.data.length;
        report.push({
          name: `${name}.qweight`,
          source,
          kind: L.kind,
          type: `GPTQ${L.bits}` as any,
          how: 'exact',
          note: L.perm ? 'act-order (g_idx)' : undefined,
          bytes,
        });
        return;
      }
      if (options.lossless && dtype !== 'f32') throw new LossyExportError(fn, name, `${problem}; densified to ${dtype}`);
      denseRoles.add(role);
      dense(
        `${name}.weight`,
        source,
        L.kind,
        rowsOf(L.toDense().contiguous().data as Float32Array, L.inFeatures, order),
        [L.outFeatures, L.inFeatures],
        'exact',
        `densified: ${problem}`,
      );
      return;
    }
    if (role !== 'head') denseRoles.add(role);
    const how: ExportedTensor['how'] = L instanceof DenseLinear || L.kind === 'dense' || isQuantizedLike(L) ? 'exact' : 'densified';
    if (L.kind === 'quant-act' && options.lossless)
      throw new LossyExportError(fn, name, 'activation quantization cannot be expressed in a Hugging Face folder');
    dense(
      `${name}.weight`,
      source,
      L.kind,
      rowsOf(L.toDense().contiguous().data as Float32Array, L.inFeatures, order),
      [L.outFeatures, L.inFeatures],
      how,
      how === 'densified' ? `'${L.kind}' densified` : undefined,
    );
  };
  dense('model.embed_tokens.weight', 'embedding', 'dense', model.embedding.contiguous().data as Float32Array, [c.vocabSize, c.dim], 'exact');
  model.blocks.forEach((b, i) => {
    const p = `model.layers.${i}.`,
      s = `blocks.${i}.`;
    dense(p + 'input_layernorm.weight', s + 'attn_norm', 'norm', b.attnNorm, [c.dim], 'exact');
    dense(p + 'post_attention_layernorm.weight', s + 'ffn_norm', 'norm', b.ffnNorm, [c.dim], 'exact');
    for (const r of LINEAR_ROLES) linear(p + HF_ROLE[r], s + r, r, b[r], r === 'q' ? qRows : r === 'k' ? kRows : undefined);
  });
  dense('model.norm.weight', 'final_norm', 'norm', model.finalNorm, [c.dim], 'exact');
  if (!model.headIsTied()) linear('lm_head', 'lm_head', 'head', model.lmHead);
  const extra: Record<string, unknown> = { torch_dtype: dtype === 'f32' ? 'float32' : dtype === 'f16' ? 'float16' : 'bfloat16' };
  const notes: string[] = [];
  if (gptqLayers.length > 0) {
    // one quantization_config for all: group_size −1 (per channel) unless some layer has real groups;
    // a layer whose group spans its whole (narrower) row agrees with any group size ≥ its width
    const grouped = gptqLayers.filter((v) => v.groupSize < v.inFeatures).map((v) => v.groupSize);
    const gs = grouped.length ? Math.min(...grouped) : -1;
    const first = { bits: gptqLayers[0]!.bits, groupSize: gs, sym: gptqLayers[0]!.sym };
    for (const v of gptqLayers) {
      const okGroup = gs === -1 ? v.groupSize === v.inFeatures : v.groupSize === gs || (v.groupSize === v.inFeatures && v.inFeatures <= gs);
      if (v.bits !== first.bits || v.sym !== first.sym || !okGroup)
        throw new ArgumentError(
          fn,
          'model',
          `${v.name}: ${v.bits}-bit g${v.groupSize}${v.sym ? '' : ' asymmetric'}`,
          `differs from ${first.bits}-bit g${gs}${first.sym ? '' : ' asymmetric'} elsewhere; one quantization_config cannot describe a mix`,
        );
    }
    const mixed = [...quantizedRoles].filter((r) => denseRoles.has(r));
    if (mixed.length)
      notes.push(
        `role(s) ${mixed.join(', ')} are GPTQ in some blocks and dense in others (engines that expect every listed module quantized will reject this folder)`,
      );
    const inBlock = LINEAR_ROLES.filter((r) => quantizedRoles.has(r) && !denseRoles.has(r)).map((r) => HF_ROLE[r]);
    extra.quantization_config = {
      quant_method: 'gptq',
      bits: first.bits,
      group_size: first.groupSize,
      desc_act: gptqLayers.some((v) => v.desc),
      sym: first.sym,
      checkpoint_format: 'gptq',
      true_sequential: true,
      damp_percent: 0.01,
      static_groups: false,
      ...(inBlock.length < LINEAR_ROLES.length ? { modules_in_block_to_quantize: [inBlock] } : {}),
    };
  }
  const files = new Map<string, Uint8Array>();
  const st = writeSafetensors(tensors, { format: 'pt' });
  files.set('config.json', new TextEncoder().encode(JSON.stringify(hfConfigJson(c, extra), null, 2) + '\n'));
  files.set('model.safetensors', st);
  for (const [k, v] of options.tokenizerFiles ?? []) {
    if (k.includes('/') || k.includes('\\') || k.startsWith('.') || files.has(k))
      throw new ArgumentError(fn, 'options.tokenizerFiles', k, 'must be plain file names other than config.json / model.safetensors');
    files.set(k, v);
  }
  if (!options.tokenizerFiles?.size && options.bpeTokenizer) {
    const { tokenizer, config } = bpeToHfTokenizerJson(options.bpeTokenizer);
    files.set('tokenizer.json', new TextEncoder().encode(JSON.stringify(tokenizer)));
    files.set('tokenizer_config.json', new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
    notes.push('tokenizer.json written from the SentencePiece vocabulary (merges ranked by piece score)');
  } else if (!options.tokenizerFiles?.size) notes.push('no Hugging Face tokenizer files were given: the folder has none');
  const group = new Map<string, string[]>();
  for (const t of report)
    if (t.how !== 'exact' || t.note) {
      const k = `${t.how} → ${t.type}${t.note ? ` (${t.note})` : ''}`;
      group.set(k, [...(group.get(k) ?? []), t.source]);
    }
  for (const [k, v] of group) notes.push(`${v.length} tensor(s) ${k}: ${v.slice(0, 4).join(', ')}${v.length > 4 ? ', …' : ''}`);
  let bytes = 0;
  for (const f of files.values()) bytes += f.length;
  return { files, report: { format: options.gptq ? 'gptq' : 'hf', tensors: report, lossless: report.every((t) => t.how === 'exact'), bytes, notes } };
}

/**
 * Reads an exported (or any) Hugging Face Llama folder — dense or GPTQ v1 — back into a model.
 * GPTQ layers become `kinds.quantized(serialized)` (pass `QuantizedLinear.deserialize`).
 */
export function readHfExport(
  configJson: string,
  get: (name: string) => Tensor | undefined,
  rawF16: (name: string) => Uint16Array | undefined,
  options: { kinds?: Record<string, (s: SerializedLayer) => LinearLayer>; file?: string } = {},
): LlamaModel {
  const fn = 'readHfExport';
  const file = options.file ?? 'model.safetensors';
  let cfg: any;
  try {
    cfg = JSON.parse(configJson);
  } catch (e) {
    throw new FormatError(fn, 'config.json', { field: '(root)' }, `is not valid JSON (${(e as Error).message})`);
  }
  const c = hfConfigToLlama(cfg, 'config.json');
  const qc = cfg.quantization_config;
  if (qc && qc.quant_method !== 'gptq')
    throw new FormatError(fn, 'config.json', { field: 'quantization_config.quant_method' }, `${JSON.stringify(qc.quant_method)} is not read (only "gptq")`);
  if (qc && qc.checkpoint_format !== undefined && qc.checkpoint_format !== 'gptq')
    throw new FormatError(
      fn,
      'config.json',
      { field: 'quantization_config.checkpoint_format' },
      `${JSON.stringify(qc.checkpoint_format)} is not read (only the v1 "gptq" format)`,
    );
  const need = (name: string, shape: number[]): Tensor<'f32'> => {
    const t = get(name);
    if (!t) throw new FormatError(fn, file, { tensor: name }, 'is missing');
    if (t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new FormatError(fn, file, { tensor: name, field: 'shape' }, `is [${t.shape}], config implies [${shape}]`);
    return (t.dtype === 'f32' ? (t as Tensor<'f32'>) : t.astype('f32')).contiguous();
  };
  const qDim = c.nHeads * c.headDim,
    kvDim = c.nKvHeads * c.headDim;
  const io: Record<LinearRole, [number, number]> = {
    q: [qDim, c.dim],
    k: [kvDim, c.dim],
    v: [kvDim, c.dim],
    o: [c.dim, qDim],
    gate: [c.hiddenDim, c.dim],
    up: [c.hiddenDim, c.dim],
    down: [c.dim, c.hiddenDim],
  };
  const layer = (p: string, role: LinearRole): LinearLayer => {
    const [m, n] = io[role];
    const qw = get(`${p}.qweight`);
    if (!qw) return new DenseLinear(need(`${p}.weight`, [m, n]));
    if (!qc) throw new FormatError(fn, file, { tensor: `${p}.qweight` }, 'GPTQ tensors but config.json has no quantization_config');
    const scales = rawF16(`${p}.scales`);
    if (!scales) throw new FormatError(fn, file, { tensor: `${p}.scales` }, 'is missing or not F16');
    const de = options.kinds?.quantized;
    if (!de) throw new ArgumentError(fn, 'options.kinds.quantized', undefined, 'is needed to rebuild GPTQ layers (pass QuantizedLinear.deserialize)');
    const s = fromGptq(
      { qweight: qw, qzeros: get(`${p}.qzeros`)!, g_idx: get(`${p}.g_idx`), scalesF16: scales },
      { bits: qc.bits, groupSize: qc.group_size, sym: qc.sym !== false, inFeatures: n, outFeatures: m },
      p,
    );
    return de(s);
  };
  const blocks: LlamaBlock[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const b: Partial<LlamaBlock> = {
      attnNorm: need(p + 'input_layernorm.weight', [c.dim]).data as Float32Array,
      ffnNorm: need(p + 'post_attention_layernorm.weight', [c.dim]).data as Float32Array,
    };
    for (const r of LINEAR_ROLES) b[r] = layer(p + HF_ROLE[r], r);
    blocks.push(b as LlamaBlock);
  }
  return new LlamaModel(c, {
    embedding: need('model.embed_tokens.weight', [c.vocabSize, c.dim]),
    blocks,
    finalNorm: need('model.norm.weight', [c.dim]).data as Float32Array,
    lmHead: c.tiedEmbeddings ? undefined : new DenseLinear(need('lm_head.weight', [c.vocabSize, c.dim])),
  });
}

/** readHfExport over in-memory files (config.json + model.safetensors). */
export function parseHfExport(
  files: ReadonlyMap<string, Uint8Array>,
  options: { kinds?: Record<string, (s: SerializedLayer) => LinearLayer> } = {},
): LlamaModel {
  const cfg = files.get('config.json'),
    st = files.get('model.safetensors');
  if (!cfg || !st) throw new ArgumentError('parseHfExport', 'files', [...files.keys()], 'must hold config.json and model.safetensors');
  const f = SafetensorsFile.openSync(bytesSource(st, 'model.safetensors'));
  return readHfExport(
    new TextDecoder().decode(cfg),
    (n) => (f.has(n) ? f.tensorSync(n) : undefined),
    (n) => {
      if (!f.has(n) || f.entry(n).dtype !== 'F16') return undefined;
      const raw = f.rawSync(n);
      return new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    },
    options,
  );
}
