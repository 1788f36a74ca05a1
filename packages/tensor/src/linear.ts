/**
 * The pluggable linear-layer contract. Every linear in a model is a `LinearLayer`, so a compression
 * method can swap in its own form (low-rank factors, TT cores + sparse, packed int4 + scales, ...)
 * without touching the forward pass. It lives here, in the bottom package, so method packages and
 * the model package share it without depending on each other.
 */
import { ArgumentError, ShapeError } from './errors.js';
import type { Backend } from './backend.js';
import type { Tensor } from './tensor.js';
import { matmul, assertMatrix } from './ops.js';

export interface LinearForwardOptions {
  backend?: Backend;
}

/** A saved layer: its kind, small metadata, and named tensors (packed bits are `u8` tensors). */
export interface SerializedLayer {
  kind: string;
  meta: Record<string, string | number | boolean>;
  tensors: Record<string, Tensor>;
}

export interface LinearLayer {
  /** 'dense', 'low-rank', 'tt', 'tt-sparse', 'quantized', ... */
  readonly kind: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** y = W x for every row of x: x is [T, inFeatures] f32, result [T, outFeatures] f32. */
  forward(x: Tensor<'f32'>, options?: LinearForwardOptions): Tensor<'f32'>;
  /** True stored bytes: every value, scale, index and outlier counted. */
  bytes(): number;
  /** Stored parameters (values, not index/scale overhead) — what "parameter ratio" counts. */
  params(): number;
  /** The effective dense weight [outFeatures, inFeatures] (materialised; for analysis and tests). */
  toDense(): Tensor<'f32'>;
  /** Named tensors + metadata that rebuild the layer (see each package's `deserialize`). */
  serialize(): SerializedLayer;
}

/** The uncompressed layer: an f32 weight [out, in]. */
export class DenseLinear implements LinearLayer {
  readonly kind = 'dense';
  readonly weight: Tensor<'f32'>;
  constructor(weight: Tensor<'f32'>) {
    assertMatrix('DenseLinear', 'weight', weight);
    if (weight.dtype !== 'f32') throw new ArgumentError('DenseLinear', 'weight.dtype', weight.dtype, "must be 'f32'");
    this.weight = weight;
  }
  get inFeatures(): number {
    return this.weight.shape[1]!;
  }
  get outFeatures(): number {
    return this.weight.shape[0]!;
  }
  forward(x: Tensor<'f32'>, options: LinearForwardOptions = {}): Tensor<'f32'> {
    if (x.ndim !== 2 || x.shape[1] !== this.inFeatures)
      throw new ShapeError('DenseLinear.forward', `x must be [T, ${this.inFeatures}], got [${x.shape.join(', ')}]`);
    return matmul(x, this.weight.T, options) as Tensor<'f32'>;
  }
  bytes(): number {
    return this.weight.size * 4;
  }
  params(): number {
    return this.weight.size;
  }
  toDense(): Tensor<'f32'> {
    return this.weight;
  }
  serialize(): SerializedLayer {
    return { kind: 'dense', meta: {}, tensors: { weight: this.weight.contiguous() } };
  }
  static deserialize(s: SerializedLayer): DenseLinear {
    const w = s.tensors.weight;
    if (!w || w.dtype !== 'f32') throw new ArgumentError('DenseLinear.deserialize', 'tensors.weight', w, 'must be an f32 matrix');
    return new DenseLinear(w as Tensor<'f32'>);
  }
}
