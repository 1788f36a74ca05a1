import { ArgumentError, Rng, type Backend } from '@llmpress/tensor';
import { bosOf, eosOf } from './config.js';
import { Fp32KVCache, type KVCacheLike, type LlamaModel } from './model.js';

export interface GenerateOptions {
  maxTokens: number;
  /** 0 (default) = greedy argmax. */
  temperature?: number;
  /** Nucleus sampling threshold in (0, 1); 1 or 0 = sample from the full distribution (run.c semantics). */
  topP?: number;
  seed?: number;
  backend?: Backend;
  /** Cache to decode through (default a fresh Fp32KVCache). Must be empty. */
  cache?: KVCacheLike;
  /** Token ids that end generation (not included in the output). Default [bos, eos]. */
  stopTokens?: number[];
  /** Called with each generated id. */
  onToken?(id: number): void;
}

/** Index of the largest value (first on ties, as run.c's argmax). */
export function argmax(x: ArrayLike<number>, offset = 0, n = x.length - offset): number {
  let best = 0,
    bv = x[offset]!;
  for (let i = 1; i < n; i++)
    if (x[offset + i]! > bv) {
      bv = x[offset + i]!;
      best = i;
    }
  return best;
}

/** run.c's sampler: temperature, softmax, then multinomial or top-p (nucleus) sampling with a seeded Rng. */
export function sampleLogits(logits: ArrayLike<number>, options: { temperature?: number; topP?: number; rng: Rng }): number {
  const n = logits.length;
  const temp = options.temperature ?? 0;
  if (temp === 0) return argmax(logits);
  const p = new Float64Array(n);
  let mx = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i]! / temp;
    p[i] = v;
    if (v > mx) mx = v;
  }
  let s = 0;
  for (let i = 0; i < n; i++) {
    p[i] = Math.exp(p[i]! - mx);
    s += p[i]!;
  }
  for (let i = 0; i < n; i++) p[i]! /= s;
  const coin = options.rng.uniform();
  const topP = options.topP ?? 1;
  if (topP <= 0 || topP >= 1) {
    let cdf = 0;
    for (let i = 0; i < n; i++) {
      cdf += p[i]!;
      if (coin < cdf) return i;
    }
    return n - 1;
  }
  const cutoff = (1 - topP) / (n - 1);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (p[i]! >= cutoff) idx.push(i);
  idx.sort((a, b) => p[b]! - p[a]! || a - b);
  let cum = 0,
    last = idx.length - 1;
  for (let i = 0; i < idx.length; i++) {
    cum += p[idx[i]!]!;
    if (cum > topP) {
      last = i;
      break;
    }
  }
  const r = coin * cum;
  let cdf = 0;
  for (let i = 0; i <= last; i++) {
    cdf += p[idx[i]!]!;
    if (r < cdf) return idx[i]!;
  }
  return idx[last]!;
}

/** Generates up to maxTokens ids after `prompt` (prompt is fed through the cache once, then one token per step). */
export function generate(model: LlamaModel, prompt: number[], options: GenerateOptions): number[] {
  const fn = 'generate';
  if (!Array.isArray(prompt) || prompt.length === 0) throw new ArgumentError(fn, 'prompt', prompt, 'must be a non-empty array of token ids (start with BOS)');
  const max = options.maxTokens;
  if (!Number.isInteger(max) || max < 0) throw new ArgumentError(fn, 'options.maxTokens', max, 'must be a non-negative integer');
  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new ArgumentError(fn, 'options.temperature', temperature, 'must be a finite number >= 0');
  const topP = options.topP ?? 1;
  if (!(topP >= 0 && topP <= 1)) throw new ArgumentError(fn, 'options.topP', topP, 'must be in [0, 1]');
  const cache = options.cache ?? new Fp32KVCache(model.config, { capacity: Math.min(prompt.length + max, 1 << 16) });
  if (cache.length(0) !== 0) throw new ArgumentError(fn, 'options.cache', cache.length(0), 'must be empty');
  const stop = new Set(options.stopTokens ?? [bosOf(model.config), eosOf(model.config)]);
  const rng = new Rng(options.seed ?? 0);
  const out: number[] = [];
  if (max === 0) return out;
  let logits = model.forward(prompt, { cache, backend: options.backend, logits: 'last' });
  for (let step = 0; step < max; step++) {
    const next = sampleLogits(logits.data, { temperature, topP, rng });
    if (stop.has(next)) break;
    out.push(next);
    options.onToken?.(next);
    if (step + 1 < max) logits = model.forward([next], { cache, backend: options.backend, logits: 'last' });
  }
  return out;
}
