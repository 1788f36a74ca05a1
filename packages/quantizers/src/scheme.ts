/**
 * The weight quantization scheme shared by RTN and GPTQ: integer codes c ∈ [0, 2^bits − 1] with
 * `w ≈ s · (c − z)`. Symmetric: z = 2^(bits−1) (implicit, not stored), s = absmax / (2^(bits−1) − 1).
 * Asymmetric: the range [min(w, 0), max(w, 0)] is split into 2^bits − 1 steps, z = round(−min / s)
 * is stored (packed at `bits`). Scales are stored as f16 (default) or f32; an f16 scale is rounded
 * UP to the next representable value, so the half-step error bound |w − ŵ| ≤ s/2 holds exactly
 * for the stored scale.
 */
import { ArgumentError, NonFiniteError, f16ToF32, f32ToF16 } from '@llmpress/tensor';
import { checkBits, type Bits } from './pack.js';

export type ScaleDType = 'f16' | 'f32';

export interface QuantSpec {
  bits: Bits;
  /** Symmetric (default) or asymmetric with a stored zero point. */
  symmetric?: boolean;
  /** Columns per group; 0 / undefined = one group per output row (per-channel). Must divide the width. */
  groupSize?: number;
  /** Storage of the scales (default 'f16'). */
  scaleDtype?: ScaleDType;
  /**
   * Clip search (GPTQ's `mse` option): try shrinking the range by factors 1, 0.98, …, 0.2 and
   * keep the one with the least Σ|w − ŵ|^2.4 per group. Off by default.
   */
  clipSearch?: boolean;
}

export interface ResolvedSpec { bits: Bits; symmetric: boolean; groupSize: number; scaleDtype: ScaleDType; clipSearch: boolean; maxq: number }

export function resolveSpec(fn: string, spec: QuantSpec, inFeatures: number): ResolvedSpec {
  if (typeof spec !== 'object' || spec === null) throw new ArgumentError(fn, 'options', spec, 'must be an object with bits');
  const bits = checkBits(fn, 'options.bits', spec.bits);
  const g = spec.groupSize ?? 0;
  if (!Number.isInteger(g) || g < 0) throw new ArgumentError(fn, 'options.groupSize', g, 'must be a non-negative integer (0 = per-channel)');
  if (g > 0 && inFeatures % g !== 0) throw new ArgumentError(fn, 'options.groupSize', g, `must divide the input width ${inFeatures}`);
  const sd = spec.scaleDtype ?? 'f16';
  if (sd !== 'f16' && sd !== 'f32') throw new ArgumentError(fn, 'options.scaleDtype', sd, "must be 'f16' or 'f32'");
  return { bits, symmetric: spec.symmetric ?? true, groupSize: g === 0 ? inFeatures : g, scaleDtype: sd, clipSearch: spec.clipSearch ?? false, maxq: (1 << bits) - 1 };
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

const f32b = new Float32Array(1), u32b = new Uint32Array(f32b.buffer);
function nextUpF32(x: number): number { f32b[0] = x; u32b[0] = u32b[0]! + 1; return f32b[0]!; }

export interface GroupParams { scale: number; stored: number; zero: number }

/** Scale (and zero) for the values v[off + k·stride], k < len. */
export function groupParams(fn: string, v: ArrayLike<number>, off: number, stride: number, len: number, s: ResolvedSpec): GroupParams {
  let lo = 0, hi = 0, amax = 0;
  for (let k = 0; k < len; k++) {
    const x = v[off + k * stride]!;
    if (!Number.isFinite(x)) throw new NonFiniteError(fn, 'weight', off + k * stride, x);
    if (x < lo) lo = x; if (x > hi) hi = x;
  }
  amax = Math.max(-lo, hi);
  const make = (shrink: number): GroupParams => {
    if (s.symmetric) {
      const qmax = (s.maxq >> 1);
      const raw = (amax * shrink) / qmax;
      const [scale, stored] = raw > 0 ? storeScale(fn, raw, s.scaleDtype) : storeScale(fn, 1, s.scaleDtype);
      return { scale, stored, zero: (s.maxq + 1) >> 1 };
    }
    const l = lo * shrink, h = hi * shrink;
    const raw = (h - l) / s.maxq;
    const [scale, stored] = raw > 0 ? storeScale(fn, raw, s.scaleDtype) : storeScale(fn, 1, s.scaleDtype);
    const zero = Math.min(s.maxq, Math.max(0, Math.round(-l / scale)));
    return { scale, stored, zero };
  };
  let best = make(1);
  if (s.clipSearch && amax > 0) {
    let bestErr = groupError(v, off, stride, len, best, s.maxq);
    for (let i = 1; i <= 40; i++) {
      const p = make(1 - 0.02 * i);
      const e = groupError(v, off, stride, len, p, s.maxq);
      if (e < bestErr) { bestErr = e; best = p; }
    }
  }
  return best;
}

function groupError(v: ArrayLike<number>, off: number, stride: number, len: number, p: GroupParams, maxq: number): number {
  let e = 0;
  for (let k = 0; k < len; k++) {
    const x = v[off + k * stride]!;
    const d = Math.abs(dequant(quantCode(x, p.scale, p.zero, maxq), p.scale, p.zero) - x);
    e += Math.pow(d, 2.4);
  }
  return e;
}

export function quantCode(x: number, scale: number, zero: number, maxq: number): number {
  const q = Math.round(x / scale) + zero;
  return q < 0 ? 0 : q > maxq ? maxq : q;
}
export function dequant(code: number, scale: number, zero: number): number { return scale * (code - zero); }
