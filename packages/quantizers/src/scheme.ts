/**
 * The weight quantization scheme shared by RTN and GPTQ: integer codes c ∈ [0, 2^bits − 1] with
 * `w ≈ s · (c − z)`.
 *
 * Symmetric (z = 2^(bits−1), implicit, not stored), two grids:
 * - `'full'` (default, the GPTQ reference code's and GGUF's convention): s = 2·absmax / (2^bits − 1),
 *   every code used, levels −2^(bits−1) … 2^(bits−1) − 1. With f16 scales, 4-bit codes in groups
 *   of 32 are exactly GGUF Q4_0 blocks (d = s, value d·(q − 8), q = c) and 8-bit codes in groups of
 *   32 exactly Q8_0 blocks (value d·q, q = c − 128).
 * - `'restricted'`: s = absmax / (2^(bits−1) − 1), levels ±(2^(bits−1) − 1) (code 0 unused;
 *   ternary at 2 bits). Kept for ablations.
 * Asymmetric: the range [min(w, 0), max(w, 0)] is split into 2^bits − 1 steps, z = round(−min / s)
 * is stored (packed at `bits`).
 *
 * Groups run along the input dimension: group k of a row covers columns [k·g, min(n, (k+1)·g)), so
 * there are ⌈n / g⌉ groups and the last one is ragged when g does not divide n. Scales are stored
 * as f16 (default) or f32; an f16 scale is rounded UP to the next representable value, so no value
 * inside the chosen range is clamped by the rounding (|w − ŵ| ≤ s/2 for every in-range w).
 */
import { ArgumentError, NonFiniteError, f16ToF32, f32ToF16 } from '@llmpress/tensor';
import { checkBits, type Bits } from './pack.js';

export type ScaleDType = 'f16' | 'f32';
/** Symmetric grid: all 2^bits levels (default) or the restricted ±(2^(bits−1) − 1). */
export type QuantGrid = 'full' | 'restricted';

export interface QuantSpec {
  /** Code width, an integer from 2 to 8. */
  bits: Bits;
  /** Symmetric (default) or asymmetric with a stored zero point. */
  symmetric?: boolean;
  /** Symmetric grid (default 'full'); asymmetric quantization always uses every level. */
  grid?: QuantGrid;
  /**
   * Columns per group; 0 / undefined = one group per output row (per-channel). At most the input
   * width; when it does not divide the width the last group of every row is shorter (⌈n / g⌉ groups).
   */
  groupSize?: number;
  /** Storage of the scales (default 'f16'). */
  scaleDtype?: ScaleDType;
  /**
   * Clip search (GPTQ's `mse` option): try shrinking the range by factors 1, 0.99, …, 0.21 and
   * keep the one with the least Σ|w − ŵ|^2.4 per group. Off by default.
   */
  clipSearch?: boolean;
}

export interface ResolvedSpec {
  bits: Bits;
  symmetric: boolean;
  grid: QuantGrid;
  groupSize: number;
  nGroups: number;
  scaleDtype: ScaleDType;
  clipSearch: boolean;
  /** Largest code, 2^bits − 1. */
  maxq: number;
  /** Smallest code: 1 on the restricted symmetric grid (levels ±(2^(bits−1) − 1)), else 0. */
  minq: number;
}

/** Number of groups of a row of n columns with group size g (the last one ragged when g ∤ n). */
export function groupCount(n: number, g: number): number {
  return Math.ceil(n / g);
}

export function resolveSpec(fn: string, spec: QuantSpec, inFeatures: number): ResolvedSpec {
  if (typeof spec !== 'object' || spec === null) throw new ArgumentError(fn, 'options', spec, 'must be an object with bits');
  const bits = checkBits(fn, 'options.bits', spec.bits);
  const g = spec.groupSize ?? 0;
  if (typeof g !== 'number' || !Number.isInteger(g) || g < 0)
    throw new ArgumentError(fn, 'options.groupSize', g, 'must be a non-negative integer (0 = per-channel)');
  if (g > inFeatures) throw new ArgumentError(fn, 'options.groupSize', g, `must not exceed the input width ${inFeatures} (0 = per-channel)`);
  const symmetric = spec.symmetric ?? true;
  if (typeof symmetric !== 'boolean') throw new ArgumentError(fn, 'options.symmetric', symmetric, 'must be a boolean');
  const grid = spec.grid ?? 'full';
  if (grid !== 'full' && grid !== 'restricted') throw new ArgumentError(fn, 'options.grid', grid, "must be 'full' or 'restricted'");
  if (!symmetric && grid !== 'full') throw new ArgumentError(fn, 'options.grid', grid, 'applies to symmetric quantization only (asymmetric uses every level)');
  const sd = spec.scaleDtype ?? 'f16';
  if (sd !== 'f16' && sd !== 'f32') throw new ArgumentError(fn, 'options.scaleDtype', sd, "must be 'f16' or 'f32'");
  const clip = spec.clipSearch ?? false;
  if (typeof clip !== 'boolean') throw new ArgumentError(fn, 'options.clipSearch', clip, 'must be a boolean');
  const groupSize = g === 0 ? inFeatures : g;
  return {
    bits,
    symmetric,
    grid,
    groupSize,
    nGroups: groupCount(inFeatures, groupSize),
    scaleDtype: sd,
    clipSearch: clip,
    maxq: (1 << bits) - 1,
    minq: symmetric && grid === 'restricted' ? 1 : 0,
  };
}

/** Rounds a positive scale to storage, upward, so the stored scale ≥ the requested one. Returns [value, stored bits or value]. */
export function storeScale(fn: string, s: number, dtype: ScaleDType): [number, number] {
  if (dtype === 'f32') {
    const f = Math.fround(s);
    const v = f < s ? nextUpF32(f) : f;
    return [v, v];
  }
  let h = f32ToF16(s);
  if (f16ToF32(h) < s) h += 1;
  const v = f16ToF32(h);
  if (!Number.isFinite(v)) throw new ArgumentError(fn, 'scale', s, "exceeds the f16 range (65504); use scaleDtype: 'f32'");
  return [v, h];
}

const f32b = new Float32Array(1),
  u32b = new Uint32Array(f32b.buffer);
function nextUpF32(x: number): number {
  f32b[0] = x;
  u32b[0] = u32b[0]! + 1;
  return f32b[0]!;
}

export interface GroupParams {
  scale: number;
  stored: number;
  zero: number;
}

/** Scale (and zero) for the values v[off + k·stride], k < len. */
export function groupParams(fn: string, v: ArrayLike<number>, off: number, stride: number, len: number, s: ResolvedSpec): GroupParams {
  let lo = 0,
    hi = 0,
    amax = 0;
  for (let k = 0; k < len; k++) {
    const x = v[off + k * stride]!;
    if (!Number.isFinite(x)) throw new NonFiniteError(fn, 'weight', off + k * stride, x);
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  amax = Math.max(-lo, hi);
  const make = (shrink: number): GroupParams => {
    if (s.symmetric) {
      // full: 2·absmax over 2^bits − 1 steps; restricted: absmax over 2^(bits−1) − 1 steps
      const raw = s.grid === 'full' ? (2 * amax * shrink) / s.maxq : (amax * shrink) / (s.maxq >> 1);
      const [scale, stored] = raw > 0 ? storeScale(fn, raw, s.scaleDtype) : storeScale(fn, 1, s.scaleDtype);
      return { scale, stored, zero: (s.maxq + 1) >> 1 };
    }
    const l = lo * shrink,
      h = hi * shrink;
    const raw = (h - l) / s.maxq;
    const [scale, stored] = raw > 0 ? storeScale(fn, raw, s.scaleDtype) : storeScale(fn, 1, s.scaleDtype);
    const zero = Math.min(s.maxq, Math.max(0, Math.round(-l / scale)));
    return { scale, stored, zero };
  };
  let best = make(1);
  if (s.clipSearch && amax > 0) {
    let bestErr = groupError(v, off, stride, len, best, s.maxq, s.minq);
    for (let i = 1; i < 80; i++) {
      const p = make(1 - i / 100);
      const e = groupError(v, off, stride, len, p, s.maxq, s.minq);
      if (e < bestErr) {
        bestErr = e;
        best = p;
      }
    }
  }
  return best;
}

function groupError(v: ArrayLike<number>, off: number, stride: number, len: number, p: GroupParams, maxq: number, minq: number): number {
  let e = 0;
  for (let k = 0; k < len; k++) {
    const x = v[off + k * stride]!;
    const d = Math.abs(dequant(quantCode(x, p.scale, p.zero, maxq, minq), p.scale, p.zero) - x);
    e += Math.pow(d, 2.4);
  }
  return e;
}

/** Nearest code of x, clamped to [minq, maxq] (minq = 1 on the restricted symmetric grid). */
export function quantCode(x: number, scale: number, zero: number, maxq: number, minq = 0): number {
  const q = Math.round(x / scale) + zero;
  return q < minq ? minq : q > maxq ? maxq : q;
}
export function dequant(code: number, scale: number, zero: number): number {
  return scale * (code - zero);
}
