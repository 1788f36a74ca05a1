/**
 * Per-token symmetric activation quantization: for each row x (a token), s = clip · max|x| / qmax,
 * q = clamp(round(x / s), −qmax − 1, qmax), qmax = 2^(bits−1) − 1. bits ∈ {4, 8}.
 */
import { ArgumentError, NonFiniteError } from '@llmpress/tensor';

export interface ActQuantOptions {
  bits: 4 | 8;
  clip?: number;
}

export function checkActOptions(fn: string, o: ActQuantOptions): { bits: 4 | 8; clip: number; qmax: number } {
  if (o.bits !== 4 && o.bits !== 8) throw new ArgumentError(fn, 'options.bits', o.bits, 'must be 4 or 8');
  const clip = o.clip ?? 1;
  if (!(clip > 0 && clip <= 1)) throw new ArgumentError(fn, 'options.clip', clip, 'must be in (0, 1]');
  return { bits: o.bits, clip, qmax: (1 << (o.bits - 1)) - 1 };
}

/** Codes (Int8, rows × n) and per-row scales of columns [col0, col0 + n) of a rows × stride array. */
export function quantizeActivations(
  x: ArrayLike<number>,
  rows: number,
  n: number,
  options: ActQuantOptions,
  stride = n,
  col0 = 0,
): { codes: Int8Array; scales: Float32Array } {
  const fn = 'quantizeActivations';
  const { clip, qmax } = checkActOptions(fn, options);
  const codes = new Int8Array(rows * n),
    scales = new Float32Array(rows);
  for (let t = 0; t < rows; t++) {
    const o = t * stride + col0;
    let amax = 0;
    for (let j = 0; j < n; j++) {
      const v = x[o + j]!;
      if (!Number.isFinite(v)) throw new NonFiniteError(fn, 'x', o + j, v);
      const a = Math.abs(v);
      if (a > amax) amax = a;
    }
    const s = amax > 0 ? Math.fround((clip * amax) / qmax) : 1;
    scales[t] = s;
    const inv = 1 / s;
    for (let j = 0; j < n; j++) {
      let q = Math.round(x[o + j]! * inv);
      if (q > qmax) q = qmax;
      else if (q < -qmax - 1) q = -qmax - 1;
      codes[t * n + j] = q;
    }
  }
  return { codes, scales };
}

/** Quantize-dequantize (what the integer kernel sees), as f32 rows × n. */
export function fakeQuantActivations(x: ArrayLike<number>, rows: number, n: number, options: ActQuantOptions): Float32Array {
  const { codes, scales } = quantizeActivations(x, rows, n, options);
  const out = new Float32Array(rows * n);
  for (let t = 0; t < rows; t++) for (let j = 0; j < n; j++) out[t * n + j] = scales[t]! * codes[t * n + j]!;
  return out;
}
