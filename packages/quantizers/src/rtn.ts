/** Round-to-nearest (RTN) weight quantization into a `QuantizedLinear`. */
import { type Tensor, assertMatrix, ArgumentError } from '@llmpress/tensor';
import { QuantizedLinear } from './quantized-linear.js';
import { resolveSpec, groupParams, quantCode, type QuantSpec } from './scheme.js';

export type RtnOptions = QuantSpec;

/**
 * Quantizes a weight `[out, in]` (f32 or f64) by round-to-nearest, per channel or per group (the
 * last group of a row is shorter when the group size does not divide the width).
 * Throws `ArgumentError` for bad bits / grid / a group size larger than the width, and
 * `NonFiniteError` for a NaN/Inf weight.
 */
export function rtnQuantize(weight: Tensor, options: RtnOptions): QuantizedLinear {
  const fn = 'rtnQuantize';
  assertMatrix(fn, 'weight', weight);
  if (weight.dtype !== 'f32' && weight.dtype !== 'f64') throw new ArgumentError(fn, 'weight.dtype', weight.dtype, "must be 'f32' or 'f64'");
  const [m, n] = weight.shape as [number, number];
  const s = resolveSpec(fn, options, n);
  const w = weight.contiguous().data;
  const ng = s.nGroups,
    g = s.groupSize;
  const codes = new Uint8Array(m * n);
  const scales = s.scaleDtype === 'f16' ? new Uint16Array(m * ng) : new Float32Array(m * ng);
  const zeros = new Uint8Array(m * ng);
  for (let r = 0; r < m; r++) {
    for (let k = 0; k < ng; k++) {
      const off = r * n + k * g,
        len = Math.min(g, n - k * g);
      const p = groupParams(fn, w, off, 1, len, s);
      scales[r * ng + k] = p.stored;
      zeros[r * ng + k] = p.zero;
      for (let j = 0; j < len; j++) codes[off + j] = quantCode(w[off + j]!, p.scale, p.zero, s.maxq, s.minq);
    }
  }
  return QuantizedLinear.fromCodes({
    inFeatures: n,
    outFeatures: m,
    bits: s.bits,
    symmetric: s.symmetric,
    groupSize: s.groupSize,
    scaleDtype: s.scaleDtype,
    codes,
    scales,
    zeros: s.symmetric ? null : zeros,
    perm: null,
  });
}
