import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, tolerance } from '@llmpress/tensor';
import { fwht, hadamardRotation, randomRotation, BlockRotation, DenseRotation, randomOrthogonal } from './index.js';

function orthErr(R: Float64Array, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += R[k * n + i]! * R[k * n + j]!;
      e = Math.max(e, Math.abs(s - (i === j ? 1 : 0)));
    }
  return e;
}

describe('rotations', () => {
  it('fwht is orthonormal and an involution', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.integer(), (lg, seed) => {
        const n = 1 << lg,
          a = new Float64Array(n);
        let s = seed >>> 0;
        for (let i = 0; i < n; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          a[i] = s / 2 ** 32 - 0.5;
        }
        const b = a.slice();
        fwht(b, 0, n);
        const na = Math.hypot(...a),
          nb = Math.hypot(...b);
        expect(Math.abs(na - nb)).toBeLessThanOrEqual(tolerance('f64', n) * (na + 1e-300));
        fwht(b, 0, n);
        for (let i = 0; i < n; i++) expect(Math.abs(b[i]! - a[i]!)).toBeLessThanOrEqual(tolerance('f64', n) * (na + 1e-300));
      }),
      { numRuns: 30 },
    );
  });
  it('matches the Sylvester Hadamard matrix for n = 4', () => {
    const e = new Float64Array([1, 0, 0, 0]);
    fwht(e, 0, 4);
    expect(Array.from(e)).toEqual([0.5, 0.5, 0.5, 0.5]);
    const f = new Float64Array([0, 1, 0, 0]);
    fwht(f, 0, 4);
    expect(Array.from(f)).toEqual([0.5, -0.5, 0.5, -0.5]);
  });
  it('randomized Hadamard, random orthogonal and block rotations are orthogonal and agree with their matrices', () => {
    for (const [n, kind] of [
      [8, 'hadamard'],
      [12, 'kronecker'],
      [33, 'kronecker'],
      [172, 'kronecker'],
      [12, 'dense'],
    ] as const) {
      const R = randomRotation(n, n, { nonPowerOfTwo: kind === 'dense' ? 'dense' : 'kronecker' });
      expect(R.kind).toBe(kind);
      if (n === 172) expect(R.bytes()).toBe(8 * 43 * 43 + 172);
      const M = R.matrix();
      expect(orthErr(M, n)).toBeLessThanOrEqual(tolerance('f64', n, 100));
      const x = new Float64Array(n).map((_, i) => Math.sin(i + 1));
      const y = x.slice();
      R.apply(y, 1);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += M[i * n + k]! * x[k]!;
        expect(Math.abs(y[i]! - s)).toBeLessThanOrEqual(1e-6);
      }
    }
    const B = new BlockRotation([hadamardRotation(4, 1), new DenseRotation(3, randomOrthogonal(3, 2))]);
    expect(B.n).toBe(7);
    const M = B.matrix();
    expect(orthErr(M, 7)).toBeLessThanOrEqual(tolerance('f64', 7, 100));
    expect(M[0 * 7 + 5]).toBe(0); // block-diagonal
    expect(B.bytes()).toBe(4 + 8 * 9);
  });
  it('different seeds give different sign patterns; bad sizes are rejected', () => {
    expect(Array.from(hadamardRotation(64, 1).signs)).not.toEqual(Array.from(hadamardRotation(64, 2).signs));
    expect(() => hadamardRotation(12)).toThrow(ArgumentError);
    expect(() => randomRotation(0)).toThrow(/must be a positive integer/);
  });
});
