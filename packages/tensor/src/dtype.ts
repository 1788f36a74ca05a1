export type DType = 'f32' | 'f64' | 'i8' | 'u8' | 'i32';
export type FloatDType = 'f32' | 'f64';
/** dtypes that exist only on load: converted to f32 when read. */
export type StorageDType = DType | 'f16' | 'bf16';

export interface ArrayOf {
  f32: Float32Array;
  f64: Float64Array;
  i8: Int8Array;
  u8: Uint8Array;
  i32: Int32Array;
}
export type TypedArray = ArrayOf[DType];
export type FloatArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ['f32', 'f64', 'i8', 'u8', 'i32'];

export const BYTES_PER_ELEMENT: Record<StorageDType, number> = {
  f32: 4,
  f64: 8,
  i8: 1,
  u8: 1,
  i32: 4,
  f16: 2,
  bf16: 2,
};

/** Unit roundoff (machine epsilon) per float dtype. */
export const EPS: Record<FloatDType, number> = { f32: 2 ** -23, f64: 2 ** -52 };

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function allocArray<D extends DType>(dtype: D, n: number): ArrayOf[D] {
  switch (dtype) {
    case 'f32':
      return new Float32Array(n) as ArrayOf[D];
    case 'f64':
      return new Float64Array(n) as ArrayOf[D];
    case 'i8':
      return new Int8Array(n) as ArrayOf[D];
    case 'u8':
      return new Uint8Array(n) as ArrayOf[D];
    case 'i32':
      return new Int32Array(n) as ArrayOf[D];
  }
  throw new Error(`allocArray: unknown dtype ${String(dtype)}`);
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Int8Array) return 'i8';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int32Array) return 'i32';
  throw new Error('dtypeOfArray: unsupported typed array');
}

// ---- f16 / bf16 conversion (load-time only) ----
const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE 754 binary16 bits → number (exact). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f === 0 ? s * Infinity : NaN;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** number → binary16 bits, round to nearest even, overflow → ±Inf. */
export function f32ToF16(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bf16ToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0]!;
}

/** number → bf16 bits with round-to-nearest-even (NaN preserved). */
export function f32ToBf16(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) | 0x40) & 0xffff;
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** Decode little-endian f16 or bf16 raw bytes into a Float32Array. */
export function decodeHalf(bytes: Uint8Array, kind: 'f16' | 'bf16'): Float32Array {
  const n = bytes.byteLength >>> 1;
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (kind === 'bf16') {
    const o32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) o32[i] = dv.getUint16(2 * i, true) << 16;
  } else {
    // table-free exact conversion
    for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
  }
  return out;
}

/** Encode numbers as little-endian f16 or bf16 bytes. */
export function encodeHalf(values: ArrayLike<number>, kind: 'f16' | 'bf16'): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  const conv = kind === 'f16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) dv.setUint16(2 * i, conv(values[i]!), true);
  return out;
}
