/**
 * QUAD (Hu et al. 2025, arXiv 2503.19353) and the QuaRot-style baseline, on `@llmpress/models`
 * (`quadModel` = prepare (`quadRotate`) + the one driver (`quantizeRotated` → `compressLinears`)).
 *
 * 1. `fuseNorms`: RMSNorm scales folded into the following linears (q/k/v, gate/up, head); norms
 *    become 1. The model is unchanged (tested).
 * 2. `outlierBasis`: pooled covariance C = Σ nᵀn of every RMSNorm output over calibration, its top-r
 *    eigenvectors P, and the lossless basis Q = [P, I − P Pᵀ] (d × (d+r), Q Qᵀ = I).
 * 3. `changeResidualBasis(model, M)`: for any M (d × D) with M Mᵀ = I, the residual stream becomes
 *    h M: E ← E M, readers W ← W M, writers W ← Mᵀ W, head W ← W M. With D > d, RMSNorm must keep
 *    dividing by the ORIGINAL d; the standard forward divides by its dim D, so we use the identity
 *    h / √(‖h‖²/d + ε) = √(d/D) · h / √(‖h‖²/D + ε·d/D): the new model has dim D, normEps ε·d/D,
 *    and the factor √(d/D) folded into the readers and head. It is an ordinary LlamaModel, so the
 *    standard forward, `evaluate` and `sequentialCalibration` run it unchanged.
 * 4. QUAD uses M = Q · B, B = blockdiag(Hadamard_r, Hadamard_d) (random orthogonal where a size is
 *    not a power of two); QuaRot uses M = Hadamard_d. Online rotations (Hadamard, or random
 *    orthogonal for non-power-of-two widths like 172) act on the o and down inputs.
 * 5. `quantizeRotated`: GPTQ (or RTN) W4 on every linear, the first r input columns of every reader
 *    kept in f32, per-token activation quantization (clip 0.9) at 4 bits or 8 bits on o/down
 *    inputs, optional closed-form refit of the f32 outlier columns against the float outputs.
 */
import { ArgumentError, DenseLinear, Tensor, NotPositiveDefiniteError, gramAccumulate, type LinearLayer } from '@llmpress/tensor';
import { choleskyInPlace, choleskySolve, eigh } from '@llmpress/decompositions';
import { LlamaModel, compressLinears, type LinearRole, type CalibrationWindows, type LlamaBlock, type CompressResult, type LayerJob } from '@llmpress/models';
import { BlockRotation, randomRotation, type Rotation } from './rotation.js';
import { gptq, type GptqOptions, type GptqReport } from './gptq.js';
import { rtnQuantize } from './rtn.js';
import { QuantActLinear } from './act-linear.js';
import { actFor, type ActivationPlan, type ModelDriverOptions } from './model-quant.js';

const READERS: readonly LinearRole[] = ['q', 'k', 'v', 'gate', 'up'];
export function isReader(role: LinearRole): boolean {
  return READERS.includes(role);
}

function dense(fn: string, l: LinearLayer, what: string): Float32Array {
  if (!(l instanceof DenseLinear)) throw new ArgumentError(fn, what, l.kind, "must be a 'dense' layer");
  return l.weight.contiguous().data as Float32Array;
}

/** A float model with every RMSNorm scale folded into the linears that read its output (norms = 1, head untied). */
export function fuseNorms(model: LlamaModel): LlamaModel {
  const fn = 'fuseNorms';
  const c = model.config,
    d = c.dim;
  const scaleCols = (l: LinearLayer, g: Float32Array, what: string): DenseLinear => {
    const w = dense(fn, l, what),
      m = l.outFeatures,
      out = new Float32Array(m * d);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) out[i * d + j] = w[i * d + j]! * g[j]!;
    return new DenseLinear(new Tensor('f32', out, [m, d]));
  };
  const blocks: LlamaBlock[] = model.blocks.map((b, i) => ({
    attnNorm: new Float32Array(d).fill(1),
    ffnNorm: new Float32Array(d).fill(1),
    q: scaleCols(b.q, b.attnNorm, `blocks.${i}.q`),
    k: scaleCols(b.k, b.attnNorm, `blocks.${i}.k`),
    v: scaleCols(b.v, b.attnNorm, `blocks.${i}.v`),
    o: b.o,
    gate: scaleCols(b.gate, b.ffnNorm, `blocks.${i}.gate`),
    up: scaleCols(b.up, b.ffnNorm, `blocks.${i}.up`),
    down: b.down,
  }));
  const head = scaleCols(model.lmHead, model.finalNorm, 'lmHead');
  return new LlamaModel({ ...c, tiedEmbeddings: false }, { embedding: model.embedding, blocks, finalNorm: new Float32Array(d).fill(1), lmHead: head });
}

/** Pooled Σ nᵀ n (d × d, f64) over every RMSNorm output (attn, ffn of each block, final) of the windows. */
export function normOutputCovariance(model: LlamaModel, windows: CalibrationWindows): Float64Array {
  const d = model.config.dim,
    C = new Float64Array(d * d);
  for (const w of windows) {
    const ids = Array.isArray(w) ? (w as number[]) : (w as { input: number[] }).input;
    model.forward(ids, { hooks: { onNormOutput: (_b, _which, h) => gramAccumulate(C, h.contiguous().data, h.shape[0]!, d) } });
  }
  return C;
}

export interface OutlierBasis {
  /** Top-r eigenvectors, d × r row-major. */
  p: Float64Array;
  /** Q = [P, I − P Pᵀ], d × (d + r) row-major. */
  q: Float64Array;
  /** All eigenvalues of the covariance, descending. */
  eigenvalues: Float64Array;
  r: number;
}

/** P = top-r eigenvectors of the covariance, Q = [P, I − P Pᵀ]. */
export function outlierBasis(cov: Float64Array, d: number, r: number): OutlierBasis {
  const fn = 'outlierBasis';
  if (!Number.isInteger(r) || r < 0 || r > d) throw new ArgumentError(fn, 'r', r, `must be an integer in [0, ${d}]`);
  if (cov.length !== d * d) throw new ArgumentError(fn, 'cov.length', cov.length, `must be ${d * d}`);
  const e = eigh(new Tensor('f64', cov, [d, d]), { order: 'descending' });
  const values = e.values.data as Float64Array,
    vectors = e.vectors.data as Float64Array;
  const p = new Float64Array(d * r);
  for (let i = 0; i < d; i++) for (let k = 0; k < r; k++) p[i * r + k] = vectors[i * d + k]!;
  const D = d + r,
    q = new Float64Array(d * D);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < r; k++) q[i * D + k] = p[i * r + k]!;
    for (let j = 0; j < d; j++) {
      let s = i === j ? 1 : 0;
      for (let k = 0; k < r; k++) s -= p[i * r + k]! * p[j * r + k]!;
      q[i * D + r + j] = s;
    }
  }
  return { p, q, eigenvalues: values, r };
}

/** C = A · B for row-major f64 (a: m × k, b: k × n). */
function mm(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const v = a[i * k + p]!;
      if (v === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j]! += v * b[p * n + j]!;
    }
  return c;
}
function transpose(a: ArrayLike<number>, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j]!;
  return t;
}
function toLinear(w: Float64Array, out: number, inF: number): DenseLinear {
  return new DenseLinear(new Tensor('f32', Float32Array.from(w), [out, inF]));
}

/**
 * The residual stream becomes h M (M: d × D with M Mᵀ = I, checked). Input: a norm-fused model
 * (`fuseNorms`). Output: an ordinary LlamaModel with dim D computing the same function.
 */
export function changeResidualBasis(fused: LlamaModel, M: Float64Array, D: number): LlamaModel {
  const fn = 'changeResidualBasis';
  const c = fused.config,
    d = c.dim;
  if (M.length !== d * D || D < d) throw new ArgumentError(fn, 'M', M, `must be d × D = ${d} × ${D} with D ≥ d`);
  const MMt = mm(M, transpose(M, d, D), d, D, d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++)
      if (Math.abs(MMt[i * d + j]! - (i === j ? 1 : 0)) > 1e-9)
        throw new ArgumentError(fn, 'M', `M Mᵀ[${i}, ${j}] = ${MMt[i * d + j]}`, 'must satisfy M Mᵀ = I');
  for (const b of fused.blocks)
    for (const g of [b.attnNorm, b.ffnNorm])
      if (g.some((v) => v !== 1)) throw new ArgumentError(fn, 'fused', 'unfused norms', 'must have norm weights 1 (call fuseNorms first)');
  // the standard norm over D channels with eps·d/D returns √(D/d) × the d-channel norm: undo it in the readers
  const alpha = Math.sqrt(d / D);
  const reader = (l: LinearLayer, what: string) => {
    const w = dense(fn, l, what);
    const r = mm(w, M, l.outFeatures, d, D);
    for (let i = 0; i < r.length; i++) r[i]! *= alpha;
    return toLinear(r, l.outFeatures, D);
  };
  const Mt = transpose(M, d, D);
  const writer = (l: LinearLayer, what: string) => {
    const w = dense(fn, l, what);
    return toLinear(mm(Mt, w, D, d, l.inFeatures), D, l.inFeatures);
  };
  const blocks: LlamaBlock[] = fused.blocks.map((b, i) => ({
    attnNorm: new Float32Array(D).fill(1),
    ffnNorm: new Float32Array(D).fill(1),
    q: reader(b.q, `blocks.${i}.q`),
    k: reader(b.k, `blocks.${i}.k`),
    v: reader(b.v, `blocks.${i}.v`),
    o: writer(b.o, `blocks.${i}.o`),
    gate: reader(b.gate, `blocks.${i}.gate`),
    up: reader(b.up, `blocks.${i}.up`),
    down: writer(b.down, `blocks.${i}.down`),
  }));
  const E = mm(fused.embedding.contiguous().data, M, c.vocabSize, d, D);
  return new LlamaModel(
    { ...c, dim: D, normEps: (c.normEps * d) / D, tiedEmbeddings: false },
    {
      embedding: new Tensor('f32', Float32Array.from(E), [c.vocabSize, D]),
      blocks,
      finalNorm: new Float32Array(D).fill(1),
      lmHead: reader(fused.lmHead, 'lmHead'),
    },
  );
}

export interface RotatedModel {
  /** The float model in the new basis (dim d + r). */
  model: LlamaModel;
  /** Outlier channels (the first r of the residual stream). */
  r: number;
  basis: OutlierBasis | null;
  /** Residual rotation B (block-diagonal), already folded into the weights. */
  residualRotation: Rotation;
  /** Online rotations of the o and down inputs (shared by every block). */
  online: { o: Rotation; down: Rotation };
}

export interface RotateOptions {
  r: number;
  seed?: number;
}

/**
 * QUAD's float stage: fuse norms, pooled covariance over the calibration windows, basis
 * Q = [P, I − PPᵀ], block-diagonal Hadamard B, M = Q·B. r = 0 gives the QuaRot rotation (M = H_d).
 */
export function quadRotate(model: LlamaModel, calibration: CalibrationWindows, options: RotateOptions): RotatedModel {
  const fn = 'quadRotate';
  const r = options.r,
    seed = options.seed ?? 0;
  const fused = fuseNorms(model);
  const d = model.config.dim,
    D = d + r;
  let basis: OutlierBasis | null = null,
    Q: Float64Array;
  if (r > 0) {
    basis = outlierBasis(normOutputCovariance(fused, calibration), d, r);
    Q = basis.q;
  } else {
    Q = new Float64Array(d * d);
    for (let i = 0; i < d; i++) Q[i * d + i] = 1;
  }
  if (!Number.isInteger(r) || r < 0) throw new ArgumentError(fn, 'options.r', r, 'must be a non-negative integer');
  const B = new BlockRotation(r > 0 ? [randomRotation(r, seed + 1), randomRotation(d, seed + 2)] : [randomRotation(d, seed + 2)]);
  // row convention h' = (h Q) Bᵀ with B acting on column vectors: M = Q Bᵀ
  const M = mm(Q, transpose(B.matrix(), D, D), d, D, D);
  const rotated = changeResidualBasis(fused, M, D);
  const c = model.config;
  return {
    model: rotated,
    r,
    basis,
    residualRotation: B,
    online: { o: randomRotation(c.nHeads * c.headDim, seed + 3), down: randomRotation(c.hiddenDim, seed + 4) },
  };
}

export interface QuadLayerOptions extends GptqOptions {
  /** 'gptq' (default), 'rtn', or 'none' (weights kept f32 in the same layer stack: the lossless check). */
  method?: 'gptq' | 'rtn' | 'none';
  /** Per-token activation quantization (null = A16). */
  activations: ActivationPlan | null;
  /** Closed-form least-squares refit of the f32 outlier columns against the float outputs (default false). */
  refit?: boolean;
}

export interface QuadLayerReport {
  gptq?: GptqReport;
  refitBefore?: number;
  refitAfter?: number;
  /** Bytes of the online rotation this layer stores (0 if none); already part of the layer's `bytes()`. */
  rotationBytes: number;
}

/**
 * QUAD's per-layer step on a layer of the rotated model: `weight` [m, n] (float, rotated basis), its
 * input statistics (`gram` = Σ x̂ x̂ᵀ of the working inputs, `crossGram` = Σ x x̂ᵀ for the refit), the
 * layer's role (readers keep their first `r` input columns in f32) and its online rotation (o/down).
 */
export function quadLayer(
  weight: Tensor,
  stats: { gram: Float64Array; crossGram: Float64Array },
  role: LinearRole,
  r: number,
  rotation: Rotation | null,
  options: QuadLayerOptions,
): { layer: QuantActLinear; report: Omit<QuadLayerReport, 'rotationBytes'> } {
  const fn = 'quadLayer';
  const [m, n] = weight.shape as [number, number];
  if (!Number.isInteger(r) || r < 0 || r >= n) throw new ArgumentError(fn, 'r', r, `must be an integer in [0, ${n})`);
  const method = options.method ?? 'gptq';
  if (method !== 'gptq' && method !== 'rtn' && method !== 'none') throw new ArgumentError(fn, 'options.method', method, "must be 'gptq', 'rtn' or 'none'");
  const w0 = weight.contiguous().data as ArrayLike<number>;
  const W = rotation ? timesRt(w0, m, rotation) : Float64Array.from(w0);
  const G = rotation ? conjugate(stats.gram, rotation) : stats.gram;
  const k = isReader(role) ? r : 0,
    nr = n - k;
  const Wr = new Float64Array(m * nr),
    Gr = new Float64Array(nr * nr);
  for (let i = 0; i < m; i++) for (let j = 0; j < nr; j++) Wr[i * nr + j] = W[i * n + k + j]!;
  for (let i = 0; i < nr; i++) for (let j = 0; j < nr; j++) Gr[i * nr + j] = G[(k + i) * n + k + j]!;
  const WrT = new Tensor('f64', Wr, [m, nr]);
  let info: Omit<QuadLayerReport, 'rotationBytes'> = {};
  let q: LinearLayer;
  if (method === 'gptq') {
    const res = gptq(WrT, Gr, options);
    q = res.layer;
    info.gptq = res.report;
  } else if (method === 'rtn') q = rtnQuantize(WrT, options);
  else q = toLinear(Wr, m, nr);
  let outlier: Float32Array | null = null;
  if (k > 0) {
    const wo = new Float64Array(m * k);
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) wo[i * k + j] = W[i * n + j]!;
    if (options.refit) {
      const res = refitOutliers(W, m, n, k, q.toDense().contiguous().data as Float32Array, stats.gram, stats.crossGram, wo);
      info = { ...info, refitBefore: res.before, refitAfter: res.after };
      outlier = Float32Array.from(res.w);
    } else outlier = Float32Array.from(wo);
  }
  return { layer: new QuantActLinear({ weight: q, outlier, outlierColumns: k, act: actFor(options.activations, role), rotation }), report: info };
}

export interface QuantizeRotatedOptions extends QuadLayerOptions, Omit<ModelDriverOptions, 'calibration'> {
  /** Apply the online rotations on o/down inputs (default true). */
  onlineRotation?: boolean;
}

/** R (column convention, n × n) applied on the right: W Rᵀ (m × n). */
function timesRt(w: ArrayLike<number>, m: number, R: Rotation): Float64Array {
  const out = Float64Array.from(w as ArrayLike<number>);
  R.apply(out, m); // each row w_i → R w_i, i.e. W Rᵀ
  return out;
}
/** R G Rᵀ for a symmetric Gram. */
function conjugate(g: Float64Array, R: Rotation): Float64Array {
  const n = R.n,
    a = g.slice();
  R.apply(a, n); // rows: G Rᵀ (G symmetric)
  const t = transpose(a, n, n);
  R.apply(t, n); // rows of (G Rᵀ)ᵀ = R G → R G Rᵀ as rows
  return transpose(t, n, n);
}

/**
 * Quantizes every block linear of a rotated model (`quadRotate`) through the driver (default
 * schedule: true-sequential per group). Readers keep their first `r` input columns in f32;
 * everything else is GPTQ/RTN W`bits` with per-token activation quantization per `activations`.
 * The bytes count every stored tensor (`QuantActLinear.bytes()`), including the copy of the online
 * rotation each o/down layer stores (signs, and the small dense factor of a Kronecker rotation).
 */
export async function quantizeRotated(
  rot: RotatedModel,
  calibration: CalibrationWindows,
  options: QuantizeRotatedOptions,
): Promise<CompressResult<QuadLayerReport>> {
  const fn = 'quantizeRotated';
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object with bits and activations');
  const online = options.onlineRotation ?? true;
  return compressLinears<QuadLayerReport>(rot.model, {
    calibration,
    schedule: options.schedule,
    backend: options.backend,
    onProgress: options.onProgress,
    signal: options.signal,
    roles: options.roles,
    blocks: options.blocks,
    compress: (job: LayerJob, ctx) => {
      const rotation = online && (job.role === 'o' || job.role === 'down') ? rot.online[job.role] : null;
      const { layer, report } = quadLayer(job.weight, job.stats, job.role, rot.r, rotation, { ...options, backend: options.backend ?? ctx.backend });
      const rotationBytes = layer.rotation ? layer.rotation.bytes() : 0;
      return { layer, report: { ...report, rotationBytes }, bytes: layer.bytes(), kind: layer.kind };
    },
  });
}

/** QUAD W4A4 (every input 4-bit, clip 0.9). */
export const QUAD_A4: ActivationPlan = { readers: 4, o: 4, down: 4, clip: 0.9 };
/** QUAD W4A4/A8 (o and down inputs at 8 bits). */
export const QUAD_A4A8: ActivationPlan = { readers: 4, o: 8, down: 8, clip: 0.9 };

export interface QuadModelOptions extends Omit<QuantizeRotatedOptions, 'activations'>, ModelDriverOptions {
  calibration: CalibrationWindows;
  /** Outlier channels kept in f32 (r = 0: the QuaRot-style Hadamard + GPTQ baseline). */
  r: number;
  /** Seed of the random orthogonal rotations (default 0). */
  seed?: number;
  /** Activation plan; default W4A4 (`QUAD_A4`). `null` = weight-only (A16). */
  activations?: ActivationPlan | null;
}

/**
 * QUAD on a float model: the `prepare` step (`quadRotate`: norm fusion, outlier basis from the
 * calibration covariance, rotations folded into the weights), then `quantizeRotated` through the
 * driver. `denseBytes` is the ORIGINAL model's dense linear bytes (the rotated model is r wider).
 */
export async function quadModel(model: LlamaModel, options: QuadModelOptions): Promise<CompressResult<QuadLayerReport> & { rotated: RotatedModel }> {
  const fn = 'quadModel';
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object with calibration, r and bits');
  if (!Array.isArray(options.calibration) || options.calibration.length === 0)
    throw new ArgumentError(fn, 'options.calibration', options.calibration, 'must be a non-empty array of token windows');
  const rotated = quadRotate(model, options.calibration, { r: options.r, seed: options.seed });
  const res = await quantizeRotated(rotated, options.calibration, {
    ...options,
    activations: options.activations === undefined ? QUAD_A4 : options.activations,
  });
  const denseBytes = model.linears().reduce((a, e) => a + 4 * e.layer.inFeatures * e.layer.outFeatures, 0);
  return { ...res, denseBytes, rotated };
}

/**
 * Closed-form refit of the f32 outlier weights W_o (m × k) of a reader:
 *   min_{W_o} Σ_t ‖W x_t − Q x̂_rest,t − W_o x̂_o,t‖²
 * (x: inputs in the float model, x̂: inputs in the quantized working model; Q: the dequantized
 * quantized part). Normal equations W_o (X̂_o X̂_oᵀ) = W (X X̂_oᵀ) − Q (X̂_rest X̂_oᵀ), solved by
 * Cholesky with a 1e-8 relative ridge. Returns the objective (up to the constant Σ‖W x‖²) before/after.
 */
export function refitOutliers(
  W: Float64Array,
  m: number,
  n: number,
  k: number,
  Qd: Float32Array,
  gram: Float64Array,
  cross: Float64Array,
  wo0: Float64Array,
): { w: Float64Array; before: number; after: number } {
  const nr = n - k;
  // A = X̂_o X̂_oᵀ (k × k), Rhs = W · cross[:, :k] − Q · gram[k:, :k]  (m × k)
  const A = new Float64Array(k * k);
  let tr = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) A[i * k + j] = gram[i * n + j]!;
    tr += gram[i * n + i]!;
  }
  const rhs = new Float64Array(m * k);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += W[i * n + p]! * cross[p * n + j]!;
      for (let p = 0; p < nr; p++) s -= Qd[i * nr + p]! * gram[(k + p) * n + j]!;
      rhs[i * k + j] = s;
    }
  const objective = (wo: Float64Array) => {
    // f(W_o) = tr(W_o A W_oᵀ) − 2 tr(W_o Rhsᵀ)  (+ const)
    let f = 0;
    for (let i = 0; i < m; i++)
      for (let a = 0; a < k; a++) {
        let s = 0;
        for (let b2 = 0; b2 < k; b2++) s += A[a * k + b2]! * wo[i * k + b2]!;
        f += wo[i * k + a]! * s - 2 * wo[i * k + a]! * rhs[i * k + a]!;
      }
    return f;
  };
  const L = A.slice();
  const ridge = 1e-8 * (tr / Math.max(1, k) || 1);
  for (let i = 0; i < k; i++) L[i * k + i]! += ridge;
  try {
    choleskyInPlace(L, k);
  } catch (e) {
    if (NotPositiveDefiniteError.isInstance(e)) return { w: wo0, before: objective(wo0), after: objective(wo0) };
    throw e;
  }
  // (L Lᵀ) W_oᵀ = Rhsᵀ for every row of W_o at once
  const rhsT = new Float64Array(k * m);
  for (let i = 0; i < m; i++) for (let a = 0; a < k; a++) rhsT[a * m + i] = rhs[i * k + a]!;
  const X = choleskySolve(new Tensor('f64', L, [k, k]), new Tensor('f64', rhsT, [k, m])).data as Float64Array;
  const w = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let a = 0; a < k; a++) w[i * k + a] = X[a * m + i]!;
  const before = objective(wo0),
    after = objective(w);
  return after <= before ? { w, before, after } : { w: wo0, before, after: before };
}

/**
 * Bytes of the distinct rotations a model uses online, each rotation object counted once (what a
 * runtime holds). A saved file stores a copy per layer; `QuantActLinear.bytes()` counts those.
 */
export function onlineRotationBytes(model: LlamaModel): number {
  const seen = new Set<Rotation>();
  for (const e of model.linears()) {
    const l = e.layer;
    if (l instanceof QuantActLinear && l.rotation) seen.add(l.rotation);
  }
  let s = 0;
  for (const r of seen) s += r.bytes();
  return s;
}
