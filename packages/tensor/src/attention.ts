/**
 * The attention routine of the backend contract: causal grouped-query attention of t new queries over
 * `len` cached positions (the queries are the last t of them), f32 storage. Its arguments, shared
 * validator and the reference implementation (f64 scores, softmax and accumulation) live here; the
 * fp32 KV cache (`kv-cache.ts`) and every compressed cache call it through `routine(backend, 'attention')`.
 */
import { ArgumentError, DTypeError, ShapeError } from './errors.js';
import { checkDim } from './int4.js';

export interface AttentionArgs {
  /** New queries (the last t of the len positions). */
  t: number;
  /** Cached positions (keys/values rows), t ≤ len. */
  len: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Queries, post-RoPE, [t, nHeads·headDim]. */
  q: Float32Array;
  /** Keys and values, [≥ len, nKvHeads·headDim]. */
  k: Float32Array;
  v: Float32Array;
  /** Output, [t, nHeads·headDim]. */
  out: Float32Array;
  /** Score scale (default 1/√headDim). */
  scale?: number;
}

const nameOf = (v: unknown) => (v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v);

/** Validates `AttentionArgs`; returns the scale. */
export function validateAttention(fn: string, p: AttentionArgs): number {
  if (p === null || typeof p !== 'object') throw new ArgumentError(fn, 'args', p, 'must be an AttentionArgs object');
  const t = checkDim(fn, 't', p.t),
    len = checkDim(fn, 'len', p.len);
  if (t > len) throw new ArgumentError(fn, 't', t, `must be at most len = ${len} (the queries are the last t positions)`);
  const nH = checkDim(fn, 'nHeads', p.nHeads),
    nKv = checkDim(fn, 'nKvHeads', p.nKvHeads),
    hd = checkDim(fn, 'headDim', p.headDim);
  if (nKv < 1 || nH % nKv !== 0) throw new ArgumentError(fn, 'nKvHeads', nKv, `must be ≥ 1 and divide nHeads = ${nH}`);
  for (const name of ['q', 'k', 'v', 'out'] as const) {
    if (!(p[name] instanceof Float32Array)) throw new DTypeError(fn, `argument '${name}' must be a Float32Array, got ${nameOf(p[name])}`);
  }
  const qn = t * nH * hd,
    kn = len * nKv * hd;
  if (p.q.length < qn) throw new ShapeError(fn, `argument 'q' is too short: needs ${qn} elements, got length ${p.q.length}`);
  if (p.k.length < kn) throw new ShapeError(fn, `argument 'k' is too short: needs ${kn} elements, got length ${p.k.length}`);
  if (p.v.length < kn) throw new ShapeError(fn, `argument 'v' is too short: needs ${kn} elements, got length ${p.v.length}`);
  if (p.out.length < qn) throw new ShapeError(fn, `argument 'out' is too short: needs ${qn} elements, got length ${p.out.length}`);
  const scale = p.scale ?? 1 / Math.sqrt(hd);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new ArgumentError(fn, 'scale', p.scale, 'must be a finite number');
  return scale;
}

let scratch = new Float64Array(64);

/** Reference `attention`: f64 scores, softmax and accumulation, rounded once to f32. */
export function attentionReference(p: AttentionArgs): void {
  const scale = validateAttention('attention', p);
  const { t, len, nHeads, nKvHeads, headDim: hd, q, k: keys, v: values, out } = p;
  const kvDim = nKvHeads * hd,
    qDim = nHeads * hd,
    group = nHeads / nKvHeads;
  if (scratch.length < len + hd) scratch = new Float64Array(Math.max(len + hd, 2 * scratch.length));
  const scores = scratch,
    accOff = len;
  for (let i = 0; i < t; i++) {
    const pos = len - t + i;
    for (let h = 0; h < nHeads; h++) {
      const qo = i * qDim + h * hd;
      const ko = Math.floor(h / group) * hd;
      let mx = -Infinity;
      for (let j = 0; j <= pos; j++) {
        const kb = j * kvDim + ko;
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[qo + d]! * keys[kb + d]!;
        s *= scale;
        scores[j] = s;
        if (s > mx) mx = s;
      }
      let sum = 0;
      for (let j = 0; j <= pos; j++) {
        const e = Math.exp(scores[j]! - mx);
        scores[j] = e;
        sum += e;
      }
      scores.fill(0, accOff, accOff + hd);
      for (let j = 0; j <= pos; j++) {
        const w = scores[j]!;
        const vb = j * kvDim + ko;
        for (let d = 0; d < hd; d++) scores[accOff + d]! += w * values[vb + d]!;
      }
      const inv = 1 / sum;
      for (let d = 0; d < hd; d++) out[qo + d] = scores[accOff + d]! * inv;
    }
  }
}
