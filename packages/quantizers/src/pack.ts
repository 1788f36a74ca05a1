/**
 * Bit packing of unsigned integer codes, one matrix row at a time (every row starts on a byte
 * boundary, so a row can be decoded on its own).
 *
 * Layouts (all little-endian within a byte / a group):
 * - 8 bits: one code per byte.
 * - 4 bits: two codes per byte, the FIRST code in the LOW nibble (`byte = c0 | c1 << 4`).
 * - 2 bits: four codes per byte, first code in the lowest two bits (`c0 | c1 << 2 | c2 << 4 | c3 << 6`).
 * - 3 bits: eight codes in three bytes: the 24-bit word `Σ c_i << 3i` (i = 0..7) stored as
 *   `b0 = w & 255, b1 = (w >> 8) & 255, b2 = w >> 16`. A row of n codes takes `3 · ceil(n / 8)` bytes.
 * - 5, 6, 7 bits: a little-endian bit stream: code j occupies bits [b·j, b·j + b) of the row
 *   (bit k of the row = bit k mod 8 of byte ⌊k / 8⌋); a row takes `ceil(b · n / 8)` bytes.
 * Padding codes at a row's end are zero.
 */
import { ArgumentError } from '@llmpress/tensor';

export type Bits = 2 | 3 | 4 | 5 | 6 | 7 | 8;
export const SUPPORTED_BITS: readonly Bits[] = [2, 3, 4, 5, 6, 7, 8];

export function checkBits(fn: string, arg: string, bits: unknown): Bits {
  if (!SUPPORTED_BITS.includes(bits as Bits)) throw new ArgumentError(fn, arg, bits, 'must be an integer from 2 to 8');
  return bits as Bits;
}

/** Bytes taken by one packed row of `n` codes. */
export function packedRowBytes(bits: Bits, n: number): number {
  switch (bits) {
    case 8:
      return n;
    case 4:
      return Math.ceil(n / 2);
    case 2:
      return Math.ceil(n / 4);
    case 3:
      return 3 * Math.ceil(n / 8);
    default:
      return Math.ceil((bits * n) / 8);
  }
}

/**
 * Packs `rows × cols` codes (row-major, each in [0, 2^bits)) into `rows · packedRowBytes(bits, cols)` bytes.
 * Throws when a code is out of range.
 */
export function packBits(codes: ArrayLike<number>, rows: number, cols: number, bitsIn: number): Uint8Array {
  const fn = 'packBits';
  const bits = checkBits(fn, 'bits', bitsIn);
  if (!Number.isInteger(rows) || rows < 0) throw new ArgumentError(fn, 'rows', rows, 'must be a non-negative integer');
  if (!Number.isInteger(cols) || cols < 0) throw new ArgumentError(fn, 'cols', cols, 'must be a non-negative integer');
  if (codes.length !== rows * cols) throw new ArgumentError(fn, 'codes.length', codes.length, `must equal rows · cols = ${rows * cols}`);
  const maxq = (1 << bits) - 1;
  const rb = packedRowBytes(bits, cols);
  const out = new Uint8Array(rows * rb);
  for (let r = 0; r < rows; r++) {
    const src = r * cols,
      dst = r * rb;
    for (let j = 0; j < cols; j++) {
      const c = codes[src + j]!;
      if (!(c >= 0 && c <= maxq) || !Number.isInteger(c)) throw new ArgumentError(fn, `codes[${src + j}]`, c, `must be an integer in [0, ${maxq}]`);
    }
    if (bits === 8) {
      for (let j = 0; j < cols; j++) out[dst + j] = codes[src + j]!;
    } else if (bits === 4) {
      for (let j = 0; j < cols; j++) out[dst + (j >> 1)]! |= codes[src + j]! << ((j & 1) << 2);
    } else if (bits === 2) {
      for (let j = 0; j < cols; j++) out[dst + (j >> 2)]! |= codes[src + j]! << ((j & 3) << 1);
    } else if (bits !== 3) {
      for (let j = 0; j < cols; j++) {
        const c = codes[src + j]!,
          k = bits * j,
          b = dst + (k >> 3),
          sh = k & 7;
        out[b]! |= (c << sh) & 255;
        if (sh + bits > 8) out[b + 1]! |= c >> (8 - sh);
      }
    } else {
      for (let g = 0; g * 8 < cols; g++) {
        let w = 0;
        for (let i = 0; i < 8; i++) {
          const j = g * 8 + i;
          if (j < cols) w |= codes[src + j]! << (3 * i);
        }
        out[dst + 3 * g] = w & 255;
        out[dst + 3 * g + 1] = (w >>> 8) & 255;
        out[dst + 3 * g + 2] = (w >>> 16) & 255;
      }
    }
  }
  return out;
}

/** Decodes one packed row (`cols` codes starting at byte `offset`) into `out[outOffset..]`. Hot path: no checks. */
export function unpackRow(
  packed: Uint8Array,
  offset: number,
  cols: number,
  bits: Bits,
  out: Uint8Array | Int8Array | Int32Array | Float32Array | Float64Array,
  outOffset = 0,
  bias = 0,
): void {
  if (bits === 4) {
    const half = cols >> 1;
    for (let b = 0; b < half; b++) {
      const v = packed[offset + b]!;
      out[outOffset + 2 * b] = (v & 15) - bias;
      out[outOffset + 2 * b + 1] = (v >> 4) - bias;
    }
    if (cols & 1) out[outOffset + cols - 1] = (packed[offset + half]! & 15) - bias;
  } else if (bits === 8) {
    for (let j = 0; j < cols; j++) out[outOffset + j] = packed[offset + j]! - bias;
  } else if (bits === 2) {
    for (let j = 0; j < cols; j++) out[outOffset + j] = ((packed[offset + (j >> 2)]! >> ((j & 3) << 1)) & 3) - bias;
  } else if (bits !== 3) {
    const mask = (1 << bits) - 1;
    for (let j = 0; j < cols; j++) {
      const k = bits * j,
        b = offset + (k >> 3),
        sh = k & 7;
      const v = sh + bits > 8 ? packed[b]! | (packed[b + 1]! << 8) : packed[b]!;
      out[outOffset + j] = ((v >> sh) & mask) - bias;
    }
  } else {
    for (let g = 0; g * 8 < cols; g++) {
      const w = packed[offset + 3 * g]! | (packed[offset + 3 * g + 1]! << 8) | (packed[offset + 3 * g + 2]! << 16);
      const lim = Math.min(8, cols - g * 8);
      for (let i = 0; i < lim; i++) out[outOffset + g * 8 + i] = ((w >>> (3 * i)) & 7) - bias;
    }
  }
}

/** Inverse of `packBits`: `rows × cols` codes as a Uint8Array. */
export function unpackBits(packed: Uint8Array, rows: number, cols: number, bitsIn: number): Uint8Array {
  const fn = 'unpackBits';
  const bits = checkBits(fn, 'bits', bitsIn);
  const rb = packedRowBytes(bits, cols);
  if (packed.length !== rows * rb)
    throw new ArgumentError(fn, 'packed.length', packed.length, `must equal rows · ${rb} = ${rows * rb} for ${rows} × ${cols} ${bits}-bit codes`);
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) unpackRow(packed, r * rb, cols, bits, out, r * cols);
  return out;
}
