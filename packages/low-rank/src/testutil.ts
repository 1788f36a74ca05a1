/** Synthetic layers and calibration inputs for the SVD-LLM tests (test-only helper, not exported). */
import { Tensor, Rng, matmul } from '@llmpress/tensor';

/** W (m × n) with a decaying spectrum: W = Σ_i d^i u_i v_iᵀ-like, built from Gaussian factors. */
export function syntheticWeight(m: number, n: number, seed: number, decay = 0.85): Tensor<'f64'> {
  const rng = new Rng(seed);
  const r = Math.min(m, n);
  const a = new Float64Array(m * r),
    b = new Float64Array(r * n);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  for (let i = 0; i < r; i++) {
    const s = Math.pow(decay, i);
    for (let j = 0; j < n; j++) b[i * n + j] = s * rng.normal();
  }
  const w = matmul(new Tensor('f64', a, [m, r]), new Tensor('f64', b, [r, n])) as Tensor<'f64'>;
  for (let i = 0; i < w.data.length; i++) w.data[i]! /= Math.sqrt(n);
  return w;
}

/**
 * Activations X as rows [T, n] with LLM-like structure: a few outlier channels (large scale),
 * correlated channels (a shared low-dimensional component) and a non-zero mean.
 */
export function syntheticInputs(n: number, T: number, seed: number, options: { outliers?: number; rank?: number } = {}): Tensor<'f64'> {
  const rng = new Rng(seed);
  const outliers = options.outliers ?? Math.max(1, Math.floor(n / 16));
  const scale = new Float64Array(n);
  for (let j = 0; j < n; j++) scale[j] = 0.3 + rng.uniform();
  for (let o = 0; o < outliers; o++) scale[rng.int(n)] = 8 + 8 * rng.uniform();
  const r = options.rank ?? n;
  const mix = new Float64Array(r * n);
  for (let i = 0; i < mix.length; i++) mix[i] = rng.normal() / Math.sqrt(r);
  const x = new Float64Array(T * n);
  const z = new Float64Array(r);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < r; i++) z[i] = rng.normal();
    for (let j = 0; j < n; j++) {
      let s = 0.2;
      for (let i = 0; i < r; i++) s += z[i]! * mix[i * n + j]!;
      x[t * n + j] = (r === n ? 0.5 * s + 0.5 * rng.normal() : s) * scale[j]!;
    }
  }
  return new Tensor('f64', x, [T, n]);
}

/** Gram Σ x xᵀ of rows x: [n, n]. */
export function gramOf(x: Tensor<'f64'>): Tensor<'f64'> {
  return matmul(x.T, x) as Tensor<'f64'>;
}

export function meanAbsOf(x: Tensor<'f64'>): Tensor<'f64'> {
  const [T, n] = x.shape as [number, number];
  const out = new Float64Array(n);
  for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) out[j]! += Math.abs(x.data[t * n + j]!);
  for (let j = 0; j < n; j++) out[j]! /= T;
  return new Tensor('f64', out, [n]);
}

/** ‖(A − B) Xᵀ‖_F² for weights A, B [m, n] and rows X [T, n]. */
export function outputError(a: Tensor, b: Tensor, x: Tensor<'f64'>): number {
  const A = a.astype('f64'),
    B = b.astype('f64');
  const d = new Float64Array(A.size);
  for (let i = 0; i < d.length; i++) d[i] = A.data[i]! - B.data[i]!;
  const y = matmul(x, new Tensor('f64', d, A.shape).T) as Tensor<'f64'>;
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i]! * y.data[i]!;
  return s;
}
