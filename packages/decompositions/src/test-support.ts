/**
 * Test-only support (not exported from the package): an independent f64 oracle (plain loops, no
 * code under test) and generators of hard matrices with prescribed singular values.
 */
import { Rng, Tensor, EPS, tolerance, type FloatDType } from '@llmpress/tensor';

export type Kind = 'random' | 'rankDeficient' | 'illConditioned' | 'graded' | 'clustered';
export const KINDS: Kind[] = ['random', 'rankDeficient', 'illConditioned', 'graded', 'clustered'];

/** Row-major f64 copy of any 2-D tensor view. */
export function f64(t: Tensor): Float64Array {
  return Float64Array.from(t.contiguous().data as ArrayLike<number>);
}

/** C = op(A) op(B) in f64. */
export function mm(a: Float64Array, ar: number, ac: number, b: Float64Array, br: number, bc: number, ta = false, tb = false): Float64Array {
  const m = ta ? ac : ar,
    k = ta ? ar : ac,
    n = tb ? br : bc;
  if ((tb ? bc : br) !== k) throw new Error(`mm: inner dims ${k} vs ${tb ? bc : br}`);
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = ta ? a[p * ac + i]! : a[i * ac + p]!;
      if (av === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += av * (tb ? b[j * bc + p]! : b[p * bc + j]!);
    }
  return c;
}
export function fro(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}
export function diffFro(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return Math.sqrt(s);
}
/** ‖QᵀQ − I‖_F for Q (r × c) row-major. */
export function orthErr(q: Float64Array, r: number, c: number): number {
  const g = mm(q, r, c, q, r, c, true, false);
  for (let i = 0; i < c; i++) g[i * c + i] -= 1;
  return fro(g);
}

/** Random orthogonal n × n (Gaussian + twice-applied modified Gram–Schmidt, in f64). */
export function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let pass = 0; pass < 2; pass++)
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += q[i * n + j]! * q[i * n + p]!;
        for (let i = 0; i < n; i++) q[i * n + j] -= d * q[i * n + p]!;
      }
      let s = 0;
      for (let i = 0; i < n; i++) s += q[i * n + j]! ** 2;
      s = Math.sqrt(s);
      for (let i = 0; i < n; i++) q[i * n + j] /= s;
    }
  return q;
}

/** Condition number used for ill-conditioned cases (issue 4: 1e6 f32, 1e12 f64). */
export const COND: Record<FloatDType, number> = { f32: 1e6, f64: 1e12 };

/** Prescribed singular values (descending) for a kind. */
export function spectrum(kind: Kind, k: number, dtype: FloatDType, rng: Rng): number[] {
  switch (kind) {
    case 'random':
      return Array.from({ length: k }, () => 0.1 + rng.uniform()).sort((a, b) => b - a);
    case 'rankDeficient': {
      const r = Math.max(0, Math.floor(k / 2));
      return Array.from({ length: k }, (_, i) => (i < r ? 1 + rng.uniform() : 0)).sort((a, b) => b - a);
    }
    case 'illConditioned':
      return Array.from({ length: k }, (_, i) => (k === 1 ? 1 : COND[dtype] ** (-i / (k - 1))));
    case 'graded':
      return Array.from({ length: k }, (_, i) => 2 ** -i);
    case 'clustered':
      return Array.from({ length: k }, (_, i) => (i < k / 3 ? 3 : i < (2 * k) / 3 ? 1 + 1e-9 * i : 1)).sort((a, b) => b - a);
  }
}

/** A = U diag(σ) Vᵀ (m × n) with random orthogonal U, V; `graded` additionally scales rows 2^{-i}. */
export function makeMatrix(kind: Kind, m: number, n: number, dtype: FloatDType, seed: number): { a: Tensor; sigma: number[] } {
  const rng = new Rng(seed);
  const k = Math.min(m, n);
  const sigma = spectrum(kind, k, dtype, rng);
  const U = randomOrthogonal(m, rng),
    V = randomOrthogonal(n, rng);
  const a = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const f = U[i * m + p]! * sigma[p]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) a[i * n + j] += f * V[j * n + p]!;
    }
  if (kind === 'graded') {
    // rows graded over many orders of magnitude (singular values then are not `sigma`)
    for (let i = 0; i < m; i++) {
      const g = 10 ** (-(6 * i) / Math.max(1, m - 1));
      for (let j = 0; j < n; j++) a[i * n + j] *= g;
    }
    return { a: toTensor(a, [m, n], dtype), sigma: [] };
  }
  return { a: toTensor(a, [m, n], dtype), sigma };
}

export function toTensor(a: ArrayLike<number>, shape: number[], dtype: FloatDType): Tensor {
  const data = dtype === 'f32' ? Float32Array.from(a) : Float64Array.from(a);
  return new Tensor(dtype, data as any, shape);
}

/** Reconstruction tolerance c·eps·√max(m,n) relative to ‖A‖ (Frobenius). */
export function recTol(dtype: FloatDType, m: number, n: number, c = 20): number {
  return tolerance(dtype, [m, n], c);
}
/** Orthogonality tolerance for ‖QᵀQ − I‖_F: c·eps·n (LAPACK test ratio style). */
export function orthTol(dtype: FloatDType, n: number, c = 20): number {
  return tolerance(dtype, n, c) * Math.sqrt(Math.max(1, n));
}
export { EPS };
