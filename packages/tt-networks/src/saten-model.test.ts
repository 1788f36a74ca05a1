import { describe, it, expect } from 'vitest';
import { ArgumentError, Rng, Tensor, maxAbsDiff } from '@llmpress/tensor';
import { randomModel, captureLinearStats, AbortedError } from '@llmpress/models';
import { satenLayer, satenModel, compressModelTT } from './index.js';

const model = randomModel({ dim: 16, hiddenDim: 24, nHeads: 2, nKvHeads: 1, headDim: 8, vocabSize: 40 }, 21);
const windows = [
  [1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 4, 8, 12, 16, 17, 18, 19, 20],
  [1, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39],
];
const dense = model.linears().reduce((a, e) => a + 4 * e.layer.inFeatures * e.layer.outFeatures, 0);
const search = { orders: [2], perSide: 2, steps: 4 };

describe('satenModel (on the one driver)', () => {
  it("'dense' schedule = compressModelTT with the original model's Grams (same layers, same logits)", async () => {
    const stats = captureLinearStats(model, windows, { gram: true, meanAbs: false });
    const calibration = new Map([...stats].map(([k, v]) => [k, { gram: v.gram! }]));
    const old = compressModelTT(model, { method: 'saten-u', budget: 0.5 * dense, calibration, search });
    const res = await satenModel(model, { method: 'saten-u', budget: 0.5 * dense, calibration: windows, schedule: 'dense', search });
    expect(res.bytes).toBe(old.bytes);
    expect(res.denseBytes).toBe(dense);
    expect(res.layers.map((l) => l.report.whitenedError)).toEqual(old.layers.map((l) => l.report.whitenedError));
    expect(maxAbsDiff(res.model.forward(windows[0]!), old.model.forward(windows[0]!))).toBe(0);
  });

  it('data-free (no calibration) = compressModelTT without Grams', async () => {
    const old = compressModelTT(model, { method: 'lowrank-u', budget: 0.4 * dense, search });
    const res = await satenModel(model, { method: 'lowrank-u', budget: 0.4 * dense, search });
    expect(res.layers.map((l) => l.report.relError)).toEqual(old.layers.map((l) => l.report.relError));
    expect(res.layers.every((l) => l.report.whitenedError === undefined)).toBe(true);
  });

  it("'sequential' (default): the first group is fitted as under 'dense', o onwards on the compressed q/k/v's outputs", async () => {
    // 40 tokens is below the default 16 per input feature: the 'corrected' fit is forced (minTokensPerFeature 0)
    const a = await satenModel(model, { method: 'saten-u', budget: 0.5 * dense, calibration: windows, search, minTokensPerFeature: 0 });
    const b = await satenModel(model, { method: 'saten-u', budget: 0.5 * dense, calibration: windows, schedule: 'dense', search });
    const err = (r: typeof a, name: string) => r.layers.find((l) => l.name === name)!.report.whitenedError;
    expect(err(a, 'blocks.0.q')).toBe(err(b, 'blocks.0.q'));
    expect(err(a, 'blocks.0.o')).not.toBe(err(b, 'blocks.0.o'));
    expect(a.bytes).toBeLessThanOrEqual(0.5 * dense);
    // fit 'original' under 'sequential' fits on the original Grams: equal to 'dense'
    const c = await satenModel(model, { method: 'saten-u', budget: 0.5 * dense, calibration: windows, fit: 'original', search });
    expect(c.layers.map((l) => l.report.whitenedError)).toEqual(b.layers.map((l) => l.report.whitenedError));
    // fit 'working' whitens with the drifted inputs' Gram but keeps W as the target: differs from 'corrected' after block 0's first group
    const d = await satenModel(model, { method: 'saten-u', budget: 0.5 * dense, calibration: windows, fit: 'working', search });
    expect(err(d, 'blocks.0.q')).toBe(err(a, 'blocks.0.q'));
    expect(err(d, 'blocks.0.o')).not.toBe(err(a, 'blocks.0.o'));
  });

  it("fit 'corrected' minimises ‖W X − Ŵ X̂‖: its target W* = (W C + μW)(Ĝ + μI)⁻¹ beats W itself on that objective", () => {
    const rng = new Rng(4);
    const m = 6,
      n = 8,
      T = 60;
    const W = new Tensor(
      'f32',
      Float32Array.from({ length: m * n }, () => rng.normal()),
      [m, n],
    );
    const X = Float64Array.from({ length: T * n }, () => rng.normal());
    const Xh = X.map((v, i) => v + 0.3 * Math.sin(i) + 0.2 * rng.normal());
    const gram = (a: Float64Array, b: Float64Array) => {
      const g = new Float64Array(n * n);
      for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j] += a[t * n + i]! * b[t * n + j]!;
      return g;
    };
    const stats = { n, count: T, gram: gram(Xh, Xh), origGram: gram(X, X), crossGram: gram(X, Xh) };
    const obj = (A: ArrayLike<number>) => {
      let s = 0;
      for (let t = 0; t < T; t++)
        for (let i = 0; i < m; i++) {
          let y = 0,
            yh = 0;
          for (let j = 0; j < n; j++) {
            y += W.data[i * n + j]! * X[t * n + j]!;
            yh += A[i * n + j]! * Xh[t * n + j]!;
          }
          s += (y - yh) ** 2;
        }
      return s;
    };
    // a budget that keeps the full rank: the fit is (close to) the target itself
    const full = 4 * m * n * 2;
    const a = satenLayer(W, stats, { method: 'lowrank', bytes: full, ridge: 0, minTokensPerFeature: 0 }).layer.toDense().data;
    const b = satenLayer(W, stats, { method: 'lowrank', bytes: full, fit: 'working' }).layer.toDense().data;
    expect(obj(a)).toBeLessThan(0.9 * obj(b));
    expect(() => satenLayer(W, { n, count: T, gram: stats.gram }, { method: 'lowrank', bytes: full })).toThrow(/stats.crossGram/);
    expect(() => satenLayer(W, stats, { method: 'lowrank', bytes: full, fit: 'best' as never })).toThrow(/options.fit/);
  });

  it("fit 'corrected' with fewer than minTokensPerFeature·n tokens runs 'working' (report.fit says so)", () => {
    const rng = new Rng(5);
    const m = 6,
      n = 8,
      T = 60; // 7.5 tokens per feature
    const W = new Tensor(
      'f32',
      Float32Array.from({ length: m * n }, () => rng.normal()),
      [m, n],
    );
    const X = Float64Array.from({ length: T * n }, () => rng.normal());
    const Xh = X.map((v, i) => v + 0.3 * Math.sin(i) + 0.2 * rng.normal());
    const gram = (a: Float64Array, b: Float64Array) => {
      const g = new Float64Array(n * n);
      for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j] += a[t * n + i]! * b[t * n + j]!;
      return g;
    };
    const stats = { n, count: T, gram: gram(Xh, Xh), origGram: gram(X, X), crossGram: gram(X, Xh) };
    const opts = { method: 'lowrank' as const, bytes: 4 * m * n * 2 };
    const dflt = satenLayer(W, stats, opts);
    const working = satenLayer(W, stats, { ...opts, fit: 'working' });
    const forced = satenLayer(W, stats, { ...opts, minTokensPerFeature: 7 });
    expect(dflt.report.fit).toBe('working');
    expect(working.report.fit).toBe('working');
    expect(forced.report.fit).toBe('corrected');
    expect(Array.from(dflt.layer.toDense().data)).toEqual(Array.from(working.layer.toDense().data));
    expect(maxAbsDiff(forced.layer.toDense(), working.layer.toDense())).toBeGreaterThan(1e-3);
    expect(satenLayer(W, stats, { ...opts, minTokensPerFeature: 7.5 }).report.fit).toBe('corrected'); // count ≥ k·n
    expect(() => satenLayer(W, stats, { ...opts, minTokensPerFeature: -1 })).toThrow(/options.minTokensPerFeature/);
    expect(satenLayer(W, undefined, opts).report.fit).toBeUndefined(); // data-free
  });

  it('typed errors and abort', async () => {
    const W = model.getLinear('blocks.0.q').toDense();
    const e1 = (() => {
      try {
        satenLayer(W, undefined, { method: 'nope' as never, bytes: 100 });
      } catch (e) {
        return e;
      }
    })();
    expect(ArgumentError.isInstance(e1) && (e1 as ArgumentError).argument).toBe('options.method');
    expect(() => satenLayer(W, { n: 3, count: 1 }, { method: 'tt', bytes: 400 })).toThrow(/stats.n/);
    expect(() => satenLayer(W, undefined, { method: 'tt', bytes: 400, whitened: true })).toThrow(/options.whitened/);
    await expect(satenModel(model, { method: 'tt', budget: -1 })).rejects.toThrow(/options.budget/);
    await expect(satenModel(model, { method: 'tt', budget: 10, search })).rejects.toThrow(/too few for a rank-1/);
    const ac = new AbortController();
    ac.abort();
    await expect(satenModel(model, { method: 'tt', budget: 0.5 * dense, search, signal: ac.signal })).rejects.toSatisfy((e) => AbortedError.isInstance(e));
  });
});
