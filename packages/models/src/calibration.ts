import { ArgumentError, resolveBackend, routine, type Backend, type Tensor } from '@llmpress/tensor';
import { Fp32KVCache, LINEAR_ROLES, type LinearRole, type LlamaModel } from './model.js';
import type { Window } from './eval.js';

export interface LinearStats {
  name: string;
  role: LinearRole;
  block: number;
  /** Input features. */
  n: number;
  /** Tokens accumulated. */
  count: number;
  /** n×n row-major Σ x xᵀ over all tokens, f64. */
  gram?: Float64Array;
  /** Per-input-channel mean |x|, f64. */
  meanAbs?: Float64Array;
  /** Up to `samples` raw input rows [rows, n] (the first rows in window order). */
  samples?: Float32Array;
  sampleRows?: number;
}

export interface CaptureOptions {
  roles?: readonly LinearRole[];
  blocks?: readonly number[];
  /** Accumulate Σ x xᵀ (default true). */
  gram?: boolean;
  /** Accumulate mean |x| per channel (default true). */
  meanAbs?: boolean;
  /** Keep up to this many raw input rows per layer (default 0). */
  samples?: number;
  backend?: Backend;
}

/** The calibration inputs: plain token arrays or protocol windows (their `input`). */
export type CalibrationWindows = ReadonlyArray<readonly number[] | Window>;

function inputsOf(fn: string, windows: CalibrationWindows): number[][] {
  if (!Array.isArray(windows) || windows.length === 0) throw new ArgumentError(fn, 'windows', windows, 'must be a non-empty array of token arrays or windows');
  return windows.map((w, i) => {
    const ids = Array.isArray(w) ? (w as number[]) : (w as Window)?.input;
    if (!Array.isArray(ids) || ids.length === 0) throw new ArgumentError(fn, `windows[${i}]`, w, 'must be a non-empty token array or a window');
    return ids as number[];
  });
}

/** gram += Xᵀ X for X [t, n] f32 (converted to f64, GEMM through the backend). */
export function accumulateGram(gram: Float64Array, x: Float32Array, t: number, n: number, backend: Backend, y?: Float32Array): void {
  const a = Float64Array.from(x.subarray(0, t * n));
  const b = y ? Float64Array.from(y.subarray(0, t * n)) : a;
  routine(backend, 'gemm')({ transA: true, transB: false, m: n, n, k: t, alpha: 1, a, aOffset: 0, lda: n, b, bOffset: 0, ldb: n, beta: 1, c: gram, cOffset: 0, ldc: n });
}

class Accumulator {
  readonly stats: LinearStats;
  private absSum?: Float64Array;
  /** Set when another accumulator already processes the very same input tensors (q/k/v, gate/up). */
  private leader: Accumulator | undefined;
  private done = false;
  constructor(name: string, role: LinearRole, block: number, n: number, private opts: { gram: boolean; meanAbs: boolean; samples: number }) {
    this.stats = { name, role, block, n, count: 0 };
    if (opts.gram) this.stats.gram = new Float64Array(n * n);
    if (opts.meanAbs) { this.absSum = new Float64Array(n); this.stats.meanAbs = new Float64Array(n); }
    if (opts.samples > 0) { this.stats.samples = new Float32Array(opts.samples * n); this.stats.sampleRows = 0; }
  }
  add(x: Tensor<'f32'>, backend: Backend, seen?: WeakMap<object, Accumulator>): void {
    const t = x.shape[0]!, n = this.stats.n;
    if (seen) {
      const lead = seen.get(x);
      if (lead && lead !== this && (this.leader === undefined || this.leader === lead) && (this.leader !== undefined || this.stats.count === 0)) {
        this.leader = lead; this.stats.count += t; return;
      }
      if (this.leader) { // inputs diverged from the leader's: cannot share any more (not expected)
        throw new Error('captureLinearStats: internal error: shared-input accumulator saw a different input');
      }
      seen.set(x, this);
    }
    const d = x.contiguous().data as Float32Array;
    if (this.stats.gram) accumulateGram(this.stats.gram, d, t, n, backend);
    if (this.absSum) for (let i = 0; i < t; i++) for (let j = 0; j < n; j++) this.absSum[j]! += Math.abs(d[i * n + j]!);
    if (this.stats.samples) {
      const have = this.stats.sampleRows!;
      const take = Math.min(this.opts.samples - have, t);
      if (take > 0) { this.stats.samples.set(d.subarray(0, take * n), have * n); this.stats.sampleRows = have + take; }
    }
    this.stats.count += t;
  }
  finish(): LinearStats {
    if (this.leader) {
      const L = this.leader.finish();
      if (L.gram) this.stats.gram = L.gram.slice();
      if (L.meanAbs) this.stats.meanAbs = L.meanAbs.slice();
      if (L.samples) { this.stats.samples = L.samples.slice(); this.stats.sampleRows = L.sampleRows; }
      return this.stats;
    }
    if (this.done) return this.stats;
    this.done = true;
    if (this.absSum) for (let j = 0; j < this.stats.n; j++) this.stats.meanAbs![j] = this.absSum[j]! / Math.max(1, this.stats.count);
    if (this.stats.samples && this.stats.sampleRows! < this.opts.samples) this.stats.samples = this.stats.samples.slice(0, this.stats.sampleRows! * this.stats.n);
    return this.stats;
  }
}

function checkRolesBlocks(fn: string, model: LlamaModel, roles?: readonly LinearRole[], blocks?: readonly number[]): { roles: LinearRole[]; blocks: number[] } {
  const r = (roles ?? LINEAR_ROLES).slice();
  for (const x of r) if (!LINEAR_ROLES.includes(x)) throw new ArgumentError(fn, 'options.roles', roles, `must hold roles from ${LINEAR_ROLES.join(', ')}`);
  const L = model.config.nLayers;
  const b = (blocks ?? Array.from({ length: L }, (_, i) => i)).slice().sort((x, y) => x - y);
  for (const x of b) if (!Number.isInteger(x) || x < 0 || x >= L) throw new ArgumentError(fn, 'options.blocks', blocks, `must hold block indices in [0, ${L})`);
  return { roles: r, blocks: [...new Set(b)] };
}

/**
 * Streams the windows through the model, block by block, and calls `onBlock(b, stats)` with the stats
 * of block b's requested linears. The residual stream of every window is kept between blocks
 * (windows × T × dim floats), so each block runs once per window and only one block's statistics
 * are alive at a time.
 */
export async function streamLinearStats(
  model: LlamaModel, windows: CalibrationWindows,
  onBlock: (block: number, stats: Map<string, LinearStats>) => void | Promise<void>,
  options: CaptureOptions = {},
): Promise<void> {
  const fn = 'streamLinearStats';
  const inputs = inputsOf(fn, windows);
  const { roles, blocks } = checkRolesBlocks(fn, model, options.roles, options.blocks);
  const backend = resolveBackend(fn, options.backend);
  const opts = { gram: options.gram ?? true, meanAbs: options.meanAbs ?? true, samples: options.samples ?? 0 };
  if (!Number.isInteger(opts.samples) || opts.samples < 0) throw new ArgumentError(fn, 'options.samples', options.samples, 'must be a non-negative integer');
  const streams = inputs.map((ids) => model.embed(ids));
  const last = blocks[blocks.length - 1]!;
  for (let b = 0; b <= last; b++) {
    const want = blocks.includes(b);
    const accs = new Map<string, Accumulator>();
    if (want) for (const r of roles) {
      const L = model.blocks[b]![r];
      accs.set(`blocks.${b}.${r}`, new Accumulator(`blocks.${b}.${r}`, r, b, L.inFeatures, opts));
    }
    const seen = new WeakMap<object, Accumulator>();
    for (let w = 0; w < inputs.length; w++) {
      const cache = new Fp32KVCache(model.config, { backend });
      model.runBlock(b, streams[w]!, inputs[w]!.length, cache, {
        backend,
        hooks: want ? { onLinearInput: (name, _role, _blk, x) => { accs.get(name)?.add(x, backend, seen); } } : undefined,
      });
    }
    if (want) {
      const m = new Map<string, LinearStats>();
      for (const [k, a] of accs) m.set(k, a.finish());
      await onBlock(b, m);
    }
  }
}

/** Statistics of every requested linear's inputs over the windows (all blocks' stats at once; use
 *  `streamLinearStats` or `blocks: [b]` to bound memory by one block). */
export function captureLinearStats(model: LlamaModel, windows: CalibrationWindows, options: CaptureOptions = {}): Map<string, LinearStats> {
  const fn = 'captureLinearStats';
  const inputs = inputsOf(fn, windows);
  const { roles, blocks } = checkRolesBlocks(fn, model, options.roles, options.blocks);
  const backend = resolveBackend(fn, options.backend);
  const opts = { gram: options.gram ?? true, meanAbs: options.meanAbs ?? true, samples: options.samples ?? 0 };
  if (!Number.isInteger(opts.samples) || opts.samples < 0) throw new ArgumentError(fn, 'options.samples', options.samples, 'must be a non-negative integer');
  const accs = new Map<string, Accumulator>();
  for (const b of blocks) for (const r of roles) accs.set(`blocks.${b}.${r}`, new Accumulator(`blocks.${b}.${r}`, r, b, model.blocks[b]![r].inFeatures, opts));
  const last = blocks[blocks.length - 1]!;
  const seen = new WeakMap<object, Accumulator>();
  for (const ids of inputs) {
    const x = model.embed(ids);
    const cache = new Fp32KVCache(model.config, { backend });
    const hooks = { onLinearInput: (name: string, _r: LinearRole, _b: number, t: Tensor<'f32'>) => { accs.get(name)?.add(t, backend, seen); } };
    for (let b = 0; b <= last; b++) model.runBlock(b, x, ids.length, cache, { backend, hooks });
  }
  const out = new Map<string, LinearStats>();
  for (const [k, a] of accs) out.set(k, a.finish());
  return out;
}

export interface SequentialStats {
  name: string;
  role: LinearRole;
  block: number;
  n: number;
  count: number;
  /** Σ x̂ x̂ᵀ: inputs through the working (already compressed) model. */
  gram: Float64Array;
  /** Σ x xᵀ: inputs through the original model. */
  origGram: Float64Array;
  /** Σ x x̂ᵀ (row i from the original input, column j from the working input). */
  crossGram: Float64Array;
  /** Mean |x̂| per channel (working model). */
  meanAbs: Float64Array;
  /** Mean |x| per channel (original model). */
  origMeanAbs: Float64Array;
}

export interface SequentialOptions { backend?: Backend; roles?: readonly LinearRole[] }

/**
 * Sequential (error-propagating) calibration. For each block b in order: the windows run through the
 * ORIGINAL model (inputs X of block b's linears) and through the WORKING model, whose blocks < b were
 * already replaced by earlier callbacks (inputs X̂); `onBlock(b, stats)` receives, per role, gram (X̂ᵀX̂),
 * origGram (XᵀX), crossGram (XᵀX̂), mean |x̂|, mean |x| and the token count, all f64, and replaces block
 * b's layers in `working` (via `working.setLinear`). The working stream then advances through the
 * replaced block. Within a block, the inputs of o/gate/up/down are those of the not-yet-replaced block b.
 * Memory: two residual streams (windows × T × dim f32) plus one block's statistics.
 */
export async function sequentialCalibration(
  original: LlamaModel, working: LlamaModel, windows: CalibrationWindows,
  onBlock: (b: number, stats: Map<LinearRole, SequentialStats>) => void | Promise<void>,
  opts: SequentialOptions = {},
): Promise<void> {
  const fn = 'sequentialCalibration';
  if (original === working) throw new ArgumentError(fn, 'working', 'the original model', 'must be a different model object (use original.clone())');
  const a = original.config, w = working.config;
  for (const k of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize'] as const) {
    if (a[k] !== w[k]) throw new ArgumentError(fn, `working.config.${k}`, w[k], `must equal original.config.${k} = ${a[k]}`);
  }
  const inputs = inputsOf(fn, windows);
  const { roles } = checkRolesBlocks(fn, original, opts.roles);
  const backend = resolveBackend(fn, opts.backend);
  // linears that read the same input (q/k/v, gate/up) share one accumulation: the first requested role of each site leads
  const SITE: Record<LinearRole, string> = { q: 'attn', k: 'attn', v: 'attn', o: 'o', gate: 'ffn', up: 'ffn', down: 'down' };
  const leaderOf = new Map<LinearRole, LinearRole>();
  const siteLeader = new Map<string, LinearRole>();
  for (const r of roles) { if (!siteLeader.has(SITE[r])) siteLeader.set(SITE[r], r); leaderOf.set(r, siteLeader.get(SITE[r])!); }
  const xs = inputs.map((ids) => original.embed(ids));
  const xh = inputs.map((ids) => working.embed(ids));
  for (let b = 0; b < a.nLayers; b++) {
    const stats = new Map<LinearRole, SequentialStats>();
    const absO = new Map<LinearRole, Float64Array>(), absW = new Map<LinearRole, Float64Array>();
    for (const r of roles) {
      const n = original.blocks[b]![r].inFeatures;
      stats.set(r, { name: `blocks.${b}.${r}`, role: r, block: b, n, count: 0, gram: new Float64Array(n * n), origGram: new Float64Array(n * n), crossGram: new Float64Array(n * n), meanAbs: new Float64Array(n), origMeanAbs: new Float64Array(n) });
      absO.set(r, new Float64Array(n)); absW.set(r, new Float64Array(n));
    }
    for (let i = 0; i < inputs.length; i++) {
      const t = inputs[i]!.length;
      const capO = new Map<LinearRole, Float32Array>();
      original.runBlock(b, xs[i]!, t, new Fp32KVCache(a, { backend }), { backend, hooks: { onLinearInput: (_n, r, _b, x) => { if (stats.has(r)) capO.set(r, x.contiguous().data as Float32Array); } } });
      const capW = new Map<LinearRole, Float32Array>();
      working.runBlock(b, xh[i]!.slice(), t, new Fp32KVCache(w, { backend }), { backend, hooks: { onLinearInput: (_n, r, _b, x) => { if (stats.has(r)) capW.set(r, x.contiguous().data as Float32Array); } } });
      for (const [r, s] of stats) {
        if (leaderOf.get(r) !== r) { s.count += t; continue; } // same input as its site's leader: copied below
        const X = capO.get(r)!, Xh = capW.get(r)!;
        accumulateGram(s.gram, Xh, t, s.n, backend);
        accumulateGram(s.origGram, X, t, s.n, backend);
        accumulateGram(s.crossGram, X, t, s.n, backend, Xh);
        const ao = absO.get(r)!, aw = absW.get(r)!;
        for (let k = 0; k < t * s.n; k++) { ao[k % s.n]! += Math.abs(X[k]!); aw[k % s.n]! += Math.abs(Xh[k]!); }
        s.count += t;
      }
    }
    for (const [r, s] of stats) {
      if (leaderOf.get(r) !== r) continue;
      const ao = absO.get(r)!, aw = absW.get(r)!;
      for (let j = 0; j < s.n; j++) { s.origMeanAbs[j] = ao[j]! / s.count; s.meanAbs[j] = aw[j]! / s.count; }
    }
    for (const [r, s] of stats) {
      const L = stats.get(leaderOf.get(r)!)!;
      if (L === s) continue;
      s.gram = L.gram.slice(); s.origGram = L.origGram.slice(); s.crossGram = L.crossGram.slice();
      s.meanAbs = L.meanAbs.slice(); s.origMeanAbs = L.origMeanAbs.slice();
    }
    await onBlock(b, stats);
    // advance the working stream through the (now replaced) block b
    for (let i = 0; i < inputs.length; i++) working.runBlock(b, xh[i]!, inputs[i]!.length, new Fp32KVCache(w, { backend }), { backend });
  }
}
