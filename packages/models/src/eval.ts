import { ArgumentError, ShapeError, type Tensor, resolveBackend, routine, type Backend } from '@llmpress/tensor';
import type { LlamaModel } from './model.js';

/** One scoring window: the model reads `input` at positions 0..len-1 and is scored on `targets`. */
export interface Window {
  /** Window number b in its protocol. */
  index: number;
  input: number[];
  targets: number[];
  /** Token range [start, end) of the text-token stream `t` (standard) or of `ids` (contiguous) the targets cover. */
  span: [number, number];
}

export interface StandardWindowOptions {
  start?: number;
  count?: number;
  len?: number;
  bos?: number;
}

/**
 * The standard protocol: `t = ids[1:]` (ids = [BOS] + encode(text)); window b has input
 * `[BOS] + t[len·b : len·b + len − 1]` at positions 0..len−1 and targets `t[len·b : len·b + len]`.
 * Windows `start .. start+count−1` (count defaults to every complete window).
 */
export function standardWindows(ids: readonly number[], options: StandardWindowOptions = {}): Window[] {
  const fn = 'standardWindows';
  if (!Array.isArray(ids) || ids.length < 2) throw new ArgumentError(fn, 'ids', ids, 'must be [BOS] + text tokens (at least 2 ids)');
  const len = options.len ?? 256,
    bos = options.bos ?? 1,
    start = options.start ?? 0;
  if (!Number.isInteger(len) || len < 1) throw new ArgumentError(fn, 'options.len', len, 'must be a positive integer');
  if (!Number.isInteger(start) || start < 0) throw new ArgumentError(fn, 'options.start', start, 'must be a non-negative integer');
  const nText = ids.length - 1;
  const available = Math.floor(nText / len);
  const count = options.count ?? Math.max(0, available - start);
  if (!Number.isInteger(count) || count < 0) throw new ArgumentError(fn, 'options.count', count, 'must be a non-negative integer');
  if (start + count > available)
    throw new ArgumentError(
      fn,
      'options.count',
      count,
      `asks for windows ${start}..${start + count - 1} but the text has only ${available} complete windows of ${len} tokens`,
    );
  const out: Window[] = [];
  for (let b = start; b < start + count; b++) {
    const s = 1 + len * b; // index into ids of t[len*b]
    out.push({ index: b, input: [bos, ...ids.slice(s, s + len - 1)], targets: ids.slice(s, s + len), span: [len * b, len * b + len] });
  }
  return out;
}

/**
 * reference.json's protocol: window b is `ids[len·b : len·b + len + 1]`; inputs are its first len tokens,
 * targets the window shifted by one (no BOS per window).
 */
export function contiguousWindows(ids: readonly number[], options: { start?: number; count?: number; len?: number } = {}): Window[] {
  const fn = 'contiguousWindows';
  if (!Array.isArray(ids)) throw new ArgumentError(fn, 'ids', ids, 'must be an array of token ids');
  const len = options.len ?? 512,
    start = options.start ?? 0;
  if (!Number.isInteger(len) || len < 1) throw new ArgumentError(fn, 'options.len', len, 'must be a positive integer');
  const available = Math.floor((ids.length - 1) / len);
  const count = options.count ?? Math.max(0, available - start);
  if (start + count > available)
    throw new ArgumentError(
      fn,
      'options.count',
      count,
      `asks for windows ${start}..${start + count - 1} but only ${available} complete windows of ${len} exist`,
    );
  const out: Window[] = [];
  for (let b = start; b < start + count; b++) {
    const s = len * b;
    out.push({ index: b, input: ids.slice(s, s + len), targets: ids.slice(s + 1, s + len + 1), span: [s + 1, s + len + 1] });
  }
  return out;
}

export interface EvalSplit {
  eval: Window[];
  calibration: Window[];
}

/**
 * The standard split: evaluation windows 0..63 and calibration windows 200..231 of the same text
 * (256 tokens each). Disjointness of the token spans is checked, not assumed.
 */
export function evalSplit(
  ids: readonly number[],
  options: { len?: number; bos?: number; evalStart?: number; evalCount?: number; calibStart?: number; calibCount?: number } = {},
): EvalSplit {
  const len = options.len ?? 256,
    bos = options.bos ?? 1;
  const ev = standardWindows(ids, { start: options.evalStart ?? 0, count: options.evalCount ?? 64, len, bos });
  const cal = standardWindows(ids, { start: options.calibStart ?? 200, count: options.calibCount ?? 32, len, bos });
  assertDisjoint('evalSplit', ev, cal);
  return { eval: ev, calibration: cal };
}

/** Throws if any evaluation window's token span overlaps a calibration window's. */
export function assertDisjoint(fn: string, a: readonly Window[], b: readonly Window[]): void {
  for (const x of a)
    for (const y of b) {
      if (x.span[0] < y.span[1] && y.span[0] < x.span[1]) {
        throw new ArgumentError(
          fn,
          'windows',
          `eval window ${x.index} [${x.span}] and calibration window ${y.index} [${y.span}]`,
          'must not overlap (calibration and evaluation text must be disjoint)',
        );
      }
    }
}

export interface EvalResult {
  /** Mean natural-log NLL per predicted token. */
  nll: number;
  ppl: number;
  /** Mean KL(reference ‖ model) per token, nats (when a reference is given). */
  kl?: number;
  /** Fraction of positions where argmax agrees with the reference's argmax. */
  top1?: number;
  tokens: number;
  /** Scored tokens per second of the model's forward passes (reference time excluded). */
  tokensPerSecond: number;
  perWindowNll: number[];
}

export interface EvaluateOptions {
  /** A reference model, or its precomputed logits (one [T, vocab] tensor per window, same order). */
  reference?: LlamaModel | readonly Tensor<'f32'>[];
  backend?: Backend;
  onProgress?(done: number, total: number): void;
}

/** log-softmax row statistics in f64: returns logsumexp and fills nothing. */
function logSumExp(x: Float32Array, o: number, n: number): number {
  let mx = -Infinity;
  for (let i = 0; i < n; i++) if (x[o + i]! > mx) mx = x[o + i]!;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[o + i]! - mx);
  return mx + Math.log(s);
}

/** Logits of every window (for `evaluate`'s precomputed reference). */
export function referenceLogits(model: LlamaModel, windows: readonly Window[], options: { backend?: Backend } = {}): Tensor<'f32'>[] {
  return windows.map((w) => model.forward(w.input, { backend: options.backend }));
}

function checkWindows(fn: string, windows: readonly Window[]): void {
  if (!Array.isArray(windows) || windows.length === 0) throw new ArgumentError(fn, 'windows', windows, 'must be a non-empty array of windows');
  windows.forEach((w, i) => {
    if (!w || !Array.isArray(w.input) || !Array.isArray(w.targets) || w.input.length !== w.targets.length || w.input.length === 0) {
      throw new ArgumentError(fn, `windows[${i}]`, w, 'must have input and targets arrays of equal non-zero length');
    }
  });
}

/** Perplexity (and KL / top-1 agreement against a reference) over the windows. */
export function evaluate(model: LlamaModel, windows: readonly Window[], options: EvaluateOptions = {}): EvalResult {
  const fn = 'evaluate';
  checkWindows(fn, windows);
  const ref = options.reference;
  if (ref !== undefined && Array.isArray(ref) && ref.length !== windows.length)
    throw new ArgumentError(fn, 'options.reference', ref, `must hold ${windows.length} logit tensors, one per window`);
  const V = model.config.vocabSize;
  let nllSum = 0,
    klSum = 0,
    agree = 0,
    tokens = 0,
    ms = 0;
  const perWindowNll: number[] = [];
  for (let wi = 0; wi < windows.length; wi++) {
    const w = windows[wi]!;
    const t0 = performance.now();
    const logits = model.forward(w.input, { backend: options.backend });
    ms += performance.now() - t0;
    const L = logits.data;
    let R: Float32Array | undefined;
    if (ref !== undefined) {
      const rt = Array.isArray(ref) ? (ref as readonly Tensor<'f32'>[])[wi]! : (ref as LlamaModel).forward(w.input, { backend: options.backend });
      if (rt.ndim !== 2 || rt.shape[0] !== w.input.length || rt.shape[1] !== V)
        throw new ShapeError(fn, `reference logits of window ${wi} have shape [${rt.shape}], expected [${w.input.length}, ${V}]`);
      R = rt.contiguous().data as Float32Array;
    }
    let wSum = 0;
    for (let i = 0; i < w.input.length; i++) {
      const o = i * V;
      const tgt = w.targets[i]!;
      if (!Number.isInteger(tgt) || tgt < 0 || tgt >= V) throw new ArgumentError(fn, `windows[${wi}].targets[${i}]`, tgt, `must be an integer in [0, ${V})`);
      const lse = logSumExp(L, o, V);
      wSum += lse - L[o + tgt]!;
      if (R) {
        const rl = logSumExp(R, o, V);
        let kl = 0;
        for (let j = 0; j < V; j++) {
          const lr = R[o + j]! - rl;
          const pr = Math.exp(lr);
          if (pr > 0) kl += pr * (lr - (L[o + j]! - lse));
        }
        klSum += Math.max(0, kl);
        let am = 0,
          ar = 0;
        for (let j = 1; j < V; j++) {
          if (L[o + j]! > L[o + am]!) am = j;
          if (R[o + j]! > R[o + ar]!) ar = j;
        }
        if (am === ar) agree++;
      }
    }
    nllSum += wSum;
    tokens += w.input.length;
    perWindowNll.push(wSum / w.input.length);
    options.onProgress?.(wi + 1, windows.length);
  }
  const nll = nllSum / tokens;
  const res: EvalResult = { nll, ppl: Math.exp(nll), tokens, tokensPerSecond: tokens / (ms / 1000), perWindowNll };
  if (ref !== undefined) {
    res.kl = klSum / tokens;
    res.top1 = agree / tokens;
  }
  return res;
}

/**
 * Relative output error of each replaced linear on calibration inputs:
 * ‖(W − Ŵ) X‖²_F / ‖W X‖²_F = tr(D G Dᵀ) / tr(W G Wᵀ) with D = W − Ŵ and G = Σ x xᵀ (from captureLinearStats
 * on the original model). Uses each layer's `toDense()`; names without stats or without a gram are skipped.
 */
export function relativeLayerErrors(
  original: LlamaModel,
  compressed: LlamaModel,
  stats: ReadonlyMap<string, { gram?: Float64Array; n: number }>,
  options: { backend?: Backend } = {},
): Map<string, number> {
  const fn = 'relativeLayerErrors';
  const backend = resolveBackend(fn, options.backend);
  const gemm = routine(backend, 'gemm');
  const out = new Map<string, number>();
  for (const e of original.linears()) {
    const s = stats.get(e.name);
    if (!s?.gram) continue;
    const W = e.layer.toDense(),
      Wh = compressed.getLinear(e.name).toDense();
    const [o, n] = W.shape as [number, number];
    if (s.n !== n || Wh.shape[0] !== o || Wh.shape[1] !== n)
      throw new ShapeError(fn, `layer '${e.name}': weights [${W.shape}] / [${Wh.shape}] and gram of ${s.n} features do not match`);
    const w = Float64Array.from(W.contiguous().data as Float32Array),
      wh = Wh.contiguous().data;
    const d = new Float64Array(o * n);
    for (let i = 0; i < d.length; i++) d[i] = w[i]! - wh[i]!;
    const quad = (A: Float64Array) => {
      const AG = new Float64Array(o * n);
      gemm({
        transA: false,
        transB: false,
        m: o,
        n,
        k: n,
        alpha: 1,
        a: A,
        aOffset: 0,
        lda: n,
        b: s.gram!,
        bOffset: 0,
        ldb: n,
        beta: 0,
        c: AG,
        cOffset: 0,
        ldc: n,
      });
      let t = 0;
      for (let i = 0; i < AG.length; i++) t += AG[i]! * A[i]!;
      return t;
    };
    const den = quad(w);
    out.set(e.name, den > 0 ? quad(d) / den : quad(d) > 0 ? Infinity : 0);
  }
  return out;
}

/**
 * The statistics `llama-perplexity --kl-divergence` prints, over every scored token:
 * KL(reference ‖ model) as mean ± standard error, median, p90/p95/p99 and max (nats); Δp = p_model(target) −
 * p_reference(target) as mean ± error and RMS; and "same top p", the fraction of tokens whose argmax agrees
 * (± its binomial standard error). Percentiles are nearest-rank on the sorted values.
 */
export interface KlStats {
  tokens: number;
  kl: { mean: number; err: number; median: number; p90: number; p95: number; p99: number; max: number };
  deltaP: { mean: number; err: number; rms: number };
  sameTop: { fraction: number; err: number };
}

/** Per-token KL, Δp and argmax agreement of model logits L against reference logits R (each [T, V] row-major). */
export function klTokenStats(
  L: ArrayLike<number>,
  R: ArrayLike<number>,
  targets: readonly number[],
  V: number,
  out: { kl: number[]; dp: number[]; same: number[] } = { kl: [], dp: [], same: [] },
): { kl: number[]; dp: number[]; same: number[] } {
  const fn = 'klTokenStats';
  const T = targets.length;
  if (L.length < T * V || R.length < T * V) throw new ArgumentError(fn, 'logits', `${L.length} / ${R.length}`, `must hold ${T}×${V} values each`);
  for (let i = 0; i < T; i++) {
    const o = i * V;
    let ml = -Infinity,
      mr = -Infinity,
      al = 0,
      ar = 0;
    for (let j = 0; j < V; j++) {
      const a = L[o + j]!,
        b = R[o + j]!;
      if (a > ml) {
        ml = a;
        al = j;
      }
      if (b > mr) {
        mr = b;
        ar = j;
      }
    }
    let sl = 0,
      sr = 0;
    for (let j = 0; j < V; j++) {
      sl += Math.exp(L[o + j]! - ml);
      sr += Math.exp(R[o + j]! - mr);
    }
    const lzl = ml + Math.log(sl),
      lzr = mr + Math.log(sr);
    let kl = 0;
    for (let j = 0; j < V; j++) {
      const lr = R[o + j]! - lzr,
        pr = Math.exp(lr);
      if (pr > 0) kl += pr * (lr - (L[o + j]! - lzl));
    }
    const t = targets[i]!;
    out.kl.push(Math.max(0, kl));
    out.dp.push(Math.exp(L[o + t]! - lzl) - Math.exp(R[o + t]! - lzr));
    out.same.push(al === ar ? 1 : 0);
  }
  return out;
}

/** Summarises per-token KL / Δp / agreement into KlStats. */
export function summarizeKl(s: { kl: readonly number[]; dp: readonly number[]; same: readonly number[] }): KlStats {
  const n = s.kl.length;
  if (n === 0 || s.dp.length !== n || s.same.length !== n)
    throw new ArgumentError('summarizeKl', 's', `${n}/${s.dp.length}/${s.same.length}`, 'must hold the same non-zero number of kl, dp and same entries');
  const meanErr = (x: readonly number[]) => {
    let m = 0;
    for (const v of x) m += v;
    m /= n;
    let v2 = 0;
    for (const v of x) v2 += (v - m) ** 2;
    return [m, n > 1 ? Math.sqrt(v2 / (n - 1) / n) : 0] as const;
  };
  const sorted = Float64Array.from(s.kl).sort();
  const pct = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  const [klm, kle] = meanErr(s.kl),
    [dpm, dpe] = meanErr(s.dp);
  let sq = 0;
  for (const v of s.dp) sq += v * v;
  let same = 0;
  for (const v of s.same) same += v;
  const f = same / n;
  return {
    tokens: n,
    kl: { mean: klm, err: kle, median: pct(0.5), p90: pct(0.9), p95: pct(0.95), p99: pct(0.99), max: sorted[n - 1]! },
    deltaP: { mean: dpm, err: dpe, rms: Math.sqrt(sq / n) },
    sameTop: { fraction: f, err: Math.sqrt((f * (1 - f)) / n) },
  };
}

/** KL statistics of `model` against `reference` (a model or its per-window logits) over the windows. */
export function klStatistics(
  model: LlamaModel,
  windows: readonly Window[],
  options: { reference: LlamaModel | readonly Tensor<'f32'>[]; backend?: Backend },
): KlStats {
  const fn = 'klStatistics';
  checkWindows(fn, windows);
  const ref = options.reference;
  if (Array.isArray(ref) && ref.length !== windows.length)
    throw new ArgumentError(fn, 'options.reference', ref, `must hold ${windows.length} logit tensors, one per window`);
  const V = model.config.vocabSize,
    acc = { kl: [] as number[], dp: [] as number[], same: [] as number[] };
  windows.forEach((w, wi) => {
    const L = model.forward(w.input, { backend: options.backend }).data;
    const rt = Array.isArray(ref) ? (ref as readonly Tensor<'f32'>[])[wi]! : (ref as LlamaModel).forward(w.input, { backend: options.backend });
    if (rt.ndim !== 2 || rt.shape[0] !== w.input.length || rt.shape[1] !== V)
      throw new ShapeError(fn, `reference logits of window ${wi} have shape [${rt.shape}], expected [${w.input.length}, ${V}]`);
    klTokenStats(L, rt.contiguous().data, w.targets, V, acc);
  });
  return summarizeKl(acc);
}

/** KlStats as the text block llama-perplexity prints (one statistic per line). */
export function formatKlStats(s: KlStats): string {
  const f = (x: number) => x.toFixed(6);
  return [
    `Mean    KLD: ${f(s.kl.mean)} ± ${f(s.kl.err)}`,
    `Maximum KLD: ${f(s.kl.max)}`,
    `99.0%   KLD: ${f(s.kl.p99)}`,
    `95.0%   KLD: ${f(s.kl.p95)}`,
    `90.0%   KLD: ${f(s.kl.p90)}`,
    `Median  KLD: ${f(s.kl.median)}`,
    `Mean    Δp: ${(100 * s.deltaP.mean).toFixed(3)} ± ${(100 * s.deltaP.err).toFixed(3)} %`,
    `RMS Δp    : ${(100 * s.deltaP.rms).toFixed(3)} %`,
    `Same top p: ${(100 * s.sameTop.fraction).toFixed(3)} ± ${(100 * s.sameTop.err).toFixed(3)} %`,
    `(${s.tokens} tokens)`,
  ].join('\n');
}
