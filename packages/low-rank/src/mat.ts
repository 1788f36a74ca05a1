/** Small f64 helpers used by SVD-LLM (internal). GEMMs go through the backend; the rest is O(n²) loops. */
import { Tensor, matmul, ArgumentError, ShapeError, NonFiniteError, type Backend } from '@llmpress/tensor';

export type M64 = Tensor<'f64'>;

export function toF64(t: Tensor): M64 {
  if (t.dtype === 'f64') return t.contiguous() as M64;
  return t.astype('f64');
}
export function toF32(t: Tensor): Tensor<'f32'> {
  return t.dtype === 'f32' ? (t.contiguous() as Tensor<'f32'>) : t.astype('f32');
}
export function mm(a: Tensor, b: Tensor, backend?: Backend): M64 {
  return matmul(a, b, { backend }) as M64;
}
/** Scales column j of a (m × n) by d[j]; returns a new contiguous matrix. */
export function scaleCols(a: M64, d: ArrayLike<number>): M64 {
  const c = a.contiguous(true) as M64;
  const [m, n] = c.shape as [number, number];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c.data[i * n + j]! *= d[j]!;
  return c;
}
/** Scales row i of a (m × n) by d[i]; returns a new contiguous matrix. */
export function scaleRows(a: M64, d: ArrayLike<number>): M64 {
  const c = a.contiguous(true) as M64;
  const [m, n] = c.shape as [number, number];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c.data[i * n + j]! *= d[i]!;
  return c;
}
export function addDiag(a: M64, mu: number): M64 {
  const c = a.contiguous(true) as M64;
  const n = c.shape[0]!;
  for (let i = 0; i < n; i++) c.data[i * n + i]! += mu;
  return c;
}
export function trace(a: Tensor): number {
  const n = Math.min(a.shape[0]!, a.shape[1]!);
  let s = 0;
  for (let i = 0; i < n; i++) s += a.get(i, i);
  return s;
}
/** Frobenius inner product ⟨a, b⟩ = Σ a_ij b_ij. */
export function dotF(a: Tensor, b: Tensor): number {
  const x = a.contiguous().data,
    y = b.contiguous().data;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  return s;
}
/** Symmetrises in place: (a + aᵀ)/2 on a contiguous copy. */
export function symmetrize(a: M64): M64 {
  const c = a.contiguous(true) as M64;
  const n = c.shape[0]!;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (c.data[i * n + j]! + c.data[j * n + i]!);
      c.data[i * n + j] = v;
      c.data[j * n + i] = v;
    }
  return c;
}
export function checkSquare(fn: string, arg: string, g: Tensor, n: number): void {
  if (g.ndim !== 2 || g.shape[0] !== g.shape[1]) throw new ShapeError(fn, `argument '${arg}' must be square, got shape [${g.shape.join(', ')}]`);
  if (g.shape[0] !== n)
    throw new ShapeError(fn, `argument '${arg}' must be [${n}, ${n}] to match the weight's ${n} input features, got [${g.shape.join(', ')}]`);
  if (g.dtype !== 'f32' && g.dtype !== 'f64') throw new ArgumentError(fn, `${arg}.dtype`, g.dtype, "must be 'f32' or 'f64'");
}
export function checkFinite(fn: string, arg: string, t: Tensor): void {
  const d = t.contiguous().data;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) throw new NonFiniteError(fn, arg, i, d[i]!);
}

/**
 * Solves X·M = B for X (M symmetric positive definite, k × k; B is r × k) by Cholesky with
 * forward/back substitution in f64. Returns null when M is not numerically PD (caller falls back).
 */
export function solveSpdRight(b: M64, mMat: M64): M64 | null {
  const k = mMat.shape[0]!;
  const M = mMat.contiguous().data;
  const L = new Float64Array(k * k);
  let maxDiag = 0;
  for (let i = 0; i < k; i++) maxDiag = Math.max(maxDiag, M[i * k + i]!);
  const tiny = maxDiag * 1e-14;
  for (let j = 0; j < k; j++) {
    let d = M[j * k + j]!;
    for (let p = 0; p < j; p++) d -= L[j * k + p]! * L[j * k + p]!;
    if (!(d > tiny)) return null;
    const ljj = Math.sqrt(d);
    L[j * k + j] = ljj;
    for (let i = j + 1; i < k; i++) {
      let s = M[i * k + j]!;
      for (let p = 0; p < j; p++) s -= L[i * k + p]! * L[j * k + p]!;
      L[i * k + j] = s / ljj;
    }
  }
  // X M = B  <=>  M Xᵀ = Bᵀ ; solve per row of B: L y = b_r, Lᵀ x = y
  const B = b.contiguous();
  const r = B.shape[0]!;
  const out = new Float64Array(r * k);
  const y = new Float64Array(k);
  for (let row = 0; row < r; row++) {
    const off = row * k;
    for (let i = 0; i < k; i++) {
      let s = B.data[off + i]!;
      for (let p = 0; p < i; p++) s -= L[i * k + p]! * y[p]!;
      y[i] = s / L[i * k + i]!;
    }
    for (let i = k - 1; i >= 0; i--) {
      let s = y[i]!;
      for (let p = i + 1; p < k; p++) s -= L[p * k + i]! * out[off + p]!;
      out[off + i] = s / L[i * k + i]!;
    }
  }
  return new Tensor('f64', out, [r, k]);
}
