/**
 * `LowRankLinear`: a linear layer stored as two thin factors, y = W_u (W_v x).
 * W_u is [out, k], W_v is [k, in]; parameters k·(out + in), bytes 4·k·(out + in) (f32).
 */
import {
  ArgumentError,
  ShapeError,
  type Tensor,
  matmul,
  assertMatrix,
  type LinearLayer,
  type LinearForwardOptions,
  type SerializedLayer,
} from '@llmpress/tensor';

export type LowRankMethod = 'svd-llm' | 'svd' | 'asvd' | (string & {});

export interface LowRankOptions {
  /** Which method produced the factors (saved in the metadata; informational). */
  method?: LowRankMethod;
}

export class LowRankLinear implements LinearLayer {
  readonly kind = 'low-rank';
  /** W_u, [outFeatures, rank], f32. */
  readonly wu: Tensor<'f32'>;
  /** W_v, [rank, inFeatures], f32. */
  readonly wv: Tensor<'f32'>;
  readonly method: string;

  constructor(wu: Tensor<'f32'>, wv: Tensor<'f32'>, options: LowRankOptions = {}) {
    const fn = 'LowRankLinear';
    assertMatrix(fn, 'wu', wu);
    assertMatrix(fn, 'wv', wv);
    if (wu.dtype !== 'f32') throw new ArgumentError(fn, 'wu.dtype', wu.dtype, "must be 'f32'");
    if (wv.dtype !== 'f32') throw new ArgumentError(fn, 'wv.dtype', wv.dtype, "must be 'f32'");
    if (wu.shape[1] !== wv.shape[0]) throw new ShapeError(fn, `rank mismatch: wu is [${wu.shape.join(', ')}], wv is [${wv.shape.join(', ')}]`);
    if (wu.shape[1]! < 1) throw new ArgumentError(fn, 'wu', wu, 'must have rank >= 1');
    this.wu = wu.contiguous();
    this.wv = wv.contiguous();
    this.method = options.method ?? 'svd-llm';
  }

  get rank(): number {
    return this.wu.shape[1]!;
  }
  get inFeatures(): number {
    return this.wv.shape[1]!;
  }
  get outFeatures(): number {
    return this.wu.shape[0]!;
  }

  /** y = (x W_vᵀ) W_uᵀ: two thin GEMMs, T·k·(in + out) multiply-adds. */
  forward(x: Tensor<'f32'>, options: LinearForwardOptions = {}): Tensor<'f32'> {
    if (x.ndim !== 2 || x.shape[1] !== this.inFeatures)
      throw new ShapeError('LowRankLinear.forward', `x must be [T, ${this.inFeatures}], got [${x.shape.join(', ')}]`);
    if (x.dtype !== 'f32') throw new ArgumentError('LowRankLinear.forward', 'x.dtype', x.dtype, "must be 'f32'");
    const z = matmul(x, this.wv.T, options);
    return matmul(z, this.wu.T, options) as Tensor<'f32'>;
  }

  /** f32 storage of both factors; nothing else is stored. */
  bytes(): number {
    return (this.wu.size + this.wv.size) * 4;
  }
  params(): number {
    return this.wu.size + this.wv.size;
  }
  toDense(): Tensor<'f32'> {
    return matmul(this.wu, this.wv) as Tensor<'f32'>;
  }

  serialize(): SerializedLayer {
    return {
      kind: 'low-rank',
      meta: { rank: this.rank, inFeatures: this.inFeatures, outFeatures: this.outFeatures, method: this.method },
      tensors: { wu: this.wu, wv: this.wv },
    };
  }

  static deserialize(s: SerializedLayer): LowRankLinear {
    const fn = 'LowRankLinear.deserialize';
    if (!s || s.kind !== 'low-rank') throw new ArgumentError(fn, 's.kind', s?.kind, "must be 'low-rank'");
    const { wu, wv } = s.tensors ?? {};
    if (!wu || wu.dtype !== 'f32' || wu.ndim !== 2) throw new ArgumentError(fn, 'tensors.wu', wu, 'must be an f32 matrix');
    if (!wv || wv.dtype !== 'f32' || wv.ndim !== 2) throw new ArgumentError(fn, 'tensors.wv', wv, 'must be an f32 matrix');
    const meta = s.meta ?? {};
    if (meta.rank !== undefined && Number(meta.rank) !== wu.shape[1])
      throw new ShapeError(fn, `meta.rank ${meta.rank} does not match wu [${wu.shape.join(', ')}]`);
    return new LowRankLinear(wu as Tensor<'f32'>, wv as Tensor<'f32'>, { method: typeof meta.method === 'string' ? meta.method : undefined });
  }
}
