import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, NonFiniteError, type Tensor, randn, tensor, f16ToF32 } from '@llmpress/tensor';
import { rtnQuantize, QuantizedLinear, packedRowBytes, unpackBits, type Bits, type QuantGrid } from './index.js';

function randW(m: number, n: number, seed: number, scale: number): Tensor<'f32'> {
  return randn([m, n], { seed, std: scale }) as Tensor<'f32'>;
}

describe('rtnQuantize', () => {
  it('quantize → dequantize error is at most half a step (every bits / sym / grid / ragged group / scale dtype)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Bits>(2, 3, 4, 5, 6, 7, 8),
        fc.boolean(),
        fc.constantFrom<QuantGrid>('full', 'restricted'),
        fc.constantFrom(0, 4, 8, 32),
        fc.constantFrom<'f16' | 'f32'>('f16', 'f32'),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 1e-3, max: 100, noNaN: true }),
        (bits, symmetric, grid, groupSize0, scaleDtype, m, n, seed, scale) => {
          const groupSize = Math.min(groupSize0, n); // any width, the last group ragged when g ∤ n
          const w = randW(m, n, seed, scale);
          const q = rtnQuantize(w, { bits, symmetric, grid: symmetric ? grid : 'full', groupSize, scaleDtype });
          expect(q.nGroups).toBe(groupSize ? Math.ceil(n / groupSize) : 1);
          const d = q.toDense();
          const g = groupSize || n;
          for (let r = 0; r < m; r++)
            for (let j = 0; j < n; j++) {
              const s = q.scale(r, Math.floor(j / g));
              const err = Math.abs(d.get(r, j) - w.get(r, j));
              // f32 rounding of s·(c − z) adds at most a few ulps of |w|
              expect(err).toBeLessThanOrEqual(s / 2 + 4 * 2 ** -23 * Math.abs(w.get(r, j)) + 1e-30);
            }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('dequantization is bit-exact against a plain reference (unpacked codes, f32(s · (c − z)), ragged groups)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Bits>(2, 3, 4, 5, 6, 7, 8),
        fc.boolean(),
        fc.constantFrom<QuantGrid>('full', 'restricted'),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 75 }),
        fc.integer({ min: 0, max: 1000 }),
        (bits, symmetric, grid, g0, m, n, seed) => {
          const g = Math.min(g0, n);
          const q = rtnQuantize(randW(m, n, seed, 1), { bits, symmetric, grid: symmetric ? grid : 'full', groupSize: g });
          const codes = unpackBits(q.packed, m, n, bits);
          const zeros = symmetric ? null : unpackBits(q.zeros!, m, Math.ceil(n / g), bits);
          const d = q.toDense();
          for (let r = 0; r < m; r++)
            for (let j = 0; j < n; j++) {
              const k = Math.floor(j / g),
                z = zeros ? zeros[r * Math.ceil(n / g) + k]! : 2 ** (bits - 1);
              expect(d.get(r, j)).toBe(Math.fround(f16ToF32(q.scales[r * Math.ceil(n / g) + k]!) * (codes[r * n + j]! - z)));
            }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the full grid: s = 2·absmax / (2^b − 1), levels −2^(b−1)..2^(b−1) − 1 (the extra negative level reached by clipped values)', () => {
    for (const bits of [2, 3, 4, 8] as Bits[]) {
      const maxq = 2 ** bits - 1,
        s0 = 2 / maxq; // absmax 1
      const q = rtnQuantize(tensor([[1, -1, 0.5, 0.25]]), { bits, scaleDtype: 'f32' });
      expect(q.scale(0, 0)).toBeGreaterThanOrEqual(s0);
      expect(q.scale(0, 0)).toBeLessThan(s0 * (1 + 1e-6));
      const c = unpackBits(q.packed, 1, 4, bits);
      expect(c[0]).toBe(maxq); // +absmax → level 2^(b−1) − 1 (error s/2)
      expect(c[1]).toBeLessThanOrEqual(1); // −absmax → level −2^(b−1) + 1 or −2^(b−1)
      for (const [j, v] of [
        [0, 1],
        [1, -1],
      ] as const)
        expect(Math.abs(q.toDense().get(0, j) - v)).toBeLessThanOrEqual(q.scale(0, 0) / 2 + 1e-7);
      // with clip search the shrunk range clamps the extremes: all 2^b codes occur (2 bits: 4 levels, not ternary)
      if (bits <= 4) {
        // (at 8 bits the search keeps the full range on Gaussian rows)
        const cs = rtnQuantize(randW(8, 64, 5, 1), { bits, clipSearch: true });
        const used = new Set(unpackBits(cs.packed, 8, 64, bits));
        expect(used.has(0)).toBe(true);
        expect(used.has(maxq)).toBe(true);
      }
      // the restricted grid: s = absmax / (2^(b−1) − 1), code 0 never used
      const r = rtnQuantize(tensor([[1, -1, 0.5, 0.25]]), { bits, grid: 'restricted', scaleDtype: 'f32' });
      expect(r.scale(0, 0)).toBeGreaterThanOrEqual(1 / (2 ** (bits - 1) - 1));
      expect(Math.min(...unpackBits(r.packed, 1, 4, bits))).toBe(1);
      const rc = rtnQuantize(randW(8, 64, 5, 1), { bits, grid: 'restricted', clipSearch: true });
      expect(new Set(unpackBits(rc.packed, 8, 64, bits)).has(0)).toBe(false);
    }
  });

  it('4-bit g32 f16 codes are GGUF Q4_0 blocks (d·(q − 8)) and 8-bit g32 codes Q8_0 blocks (d·q, q = c − 128)', () => {
    const m = 3,
      n = 96,
      w = randW(m, n, 17, 0.7);
    const f16 = (h: number) => f16ToF32(h);
    const q4 = rtnQuantize(w, { bits: 4, groupSize: 32 });
    const c4 = unpackBits(q4.packed, m, n, 4),
      d4 = q4.toDense();
    for (let r = 0; r < m; r++)
      for (let j = 0; j < n; j++) {
        const d = f16(q4.scales[r * 3 + (j >> 5)]!),
          qv = c4[r * n + j]!;
        expect(qv).toBeGreaterThanOrEqual(0);
        expect(qv).toBeLessThanOrEqual(15);
        expect(d4.get(r, j)).toBe(Math.fround(d * (qv - 8)));
        // Q4_0 nibble order: byte k of a block = q[k] | q[k + 16] << 4; rebuild from our codes and decode back
        const blockByte = c4[r * n + (j & ~31) + (j & 15)]! | (c4[r * n + (j & ~31) + (j & 15) + 16]! << 4);
        expect(j & 16 ? blockByte >> 4 : blockByte & 15).toBe(qv);
      }
    const q8 = rtnQuantize(w, { bits: 8, groupSize: 32 });
    const c8 = unpackBits(q8.packed, m, n, 8),
      d8 = q8.toDense();
    for (let r = 0; r < m; r++)
      for (let j = 0; j < n; j++) {
        const qi = c8[r * n + j]! - 128;
        expect(qi).toBeGreaterThanOrEqual(-128);
        expect(qi).toBeLessThanOrEqual(127);
        expect(d8.get(r, j)).toBe(Math.fround(f16(q8.scales[r * 3 + (j >> 5)]!) * qi));
      }
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

  it('rounds f16 scales upward (stored scale ≥ the grid step)', () => {
    const w = tensor([[0.1234567, -0.3333333, 0.05, 0.2]]);
    const q = rtnQuantize(w, { bits: 4 });
    expect(f16ToF32(q.scales[0]!)).toBeGreaterThanOrEqual((2 * 0.3333333) / 15);
    expect(q.scale(0, 0)).toBeLessThan(((2 * 0.3333333) / 15) * (1 + 2 ** -9));
    const r = rtnQuantize(w, { bits: 4, grid: 'restricted' });
    expect(f16ToF32(r.scales[0]!)).toBeGreaterThanOrEqual(0.3333333 / 7);
    expect(r.scale(0, 0)).toBeLessThan((0.3333333 / 7) * (1 + 2 ** -9));
  });

  it('a ragged last group is counted honestly: ⌈n / g⌉ scales per row, never per-channel', () => {
    const w = randW(4, 172, 2, 1); // stories260K down_proj width with g = 32: 5 full groups + 12 columns
    const q = rtnQuantize(w, { bits: 3, groupSize: 32 });
    expect(q.nGroups).toBe(6);
    expect(q.groupSize).toBe(32);
    expect(q.bytes()).toBe(4 * packedRowBytes(3, 172) + 4 * 6 * 2);
    // the last group has its own scale, from its own 12 columns
    let amax = 0;
    for (let j = 160; j < 172; j++) amax = Math.max(amax, Math.abs(w.get(1, j)));
    expect(q.scale(1, 5)).toBeGreaterThanOrEqual((2 * amax) / 7);
    expect(q.scale(1, 5)).toBeLessThan(((2 * amax) / 7) * (1 + 2 ** -9));
  });

  it('forward equals x · dequant(W)ᵀ', () => {
    const w = randW(5, 24, 7, 0.5);
    const q = rtnQuantize(w, { bits: 4, groupSize: 8, symmetric: false });
    const x = randn([3, 24], { seed: 9 }) as Tensor<'f32'>;
    const y = q.forward(x),
      d = q.toDense();
    for (let t = 0; t < 3; t++)
      for (let r = 0; r < 5; r++) {
        let s = 0,
          sa = 0;
        for (let j = 0; j < 24; j++) {
          s += x.get(t, j) * d.get(r, j);
          sa += Math.abs(x.get(t, j) * d.get(r, j));
        }
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

  it('rejects bad bits, groups wider than the input, bad grids and non-finite weights (typed, naming fn / argument / value)', () => {
    const w = randW(2, 12, 1, 1);
    for (const b of [1, 9, 0, 4.5, NaN, '4']) {
      const e = (() => {
        try {
          rtnQuantize(w, { bits: b as Bits });
        } catch (x) {
          return x as ArgumentError;
        }
        return null;
      })();
      expect(e).toBeInstanceOf(ArgumentError);
      expect(e!.message).toMatch(/rtnQuantize/);
      expect(e!.message).toMatch(/options\.bits/);
    }
    expect(() => rtnQuantize(w, { bits: 4, groupSize: 13 })).toThrow(/options\.groupSize.*13|13.*must not exceed the input width 12/s);
    expect(() => rtnQuantize(w, { bits: 4, groupSize: 13 })).toThrow(ArgumentError);
    expect(() => rtnQuantize(w, { bits: 4, groupSize: -1 })).toThrow(ArgumentError);
    expect(() => rtnQuantize(w, { bits: 4, groupSize: 2.5 })).toThrow(ArgumentError);
    expect(() => rtnQuantize(w, { bits: 4, groupSize: 5 })).not.toThrow(); // ragged: 5 + 5 + 2
    expect(() => rtnQuantize(w, { bits: 4, grid: 'half' as QuantGrid })).toThrow(/options\.grid/);
    expect(() => rtnQuantize(w, { bits: 4, symmetric: false, grid: 'restricted' })).toThrow(/symmetric/);
    const bad = w.contiguous(true);
    bad.data[5] = NaN;
    expect(() => rtnQuantize(bad, { bits: 4 })).toThrow(NonFiniteError);
    expect(() => rtnQuantize(tensor([[1e9, 1]]), { bits: 4 })).toThrow(/f16 range/);
    expect(() => rtnQuantize(tensor([[1e9, 1]]), { bits: 4, scaleDtype: 'f32' })).not.toThrow();
  });

  it('an all-zero row dequantizes to exact zeros', () => {
    const q = rtnQuantize(
      tensor([
        [0, 0, 0, 0],
        [1, -1, 0.5, 0],
      ]),
      { bits: 2, symmetric: false },
    );
    expect(Array.from(q.toDense().data.slice(0, 4))).toEqual([0, 0, 0, 0]);
  });
});
