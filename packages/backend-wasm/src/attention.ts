/**
 * The WASM backend's `attention` routine: causal grouped-query attention in one SIMD kernel
 * (assembly/attention.ts: scores, softmax and the value sum per query row and head), split over query
 * rows across threads for scoring. Arguments are checked by the shared validator of @llmpress/tensor.
 */
import { validateAttention, type AttentionArgs } from '@llmpress/tensor';
import type { ExtraContext } from './core.js';

export function makeAttention(ctx: ExtraContext): (p: AttentionArgs) => void {
  const { alloc } = ctx;
  return function attention(p: AttentionArgs): void {
    const fn = 'attention';
    ctx.alive(fn);
    const scale = validateAttention(fn, p);
    const { t, len, nHeads: nH, nKvHeads: nKv, headDim: hd } = p;
    if (t === 0 || nH === 0 || hd === 0) return;
    const qn = t * nH * hd,
      kn = len * nKv * hd;
    const temps: number[] = [];
    const inMem = (a: Float32Array, n: number, copy = true): number => {
      if (ctx.isResident(a)) return a.byteOffset;
      const ptr = alloc.alloc(n * 4, fn);
      temps.push(ptr);
      if (copy && n) new Float32Array(ctx.buf(), ptr, n).set(a.subarray(0, n));
      return ptr;
    };
    try {
      const Q = inMem(p.q, qn),
        Kp = inMem(p.k, kn),
        V = inMem(p.v, kn),
        O = inMem(p.out, qn, false);
      // one score row per thread: the job builder allocates it with the thread's range
      ctx.runSplit('sattention', t, 1, t * len * nH * hd * 2, (lo, hi) => {
        const sc = alloc.alloc(Math.max(4, len * 4), fn);
        temps.push(sc);
        return [lo, hi, t, len, nH, nKv, hd, scale, Q, Kp, V, O, sc];
      });
      if (!ctx.isResident(p.out)) p.out.set(new Float32Array(ctx.buf(), O, qn));
    } finally {
      for (const ptr of temps) alloc.release(ptr);
    }
  };
}
