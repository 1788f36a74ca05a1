import { describe, it, expect } from 'vitest';
import { Rng, Tensor, DenseLinear, tolerance, type LinearLayer } from '@llmpress/tensor';
import { planLayer, planErrors, fitTT, fitLowRank, kroneckerFactors, applyKronecker, compressModelTT } from './index.js';

function randMat(m: number, n: number, seed: number, decay = 0): Float64Array {
  const rng = new Rng(seed);
  // a matrix with a decaying spectrum-ish structure plus noise
  return Float64Array.from({ length: m * n }, (_, f) => {
    const i = Math.floor(f / n),
      j = f % n;
    return Math.cos((i * j) / 17) * Math.exp((-decay * j) / n) + 0.3 * rng.normal();
  });
}
function gramOf(n: number, T: number, seed: number, aniso = 1): Float64Array {
  const rng = new Rng(seed);
  const scale = Float64Array.from({ length: n }, (_, j) => Math.exp(aniso * Math.sin(j)));
  const g = new Float64Array(n * n);
  const x = new Float64Array(n);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < n; j++) x[j] = scale[j]! * rng.normal() + (j > 0 ? 0.5 * x[j - 1]! : 0);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) g[a * n + b] += x[a]! * x[b]!;
  }
  return g;
}
function kron(a: Float64Array, na: number, b: Float64Array, nb: number): Float64Array {
  const n = na * nb,
    out = new Float64Array(n * n);
  for (let i1 = 0; i1 < na; i1++)
    for (let j1 = 0; j1 < na; j1++)
      for (let i2 = 0; i2 < nb; i2++) for (let j2 = 0; j2 < nb; j2++) out[(i1 * nb + i2) * n + j1 * nb + j2] = a[i1 * na + j1]! * b[i2 * nb + j2]!;
  return out;
}
function whitenedErr(w: Float64Array, approx: ArrayLike<number>, g: Float64Array, m: number, n: number): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < m; i++)
    for (let a = 0; a < n; a++)
      for (let b = 0; b < n; b++) {
        const ea = w[i * n + a]! - approx[i * n + a]!,
          eb = w[i * n + b]! - approx[i * n + b]!;
        num += ea * g[a * n + b]! * eb;
        den += w[i * n + a]! * g[a * n + b]! * w[i * n + b]!;
      }
  return Math.sqrt(num / den);
}

describe('Kronecker-factored whitening', () => {
  it('recovers the factors of an exact Kronecker Gram, and applies W·(A ⊗ B) mode by mode', () => {
    const g1 = gramOf(3, 20, 1),
      g2 = gramOf(4, 20, 2);
    const g = kron(g1, 3, g2, 4);
    const [f1, f2] = kroneckerFactors(g, [3, 4]);
    const tr1 = g1[0]! + g1[4]! + g1[8]!,
      tr2 = g2[0]! + g2[5]! + g2[10]! + g2[15]!;
    for (let i = 0; i < 9; i++) expect(Math.abs(f1![i]! - g1[i]! / tr1)).toBeLessThanOrEqual(1e-12);
    for (let i = 0; i < 16; i++) expect(Math.abs(f2![i]! - g2[i]! / tr2)).toBeLessThanOrEqual(1e-12);
    const w = randMat(5, 12, 3);
    const got = applyKronecker(w, 5, [3, 4], [g1, g2]);
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 12; j++) {
        let s = 0;
        for (let p = 0; p < 12; p++) s += w[i * 12 + p]! * g[p * 12 + j]!;
        expect(Math.abs(got[i * 12 + j]! - s)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(s)));
      }
  });

  it('whitened TT at full rank reconstructs W (S_k⁻¹ folded into the cores correctly)', () => {
    const m = 8,
      n = 12;
    const w = randMat(m, n, 4);
    const plan = planLayer(w, m, n, { gram: gramOf(n, 60, 5, 1.5), search: { orders: [2], perSide: 2, steps: 4 } });
    const fit = fitTT(plan, { bytes: 4 * m * n * 4 })!;
    expect(fit.report.relError).toBeLessThanOrEqual(1e-5);
  });
});

describe('fitTT / fitLowRank', () => {
  const m = 16,
    n = 24;
  const w = randMat(m, n, 7, 3);
  const g = gramOf(n, 200, 8, 1.5);

  it('stays in budget, reports its true errors, and picks the share with the smallest proxy', () => {
    for (const [gram, sparse] of [
      [undefined, 'unstructured'],
      [g, 'unstructured'],
      [g, '2:4'],
      [undefined, '2:4'],
    ] as const) {
      const plan = planLayer(w, m, n, { gram, search: { orders: [2, 3], perSide: 2, steps: 8 } });
      const bytes = Math.floor(0.5 * 4 * m * n);
      const fit = fitTT(plan, { bytes, sparse })!;
      expect(fit.layer.bytes()).toBeLessThanOrEqual(bytes);
      expect(fit.report.bytes).toBe(fit.layer.bytes());
      const dense = fit.layer.toDense().data;
      let num = 0,
        den = 0;
      for (let i = 0; i < w.length; i++) {
        num += (w[i]! - dense[i]!) ** 2;
        den += w[i]! ** 2;
      }
      expect(Math.abs(fit.report.relError - Math.sqrt(num / den))).toBeLessThanOrEqual(1e-6);
      if (gram) expect(Math.abs(fit.report.whitenedError! - whitenedErr(w, dense, gram, m, n))).toBeLessThanOrEqual(1e-6);
      const proxies = fit.tried.map((t) => t.proxy);
      expect(proxies.length).toBeGreaterThan(1);
      const chosen = gram ? fit.report.whitenedError! : fit.report.relError;
      expect(Math.abs(chosen - Math.min(...proxies))).toBeLessThanOrEqual(1e-12);
      for (const t of fit.tried) expect(t.bytes).toBeLessThanOrEqual(bytes);
      // the sparse share 0 is TT alone, so TT + sparse is never worse on the proxy
      const alone = fitTT(plan, { bytes })!;
      expect(chosen).toBeLessThanOrEqual((gram ? alone.report.whitenedError! : alone.report.relError) + 1e-12);
    }
  });

  it('data-free low rank obeys Eckart–Young; whitened low rank obeys the SVD-LLM identity', () => {
    const plan = planLayer(w, m, n);
    const k = 5;
    const fit = fitLowRank(plan, { bytes: 4 * k * (m + n) })!;
    expect(fit.report.rank).toBe(k);
    const s = plan.lowRank!.s;
    let tail = 0,
      tot = 0;
    s.forEach((v, i) => {
      tot += v * v;
      if (i >= k) tail += v * v;
    });
    expect(Math.abs(fit.report.relError - Math.sqrt(tail / tot))).toBeLessThanOrEqual(tolerance('f32', n, 100));
    const wp = planLayer(w, m, n, { gram: g });
    const wf = fitLowRank(wp, { bytes: 4 * k * (m + n) })!;
    const ws = wp.lowRank!.s;
    let wt = 0,
      wtot = 0;
    ws.forEach((v, i) => {
      wtot += v * v;
      if (i >= k) wt += v * v;
    });
    expect(Math.abs(wf.report.whitenedError! - Math.sqrt(wt / wtot))).toBeLessThanOrEqual(1e-4);
    // whitening targets the data-weighted error: it must beat plain SVD on it
    const plainOnData = planErrors(wp, fit.layer.toDense().data).whitenedError!;
    expect(wf.report.whitenedError!).toBeLessThanOrEqual(plainOnData + 1e-9);
  });

  it('rejects bad budgets, kinds and shapes with named errors', () => {
    const plan = planLayer(w, m, n);
    expect(() => fitTT(plan, { bytes: 0 })).toThrow(/fitTT: argument 'options.bytes'/);
    expect(() => fitTT(plan, { bytes: 100, sparse: 'x' as any })).toThrow(/options.sparse/);
    expect(() => fitTT(planLayer(new Float64Array(6 * 8), 6, 8), { bytes: 100, sparse: '2:4' })).not.toThrow();
    expect(() => fitTT(planLayer(new Float64Array(6 * 5), 6, 5), { bytes: 100, sparse: '2:4' })).toThrow(/multiple of 4/);
    expect(() => planLayer(w, m, n, { whitened: true })).toThrow(/planLayer: argument 'options.whitened'/);
    expect(() => planLayer([1, 2, NaN, 4], 2, 2)).toThrow(/must be finite/);
    expect(fitTT(plan, { bytes: 3 })).toBeNull();
  });
});

class FakeModel {
  constructor(public layers: Map<string, LinearLayer>) {}
  linears() {
    return [...this.layers].map(([name, layer]) => ({ name, layer }));
  }
  setLinear(name: string, layer: LinearLayer) {
    if (!this.layers.has(name)) throw new Error('no ' + name);
    this.layers.set(name, layer);
  }
  clone() {
    return new FakeModel(new Map(this.layers));
  }
}

describe('compressModelTT', () => {
  const shapes: [string, number, number][] = [
    ['a', 16, 16],
    ['b', 24, 16],
    ['c', 16, 24],
  ];
  const model = new FakeModel(
    new Map(shapes.map(([name, m, n], i) => [name, new DenseLinear(new Tensor('f32', Float32Array.from(randMat(m, n, 20 + i, 2)), [m, n]))])),
  );
  const dense = shapes.reduce((a, [, m, n]) => a + 4 * m * n, 0);
  const search = { orders: [2], perSide: 2, steps: 6 };

  it('meets the total budget with per-layer budgets proportional to dense bytes, leaving the input model intact', () => {
    for (const method of ['tt', 'saten-u', 'saten-2:4', 'lowrank', 'lowrank-u'] as const) {
      const budget = 0.5 * dense;
      const res = compressModelTT(model, { method, budget, search });
      expect(res.bytes).toBeLessThanOrEqual(budget);
      expect(res.denseBytes).toBe(dense);
      for (const l of res.layers) {
        const [, m, n] = shapes.find((s) => s[0] === l.name)!;
        expect(l.budget).toBe(Math.floor(0.5 * 4 * m * n));
        expect(l.report.bytes).toBeLessThanOrEqual(l.budget);
      }
      expect(res.model.linears().map((e) => e.layer.kind)).toEqual(
        Array(3).fill(method.startsWith('tt') || method.startsWith('saten') ? 'tt-sparse' : 'low-rank-sparse'),
      );
      expect(model.linears().every((e) => e.layer.kind === 'dense')).toBe(true);
    }
  });

  it('uses calibration Grams (whitened) and the cache gives identical results', () => {
    const calibration = new Map(shapes.map(([name, , n], i) => [name, { gram: gramOf(n, 100, 40 + i, 1.5) }]));
    const cache = new Map<string, unknown>();
    const a = compressModelTT(model, { method: 'saten-u', budget: 0.4 * dense, calibration, search, cache });
    expect(cache.size).toBe(3);
    const b = compressModelTT(model, { method: 'saten-u', budget: 0.4 * dense, calibration, search, cache });
    expect(b.layers.map((l) => l.report.whitenedError)).toEqual(a.layers.map((l) => l.report.whitenedError));
    for (const l of a.layers) expect(l.report.whitenedError).toBeDefined();
    expect(() => compressModelTT(model, { method: 'nope' as any, budget: 1000 })).toThrow(/compressModelTT: argument 'options.method'/);
    expect(() => compressModelTT(model, { method: 'tt', budget: -1 })).toThrow(/options.budget/);
    expect(() => compressModelTT(model, { method: 'tt', budget: 10, search })).toThrow(/too few for a rank-1/);
    expect(() => compressModelTT(model, { method: 'tt', budget: 1000, calibration: new Map() })).toThrow(/has no gram/);
  });
});
