import { ArgumentError, NonFiniteError, Tensor, gramAccumulate } from '@llmpress/tensor';
import { eigh } from '@llmpress/decompositions';

/** An orthonormal key basis for one KV head: `keys ≈ mean + L·Vᵀ` with latent `L = (keys − mean)·V`. */
export interface KeyBasis {
  headDim: number;
  /** d × d row-major; column c is latent channel c (descending variance). */
  v: Float32Array;
  /** Variance of each latent channel over the fitting keys (descending). */
  variances: Float64Array;
  /** Mean key used for centering, or null (uncentered basis: V from the raw Gram KᵀK). */
  mean: Float32Array | null;
}

/**
 * Fits the SVDq basis of keys `[n, d]` (row `r` at `keys[offset + r·stride ..]`): the right singular
 * vectors of K (or of K − 1μᵀ with `center`), from the eigendecomposition of the d × d Gram in
 * float64 (σ_c² = eigenvalue; the SVD of K itself is never needed since only V is used).
 */
export function fitKeyBasis(keys: Float32Array, n: number, d: number, options: { center?: boolean; stride?: number; offset?: number } = {}): KeyBasis {
  const fn = 'fitKeyBasis';
  if (!Number.isInteger(d) || d < 1) throw new ArgumentError(fn, 'd', d, 'must be a positive integer');
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(fn, 'n', n, 'must be a positive integer');
  const stride = options.stride ?? d,
    off = options.offset ?? 0;
  if (off + (n - 1) * stride + d > keys.length) throw new ArgumentError(fn, 'keys', keys, `must hold ${n} rows of ${d} (stride ${stride}, offset ${off})`);
  const mean = new Float64Array(d);
  if (options.center) {
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) mean[i] += keys[off + r * stride + i]!;
    for (let i = 0; i < d; i++) mean[i] /= n;
  }
  const x = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    const base = off + r * stride;
    for (let i = 0; i < d; i++) {
      const v = keys[base + i]!;
      if (!Number.isFinite(v)) throw new NonFiniteError(fn, 'keys', base + i, v);
      x[r * d + i] = v - mean[i]!;
    }
  }
  const g = new Float64Array(d * d);
  gramAccumulate(g, x, n, d);
  const e = eigh(new Tensor('f64', g, [d, d]), { order: 'descending' });
  const values = e.values.data as Float64Array,
    vectors = e.vectors.data as Float64Array;
  const variances = new Float64Array(d);
  for (let c = 0; c < d; c++) variances[c] = Math.max(0, values[c]!) / n;
  return { headDim: d, v: Float32Array.from(vectors), variances, mean: options.center ? Float32Array.from(mean) : null };
}

/**
 * The per-channel baseline in the same form: the identity basis with channels permuted by
 * descending variance, so a bit schedule applies to raw channels ("per-channel quantization at equal bits").
 */
export function identityBasis(keys: Float32Array, n: number, d: number, options: { center?: boolean; stride?: number; offset?: number } = {}): KeyBasis {
  const stride = options.stride ?? d,
    off = options.offset ?? 0;
  if (off + (n - 1) * stride + d > keys.length) throw new ArgumentError('identityBasis', 'keys', keys, `must hold ${n} rows of ${d}`);
  const mean = new Float64Array(d),
    sq = new Float64Array(d);
  for (let r = 0; r < n; r++)
    for (let i = 0; i < d; i++) {
      const x = keys[off + r * stride + i]!;
      mean[i] += x;
      sq[i] += x * x;
    }
  const varc = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    const m = mean[i]! / n;
    varc[i] = options.center ? Math.max(0, sq[i]! / n - m * m) : sq[i]! / n;
    mean[i] = m;
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((a, b) => varc[b]! - varc[a]!);
  const v = new Float32Array(d * d);
  const variances = new Float64Array(d);
  order.forEach((src, c) => {
    v[src * d + c] = 1;
    variances[c] = varc[src]!;
  });
  return { headDim: d, v, variances, mean: options.center ? Float32Array.from(mean) : null };
}
