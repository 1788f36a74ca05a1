/**
 * The one KV-cache contract (`KVCacheLike`) and the one fp32 cache of llmpress, used by the Llama
 * forward pass (@llmpress/models) and by the compressed caches (@llmpress/kv-cache). Attention goes
 * through the backend's `attention` routine (WASM: one SIMD kernel); a backend without it but with a
 * fast GEMM (WebGPU) runs the two products as GEMMs per head (`attendGemm`), and otherwise `routine`
 * falls back, counted, to the reference implementation.
 */
import { ArgumentError, ShapeError } from './errors.js';
import type { Backend } from './backend.js';
import { resolveBackend, routine } from './select.js';
import { referenceBackend } from './reference-backend.js';

/** The cache contract the Llama forward pass drives; compressed caches implement it too. */
export interface KVCacheLike {
  /** Tokens already cached in `layer`. */
  length(layer: number): number;
  /** Append post-RoPE keys and values of t new tokens: k, v are [t, nKvHeads*headDim] row-major. */
  append(layer: number, k: Float32Array, v: Float32Array, t: number): void;
  /** Attention of t new queries (post-RoPE, [t, nHeads*headDim]) over the cache of `layer`, AFTER their own keys
   *  were appended: query i sits at position length-t+i and attends causally to positions 0..length-t+i.
   *  Returns the [t, nHeads*headDim] attention outputs (softmax(q kᵀ/√hd) v per head, GQA mapping head h → kv head h/(nHeads/nKvHeads)). */
  attend(layer: number, q: Float32Array, t: number): Float32Array;
}

/** Shape of the model a cache serves (the subset of a Llama config a cache needs). */
export interface CacheShape {
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

function checkShape(fn: string, s: CacheShape): void {
  if (s === null || typeof s !== 'object') throw new ArgumentError(fn, 'shape', s, 'must be an object with nLayers, nHeads, nKvHeads, headDim');
  for (const k of ['nLayers', 'nHeads', 'nKvHeads', 'headDim'] as const) {
    const v = s[k];
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(fn, `shape.${k}`, v, 'must be a positive integer');
  }
  if (s.nHeads % s.nKvHeads !== 0) throw new ArgumentError(fn, 'shape.nKvHeads', s.nKvHeads, `must divide nHeads = ${s.nHeads}`);
}

/** The plain fp32 KV cache (growable; the default cache of `forward`, and the uncompressed baseline). */
export class Fp32KVCache implements KVCacheLike {
  readonly shape: CacheShape;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  private keysOf: Float32Array[];
  private valuesOf: Float32Array[];
  private lens: number[];
  private cap: number[];
  private probs = new Float32Array(0);
  /** The backend attention runs on (default: the reference backend). */
  readonly backend: Backend | undefined;

  constructor(shape: CacheShape, options: { capacity?: number; backend?: Backend } = {}) {
    const fn = 'Fp32KVCache';
    checkShape(fn, shape);
    this.shape = { nLayers: shape.nLayers, nHeads: shape.nHeads, nKvHeads: shape.nKvHeads, headDim: shape.headDim };
    this.nLayers = shape.nLayers;
    this.nHeads = shape.nHeads;
    this.nKvHeads = shape.nKvHeads;
    this.headDim = shape.headDim;
    const cap0 = options.capacity ?? 16;
    if (!Number.isInteger(cap0) || cap0 < 0) throw new ArgumentError(fn, 'options.capacity', cap0, 'must be a non-negative integer');
    const kvDim = this.nKvHeads * this.headDim;
    this.keysOf = [];
    this.valuesOf = [];
    this.lens = [];
    this.cap = [];
    for (let l = 0; l < this.nLayers; l++) {
      this.keysOf.push(new Float32Array(cap0 * kvDim));
      this.valuesOf.push(new Float32Array(cap0 * kvDim));
      this.lens.push(0);
      this.cap.push(cap0);
    }
    this.backend = options.backend === undefined ? undefined : resolveBackend(fn, options.backend);
  }

  private checkLayer(fn: string, layer: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.nLayers)
      throw new ArgumentError(fn, 'layer', layer, `must be an integer in [0, ${this.nLayers})`);
  }
  length(layer: number): number {
    this.checkLayer('Fp32KVCache.length', layer);
    return this.lens[layer]!;
  }
  /** Drops everything (capacity is kept). */
  clear(): void {
    for (let l = 0; l < this.nLayers; l++) this.lens[l] = 0;
  }
  /** Keeps only the first `n` tokens of every layer. */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new ArgumentError('Fp32KVCache.truncate', 'n', n, 'must be a non-negative integer');
    for (let l = 0; l < this.nLayers; l++) this.lens[l] = Math.min(this.lens[l]!, n);
  }
  /** Bytes held by the cached keys and values (not the spare capacity), f32. */
  bytes(): { keyBytes: number; valueBytes: number; total: number } {
    let t = 0;
    for (const n of this.lens) t += n;
    const kb = t * this.nKvHeads * this.headDim * 4;
    return { keyBytes: kb, valueBytes: kb, total: 2 * kb };
  }
  /** Keys of one layer and KV head, `[length, headDim]` (a copy). */
  keys(layer: number, kvHead: number): Float32Array {
    this.checkLayer('Fp32KVCache.keys', layer);
    if (!Number.isInteger(kvHead) || kvHead < 0 || kvHead >= this.nKvHeads)
      throw new ArgumentError('Fp32KVCache.keys', 'kvHead', kvHead, `must be an integer in [0, ${this.nKvHeads})`);
    const n = this.lens[layer]!,
      d = this.headDim,
      kvDim = this.nKvHeads * d,
      out = new Float32Array(n * d);
    for (let j = 0; j < n; j++) out.set(this.keysOf[layer]!.subarray(j * kvDim + kvHead * d, j * kvDim + kvHead * d + d), j * d);
    return out;
  }

  append(layer: number, k: Float32Array, v: Float32Array, t: number): void {
    const fn = 'Fp32KVCache.append';
    this.checkLayer(fn, layer);
    const kvDim = this.nKvHeads * this.headDim;
    if (!Number.isInteger(t) || t < 0) throw new ArgumentError(fn, 't', t, 'must be a non-negative integer');
    if (!(k instanceof Float32Array) || k.length < t * kvDim)
      throw new ShapeError(fn, `argument 'k' must be a Float32Array of [t, nKvHeads*headDim] = ${t * kvDim} values, got ${k?.length}`);
    if (!(v instanceof Float32Array) || v.length < t * kvDim)
      throw new ShapeError(fn, `argument 'v' must be a Float32Array of [t, nKvHeads*headDim] = ${t * kvDim} values, got ${v?.length}`);
    const len = this.lens[layer]!;
    if (len + t > this.cap[layer]!) {
      const cap = Math.max(len + t, 2 * this.cap[layer]!, 16);
      const nk = new Float32Array(cap * kvDim);
      nk.set(this.keysOf[layer]!.subarray(0, len * kvDim));
      const nv = new Float32Array(cap * kvDim);
      nv.set(this.valuesOf[layer]!.subarray(0, len * kvDim));
      this.keysOf[layer] = nk;
      this.valuesOf[layer] = nv;
      this.cap[layer] = cap;
    }
    this.keysOf[layer]!.set(k.subarray(0, t * kvDim), len * kvDim);
    this.valuesOf[layer]!.set(v.subarray(0, t * kvDim), len * kvDim);
    this.lens[layer] = len + t;
  }

  attend(layer: number, q: Float32Array, t: number): Float32Array {
    const fn = 'Fp32KVCache.attend';
    this.checkLayer(fn, layer);
    const hd = this.headDim,
      nH = this.nHeads,
      qDim = nH * hd;
    const len = this.lens[layer]!;
    if (!Number.isInteger(t) || t < 0 || t > len) throw new ArgumentError(fn, 't', t, `must be an integer in [0, ${len}] (cached length)`);
    if (!(q instanceof Float32Array) || q.length < t * qDim)
      throw new ShapeError(fn, `argument 'q' must be a Float32Array of [t, nHeads*headDim] = ${t * qDim} values`);
    const out = new Float32Array(t * qDim);
    const be = this.backend ?? referenceBackend;
    const args = { t, len, nHeads: nH, nKvHeads: this.nKvHeads, headDim: hd, q, k: this.keysOf[layer]!, v: this.valuesOf[layer]!, out };
    if (typeof be.attention !== 'function' && be !== referenceBackend && typeof be.gemm === 'function' && t >= 8) {
      // no attention routine but a fast GEMM (WebGPU): the two products per head as GEMMs
      if (this.probs.length < t * len) this.probs = new Float32Array(t * len);
      attendGemm(q, t, args.k, args.v, len, nH, this.nKvHeads, hd, this.probs, out, be);
    } else routine(be, 'attention')(args);
    return out;
  }
}

/**
 * Attention with the two products as GEMMs per head (S = Q_h K_hᵀ/√hd, then O_h = P V_h), the causal
 * softmax in between (masked entries set to 0): the route of backends that have a fast GEMM but no
 * `attention` routine.
 */
export function attendGemm(
  q: Float32Array,
  t: number,
  keys: Float32Array,
  values: Float32Array,
  len: number,
  nHeads: number,
  nKvHeads: number,
  headDim: number,
  probs: Float32Array,
  out: Float32Array,
  backend: Backend,
): void {
  const hd = headDim,
    kvDim = nKvHeads * hd,
    qDim = nHeads * hd,
    group = nHeads / nKvHeads;
  const gemm = routine(backend, 'gemm');
  const scale = 1 / Math.sqrt(hd);
  const invSum = new Float64Array(t);
  for (let h = 0; h < nHeads; h++) {
    const ko = Math.floor(h / group) * hd;
    gemm({
      transA: false,
      transB: true,
      m: t,
      n: len,
      k: hd,
      alpha: scale,
      a: q,
      aOffset: h * hd,
      lda: qDim,
      b: keys,
      bOffset: ko,
      ldb: kvDim,
      beta: 0,
      c: probs,
      cOffset: 0,
      ldc: len,
    });
    for (let i = 0; i < t; i++) {
      const o = i * len,
        last = len - t + i;
      let mx = -Infinity;
      for (let j = 0; j <= last; j++) if (probs[o + j]! > mx) mx = probs[o + j]!;
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        const e = Math.exp(probs[o + j]! - mx);
        probs[o + j] = e;
        sum += e;
      }
      probs.fill(0, o + last + 1, o + len);
      invSum[i] = 1 / sum;
    }
    // O_h = (unnormalised P) V, then each row scaled by 1/Σ (one pass over t×hd instead of t×len)
    gemm({
      transA: false,
      transB: false,
      m: t,
      n: hd,
      k: len,
      alpha: 1,
      a: probs,
      aOffset: 0,
      lda: len,
      b: values,
      bOffset: ko,
      ldb: kvDim,
      beta: 0,
      c: out,
      cOffset: h * hd,
      ldc: qDim,
    });
    for (let i = 0; i < t; i++) {
      const r = invSum[i]!,
        ob = i * qDim + h * hd;
      for (let d = 0; d < hd; d++) out[ob + d]! *= r;
    }
  }
}
