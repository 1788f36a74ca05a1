/**
 * GGUF v2/v3 reader: header, metadata, tensor infos (validated), tensors on demand with dequantization
 * (F32, F16, BF16, Q8_0, Q4_0), and llama metadata → LlamaConfig / LlamaModel.
 */
import { DenseLinear, Tensor, UnsupportedError, f16ToF32, decodeHalf } from '@llmpress/tensor';
import { validateConfig, type LlamaConfig } from './config.js';
import { FormatError } from './errors.js';
import { LlamaModel, denseBlock, type LlamaBlock } from './model.js';
import { bytesSource, type ByteSource } from './safetensors.js';
import { BpeTokenizer } from './tokenizer.js';

const FN = 'parseGguf';

export const GGUF_VALUE_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
export type GgufValue =
  | number
  | bigint
  | boolean
  | string
  | GgufValue[]
  | Float32Array
  | Int32Array
  | Uint32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array;

export interface GgufKV {
  type: GgufValueType /** for arrays */;
  elemType?: GgufValueType;
  value: GgufValue;
}

/** ggml type id → [name, block size (elements), bytes per block]. */
export const GGML_TYPES: Record<number, [string, number, number]> = {
  0: ['F32', 1, 4],
  1: ['F16', 1, 2],
  2: ['Q4_0', 32, 18],
  3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24],
  8: ['Q8_0', 32, 34],
  9: ['Q8_1', 32, 36],
  10: ['Q2_K', 256, 84],
  11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144],
  13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210],
  15: ['Q8_K', 256, 292],
  24: ['I8', 1, 1],
  25: ['I16', 1, 2],
  26: ['I32', 1, 4],
  27: ['I64', 1, 8],
  28: ['F64', 1, 8],
  30: ['BF16', 1, 2],
};
const DEQUANT = new Set([0, 1, 2, 8, 30]);

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the row length (fastest axis). */
  dims: number[];
  /** numpy order (dims reversed): [rows, rowLength] for a matrix. */
  shape: number[];
  type: number;
  typeName: string;
  /** Relative to the data section. */
  offset: number;
  byteSize: number;
}

export interface GgufHeader {
  file: string;
  version: number;
  metadata: Map<string, GgufKV>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute file offset of the data section (tensor infos end, rounded up to the alignment). */
  dataStart: number;
  /** Where the tensor infos end. */
  infoEnd: number;
}

export interface GgufLimits {
  maxTensors?: number;
  maxKV?: number;
  maxArrayDepth?: number;
}

/** A bounds-checked little-endian cursor over a synchronous ByteSource (reads in chunks). */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  private dv: DataView = new DataView(new ArrayBuffer(0));
  constructor(
    private src: ByteSource,
    private file: string,
  ) {}
  remaining(): number {
    return this.src.size - this.pos;
  }
  private need(n: number, field: string): void {
    if (n > this.remaining()) throw new FormatError(FN, this.file, { field }, `needs ${n} bytes at offset ${this.pos} but the file ends at ${this.src.size}`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.byteLength) {
      const len = Math.min(this.src.size - this.pos, Math.max(n, 1 << 20));
      const r = this.src.read(this.pos, len);
      if (!(r instanceof Uint8Array) || r.byteLength !== len)
        throw new FormatError(FN, this.file, { field }, `source returned ${(r as any)?.byteLength} bytes at offset ${this.pos}, expected ${len}`);
      this.buf = r;
      this.bufStart = this.pos;
      this.dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    }
  }
  private o(): number {
    return this.pos - this.bufStart;
  }
  u8(f: string): number {
    this.need(1, f);
    const v = this.dv.getUint8(this.o());
    this.pos += 1;
    return v;
  }
  i8(f: string): number {
    this.need(1, f);
    const v = this.dv.getInt8(this.o());
    this.pos += 1;
    return v;
  }
  u16(f: string): number {
    this.need(2, f);
    const v = this.dv.getUint16(this.o(), true);
    this.pos += 2;
    return v;
  }
  i16(f: string): number {
    this.need(2, f);
    const v = this.dv.getInt16(this.o(), true);
    this.pos += 2;
    return v;
  }
  u32(f: string): number {
    this.need(4, f);
    const v = this.dv.getUint32(this.o(), true);
    this.pos += 4;
    return v;
  }
  i32(f: string): number {
    this.need(4, f);
    const v = this.dv.getInt32(this.o(), true);
    this.pos += 4;
    return v;
  }
  f32(f: string): number {
    this.need(4, f);
    const v = this.dv.getFloat32(this.o(), true);
    this.pos += 4;
    return v;
  }
  f64(f: string): number {
    this.need(8, f);
    const v = this.dv.getFloat64(this.o(), true);
    this.pos += 8;
    return v;
  }
  u64big(f: string): bigint {
    this.need(8, f);
    const v = this.dv.getBigUint64(this.o(), true);
    this.pos += 8;
    return v;
  }
  i64big(f: string): bigint {
    this.need(8, f);
    const v = this.dv.getBigInt64(this.o(), true);
    this.pos += 8;
    return v;
  }
  /** u64 that must be a safe integer ≤ limit. */
  u64(f: string, limit = Number.MAX_SAFE_INTEGER): number {
    const v = this.u64big(f);
    if (v > BigInt(limit)) throw new FormatError(FN, this.file, { field: f }, `value ${v} exceeds the limit ${limit}`);
    return Number(v);
  }
  bytes(n: number, f: string): Uint8Array {
    this.need(n, f);
    const b = this.buf.subarray(this.o(), this.o() + n);
    this.pos += n;
    return b;
  }
  str(f: string): string {
    const n = this.u64(f + ' (string length)', this.remaining());
    return new TextDecoder().decode(this.bytes(n, f));
  }
}

function readValue(c: Cursor, type: number, field: string, depth: number, limits: GgufLimits, file: string): GgufKV {
  const t = GGUF_VALUE_TYPES[type];
  if (t === undefined) throw new FormatError(FN, file, { field }, `unknown value type ${type}`);
  switch (t) {
    case 'u8':
      return { type: t, value: c.u8(field) };
    case 'i8':
      return { type: t, value: c.i8(field) };
    case 'u16':
      return { type: t, value: c.u16(field) };
    case 'i16':
      return { type: t, value: c.i16(field) };
    case 'u32':
      return { type: t, value: c.u32(field) };
    case 'i32':
      return { type: t, value: c.i32(field) };
    case 'f32':
      return { type: t, value: c.f32(field) };
    case 'bool': {
      const b = c.u8(field);
      if (b > 1) throw new FormatError(FN, file, { field }, `bool byte is ${b}`);
      return { type: t, value: b === 1 };
    }
    case 'string':
      return { type: t, value: c.str(field) };
    case 'u64': {
      const v = c.u64big(field);
      return { type: t, value: v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v };
    }
    case 'i64': {
      const v = c.i64big(field);
      return { type: t, value: v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v };
    }
    case 'f64':
      return { type: t, value: c.f64(field) };
    case 'array': {
      if (depth >= (limits.maxArrayDepth ?? 4)) throw new FormatError(FN, file, { field }, `arrays nested deeper than ${limits.maxArrayDepth ?? 4}`);
      const et = c.u32(field + ' (array type)');
      const etn = GGUF_VALUE_TYPES[et];
      if (etn === undefined) throw new FormatError(FN, file, { field }, `unknown array element type ${et}`);
      const minSize: Record<GgufValueType, number> = {
        u8: 1,
        i8: 1,
        bool: 1,
        u16: 2,
        i16: 2,
        u32: 4,
        i32: 4,
        f32: 4,
        u64: 8,
        i64: 8,
        f64: 8,
        string: 8,
        array: 12,
      };
      const n = c.u64(field + ' (array length)', Math.floor(c.remaining() / minSize[etn]));
      const fixed: Partial<Record<GgufValueType, [any, number]>> = {
        u8: [Uint8Array, 1],
        i8: [Int8Array, 1],
        u16: [Uint16Array, 2],
        i16: [Int16Array, 2],
        u32: [Uint32Array, 4],
        i32: [Int32Array, 4],
        f32: [Float32Array, 4],
        f64: [Float64Array, 8],
      };
      const fx = fixed[etn];
      if (fx) {
        const [C, sz] = fx;
        const raw = c.bytes(n * sz, field);
        const arr = new C(n);
        new Uint8Array(arr.buffer).set(raw);
        return { type: 'array', elemType: etn, value: arr };
      }
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, et, `${field}[${i}]`, depth + 1, limits, file).value;
      return { type: 'array', elemType: etn, value: out };
    }
  }
}

/** Parses and validates a GGUF header (metadata + tensor infos) from a synchronous ByteSource. */
export function parseGgufHeader(src: ByteSource, options: { file?: string } & GgufLimits = {}): GgufHeader {
  const file = options.file ?? src.name ?? '<bytes>';
  const c = new Cursor(src, file);
  const magic = c.bytes(4, 'magic');
  if (magic[0] !== 0x47 || magic[1] !== 0x47 || magic[2] !== 0x55 || magic[3] !== 0x46)
    throw new FormatError(FN, file, { field: 'magic' }, `expected "GGUF", got bytes [${Array.from(magic)}]`);
  const version = c.u32('version');
  if (version === 1)
    throw new UnsupportedError(FN, `file '${file}', field 'version': GGUF v1 (2023, u32 lengths) is not supported; re-convert the model to GGUF v3`);
  if (version !== 2 && version !== 3) throw new FormatError(FN, file, { field: 'version' }, `unsupported version ${version} (expected 2 or 3)`);
  const nT = c.u64('n_tensors', Math.min(options.maxTensors ?? 1_000_000, Math.floor(c.remaining() / 24)));
  const nKV = c.u64('n_kv', Math.min(options.maxKV ?? 1_000_000, Math.floor(c.remaining() / 12)));
  const metadata = new Map<string, GgufKV>();
  for (let i = 0; i < nKV; i++) {
    const key = c.str(`kv[${i}].key`);
    if (metadata.has(key)) throw new FormatError(FN, file, { field: key }, 'duplicate metadata key');
    const type = c.u32(`${key} (type)`);
    metadata.set(key, readValue(c, type, key, 0, options, file));
  }
  let alignment = 32;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    const v = al.value;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || (v & (v - 1)) !== 0 || v > 1 << 20)
      throw new FormatError(FN, file, { field: 'general.alignment' }, `must be a power of two ≤ 2^20, got ${String(v)}`);
    alignment = v;
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nT; i++) {
    const name = c.str(`tensor[${i}].name`);
    if (names.has(name)) throw new FormatError(FN, file, { tensor: name, field: 'name' }, 'duplicate tensor name');
    names.add(name);
    const nd = c.u32(`${name}.n_dims`);
    if (nd < 1 || nd > 4) throw new FormatError(FN, file, { tensor: name, field: 'n_dims' }, `${nd} is outside 1..4`);
    const dims: number[] = [];
    let count = 1;
    for (let d = 0; d < nd; d++) {
      const v = c.u64(`${name}.dims[${d}]`, 2 ** 40);
      if (v < 1) throw new FormatError(FN, file, { tensor: name, field: `dims[${d}]` }, `is ${v}`);
      dims.push(v);
      count *= v;
      if (count > 2 ** 40) throw new FormatError(FN, file, { tensor: name, field: 'dims' }, `[${dims}] has too many elements`);
    }
    const type = c.u32(`${name}.type`);
    const ti = GGML_TYPES[type];
    if (!ti) throw new FormatError(FN, file, { tensor: name, field: 'type' }, `unknown ggml type ${type}`);
    const offset = c.u64(`${name}.offset`);
    const [typeName, bs, bb] = ti;
    if (count % bs !== 0)
      throw new FormatError(FN, file, { tensor: name, field: 'dims' }, `${count} elements are not a whole number of ${typeName} blocks of ${bs}`);
    if (offset % alignment !== 0)
      throw new FormatError(FN, file, { tensor: name, field: 'offset' }, `${offset} is not a multiple of the alignment ${alignment}`);
    tensors.push({ name, dims, shape: dims.slice().reverse(), type, typeName, offset, byteSize: (count / bs) * bb });
  }
  const infoEnd = c.pos;
  const dataStart = nT === 0 ? infoEnd : Math.ceil(infoEnd / alignment) * alignment;
  const dataSize = src.size - dataStart;
  if (nT > 0 && dataSize < 0) throw new FormatError(FN, file, { field: 'data section' }, `starts at ${dataStart}, past the end of the ${src.size}-byte file`);
  const sorted = tensors.slice().sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i]!;
    if (t.offset + t.byteSize > dataSize)
      throw new FormatError(
        FN,
        file,
        { tensor: t.name, field: 'offset' },
        `[${t.offset}, ${t.offset + t.byteSize}) reaches past the data section (${dataSize} bytes)`,
      );
    if (i > 0 && t.offset < sorted[i - 1]!.offset + sorted[i - 1]!.byteSize)
      throw new FormatError(FN, file, { tensor: t.name, field: 'offset' }, `overlaps tensor '${sorted[i - 1]!.name}'`);
  }
  return { file, version, metadata, tensors, alignment, dataStart, infoEnd };
}

/** Dequantizes raw ggml data of `count` elements to f32 (blocks over the flattened tensor). */
export function dequantize(
  raw: Uint8Array,
  type: number,
  count: number,
  where: { file: string; tensor: string } = { file: '<bytes>', tensor: '?' },
): Float32Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(count);
  switch (type) {
    case 0:
      new Uint8Array(out.buffer).set(raw.subarray(0, count * 4));
      return out;
    case 1:
      return decodeHalf(raw.subarray(0, count * 2), 'f16');
    case 30:
      return decodeHalf(raw.subarray(0, count * 2), 'bf16');
    case 8: {
      for (let b = 0; b < count / 32; b++) {
        const o = b * 34;
        const d = f16ToF32(dv.getUint16(o, true));
        for (let i = 0; i < 32; i++) out[b * 32 + i] = d * dv.getInt8(o + 2 + i);
      }
      return out;
    }
    case 2: {
      for (let b = 0; b < count / 32; b++) {
        const o = b * 18;
        const d = f16ToF32(dv.getUint16(o, true));
        for (let j = 0; j < 16; j++) {
          const q = raw[o + 2 + j]!;
          out[b * 32 + j] = d * ((q & 0x0f) - 8);
          out[b * 32 + j + 16] = d * ((q >> 4) - 8);
        }
      }
      return out;
    }
  }
  throw new UnsupportedError(
    'GgufFile.tensor',
    `file '${where.file}', tensor '${where.tensor}': ggml type ${GGML_TYPES[type]?.[0] ?? type} cannot be dequantized (supported: F32, F16, BF16, Q8_0, Q4_0)`,
  );
}

/** A GGUF file over a synchronous ByteSource; tensors are read and dequantized on demand. */
export class GgufFile {
  readonly header: GgufHeader;
  private byName: Map<string, GgufTensorInfo>;
  constructor(
    private src: ByteSource,
    options: { file?: string } & GgufLimits = {},
  ) {
    this.header = parseGgufHeader(src, options);
    this.byName = new Map(this.header.tensors.map((t) => [t.name, t]));
  }
  get metadata(): Map<string, GgufKV> {
    return this.header.metadata;
  }
  get(key: string): GgufValue | undefined {
    return this.header.metadata.get(key)?.value;
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  info(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new FormatError('GgufFile.info', this.header.file, { tensor: name }, 'no such tensor');
    return t;
  }
  raw(name: string): Uint8Array {
    const t = this.info(name);
    const r = this.src.read(this.header.dataStart + t.offset, t.byteSize);
    if (!(r instanceof Uint8Array) || r.byteLength !== t.byteSize)
      throw new FormatError(
        'GgufFile.raw',
        this.header.file,
        { tensor: name, field: 'data' },
        `source returned ${(r as any)?.byteLength} bytes, expected ${t.byteSize}`,
      );
    return r;
  }
  /** The tensor dequantized to f32, numpy-ordered shape (dims reversed). */
  tensor(name: string): Tensor<'f32'> {
    const t = this.info(name);
    if (!DEQUANT.has(t.type))
      throw new UnsupportedError(
        'GgufFile.tensor',
        `file '${this.header.file}', tensor '${name}': ggml type ${t.typeName} cannot be dequantized (supported: F32, F16, BF16, Q8_0, Q4_0)`,
      );
    const count = t.dims.reduce((a, b) => a * b, 1);
    return new Tensor('f32', dequantize(this.raw(name), t.type, count, { file: this.header.file, tensor: name }), t.shape);
  }
}

export function parseGguf(bytes: Uint8Array, options: { file?: string } & GgufLimits = {}): GgufFile {
  return new GgufFile(bytesSource(bytes, options.file), options);
}

function num(g: GgufFile, key: string, dflt?: number): number {
  const v = g.get(key) ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new FormatError('ggufToLlamaConfig', g.header.file, { field: key }, v === undefined ? 'is missing' : `must be a number, got ${String(v)}`);
  return v;
}

/** Llama-family metadata → LlamaConfig (RoPE 'interleaved': GGUF llama Q/K are stored permuted for it). */
export function ggufToLlamaConfig(g: GgufFile): LlamaConfig {
  const file = g.header.file;
  const arch = g.get('general.architecture') ?? 'llama';
  if (arch !== 'llama')
    throw new UnsupportedError('ggufToLlamaConfig', `file '${file}', field 'general.architecture': ${JSON.stringify(arch)} is not supported (only llama)`);
  const dim = num(g, 'llama.embedding_length'),
    nHeads = num(g, 'llama.attention.head_count');
  const headDim = dim / nHeads;
  const rd = g.get('llama.rope.dimension_count');
  if (rd !== undefined && rd !== headDim)
    throw new UnsupportedError(
      'ggufToLlamaConfig',
      `file '${file}', field 'llama.rope.dimension_count': partial RoPE (${String(rd)} of ${headDim}) is not supported`,
    );
  const emb = g.has('token_embd.weight') ? g.info('token_embd.weight').shape : undefined;
  const tokens = g.get('tokenizer.ggml.tokens');
  const vocab = emb ? emb[0]! : ((g.get('llama.vocab_size') as number | undefined) ?? (Array.isArray(tokens) ? tokens.length : undefined));
  if (typeof vocab !== 'number') throw new FormatError('ggufToLlamaConfig', file, { field: 'llama.vocab_size' }, 'cannot tell the vocabulary size');
  const c: LlamaConfig = {
    dim,
    hiddenDim: num(g, 'llama.feed_forward_length'),
    nLayers: num(g, 'llama.block_count'),
    nHeads,
    nKvHeads: num(g, 'llama.attention.head_count_kv', nHeads),
    headDim,
    vocabSize: vocab,
    seqLen: num(g, 'llama.context_length', 2048),
    normEps: num(g, 'llama.attention.layer_norm_rms_epsilon', 1e-5),
    ropeTheta: num(g, 'llama.rope.freq_base', 10000),
    ropeStyle: 'interleaved',
    tiedEmbeddings: !g.has('output.weight'),
    bosId: num(g, 'tokenizer.ggml.bos_token_id', 1),
    eosId: num(g, 'tokenizer.ggml.eos_token_id', 2),
  };
  try {
    validateConfig('ggufToLlamaConfig', c);
  } catch (e) {
    throw new FormatError('ggufToLlamaConfig', file, { field: 'llama.*' }, (e as Error).message);
  }
  return c;
}

/** A dense (dequantized f32) LlamaModel from a GGUF file. */
export function ggufToLlamaModel(g: GgufFile): LlamaModel {
  const c = ggufToLlamaConfig(g);
  const file = g.header.file;
  const need = (name: string, shape: number[]): Tensor<'f32'> => {
    if (!g.has(name)) throw new FormatError('ggufToLlamaModel', file, { tensor: name }, 'is missing');
    const t = g.tensor(name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new FormatError('ggufToLlamaModel', file, { tensor: name, field: 'dims' }, `shape [${t.shape}] does not match the config's [${shape}]`);
    return t;
  };
  const vec = (n: string) => need(n, [c.dim]).data as Float32Array;
  const qDim = c.nHeads * c.headDim,
    kvDim = c.nKvHeads * c.headDim;
  const blocks: LlamaBlock[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `blk.${l}.`;
    blocks.push(
      denseBlock({
        attnNorm: vec(p + 'attn_norm.weight'),
        ffnNorm: vec(p + 'ffn_norm.weight'),
        q: need(p + 'attn_q.weight', [qDim, c.dim]),
        k: need(p + 'attn_k.weight', [kvDim, c.dim]),
        v: need(p + 'attn_v.weight', [kvDim, c.dim]),
        o: need(p + 'attn_output.weight', [c.dim, qDim]),
        gate: need(p + 'ffn_gate.weight', [c.hiddenDim, c.dim]),
        up: need(p + 'ffn_up.weight', [c.hiddenDim, c.dim]),
        down: need(p + 'ffn_down.weight', [c.dim, c.hiddenDim]),
      }),
    );
  }
  return new LlamaModel(c, {
    embedding: need('token_embd.weight', [c.vocabSize, c.dim]),
    blocks,
    finalNorm: vec('output_norm.weight'),
    lmHead: c.tiedEmbeddings ? undefined : new DenseLinear(need('output.weight', [c.vocabSize, c.dim])),
  });
}

/**
 * The tokenizer stored in a GGUF (`tokenizer.ggml.model` = llama: SentencePiece BPE over scores with
 * byte fallback; spaces are '▁'). Uses llama.cpp's SPM conventions: ' ' → '▁', a '▁' dummy prefix.
 */
export function ggufTokenizer(g: GgufFile): BpeTokenizer {
  const file = g.header.file;
  const model = g.get('tokenizer.ggml.model');
  if (model !== 'llama')
    throw new UnsupportedError(
      'ggufTokenizer',
      `file '${file}', field 'tokenizer.ggml.model': ${JSON.stringify(model)} (only the SentencePiece 'llama' model is supported)`,
    );
  const tokens = g.get('tokenizer.ggml.tokens');
  const scores = g.get('tokenizer.ggml.scores');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string'))
    throw new FormatError('ggufTokenizer', file, { field: 'tokenizer.ggml.tokens' }, 'must be an array of strings');
  if (!(scores instanceof Float32Array) || scores.length !== tokens.length)
    throw new FormatError('ggufTokenizer', file, { field: 'tokenizer.ggml.scores' }, `must be f32[${tokens.length}]`);
  const types = g.get('tokenizer.ggml.token_type');
  const enc = new TextEncoder();
  return new BpeTokenizer(
    (tokens as string[]).map((t) => enc.encode(t)),
    scores,
    {
      bosId: num(g, 'tokenizer.ggml.bos_token_id', 1),
      eosId: num(g, 'tokenizer.ggml.eos_token_id', 2),
      mode: 'spm',
      tokenTypes: types instanceof Int32Array ? types : undefined,
    },
  );
}
