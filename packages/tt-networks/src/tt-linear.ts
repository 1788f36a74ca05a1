/**
 * `TTLinear`: a linear layer stored as a TT-matrix (f32 cores). The forward pass contracts the
 * input with one core at a time through `routine(backend, 'gemm')`; the dense weight is never
 * formed.
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
import { ttMatrixToDense, ttMatrixParams, type TTMatrix } from './tt.js';

function prod(a: readonly number[]): number {
  return a.reduce((x, y) => x * y, 1);
}

function parseDims(fn: string, key: string, v: unknown): number[] {
  if (typeof v !== 'string' || !/^\d+(,\d+)*$/.test(v)) throw new ArgumentError(fn, `meta.${key}`, v, 'must be a comma-separated list of positive integers');
  return v.split(',').map(Number);
}

export class TTLinear implements LinearLayer {
  readonly kind: string = 'tt';
  readonly rowDims: readonly number[];
  readonly colDims: readonly number[];
  readonly ranks: readonly number[];
  /** Core k: f32, shape [r_k, m_k, n_k, r_{k+1}] (row-major). */
  readonly cores: readonly Float32Array[];
  /** Core k rearranged for the forward GEMM: [(m_k, r_{k+1}), (r_k, n_k)]. */
  private readonly fwd: Float32Array[];

  constructor(rowDims: readonly number[], colDims: readonly number[], ranks: readonly number[], cores: readonly (Float32Array | Float64Array)[]) {
    const fn = 'TTLinear';
    const d = rowDims.length;
    if (d < 1 || colDims.length !== d) throw new ArgumentError(fn, 'colDims', colDims, `must have as many factors as rowDims [${rowDims.join(', ')}]`);
    if (ranks.length !== d + 1 || ranks[0] !== 1 || ranks[d] !== 1 || ranks.some((r) => !Number.isInteger(r) || r < 1)) {
      throw new ArgumentError(fn, 'ranks', ranks, `must have d + 1 = ${d + 1} positive integers with ranks[0] = ranks[d] = 1`);
    }
    if (cores.length !== d) throw new ArgumentError(fn, 'cores', cores, `must have d = ${d} cores`);
    this.rowDims = rowDims.slice();
    this.colDims = colDims.slice();
    this.ranks = ranks.slice();
    const cs: Float32Array[] = [];
    for (let k = 0; k < d; k++) {
      const want = ranks[k]! * rowDims[k]! * colDims[k]! * ranks[k + 1]!;
      const c = cores[k]!;
      if (c.length !== want)
        throw new ShapeError(fn, `cores[${k}] has ${c.length} values, expected r·m·n·r' = ${ranks[k]}·${rowDims[k]}·${colDims[k]}·${ranks[k + 1]} = ${want}`);
      const f = c instanceof Float32Array ? c : Float32Array.from(c);
      for (let i = 0; i < f.length; i++)
        if (!Number.isFinite(f[i]!)) throw new ArgumentError(fn, `cores[${k}]`, f[i], 'must hold finite values (f32 overflow?)');
      cs.push(f);
    }
    this.cores = cs;
    this.fwd = cs.map((c, k) => {
      const r0 = ranks[k]!,
        mk = rowDims[k]!,
        nk = colDims[k]!,
        r1 = ranks[k + 1]!;
      const a = new Float32Array(c.length);
      // a[(i, b), (a0, j)] = c[a0, i, j, b]
      for (let a0 = 0; a0 < r0; a0++)
        for (let i = 0; i < mk; i++)
          for (let j = 0; j < nk; j++)
            for (let b = 0; b < r1; b++) {
              a[(i * r1 + b) * (r0 * nk) + a0 * nk + j] = c[((a0 * mk + i) * nk + j) * r1 + b]!;
            }
      return a;
    });
  }

  /** From a TT-matrix (e.g. `ttMatrixFromDense`), rounding cores to f32. */
  static fromTT(tt: TTMatrix): TTLinear {
    return new TTLinear(tt.rowDims, tt.colDims, tt.ranks, tt.cores);
  }

  get inFeatures(): number {
    return prod(this.colDims);
  }
  get outFeatures(): number {
    return prod(this.rowDims);
  }
  params(): number {
    return ttMatrixParams(this.rowDims, this.colDims, this.ranks);
  }
  /** f32 cores: 4 bytes per value; shapes/ranks are O(d) metadata and not counted. */
  bytes(): number {
    return 4 * this.params();
  }

  forward(x: Tensor<'f32'>, options: LinearForwardOptions = {}): Tensor<'f32'> {
    const fn = 'TTLinear.forward';
    if (x.ndim !== 2 || x.shape[1] !== this.inFeatures) throw new ShapeError(fn, `x must be [T, ${this.inFeatures}], got [${x.shape.join(', ')}]`);
    if (x.dtype !== 'f32') throw new ArgumentError(fn, 'x.dtype', x.dtype, "must be 'f32'");
    const T = x.shape[0]!;
    const out = new Float32Array(T * this.outFeatures);
    this.apply(x.contiguous().data as Float32Array, T, out, resolveBackend(fn, options.backend));
    return new Tensor('f32', out, [T, this.outFeatures]);
  }

  /** y (T × m) = x (T × n) · Wᵀ on raw row-major f32 arrays, overwriting y. */
  apply(x: Float32Array, T: number, y: Float32Array, backend = resolveBackend('TTLinear.apply')): void {
    const gemm = routine(backend, 'gemm');
    const d = this.rowDims.length;
    let z = x;
    let P = T; // T · m_1 … m_{k-1}
    let rest = this.inFeatures; // n_k … n_d before step k
    for (let k = 0; k < d; k++) {
      const r0 = this.ranks[k]!,
        mk = this.rowDims[k]!,
        nk = this.colDims[k]!,
        r1 = this.ranks[k + 1]!;
      rest /= nk;
      const K = r0 * nk,
        M = mk * r1,
        R = rest;
      const a = this.fwd[k]!;
      const last = k === d - 1;
      const o = last ? y : new Float32Array(P * M * R);
      // z is [P, K, R]; want o [P, M, R] with o_p = A (M × K) · z_p (K × R)
      if (R === 1) {
        // one GEMM: o (P × M) = z (P × K) · Aᵀ
        gemm({
          transA: false,
          transB: true,
          m: P,
          n: M,
          k: K,
          alpha: 1,
          a: z,
          aOffset: 0,
          lda: K,
          b: a,
          bOffset: 0,
          ldb: K,
          beta: 0,
          c: o,
          cOffset: 0,
          ldc: M,
        });
      } else if (P <= 8 || R >= 64) {
        for (let p = 0; p < P; p++) {
          gemm({
            transA: false,
            transB: false,
            m: M,
            n: R,
            k: K,
            alpha: 1,
            a,
            aOffset: 0,
            lda: K,
            b: z,
            bOffset: p * K * R,
            ldb: R,
            beta: 0,
            c: o,
            cOffset: p * M * R,
            ldc: R,
          });
        }
      } else {
        // many small blocks: permute z to [K, P, R], one GEMM to [M, P, R], permute back to [P, M, R]
        const zt = new Float32Array(K * P * R);
        for (let p = 0; p < P; p++)
          for (let q = 0; q < K; q++) {
            const src = (p * K + q) * R,
              dst = (q * P + p) * R;
            for (let s = 0; s < R; s++) zt[dst + s] = z[src + s]!;
          }
        const ot = new Float32Array(M * P * R);
        gemm({
          transA: false,
          transB: false,
          m: M,
          n: P * R,
          k: K,
          alpha: 1,
          a,
          aOffset: 0,
          lda: K,
          b: zt,
          bOffset: 0,
          ldb: P * R,
          beta: 0,
          c: ot,
          cOffset: 0,
          ldc: P * R,
        });
        for (let q = 0; q < M; q++)
          for (let p = 0; p < P; p++) {
            const src = (q * P + p) * R,
              dst = (p * M + q) * R;
            for (let s = 0; s < R; s++) o[dst + s] = ot[src + s]!;
          }
      }
      z = o;
      P *= mk;
    }
  }

  toDense(): Tensor<'f32'> {
    const w = ttMatrixToDense({
      rowDims: this.rowDims.slice(),
      colDims: this.colDims.slice(),
      ranks: this.ranks.slice(),
      dims: this.rowDims.map((m, k) => m * this.colDims[k]!),
      cores: this.cores.map((c) => Float64Array.from(c)),
    });
    return new Tensor('f32', Float32Array.from(w), [this.outFeatures, this.inFeatures]);
  }

  serialize(): SerializedLayer {
    const tensors: Record<string, Tensor> = {};
    this.cores.forEach((c, k) => {
      tensors[`core${k}`] = new Tensor('f32', c.slice(), [this.ranks[k]!, this.rowDims[k]!, this.colDims[k]!, this.ranks[k + 1]!]);
    });
    return { kind: 'tt', meta: { rowDims: this.rowDims.join(','), colDims: this.colDims.join(','), ranks: this.ranks.join(',') }, tensors };
  }

  static deserialize(s: SerializedLayer): TTLinear {
    const fn = 'TTLinear.deserialize';
    if (s?.kind !== 'tt') throw new ArgumentError(fn, 's.kind', s?.kind, "must be 'tt'");
    const rowDims = parseDims(fn, 'rowDims', s.meta.rowDims),
      colDims = parseDims(fn, 'colDims', s.meta.colDims),
      ranks = parseDims(fn, 'ranks', s.meta.ranks);
    const cores: Float32Array[] = [];
    for (let k = 0; k < rowDims.length; k++) {
      const t = s.tensors[`core${k}`];
      if (!t || t.dtype !== 'f32') throw new ArgumentError(fn, `tensors.core${k}`, t, 'must be an f32 tensor');
      cores.push(t.contiguous().data as Float32Array);
    }
    return new TTLinear(rowDims, colDims, ranks, cores);
  }
}
