import { ArgumentError, NoConvergenceError, NonFiniteError } from '@llmpress/tensor';

/**
 * Symmetric eigendecomposition of a small dense matrix (head-dim Grams, n ≤ a few hundred) by cyclic
 * Jacobi in float64. Returns eigenvalues in descending order and eigenvectors as the columns of a
 * row-major n × n matrix. Stops when the off-diagonal norm is below 1e-14·‖A‖_F; at most 100 sweeps.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError('symmetricEigen', 'n', n, 'must be a positive integer');
  if (a.length !== n * n) throw new ArgumentError('symmetricEigen', 'a', a, `must have n·n = ${n * n} entries`);
  const m = Float64Array.from(a);
  let fro = 0;
  for (let i = 0; i < n * n; i++) {
    if (!Number.isFinite(m[i]!)) throw new NonFiniteError('symmetricEigen', 'a', i, m[i]!);
    fro += m[i]! * m[i]!;
  }
  fro = Math.sqrt(fro);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const tol = 1e-14 * fro;
  let off = Infinity;
  let sweep = 0;
  for (; sweep < 100; sweep++) {
    off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! * m[p * n + q]!;
    off = Math.sqrt(2 * off);
    if (off <= tol || fro === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (Math.abs(apq) <= 1e-300) continue;
        const app = m[p * n + p]!, aqq = m[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!, mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!, mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  if (off > tol && fro !== 0) throw new NoConvergenceError('symmetricEigen', sweep, off / fro);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j]! - m[i * n + i]!);
  const values = new Float64Array(n), vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c]!;
    values[c] = m[src * n + src]!;
    for (let r = 0; r < n; r++) vectors[r * n + c] = v[r * n + src]!;
  }
  return { values, vectors };
}
