import {
  ArgumentError, ShapeError, NonFiniteError, DenseLinear, Tensor, Fp32KVCache, resolveBackend,
  type Backend, type LinearLayer, type KVCacheLike,
} from '@llmpress/tensor';
import { validateConfig, type LlamaConfig } from './config.js';

export type LinearRole = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
export const LINEAR_ROLES: readonly LinearRole[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
export type NormSite = 'attn' | 'ffn' | 'final';

export interface LlamaBlock {
  attnNorm: Float32Array;
  ffnNorm: Float32Array;
  q: LinearLayer; k: LinearLayer; v: LinearLayer; o: LinearLayer;
  gate: LinearLayer; up: LinearLayer; down: LinearLayer;
}

export interface LinearEntry { name: string; block: number; role: LinearRole; layer: LinearLayer }

/** The KV-cache contract and the one fp32 cache live in @llmpress/tensor (kv-cache.ts); re-exported here. */
export { Fp32KVCache, attendGemm, type KVCacheLike } from '@llmpress/tensor';

/**
 * Hooks into the forward pass. Tensors handed to hooks are fresh per call (safe to keep), f32, [T, n].
 * `block` is the block index; for the final norm it is `nLayers`.
 */
export interface ForwardHooks {
  /** Input of each linear layer (q, k and v see the same tensor). */
  onLinearInput?(name: string, role: LinearRole, block: number, x: Tensor<'f32'>): void;
  /** The residual stream entering an RMSNorm (what QUAD-style methods look at). */
  onNormInput?(block: number, which: NormSite, x: Tensor<'f32'>): void;
  /** The RMSNorm output (= the input of the q/k/v or gate/up linears, or of the head). */
  onNormOutput?(block: number, which: NormSite, h: Tensor<'f32'>): void;
  /** Post-RoPE keys of the new tokens, [T, nKvHeads*headDim]. */
  onKeys?(block: number, k: Tensor<'f32'>): void;
  /** Values of the new tokens, [T, nKvHeads*headDim]. */
  onValues?(block: number, v: Tensor<'f32'>): void;
  /** The residual stream after the block. */
  onBlockOutput?(block: number, x: Tensor<'f32'>): void;
}

export interface ForwardOptions {
  backend?: Backend;
  /** KV cache to read from and append to (incremental decoding). Default: a fresh Fp32KVCache. */
  cache?: KVCacheLike;
  hooks?: ForwardHooks;
  /** 'all' (default): logits for every position, [T, vocab]; 'last': only the last position, [1, vocab]. */
  logits?: 'all' | 'last';
}

// ------------------------------------------------------------------ numerics helpers

/** out[i,:] = w ⊙ x[i,:] / sqrt(mean(x[i,:]²) + eps) (run.c's rmsnorm, accumulated in f64). */
export function rmsnorm(x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number, out = new Float32Array(rows * dim)): Float32Array {
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    let ss = 0;
    for (let d = 0; d < dim; d++) { const v = x[o + d]!; ss += v * v; }
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let d = 0; d < dim; d++) out[o + d] = w[d]! * (inv * x[o + d]!);
  }
  return out;
}

/** RoPE tables cos/sin[pos * half + i], grown on demand. */
export class RopeTable {
  readonly headDim: number;
  readonly theta: number;
  cos = new Float64Array(0);
  sin = new Float64Array(0);
  private n = 0;
  constructor(headDim: number, theta: number) { this.headDim = headDim; this.theta = theta; }
  ensure(positions: number): void {
    if (positions <= this.n) return;
    const half = this.headDim / 2;
    const n = Math.max(positions, 2 * this.n, 64);
    const c = new Float64Array(n * half), s = new Float64Array(n * half);
    for (let i = 0; i < half; i++) {
      const freq = 1 / Math.pow(this.theta, (2 * i) / this.headDim);
      for (let p = 0; p < n; p++) { const a = p * freq; c[p * half + i] = Math.cos(a); s[p * half + i] = Math.sin(a); }
    }
    this.cos = c; this.sin = s; this.n = n;
  }
  /** Rotates rows of x ([t, nHeads*headDim]) in place; row r sits at position pos0 + r. */
  apply(x: Float32Array, t: number, nHeads: number, pos0: number, style: 'interleaved' | 'half'): void {
    this.ensure(pos0 + t);
    const hd = this.headDim, half = hd / 2, width = nHeads * hd;
    const C = this.cos, S = this.sin;
    for (let r = 0; r < t; r++) {
      const tb = (pos0 + r) * half;
      for (let h = 0; h < nHeads; h++) {
        const b = r * width + h * hd;
        if (style === 'interleaved') {
          for (let i = 0; i < half; i++) {
            const c = C[tb + i]!, s = S[tb + i]!;
            const a0 = x[b + 2 * i]!, a1 = x[b + 2 * i + 1]!;
            x[b + 2 * i] = a0 * c - a1 * s;
            x[b + 2 * i + 1] = a0 * s + a1 * c;
          }
        } else {
          for (let i = 0; i < half; i++) {
            const c = C[tb + i]!, s = S[tb + i]!;
            const a0 = x[b + i]!, a1 = x[b + i + half]!;
            x[b + i] = a0 * c - a1 * s;
            x[b + i + half] = a1 * c + a0 * s;
          }
        }
      }
    }
  }
}

function f32(data: Float32Array, rows: number, cols: number): Tensor<'f32'> { return new Tensor('f32', data, [rows, cols]); }

function linearOut(fn: string, name: string, layer: LinearLayer, x: Tensor<'f32'>, backend: Backend): Float32Array {
  const y = layer.forward(x, { backend });
  if (y.ndim !== 2 || y.shape[0] !== x.shape[0] || y.shape[1] !== layer.outFeatures) {
    throw new ShapeError(fn, `layer '${name}' (${layer.kind}) returned shape [${y.shape.join(', ')}], expected [${x.shape[0]}, ${layer.outFeatures}]`);
  }
  return y.contiguous().data as Float32Array;
}

// ------------------------------------------------------------------ the model

export interface LlamaParts {
  embedding: Tensor<'f32'>;
  blocks: LlamaBlock[];
  finalNorm: Float32Array;
  /** Default for tied models: DenseLinear over the embedding. */
  lmHead?: LinearLayer;
}

const NAME_RE = /^blocks\.(\d+)\.(q|k|v|o|gate|up|down)$/;

export class LlamaModel {
  readonly config: LlamaConfig;
  embedding: Tensor<'f32'>;
  blocks: LlamaBlock[];
  finalNorm: Float32Array;
  lmHead: LinearLayer;
  private rope: RopeTable;

  constructor(config: LlamaConfig, parts: LlamaParts) {
    const fn = 'LlamaModel';
    validateConfig(fn, config);
    this.config = { ...config };
    const c = this.config;
    const e = parts.embedding;
    if (!e || e.dtype !== 'f32' || e.ndim !== 2 || e.shape[0] !== c.vocabSize || e.shape[1] !== c.dim) {
      throw new ArgumentError(fn, 'parts.embedding', e, `must be an f32 tensor [vocabSize=${c.vocabSize}, dim=${c.dim}]`);
    }
    this.embedding = e.contiguous();
    if (!Array.isArray(parts.blocks) || parts.blocks.length !== c.nLayers) throw new ArgumentError(fn, 'parts.blocks', parts.blocks, `must be an array of nLayers = ${c.nLayers} blocks`);
    this.blocks = parts.blocks;
    const qDim = c.nHeads * c.headDim, kvDim = c.nKvHeads * c.headDim;
    const expect: Record<LinearRole, [number, number]> = {
      q: [c.dim, qDim], k: [c.dim, kvDim], v: [c.dim, kvDim], o: [qDim, c.dim],
      gate: [c.dim, c.hiddenDim], up: [c.dim, c.hiddenDim], down: [c.hiddenDim, c.dim],
    };
    this.blocks.forEach((b, i) => {
      for (const r of LINEAR_ROLES) {
        const L = b[r];
        const [inF, outF] = expect[r];
        if (!L || typeof L.forward !== 'function' || L.inFeatures !== inF || L.outFeatures !== outF) {
          throw new ArgumentError(fn, `parts.blocks[${i}].${r}`, L, `must be a LinearLayer with inFeatures ${inF} and outFeatures ${outF}`);
        }
      }
      if (!(b.attnNorm instanceof Float32Array) || b.attnNorm.length !== c.dim) throw new ArgumentError(fn, `parts.blocks[${i}].attnNorm`, b.attnNorm, `must be a Float32Array of length ${c.dim}`);
      if (!(b.ffnNorm instanceof Float32Array) || b.ffnNorm.length !== c.dim) throw new ArgumentError(fn, `parts.blocks[${i}].ffnNorm`, b.ffnNorm, `must be a Float32Array of length ${c.dim}`);
    });
    if (!(parts.finalNorm instanceof Float32Array) || parts.finalNorm.length !== c.dim) throw new ArgumentError(fn, 'parts.finalNorm', parts.finalNorm, `must be a Float32Array of length ${c.dim}`);
    this.finalNorm = parts.finalNorm;
    const head = parts.lmHead ?? (c.tiedEmbeddings ? new DenseLinear(this.embedding) : undefined);
    if (!head) throw new ArgumentError(fn, 'parts.lmHead', head, 'is required when config.tiedEmbeddings is false');
    if (head.inFeatures !== c.dim || head.outFeatures !== c.vocabSize) throw new ArgumentError(fn, 'parts.lmHead', head, `must map dim ${c.dim} to vocabSize ${c.vocabSize}`);
    this.lmHead = head;
    this.rope = new RopeTable(c.headDim, c.ropeTheta);
  }

  /** Every per-block linear layer, in block order then q, k, v, o, gate, up, down. */
  linears(): LinearEntry[] {
    const out: LinearEntry[] = [];
    this.blocks.forEach((b, i) => { for (const r of LINEAR_ROLES) out.push({ name: `blocks.${i}.${r}`, block: i, role: r, layer: b[r] }); });
    return out;
  }

  /** Parses 'blocks.3.q' → { block: 3, role: 'q' } (throws on anything else). */
  static parseLinearName(fn: string, name: string, nLayers: number): { block: number; role: LinearRole } {
    const m = typeof name === 'string' ? NAME_RE.exec(name) : null;
    if (!m) throw new ArgumentError(fn, 'name', name, "must look like 'blocks.<i>.<q|k|v|o|gate|up|down>'");
    const block = Number(m[1]);
    if (block >= nLayers) throw new ArgumentError(fn, 'name', name, `names block ${block} but the model has ${nLayers} blocks`);
    return { block, role: m[2] as LinearRole };
  }

  getLinear(name: string): LinearLayer {
    const { block, role } = LlamaModel.parseLinearName('LlamaModel.getLinear', name, this.config.nLayers);
    return this.blocks[block]![role];
  }

  /** Replaces one linear layer; its in/out features must match the one it replaces. */
  setLinear(name: string, layer: LinearLayer): void {
    const fn = 'LlamaModel.setLinear';
    const { block, role } = LlamaModel.parseLinearName(fn, name, this.config.nLayers);
    const old = this.blocks[block]![role];
    if (!layer || typeof layer.forward !== 'function') throw new ArgumentError(fn, 'layer', layer, 'must be a LinearLayer');
    if (layer.inFeatures !== old.inFeatures || layer.outFeatures !== old.outFeatures) {
      throw new ArgumentError(fn, 'layer', `${layer.kind} ${layer.outFeatures}x${layer.inFeatures}`, `must have inFeatures ${old.inFeatures} and outFeatures ${old.outFeatures} like '${name}'`);
    }
    this.blocks[block]![role] = layer;
  }

  /** A copy whose blocks and norm vectors are its own: replacing layers in it leaves this model intact.
   *  Layer objects (immutable by contract) and the embedding storage are shared. */
  clone(): LlamaModel {
    const tied = this.config.tiedEmbeddings && this.lmHead instanceof DenseLinear && this.lmHead.weight === this.embedding;
    return new LlamaModel(this.config, {
      embedding: this.embedding,
      blocks: this.blocks.map((b) => ({ ...b, attnNorm: b.attnNorm.slice(), ffnNorm: b.ffnNorm.slice() })),
      finalNorm: this.finalNorm.slice(),
      lmHead: tied ? undefined : this.lmHead,
    });
  }

  /** Whether the head is the embedding itself (not stored twice). */
  headIsTied(): boolean { return this.lmHead instanceof DenseLinear && this.lmHead.weight === this.embedding; }

  /** Stored bytes of the per-block linear layers (what compression methods shrink). */
  linearBytes(): number { let s = 0; for (const e of this.linears()) s += e.layer.bytes(); return s; }

  /** Every stored byte: embedding, norms, all linears, and the head unless it is the tied embedding. */
  storedBytes(): number {
    const c = this.config;
    let s = this.embedding.size * 4 + 4 * (2 * c.nLayers * c.dim + c.dim) + this.linearBytes();
    if (!this.headIsTied()) s += this.lmHead.bytes();
    return s;
  }

  /** 8 · linearBytes / (Σ in·out of the per-block linears): 32 for the dense f32 model. */
  effectiveBitsPerWeight(): number {
    let w = 0;
    for (const e of this.linears()) w += e.layer.inFeatures * e.layer.outFeatures;
    return (8 * this.linearBytes()) / w;
  }

  /** Total dense parameter count (embedding, norms, linears, untied head). */
  denseParams(): number {
    const c = this.config;
    let p = this.embedding.size + 2 * c.nLayers * c.dim + c.dim;
    for (const e of this.linears()) p += e.layer.inFeatures * e.layer.outFeatures;
    if (!this.headIsTied()) p += c.dim * c.vocabSize;
    return p;
  }

  private checkTokens(fn: string, tokens: readonly number[]): void {
    if (!Array.isArray(tokens) || tokens.length === 0) throw new ArgumentError(fn, 'tokens', tokens, 'must be a non-empty array of token ids');
    const V = this.config.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new ArgumentError(fn, `tokens[${i}]`, t, `must be an integer in [0, ${V})`);
    }
  }

  /** Embedding rows of the tokens: the residual stream entering block 0, [T*dim]. */
  embed(tokens: readonly number[]): Float32Array {
    this.checkTokens('LlamaModel.embed', tokens);
    const dim = this.config.dim;
    const x = new Float32Array(tokens.length * dim);
    const E = this.embedding.data;
    for (let i = 0; i < tokens.length; i++) x.set(E.subarray(tokens[i]! * dim, tokens[i]! * dim + dim), i * dim);
    return x;
  }

  /**
   * Runs block `b` on the residual stream x ([t, dim], updated in place) of t tokens at positions
   * pos0..pos0+t-1, where pos0 = cache.length(b) before the call.
   */
  runBlock(b: number, x: Float32Array, t: number, cache: KVCacheLike, options: { backend?: Backend; hooks?: ForwardHooks } = {}): void {
    const fn = 'LlamaModel.forward';
    const c = this.config, dim = c.dim, hd = c.headDim;
    const backend = resolveBackend(fn, options.backend);
    const hooks = options.hooks;
    const blk = this.blocks[b]!;
    const pre = `blocks.${b}.`;
    const pos0 = cache.length(b);
    hooks?.onNormInput?.(b, 'attn', f32(x.slice(), t, dim));
    const hA = f32(rmsnorm(x, blk.attnNorm, t, dim, c.normEps), t, dim);
    hooks?.onNormOutput?.(b, 'attn', hA);
    if (hooks?.onLinearInput) { hooks.onLinearInput(pre + 'q', 'q', b, hA); hooks.onLinearInput(pre + 'k', 'k', b, hA); hooks.onLinearInput(pre + 'v', 'v', b, hA); }
    const q = linearOut(fn, pre + 'q', blk.q, hA, backend);
    const k = linearOut(fn, pre + 'k', blk.k, hA, backend);
    const v = linearOut(fn, pre + 'v', blk.v, hA, backend);
    this.rope.apply(q, t, c.nHeads, pos0, c.ropeStyle);
    this.rope.apply(k, t, c.nKvHeads, pos0, c.ropeStyle);
    hooks?.onKeys?.(b, f32(k, t, c.nKvHeads * hd));
    hooks?.onValues?.(b, f32(v, t, c.nKvHeads * hd));
    cache.append(b, k, v, t);
    if (cache.length(b) !== pos0 + t) throw new ShapeError(fn, `cache length of layer ${b} is ${cache.length(b)} after appending ${t} tokens to ${pos0}`);
    const att = cache.attend(b, q, t);
    if (!(att instanceof Float32Array) || att.length !== t * c.nHeads * hd) throw new ShapeError(fn, `cache.attend(${b}) returned ${att?.length} values, expected ${t * c.nHeads * hd}`);
    const attT = f32(att, t, c.nHeads * hd);
    hooks?.onLinearInput?.(pre + 'o', 'o', b, attT);
    const o = linearOut(fn, pre + 'o', blk.o, attT, backend);
    for (let i = 0; i < t * dim; i++) x[i]! += o[i]!;
    hooks?.onNormInput?.(b, 'ffn', f32(x.slice(), t, dim));
    const hF = f32(rmsnorm(x, blk.ffnNorm, t, dim, c.normEps), t, dim);
    hooks?.onNormOutput?.(b, 'ffn', hF);
    if (hooks?.onLinearInput) { hooks.onLinearInput(pre + 'gate', 'gate', b, hF); hooks.onLinearInput(pre + 'up', 'up', b, hF); }
    const g = linearOut(fn, pre + 'gate', blk.gate, hF, backend);
    const u = linearOut(fn, pre + 'up', blk.up, hF, backend);
    const act = new Float32Array(t * c.hiddenDim);
    for (let i = 0; i < act.length; i++) { const gv = g[i]!; act[i] = (gv / (1 + Math.exp(-gv))) * u[i]!; }
    const actT = f32(act, t, c.hiddenDim);
    hooks?.onLinearInput?.(pre + 'down', 'down', b, actT);
    const d = linearOut(fn, pre + 'down', blk.down, actT, backend);
    for (let i = 0; i < t * dim; i++) x[i]! += d[i]!;
    hooks?.onBlockOutput?.(b, f32(x.slice(), t, dim));
  }

  /** Final RMSNorm + head on the residual stream x ([t, dim]): logits [t, vocab]. */
  head(x: Float32Array, t: number, options: { backend?: Backend; hooks?: ForwardHooks } = {}): Tensor<'f32'> {
    const c = this.config;
    const backend = resolveBackend('LlamaModel.forward', options.backend);
    options.hooks?.onNormInput?.(c.nLayers, 'final', f32(x.slice(0, t * c.dim), t, c.dim));
    const h = f32(rmsnorm(x, this.finalNorm, t, c.dim, c.normEps), t, c.dim);
    options.hooks?.onNormOutput?.(c.nLayers, 'final', h);
    const y = linearOut('LlamaModel.forward', 'lmHead', this.lmHead, h, backend);
    return f32(y, t, c.vocabSize);
  }

  /**
   * Logits of the tokens. Without `cache` the tokens are scored as one fresh window (positions 0..T-1);
   * with a cache they continue it (positions cache.length .. +T-1) and their keys/values are appended.
   */
  forward(tokens: readonly number[], options: ForwardOptions = {}): Tensor<'f32'> {
    const fn = 'LlamaModel.forward';
    this.checkTokens(fn, tokens);
    const c = this.config;
    const t = tokens.length;
    const cache = options.cache ?? new Fp32KVCache(c, { capacity: t, backend: resolveBackend(fn, options.backend) });
    const pos0 = cache.length(0);
    for (let l = 1; l < c.nLayers; l++) if (cache.length(l) !== pos0) throw new ArgumentError(fn, 'options.cache', `lengths ${cache.length(0)} and ${cache.length(l)}`, 'must hold the same number of tokens in every layer');
    const x = this.embed(tokens);
    for (let b = 0; b < c.nLayers; b++) this.runBlock(b, x, t, cache, options);
    const logits = options.logits === 'last'
      ? this.head(x.subarray((t - 1) * c.dim, t * c.dim), 1, options)
      : this.head(x, t, options);
    const L = logits.data;
    for (let i = 0; i < L.length; i++) if (!Number.isFinite(L[i]!)) throw new NonFiniteError(fn, 'logits', i, L[i]!);
    return logits;
  }
}

/** Builds a model of DenseLinear layers from plain weights (row-major [out, in] f32). */
export function denseBlock(w: {
  attnNorm: Float32Array; ffnNorm: Float32Array;
  q: Tensor<'f32'>; k: Tensor<'f32'>; v: Tensor<'f32'>; o: Tensor<'f32'>; gate: Tensor<'f32'>; up: Tensor<'f32'>; down: Tensor<'f32'>;
}): LlamaBlock {
  return {
    attnNorm: w.attnNorm, ffnNorm: w.ffnNorm,
    q: new DenseLinear(w.q), k: new DenseLinear(w.k), v: new DenseLinear(w.v), o: new DenseLinear(w.o),
    gate: new DenseLinear(w.gate), up: new DenseLinear(w.up), down: new DenseLinear(w.down),
  };
}

/**
 * A copy of the model whose dense weights (every DenseLinear, and the embedding, hence a tied head)
 * live in the backend's own memory (`backend.allocate`), so GEMMs skip the per-call copy-in. Other
 * layer kinds are kept as they are. Returns the model and a `release()` that frees those arrays.
 * Without `backend.allocate` the model is returned unchanged.
 */
export function placeOnBackend(model: LlamaModel, backend: Backend): { model: LlamaModel; release(): void } {
  const b = resolveBackend('placeOnBackend', backend);
  if (typeof b.allocate !== 'function') return { model, release() {} };
  const owned: Float32Array[] = [];
  const resident = (t: Tensor<'f32'>): Tensor<'f32'> => {
    const c = t.contiguous();
    const a = b.allocate!('f32', c.size) as Float32Array;
    a.set(c.data as Float32Array);
    owned.push(a);
    return new Tensor('f32', a, c.shape);
  };
  const tied = model.headIsTied();
  const embedding = resident(model.embedding);
  const seen = new Map<LinearLayer, LinearLayer>(); // layers shared between blocks are placed once
  const place = (L: LinearLayer): LinearLayer => {
    if (!(L instanceof DenseLinear)) return L;
    let r = seen.get(L);
    if (!r) { r = new DenseLinear(resident(L.weight)); seen.set(L, r); }
    return r;
  };
  const blocks = model.blocks.map((blk) => ({
    ...blk, attnNorm: blk.attnNorm.slice(), ffnNorm: blk.ffnNorm.slice(),
    q: place(blk.q), k: place(blk.k), v: place(blk.v), o: place(blk.o), gate: place(blk.gate), up: place(blk.up), down: place(blk.down),
  }));
  const m = new LlamaModel(model.config, { embedding, blocks, finalNorm: model.finalNorm.slice(), lmHead: tied ? undefined : place(model.lmHead) });
  return { model: m, release() { for (const a of owned.splice(0)) b.release?.(a); } };
}
