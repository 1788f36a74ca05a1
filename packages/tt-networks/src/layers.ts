/**
 * Layers that add a sparse correction to a structured part:
 * - `TTSparseLinear`: W ≈ W_TT + E (Saten).
 * - `LowRankSparseLinear`: W ≈ A B + E (the "SVD + sparse" baseline; E may be absent, which is
 *   plain truncated / whitened SVD).
 */
import {
  ArgumentError,
  ShapeError,
  Tensor,
  resolveBackend,
  routine,
  type LinearLayer,
  type LinearForwardOptions,
  type SerializedLayer,
} from '@llmpress/tensor';
import { TTLinear } from './tt-linear.js';
import { deserializeSparse, type SparseMatrix } from './sparse.js';

function checkX(fn: string, x: Tensor<'f32'>, n: number): Float32Array {
  if (x.ndim !== 2 || x.shape[1] !== n) throw new ShapeError(fn, `x must be [T, ${n}], got [${x.shape.join(', ')}]`);
  if (x.dtype !== 'f32') throw new ArgumentError(fn, 'x.dtype', x.dtype, "must be 'f32'");
  return x.contiguous().data as Float32Array;
}

function checkSparse(fn: string, sparse: SparseMatrix | null, m: number, n: number): void {
  if (sparse && (sparse.rows !== m || sparse.cols !== n)) throw new ShapeError(fn, `sparse part is ${sparse.rows} × ${sparse.cols}, layer is ${m} × ${n}`);
}

export class TTSparseLinear implements LinearLayer {
  readonly kind = 'tt-sparse';
  constructor(
    readonly tt: TTLinear,
    readonly sparse: SparseMatrix | null,
  ) {
    checkSparse('TTSparseLinear', sparse, tt.outFeatures, tt.inFeatures);
  }
  get inFeatures(): number {
    return this.tt.inFeatures;
  }
  get outFeatures(): number {
    return this.tt.outFeatures;
  }
  bytes(): number {
    return this.tt.bytes() + (this.sparse?.bytes() ?? 0);
  }
  params(): number {
    return this.tt.params() + (this.sparse?.nnz ?? 0);
  }
  forward(x: Tensor<'f32'>, options: LinearForwardOptions = {}): Tensor<'f32'> {
    const fn = 'TTSparseLinear.forward';
    const xd = checkX(fn, x, this.inFeatures);
    const T = x.shape[0]!;
    const y = new Float32Array(T * this.outFeatures);
    this.tt.apply(xd, T, y, resolveBackend(fn, options.backend));
    this.sparse?.addMatmulT(xd, T, y);
    return new Tensor('f32', y, [T, this.outFeatures]);
  }
  toDense(): Tensor<'f32'> {
    const w = this.tt.toDense();
    if (this.sparse) {
      const e = this.sparse.toDense();
      const d = w.data;
      for (let i = 0; i < d.length; i++) d[i] += e[i]!;
    }
    return w;
  }
  serialize(): SerializedLayer {
    const t = this.tt.serialize();
    const meta = { ...t.meta },
      tensors = { ...t.tensors };
    if (this.sparse) {
      const s = this.sparse.serialize('sp.');
      Object.assign(meta, s.meta);
      Object.assign(tensors, s.tensors);
    }
    return { kind: 'tt-sparse', meta, tensors };
  }
  static deserialize(s: SerializedLayer): TTSparseLinear {
    const fn = 'TTSparseLinear.deserialize';
    if (s?.kind !== 'tt-sparse') throw new ArgumentError(fn, 's.kind', s?.kind, "must be 'tt-sparse'");
    const tt = TTLinear.deserialize({ ...s, kind: 'tt' });
    return new TTSparseLinear(tt, deserializeSparse(s, 'sp.', fn));
  }
}

export class LowRankSparseLinear implements LinearLayer {
  readonly kind = 'low-rank-sparse';
  /**
   * @param a m × k (f32, row-major)   @param b k × n (f32, row-major)   W ≈ a·b + sparse
   */
  constructor(
    readonly outFeatures: number,
    readonly inFeatures: number,
    readonly rank: number,
    readonly a: Float32Array,
    readonly b: Float32Array,
    readonly sparse: SparseMatrix | null,
  ) {
    const fn = 'LowRankSparseLinear';
    if (!Number.isInteger(rank) || rank < 0) throw new ArgumentError(fn, 'rank', rank, 'must be a non-negative integer');
    if (a.length !== outFeatures * rank) throw new ShapeError(fn, `a has ${a.length} values, expected ${outFeatures}·${rank}`);
    if (b.length !== rank * inFeatures) throw new ShapeError(fn, `b has ${b.length} values, expected ${rank}·${inFeatures}`);
    for (const [name, arr] of [
      ['a', a],
      ['b', b],
    ] as const)
      for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i]!)) throw new ArgumentError(fn, `${name}[${i}]`, arr[i], 'must be finite');
    checkSparse(fn, sparse, outFeatures, inFeatures);
  }
  bytes(): number {
    return 4 * (this.a.length + this.b.length) + (this.sparse?.bytes() ?? 0);
  }
  params(): number {
    return this.a.length + this.b.length + (this.sparse?.nnz ?? 0);
  }
  forward(x: Tensor<'f32'>, options: LinearForwardOptions = {}): Tensor<'f32'> {
    const fn = 'LowRankSparseLinear.forward';
    const xd = checkX(fn, x, this.inFeatures);
    const T = x.shape[0]!,
      k = this.rank,
      m = this.outFeatures,
      n = this.inFeatures;
    const gemm = routine(resolveBackend(fn, options.backend), 'gemm');
    const y = new Float32Array(T * m);
    if (k > 0) {
      const h = new Float32Array(T * k);
      gemm({
        transA: false,
        transB: true,
        m: T,
        n: k,
        k: n,
        alpha: 1,
        a: xd,
        aOffset: 0,
        lda: n,
        b: this.b,
        bOffset: 0,
        ldb: n,
        beta: 0,
        c: h,
        cOffset: 0,
        ldc: k,
      });
      gemm({
        transA: false,
        transB: true,
        m: T,
        n: m,
        k,
        alpha: 1,
        a: h,
        aOffset: 0,
        lda: k,
        b: this.a,
        bOffset: 0,
        ldb: k,
        beta: 0,
        c: y,
        cOffset: 0,
        ldc: m,
      });
    }
    this.sparse?.addMatmulT(xd, T, y);
    return new Tensor('f32', y, [T, m]);
  }
  toDense(): Tensor<'f32'> {
    const m = this.outFeatures,
      n = this.inFeatures,
      k = this.rank;
    const w = new Float32Array(m * n);
    for (let i = 0; i < m; i++)
      for (let p = 0; p < k; p++) {
        const av = this.a[i * k + p]!;
        for (let j = 0; j < n; j++) w[i * n + j] += av * this.b[p * n + j]!;
      }
    if (this.sparse) {
      const e = this.sparse.toDense();
      for (let i = 0; i < w.length; i++) w[i] += e[i]!;
    }
    return new Tensor('f32', w, [m, n]);
  }
  serialize(): SerializedLayer {
    const meta: SerializedLayer['meta'] = { out: this.outFeatures, in: this.inFeatures, rank: this.rank };
    const tensors: Record<string, Tensor> = {
      a: new Tensor('f32', this.a.slice(), [this.outFeatures, this.rank]),
      b: new Tensor('f32', this.b.slice(), [this.rank, this.inFeatures]),
    };
    if (this.sparse) {
      const s = this.sparse.serialize('sp.');
      Object.assign(meta, s.meta);
      Object.assign(tensors, s.tensors);
    }
    return { kind: 'low-rank-sparse', meta, tensors };
  }
  static deserialize(s: SerializedLayer): LowRankSparseLinear {
    const fn = 'LowRankSparseLinear.deserialize';
    if (s?.kind !== 'low-rank-sparse') throw new ArgumentError(fn, 's.kind', s?.kind, "must be 'low-rank-sparse'");
    const a = s.tensors.a,
      b = s.tensors.b;
    if (!a || a.dtype !== 'f32' || !b || b.dtype !== 'f32') throw new ArgumentError(fn, 'tensors.a/b', a, 'must be f32 tensors');
    return new LowRankSparseLinear(
      Number(s.meta.out),
      Number(s.meta.in),
      Number(s.meta.rank),
      a.contiguous().data as Float32Array,
      b.contiguous().data as Float32Array,
      deserializeSparse(s, 'sp.', fn),
    );
  }
}
