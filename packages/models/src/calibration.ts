import { ArgumentError, gramAccumulate, resolveBackend, type Backend, type Tensor } from '@llmpress/tensor';
import { Fp32KVCache, LINEAR_ROLES, type LinearRole, type LlamaModel } from './model.js';
import type { Window } from './eval.js';
import { AbortedError } from './errors.js';

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

/**
 * gram += Xᵀ X (or the cross Gram Xᵀ Y when `y` is given) for X [t, n] f32: the one Gram accumulator,
 * `gramAccumulate` of @llmpress/tensor, in this package's positional form.
 */
export function accumulateGram(gram: Float64Array, x: Float32Array, t: number, n: number, backend: Backend, y?: Float32Array): void {
  gramAccumulate(gram, x, t, n, { backend, y });
}

class Accumulator {
  readonly stats: LinearStats;
  private absSum?: Float64Array;
  /** Set when another accumulator already processes the very same input tensors (q/k/v, gate/up). */
  private leader: Accumulator | undefined;
  private done = false;
  constructor(
    name: string,
    role: LinearRole,
    block: number,
    n: number,
    private opts: { gram: boolean; meanAbs: boolean; samples: number },
  ) {
    this.stats = { name, role, block, n, count: 0 };
    if (opts.gram) this.stats.gram = new Float64Array(n * n);
    if (opts.meanAbs) {
      this.absSum = new Float64Array(n);
      this.stats.meanAbs = new Float64Array(n);
    }
    if (opts.samples > 0) {
      this.stats.samples = new Float32Array(opts.samples * n);
      this.stats.sampleRows = 0;
    }
  }
  add(x: Tensor<'f32'>, backend: Backend, seen?: WeakMap<object, Accumulator>): void {
    const t = x.shape[0]!,
      n = this.stats.n;
    if (seen) {
      const lead = seen.get(x);
      if (lead && lead !== this && (this.leader === undefined || this.leader === lead) && (this.leader !== undefined || this.stats.count === 0)) {
        this.leader = lead;
        this.stats.count += t;
        return;
      }
      if (this.leader) {
        // inputs diverged from the leader's: cannot share any more (not expected)
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
      if (take > 0) {
        this.stats.samples.set(d.subarray(0, take * n), have * n);
        this.stats.sampleRows = have + take;
      }
    }
    this.stats.count += t;
  }
  finish(): LinearStats {
    if (this.leader) {
      const L = this.leader.finish();
      if (L.gram) this.stats.gram = L.gram.slice();
      if (L.meanAbs) this.stats.meanAbs = L.meanAbs.slice();
      if (L.samples) {
        this.stats.samples = L.samples.slice();
        this.stats.sampleRows = L.sampleRows;
      }
      return this.stats;
    }
    if (this.done) return this.stats;
    this.done = true;
    if (this.absSum) for (let j = 0; j < this.stats.n; j++) this.stats.meanAbs![j] = this.absSum[j]! / Math.max(1, this.stats.count);
    if (this.stats.samples && this.stats.sampleRows! < this.opts.samples)
      this.stats.samples = this.stats.samples.slice(0, this.stats.sampleRows! * this.stats.n);
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
  model: LlamaModel,
  windows: CalibrationWindows,
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
    if (want)
      for (const r of roles) {
        const L = model.blocks[b]![r];
        accs.set(`blocks.${b}.${r}`, new Accumulator(`blocks.${b}.${r}`, r, b, L.inFeatures, opts));
      }
    const seen = new WeakMap<object, Accumulator>();
    for (let w = 0; w < inputs.length; w++) {
      const cache = new Fp32KVCache(model.config, { backend });
      model.runBlock(b, streams[w]!, inputs[w]!.length, cache, {
        backend,
        hooks: want
          ? {
              onLinearInput: (name, _role, _blk, x) => {
                accs.get(name)?.add(x, backend, seen);
              },
            }
          : undefined,
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
    const hooks = {
      onLinearInput: (name: string, _r: LinearRole, _b: number, t: Tensor<'f32'>) => {
        accs.get(name)?.add(t, backend, seen);
      },
    };
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

/**
 * How statistics propagate through compression (see `compressLinears`):
 * - 'sequential' (default): true-sequential per group, {q,k,v} → o → {gate,up} → down. Before each group
 *   the partly compressed block is re-run on the working stream, so o sees the outputs of the already
 *   replaced q/k/v and down the activations of the replaced gate/up (GPTQ's and SVD-LLM's schedule).
 * - 'per-block' (ablation): all linears of block b calibrated on inputs of the still-dense block b
 *   (earlier blocks compressed).
 * - 'dense' (ablation): every statistic from the original model (gram = origGram = crossGram).
 */
export type CalibrationSchedule = 'sequential' | 'per-block' | 'dense';
export const CALIBRATION_SCHEDULES: readonly CalibrationSchedule[] = ['sequential', 'per-block', 'dense'];
/** The groups of the true-sequential schedule, in order. Linears of a group read the same input. */
export const LINEAR_GROUPS: readonly (readonly LinearRole[])[] = [['q', 'k', 'v'], ['o'], ['gate', 'up'], ['down']];

/** Throws `AbortedError(fn, signal.reason)` when the signal has fired. */
export function throwIfAborted(fn: string, signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError(fn, signal.reason);
}

export interface ScheduledCalibrationOptions {
  schedule?: CalibrationSchedule;
  roles?: readonly LinearRole[];
  blocks?: readonly number[];
  backend?: Backend;
  signal?: AbortSignal;
  /** Called before the statistics of a group are gathered (for progress). */
  onCalibrate?: (block: number, roles: readonly LinearRole[]) => void;
}

/** One accumulation per input site (q/k/v share one, gate/up share one). */
class SiteAccumulator {
  readonly gram: Float64Array;
  readonly origGram: Float64Array;
  readonly crossGram: Float64Array;
  readonly absW: Float64Array;
  readonly absO: Float64Array;
  count = 0;
  constructor(
    readonly n: number,
    private readonly sameStream: boolean,
  ) {
    this.gram = new Float64Array(n * n);
    this.origGram = sameStream ? this.gram : new Float64Array(n * n);
    this.crossGram = sameStream ? this.gram : new Float64Array(n * n);
    this.absW = new Float64Array(n);
    this.absO = sameStream ? this.absW : new Float64Array(n);
  }
  /** X: original inputs, Xh: working inputs (ignored when both streams are the same). */
  add(X: Float32Array, Xh: Float32Array, t: number, backend: Backend): void {
    const n = this.n;
    accumulateGram(this.gram, Xh, t, n, backend);
    if (!this.sameStream) {
      accumulateGram(this.origGram, X, t, n, backend);
      accumulateGram(this.crossGram, X, t, n, backend, Xh);
    }
    const aw = this.absW,
      ao = this.absO;
    for (let i = 0; i < t; i++) for (let j = 0; j < n; j++) aw[j]! += Math.abs(Xh[i * n + j]!);
    if (!this.sameStream) for (let i = 0; i < t; i++) for (let j = 0; j < n; j++) ao[j]! += Math.abs(X[i * n + j]!);
    this.count += t;
  }
  stats(name: string, role: LinearRole, block: number, copy: boolean): SequentialStats {
    const c = Math.max(1, this.count);
    const meanAbs = this.absW.map((v) => v / c),
      origMeanAbs = this.sameStream ? meanAbs.slice() : this.absO.map((v) => v / c);
    const own = (a: Float64Array) => (copy ? a.slice() : a);
    return {
      name,
      role,
      block,
      n: this.n,
      count: this.count,
      gram: own(this.gram),
      origGram: this.sameStream ? this.gram.slice() : own(this.origGram),
      crossGram: this.sameStream ? this.gram.slice() : own(this.crossGram),
      meanAbs,
      origMeanAbs,
    };
  }
}

const SITE_OF: Record<LinearRole, 'attn' | 'o' | 'ffn' | 'down'> = { q: 'attn', k: 'attn', v: 'attn', o: 'o', gate: 'ffn', up: 'ffn', down: 'down' };

function checkPair(fn: string, original: LlamaModel, working: LlamaModel): void {
  if (original === working) throw new ArgumentError(fn, 'working', 'the original model', 'must be a different model object (use original.clone())');
  const a = original.config,
    w = working.config;
  for (const k of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize'] as const) {
    if (a[k] !== w[k]) throw new ArgumentError(fn, `working.config.${k}`, w[k], `must equal original.config.${k} = ${a[k]}`);
  }
}

/**
 * The one calibration engine behind `compressLinears` (and `sequentialCalibration`). Walks the blocks
 * in order keeping two residual streams per window: the ORIGINAL model's (targets X) and the WORKING
 * model's (X̂, through the layers already replaced). For each group of linears to compress it gathers,
 * per role, gram (X̂ᵀX̂), origGram (XᵀX), crossGram (XᵀX̂), mean |x̂|, mean |x| and the token count (f64),
 * then calls `onGroup(b, stats)`, which must replace those layers in `working` (`working.setLinear`)
 * before it returns. Groups per `schedule` (see `CalibrationSchedule`): 'sequential' calls onGroup once
 * per group {q,k,v}, {o}, {gate,up}, {down} (re-running the partly replaced block before each group);
 * 'per-block' and 'dense' call it once per block with all requested roles.
 * Memory: two residual streams (windows × T × dim f32) plus one group's statistics; the original block
 * is re-run per group rather than its inputs stored.
 */
export async function scheduledCalibration(
  original: LlamaModel,
  working: LlamaModel,
  windows: CalibrationWindows,
  onGroup: (b: number, stats: Map<LinearRole, SequentialStats>) => void | Promise<void>,
  options: ScheduledCalibrationOptions = {},
): Promise<void> {
  const fn = 'scheduledCalibration';
  checkPair(fn, original, working);
  const schedule = options.schedule ?? 'sequential';
  if (!CALIBRATION_SCHEDULES.includes(schedule))
    throw new ArgumentError(fn, 'options.schedule', schedule, `must be one of ${CALIBRATION_SCHEDULES.map((s) => `'${s}'`).join(', ')}`);
  if (typeof onGroup !== 'function') throw new ArgumentError(fn, 'onGroup', onGroup, 'must be a function');
  const inputs = inputsOf(fn, windows);
  const { roles, blocks } = checkRolesBlocks(fn, original, options.roles, options.blocks);
  const backend = resolveBackend(fn, options.backend);
  const signal = options.signal;
  const cfgO = original.config,
    cfgW = working.config;
  const dense = schedule === 'dense';
  const groups: LinearRole[][] =
    schedule === 'sequential'
      ? LINEAR_GROUPS.map((g) => g.filter((r) => roles.includes(r))).filter((g) => g.length > 0)
      : [LINEAR_ROLES.filter((r) => roles.includes(r))];
  if (groups.length === 0 || groups[0]!.length === 0) throw new ArgumentError(fn, 'options.roles', options.roles, 'must name at least one role');
  const xs = inputs.map((ids) => original.embed(ids));
  const xh = dense ? xs : inputs.map((ids) => working.embed(ids));
  const last = blocks[blocks.length - 1]!;
  for (let b = 0; b <= last; b++) {
    throwIfAborted(fn, signal);
    if (blocks.includes(b)) {
      for (let gi = 0; gi < groups.length; gi++) {
        const group = groups[gi]!;
        options.onCalibrate?.(b, group);
        const sites = new Map<string, SiteAccumulator>();
        for (const r of group) if (!sites.has(SITE_OF[r])) sites.set(SITE_OF[r], new SiteAccumulator(original.blocks[b]![r].inFeatures, dense));
        const wantSite = (r: LinearRole) => group.includes(r) && sites.has(SITE_OF[r]);
        // the last group's original pass advances the original stream in place (the original block never changes)
        const advanceO = gi === groups.length - 1;
        for (let i = 0; i < inputs.length; i++) {
          throwIfAborted(fn, signal);
          const t = inputs[i]!.length;
          const capO = new Map<string, Float32Array>();
          const xo = advanceO ? xs[i]! : xs[i]!.slice();
          original.runBlock(b, xo, t, new Fp32KVCache(cfgO, { backend }), {
            backend,
            hooks: {
              onLinearInput: (_n, r, _b, x) => {
                if (wantSite(r)) capO.set(SITE_OF[r], x.contiguous().data as Float32Array);
              },
            },
          });
          const capW = dense ? capO : new Map<string, Float32Array>();
          if (!dense)
            working.runBlock(b, xh[i]!.slice(), t, new Fp32KVCache(cfgW, { backend }), {
              backend,
              hooks: {
                onLinearInput: (_n, r, _b, x) => {
                  if (wantSite(r)) capW.set(SITE_OF[r], x.contiguous().data as Float32Array);
                },
              },
            });
          for (const [site, acc] of sites) acc.add(capO.get(site)!, capW.get(site)!, t, backend);
        }
        const stats = new Map<LinearRole, SequentialStats>();
        const used = new Set<string>();
        for (const r of group) {
          const site = SITE_OF[r];
          stats.set(r, sites.get(site)!.stats(`blocks.${b}.${r}`, r, b, used.has(site)));
          used.add(site);
        }
        await onGroup(b, stats);
        throwIfAborted(fn, signal);
      }
      if (!dense) for (let i = 0; i < inputs.length; i++) working.runBlock(b, xh[i]!, inputs[i]!.length, new Fp32KVCache(cfgW, { backend }), { backend });
    } else if (b < last) {
      for (let i = 0; i < inputs.length; i++) {
        original.runBlock(b, xs[i]!, inputs[i]!.length, new Fp32KVCache(cfgO, { backend }), { backend });
        if (!dense) working.runBlock(b, xh[i]!, inputs[i]!.length, new Fp32KVCache(cfgW, { backend }), { backend });
      }
    }
  }
}

export interface SequentialOptions {
  backend?: Backend;
  roles?: readonly LinearRole[];
  schedule?: CalibrationSchedule;
  signal?: AbortSignal;
}

/**
 * Sequential (error-propagating) calibration with a per-block callback: `onBlock(b, stats)` receives the
 * statistics of block b's requested linears and must replace them in `working` (`working.setLinear`).
 * Default schedule 'per-block' (the original behaviour of this function: inputs of o/gate/up/down are
 * those of the not-yet-replaced block b). With `schedule: 'sequential'` the callback is called once per
 * group ({q,k,v}, {o}, {gate,up}, {down}), each with the inputs the partly replaced block produces.
 * Prefer `compressLinears`, which owns the schedule. One engine: `scheduledCalibration`.
 */
export async function sequentialCalibration(
  original: LlamaModel,
  working: LlamaModel,
  windows: CalibrationWindows,
  onBlock: (b: number, stats: Map<LinearRole, SequentialStats>) => void | Promise<void>,
  opts: SequentialOptions = {},
): Promise<void> {
  const fn = 'sequentialCalibration';
  checkPair(fn, original, working);
  await scheduledCalibration(original, working, windows, onBlock, {
    backend: opts.backend,
    roles: opts.roles,
    schedule: opts.schedule ?? 'per-block',
    signal: opts.signal,
  });
}
