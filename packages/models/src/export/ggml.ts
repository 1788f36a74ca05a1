/**
 * ggml tensor encodings written by the GGUF exporter: F32, F16, BF16 (plain little-endian), Q8_0,
 * Q4_0 and Q4_1 (blocks of 32 along a row), both from f32 values (ggml's reference quantizers,
 * lossy) and EXACTLY from llmpress's integer codes (no rounding at all).
 *
 * Block layouts (ggml-common.h): Q4_0 = f16 d, 16 bytes: byte j holds element j (low nibble) and
 * j+16 (high nibble), value = d·(q − 8). Q4_1 = f16 d, f16 m, same nibbles, value = d·q + m.
 * Q8_0 = f16 d, 32 int8, value = d·q.
 *
 * Exact mapping of a quantized layer (w = s·(c − z), f16 scales, groups of g columns — the last one
 * may be ragged —, codes in the natural column order, i.e. no dynamic act-order permutation; static
 * act-order groups are fine) — with g and the row width multiples of 32, every ggml block of 32 lies
 * inside one group and takes the group's scale as is:
 * - symmetric, bits ≤ 4 (z = 2^(bits−1)): Q4_0 with d = s, q = c − z + 8 (bits = 4: q = c);
 * - symmetric, bits ≤ 8: Q8_0 with d = s, q = c − z (bits = 8: q = c − 128);
 * - asymmetric, bits ≤ 4: Q4_1 with d = s, q = c, m = −s·z — exact only where −s·z is an f16 value
 *   (checked per block).
 */
import { ArgumentError, f16ToF32, f32ToF16, encodeHalf } from '@llmpress/tensor';

export const GGML = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8, BF16: 30 } as const;
export type GgmlTypeName = keyof typeof GGML;
export const QK = 32;

/** Bytes of `count` elements (count a multiple of 32 for the block types). */
export function ggmlBytes(type: number, count: number): number {
  switch (type) {
    case GGML.F32:
      return 4 * count;
    case GGML.F16:
    case GGML.BF16:
      return 2 * count;
    case GGML.Q4_0:
      return (count / QK) * 18;
    case GGML.Q4_1:
      return (count / QK) * 20;
    case GGML.Q8_0:
      return (count / QK) * 34;
  }
  throw new ArgumentError('ggmlBytes', 'type', type, 'must be F32, F16, BF16, Q4_0, Q4_1 or Q8_0');
}

export function isBlockType(type: number): boolean {
  return type === GGML.Q4_0 || type === GGML.Q4_1 || type === GGML.Q8_0;
}

/** f32 values → ggml bytes (F32/F16/BF16 exactly as rounded by RNE; Q-types by ggml's reference quantizers). */
export function encodeValues(x: Float32Array, type: number): Uint8Array {
  switch (type) {
    case GGML.F32:
      return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
    case GGML.F16:
      return encodeHalf(x, 'f16');
    case GGML.BF16:
      return encodeHalf(x, 'bf16');
    case GGML.Q8_0:
      return quantizeQ8_0(x);
    case GGML.Q4_0:
      return quantizeQ4_0(x);
    case GGML.Q4_1:
      return quantizeQ4_1(x);
  }
  throw new ArgumentError('encodeValues', 'type', type, 'must be F32, F16, BF16, Q4_0, Q4_1 or Q8_0');
}

function checkBlocks(fn: string, n: number): void {
  if (n % QK !== 0) throw new ArgumentError(fn, 'x.length', n, `must be a multiple of ${QK}`);
}

/** ggml's quantize_row_q8_0_ref: d = absmax/127, q = round(x/d). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  checkBlocks('quantizeQ8_0', x.length);
  const nb = x.length / QK,
    out = new Uint8Array(nb * 34),
    dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b * QK + j]!));
    const d = Math.fround(amax / 127),
      id = d ? Math.fround(1 / d) : 0;
    dv.setUint16(b * 34, f32ToF16(d), true);
    for (let j = 0; j < QK; j++) dv.setInt8(b * 34 + 2 + j, Math.round(Math.fround(x[b * QK + j]! * id)));
  }
  return out;
}

/** ggml's quantize_row_q4_0_ref: d = (value of largest |x|)/−8, q = min(15, trunc(x/d + 8.5)). */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  checkBlocks('quantizeQ4_0', x.length);
  const nb = x.length / QK,
    out = new Uint8Array(nb * 18),
    dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0,
      max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[b * QK + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8),
      id = d ? Math.fround(1 / d) : 0;
    dv.setUint16(b * 18, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[b * QK + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[b * QK + j + 16]! * id) + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** ggml's quantize_row_q4_1_ref: d = (max − min)/15, m = min, q = min(15, trunc((x − min)/d + 0.5)). */
export function quantizeQ4_1(x: Float32Array): Uint8Array {
  checkBlocks('quantizeQ4_1', x.length);
  const nb = x.length / QK,
    out = new Uint8Array(nb * 20),
    dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let mn = Infinity,
      mx = -Infinity;
    for (let j = 0; j < QK; j++) {
      const v = x[b * QK + j]!;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const d = Math.fround((mx - mn) / 15),
      id = d ? Math.fround(1 / d) : 0;
    dv.setUint16(b * 20, f32ToF16(d), true);
    dv.setUint16(b * 20 + 2, f32ToF16(mn), true);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(Math.fround(Math.fround((x[b * QK + j]! - mn) * id) + 0.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(Math.fround((x[b * QK + j + 16]! - mn) * id) + 0.5)));
      out[b * 20 + 4 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** What a quantized layer exposes to the exporter (structurally: `QuantizedLinear` of @llmpress/quantizers). */
export interface QuantizedLike {
  readonly kind: 'quantized';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bits: number;
  readonly symmetric: boolean;
  readonly groupSize: number;
  readonly nGroups: number;
  readonly scaleDtype: 'f16' | 'f32';
  /** f16 bit patterns or f32 values, rows × nGroups. */
  readonly scales: Uint16Array | Float32Array;
  /** Stored column j holds input perm[j] (dynamic act-order); null = natural order. */
  readonly perm: ArrayLike<number> | null;
  decodedZeros(): Uint8Array;
  /** Row r as s·(c − z) in stored column order (with s = 1, z = 0 it returns the codes). */
  dequantRow(r: number, out: Float32Array | Float64Array, scales: Float32Array, zeros: Uint8Array): void;
  toDense(): { shape: readonly number[]; contiguous(): { data: ArrayLike<number> } };
}

export function isQuantizedLike(x: unknown): x is QuantizedLike {
  const q = x as QuantizedLike;
  return (
    !!q &&
    q.kind === 'quantized' &&
    typeof q.dequantRow === 'function' &&
    typeof q.decodedZeros === 'function' &&
    (q.scales instanceof Uint16Array || q.scales instanceof Float32Array)
  );
}

/** The integer codes of a quantized layer, rows × inFeatures, in STORED column order. */
export function layerCodes(q: QuantizedLike): Uint8Array {
  const n = q.inFeatures,
    m = q.outFeatures;
  const ones = new Float32Array(m * q.nGroups).fill(1),
    zeros = new Uint8Array(m * q.nGroups);
  const row = new Float32Array(n),
    out = new Uint8Array(m * n);
  for (let r = 0; r < m; r++) {
    q.dequantRow(r, row, ones, zeros);
    for (let j = 0; j < n; j++) out[r * n + j] = row[j]!;
  }
  return out;
}

/** Why a quantized layer cannot be written exactly as ggml `type` (undefined: it can). */
export function exactMappingProblem(q: QuantizedLike, type: number): string | undefined {
  if (q.scaleDtype !== 'f16') return 'scales are f32 (ggml block scales are f16)';
  if (q.perm) return 'codes are stored in dynamic act-order (a column permutation ggml blocks cannot express)';
  if (q.inFeatures % QK !== 0) return `row width ${q.inFeatures} is not a multiple of ${QK}`;
  if (q.groupSize % QK !== 0) return `group size ${q.groupSize} is not a multiple of ${QK}`;
  if (type === GGML.Q4_0) {
    if (!q.symmetric) return 'asymmetric codes (Q4_0 is symmetric; Q4_1 maps them)';
    if (q.bits > 4) return `${q.bits}-bit codes do not fit 4 bits`;
    return undefined;
  }
  if (type === GGML.Q8_0) {
    if (!q.symmetric) return 'asymmetric codes (Q8_0 is symmetric)';
    return undefined;
  }
  if (type === GGML.Q4_1) {
    if (q.bits > 4) return `${q.bits}-bit codes do not fit 4 bits`;
    const z = q.decodedZeros(),
      s = q.scales as Uint16Array;
    for (let i = 0; i < s.length; i++) {
      const m = -f16ToF32(s[i]!) * z[i]!;
      if (f16ToF32(f32ToF16(m)) !== m) return `the block minimum −s·z (${m}) is not an f16 value`;
    }
    return undefined;
  }
  return 'the type is not a block-quantized type';
}

/**
 * A quantized layer's rows (`rows` = row indices in output order; the row permutation for RoPE
 * layouts goes here) as exact ggml blocks. Call `exactMappingProblem` first.
 */
export function codesToGgml(q: QuantizedLike, type: number, rows?: ArrayLike<number>): Uint8Array {
  const fn = 'codesToGgml';
  const problem = exactMappingProblem(q, type);
  if (problem) throw new ArgumentError(fn, 'layer', `${q.bits}-bit g${q.groupSize}`, `cannot be written exactly as ggml type ${type}: ${problem}`);
  const n = q.inFeatures,
    m = q.outFeatures,
    g = q.groupSize,
    ng = q.nGroups;
  const codes = layerCodes(q),
    zeros = q.decodedZeros(),
    s = q.scales as Uint16Array;
  const order = rows ?? Array.from({ length: m }, (_, i) => i);
  const nbRow = n / QK,
    bb = type === GGML.Q4_0 ? 18 : type === GGML.Q4_1 ? 20 : 34;
  const out = new Uint8Array(m * nbRow * bb),
    dv = new DataView(out.buffer);
  for (let ri = 0; ri < m; ri++) {
    const r = order[ri]!;
    for (let b = 0; b < nbRow; b++) {
      const grp = Math.floor((b * QK) / g),
        sbits = s[r * ng + grp]!,
        z = zeros[r * ng + grp]!;
      const o = (ri * nbRow + b) * bb,
        c0 = r * n + b * QK;
      dv.setUint16(o, sbits, true);
      if (type === GGML.Q8_0) {
        for (let j = 0; j < QK; j++) dv.setInt8(o + 2 + j, codes[c0 + j]! - z);
      } else if (type === GGML.Q4_0) {
        for (let j = 0; j < 16; j++) out[o + 2 + j] = (codes[c0 + j]! - z + 8) | ((codes[c0 + j + 16]! - z + 8) << 4);
      } else {
        // w = s·(c − z) = s·c + m with m = −s·z (checked to be an f16 value by exactMappingProblem)
        dv.setUint16(o + 2, f32ToF16(-f16ToF32(sbits) * z), true);
        for (let j = 0; j < 16; j++) out[o + 4 + j] = codes[c0 + j]! | (codes[c0 + j + 16]! << 4);
      }
    }
  }
  return out;
}
