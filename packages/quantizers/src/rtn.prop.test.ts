import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, NonFiniteError, Tensor, randn, tensor, f16ToF32 } from '@llmpress/tensor';
import { rtnQuantize, QuantizedLinear, packedRowBytes, type Bits } from './index.js';

function randW(m: number, n: number, seed: number, scale: number): Tensor<'f32'> {
  return randn([m, n], { seed, std: scale }) as Tensor<'f32'>;
}

describe('rtnQuantize', () => {
  it('quantize → dequantize error is at most half a step (every bits / sym / group / scale dtype)', () => {
    fc.assert(fc.property(
      fc.constantFrom<Bits>(2, 3, 4, 8), fc.boolean(), fc.constantFrom(0, 4, 8), fc.constantFrom<'f16' | 'f32'>('f16', 'f32'),
      fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 1e-3, max: 100, noNaN: true }),
      (bits, symmetric, groupSize, scaleDtype, m, ng, seed, scale) => {
        const n = (groupSize || 8) * ng;
        const w = randW(m, n, seed, scale);
        const q = rtnQuantize(w, { bits, symmetric, groupSize, scaleDtype });
        const d = q.toDense();
        const g = groupSize || n;
        for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) {
          const s = q.scale(r, Math.floor(j / g));
          const err = Math.abs(d.get(r, j) - w.get(r, j));
          // f32 rounding of s·(c − z) adds at most a few ulps of |w|
          expect(err).toBeLessThanOrEqual(s / 2 + 4 * 2 ** -23 * Math.abs(w.get(r, j)) + 1e-30);
        }
      }), { numRuns: 60 });
  });

  it('stores exactly packed codes + scales (+ zeros) bytes', () => {
    const w = randW(6, 32, 3, 1);
    const a = rtnQuantize(w, { bits: 4 });
    expect(a.bytes()).toBe(6 * 16 + 6 * 2);
    const b = rtnQuantize(w, { bits: 3, symmetric: false, groupSize: 8, scaleDtype: 'f32' });
    expect(b.bytes()).toBe(6 * packedRowBytes(3, 32) + 6 * 4 * 4 + 6 * packedRowBytes(3, 4));
    expect(b.packed.length).toBe(6 * 12);
    const c = rtnQuantize(w, { bits: 2, groupSize: 16 });
    expect(c.bytes()).toBe(6 * 8 + 6 * 2 * 2);
    expect(c.bitsPerWeight()).toBeCloseTo(2 + 16 / 16, 10);
  });

  it('rounds f16 scales upward (stored scale ≥ absmax / qmax)', () => {
    const w = tensor([[0.1234567, -0.3333333, 0.05, 0.2]]);
    const q = rtnQuantize(w, { bits: 4 });
    expect(f16ToF32(q.scales[0]!)).toBeGreaterThanOrEqual(0.3333333 / 7);
    expect(q.scale(0, 0)).toBeLessThan((0.3333333 / 7) * (1 + 2 ** -9));
  });

  it('forward equals x · dequant(W)ᵀ', () => {
    const w = randW(5, 24, 7, 0.5);
    const q = rtnQuantize(w, { bits: 4, groupSize: 8, symmetric: false });
    const x = randn([3, 24], { seed: 9 }) as Tensor<'f32'>;
    const y = q.forward(x), d = q.toDense();
    for (let t = 0; t < 3; t++) for (let r = 0; r < 5; r++) {
      let s = 0, sa = 0;
      for (let j = 0; j < 24; j++) { s += x.get(t, j) * d.get(r, j); sa += Math.abs(x.get(t, j) * d.get(r, j)); }
      expect(Math.abs(y.get(t, r) - s)).toBeLessThanOrEqual(24 * 4 * 2 ** -24 * sa);
    }
  });

  it('serialize → deserialize gives the same layer and bytes', () => {
    for (const opts of [{ bits: 4 as Bits }, { bits: 3 as Bits, symmetric: false, groupSize: 4, scaleDtype: 'f32' as const }]) {
      const q = rtnQuantize(randW(4, 16, 11, 2), opts);
      const r = QuantizedLinear.deserialize(q.serialize());
      expect(r.bytes()).toBe(q.bytes());
      expect(Array.from(r.toDense().data)).toEqual(Array.from(q.toDense().data));
    }
  });

  it('rejects bad bits, non-dividing groups and non-finite weights', () => {
    const w = randW(2, 12, 1, 1);
    expect(() => rtnQuantize(w, { bits: 5 as Bits })).toThrow(ArgumentError);
    expect(() => rtnQuantize(w, { bits: 1 as Bits })).toThrow(/options\.bits/);
    expect(() => rtnQuantize(w, { bits: 4, groupSize: 5 })).toThrow(/must divide the input width 12/);
    const bad = w.contiguous(true); bad.data[5] = NaN;
    expect(() => rtnQuantize(bad, { bits: 4 })).toThrow(NonFiniteError);
    expect(() => rtnQuantize(tensor([[1e9, 1]]), { bits: 4 })).toThrow(/f16 range/);
    expect(() => rtnQuantize(tensor([[1e9, 1]]), { bits: 4, scaleDtype: 'f32' })).not.toThrow();
  });

  it('an all-zero row dequantizes to exact zeros', () => {
    const q = rtnQuantize(tensor([[0, 0, 0, 0], [1, -1, 0.5, 0]]), { bits: 2, symmetric: false });
    expect(Array.from(q.toDense().data.slice(0, 4))).toEqual([0, 0, 0, 0]);
  });
});
