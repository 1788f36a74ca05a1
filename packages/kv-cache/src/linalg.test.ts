import { describe, it, expect } from 'vitest';
import { ArgumentError, Rng } from '@llmpress/tensor';
import { fitKeyBasis, identityBasis } from './basis.js';
import { checkSchedule, flatSchedule, meanBits, presetSchedule, waterfillSchedule } from './schedule.js';

describe('fitKeyBasis', () => {
  it('latent variances are the eigenvalues of the (centered) Gram / n and sum to the key energy', () => {
    const rng = new Rng(3),
      n = 200,
      d = 8;
    const keys = new Float32Array(n * d);
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) keys[r * d + i] = rng.normal() * (i + 1) + (i === 2 ? 20 : 0);
    for (const center of [false, true]) {
      const b = fitKeyBasis(keys, n, d, { center });
      let energy = 0;
      const mu = b.mean ?? new Float32Array(d);
      for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) energy += (keys[r * d + i]! - mu[i]!) ** 2;
      const total = b.variances.reduce((s, x) => s + x, 0) * n;
      expect(Math.abs(total - energy) / energy).toBeLessThan(1e-5);
      // latent channel 0 variance equals the variance of keys projected on column 0
      let p0 = 0;
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += (keys[r * d + i]! - mu[i]!) * b.v[i * d]!;
        p0 += s * s;
      }
      expect(Math.abs(p0 / n - b.variances[0]!) / b.variances[0]!).toBeLessThan(1e-4);
    }
    // uncentered: the mean (20 on channel 2) dominates the leading direction
    const unc = fitKeyBasis(keys, n, d);
    expect(Math.abs(unc.v[2 * d]!)).toBeGreaterThan(0.5);
  });
  it('identityBasis permutes channels by variance', () => {
    const keys = new Float32Array([0, 3, 1, 0, -3, -1]);
    const b = identityBasis(keys, 2, 3);
    expect(b.v[1 * 3 + 0]).toBe(1); // channel 1 first
    expect(b.v[2 * 3 + 1]).toBe(1);
  });
});

describe('bit schedules', () => {
  it('presets hit mean 2, 1.5 and 1.25 exactly for head dims divisible by 4, non-increasing, bits ≤ 8', () => {
    for (const d of [8, 16, 32, 64, 128])
      for (const m of [2, 1.5, 1.25]) {
        const s = presetSchedule(d, m);
        expect(s.length).toBe(d);
        expect(meanBits(s)).toBeCloseTo(m, 12);
        for (let c = 1; c < d; c++) expect(s[c]!).toBeLessThanOrEqual(s[c - 1]!);
        expect(Math.max(...s)).toBeLessThanOrEqual(8);
        expect(s[d - 1]).toBe(0); // a tail is dropped at these rates
      }
  });
  it('flat schedules keep every channel with ⌊mean⌋ or ⌈mean⌉ bits', () => {
    expect(flatSchedule(8, 1.25)).toEqual([2, 2, 1, 1, 1, 1, 1, 1]);
    expect(flatSchedule(8, 1.5)).toEqual([2, 2, 2, 2, 1, 1, 1, 1]);
    expect(meanBits(flatSchedule(64, 1.25))).toBe(1.25);
    expect(() => flatSchedule(8, 9)).toThrow(ArgumentError);
  });
  it('water-filling gives more bits to larger variances', () => {
    const s = waterfillSchedule([100, 10, 1, 0.1], 2);
    expect(s.reduce((a, b) => a + b, 0)).toBe(8);
    expect(s[0]).toBeGreaterThan(s[3]!);
  });
  it('rejects schedules longer than the head dim and bits out of range', () => {
    expect(() => checkSchedule('f', [1, 1, 1], 2)).toThrow(/at most headDim = 2/);
    expect(() => checkSchedule('f', [9], 2)).toThrow(ArgumentError);
    expect(() => checkSchedule('f', [-1], 2)).toThrow(ArgumentError);
    expect(() => checkSchedule('f', [1.5], 2)).toThrow(ArgumentError);
    expect(() => presetSchedule(0, 2)).toThrow(ArgumentError);
  });
});
