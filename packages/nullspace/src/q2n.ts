/**
 * Q2N (Zhao et al. 2025) as a post-step for any quantizer that stores per-row (per-channel or
 * per-group) scales. Given the ORIGINAL weight W, the quantized layer's dequantized weight Q and
 * the null-space projector P of the layer's calibration inputs:
 *
 *   B   = W (I − P) + Q P          (= W on the activations' row space, = Q on their null space)
 *   m_i = (⟨B_i, Q_i⟩ + λ) / (‖Q_i‖² + λ)   (λ = 0.2 by default)
 *   Q  ← diag(m) Q                  (folded into every scale of row i: bytes unchanged)
 *
 * Everything is computed in the ORIGINAL column order (QuantizedLinear.toDense() undoes an
 * act-order permutation), and row scaling commutes with column permutations, so act-order layers
 * are handled correctly.
 */
import { ArgumentError, ShapeError, NonFiniteError, Tensor, f32ToF16, type Backend, type LinearLayer } from '@llmpress/tensor';
import { QuantizedLinear } from '@llmpress/quantizers';
import { activationNullSpace, NullProjector, type NullSpaceOptions, type NullSpaceDiagnostics } from './nullspace.js';

export interface Q2nOptions {
  /** λ in m_i (default 0.2). */
  lambda?: number;
  /** What Q is pulled towards: 'B' (Q2N, default) or 'W' (ablation: plain per-row rescaling towards W, no null space). */
  target?: 'B' | 'W';
  /** Null-space rule (default: ratio rule with t = 0.1), or a ready projector. */
  nullSpace?: NullSpaceOptions | NullProjector;
  /**
   * The weight B is built from. Default: the original W. The reference code uses GPTQ's error-fed
   * working copy instead; pass it here to reproduce that (ablation).
   */
  reference?: Tensor;
  backend?: Backend;
}

export interface Q2nReport {
  /** m_i per output row. */
  m: Float64Array;
  lambda: number;
  target: 'B' | 'W';
  nullSpace?: NullSpaceDiagnostics;
  /** ‖(W − Q)‖_G and ‖(W − diag(m) Q)‖_G-style diagnostics are left to the caller (they need G). */
}

function f64(t: Tensor): Tensor<'f64'> {
  return (t.dtype === 'f64' ? t.contiguous() : t.astype('f64')) as Tensor<'f64'>;
}

/** The per-row equivalent vector m (does not touch any layer). W, Q: [m, n]; `projector` null = target W. */
export function q2nRowScales(w: Tensor, q: Tensor, projector: NullProjector | null, options: { lambda?: number; backend?: Backend } = {}): Float64Array {
  const fn = 'q2nRowScales';
  if (w.ndim !== 2 || q.ndim !== 2 || w.shape[0] !== q.shape[0] || w.shape[1] !== q.shape[1])
    throw new ShapeError(fn, `w and q must have the same 2-D shape, got [${w.shape.join(', ')}] and [${q.shape.join(', ')}]`);
  const lambda = options.lambda ?? 0.2;
  if (typeof lambda !== 'number' || !(lambda >= 0) || !Number.isFinite(lambda))
    throw new ArgumentError(fn, 'options.lambda', lambda, 'must be a finite number >= 0');
  const [rows, n] = w.shape as [number, number];
  const W = f64(w),
    Q = f64(q);
  let B: Tensor<'f64'>;
  if (projector) {
    if (projector.n !== n) throw new ShapeError(fn, `projector is ${projector.n}-dimensional but w has ${n} columns`);
    // B = W − (W − Q) P
    const E = new Float64Array(rows * n);
    for (let i = 0; i < E.length; i++) E[i] = W.data[i]! - Q.data[i]!;
    const EP = projector.apply(new Tensor('f64', E, [rows, n]), options.backend);
    const b = new Float64Array(rows * n);
    for (let i = 0; i < b.length; i++) b[i] = W.data[i]! - EP.data[i]!;
    B = new Tensor('f64', b, [rows, n]);
  } else {
    B = W;
  }
  const m = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let bq = 0,
      qq = 0;
    for (let j = 0; j < n; j++) {
      const qv = Q.data[i * n + j]!;
      bq += B.data[i * n + j]! * qv;
      qq += qv * qv;
    }
    const den = qq + lambda;
    m[i] = den > 0 ? (bq + lambda) / den : 1;
    if (!Number.isFinite(m[i]!)) throw new NonFiniteError(fn, 'm', i, m[i]!);
  }
  return m;
}

/** Folds per-row factors into a QuantizedLinear's scales (every group of row i times m_i). Same bytes, same codes. */
export function foldRowScales(layer: QuantizedLinear, m: ArrayLike<number>): QuantizedLinear {
  const fn = 'foldRowScales';
  if (!(layer instanceof QuantizedLinear)) throw new ArgumentError(fn, 'layer', (layer as any)?.kind, 'must be a QuantizedLinear');
  if (m.length !== layer.outFeatures) throw new ShapeError(fn, `m must have ${layer.outFeatures} entries (one per output row), got ${m.length}`);
  const ng = layer.nGroups;
  const dec = layer.decodedScales();
  for (let r = 0; r < layer.outFeatures; r++) {
    const f = m[r]!;
    if (!Number.isFinite(f)) throw new NonFiniteError(fn, 'm', r, f);
    for (let k = 0; k < ng; k++) dec[r * ng + k]! *= f;
  }
  let scales: Uint16Array | Float32Array;
  if (layer.scaleDtype === 'f16') {
    scales = new Uint16Array(dec.length);
    for (let i = 0; i < dec.length; i++) scales[i] = f32ToF16(dec[i]!);
  } else scales = dec;
  return new QuantizedLinear({
    inFeatures: layer.inFeatures,
    outFeatures: layer.outFeatures,
    bits: layer.bits,
    symmetric: layer.symmetric,
    groupSize: layer.groupSize,
    scaleDtype: layer.scaleDtype,
    packed: layer.packed,
    scales,
    zeros: layer.zeros,
    perm: layer.perm,
  });
}

/**
 * Q2N for one layer: `w` the ORIGINAL dense weight, `quantized` the base quantizer's layer, `gram`
 * the layer's calibration Gram. Returns the layer with folded scales and the report.
 */
export function q2nLayer(w: Tensor, quantized: LinearLayer, gram: Tensor | null, options: Q2nOptions = {}): { layer: QuantizedLinear; report: Q2nReport } {
  const fn = 'q2nLayer';
  if (!(quantized instanceof QuantizedLinear))
    throw new ArgumentError(fn, 'quantized', (quantized as any)?.kind, 'must be a QuantizedLinear (its scales are where m folds)');
  if (w.ndim !== 2 || w.shape[0] !== quantized.outFeatures || w.shape[1] !== quantized.inFeatures)
    throw new ShapeError(fn, `w must be [${quantized.outFeatures}, ${quantized.inFeatures}] like the quantized layer, got [${w.shape.join(', ')}]`);
  const target = options.target ?? 'B';
  if (target !== 'B' && target !== 'W') throw new ArgumentError(fn, 'options.target', target, "must be 'B' or 'W'");
  let projector: NullProjector | null = null;
  let diag: NullSpaceDiagnostics | undefined;
  if (target === 'B') {
    if (options.nullSpace instanceof NullProjector) projector = options.nullSpace;
    else {
      if (!gram) throw new ArgumentError(fn, 'gram', gram, "is required for target 'B' unless options.nullSpace is a NullProjector");
      const ns = activationNullSpace(gram, { ...(options.nullSpace ?? {}), backend: options.backend });
      projector = ns.projector;
      diag = ns.diagnostics;
    }
  }
  const ref = options.reference ?? w;
  if (ref.ndim !== 2 || ref.shape[0] !== w.shape[0] || ref.shape[1] !== w.shape[1])
    throw new ShapeError(fn, `options.reference must be [${w.shape.join(', ')}], got [${ref.shape.join(', ')}]`);
  const lambda = options.lambda ?? 0.2;
  const m = q2nRowScales(ref, quantized.toDense(), projector, { lambda, backend: options.backend });
  return { layer: foldRowScales(quantized, m), report: { m, lambda, target, nullSpace: diag } };
}
