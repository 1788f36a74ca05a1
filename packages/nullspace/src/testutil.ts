/** Synthetic inputs for the nullspace tests (test-only helper, not exported). */
import { Rng, Tensor, matmul } from '@llmpress/tensor';

/** Rows X [T, n] spanning an r-dimensional subspace (plus `noise` of isotropic energy). */
export function lowRankInputs(n: number, r: number, T: number, seed: number, noise = 0): Tensor<'f64'> {
  const rng = new Rng(seed);
  const basis = new Float64Array(r * n);
  for (let i = 0; i < basis.length; i++) basis[i] = rng.normal();
  const x = new Float64Array(T * n);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < r; i++) {
      const z = rng.normal() * (1 + 3 / (i + 1));
      for (let j = 0; j < n; j++) x[t * n + j]! += z * basis[i * n + j]!;
    }
    if (noise > 0) for (let j = 0; j < n; j++) x[t * n + j]! += noise * rng.normal();
  }
  return new Tensor('f64', x, [T, n]);
}
export function gramOf(x: Tensor<'f64'>): Tensor<'f64'> {
  return matmul(x.T, x) as Tensor<'f64'>;
}
export function randomWeight(m: number, n: number, seed: number): Tensor<'f32'> {
  const rng = new Rng(seed);
  const d = new Float32Array(m * n);
  for (let i = 0; i < d.length; i++) d[i] = rng.normal() / Math.sqrt(n);
  return new Tensor('f32', d, [m, n]);
}
export function fro2(a: Tensor): number {
  let s = 0;
  const d = a.contiguous().data;
  for (let i = 0; i < d.length; i++) s += d[i]! * d[i]!;
  return s;
}
