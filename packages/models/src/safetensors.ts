/**
 * safetensors: lazy reader (header first, tensors on demand by byte range from a ByteSource) and writer.
 * Format: u64 LE header length N, N bytes of UTF-8 JSON, then the data section; offsets are relative
 * to the data section and `end` is exclusive. Everything a file claims is validated before use.
 */
import { ArgumentError, Tensor, decodeHalf, type DType } from '@llmpress/tensor';
import { FormatError } from './errors.js';

/** Random access to bytes (a Uint8Array, a file descriptor, a Blob, an HTTP range reader...). */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes starting at `offset` (sync or async). */
  read(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
  /** For error messages. */
  readonly name?: string;
}

/** A ByteSource over bytes in memory. */
export function bytesSource(bytes: Uint8Array, name = '<bytes>'): ByteSource {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('bytesSource', 'bytes', bytes, 'must be a Uint8Array');
  return { size: bytes.byteLength, name, read: (o, n) => bytes.subarray(o, o + n) };
}

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';
export const SAFETENSORS_DTYPE_SIZE: Record<SafetensorsDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range relative to the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** N: the JSON header's length in bytes (including any padding). */
  headerLength: number;
  /** 8 + N. */
  dataStart: number;
  metadata: Record<string, string>;
  /** Entries in header order. */
  tensors: SafetensorsEntry[];
}

export interface SafetensorsLimits {
  /** Largest accepted header (default 100 MB, the safetensors library's own limit). */
  maxHeaderBytes?: number;
  /** Largest accepted number of tensors (default 1,000,000). */
  maxTensors?: number;
}

const FN = 'safetensors';

/** Validates the first 8 bytes, returns N. */
function headerLength(prefix: Uint8Array, size: number, file: string, limits: SafetensorsLimits): number {
  if (size < 8) throw new FormatError(FN, file, { field: 'header length' }, `file is ${size} bytes, shorter than the 8-byte length prefix`);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true),
    hi = dv.getUint32(4, true);
  const max = limits.maxHeaderBytes ?? 100_000_000;
  if (hi !== 0 || lo > max) throw new FormatError(FN, file, { field: 'header length' }, `${hi * 2 ** 32 + lo} exceeds the limit of ${max} bytes`);
  if (lo < 2) throw new FormatError(FN, file, { field: 'header length' }, `${lo} is too small for a JSON object`);
  if (8 + lo > size) throw new FormatError(FN, file, { field: 'header length' }, `${lo} reaches past the end of the ${size}-byte file`);
  return lo;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parses and validates the JSON header against the file size. */
export function parseSafetensorsHeaderJson(json: Uint8Array, fileSize: number, file = '<bytes>', limits: SafetensorsLimits = {}): SafetensorsHeader {
  const N = json.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new FormatError(FN, file, { field: 'header' }, 'is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new FormatError(FN, file, { field: 'header' }, `must start with '{', got ${JSON.stringify(text.slice(0, 8))}`);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new FormatError(FN, file, { field: 'header' }, `is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(obj)) throw new FormatError(FN, file, { field: 'header' }, 'must be a JSON object');
  const dataStart = 8 + N;
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  const maxT = limits.maxTensors ?? 1_000_000;
  const keys = Object.keys(obj);
  if (keys.length > maxT + 1) throw new FormatError(FN, file, { field: 'header' }, `${keys.length} entries exceed the limit of ${maxT} tensors`);
  for (const name of keys) {
    const v = obj[name];
    if (name === '__metadata__') {
      if (!isPlainObject(v)) throw new FormatError(FN, file, { field: '__metadata__' }, 'must be an object of strings');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new FormatError(FN, file, { field: `__metadata__.${k}` }, `must be a string, got ${typeof s}`);
        metadata[k] = s;
      }
      continue;
    }
    if (!isPlainObject(v)) throw new FormatError(FN, file, { tensor: name }, 'entry must be an object with dtype, shape and data_offsets');
    const dtype = v.dtype;
    if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_SIZE))
      throw new FormatError(FN, file, { tensor: name, field: 'dtype' }, `unknown dtype ${JSON.stringify(dtype)}`);
    const shape = v.shape;
    if (!Array.isArray(shape) || shape.length > 16)
      throw new FormatError(
        FN,
        file,
        { tensor: name, field: 'shape' },
        `must be an array of at most 16 non-negative integers, got ${JSON.stringify(shape)?.slice(0, 60)}`,
      );
    let count = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0)
        throw new FormatError(FN, file, { tensor: name, field: 'shape' }, `must hold non-negative integers, got ${JSON.stringify(shape).slice(0, 60)}`);
      count *= d;
      if (count > Number.MAX_SAFE_INTEGER)
        throw new FormatError(FN, file, { tensor: name, field: 'shape' }, `[${shape}] has more elements than can be addressed`);
    }
    const off = v.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw new FormatError(
        FN,
        file,
        { tensor: name, field: 'data_offsets' },
        `must be [begin, end] non-negative integers, got ${JSON.stringify(off)?.slice(0, 60)}`,
      );
    }
    const [begin, end] = off as [number, number];
    if (end < begin) throw new FormatError(FN, file, { tensor: name, field: 'data_offsets' }, `end ${end} is before begin ${begin}`);
    if (end > dataSize)
      throw new FormatError(FN, file, { tensor: name, field: 'data_offsets' }, `[${begin}, ${end}] reaches past the data section (${dataSize} bytes)`);
    const want = count * SAFETENSORS_DTYPE_SIZE[dtype as SafetensorsDType];
    if (end - begin !== want)
      throw new FormatError(FN, file, { tensor: name, field: 'data_offsets' }, `holds ${end - begin} bytes but shape [${shape}] × ${dtype} needs ${want}`);
    for (const k of Object.keys(v))
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') throw new FormatError(FN, file, { tensor: name, field: k }, 'unknown field');
    tensors.push({ name, dtype: dtype as SafetensorsDType, shape: shape.slice() as number[], begin, end });
  }
  const sorted = tensors.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end)
      throw new FormatError(
        FN,
        file,
        { tensor: sorted[i]!.name, field: 'data_offsets' },
        `[${sorted[i]!.begin}, ${sorted[i]!.end}] overlaps tensor '${sorted[i - 1]!.name}' [${sorted[i - 1]!.begin}, ${sorted[i - 1]!.end}]`,
      );
  }
  // the format requires the tensors to cover the data section exactly: from offset 0, no holes, to its end
  // (a header length that is off by a byte or two otherwise shifts every weight silently)
  const all = tensors.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of all) {
    if (t.begin !== pos)
      throw new FormatError(
        FN,
        file,
        { tensor: t.name, field: 'data_offsets' },
        `[${t.begin}, ${t.end}] leaves the data bytes [${pos}, ${t.begin}) unused; tensors must cover the data section exactly from offset 0 (is the header length wrong?)`,
      );
    pos = t.end;
  }
  if (pos !== dataSize)
    throw new FormatError(
      FN,
      file,
      { field: 'data section' },
      `tensors cover ${pos} bytes but the data section after the ${N}-byte header has ${dataSize}; they must cover it exactly (is the header length wrong, or the file truncated or padded?)`,
    );
  return { file, headerLength: N, dataStart, metadata, tensors };
}

/** Converts raw little-endian bytes of a safetensors dtype to a Tensor (widening where needed). */
export function decodeSafetensorsData(
  raw: Uint8Array,
  dtype: SafetensorsDType,
  shape: readonly number[],
  where: { file: string; tensor: string } = { file: '<bytes>', tensor: '?' },
): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const copy = <T extends { buffer: ArrayBufferLike }>(C: new (n: number) => T, bytes: number): T => {
    const a = new C(n);
    new Uint8Array(a.buffer).set(raw.subarray(0, n * bytes));
    return a;
  };
  let out: Tensor;
  switch (dtype) {
    case 'F32':
      out = new Tensor('f32', copy(Float32Array, 4), shape);
      break;
    case 'F64':
      out = new Tensor('f64', copy(Float64Array, 8), shape);
      break;
    case 'F16':
      out = new Tensor('f32', decodeHalf(raw, 'f16'), shape);
      break;
    case 'BF16':
      out = new Tensor('f32', decodeHalf(raw, 'bf16'), shape);
      break;
    case 'I8':
      out = new Tensor('i8', copy(Int8Array, 1), shape);
      break;
    case 'U8':
    case 'BOOL':
      out = new Tensor('u8', copy(Uint8Array, 1), shape);
      break;
    case 'I32':
      out = new Tensor('i32', copy(Int32Array, 4), shape);
      break;
    case 'I16': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getInt16(2 * i, true);
      out = new Tensor('i32', a, shape);
      break;
    }
    case 'U16': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getUint16(2 * i, true);
      out = new Tensor('i32', a, shape);
      break;
    }
    case 'U32': {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getUint32(4 * i, true);
      out = new Tensor('f64', a, shape);
      break;
    }
    case 'I64':
    case 'U64': {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = dtype === 'I64' ? dv.getBigInt64(8 * i, true) : dv.getBigUint64(8 * i, true);
        const x = Number(v);
        if (!Number.isSafeInteger(x))
          throw new FormatError(
            FN,
            where.file,
            { tensor: where.tensor, field: 'data' },
            `${dtype} value ${v} at index ${i} is not exactly representable; read it with raw()`,
          );
        a[i] = x;
      }
      out = new Tensor('f64', a, shape);
      break;
    }
  }
  return out;
}

/**
 * A lazily read safetensors file: `open` reads the 8-byte prefix and the header only; `raw(name)` /
 * `tensor(name)` read one tensor's byte range on demand.
 */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private readonly byName: Map<string, SafetensorsEntry>;
  private constructor(
    private readonly src: ByteSource,
    header: SafetensorsHeader,
  ) {
    this.header = header;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  static async open(src: ByteSource, options: { file?: string } & SafetensorsLimits = {}): Promise<SafetensorsFile> {
    const file = options.file ?? src.name ?? '<bytes>';
    checkSource(src);
    const prefix = await src.read(0, Math.min(8, src.size));
    const N = headerLength(prefix, src.size, file, options);
    const json = await src.read(8, N);
    return new SafetensorsFile(src, parseSafetensorsHeaderJson(json, src.size, file, options));
  }

  /** Synchronous variant for sources whose `read` is synchronous (bytes in memory, file descriptors). */
  static openSync(src: ByteSource, options: { file?: string } & SafetensorsLimits = {}): SafetensorsFile {
    const file = options.file ?? src.name ?? '<bytes>';
    checkSource(src);
    const prefix = src.read(0, Math.min(8, src.size));
    if (!(prefix instanceof Uint8Array)) throw new ArgumentError('SafetensorsFile.openSync', 'src', src, 'must read synchronously (use SafetensorsFile.open)');
    const N = headerLength(prefix, src.size, file, options);
    const json = src.read(8, N) as Uint8Array;
    return new SafetensorsFile(src, parseSafetensorsHeaderJson(json, src.size, file, options));
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  entry(name: string): SafetensorsEntry {
    const e = this.byName.get(name);
    if (!e) throw new FormatError('SafetensorsFile.entry', this.header.file, { tensor: name }, `no such tensor (the file has ${this.byName.size})`);
    return e;
  }

  private checkRead(e: SafetensorsEntry, got: Uint8Array): Uint8Array {
    if (!(got instanceof Uint8Array) || got.byteLength !== e.end - e.begin)
      throw new FormatError(
        'SafetensorsFile.raw',
        this.header.file,
        { tensor: e.name, field: 'data' },
        `source returned ${got?.byteLength} bytes, expected ${e.end - e.begin}`,
      );
    return got;
  }
  /** The tensor's raw little-endian bytes (a view when the source is in memory). */
  async raw(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    return this.checkRead(e, await this.src.read(this.header.dataStart + e.begin, e.end - e.begin));
  }
  rawSync(name: string): Uint8Array {
    const e = this.entry(name);
    const r = this.src.read(this.header.dataStart + e.begin, e.end - e.begin);
    if (!(r instanceof Uint8Array)) throw new ArgumentError('SafetensorsFile.rawSync', 'source', this.src, 'must read synchronously');
    return this.checkRead(e, r);
  }
  /** The tensor as a Tensor: F32→f32, F16/BF16→f32, F64→f64, I8/U8/I32 as is, I16/U16→i32, U32/I64/U64→f64 (exact or throws). */
  async tensor(name: string): Promise<Tensor> {
    const e = this.entry(name);
    return decodeSafetensorsData(await this.raw(name), e.dtype, e.shape, { file: this.header.file, tensor: name });
  }
  tensorSync(name: string): Tensor {
    const e = this.entry(name);
    return decodeSafetensorsData(this.rawSync(name), e.dtype, e.shape, { file: this.header.file, tensor: name });
  }
}

function checkSource(src: ByteSource): void {
  if (!src || typeof src.read !== 'function' || !Number.isSafeInteger(src.size) || src.size < 0)
    throw new ArgumentError('SafetensorsFile.open', 'src', src, 'must be a ByteSource { size, read(offset, length) }');
}

/** Parses a whole safetensors file in memory: header + every tensor. */
export function parseSafetensors(
  bytes: Uint8Array,
  options: { file?: string } & SafetensorsLimits = {},
): { metadata: Record<string, string>; tensors: Map<string, Tensor>; header: SafetensorsHeader } {
  const f = SafetensorsFile.openSync(bytesSource(bytes, options.file), options);
  const tensors = new Map<string, Tensor>();
  for (const n of f.names()) tensors.set(n, f.tensorSync(n));
  return { metadata: f.metadata, tensors, header: f.header };
}

/** A tensor given as raw bytes with an explicit safetensors dtype (F16/BF16 storage, or an exact copy). */
export interface RawTensor {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: Uint8Array;
}

const TENSOR_TO_ST: Record<DType, SafetensorsDType> = { f32: 'F32', f64: 'F64', i8: 'I8', u8: 'U8', i32: 'I32' };

function isRaw(x: unknown): x is RawTensor {
  return !(x instanceof Tensor) && isPlainObject(x) && x.data instanceof Uint8Array && typeof x.dtype === 'string';
}

/**
 * Serializes tensors (f32/f64/i8/u8/i32 Tensors, or RawTensor for F16/BF16/... bytes) with optional
 * `__metadata__`. Tensors are stored sorted by name, contiguous from 0; the header is padded with
 * spaces so the data section starts at a multiple of 8.
 */
export function writeSafetensors(tensors: Record<string, Tensor | RawTensor> | Map<string, Tensor | RawTensor>, metadata?: Record<string, string>): Uint8Array {
  const fn = 'writeSafetensors';
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new ArgumentError(fn, 'metadata', metadata, 'must be an object of strings');
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new ArgumentError(fn, `metadata.${k}`, v, 'must be a string');
    header.__metadata__ = metadata;
  }
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__' || name.length === 0) throw new ArgumentError(fn, 'tensors', name, 'must not use the name "__metadata__" or an empty name');
    let dtype: SafetensorsDType, shape: number[], bytes: Uint8Array;
    if (isRaw(t)) {
      if (!(t.dtype in SAFETENSORS_DTYPE_SIZE)) throw new ArgumentError(fn, `tensors.${name}.dtype`, t.dtype, 'must be a safetensors dtype');
      dtype = t.dtype;
      shape = [...t.shape];
      bytes = t.data;
      const want = shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_SIZE[dtype];
      if (bytes.byteLength !== want) throw new ArgumentError(fn, `tensors.${name}.data`, bytes, `must hold ${want} bytes for shape [${shape}] × ${dtype}`);
    } else if (t instanceof Tensor) {
      dtype = TENSOR_TO_ST[t.dtype];
      shape = [...t.shape];
      const c = t.contiguous();
      bytes = new Uint8Array(c.data.buffer, c.data.byteOffset, c.size * c.data.BYTES_PER_ELEMENT);
    } else throw new ArgumentError(fn, `tensors.${name}`, t, 'must be a Tensor or { dtype, shape, data: Uint8Array }');
    header[name] = { dtype, shape, data_offsets: [off, off + bytes.byteLength] };
    blobs.push(bytes);
    off += bytes.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - ((8 + json.byteLength) % 8)) % 8;
  if (pad) {
    const p = new Uint8Array(json.byteLength + pad).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + off);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 8);
  let o = 8 + json.byteLength;
  for (const b of blobs) {
    out.set(b, o);
    o += b.byteLength;
  }
  return out;
}
