/**
 * Orthogonal rotations for QuaRot/QUAD: the fast Walsh–Hadamard transform with random signs
 * (power-of-two sizes, O(n log n), orthonormal), a Haar-random dense orthogonal matrix for other
 * sizes, and block-diagonal compositions. A rotation R acts on vectors: `apply` maps each row x of
 * a [T, n] array to R x.
 */
import { ArgumentError, Rng } from '@llmpress/tensor';
import { randomOrthogonal } from './linalg.js';

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** In-place orthonormal Walsh–Hadamard transform of a[offset .. offset+n) (n a power of two). */
export function fwht(a: Float32Array | Float64Array, offset: number, n: number): void {
  for (let h = 1; h < n; h <<= 1) {
    for (let i = 0; i < n; i += h << 1) {
      for (let j = i; j < i + h; j++) {
        const x = a[offset + j]!,
          y = a[offset + j + h]!;
        a[offset + j] = x + y;
        a[offset + j + h] = x - y;
      }
    }
  }
  const s = 1 / Math.sqrt(n);
  for (let i = 0; i < n; i++) a[offset + i]! *= s;
}

export interface Rotation {
  readonly n: number;
  readonly kind: 'hadamard' | 'dense' | 'kronecker' | 'block';
  /** Each row x (length n) of `x` (rows × n, row-major) becomes R x, in place. */
  apply(x: Float32Array | Float64Array, rows: number): void;
  /** Dense R (n × n, row-major f64). */
  matrix(): Float64Array;
  /** Stored bytes (signs as 1 byte each; dense factors as f64, as `QuantActLinear.serialize` stores them). */
  bytes(): number;
}

/** R = H · diag(signs), H the normalised Walsh–Hadamard matrix. */
export class HadamardRotation implements Rotation {
  readonly kind = 'hadamard';
  readonly n: number;
  readonly signs: Int8Array;
  constructor(n: number, signs: Int8Array) {
    if (!isPowerOfTwo(n)) throw new ArgumentError('HadamardRotation', 'n', n, 'must be a power of two (use randomRotation for other sizes)');
    if (signs.length !== n) throw new ArgumentError('HadamardRotation', 'signs.length', signs.length, `must be ${n}`);
    this.n = n;
    this.signs = signs;
  }
  apply(x: Float32Array | Float64Array, rows: number): void {
    const n = this.n;
    for (let t = 0; t < rows; t++) {
      const o = t * n;
      for (let i = 0; i < n; i++) if (this.signs[i]! < 0) x[o + i] = -x[o + i]!;
      fwht(x, o, n);
    }
  }
  matrix(): Float64Array {
    return denseOf(this);
  }
  bytes(): number {
    return this.n;
  }
}

export class DenseRotation implements Rotation {
  readonly kind = 'dense';
  readonly n: number;
  readonly r: Float64Array;
  constructor(n: number, r: Float64Array) {
    if (r.length !== n * n) throw new ArgumentError('DenseRotation', 'r.length', r.length, `must be ${n * n}`);
    this.n = n;
    this.r = r;
  }
  apply(x: Float32Array | Float64Array, rows: number): void {
    const n = this.n,
      tmp = new Float64Array(n),
      R = this.r;
    for (let t = 0; t < rows; t++) {
      const o = t * n;
      for (let i = 0; i < n; i++) tmp[i] = x[o + i]!;
      for (let i = 0; i < n; i++) {
        let s = 0;
        const ri = i * n;
        for (let j = 0; j < n; j++) s += R[ri + j]! * tmp[j]!;
        x[o + i] = s;
      }
    }
  }
  matrix(): Float64Array {
    return this.r.slice();
  }
  bytes(): number {
    return 8 * this.n * this.n;
  }
}

/**
 * R = (H_p ⊗ R_m) · diag(signs) for n = p · m, p a power of two, R_m a dense m × m orthogonal
 * matrix: the cheap orthogonal mixer for widths like 172 = 4 · 43 (stores m² f32 + n sign bytes
 * instead of n² f32). Index i = a · m + b (a < p, b < m): X = reshape(D x, [p, m]) → H_p X R_mᵀ.
 */
export class KroneckerRotation implements Rotation {
  readonly kind = 'kronecker';
  readonly n: number;
  readonly p: number;
  readonly m: number;
  readonly signs: Int8Array;
  readonly rm: Float64Array;
  constructor(p: number, m: number, rm: Float64Array, signs: Int8Array) {
    if (!isPowerOfTwo(p)) throw new ArgumentError('KroneckerRotation', 'p', p, 'must be a power of two');
    if (rm.length !== m * m) throw new ArgumentError('KroneckerRotation', 'rm.length', rm.length, `must be ${m * m}`);
    if (signs.length !== p * m) throw new ArgumentError('KroneckerRotation', 'signs.length', signs.length, `must be ${p * m}`);
    this.p = p;
    this.m = m;
    this.n = p * m;
    this.rm = rm;
    this.signs = signs;
  }
  apply(x: Float32Array | Float64Array, rows: number): void {
    const { n, p, m } = this,
      R = this.rm,
      tmp = new Float64Array(m),
      col = new Float64Array(p);
    for (let t = 0; t < rows; t++) {
      const o = t * n;
      for (let i = 0; i < n; i++) if (this.signs[i]! < 0) x[o + i] = -x[o + i]!;
      for (let a = 0; a < p; a++) {
        const ra = o + a * m;
        for (let b = 0; b < m; b++) tmp[b] = x[ra + b]!;
        for (let b = 0; b < m; b++) {
          let s = 0;
          for (let k = 0; k < m; k++) s += R[b * m + k]! * tmp[k]!;
          x[ra + b] = s;
        }
      }
      if (p > 1)
        for (let b = 0; b < m; b++) {
          for (let a = 0; a < p; a++) col[a] = x[o + a * m + b]!;
          fwht(col, 0, p);
          for (let a = 0; a < p; a++) x[o + a * m + b] = col[a]!;
        }
    }
  }
  matrix(): Float64Array {
    return denseOf(this);
  }
  bytes(): number {
    return 8 * this.m * this.m + this.n;
  }
}

/** diag(R1, R2, …): each part acts on its own consecutive channels. */
export class BlockRotation implements Rotation {
  readonly kind = 'block';
  readonly n: number;
  readonly parts: readonly Rotation[];
  constructor(parts: readonly Rotation[]) {
    this.parts = parts;
    this.n = parts.reduce((a, p) => a + p.n, 0);
  }
  apply(x: Float32Array | Float64Array, rows: number): void {
    const n = this.n;
    for (let t = 0; t < rows; t++) {
      let off = 0;
      for (const p of this.parts) {
        const seg = x.subarray(t * n + off, t * n + off + p.n);
        p.apply(seg, 1);
        off += p.n;
      }
    }
  }
  matrix(): Float64Array {
    return denseOf(this);
  }
  bytes(): number {
    return this.parts.reduce((a, p) => a + p.bytes(), 0);
  }
}

function denseOf(r: Rotation): Float64Array {
  const n = r.n,
    e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) e[i * n + i] = 1; // rows of e are basis vectors e_i → R e_i (columns of R)
  r.apply(e, n);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[j * n + i] = e[i * n + j]!;
  return m;
}

/** Randomized Hadamard rotation (n a power of two). */
export function hadamardRotation(n: number, seed = 0): HadamardRotation {
  if (!isPowerOfTwo(n)) throw new ArgumentError('hadamardRotation', 'n', n, 'must be a power of two (use randomRotation for other sizes)');
  const rng = new Rng(seed),
    s = new Int8Array(n);
  for (let i = 0; i < n; i++) s[i] = rng.uniform() < 0.5 ? -1 : 1;
  return new HadamardRotation(n, s);
}

/**
 * Hadamard when n is a power of two; otherwise n = 2^k · m (m odd): `'kronecker'` (default)
 * H_{2^k} ⊗ (random orthogonal m × m) with random signs, or `'dense'` a Haar-random n × n matrix.
 */
export function randomRotation(n: number, seed = 0, options: { nonPowerOfTwo?: 'kronecker' | 'dense' } = {}): Rotation {
  if (!Number.isInteger(n) || n <= 0) throw new ArgumentError('randomRotation', 'n', n, 'must be a positive integer');
  if (isPowerOfTwo(n)) return hadamardRotation(n, seed);
  if ((options.nonPowerOfTwo ?? 'kronecker') === 'dense') return new DenseRotation(n, randomOrthogonal(n, seed));
  let p = 1;
  while ((n / p) % 2 === 0) p *= 2;
  const m = n / p,
    rng = new Rng(seed ^ 0x5bd1e995),
    s = new Int8Array(n);
  for (let i = 0; i < n; i++) s[i] = rng.uniform() < 0.5 ? -1 : 1;
  return new KroneckerRotation(p, m, randomOrthogonal(m, seed), s);
}
