import { describe, it, expect } from 'vitest';
import { DenseLinear, Tensor, tolerance, maxAbsDiff, ArgumentError, type LinearLayer } from '@llmpress/tensor';
import { Fp32KVCache, type LlamaModel, type KVCacheLike } from './model.js';
import { generate } from './generate.js';
import { randomModel } from './testing/random-model.js';

/** float64 straight-line reference forward (one token at a time, like run.c), independent of the model's code paths. */
function naiveForward(m: LlamaModel, tokens: number[]): Float64Array[] {
  const c = m.config,
    hd = c.headDim,
    kvDim = c.nKvHeads * hd;
  const W = (l: LinearLayer) => {
    const d = l.toDense();
    return { w: d.contiguous().data, out: d.shape[0]!, inF: d.shape[1]! };
  };
  const mv = (l: LinearLayer, x: Float64Array) => {
    const { w, out, inF } = W(l);
    const y = new Float64Array(out);
    for (let i = 0; i < out; i++) {
      let s = 0;
      for (let j = 0; j < inF; j++) s += w[i * inF + j]! * x[j]!;
      y[i] = s;
    }
    return y;
  };
  const rms = (x: Float64Array, w: Float32Array) => {
    let s = 0;
    for (const v of x) s += v * v;
    const r = 1 / Math.sqrt(s / x.length + c.normEps);
    return x.map((v, i) => v * r * w[i]!);
  };
  const rope = (x: Float64Array, pos: number, heads: number) => {
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < hd / 2; i++) {
        const f = pos / Math.pow(c.ropeTheta, (2 * i) / hd);
        const [a, b] = c.ropeStyle === 'interleaved' ? [h * hd + 2 * i, h * hd + 2 * i + 1] : [h * hd + i, h * hd + i + hd / 2];
        const x0 = x[a]!,
          x1 = x[b]!;
        x[a] = x0 * Math.cos(f) - x1 * Math.sin(f);
        x[b] = x0 * Math.sin(f) + x1 * Math.cos(f);
      }
  };
  const K: Float64Array[][] = m.blocks.map(() => []),
    V: Float64Array[][] = m.blocks.map(() => []);
  const out: Float64Array[] = [];
  tokens.forEach((tok, pos) => {
    let x = Float64Array.from(m.embedding.data.subarray(tok * c.dim, (tok + 1) * c.dim));
    m.blocks.forEach((b, l) => {
      const h = rms(x, b.attnNorm);
      const q = mv(b.q, h),
        k = mv(b.k, h),
        v = mv(b.v, h);
      rope(q, pos, c.nHeads);
      rope(k, pos, c.nKvHeads);
      K[l]!.push(k);
      V[l]!.push(v);
      const att = new Float64Array(c.nHeads * hd);
      for (let hh = 0; hh < c.nHeads; hh++) {
        const kh = Math.floor(hh / (c.nHeads / c.nKvHeads));
        const sc = K[l]!.map((kk) => {
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[hh * hd + d]! * kk[kh * hd + d]!;
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, b2) => a + b2, 0);
        for (let j = 0; j < e.length; j++) for (let d = 0; d < hd; d++) att[hh * hd + d]! += (e[j]! / z) * V[l]![j]![kh * hd + d]!;
      }
      const o = mv(b.o, att);
      x = x.map((v2, i) => v2 + o[i]!);
      const h2 = rms(x, b.ffnNorm);
      const g = mv(b.gate, h2),
        u = mv(b.up, h2);
      const a = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const d = mv(b.down, a);
      x = x.map((v2, i) => v2 + d[i]!);
      void kvDim;
    });
    out.push(mv(m.lmHead, rms(x, m.finalNorm)));
  });
  return out;
}

function maxErr(a: Tensor<'f32'>, b: Float64Array[]): number {
  let e = 0;
  const V = a.shape[1]!;
  b.forEach((row, i) =>
    row.forEach((v, j) => {
      e = Math.max(e, Math.abs(a.data[i * V + j]! - v));
    }),
  );
  return e;
}

describe('LlamaModel forward (synthetic models against a float64 straight-line reference)', () => {
  const cases = [
    { name: 'interleaved RoPE, GQA 4/2, tied', cfg: {} },
    { name: 'half RoPE, MHA, untied', cfg: { ropeStyle: 'half' as const, nKvHeads: 4, tiedEmbeddings: false } },
    { name: 'GQA 8/2, theta 500000', cfg: { nHeads: 8, nKvHeads: 2, headDim: 4, ropeTheta: 500000 } },
  ];
  for (const { name, cfg } of cases) {
    it(name, () => {
      const m = randomModel(cfg, 7);
      const toks = [1, 5, 9, 3, 3, 17, 22, 0, 39, 12];
      const ref = naiveForward(m, toks);
      const got = m.forward(toks);
      expect(got.shape).toEqual([toks.length, m.config.vocabSize]);
      expect(maxErr(got, ref)).toBeLessThan(tolerance('f32', m.config.dim, 100));
    });
  }
  it('the two RoPE styles give different logits (the style is honoured)', () => {
    const a = randomModel({}, 3),
      b = randomModel({ ropeStyle: 'half' }, 3);
    expect(maxAbsDiff(a.forward([1, 2, 3, 4]), b.forward([1, 2, 3, 4]))).toBeGreaterThan(1e-3);
  });
  it('incremental decoding through the cache equals batched scoring', () => {
    const m = randomModel({}, 11);
    const toks = [1, 4, 8, 15, 16, 23, 42 % 40, 7];
    const batched = m.forward(toks);
    const cache = new Fp32KVCache(m.config);
    const first = m.forward(toks.slice(0, 3), { cache });
    expect(cache.length(0)).toBe(3);
    const rows = [first];
    for (const t of toks.slice(3)) rows.push(m.forward([t], { cache }));
    const V = m.config.vocabSize;
    let e = 0;
    let r = 0;
    for (const R of rows)
      for (let i = 0; i < R.shape[0]!; i++, r++) for (let j = 0; j < V; j++) e = Math.max(e, Math.abs(R.data[i * V + j]! - batched.data[r * V + j]!));
    expect(e).toBeLessThan(tolerance('f32', 64, 100));
    const last = m.forward([3], { cache: new Fp32KVCache(m.config), logits: 'last' });
    expect(last.shape).toEqual([1, V]);
  });
  it('a custom KVCacheLike is used for attention', () => {
    const m = randomModel({}, 2);
    const inner = new Fp32KVCache(m.config);
    let calls = 0;
    const spy: KVCacheLike = {
      length: (l) => inner.length(l),
      append: (l, k, v, t) => inner.append(l, k, v, t),
      attend: (l, q, t) => {
        calls++;
        return inner.attend(l, q, t);
      },
    };
    const a = m.forward([1, 2, 3], { cache: spy });
    expect(calls).toBe(m.config.nLayers);
    expect(maxAbsDiff(a, m.forward([1, 2, 3]))).toBe(0);
  });
  it('hooks see every linear input, norm site and keys with the right shapes', () => {
    const m = randomModel({}, 5);
    const seen = new Map<string, number[]>();
    const norms: string[] = [];
    let keys = 0;
    m.forward([1, 2, 3, 4], {
      hooks: {
        onLinearInput: (name, role, block, x) => {
          seen.set(name, [...x.shape]);
          expect(name).toBe(`blocks.${block}.${role}`);
        },
        onNormOutput: (b, which) => norms.push(`${b}.${which}`),
        onKeys: (_b, k) => {
          keys++;
          expect(k.shape).toEqual([4, m.config.nKvHeads * m.config.headDim]);
        },
      },
    });
    expect(seen.size).toBe(7 * m.config.nLayers);
    expect(seen.get('blocks.1.down')).toEqual([4, m.config.hiddenDim]);
    expect(seen.get('blocks.0.o')).toEqual([4, m.config.nHeads * m.config.headDim]);
    expect(norms).toEqual(['0.attn', '0.ffn', '1.attn', '1.ffn', '2.final']);
    expect(keys).toBe(2);
  });
  it('setLinear swaps a layer (shape-checked) and clone() isolates the original', () => {
    const m = randomModel({}, 9);
    const base = m.forward([1, 2, 3]);
    const c = m.clone();
    const q = c.getLinear('blocks.1.q');
    const zero = new DenseLinear(new Tensor('f32', new Float32Array(q.outFeatures * q.inFeatures), [q.outFeatures, q.inFeatures]));
    c.setLinear('blocks.1.q', zero);
    expect(maxAbsDiff(m.forward([1, 2, 3]), base)).toBe(0);
    expect(maxAbsDiff(c.forward([1, 2, 3]), base)).toBeGreaterThan(1e-4);
    c.blocks[0]!.attnNorm[0] = 99;
    expect(m.blocks[0]!.attnNorm[0]).not.toBe(99);
    expect(() => c.setLinear('blocks.1.k', zero)).toThrow(ArgumentError);
    expect(() => c.setLinear('blocks.9.k', zero)).toThrow(/names block 9/);
    expect(() => c.setLinear('layers.0.q', zero)).toThrow(/blocks\.<i>/);
  });
  it('byte accounting: dense f32 is 32 bits per weight; tied head not double counted', () => {
    const m = randomModel({}, 1);
    expect(m.effectiveBitsPerWeight()).toBe(32);
    const c = m.config;
    const lin = c.nLayers * (2 * c.dim * c.nHeads * c.headDim + 2 * c.dim * c.nKvHeads * c.headDim + 3 * c.dim * c.hiddenDim);
    expect(m.linearBytes()).toBe(4 * lin);
    expect(m.storedBytes()).toBe(4 * (lin + c.vocabSize * c.dim + 2 * c.nLayers * c.dim + c.dim));
    const u = randomModel({ tiedEmbeddings: false }, 1);
    expect(u.storedBytes()).toBe(m.storedBytes() + 4 * c.vocabSize * c.dim);
  });
  it('rejects bad tokens and bad layers with typed errors naming the argument', () => {
    const m = randomModel({}, 1);
    expect(() => m.forward([1, 40])).toThrow(/tokens\[1\]/);
    expect(() => m.forward([])).toThrow(ArgumentError);
    expect(() => m.forward([1.5])).toThrow(/tokens\[0\]/);
  });
  it('generate: greedy is deterministic, sampling is seeded, top-p restricts to the nucleus', () => {
    const m = randomModel({}, 4);
    const g1 = generate(m, [1], { maxTokens: 12, stopTokens: [] });
    expect(g1).toEqual(generate(m, [1], { maxTokens: 12, stopTokens: [] }));
    expect(g1.length).toBe(12);
    const s1 = generate(m, [1], { maxTokens: 12, temperature: 1, topP: 0.9, seed: 5, stopTokens: [] });
    expect(s1).toEqual(generate(m, [1], { maxTokens: 12, temperature: 1, topP: 0.9, seed: 5, stopTokens: [] }));
    expect(generate(m, [1], { maxTokens: 12, temperature: 1, seed: 6, stopTokens: [] })).not.toEqual(s1);
    // a tiny nucleus is the argmax
    expect(generate(m, [1], { maxTokens: 12, temperature: 1, topP: 1e-9, seed: 5, stopTokens: [] })).toEqual(g1);
  });
});

describe('attendGemm (the GEMM route of Fp32KVCache) equals the attention routine', () => {
  it('same outputs for prefixes and full windows, GQA', async () => {
    const { attendGemm } = await import('./model.js');
    const { referenceBackend, attentionReference } = await import('@llmpress/tensor');
    const nH = 6,
      nKv = 2,
      hd = 4,
      len = 13;
    for (const t of [1, 5, 13]) {
      const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 2);
      const q = rnd(t * nH * hd, 1),
        k = rnd(len * nKv * hd, 2),
        v = rnd(len * nKv * hd, 3);
      const a = new Float32Array(t * nH * hd),
        b = new Float32Array(t * nH * hd);
      attentionReference({ t, len, nHeads: nH, nKvHeads: nKv, headDim: hd, q, k, v, out: a });
      attendGemm(q, t, k, v, len, nH, nKv, hd, new Float32Array(t * len), b, referenceBackend);
      let e = 0;
      for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
      expect(e).toBeLessThan(tolerance('f32', len, 100));
      expect(a.some((x) => x !== 0)).toBe(true);
    }
  });
});
