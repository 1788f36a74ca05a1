import { Rng } from '@llmpress/tensor';

/**
 * Fills `out` (rows × cols, row-major) with a weight whose singular values decay like a trained
 * layer's: W = diag(r) · G · diag(c), G i.i.d. Gaussian, with power-law column scales
 * c_j = (1 + π(j)/τ)^−α over a random permutation π and mild row scales. O(rows·cols), no SVD.
 * Scaled to ‖W‖_F² ≈ rows (unit-variance outputs for unit inputs), like initialisations of trained LLMs.
 */
export function syntheticWeight(out: Float32Array, rows: number, cols: number, seed: number, options: { alpha?: number; tau?: number } = {}): Float32Array {
  const rng = new Rng(seed);
  const alpha = options.alpha ?? 0.8,
    tau = options.tau ?? Math.max(4, cols / 64);
  const perm = new Int32Array(cols);
  for (let j = 0; j < cols; j++) perm[j] = j;
  for (let j = cols - 1; j > 0; j--) {
    const k = rng.int(j + 1);
    const t = perm[j]!;
    perm[j] = perm[k]!;
    perm[k] = t;
  }
  const c = new Float64Array(cols);
  let ss = 0;
  for (let j = 0; j < cols; j++) {
    c[j] = (1 + perm[j]! / tau) ** -alpha;
    ss += c[j]! * c[j]!;
  }
  const norm = 1 / Math.sqrt(ss);
  for (let i = 0; i < rows; i++) {
    const r = norm * (0.75 + 0.5 * rng.uniform());
    const o = i * cols;
    for (let j = 0; j < cols; j++) out[o + j] = r * c[j]! * rng.normal();
  }
  return out;
}
