import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sizeClass } from './pool.js';

describe('buffer pool size classes', () => {
  it('cover the request, waste at most a quarter octave, are multiples of 256 and monotone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 2 ** 20 }), (bytes, extra) => {
        const s = sizeClass(bytes);
        expect(s).toBeGreaterThanOrEqual(bytes);
        expect(s % 256).toBe(0);
        expect(s).toBeLessThanOrEqual(Math.max(256, bytes * 1.25 + 256));
        expect(sizeClass(bytes + extra)).toBeGreaterThanOrEqual(s);
        expect(sizeClass(s)).toBe(s); // a class maps to itself
      }),
      { numRuns: 300 },
    );
  });
});
