import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, ShapeError, NonFiniteError, Rng, dotTolerance, LlmpressError } from '@llmpress/tensor';
import { CompressedKVCache, Fp32KVCache, kthLargest } from './cache.js';
import { fp32Keys, kiviKeys, kiviValues, svdqKeys, fp32Values } from './codecs.js';
import { fitKeyBasis, type KeyBasis } from './basis.js';
import { packedBytes } from './bits.js';

const shape = { nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8 };
const kvDim = shape.nKvHeads * shape.headDim,
  qDim = shape.nHeads * shape.headDim;

function randn(rng: Rng, n: number, scale = 1, mean = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = mean + scale * rng.normal();
  return a;
}
/** Keys with a realistic spectrum: decaying channel scales and a common offset. */
function keysLike(rng: Rng, t: number, d = shape.headDim, heads = shape.nKvHeads): Float32Array {
  const a = new Float32Array(t * heads * d);
  for (let r = 0; r < t; r++)
    for (let h = 0; h < heads; h++) for (let i = 0; i < d; i++) a[(r * heads + h) * d + i] = 1.5 - i / d + (rng.normal() * 2) / (1 + i);
  return a;
}
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}
function run(cache: { append: any; attend: any }, rng: Rng, t: number, chunks: number[]): Float32Array[] {
  const outs: Float32Array[] = [];
  const k = keysLike(rng, t),
    v = randn(rng, t * kvDim),
    q = randn(rng, t * qDim);
  let at = 0;
  for (const c of chunks) {
    for (let l = 0; l < shape.nLayers; l++) {
      cache.append(l, k.slice(at * kvDim, (at + c) * kvDim), v.slice(at * kvDim, (at + c) * kvDim), c);
      outs.push(cache.attend(l, q.slice(at * qDim, (at + c) * qDim), c));
    }
    at += c;
  }
  return outs;
}
const cat = (xs: Float32Array[], layer: number) => {
  const sel = xs.filter((_, i) => i % shape.nLayers === layer);
  const o = new Float32Array(sel.reduce((s, x) => s + x.length, 0));
  let p = 0;
  for (const x of sel) {
    o.set(x, p);
    p += x.length;
  }
  return o;
};

describe('CompressedKVCache', () => {
  it('with a window covering the context it is fp32 attention (codec never used)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer(), (t, seed) => {
        const a = run(new Fp32KVCache(shape), new Rng(seed), t, [t]);
        const b = run(new CompressedKVCache(shape, { keys: kiviKeys({ bits: 1 }), window: 64 }), new Rng(seed), t, [t]);
        for (let i = 0; i < a.length; i++) expect(relErr(b[i]!, a[i]!)).toBeLessThanOrEqual(dotTolerance('f32', t, 8));
      }),
      { numRuns: 20 },
    );
  });

  it('an all-8-bit SVDq schedule with nothing dropped ≈ fp32 attention', () => {
    fc.assert(
      fc.property(fc.integer({ min: 40, max: 120 }), fc.integer(), fc.boolean(), (t, seed, center) => {
        const a = run(new Fp32KVCache(shape), new Rng(seed), t, [t]);
        const b = run(
          new CompressedKVCache(shape, {
            keys: svdqKeys({ schedule: new Array(8).fill(8) }),
            values: kiviValues({ bits: 8 }),
            window: 8,
            blockSize: 8,
            center,
          }),
          new Rng(seed),
          t,
          [t],
        );
        for (let i = 0; i < a.length; i++) expect(relErr(b[i]!, a[i]!)).toBeLessThan(2e-2);
        // and 1-bit keys are measurably worse (the check can fail)
        const c = run(
          new CompressedKVCache(shape, { keys: kiviKeys({ bits: 1 }), values: kiviValues({ bits: 1 }), window: 8, blockSize: 8 }),
          new Rng(seed),
          t,
          [t],
        );
        expect(relErr(c[0]!, a[0]!)).toBeGreaterThan(relErr(b[0]!, a[0]!));
      }),
      { numRuns: 10 },
    );
  });

  it('head dim 64: 8-bit SVDq keys (centered, prefill basis) ≈ fp32; the 1.25-bit preset drops channels and is worse', () => {
    const d = 64,
      t = 200,
      sh = { nLayers: 1, nHeads: 2, nKvHeads: 1, headDim: d };
    const rng = new Rng(11);
    const k = keysLike(rng, t, d, 1),
      v = randn(rng, t * d),
      q = randn(rng, 4 * 2 * d, 0.3);
    const outs = [
      new Fp32KVCache(sh),
      new CompressedKVCache(sh, { keys: svdqKeys({ schedule: new Array(d).fill(8) }), window: 16, blockSize: 32, center: true }),
      new CompressedKVCache(sh, { keys: svdqKeys({ schedule: { mean: 1.25 } }), window: 16, blockSize: 32, center: true }),
    ].map((c) => {
      c.append(0, k.subarray(0, (t - 4) * d), v.subarray(0, (t - 4) * d), t - 4);
      c.append(0, k.subarray((t - 4) * d), v.subarray((t - 4) * d), 4);
      return c.attend(0, q, 4);
    });
    expect(relErr(outs[1]!, outs[0]!)).toBeLessThan(2e-2);
    expect(relErr(outs[2]!, outs[0]!)).toBeGreaterThan(relErr(outs[1]!, outs[0]!));
  });

  it('one prefill append equals appending token by token (decode emulation is exact)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 17, max: 90 }), fc.integer(), fc.integer({ min: 0, max: 20 }), fc.boolean(), (t, seed, window, sparse) => {
        const opts = () => ({
          keys: kiviKeys({ bits: 2 }),
          values: kiviValues({ bits: 2 }),
          window,
          blockSize: 8,
          center: false,
          sparsity: sparse ? { keep: 0.5 } : undefined,
        });
        const a = run(new CompressedKVCache(shape, opts()), new Rng(seed), t, [t]);
        const ones = run(new CompressedKVCache(shape, opts()), new Rng(seed), t, new Array(t).fill(1));
        for (let l = 0; l < shape.nLayers; l++) expect(relErr(cat(ones, l), a[l]!)).toBeLessThanOrEqual(1e-5);
      }),
      { numRuns: 12 },
    );
  });

  it('latent scores (qV)L̂ᵀ equal the scores of the reconstructed keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer(), fc.boolean(), (blocks, seed, center) => {
        const rng = new Rng(seed),
          d = 8,
          B = 8;
        const cache = new CompressedKVCache(
          { nLayers: 1, nHeads: 1, nKvHeads: 1, headDim: d },
          { keys: svdqKeys({ schedule: [4, 3, 2, 1, 1, 1] }), window: 0, blockSize: B, center },
        );
        const k = keysLike(rng, blocks * B, d, 1);
        cache.append(0, k, randn(rng, blocks * B * d), blocks * B);
        const { keys } = cache.head(0, 0);
        expect(keys.blocks).toBe(blocks);
        const q = randn(rng, d),
          qp = new Float32Array(keys.queryDim),
          sc = new Float32Array(blocks * B),
          rec = new Float32Array(blocks * B * d);
        keys.prepareQuery(q, 0, qp);
        keys.scores(qp, blocks, sc);
        for (let b = 0; b < blocks; b++) keys.decodeBlock(b, rec, b * B * d);
        for (let j = 0; j < blocks * B; j++) {
          let s = 0,
            mag = 0;
          for (let i = 0; i < d; i++) {
            s += q[i]! * rec[j * d + i]!;
            mag += Math.abs(q[i]! * rec[j * d + i]!);
          }
          expect(Math.abs(sc[j]! - s)).toBeLessThanOrEqual(dotTolerance('f32', 4 * d) * (mag + 1));
        }
      }),
      { numRuns: 30 },
    );
  });

  it('centering leaves attention unchanged while keys stay full precision (softmax ignores q·μ)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 60 }), fc.integer(), (t, seed) => {
        const mk = (center: boolean) => new CompressedKVCache(shape, { keys: fp32Keys(), window: 4, blockSize: 8, center });
        const a = run(mk(false), new Rng(seed), t, [t]);
        const b = run(mk(true), new Rng(seed), t, [t]);
        for (let i = 0; i < a.length; i++) expect(relErr(b[i]!, a[i]!)).toBeLessThan(1e-4);
        expect(mk(true).center).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it('a calibration basis gives the same cache as the prefill basis fitted on the same keys', () => {
    const rng = new Rng(5),
      t = 64,
      d = 8;
    const k = keysLike(rng, t, d, 1),
      v = randn(rng, t * d),
      q = randn(rng, t * d);
    const basis: KeyBasis[][] = [[fitKeyBasis(k, t, d, { center: true })]];
    const one = { nLayers: 1, nHeads: 1, nKvHeads: 1, headDim: d };
    const outs = [basis, 'prefill' as const].map((b) => {
      const c = new CompressedKVCache(one, { keys: svdqKeys({ schedule: { mean: 2 }, basis: b }), window: 0, blockSize: 64, center: true });
      c.append(0, k, v, t);
      return c.attend(0, q, t);
    });
    expect(relErr(outs[0]!, outs[1]!)).toBeLessThan(1e-5);
  });

  it('token sparsity keeps exactly ceil(keep·quantized) quantized tokens plus the window', () => {
    const a = new Float32Array([5, 1, 4, 2, 3, 3, 0]);
    expect(kthLargest(a.slice(), 7, 1)).toBe(5);
    expect(kthLargest(a.slice(), 7, 3)).toBe(3);
    expect(kthLargest(a.slice(), 7, 7)).toBe(0);
    // values = one-hot token ids: the output shows which tokens got weight
    const d = 8,
      t = 48,
      one = { nLayers: 1, nHeads: 1, nKvHeads: 1, headDim: d };
    const rng = new Rng(1);
    const k = keysLike(rng, t, d, 1),
      q = randn(rng, t * d);
    for (const keep of [1, 0.25, 0.125]) {
      const c = new CompressedKVCache(one, { keys: kiviKeys({ bits: 2 }), window: 8, blockSize: 8, sparsity: { keep } });
      let nonzero = 0;
      // attend with a single query at the end and count tokens with weight via values = e_j in a wide-enough head
      for (let j = 0; j < t; j++) {
        const vv = new Float32Array(d);
        vv[j % d] = j < 40 ? 1 : 0;
        c.append(0, k.slice(j * d, j * d + d), vv, 1);
      }
      const out = c.attend(0, q.slice((t - 1) * d, t * d), 1);
      nonzero = out.filter((x) => x > 0).length;
      const quantized = 40; // t − window rounded down to blocks
      const expectTokens = Math.min(quantized, Math.ceil(keep * quantized));
      expect(nonzero).toBeLessThanOrEqual(Math.min(d, expectTokens));
      if (keep === 1) expect(nonzero).toBe(d);
    }
  });

  it('byte counts are exact', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 24 }), fc.constantFrom('f16', 'f32'), (t, window, sdt) => {
        const B = 16,
          d = shape.headDim,
          H = shape.nKvHeads,
          schedule = [4, 2, 2, 1, 1, 0, 0, 0];
        const c = new CompressedKVCache(shape, {
          keys: svdqKeys({ schedule }),
          values: kiviValues({ bits: 2 }),
          window,
          blockSize: B,
          center: true,
          scaleDType: sdt as 'f16' | 'f32',
        });
        const rng = new Rng(t);
        for (let l = 0; l < shape.nLayers; l++) {
          c.append(l, keysLike(rng, t), randn(rng, t * kvDim), t);
          c.attend(l, randn(rng, t * qDim), t);
        }
        const nq = t - window >= B ? Math.floor((t - window) / B) * B : 0;
        const blocks = nq / B,
          sb = sdt === 'f16' ? 2 : 4,
          kept = 5,
          L = shape.nLayers;
        const r = c.bytes();
        expect(r.tokens).toBe(L * t);
        expect(r.keyCodes).toBe(L * H * blocks * schedule.reduce((s, b) => s + (b ? packedBytes(B, b) : 0), 0));
        expect(r.keyScales).toBe(L * H * blocks * kept * 2 * sb);
        expect(r.keyBasis).toBe(nq > 0 ? L * H * d * kept * 4 : 0);
        expect(r.keyMean).toBe(nq > 0 ? L * H * d * 4 : 0);
        expect(r.keyWindow).toBe(L * (t - nq) * H * d * 4);
        expect(r.valueCodes).toBe(L * H * nq * packedBytes(d, 2));
        expect(r.valueScales).toBe(L * H * nq * 2 * sb);
        expect(r.transient).toBe(0);
        expect(r.keyBitsPerElement).toBeCloseTo((r.keyBytes * 8) / (L * t * H * d), 12);
      }),
      { numRuns: 40 },
    );
  });

  it('bad input raises typed errors that name the function, argument and value', () => {
    const ok = { keys: kiviKeys({ bits: 2 }) };
    expect(() => new CompressedKVCache(shape, { ...ok, window: 600, maxContext: 512 })).toThrow(/window.*maxContext = 512/);
    expect(() => new CompressedKVCache(shape, { ...ok, blockSize: 12 })).toThrow(ArgumentError);
    expect(() => new CompressedKVCache({ ...shape, nKvHeads: 3 }, ok)).toThrow(ArgumentError);
    expect(() => new CompressedKVCache(shape, { ...ok, sparsity: { keep: 0 } })).toThrow(ArgumentError);
    expect(() => svdqKeys({ schedule: [9] })).toThrow(/svdqKeys: argument 'schedule\[0\]'.*got 9/);
    expect(() => svdqKeys({ schedule: [2, -1] })).toThrow(ArgumentError);
    expect(() => svdqKeys({ schedule: { mean: 0 } })).toThrow(ArgumentError);
    expect(() => new CompressedKVCache(shape, { keys: svdqKeys({ schedule: new Array(9).fill(1) }) })).toThrow(/at most headDim = 8/);
    expect(() => kiviKeys({ bits: 0 })).toThrow(ArgumentError);
    const wrongBasis = new CompressedKVCache(
      { nLayers: 1, nHeads: 1, nKvHeads: 1, headDim: 8 },
      { keys: svdqKeys({ schedule: { mean: 2 }, basis: [[fitKeyBasis(new Float32Array(64), 16, 4)]] }), window: 0, blockSize: 8 },
    );
    expect(() => wrongBasis.append(0, new Float32Array(64), new Float32Array(64), 8)).toThrow(/basis\[0\]\[0\]/);
    expect(() => kiviValues({ bits: 3, groupSize: 3 }).create({ layer: 0, head: 0, headDim: 8, blockSize: 8, scaleDType: 'f16' })).toThrow(/groupSize/);
    const c = new CompressedKVCache(shape, { ...ok, maxContext: 4, window: 2 });
    expect(() => c.append(0, new Float32Array(kvDim + 1), new Float32Array(kvDim), 1)).toThrow(ShapeError);
    expect(() => c.append(0, new Float32Array(kvDim), new Float32Array(kvDim), 1)).not.toThrow();
    expect(() => c.append(0, new Float32Array(4 * kvDim), new Float32Array(4 * kvDim), 4)).toThrow(/maxContext = 4/);
    expect(() => c.append(2, new Float32Array(kvDim), new Float32Array(kvDim), 1)).toThrow(/argument 'layer'/);
    const nan = new Float32Array(kvDim);
    nan[3] = NaN;
    expect(() => c.append(1, nan, new Float32Array(kvDim), 1)).toThrow(NonFiniteError);
    expect(() => c.attend(0, new Float32Array(2 * qDim), 2)).toThrow(ArgumentError);
    expect(c.attend(0, new Float32Array(0), 0).length).toBe(0);
    expect(() => c.append(0, new Float32Array(kvDim), new Float32Array(kvDim), -1)).toThrow(ArgumentError);
    expect(() => c.attend(0, new Float32Array(qDim - 1), 1)).toThrow(ShapeError);
    try {
      c.append(0, new Float32Array(3), new Float32Array(3), 1);
    } catch (e) {
      expect(LlmpressError.isInstance(e)).toBe(true);
      expect(String(e)).toMatch(/CompressedKVCache.append/);
    }
    const f = new Fp32KVCache(shape);
    expect(() => f.append(0, new Float32Array(3), new Float32Array(kvDim), 1)).toThrow(ShapeError);
    expect(fp32Values().name).toBe('fp32-v');
  });
});
