/**
 * The (approximate) null space of a layer's calibration inputs, from their Gram G = Σ x xᵀ.
 * Eigendecomposition G = U Λ Uᵀ, λ₁ ≥ … ≥ λₙ; the row space keeps the first r eigenvectors, the
 * null space U₀ is the rest. Three rules choose r:
 *  - 'ratio' (Q2N's prefix–suffix rule, default t = 0.1): the first r with Σ_{i>r} λᵢ / Σ_{i≤r} λᵢ ≤ t;
 *    if no r < n qualifies the whole space is treated as null (P = I; Q2N becomes a no-op);
 *  - 'energy': the smallest r with Σ_{i≤r} λᵢ ≥ energy · Σ λᵢ;
 *  - 'dimension': an explicit null-space dimension d (r = n − d).
 * The projector P = U₀ U₀ᵀ is kept thin: applying it to an m × n matrix costs 2·m·n·d, and it is
 * only materialised as n × n on request.
 */
import { ArgumentError, ShapeError, NonFiniteError, Tensor, matmul, type Backend } from '@llmpress/tensor';
import { eigh } from '@llmpress/decompositions';

export type NullSpaceRule = 'ratio' | 'energy' | 'dimension';

export interface NullSpaceOptions {
  rule?: NullSpaceRule;
  /** Prefix–suffix threshold for rule 'ratio' (default 0.1). */
  t?: number;
  /** Energy fraction the row space must capture for rule 'energy', in (0, 1]. */
  energy?: number;
  /** Null-space dimension for rule 'dimension', in [0, n]. */
  dimension?: number;
  backend?: Backend;
}

export interface NullSpaceDiagnostics {
  rule: NullSpaceRule;
  n: number;
  /** dim of the null space (n − r). */
  dimension: number;
  /** Eigenvalues of G, descending, negatives (round-off) clamped to 0. */
  eigenvalues: Float64Array;
  /** Σ_{null} λ / Σ λ: the fraction of calibration energy that lies in the null space. */
  nullEnergy: number;
  /** Σ_{i>r} λ / Σ_{i≤r} λ at the chosen r (the quantity the ratio rule thresholds). */
  suffixPrefixRatio: number;
  /** True when the ratio rule found no r < n and fell back to P = I. */
  identity: boolean;
}

/** P = U₀ U₀ᵀ as an operator on the rows of a matrix: X ↦ X P. */
export class NullProjector {
  /** U₀, [n, d], f64, orthonormal columns (null when `identity`). */
  readonly basis: Tensor<'f64'> | null;
  readonly n: number;
  readonly dimension: number;
  readonly identity: boolean;
  constructor(n: number, basis: Tensor<'f64'> | null, identity = false) {
    this.n = n;
    this.basis = basis;
    this.identity = identity;
    this.dimension = identity ? n : basis ? basis.shape[1]! : 0;
    if (basis && (basis.ndim !== 2 || basis.shape[0] !== n)) throw new ShapeError('NullProjector', `basis must be [${n}, d], got [${basis.shape.join(', ')}]`);
  }
  /** X P for X [r, n] (rows projected onto the null space). */
  apply(x: Tensor, backend?: Backend): Tensor<'f64'> {
    if (x.ndim !== 2 || x.shape[1] !== this.n) throw new ShapeError('NullProjector.apply', `x must be [r, ${this.n}], got [${x.shape.join(', ')}]`);
    const X = x.dtype === 'f64' ? x : x.astype('f64');
    if (this.identity) return X.contiguous(true) as Tensor<'f64'>;
    if (!this.basis || this.dimension === 0) return new Tensor('f64', new Float64Array(X.shape[0]! * this.n), [X.shape[0]!, this.n]);
    const c = matmul(X, this.basis, { backend });
    return matmul(c, this.basis.T, { backend }) as Tensor<'f64'>;
  }
  /** X (I − P). */
  applyComplement(x: Tensor, backend?: Backend): Tensor<'f64'> {
    const X = (x.dtype === 'f64' ? x : x.astype('f64')).contiguous(true) as Tensor<'f64'>;
    const p = this.apply(X, backend);
    for (let i = 0; i < X.data.length; i++) X.data[i]! -= p.data[i]!;
    return X;
  }
  /** The dense n × n projector (for tests and analysis). */
  materialize(): Tensor<'f64'> {
    const n = this.n;
    const eye = new Float64Array(n * n);
    for (let i = 0; i < n; i++) eye[i * n + i] = 1;
    return this.apply(new Tensor('f64', eye, [n, n]));
  }
}

export interface NullSpace {
  projector: NullProjector;
  basis: Tensor<'f64'> | null;
  diagnostics: NullSpaceDiagnostics;
}

/** Null space of the calibration inputs whose Gram is `gram` ([n, n], symmetric PSD). */
export function activationNullSpace(gram: Tensor, options: NullSpaceOptions = {}): NullSpace {
  const fn = 'activationNullSpace';
  if (!gram || gram.ndim !== 2 || gram.shape[0] !== gram.shape[1])
    throw new ShapeError(fn, `argument 'gram' must be square, got shape [${gram?.shape?.join(', ')}]`);
  if (gram.dtype !== 'f32' && gram.dtype !== 'f64') throw new ArgumentError(fn, 'gram.dtype', gram.dtype, "must be 'f32' or 'f64'");
  const n = gram.shape[0]!;
  if (n < 1) throw new ShapeError(fn, `argument 'gram' must be non-empty, got shape [${gram.shape.join(', ')}]`);
  const g = gram.dtype === 'f64' ? gram.contiguous() : gram.astype('f64');
  for (let i = 0; i < g.data.length; i++) if (!Number.isFinite(g.data[i]!)) throw new NonFiniteError(fn, 'gram', i, g.data[i]!);
  const rule = options.rule ?? (options.dimension !== undefined ? 'dimension' : options.energy !== undefined ? 'energy' : 'ratio');
  if (rule !== 'ratio' && rule !== 'energy' && rule !== 'dimension')
    throw new ArgumentError(fn, 'options.rule', rule, "must be 'ratio', 'energy' or 'dimension'");
  const t = options.t ?? 0.1;
  if (rule === 'ratio' && (typeof t !== 'number' || !(t >= 0) || !Number.isFinite(t)))
    throw new ArgumentError(fn, 'options.t', t, 'must be a finite number >= 0');
  if (rule === 'energy' && (typeof options.energy !== 'number' || !(options.energy > 0 && options.energy <= 1)))
    throw new ArgumentError(fn, 'options.energy', options.energy, 'must be a number in (0, 1]');
  if (rule === 'dimension' && (!Number.isInteger(options.dimension) || options.dimension! < 0 || options.dimension! > n))
    throw new ArgumentError(fn, 'options.dimension', options.dimension, `must be an integer in [0, ${n}]`);
  // symmetrise before the eigensolver (Grams accumulated in f32 can be off by rounding)
  const sym = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sym[i * n + j] = 0.5 * (g.data[i * n + j]! + g.data[j * n + i]!);
  const { values, vectors } = eigh(new Tensor('f64', sym, [n, n]), { order: 'descending', backend: options.backend });
  const lam = Float64Array.from(values.contiguous().data as ArrayLike<number>, (v) => Math.max(0, v));
  const total = lam.reduce((a, b) => a + b, 0);
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! + lam[i]!;
  let r = n,
    identity = false;
  if (!(total > 0)) {
    // no calibration signal at all: everything is null
    r = 0;
  } else if (rule === 'ratio') {
    r = -1;
    for (let k = 1; k < n; k++) {
      if (prefix[k]! > 0 && (total - prefix[k]!) / prefix[k]! <= t) {
        r = k;
        break;
      }
    }
    if (r < 0) {
      r = 0;
      identity = true;
    }
  } else if (rule === 'energy') {
    r = n;
    for (let k = 1; k <= n; k++)
      if (prefix[k]! >= options.energy! * total * (1 - 1e-12)) {
        r = k;
        break;
      }
  } else {
    r = n - options.dimension!;
  }
  const d = n - r;
  let basis: Tensor<'f64'> | null = null;
  if (!identity && d > 0) {
    const V = (vectors.dtype === 'f64' ? vectors : vectors.astype('f64')) as Tensor<'f64'>;
    basis = V.slice(null, [r, n]).contiguous(true) as Tensor<'f64'>;
  }
  const nullE = total > 0 ? (total - prefix[r]!) / total : 1;
  const diagnostics: NullSpaceDiagnostics = {
    rule,
    n,
    dimension: identity ? n : d,
    eigenvalues: lam,
    nullEnergy: identity ? 1 : nullE,
    suffixPrefixRatio: prefix[r]! > 0 ? (total - prefix[r]!) / prefix[r]! : Infinity,
    identity,
  };
  return { projector: new NullProjector(n, basis, identity), basis, diagnostics };
}
