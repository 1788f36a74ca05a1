import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, Rng, f16ToF32 } from '@llmpress/tensor';
import { packBits, unpackBits, packedBytes, f16Floor, f16Ceil } from './bits.js';
import { quantizeGroup } from './quant.js';

describe('packBits / unpackBits', () => {
  it('round-trips any codes at every width 1..8 and uses exactly ceil(n·bits/8) bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 70 }), fc.integer(), (bits, n, seed) => {
        let s = seed >>> 0;
        const codes = Array.from({ length: n }, () => {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          return s % (1 << bits);
        });
        const packed = packBits(codes, bits);
        expect(packed.length).toBe(Math.ceil((n * bits) / 8));
        expect(packed.length).toBe(packedBytes(n, bits));
        expect(Array.from(unpackBits(packed, bits, n))).toEqual(codes);
      }),
      { numRuns: 200 },
    );
  });
  it('writes at an offset without touching neighbouring bytes', () => {
    const out = new Uint8Array(6).fill(0xaa);
    packBits([3, 0, 1, 2], 2, out, 2);
    expect(out[0]).toBe(0xaa);
    expect(out[1]).toBe(0xaa);
    expect(out[3]).toBe(0xaa);
    expect(out[2]).toBe(3 | (0 << 2) | (1 << 4) | (2 << 6));
    expect(Array.from(unpackBits(out, 2, 4, 2))).toEqual([3, 0, 1, 2]);
  });
  it('rejects widths out of range and codes that do not fit', () => {
    expect(() => packBits([0], 0)).toThrow(ArgumentError);
    expect(() => packBits([0], 9)).toThrow(/packBits: argument 'bits' must be an integer in \[1, 8\], got 9/);
    expect(() => packBits([4], 2)).toThrow(/codes\[0\]/);
    expect(() => unpackBits(new Uint8Array(1), 3, 8)).toThrow(ArgumentError);
  });
});

describe('quantizeGroup', () => {
  const finite = fc.float({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true });
  for (const dtype of ['f16', 'f32'] as const) {
    it(`error ≤ half a step and codes in range (${dtype} scales)`, () => {
      fc.assert(
        fc.property(fc.array(finite, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), (xs, bits) => {
          const codes = new Uint8Array(xs.length);
          const q = quantizeGroup('t', xs, 0, 1, xs.length, bits, dtype, codes);
          expect(q.scale).toBeGreaterThanOrEqual(0);
          for (let j = 0; j < xs.length; j++) {
            expect(codes[j]).toBeLessThanOrEqual((1 << bits) - 1);
            const rec = q.min + q.scale * codes[j]!;
            // half a step, plus the rounding of the division (a few ulps of the range)
            const slack = 4 * 2 ** -23 * (Math.abs(q.min) + q.scale * ((1 << bits) - 1));
            expect(Math.abs(rec - xs[j]!)).toBeLessThanOrEqual(q.scale / 2 + slack);
          }
        }),
        { numRuns: 150 },
      );
    });
  }
  it('rounds the f16 range outward: f16Floor(x) ≤ x ≤ f16Ceil(x)', () => {
    fc.assert(
      fc.property(fc.double({ min: -60000, max: 60000, noNaN: true }), (x) => {
        expect(f16ToF32(f16Floor(x))).toBeLessThanOrEqual(x);
        expect(f16ToF32(f16Ceil(x))).toBeGreaterThanOrEqual(x);
      }),
      { numRuns: 300 },
    );
  });
  it("1-bit 'means' mode: levels at the conditional means, far below min/max MSE on bell-shaped groups", () => {
    const rng = new Rng(7);
    let em = 0,
      ex = 0;
    for (let g = 0; g < 200; g++) {
      const xs = Array.from({ length: 32 }, () => rng.normal());
      const cm = new Uint8Array(32),
        cx = new Uint8Array(32);
      const qm = quantizeGroup('t', xs, 0, 1, 32, 1, 'f16', cm, 'means');
      const qx = quantizeGroup('t', xs, 0, 1, 32, 1, 'f16', cx);
      for (let j = 0; j < 32; j++) {
        em += (qm.min + qm.scale * cm[j]! - xs[j]!) ** 2;
        ex += (qx.min + qx.scale * cx[j]! - xs[j]!) ** 2;
      }
    }
    expect(em / ex).toBeLessThan(0.5);
    const c = new Uint8Array(4);
    const q = quantizeGroup('t', [0, 1, 9, 10], 0, 1, 4, 1, 'f32', c, 'means');
    expect([q.min, q.min + q.scale, ...c]).toEqual([0.5, 9.5, 0, 0, 1, 1]);
  });
  it('refuses values beyond the f16 range with f16 scales', () => {
    expect(() => quantizeGroup('t', [1e6, 0], 0, 1, 2, 2, 'f16', new Uint8Array(2))).toThrow(ArgumentError);
  });
});
