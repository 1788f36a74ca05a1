/**
 * `QuantActLinear`: a linear layer whose INPUT is quantized per token as well (W4A4, W4A8), with
 * an optional online rotation of the input (QuaRot's online Hadamard on o/down inputs) and an
 * optional full-precision outlier path (QUAD): the first `outlierColumns` input channels are
 * multiplied by an f32 weight and never quantized; the rest go through `weight` (usually a
 * symmetric `QuantizedLinear`) after per-token activation quantization.
 *
 *   y = W_out · x'[:r] + W_q · deq(quant(x'[r:])),   x' = R x (R = rotation or I)
 *
 * With a symmetric `QuantizedLinear`, the quantized part runs as an integer kernel: signed codes
 * multiplied and summed in exact integer arithmetic per group, then scaled by s_x · s_w.
 */
import {
  ArgumentError,
  ShapeError,
  Tensor,
  DenseLinear,
  routine,
  type Backend,
  type LinearLayer,
  type LinearForwardOptions,
  type SerializedLayer,
} from '@llmpress/tensor';
import { QuantizedLinear } from './quantized-linear.js';
import { quantizeActivations, checkActOptions, type ActQuantOptions } from './act-quant.js';
import { unpackRow } from './pack.js';
import { DenseRotation, HadamardRotation, KroneckerRotation, type Rotation } from './rotation.js';

export interface QuantActLinearParts {
  /** The layer on the non-outlier input channels [out, in − outlierColumns]. */
  weight: LinearLayer;
  /** f32 [out, outlierColumns] row-major, or null when outlierColumns = 0. */
  outlier: Float32Array | null;
  outlierColumns: number;
  /** Activation quantization of the non-outlier input; null = keep activations in f32 (A16). */
  act: ActQuantOptions | null;
  /** Online rotation applied to the whole input first (shared objects are fine). */
  rotation: Rotation | null;
  /** Use the integer kernel when possible (default true). */
  integerKernel?: boolean;
}

export class QuantActLinear implements LinearLayer {
  readonly kind = 'quant-act';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: LinearLayer;
  readonly outlier: Float32Array | null;
  readonly outlierColumns: number;
  readonly act: ActQuantOptions | null;
  readonly rotation: Rotation | null;
  readonly integerKernel: boolean;

  constructor(p: QuantActLinearParts) {
    const fn = 'QuantActLinear';
    const r = p.outlierColumns;
    if (!Number.isInteger(r) || r < 0) throw new ArgumentError(fn, 'outlierColumns', r, 'must be a non-negative integer');
    this.outFeatures = p.weight.outFeatures;
    this.inFeatures = p.weight.inFeatures + r;
    if (r > 0 && (!(p.outlier instanceof Float32Array) || p.outlier.length !== this.outFeatures * r))
      throw new ArgumentError(fn, 'outlier', p.outlier, `must be a Float32Array of length ${this.outFeatures * r}`);
    if (p.act) checkActOptions(fn, p.act);
    if (p.rotation && p.rotation.n !== this.inFeatures) throw new ArgumentError(fn, 'rotation.n', p.rotation.n, `must equal inFeatures ${this.inFeatures}`);
    this.weight = p.weight;
    this.outlier = r > 0 ? p.outlier : null;
    this.outlierColumns = r;
    this.act = p.act;
    this.rotation = p.rotation;
    this.integerKernel = p.integerKernel ?? true;
  }

  forward(x: Tensor<'f32'>, options: LinearForwardOptions = {}): Tensor<'f32'> {
    const fn = 'QuantActLinear.forward';
    const n = this.inFeatures,
      m = this.outFeatures,
      r = this.outlierColumns,
      nr = n - r;
    if (x.ndim !== 2 || x.shape[1] !== n) throw new ShapeError(fn, `x must be [T, ${n}], got [${x.shape.join(', ')}]`);
    const T = x.shape[0]!;
    let xd = x.contiguous().data as Float32Array;
    if (this.rotation) {
      xd = xd.slice();
      this.rotation.apply(xd, T);
    }
    let y: Float32Array;
    const w = this.weight;
    const be = options.backend;
    if (this.act && this.integerKernel && w instanceof QuantizedLinear && w.symmetric) {
      const a = quantizeActivations(xd, T, nr, this.act, n, r);
      y = be && w.int4KernelReady(be) ? backendIntegerForward(w, a, T, this.act.bits, be) : integerForward(w, a, T);
    } else {
      const xr = new Float32Array(T * nr);
      if (this.act) {
        const { codes, scales } = quantizeActivations(xd, T, nr, this.act, n, r);
        for (let t = 0; t < T; t++) for (let j = 0; j < nr; j++) xr[t * nr + j] = scales[t]! * codes[t * nr + j]!;
      } else for (let t = 0; t < T; t++) xr.set(xd.subarray(t * n + r, t * n + n), t * nr);
      y = w.forward(new Tensor('f32', xr, [T, nr]), options).contiguous().data as Float32Array;
      if (y === xr) y = y.slice();
    }
    if (r > 0) {
      const W = this.outlier!;
      for (let t = 0; t < T; t++)
        for (let i = 0; i < m; i++) {
          let s = 0;
          for (let k = 0; k < r; k++) s += W[i * r + k]! * xd[t * n + k]!;
          y[t * m + i]! += s;
        }
    }
    return new Tensor('f32', y, [T, m]);
  }

  /**
   * Stored bytes: every tensor `serialize()` writes — the quantized part, the f32 outlier columns and
   * the online rotation (Hadamard signs 1 byte each, dense factors f64). A rotation shared by several
   * layers is stored once per layer in a saved file, so each layer counts its own copy.
   */
  bytes(): number {
    return this.weight.bytes() + (this.outlier ? this.outlier.length * 4 : 0) + (this.rotation ? this.rotation.bytes() : 0);
  }
  params(): number {
    return this.weight.params() + (this.outlier?.length ?? 0);
  }

  /** Effective dense weight in the layer's INPUT coordinates: [W_out, W_q] · R (activation quantization ignored). */
  toDense(): Tensor<'f32'> {
    const n = this.inFeatures,
      m = this.outFeatures,
      r = this.outlierColumns,
      nr = n - r;
    const wq = this.weight.toDense().contiguous().data;
    const cat = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let k = 0; k < r; k++) cat[i * n + k] = this.outlier![i * r + k]!;
      for (let j = 0; j < nr; j++) cat[i * n + r + j] = wq[i * nr + j]!;
    }
    const out = new Float32Array(m * n);
    if (!this.rotation) {
      out.set(cat);
      return new Tensor('f32', out, [m, n]);
    }
    const R = this.rotation.matrix();
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += cat[i * n + k]! * R[k * n + j]!;
        out[i * n + j] = s;
      }
    return new Tensor('f32', out, [m, n]);
  }

  serialize(): SerializedLayer {
    const inner = this.weight.serialize();
    const tensors: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(inner.tensors)) tensors[`weight.${k}`] = v;
    for (const [k, v] of Object.entries(inner.meta)) void k, void v;
    if (this.outlier) tensors.outlier = new Tensor('f32', this.outlier.slice(), [this.outFeatures, this.outlierColumns]);
    const meta: Record<string, string | number | boolean> = {
      outlierColumns: this.outlierColumns,
      actBits: this.act?.bits ?? 0,
      clip: this.act?.clip ?? 1,
      weightKind: inner.kind,
      rotation: this.rotation ? this.rotation.kind : 'none',
      integerKernel: this.integerKernel,
    };
    for (const [k, v] of Object.entries(inner.meta)) meta[`weight.${k}`] = v;
    if (this.rotation instanceof HadamardRotation) tensors.rotationSigns = new Tensor('i8', this.rotation.signs.slice(), [this.rotation.n]);
    else if (this.rotation instanceof DenseRotation) tensors.rotationMatrix = new Tensor('f64', this.rotation.r.slice(), [this.rotation.n, this.rotation.n]);
    else if (this.rotation instanceof KroneckerRotation) {
      tensors.rotationSigns = new Tensor('i8', this.rotation.signs.slice(), [this.rotation.n]);
      tensors.rotationMatrix = new Tensor('f64', this.rotation.rm.slice(), [this.rotation.m, this.rotation.m]);
    } else if (this.rotation)
      throw new ArgumentError('QuantActLinear.serialize', 'rotation.kind', this.rotation.kind, "must be 'hadamard', 'dense' or 'kronecker' to serialize");
    return { kind: 'quant-act', meta, tensors };
  }

  static deserialize(s: SerializedLayer): QuantActLinear {
    const fn = 'QuantActLinear.deserialize';
    if (!s || s.kind !== 'quant-act') throw new ArgumentError(fn, 's.kind', s?.kind, "must be 'quant-act'");
    const innerT: Record<string, Tensor> = {},
      innerM: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(s.tensors)) if (k.startsWith('weight.')) innerT[k.slice(7)] = v;
    for (const [k, v] of Object.entries(s.meta)) if (k.startsWith('weight.')) innerM[k.slice(7)] = v;
    const inner = { kind: String(s.meta.weightKind), meta: innerM, tensors: innerT };
    const weight: LinearLayer =
      inner.kind === 'quantized'
        ? QuantizedLinear.deserialize(inner)
        : inner.kind === 'dense'
          ? DenseLinear.deserialize(inner)
          : (() => {
              throw new ArgumentError(fn, 'meta.weightKind', inner.kind, "must be 'quantized' or 'dense'");
            })();
    let rotation: Rotation | null = null;
    if (s.meta.rotation === 'hadamard') {
      const t = s.tensors.rotationSigns!;
      rotation = new HadamardRotation(t.size, (t.contiguous().data as Int8Array).slice());
    } else if (s.meta.rotation === 'dense') {
      const t = s.tensors.rotationMatrix!;
      rotation = new DenseRotation(t.shape[0]!, Float64Array.from(t.contiguous().data as ArrayLike<number>));
    } else if (s.meta.rotation === 'kronecker') {
      const sg = s.tensors.rotationSigns!,
        t = s.tensors.rotationMatrix!,
        m = t.shape[0]!;
      rotation = new KroneckerRotation(
        sg.size / m,
        m,
        Float64Array.from(t.contiguous().data as ArrayLike<number>),
        (sg.contiguous().data as Int8Array).slice(),
      );
    }
    const bits = Number(s.meta.actBits);
    const r = Number(s.meta.outlierColumns);
    return new QuantActLinear({
      weight,
      outlierColumns: r,
      outlier: r > 0 ? (s.tensors.outlier!.contiguous().data as Float32Array).slice() : null,
      act: bits === 0 ? null : { bits: bits as 4 | 8, clip: Number(s.meta.clip) },
      rotation,
      integerKernel: s.meta.integerKernel !== false,
    });
  }
}

/**
 * The backend's integer routines (through `routine`, so a backend without them falls back to the
 * reference implementations, counted): one W4A8 GEMM over all tokens (4- or 8-bit codes as int8, the
 * token's scale for every group) or the W4A8 GEMV for one token. A ragged last group runs through the
 * layer's zero-padded kernel layout (weights and activation codes padded with 0). `actBits` is kept
 * for the callers' signature (int8 codes serve 4-bit activations too).
 */
export function backendIntegerForward(
  w: QuantizedLinear,
  a: { codes: Int8Array; scales: Float32Array },
  T: number,
  _actBits: 4 | 8,
  be: Backend,
): Float32Array {
  const n0 = w.inFeatures,
    m = w.outFeatures,
    g = w.groupSize,
    ng = w.nGroups;
  let qx = a.codes;
  if (w.perm) {
    const p = w.perm,
      t2 = new Int8Array(T * n0);
    for (let t = 0; t < T; t++) for (let j = 0; j < n0; j++) t2[t * n0 + j] = qx[t * n0 + p[j]!]!;
    qx = t2;
  }
  const { w: wk, scales, n } = w.kernelWeights(be);
  qx = w.padInput(qx, T);
  const y = new Float32Array(T * m);
  if (T > 1) {
    const as = new Float32Array(T * ng);
    for (let t = 0; t < T; t++) as.fill(a.scales[t]!, t * ng, t * ng + ng);
    routine(be, 'w4a8Gemm')({ m: T, n: m, k: n, groupSize: g, a: qx, aScales: as, w: wk, wScales: scales, c: y });
  } else if (T === 1) {
    routine(be, 'w4a8Gemv')({ m, n, groupSize: g, w: wk, scales, x: qx, xScale: a.scales[0]!, y });
  }
  return y;
}

/** y[t, i] = s_x[t] · Σ_g s_w[i, g] · Σ_{j ∈ g} qx[t, j] · qw[i, j]  (exact integer inner sums). */
export function integerForward(w: QuantizedLinear, a: { codes: Int8Array; scales: Float32Array }, T: number): Float32Array {
  const n = w.inFeatures,
    m = w.outFeatures,
    g = w.groupSize,
    ng = w.nGroups;
  let qx = a.codes;
  if (w.perm) {
    const p = w.perm,
      t2 = new Int8Array(T * n);
    for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) t2[t * n + j] = qx[t * n + p[j]!]!;
    qx = t2;
  }
  const sw = w.decodedScales();
  const bias = 1 << (w.bits - 1);
  const row = new Int32Array(n);
  const y = new Float32Array(T * m);
  for (let i = 0; i < m; i++) {
    unpackRow(w.packed, i * w.rowBytes, n, w.bits, row, 0, bias);
    for (let t = 0; t < T; t++) {
      const o = t * n;
      let acc = 0;
      for (let k = 0; k < ng; k++) {
        let s = 0;
        for (let j = k * g, e = Math.min(n, j + g); j < e; j++) s += qx[o + j]! * row[j]!;
        acc += sw[i * ng + k]! * s;
      }
      y[t * m + i] = a.scales[t]! * acc;
    }
  }
  return y;
}
