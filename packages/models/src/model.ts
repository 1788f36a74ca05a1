/**
 * The Llama model: the forward pass over blocks (attention through the cache's `attend`, the one
 * KV-cache contract of @llmpress/tensor), hooks, and the linear-layer registry. Split by job:
 * `layers.ts` (roles, block record, RMSNorm, RoPE, denseBlock), `placement.ts` (placeOnBackend), and
 * the KV cache + attention routine in @llmpress/tensor (kv-cache.ts, attention.ts).
 */
import {
  ArgumentError,
  ShapeError,
  NonFiniteError,
  DenseLinear,
  type Tensor,
  Fp32KVCache,
  resolveBackend,
  type Backend,
  type LinearLayer,
  type KVCacheLike,
} from '@llmpress/tensor';
import { validateConfig, type LlamaConfig } from './config.js';
import { LINEAR_ROLES, RopeTable, f32, linearOut, rmsnorm, type LinearEntry, type LinearRole, type LlamaBlock, type NormSite } from './layers.js';

export { LINEAR_ROLES, rmsnorm, RopeTable, denseBlock, type LinearRole, type NormSite, type LlamaBlock, type LinearEntry } from './layers.js';
export { placeOnBackend } from './placement.js';
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
    if (!Array.isArray(parts.blocks) || parts.blocks.length !== c.nLayers)
      throw new ArgumentError(fn, 'parts.blocks', parts.blocks, `must be an array of nLayers = ${c.nLayers} blocks`);
    this.blocks = parts.blocks;
    const qDim = c.nHeads * c.headDim,
      kvDim = c.nKvHeads * c.headDim;
    const expect: Record<LinearRole, [number, number]> = {
      q: [c.dim, qDim],
      k: [c.dim, kvDim],
      v: [c.dim, kvDim],
      o: [qDim, c.dim],
      gate: [c.dim, c.hiddenDim],
      up: [c.dim, c.hiddenDim],
      down: [c.hiddenDim, c.dim],
    };
    this.blocks.forEach((b, i) => {
      for (const r of LINEAR_ROLES) {
        const L = b[r];
        const [inF, outF] = expect[r];
        if (!L || typeof L.forward !== 'function' || L.inFeatures !== inF || L.outFeatures !== outF) {
          throw new ArgumentError(fn, `parts.blocks[${i}].${r}`, L, `must be a LinearLayer with inFeatures ${inF} and outFeatures ${outF}`);
        }
      }
      if (!(b.attnNorm instanceof Float32Array) || b.attnNorm.length !== c.dim)
        throw new ArgumentError(fn, `parts.blocks[${i}].attnNorm`, b.attnNorm, `must be a Float32Array of length ${c.dim}`);
      if (!(b.ffnNorm instanceof Float32Array) || b.ffnNorm.length !== c.dim)
        throw new ArgumentError(fn, `parts.blocks[${i}].ffnNorm`, b.ffnNorm, `must be a Float32Array of length ${c.dim}`);
    });
    if (!(parts.finalNorm instanceof Float32Array) || parts.finalNorm.length !== c.dim)
      throw new ArgumentError(fn, 'parts.finalNorm', parts.finalNorm, `must be a Float32Array of length ${c.dim}`);
    this.finalNorm = parts.finalNorm;
    const head = parts.lmHead ?? (c.tiedEmbeddings ? new DenseLinear(this.embedding) : undefined);
    if (!head) throw new ArgumentError(fn, 'parts.lmHead', head, 'is required when config.tiedEmbeddings is false');
    if (head.inFeatures !== c.dim || head.outFeatures !== c.vocabSize)
      throw new ArgumentError(fn, 'parts.lmHead', head, `must map dim ${c.dim} to vocabSize ${c.vocabSize}`);
    this.lmHead = head;
    this.rope = new RopeTable(c.headDim, c.ropeTheta);
  }

  /** Every per-block linear layer, in block order then q, k, v, o, gate, up, down. */
  linears(): LinearEntry[] {
    const out: LinearEntry[] = [];
    this.blocks.forEach((b, i) => {
      for (const r of LINEAR_ROLES) out.push({ name: `blocks.${i}.${r}`, block: i, role: r, layer: b[r] });
    });
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
      throw new ArgumentError(
        fn,
        'layer',
        `${layer.kind} ${layer.outFeatures}x${layer.inFeatures}`,
        `must have inFeatures ${old.inFeatures} and outFeatures ${old.outFeatures} like '${name}'`,
      );
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
  headIsTied(): boolean {
    return this.lmHead instanceof DenseLinear && this.lmHead.weight === this.embedding;
  }

  /** Stored bytes of the per-block linear layers (what compression methods shrink). */
  linearBytes(): number {
    let s = 0;
    for (const e of this.linears()) s += e.layer.bytes();
    return s;
  }

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
    const c = this.config,
      dim = c.dim,
      hd = c.headDim;
    const backend = resolveBackend(fn, options.backend);
    const hooks = options.hooks;
    const blk = this.blocks[b]!;
    const pre = `blocks.${b}.`;
    const pos0 = cache.length(b);
    hooks?.onNormInput?.(b, 'attn', f32(x.slice(), t, dim));
    const hA = f32(rmsnorm(x, blk.attnNorm, t, dim, c.normEps), t, dim);
    hooks?.onNormOutput?.(b, 'attn', hA);
    if (hooks?.onLinearInput) {
      hooks.onLinearInput(pre + 'q', 'q', b, hA);
      hooks.onLinearInput(pre + 'k', 'k', b, hA);
      hooks.onLinearInput(pre + 'v', 'v', b, hA);
    }
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
    if (!(att instanceof Float32Array) || att.length !== t * c.nHeads * hd)
      throw new ShapeError(fn, `cache.attend(${b}) returned ${att?.length} values, expected ${t * c.nHeads * hd}`);
    const attT = f32(att, t, c.nHeads * hd);
    hooks?.onLinearInput?.(pre + 'o', 'o', b, attT);
    const o = linearOut(fn, pre + 'o', blk.o, attT, backend);
    for (let i = 0; i < t * dim; i++) x[i]! += o[i]!;
    hooks?.onNormInput?.(b, 'ffn', f32(x.slice(), t, dim));
    const hF = f32(rmsnorm(x, blk.ffnNorm, t, dim, c.normEps), t, dim);
    hooks?.onNormOutput?.(b, 'ffn', hF);
    if (hooks?.onLinearInput) {
      hooks.onLinearInput(pre + 'gate', 'gate', b, hF);
      hooks.onLinearInput(pre + 'up', 'up', b, hF);
    }
    const g = linearOut(fn, pre + 'gate', blk.gate, hF, backend);
    const u = linearOut(fn, pre + 'up', blk.up, hF, backend);
    const act = new Float32Array(t * c.hiddenDim);
    for (let i = 0; i < act.length; i++) {
      const gv = g[i]!;
      act[i] = (gv / (1 + Math.exp(-gv))) * u[i]!;
    }
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
    for (let l = 1; l < c.nLayers; l++)
      if (cache.length(l) !== pos0)
        throw new ArgumentError(fn, 'options.cache', `lengths ${cache.length(0)} and ${cache.length(l)}`, 'must hold the same number of tokens in every layer');
    const x = this.embed(tokens);
    for (let b = 0; b < c.nLayers; b++) this.runBlock(b, x, t, cache, options);
    const logits = options.logits === 'last' ? this.head(x.subarray((t - 1) * c.dim, t * c.dim), 1, options) : this.head(x, t, options);
    const L = logits.data;
    for (let i = 0; i < L.length; i++) if (!Number.isFinite(L[i]!)) throw new NonFiniteError(fn, 'logits', i, L[i]!);
    return logits;
  }
}
