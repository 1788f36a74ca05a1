import { describe, it, expect } from 'vitest';
import { evaluate, formatKlStats, klStatistics, klTokenStats, standardWindows, summarizeKl } from './eval.js';
import { randomModel } from './testing/random-model.js';

describe('KL statistics (llama-perplexity --kl-divergence)', () => {
  it('per-token KL, Δp and agreement on hand-computed logits', () => {
    // token 0: model logits [0, 0] (p = ½, ½), reference [ln 3, 0] (p = ¾, ¼), target 0
    const s = klTokenStats([0, 0, 5, 1], [Math.log(3), 0, 1, 5], [0, 1], 2);
    expect(s.kl[0]).toBeCloseTo(0.75 * Math.log(1.5) + 0.25 * Math.log(0.5), 12);
    expect(s.dp[0]).toBeCloseTo(0.5 - 0.75, 12);
    expect(s.same).toEqual([1, 0]);
  });

  it('summary: mean ± standard error, nearest-rank percentiles, max, RMS Δp, same-top fraction ± error', () => {
    const kl = Array.from({ length: 100 }, (_, i) => i + 1);
    const dp = kl.map((v) => (v % 2 ? 0.1 : -0.1));
    const same = kl.map((v) => (v <= 75 ? 1 : 0));
    const r = summarizeKl({ kl, dp, same });
    expect(r.kl.mean).toBeCloseTo(50.5, 12);
    const sd = Math.sqrt(kl.reduce((a, v) => a + (v - 50.5) ** 2, 0) / 99);
    expect(r.kl.err).toBeCloseTo(sd / 10, 12);
    expect([r.kl.median, r.kl.p90, r.kl.p95, r.kl.p99, r.kl.max]).toEqual([50, 90, 95, 99, 100]);
    expect(r.deltaP.mean).toBeCloseTo(0, 12);
    expect(r.deltaP.rms).toBeCloseTo(0.1, 12);
    expect(r.sameTop.fraction).toBe(0.75);
    expect(r.sameTop.err).toBeCloseTo(Math.sqrt((0.75 * 0.25) / 100), 12);
    expect(formatKlStats(r)).toContain('Same top p: 75.000');
  });

  it('a model against itself: zero KL, all tops equal; its mean KL equals evaluate().kl for a perturbed model', () => {
    const a = randomModel({}, 1),
      b = randomModel({}, 2);
    const ids = Array.from({ length: 65 }, (_, i) => (i * 7) % 40);
    const windows = standardWindows(ids, { len: 16, count: 4 });
    const self = klStatistics(a, windows, { reference: a });
    expect(self.kl.max).toBeLessThan(1e-9);
    expect(self.sameTop.fraction).toBe(1);
    expect(self.deltaP.rms).toBeLessThan(1e-9);
    const s = klStatistics(b, windows, { reference: a });
    const e = evaluate(b, windows, { reference: a });
    expect(s.tokens).toBe(64);
    expect(s.kl.mean).toBeCloseTo(e.kl!, 10);
    expect(s.sameTop.fraction).toBeCloseTo(e.top1!, 12);
    expect(s.kl.max).toBeGreaterThanOrEqual(s.kl.p99);
  });
});
