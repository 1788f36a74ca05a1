import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError } from '@llmpress/tensor';
import { packBits, unpackBits, packedRowBytes, type Bits } from './index.js';

describe('bit packing', () => {
  for (const bits of [2, 3, 4, 5, 6, 7, 8] as Bits[]) {
    it(`round-trips ${bits}-bit codes, with exact byte counts`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 37 }), fc.integer(), (rows, cols, seed) => {
          let s = seed >>> 0;
          const codes = new Uint8Array(rows * cols);
          for (let i = 0; i < codes.length; i++) {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            codes[i] = s >>> (32 - bits);
          }
          const p = packBits(codes, rows, cols, bits);
          const per = bits === 3 ? 3 * Math.ceil(cols / 8) : Math.ceil((cols * bits) / 8);
          expect(p.length).toBe(rows * per);
          expect(packedRowBytes(bits, cols)).toBe(per);
          expect(Array.from(unpackBits(p, rows, cols, bits))).toEqual(Array.from(codes));
        }),
        { numRuns: 40 },
      );
    });
  }
  it('uses the documented layouts', () => {
    expect(Array.from(packBits([1, 2, 3], 1, 3, 4))).toEqual([0x21, 0x03]);
    expect(Array.from(packBits([1, 2, 3, 0, 3], 1, 5, 2))).toEqual([1 | (2 << 2) | (3 << 4), 3]);
    // int3: 8 codes → 24-bit little-endian word Σ c_i << 3i
    const c = [1, 2, 3, 4, 5, 6, 7, 0];
    const w = c.reduce((a, v, i) => a + v * 2 ** (3 * i), 0);
    expect(Array.from(packBits(c, 1, 8, 3))).toEqual([w & 255, (w >>> 8) & 255, (w >>> 16) & 255]);
    // 5..7 bits: a little-endian bit stream (code j at bits [b·j, b·j + b))
    expect(Array.from(packBits([31, 1, 0], 1, 3, 5))).toEqual([31 | (1 << 5), 0]);
    expect(Array.from(packBits([63, 1], 1, 2, 6))).toEqual([63 | (1 << 6), 0]);
    expect(Array.from(packBits([127, 127], 1, 2, 7))).toEqual([255, 63]);
  });
  it('rejects out-of-range codes and bad bit widths', () => {
    expect(() => packBits([16], 1, 1, 4)).toThrow(ArgumentError);
    for (const b of [0, 1, 9, 4.5, NaN]) expect(() => packBits([1], 1, 1, b)).toThrow(/bits/);
    expect(() => packBits([32], 1, 1, 5)).toThrow(ArgumentError);
    expect(() => unpackBits(new Uint8Array(3), 1, 8, 4)).toThrow(ArgumentError);
  });
});
