/**
 * A (compressed) LlamaModel as a self-contained llama.cpp GGUF: `llama` architecture metadata from
 * the config, the embedded tokenizer, llama.cpp tensor names, and per tensor the best encoding:
 * - quantized layers whose codes map exactly (see ggml.ts) are written as those ggml blocks, bit for bit;
 * - everything else (low-rank, TT, sparse, act-order or f32-scale codes, rows whose width is not a
 *   multiple of 32) is densified (`toDense()`) at `denseType`;
 * - dense layers are written at `type` (quantized by ggml's reference quantizers for Q-types: lossy).
 * Hugging Face RoPE layout (ropeStyle 'half') gets llama.cpp's Q/K row permutation; llama2.c and GGUF
 * weights are already in the interleaved-pair layout llama.cpp's `llama` RoPE expects.
 */
import { ArgumentError, DenseLinear, decodeHalf, type LinearLayer } from '@llmpress/tensor';
import type { LlamaModel } from '../model.js';
import { LossyExportError, MissingTokenizerError } from './errors.js';
import { GGML, codesToGgml, encodeValues, exactMappingProblem, isBlockType, isQuantizedLike, type GgmlTypeName } from './ggml.js';
import { GgufWriter, memorySink, streamGguf, type ByteSink, type GgufLayout } from './gguf-writer.js';
import { tokenizerToGguf, type TokenizerSource } from './tokenizer-kv.js';

export type GgufExportType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_1';
export type DenseExportType = 'f32' | 'f16' | 'bf16';
export const GGUF_EXPORT_TYPES: readonly GgufExportType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1'];

const TYPE_ID: Record<GgufExportType, number> = { f32: GGML.F32, f16: GGML.F16, bf16: GGML.BF16, q8_0: GGML.Q8_0, q4_0: GGML.Q4_0, q4_1: GGML.Q4_1 };
const TYPE_NAME: Record<number, GgmlTypeName> = { 0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 8: 'Q8_0', 30: 'BF16' };
/** llama.cpp's LLAMA_FTYPE of a file whose linears are mostly `type`. */
const FILE_TYPE: Record<GgufExportType, number> = { f32: 0, f16: 1, q4_0: 2, q4_1: 3, q8_0: 7, bf16: 32 };

export interface GgufExportOptions {
  /** Target type of the linear layers. */
  type: GgufExportType;
  /** Type of densified layers (and of the embedding): default `type` for f16/bf16/f32, else 'f32'. */
  denseType?: DenseExportType;
  /** Type of low-rank / TT / sparse layers (default `denseType`); a Q-type quantizes their dense product
   *  with ggml's reference quantizer where the row width is a multiple of 32 (else `denseType`). */
  factorizedType?: GgufExportType;
  /** Type of the token embedding (default `denseType`). */
  embeddingType?: DenseExportType;
  /** The tokenizer to embed (required: the file must be self-contained). */
  tokenizer?: TokenizerSource;
  /** Refuse (LossyExportError) unless every tensor's values equal the model's effective weights bit for bit. */
  lossless?: boolean;
  /** `general.name` (default 'llmpress'). */
  name?: string;
  /** Extra metadata strings (e.g. `general.description`). */
  extra?: Record<string, string>;
}

/** How one tensor was written. 'exact': values equal the model's effective weights bit for bit. */
export interface ExportedTensor {
  name: string;
  /** The llmpress tensor it came from ('blocks.0.q', 'embedding', …). */
  source: string;
  kind: string;
  type: GgmlTypeName;
  how: 'exact' | 'densified' | 'rounded' | 'requantized';
  note?: string;
  bytes: number;
}

export interface ExportReport {
  format: 'gguf' | 'hf' | 'gptq';
  tensors: ExportedTensor[];
  /** Every tensor exact (the file is the compressed model, bit for bit). */
  lossless: boolean;
  bytes: number;
  /** Short lines for people: which layers were densified or re-quantized and why. */
  notes: string[];
}

interface Job {
  decl: { name: string; shape: number[]; type: number };
  produce: () => Uint8Array;
  info: Omit<ExportedTensor, 'bytes'>;
}

/** Output-row order that turns Hugging Face rotate-half Q/K rows into llama.cpp's interleaved pairs. */
export function ropeInterleaveRows(nHeads: number, headDim: number): Int32Array {
  const half = headDim / 2,
    p = new Int32Array(nHeads * headDim);
  for (let h = 0; h < nHeads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) p[h * headDim + 2 * i + j] = h * headDim + j * half + i;
  return p;
}

function permuteRows(x: Float32Array, cols: number, rows: ArrayLike<number> | undefined): Float32Array {
  if (!rows) return x;
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows.length; r++) out.set(x.subarray(rows[r]! * cols, rows[r]! * cols + cols), r * cols);
  return out;
}

function isExactIn(x: Float32Array, type: number): boolean {
  if (type === GGML.F32) return true;
  const enc = encodeValues(x, type);
  const back = decodeHalf(new Uint8Array(enc.buffer, enc.byteOffset, enc.byteLength), type === GGML.BF16 ? 'bf16' : 'f16');
  for (let i = 0; i < x.length; i++) if (back[i] !== x[i] && !(Number.isNaN(back[i]!) && Number.isNaN(x[i]!))) return false;
  return true;
}

/** Lays out the export (nothing is computed per tensor until it is written). */
export function planGgufExport(
  model: LlamaModel,
  options: GgufExportOptions,
): { layout: GgufLayout; report: ExportReport; write(sink: ByteSink, onTensor?: (done: number, total: number, name: string) => void): number } {
  const fn = 'exportGguf';
  if (!options || !GGUF_EXPORT_TYPES.includes(options.type))
    throw new ArgumentError(fn, 'options.type', options?.type, `must be one of ${GGUF_EXPORT_TYPES.join(', ')}`);
  const type = TYPE_ID[options.type];
  const denseName: DenseExportType = options.denseType ?? (isBlockType(type) ? 'f32' : (options.type as DenseExportType));
  if (!['f32', 'f16', 'bf16'].includes(denseName)) throw new ArgumentError(fn, 'options.denseType', denseName, "must be 'f32', 'f16' or 'bf16'");
  const denseType = TYPE_ID[denseName];
  const embName = options.embeddingType ?? denseName;
  if (!['f32', 'f16', 'bf16'].includes(embName)) throw new ArgumentError(fn, 'options.embeddingType', embName, "must be 'f32', 'f16' or 'bf16'");
  if (!options.tokenizer)
    throw new MissingTokenizerError(fn, 'a GGUF export embeds its tokenizer: none was given (pass a llama2.c tokenizer, tokenizer.json or a GGUF input)');
  const c = model.config;
  const tokKV = tokenizerToGguf(options.tokenizer, c.vocabSize);

  const w = new GgufWriter();
  w.setKV('general.architecture', 'string', 'llama');
  w.setKV('general.name', 'string', options.name ?? 'llmpress');
  w.setKV('general.file_type', 'u32', FILE_TYPE[options.type]);
  if (isBlockType(type)) w.setKV('general.quantization_version', 'u32', 2);
  for (const [k, v] of Object.entries(options.extra ?? {})) w.setKV(k, 'string', v);
  w.setKV('llama.vocab_size', 'u32', c.vocabSize);
  w.setKV('llama.context_length', 'u32', c.seqLen);
  w.setKV('llama.embedding_length', 'u32', c.dim);
  w.setKV('llama.block_count', 'u32', c.nLayers);
  w.setKV('llama.feed_forward_length', 'u32', c.hiddenDim);
  w.setKV('llama.rope.dimension_count', 'u32', c.headDim);
  w.setKV('llama.attention.head_count', 'u32', c.nHeads);
  w.setKV('llama.attention.head_count_kv', 'u32', c.nKvHeads);
  if (c.headDim * c.nHeads !== c.dim) {
    w.setKV('llama.attention.key_length', 'u32', c.headDim);
    w.setKV('llama.attention.value_length', 'u32', c.headDim);
  }
  w.setKV('llama.attention.layer_norm_rms_epsilon', 'f32', c.normEps);
  w.setKV('llama.rope.freq_base', 'f32', c.ropeTheta);
  for (const [k, v] of tokKV) w.setKV(k, v.type, v.value, v.elemType);

  const jobs: Job[] = [];
  const lossy = (name: string, why: string) => {
    if (options.lossless) throw new LossyExportError(fn, name, why);
  };
  // exactness of a half-precision rounding is only checked when it matters (lossless), so planning stays cheap
  const exactIn = (t: number, values: () => Float32Array) => t === GGML.F32 || (!!options.lossless && isExactIn(values(), t));
  const vec = (name: string, source: string, x: Float32Array) =>
    jobs.push({
      decl: { name, shape: [x.length], type: GGML.F32 },
      produce: () => encodeValues(x, GGML.F32),
      info: { name, source, kind: 'norm', type: 'F32', how: 'exact' },
    });
  const denseJob = (
    name: string,
    source: string,
    kind: string,
    rows: number,
    cols: number,
    t: number,
    values: () => Float32Array,
    how: ExportedTensor['how'],
    note?: string,
  ) => {
    jobs.push({
      decl: { name, shape: [rows, cols], type: t },
      produce: () => encodeValues(values(), t),
      info: { name, source, kind, type: TYPE_NAME[t]!, how, note },
    });
  };

  const embT = TYPE_ID[embName];
  const emb = model.embedding.contiguous().data as Float32Array;
  let embHow: ExportedTensor['how'] = 'exact';
  if (!exactIn(embT, () => emb)) {
    embHow = 'rounded';
    lossy('token_embd.weight', `the embedding rounded to ${embName}`);
  }
  denseJob('token_embd.weight', 'embedding', 'dense', c.vocabSize, c.dim, embT, () => emb, embHow);

  const linear = (name: string, source: string, L: LinearLayer, rowsOrder?: Int32Array) => {
    const m = L.outFeatures,
      n = L.inFeatures;
    const dense = () => permuteRows(L.toDense().contiguous().data as Float32Array, n, rowsOrder);
    if (isQuantizedLike(L)) {
      if (isBlockType(type) && n % 32 === 0) {
        const order = [type, GGML.Q4_0, GGML.Q4_1, GGML.Q8_0];
        const ok = order.find((t) => exactMappingProblem(L, t) === undefined);
        if (ok !== undefined) {
          jobs.push({
            decl: { name, shape: [m, n], type: ok },
            produce: () => codesToGgml(L, ok, rowsOrder),
            info: {
              name,
              source,
              kind: L.kind,
              type: TYPE_NAME[ok]!,
              how: 'exact',
              note: ok !== type ? `${L.bits}-bit codes map exactly to ${TYPE_NAME[ok]}, not ${TYPE_NAME[type]}` : undefined,
            },
          });
          return;
        }
      }
      const why = isBlockType(type) ? (n % 32 !== 0 ? `row width ${n} is not a multiple of 32` : exactMappingProblem(L, type)!) : `${options.type} requested`;
      const t = isBlockType(type) ? denseType : type;
      const exact = exactIn(t, dense);
      if (!exact) lossy(name, `${why}; densified to ${TYPE_NAME[t]} with rounding`);
      denseJob(name, source, L.kind, m, n, t, dense, exact ? 'exact' : 'densified', `densified to ${TYPE_NAME[t]}: ${why}`);
      return;
    }
    if (L instanceof DenseLinear || L.kind === 'dense') {
      if (isBlockType(type) && n % 32 === 0) {
        lossy(name, `a dense layer quantized to ${TYPE_NAME[type]}`);
        denseJob(name, source, L.kind, m, n, type, dense, 'requantized', `dense weights quantized to ${TYPE_NAME[type]} by ggml's reference quantizer`);
        return;
      }
      const t = isBlockType(type) ? denseType : type;
      const exact = exactIn(t, dense);
      if (!exact) lossy(name, `dense weights rounded to ${TYPE_NAME[t]}`);
      denseJob(
        name,
        source,
        L.kind,
        m,
        n,
        t,
        dense,
        exact ? 'exact' : 'rounded',
        isBlockType(type) ? `row width ${n} is not a multiple of 32: kept ${TYPE_NAME[t]}` : undefined,
      );
      return;
    }
    // low-rank, TT, sparse, activation-quantized, …: the effective weight matrix
    const ft = options.factorizedType === undefined ? undefined : TYPE_ID[options.factorizedType];
    if (options.factorizedType !== undefined && ft === undefined)
      throw new ArgumentError(fn, 'options.factorizedType', options.factorizedType, `must be one of ${GGUF_EXPORT_TYPES.join(', ')}`);
    if (ft !== undefined && (!isBlockType(ft) || n % 32 === 0) && ft !== denseType) {
      if (ft !== GGML.F32) lossy(name, `a '${L.kind}' layer densified to ${TYPE_NAME[ft]}`);
      denseJob(
        name,
        source,
        L.kind,
        m,
        n,
        ft,
        dense,
        'densified',
        `'${L.kind}' densified to ${TYPE_NAME[ft]}${isBlockType(ft) ? " by ggml's reference quantizer" : ''}`,
      );
      return;
    }
    const exact = exactIn(denseType, dense);
    if (!exact) lossy(name, `a '${L.kind}' layer densified to ${denseName} with rounding`);
    const note =
      L.kind === 'quant-act'
        ? `'${L.kind}' densified to ${TYPE_NAME[denseType]} (activation quantization is not part of the file)`
        : `'${L.kind}' densified to ${TYPE_NAME[denseType]}`;
    if (L.kind === 'quant-act') lossy(name, 'activation quantization cannot be expressed in GGUF');
    denseJob(name, source, L.kind, m, n, denseType, dense, 'densified', note);
  };

  vec('output_norm.weight', 'final_norm', model.finalNorm);
  if (!model.headIsTied()) linear('output.weight', 'lm_head', model.lmHead);
  const half = c.ropeStyle === 'half';
  const qRows = half ? ropeInterleaveRows(c.nHeads, c.headDim) : undefined;
  const kRows = half ? ropeInterleaveRows(c.nKvHeads, c.headDim) : undefined;
  model.blocks.forEach((b, i) => {
    const p = `blk.${i}.`,
      s = `blocks.${i}.`;
    vec(p + 'attn_norm.weight', s + 'attn_norm', b.attnNorm);
    linear(p + 'attn_q.weight', s + 'q', b.q, qRows);
    linear(p + 'attn_k.weight', s + 'k', b.k, kRows);
    linear(p + 'attn_v.weight', s + 'v', b.v);
    linear(p + 'attn_output.weight', s + 'o', b.o);
    vec(p + 'ffn_norm.weight', s + 'ffn_norm', b.ffnNorm);
    linear(p + 'ffn_gate.weight', s + 'gate', b.gate);
    linear(p + 'ffn_up.weight', s + 'up', b.up);
    linear(p + 'ffn_down.weight', s + 'down', b.down);
  });
  for (const j of jobs) w.addTensor(j.decl.name, j.decl.shape, j.decl.type);
  const layout = w.layout();
  const tensors: ExportedTensor[] = jobs.map((j, i) => ({ ...j.info, bytes: layout.tensors[i]!.byteSize }));
  const notes: string[] = [];
  const group = new Map<string, string[]>();
  for (const t of tensors)
    if (t.how !== 'exact' || t.note) {
      const k = `${t.how} → ${t.type}${t.note ? ` (${t.note})` : ''}`;
      group.set(k, [...(group.get(k) ?? []), t.source]);
    }
  for (const [k, v] of group) notes.push(`${v.length} tensor(s) ${k}: ${v.slice(0, 4).join(', ')}${v.length > 4 ? ', …' : ''}`);
  const report: ExportReport = { format: 'gguf', tensors, lossless: tensors.every((t) => t.how === 'exact'), bytes: layout.totalBytes, notes };
  return {
    layout,
    report,
    write(sink, onTensor) {
      return streamGguf(layout, sink, (_t, i) => {
        const b = jobs[i]!.produce();
        onTensor?.(i + 1, jobs.length, jobs[i]!.decl.name);
        return b;
      });
    },
  };
}

/** The whole GGUF in memory (small models, tests, browsers). */
export function exportGgufBytes(model: LlamaModel, options: GgufExportOptions): { bytes: Uint8Array; report: ExportReport } {
  const plan = planGgufExport(model, options);
  const sink = memorySink();
  plan.write(sink);
  const bytes = sink.bytes();
  if (bytes.length !== plan.layout.totalBytes)
    throw new ArgumentError('exportGguf', 'layout', bytes.length, `wrote ${bytes.length} bytes, layout says ${plan.layout.totalBytes} (internal error)`);
  return { bytes, report: plan.report };
}
