import { ArgumentError, NonFiniteError, ShapeError } from '@llmpress/tensor';
import type { CacheShape, KVCacheLike } from './types.js';
import { fp32Values, type CodecContext, type KeyCodec, type KeyCodecState, type ValueCodec, type ValueCodecState } from './codecs.js';
import type { ScaleDType } from './quant.js';

export interface CompressedCacheOptions {
  /** Key codec (e.g. `svdqKeys(...)`, `kiviKeys(...)`). */
  keys: KeyCodec;
  /** Value codec, default `fp32Values()`. */
  values?: ValueCodec;
  /** Most recent tokens kept in full precision (KIVI's residual), default 32. */
  window?: number;
  /** Tokens per quantization block (multiple of 8), default 32. Blocks are quantized as they leave the window. */
  blockSize?: number;
  /** Center keys with a per-head mean μ before quantization (same μ for the fp window), default false. */
  center?: boolean;
  /** Longest context the cache will hold (appending past it throws); `window` must not exceed it. */
  maxContext?: number;
  /** Attend only to the top `keep` fraction (0 < keep ≤ 1) of quantized tokens, scored with the latent keys; the fp window is always attended. */
  sparsity?: { keep: number };
  /** Storage dtype of quantization (min, scale) pairs, default 'f16'. */
  scaleDType?: ScaleDType;
}

/** Exact storage of a cache, in bytes. */
export interface CacheBytes {
  /** Cached tokens per layer, summed over layers. */
  tokens: number;
  keyCodes: number;
  keyScales: number;
  keyBasis: number;
  keyWindow: number;
  keyMean: number;
  valueCodes: number;
  valueScales: number;
  valueWindow: number;
  keyBytes: number;
  valueBytes: number;
  total: number;
  /** keyBytes·8 / (tokens · nKvHeads · headDim): every scale, basis, mean and window byte counted. */
  keyBitsPerElement: number;
  valueBitsPerElement: number;
  /** Full-precision copies of tokens quantized by the last append, kept until the following `attend` (not in the totals). */
  transient: number;
}

interface HeadState {
  k: KeyCodecState;
  v: ValueCodecState;
  mean: Float32Array | null;
}
interface LayerState {
  len: number;
  /** First token held in the fp buffers (≤ nq: tokens in [fpStart, nq) are transient fp copies). */
  fpStart: number;
  /** Quantized tokens (a multiple of blockSize). */
  nq: number;
  fitted: boolean;
  /** fp buffers, token-major `[token - fpStart, nKvHeads·headDim]`, keys centered once fitted. */
  fpK: Float32Array;
  fpV: Float32Array;
  heads: HeadState[];
}

function checkShape(fn: string, shape: CacheShape): void {
  if (!shape || typeof shape !== 'object') throw new ArgumentError(fn, 'shape', shape, 'must be { nLayers, nHeads, nKvHeads, headDim }');
  for (const key of ['nLayers', 'nHeads', 'nKvHeads', 'headDim'] as const) {
    const x = shape[key];
    if (!Number.isInteger(x) || x < 1) throw new ArgumentError(fn, `shape.${key}`, x, 'must be a positive integer');
  }
  if (shape.nHeads % shape.nKvHeads !== 0) throw new ArgumentError(fn, 'shape.nKvHeads', shape.nKvHeads, `must divide nHeads = ${shape.nHeads}`);
}

function checkFinite(fn: string, arg: string, x: Float32Array): void {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) throw new NonFiniteError(fn, arg, i, x[i]!);
}

/**
 * Shared attention kernel of both caches: softmax(q·kᵀ/√d) v for one query over `n` tokens whose scores
 * are in `sc[0..n)`; the first `nq` of them are quantized and may be sparsified (top `keep` fraction).
 * Returns the softmax weights in `sc` (zeros for dropped tokens).
 */
function softmaxInPlace(sc: Float32Array, n: number, nq: number, keep: number, scale: number, sel: Float32Array): void {
  for (let j = 0; j < n; j++) sc[j] = sc[j]! * scale;
  if (keep < 1 && nq > 0) {
    const k = Math.max(1, Math.ceil(keep * nq));
    if (k < nq) {
      // threshold = k-th largest score among the quantized tokens (quickselect on a copy)
      for (let j = 0; j < nq; j++) sel[j] = sc[j]!;
      const th = kthLargest(sel, nq, k);
      let taken = 0;
      for (let j = 0; j < nq; j++) if (sc[j]! > th) taken++;
      let ties = k - taken;
      for (let j = 0; j < nq; j++) {
        const s = sc[j]!;
        if (s > th) continue;
        if (s === th && ties > 0) {
          ties--;
          continue;
        }
        sc[j] = -Infinity;
      }
    }
  }
  let mx = -Infinity;
  for (let j = 0; j < n; j++) if (sc[j]! > mx) mx = sc[j]!;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const e = Math.exp(sc[j]! - mx);
    sc[j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let j = 0; j < n; j++) sc[j] = sc[j]! * inv;
}

/** k-th largest of a[0..n) (1-based k), reorders a. Iterative quickselect: O(n) expected, never recursion. */
export function kthLargest(a: Float32Array, n: number, k: number): number {
  let lo = 0,
    hi = n - 1;
  const target = k - 1;
  let guard = 0;
  while (lo < hi) {
    if (++guard > 4 * n + 64) break; // cannot happen with a middle pivot; guard against hangs anyway
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo,
      j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/**
 * A KV cache per layer and KV head with pluggable key and value codecs. Tokens enter a full-precision
 * window; whenever the window holds `window + blockSize` tokens its oldest `blockSize` are encoded as one
 * block (real packed bits). `attend` emulates decoding exactly: query i (position p) sees the tokens
 * that were quantized by the time p was appended, and the rest in full precision.
 */
export class CompressedKVCache implements KVCacheLike {
  readonly shape: CacheShape;
  readonly window: number;
  readonly blockSize: number;
  readonly center: boolean;
  readonly maxContext: number;
  readonly keep: number;
  readonly keyCodec: KeyCodec;
  readonly valueCodec: ValueCodec;
  private readonly layers: LayerState[];
  private readonly kvDim: number;
  private sc = new Float32Array(64);
  private sel = new Float32Array(64);
  private qp: Float32Array;
  private acc: Float64Array;

  constructor(shape: CacheShape, options: CompressedCacheOptions) {
    const fn = 'CompressedKVCache';
    checkShape(fn, shape);
    if (!options || typeof options !== 'object' || !options.keys || typeof options.keys.create !== 'function')
      throw new ArgumentError(fn, 'options.keys', options?.keys, 'must be a KeyCodec (e.g. svdqKeys(...), kiviKeys(...))');
    const window = options.window ?? 32,
      B = options.blockSize ?? 32;
    if (!Number.isInteger(window) || window < 0) throw new ArgumentError(fn, 'options.window', window, 'must be a non-negative integer');
    if (!Number.isInteger(B) || B < 8 || B % 8 !== 0) throw new ArgumentError(fn, 'options.blockSize', B, 'must be a positive multiple of 8');
    const maxContext = options.maxContext ?? Infinity;
    if (maxContext !== Infinity && (!Number.isInteger(maxContext) || maxContext < 1))
      throw new ArgumentError(fn, 'options.maxContext', maxContext, 'must be a positive integer');
    if (window > maxContext) throw new ArgumentError(fn, 'options.window', window, `must not exceed the context length maxContext = ${maxContext}`);
    const keep = options.sparsity?.keep ?? 1;
    if (!(keep > 0 && keep <= 1)) throw new ArgumentError(fn, 'options.sparsity.keep', keep, 'must be in (0, 1]');
    const scaleDType = options.scaleDType ?? 'f16';
    if (scaleDType !== 'f16' && scaleDType !== 'f32') throw new ArgumentError(fn, 'options.scaleDType', scaleDType, "must be 'f16' or 'f32'");
    this.shape = { nLayers: shape.nLayers, nHeads: shape.nHeads, nKvHeads: shape.nKvHeads, headDim: shape.headDim };
    this.window = window;
    this.blockSize = B;
    this.center = options.center ?? false;
    this.maxContext = maxContext;
    this.keep = keep;
    this.keyCodec = options.keys;
    this.valueCodec = options.values ?? fp32Values();
    this.kvDim = shape.nKvHeads * shape.headDim;
    this.layers = [];
    for (let l = 0; l < shape.nLayers; l++) {
      const heads: HeadState[] = [];
      for (let h = 0; h < shape.nKvHeads; h++) {
        const ctx: CodecContext = { layer: l, head: h, headDim: shape.headDim, blockSize: B, scaleDType };
        heads.push({ k: this.keyCodec.create(ctx), v: this.valueCodec.create(ctx), mean: null });
      }
      this.layers.push({ len: 0, fpStart: 0, nq: 0, fitted: false, fpK: new Float32Array(this.kvDim * 16), fpV: new Float32Array(this.kvDim * 16), heads });
    }
    this.qp = new Float32Array(shape.headDim);
    this.acc = new Float64Array(shape.headDim);
  }

  private layer(fn: string, layer: number): LayerState {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.shape.nLayers)
      throw new ArgumentError(fn, 'layer', layer, `must be an integer in [0, ${this.shape.nLayers})`);
    return this.layers[layer]!;
  }

  length(layer: number): number {
    return this.layer('CompressedKVCache.length', layer).len;
  }

  /** Quantized tokens visible to a query whose own token makes the cache `n` long. */
  private quantizedAt(n: number): number {
    const over = n - this.window;
    return over < this.blockSize ? 0 : Math.floor(over / this.blockSize) * this.blockSize;
  }

  private dropTransient(L: LayerState): void {
    if (L.fpStart === L.nq) return;
    const drop = (L.nq - L.fpStart) * this.kvDim,
      keepN = (L.len - L.nq) * this.kvDim;
    L.fpK.copyWithin(0, drop, drop + keepN);
    L.fpV.copyWithin(0, drop, drop + keepN);
    L.fpStart = L.nq;
  }

  append(layer: number, k: Float32Array, v: Float32Array, t: number): void {
    const fn = 'CompressedKVCache.append';
    const L = this.layer(fn, layer);
    if (!Number.isInteger(t) || t < 0) throw new ArgumentError(fn, 't', t, 'must be a non-negative integer');
    if (!(k instanceof Float32Array)) throw new ArgumentError(fn, 'k', k, 'must be a Float32Array');
    if (!(v instanceof Float32Array)) throw new ArgumentError(fn, 'v', v, 'must be a Float32Array');
    if (k.length !== t * this.kvDim)
      throw new ShapeError(fn, `argument 'k' must have shape [t, nKvHeads*headDim] = [${t}, ${this.kvDim}] (${t * this.kvDim} values), got ${k.length} values`);
    if (v.length !== t * this.kvDim)
      throw new ShapeError(fn, `argument 'v' must have shape [t, nKvHeads*headDim] = [${t}, ${this.kvDim}] (${t * this.kvDim} values), got ${v.length} values`);
    if (L.len + t > this.maxContext) throw new ArgumentError(fn, 't', t, `would grow layer ${layer} past maxContext = ${this.maxContext} (holds ${L.len})`);
    checkFinite(fn, 'k', k);
    checkFinite(fn, 'v', v);
    if (t === 0) return;
    this.dropTransient(L);
    const kvDim = this.kvDim,
      d = this.shape.headDim;
    const have = (L.len - L.fpStart) * kvDim,
      need = have + t * kvDim;
    if (need > L.fpK.length) {
      const cap = Math.max(need, 2 * L.fpK.length);
      const nk = new Float32Array(cap);
      nk.set(L.fpK.subarray(0, have));
      L.fpK = nk;
      const nv = new Float32Array(cap);
      nv.set(L.fpV.subarray(0, have));
      L.fpV = nv;
    }
    L.fpK.set(k, have);
    L.fpV.set(v, have);
    if (L.fitted) {
      for (let h = 0; h < L.heads.length; h++) {
        const mu = L.heads[h]!.mean;
        if (!mu) continue;
        for (let r = 0; r < t; r++) {
          const o = have + r * kvDim + h * d;
          for (let i = 0; i < d; i++) L.fpK[o + i] -= mu[i]!;
        }
      }
    }
    L.len += t;
    const target = this.quantizedAt(L.len);
    if (target > L.nq && !L.fitted) this.fit(L);
    const B = this.blockSize,
      block = new Float32Array(B * d),
      vblock = new Float32Array(B * d);
    while (L.nq < target) {
      const row0 = L.nq - L.fpStart;
      for (let h = 0; h < L.heads.length; h++) {
        const H = L.heads[h]!;
        for (let r = 0; r < B; r++) {
          const o = (row0 + r) * kvDim + h * d;
          block.set(L.fpK.subarray(o, o + d), r * d);
          vblock.set(L.fpV.subarray(o, o + d), r * d);
        }
        H.k.encodeBlock(block, 0);
        H.v.encodeBlock(vblock, 0);
      }
      L.nq += B;
    }
  }

  private fit(L: LayerState): void {
    const d = this.shape.headDim,
      kvDim = this.kvDim,
      n = L.len - L.fpStart;
    const keys = new Float32Array(n * d);
    for (let h = 0; h < L.heads.length; h++) {
      const H = L.heads[h]!;
      for (let r = 0; r < n; r++) keys.set(L.fpK.subarray(r * kvDim + h * d, r * kvDim + h * d + d), r * d);
      const mu = H.k.fit(keys, n, this.center);
      if (mu) {
        if (mu.length !== d)
          throw new ShapeError('CompressedKVCache.append', `key codec '${this.keyCodec.name}' returned a mean of length ${mu.length}, expected ${d}`);
        H.mean = mu;
        for (let r = 0; r < n; r++) {
          const o = r * kvDim + h * d;
          for (let i = 0; i < d; i++) L.fpK[o + i] -= mu[i]!;
        }
      }
    }
    L.fitted = true;
  }

  attend(layer: number, q: Float32Array, t: number): Float32Array {
    const fn = 'CompressedKVCache.attend';
    const L = this.layer(fn, layer);
    const { nHeads, nKvHeads, headDim: d } = this.shape;
    if (!Number.isInteger(t) || t < 0 || t > L.len)
      throw new ArgumentError(fn, 't', t, `must be an integer in [0, ${L.len}] (tokens cached in layer ${layer})`);
    if (!(q instanceof Float32Array) || q.length !== t * nHeads * d)
      throw new ShapeError(
        fn,
        `argument 'q' must have shape [t, nHeads*headDim] = [${t}, ${nHeads * d}], got ${q instanceof Float32Array ? q.length + ' values' : typeof q}`,
      );
    if (this.sc.length < L.len) {
      this.sc = new Float32Array(L.len * 2);
      this.sel = new Float32Array(L.len * 2);
    }
    const out = new Float32Array(t * nHeads * d);
    const group = nHeads / nKvHeads,
      scale = 1 / Math.sqrt(d),
      kvDim = this.kvDim,
      B = this.blockSize;
    const sc = this.sc,
      acc = this.acc;
    if (this.qp.length < L.heads[0]!.k.queryDim) this.qp = new Float32Array(L.heads[0]!.k.queryDim);
    const qp = this.qp;
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / group),
        H = L.heads[g]!;
      for (let i = 0; i < t; i++) {
        const p = L.len - t + i;
        const nv = Math.max(this.quantizedAt(p + 1), L.fpStart);
        const qo = (i * nHeads + h) * d;
        if (nv > 0) {
          H.k.prepareQuery(q, qo, qp);
          H.k.scores(qp, nv / B, sc);
        }
        for (let j = nv; j <= p; j++) {
          const o = (j - L.fpStart) * kvDim + g * d;
          let s = 0;
          for (let c = 0; c < d; c++) s += q[qo + c]! * L.fpK[o + c]!;
          sc[j] = s;
        }
        softmaxInPlace(sc, p + 1, nv, this.keep, scale, this.sel);
        acc.fill(0);
        if (nv > 0) H.v.accumulate(sc, nv / B, acc);
        for (let j = nv; j <= p; j++) {
          const w = sc[j]!,
            o = (j - L.fpStart) * kvDim + g * d;
          for (let c = 0; c < d; c++) acc[c] += w * L.fpV[o + c]!;
        }
        for (let c = 0; c < d; c++) out[qo + c] = acc[c]!;
      }
    }
    if (layer >= 0) this.dropTransient(L);
    return out;
  }

  /** Exact storage, in bytes, with bits per element. */
  bytes(): CacheBytes {
    const d = this.shape.headDim,
      H = this.shape.nKvHeads;
    const r: CacheBytes = {
      tokens: 0,
      keyCodes: 0,
      keyScales: 0,
      keyBasis: 0,
      keyWindow: 0,
      keyMean: 0,
      valueCodes: 0,
      valueScales: 0,
      valueWindow: 0,
      keyBytes: 0,
      valueBytes: 0,
      total: 0,
      keyBitsPerElement: 0,
      valueBitsPerElement: 0,
      transient: 0,
    };
    for (const L of this.layers) {
      r.tokens += L.len;
      const fpTokens = L.len - L.nq;
      r.keyWindow += fpTokens * H * d * 4;
      r.valueWindow += fpTokens * H * d * 4;
      r.transient += (L.nq - L.fpStart) * H * d * 8;
      for (const hs of L.heads) {
        const kb = hs.k.bytes(),
          vb = hs.v.bytes();
        r.keyCodes += kb.codes;
        r.keyScales += kb.scales;
        r.keyBasis += kb.basis;
        r.valueCodes += vb.codes;
        r.valueScales += vb.scales;
        if (hs.mean) r.keyMean += hs.mean.length * 4;
      }
    }
    r.keyBytes = r.keyCodes + r.keyScales + r.keyBasis + r.keyWindow + r.keyMean;
    r.valueBytes = r.valueCodes + r.valueScales + r.valueWindow;
    r.total = r.keyBytes + r.valueBytes;
    const elems = r.tokens * H * d;
    r.keyBitsPerElement = elems ? (r.keyBytes * 8) / elems : 0;
    r.valueBitsPerElement = elems ? (r.valueBytes * 8) / elems : 0;
    return r;
  }

  /** The codec state of one head (for inspection and tests). */
  head(layer: number, kvHead: number): { keys: KeyCodecState; values: ValueCodecState; mean: Float32Array | null; quantized: number } {
    const L = this.layer('CompressedKVCache.head', layer);
    if (!Number.isInteger(kvHead) || kvHead < 0 || kvHead >= this.shape.nKvHeads)
      throw new ArgumentError('CompressedKVCache.head', 'kvHead', kvHead, `must be an integer in [0, ${this.shape.nKvHeads})`);
    const H = L.heads[kvHead]!;
    return { keys: H.k, values: H.v, mean: H.mean, quantized: L.nq };
  }
}

/** The uncompressed fp32 cache is the one of @llmpress/tensor (also the forward pass's default). */
export { Fp32KVCache } from '@llmpress/tensor';
