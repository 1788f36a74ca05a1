/**
 * GGUF v3 writer. The layout (metadata, tensor infos, offsets) is fixed before any tensor data is
 * produced, so the header is written first and each tensor's bytes are written as they are
 * produced (streaming: one tensor in memory at a time). Tensor data is aligned to `alignment`
 * (default 32, recorded as `general.alignment`).
 */
import { ArgumentError } from '@llmpress/tensor';
import { GGUF_VALUE_TYPES, type GgufKV, type GgufValueType } from '../gguf.js';
import { ggmlBytes } from './ggml.js';

export interface GgufTensorDecl {
  name: string;
  /** numpy order: [rows, rowLength] for a matrix, [n] for a vector (written reversed, ggml order). */
  shape: number[];
  type: number;
}

export interface GgufLayout {
  header: Uint8Array;
  /** Offset of each tensor relative to the data section, in declaration order. */
  tensors: Array<GgufTensorDecl & { offset: number; byteSize: number }>;
  dataStart: number;
  totalBytes: number;
  alignment: number;
}

/** A synchronous byte sink (a file descriptor writer, a growing buffer, …). */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

const enc = new TextEncoder();

class Buf {
  private b = new Uint8Array(1 << 16);
  private dv = new DataView(this.b.buffer);
  n = 0;
  private need(k: number) {
    if (this.n + k <= this.b.length) return;
    let cap = this.b.length * 2;
    while (cap < this.n + k) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.b.subarray(0, this.n));
    this.b = nb;
    this.dv = new DataView(nb.buffer);
  }
  u8(v: number) {
    this.need(1);
    this.dv.setUint8(this.n, v);
    this.n += 1;
  }
  i8(v: number) {
    this.need(1);
    this.dv.setInt8(this.n, v);
    this.n += 1;
  }
  u16(v: number) {
    this.need(2);
    this.dv.setUint16(this.n, v, true);
    this.n += 2;
  }
  i16(v: number) {
    this.need(2);
    this.dv.setInt16(this.n, v, true);
    this.n += 2;
  }
  u32(v: number) {
    this.need(4);
    this.dv.setUint32(this.n, v, true);
    this.n += 4;
  }
  i32(v: number) {
    this.need(4);
    this.dv.setInt32(this.n, v, true);
    this.n += 4;
  }
  f32(v: number) {
    this.need(4);
    this.dv.setFloat32(this.n, v, true);
    this.n += 4;
  }
  f64(v: number) {
    this.need(8);
    this.dv.setFloat64(this.n, v, true);
    this.n += 8;
  }
  u64(v: number | bigint) {
    this.need(8);
    this.dv.setBigUint64(this.n, BigInt(v), true);
    this.n += 8;
  }
  i64(v: number | bigint) {
    this.need(8);
    this.dv.setBigInt64(this.n, BigInt(v), true);
    this.n += 8;
  }
  bytes(x: Uint8Array) {
    this.need(x.length);
    this.b.set(x, this.n);
    this.n += x.length;
  }
  str(s: string) {
    const e = enc.encode(s);
    this.u64(e.length);
    this.bytes(e);
  }
  done(): Uint8Array {
    return this.b.slice(0, this.n);
  }
}

function writeScalar(b: Buf, t: GgufValueType, v: unknown, key: string): void {
  const fn = 'GgufWriter.setKV';
  const num = () => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(fn, key, v, `must be a finite number for type ${t}`);
    return v;
  };
  const int = (lo: number, hi: number) => {
    const x = num();
    if (!Number.isInteger(x) || x < lo || x > hi) throw new ArgumentError(fn, key, v, `must be an integer in [${lo}, ${hi}] for type ${t}`);
    return x;
  };
  switch (t) {
    case 'u8':
      return b.u8(int(0, 255));
    case 'i8':
      return b.i8(int(-128, 127));
    case 'u16':
      return b.u16(int(0, 65535));
    case 'i16':
      return b.i16(int(-32768, 32767));
    case 'u32':
      return b.u32(int(0, 2 ** 32 - 1));
    case 'i32':
      return b.i32(int(-(2 ** 31), 2 ** 31 - 1));
    case 'f32':
      return b.f32(num());
    case 'f64':
      return b.f64(num());
    case 'bool':
      if (typeof v !== 'boolean') throw new ArgumentError(fn, key, v, 'must be a boolean');
      return b.u8(v ? 1 : 0);
    case 'string':
      if (typeof v !== 'string') throw new ArgumentError(fn, key, v, 'must be a string');
      return b.str(v);
    case 'u64':
      if (typeof v === 'bigint') return b.u64(v);
      return b.u64(int(0, Number.MAX_SAFE_INTEGER));
    case 'i64':
      if (typeof v === 'bigint') return b.i64(v);
      return b.i64(int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
    case 'array':
      throw new ArgumentError(fn, key, v, 'nested arrays are not written');
  }
}

/** Collects metadata and tensor declarations, then lays the file out. */
export class GgufWriter {
  readonly metadata = new Map<string, GgufKV>();
  readonly tensors: GgufTensorDecl[] = [];
  readonly alignment: number;

  constructor(options: { alignment?: number } = {}) {
    const a = options.alignment ?? 32;
    if (!Number.isInteger(a) || a < 1 || (a & (a - 1)) !== 0) throw new ArgumentError('GgufWriter', 'options.alignment', a, 'must be a power of two');
    this.alignment = a;
    if (a !== 32) this.setKV('general.alignment', 'u32', a);
  }

  /** Sets a key (scalars: `type`; arrays: type 'array' with `elemType`). */
  setKV(key: string, type: GgufValueType, value: GgufKV['value'], elemType?: GgufValueType): this {
    if (typeof key !== 'string' || key.length === 0) throw new ArgumentError('GgufWriter.setKV', 'key', key, 'must be a non-empty string');
    if (!GGUF_VALUE_TYPES.includes(type)) throw new ArgumentError('GgufWriter.setKV', 'type', type, `must be one of ${GGUF_VALUE_TYPES.join(', ')}`);
    if (type === 'array' && (!elemType || elemType === 'array'))
      throw new ArgumentError('GgufWriter.setKV', 'elemType', elemType, 'must be a scalar value type for an array');
    this.metadata.set(key, type === 'array' ? { type, elemType, value } : { type, value });
    return this;
  }

  addTensor(name: string, shape: number[], type: number): this {
    const fn = 'GgufWriter.addTensor';
    if (typeof name !== 'string' || name.length === 0 || enc.encode(name).length > 64)
      throw new ArgumentError(fn, 'name', name, 'must be a non-empty string of at most 64 bytes (GGML_MAX_NAME)');
    if (this.tensors.some((t) => t.name === name)) throw new ArgumentError(fn, 'name', name, 'is already declared');
    if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4 || shape.some((d) => !Number.isInteger(d) || d < 1))
      throw new ArgumentError(fn, 'shape', shape, 'must be 1 to 4 positive integers');
    const rowLen = shape[shape.length - 1]!;
    const count = shape.reduce((a, b) => a * b, 1);
    ggmlBytes(type, 32); // validates the type
    if ((type === 2 || type === 3 || type === 8) && rowLen % 32 !== 0)
      throw new ArgumentError(fn, 'shape', shape, `row length ${rowLen} is not a multiple of 32, required by block type ${type}`);
    void count;
    this.tensors.push({ name, shape: shape.slice(), type });
    return this;
  }

  /** The header bytes and each tensor's offset; nothing is written. */
  layout(): GgufLayout {
    const b = new Buf();
    b.bytes(enc.encode('GGUF'));
    b.u32(3);
    b.u64(this.tensors.length);
    b.u64(this.metadata.size);
    for (const [key, kv] of this.metadata) {
      b.str(key);
      b.u32(GGUF_VALUE_TYPES.indexOf(kv.type));
      if (kv.type !== 'array') {
        writeScalar(b, kv.type, kv.value, key);
        continue;
      }
      const et = kv.elemType!;
      const arr = kv.value as ArrayLike<unknown>;
      if (arr === null || typeof arr !== 'object' || typeof (arr as any).length !== 'number')
        throw new ArgumentError('GgufWriter.layout', key, kv.value, 'must be an array');
      b.u32(GGUF_VALUE_TYPES.indexOf(et));
      b.u64(arr.length);
      for (let i = 0; i < arr.length; i++) writeScalar(b, et, arr[i], `${key}[${i}]`);
    }
    const al = this.alignment;
    const out: GgufLayout['tensors'] = [];
    let off = 0;
    for (const t of this.tensors) {
      b.str(t.name);
      b.u32(t.shape.length);
      for (let d = t.shape.length - 1; d >= 0; d--) b.u64(t.shape[d]!);
      b.u32(t.type);
      b.u64(off);
      const byteSize = ggmlBytes(
        t.type,
        t.shape.reduce((x, y) => x * y, 1),
      );
      out.push({ ...t, offset: off, byteSize });
      off = Math.ceil((off + byteSize) / al) * al;
    }
    const infoEnd = b.n;
    const dataStart = Math.ceil(infoEnd / al) * al;
    const header = new Uint8Array(dataStart);
    header.set(b.done());
    const last = out[out.length - 1];
    return { header, tensors: out, dataStart, totalBytes: dataStart + (last ? last.offset + last.byteSize : 0), alignment: al };
  }
}

/**
 * Streams a laid-out GGUF into `sink`: the header, then for each declared tensor (in order) the
 * bytes `produce(name)` returns, zero-padded to the alignment. Throws if a producer returns the
 * wrong number of bytes.
 */
export function streamGguf(layout: GgufLayout, sink: ByteSink, produce: (t: GgufLayout['tensors'][number], index: number) => Uint8Array): number {
  sink.write(layout.header);
  let pos = layout.dataStart;
  for (let i = 0; i < layout.tensors.length; i++) {
    const t = layout.tensors[i]!;
    const want = layout.dataStart + t.offset;
    if (pos < want) {
      sink.write(new Uint8Array(want - pos));
      pos = want;
    }
    const bytes = produce(t, i);
    if (!(bytes instanceof Uint8Array) || bytes.length !== t.byteSize)
      throw new ArgumentError('streamGguf', `tensor '${t.name}'`, bytes?.length, `must be ${t.byteSize} bytes of ggml type ${t.type}`);
    sink.write(bytes);
    pos += bytes.length;
  }
  return pos;
}

/** A growing in-memory sink. */
export function memorySink(): ByteSink & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  let n = 0;
  return {
    write(b) {
      parts.push(b.slice());
      n += b.length;
    },
    bytes() {
      const o = new Uint8Array(n);
      let p = 0;
      for (const x of parts) {
        o.set(x, p);
        p += x.length;
      }
      return o;
    },
  };
}
