import { ArgumentError, f32ToF16 } from '@llmpress/tensor';
import { f16Ceil, f16Floor, f16Table } from './bits.js';

export type ScaleDType = 'f16' | 'f32';

/** Where one group's (min, scale) pair lives: f16 bit patterns or f32 values, at index `i`. */
export interface ScaleArrays {
  u16?: Uint16Array;
  f32?: Float32Array;
}

/**
 * Asymmetric min/max quantization of one group `x[off + j·stride]`, j < n, to `bits` bits:
 * `x ≈ min + scale·code`, code ∈ [0, 2^bits − 1]. `min` is rounded down and `scale` up to the storage
 * dtype so every value stays inside the representable range and the error is ≤ scale/2.
 * Writes codes into `codes[0..n)` and returns the stored (min, scale) as f16 bits or f32 values.
 */
export function quantizeGroup(
  fn: string,
  x: ArrayLike<number>,
  off: number,
  stride: number,
  n: number,
  bits: number,
  dtype: ScaleDType,
  codes: Uint8Array,
  oneBit: OneBitMode = 'minmax',
): { min: number; scale: number; minBits: number; scaleBits: number } {
  if (bits === 1 && oneBit === 'means') return quantizeMeans(fn, x, off, stride, n, dtype, codes);
  let lo = Infinity,
    hi = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[off + j * stride]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const levels = (1 << bits) - 1;
  let m: number,
    s: number,
    mb = 0,
    sb = 0;
  if (dtype === 'f16') {
    if (Math.abs(lo) > 65504 || Math.abs(hi) > 65504)
      throw new ArgumentError(fn, 'keys/values', Math.max(Math.abs(lo), Math.abs(hi)), "must fit the f16 scale range (|x| ≤ 65504); use scaleDType 'f32'");
    const t = f16Table();
    mb = f16Floor(lo);
    m = t[mb]!;
    sb = f16Ceil((hi - m) / levels);
    s = t[sb]!;
    while (m + s * levels < hi) {
      sb = f16Ceil(s * (1 + 2 ** -10) + 2 ** -24);
      s = t[sb]!;
    }
    if (!Number.isFinite(s)) throw new ArgumentError(fn, 'keys/values', hi - lo, "have a range too wide for f16 scales; use scaleDType 'f32'");
  } else {
    m = Math.fround(lo);
    if (m > lo) m = f32Down(m);
    s = Math.fround((hi - m) / levels);
    while (m + s * levels < hi) s = Math.fround(s * (1 + 2 ** -22) + 1e-45);
  }
  const inv = s > 0 ? 1 / s : 0;
  for (let j = 0; j < n; j++) {
    let c = Math.round((x[off + j * stride]! - m) * inv);
    if (c < 0) c = 0;
    else if (c > levels) c = levels;
    codes[j] = c;
  }
  return { min: m, scale: s, minBits: mb, scaleBits: sb };
}

/**
 * How 1-bit groups are quantized: 'minmax' (levels at min and max: error ≤ half the range) or 'means'
 * (threshold at the group mean, levels at the means of the two sides: the MSE-optimal levels for that split,
 * far better than min/max for bell-shaped data, but no half-step bound).
 */
export type OneBitMode = 'minmax' | 'means';

function quantizeMeans(
  fn: string,
  x: ArrayLike<number>,
  off: number,
  stride: number,
  n: number,
  dtype: ScaleDType,
  codes: Uint8Array,
): { min: number; scale: number; minBits: number; scaleBits: number } {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += x[off + j * stride]!;
  mean /= n;
  let sl = 0,
    nl = 0,
    sh = 0,
    nh = 0;
  for (let j = 0; j < n; j++) {
    const v = x[off + j * stride]!;
    if (v >= mean) {
      sh += v;
      nh++;
      codes[j] = 1;
    } else {
      sl += v;
      nl++;
      codes[j] = 0;
    }
  }
  const lo = nl ? sl / nl : mean,
    hi = nh ? sh / nh : mean;
  if (dtype === 'f16') {
    if (Math.abs(lo) > 65504 || Math.abs(hi) > 65504)
      throw new ArgumentError(fn, 'keys/values', Math.max(Math.abs(lo), Math.abs(hi)), "must fit the f16 scale range (|x| ≤ 65504); use scaleDType 'f32'");
    const t = f16Table();
    const mb = f32ToF16(lo),
      m = t[mb]!;
    const sb = f32ToF16(Math.max(0, hi - m)),
      s = t[sb]!;
    return { min: m, scale: s, minBits: mb, scaleBits: sb };
  }
  const m = Math.fround(lo),
    s = Math.fround(Math.max(0, hi - m));
  return { min: m, scale: s, minBits: 0, scaleBits: 0 };
}

const f32b = new Float32Array(1),
  u32b = new Uint32Array(f32b.buffer);
/** The next f32 below a finite f32 value. */
function f32Down(x: number): number {
  if (x === 0) return -1.401298464324817e-45;
  f32b[0] = x;
  u32b[0] = x > 0 ? u32b[0]! - 1 : u32b[0]! + 1;
  return f32b[0]!;
}

/** Growable byte buffer. */
export class ByteBuffer {
  data: Uint8Array;
  length = 0;
  constructor(cap = 256) {
    this.data = new Uint8Array(cap);
  }
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < this.length + extra) cap *= 2;
    const d = new Uint8Array(cap);
    d.set(this.data.subarray(0, this.length));
    this.data = d;
  }
}

/** Growable store of (min, scale) pairs in f16 (Uint16Array) or f32 (Float32Array). */
export class ScaleStore {
  readonly dtype: ScaleDType;
  u16: Uint16Array;
  f32: Float32Array;
  /** Number of pairs stored. */
  length = 0;
  constructor(dtype: ScaleDType, cap = 64) {
    this.dtype = dtype;
    this.u16 = new Uint16Array(dtype === 'f16' ? 2 * cap : 0);
    this.f32 = new Float32Array(dtype === 'f32' ? 2 * cap : 0);
  }
  push(q: { min: number; scale: number; minBits: number; scaleBits: number }): void {
    const i = this.length++;
    if (this.dtype === 'f16') {
      if (2 * this.length > this.u16.length) {
        const d = new Uint16Array(this.u16.length * 2 + 8);
        d.set(this.u16);
        this.u16 = d;
      }
      this.u16[2 * i] = q.minBits;
      this.u16[2 * i + 1] = q.scaleBits;
    } else {
      if (2 * this.length > this.f32.length) {
        const d = new Float32Array(this.f32.length * 2 + 8);
        d.set(this.f32);
        this.f32 = d;
      }
      this.f32[2 * i] = q.min;
      this.f32[2 * i + 1] = q.scale;
    }
  }
  min(i: number): number {
    return this.dtype === 'f16' ? f16Table()[this.u16[2 * i]!]! : this.f32[2 * i]!;
  }
  scale(i: number): number {
    return this.dtype === 'f16' ? f16Table()[this.u16[2 * i + 1]!]! : this.f32[2 * i + 1]!;
  }
  /** Exact bytes of the stored pairs. */
  bytes(): number {
    return this.length * 2 * (this.dtype === 'f16' ? 2 : 4);
  }
}

/**
 * out[j] += a·code_j for the n codes of `bits` bits packed at byte `off` of `buf` (n multiple of 8).
 * The inner kernel of latent scoring and value accumulation.
 */
export function axpyCodes(buf: Uint8Array, off: number, bits: number, n: number, a: number, out: Float32Array, outOff: number): void {
  let o = outOff;
  switch (bits) {
    case 1:
      for (let b = off, e = off + (n >>> 3); b < e; b++) {
        const x = buf[b]!;
        out[o] += a * (x & 1);
        out[o + 1] += a * ((x >>> 1) & 1);
        out[o + 2] += a * ((x >>> 2) & 1);
        out[o + 3] += a * ((x >>> 3) & 1);
        out[o + 4] += a * ((x >>> 4) & 1);
        out[o + 5] += a * ((x >>> 5) & 1);
        out[o + 6] += a * ((x >>> 6) & 1);
        out[o + 7] += a * (x >>> 7);
        o += 8;
      }
      return;
    case 2:
      for (let b = off, e = off + (n >>> 2); b < e; b++) {
        const x = buf[b]!;
        out[o] += a * (x & 3);
        out[o + 1] += a * ((x >>> 2) & 3);
        out[o + 2] += a * ((x >>> 4) & 3);
        out[o + 3] += a * (x >>> 6);
        o += 4;
      }
      return;
    case 4:
      for (let b = off, e = off + (n >>> 1); b < e; b++) {
        const x = buf[b]!;
        out[o] += a * (x & 15);
        out[o + 1] += a * (x >>> 4);
        o += 2;
      }
      return;
    case 8:
      for (let j = 0; j < n; j++) out[o + j] += a * buf[off + j]!;
      return;
    default: {
      const mask = (1 << bits) - 1;
      for (let j = 0; j < n; j++) {
        const bit = j * bits,
          byte = off + (bit >>> 3),
          sh = bit & 7;
        const w = sh + bits > 8 ? buf[byte]! | (buf[byte + 1]! << 8) : buf[byte]!;
        out[o + j] += a * ((w >>> sh) & mask);
      }
    }
  }
}
