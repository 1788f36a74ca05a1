import { ArgumentError, f16ToF32, f32ToF16 } from '@llmpress/tensor';

function checkBits(fn: string, bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new ArgumentError(fn, 'bits', bits, 'must be an integer in [1, 8]');
}

/** Bytes needed to pack `n` codes of `bits` bits each. */
export function packedBytes(n: number, bits: number): number {
  return Math.ceil((n * bits) / 8);
}

/**
 * Packs `n` unsigned codes (each < 2^bits) into a little-endian bitstream: code j occupies bits
 * `j·bits .. j·bits+bits-1` counted from the least significant bit of byte 0. Writes into `out` at
 * byte `outOffset` (which must have `packedBytes(n, bits)` bytes there) or a new array.
 */
export function packBits(codes: ArrayLike<number>, bits: number, out?: Uint8Array, outOffset = 0, n = codes.length): Uint8Array {
  checkBits('packBits', bits);
  const nb = packedBytes(n, bits);
  const o = out ?? new Uint8Array(nb);
  if (o.length < outOffset + nb) throw new ArgumentError('packBits', 'out', o, `must hold ${outOffset + nb} bytes`);
  o.fill(0, outOffset, outOffset + nb);
  const max = (1 << bits) - 1;
  for (let j = 0; j < n; j++) {
    const c = codes[j]!;
    if (!(c >= 0 && c <= max) || c !== Math.floor(c)) throw new ArgumentError('packBits', `codes[${j}]`, c, `must be an integer in [0, ${max}]`);
    const bit = j * bits;
    const byte = outOffset + (bit >>> 3);
    const sh = bit & 7;
    const w = c << sh;
    o[byte] = o[byte]! | (w & 0xff);
    if (sh + bits > 8) o[byte + 1] = o[byte + 1]! | (w >>> 8);
  }
  return o;
}

/** Inverse of `packBits`: reads `n` codes of `bits` bits from `packed` at byte `offset`. */
export function unpackBits(packed: Uint8Array, bits: number, n: number, offset = 0, out?: Uint8Array): Uint8Array {
  checkBits('unpackBits', bits);
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError('unpackBits', 'n', n, 'must be a non-negative integer');
  if (packed.length < offset + packedBytes(n, bits))
    throw new ArgumentError('unpackBits', 'packed', packed, `must hold ${offset + packedBytes(n, bits)} bytes`);
  const o = out ?? new Uint8Array(n);
  const mask = (1 << bits) - 1;
  for (let j = 0; j < n; j++) {
    const bit = j * bits;
    const byte = offset + (bit >>> 3);
    const sh = bit & 7;
    let w = packed[byte]!;
    if (sh + bits > 8) w |= packed[byte + 1]! << 8;
    o[j] = (w >>> sh) & mask;
  }
  return o;
}

let lut: Float32Array | undefined;
/** f16 bits → f32 lookup table (256 KiB, built on first use). */
export function f16Table(): Float32Array {
  if (!lut) {
    lut = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) lut[h] = f16ToF32(h);
  }
  return lut;
}

/** Neighbouring f16 bit pattern toward +∞ (dir 1) or −∞ (dir −1); finite inputs only. */
function f16Step(h: number, dir: 1 | -1): number {
  const neg = (h & 0x8000) !== 0;
  if ((h & 0x7fff) === 0) return dir > 0 ? 0x0001 : 0x8001;
  return (neg ? dir < 0 : dir > 0) ? h + 1 : h - 1;
}

/** Largest f16 value ≤ x (as bits). Infinity when |x| overflows f16. */
export function f16Floor(x: number): number {
  let h = f32ToF16(x);
  if (f16ToF32(h) > x) h = f16Step(h, -1);
  return h;
}
/** Smallest f16 value ≥ x (as bits). */
export function f16Ceil(x: number): number {
  let h = f32ToF16(x);
  if (f16ToF32(h) < x) h = f16Step(h, 1);
  return h;
}
