/**
 * Issue 18 ("numerics have one home"): each method's numeric result on a small model, pinned before
 * private Cholesky / Jacobi / Gram / PSD-root / GEMM loops were replaced by the routines of
 * @llmpress/tensor and @llmpress/decompositions. GOLDEN was printed by this file at commit 4e9668f
 * (before the change) with PIN_PRINT=1; the refactor may change rounding only (relative 1e-8), and
 * quantities that depend on eigenvector signs are compared through sign-free projectors.
 */
import { describe, it, expect } from 'vitest';
import { Rng, Tensor } from '@llmpress/tensor';
import { captureLinearStats, randomModel, type LlamaModel } from '@llmpress/models';
import { gramAccumulate, inverseUpperCholesky, normOutputCovariance, outlierBasis, fuseNorms } from '@llmpress/quantizers';
import { ttSvd, planLayer, fitLowRank } from '@llmpress/tt-networks';
import { fitKeyBasis } from '@llmpress/kv-cache';
import * as NS from '@llmpress/nullspace';

const GOLDEN: Record<string, number> = {
  'calib.trace': 26917.542202074714,
  'calib.fro': 12503.58879533049,
  'gptq.gram': 1803.1404092428993,
  'gptq.u': 0.8012770207137871,
  'gptq.u00': 0.14669009243281203,
  'quad.cov': 2809.9110134997763,
  'quad.eig0': 1617.6266454284732,
  'quad.eigSum': 11518.944956379662,
  'quad.P': -0.32400603712924886,
  'tt.err': 0.7885685091261143,
  'tt.core0': 20.457260366545782,
  'saten.lowrank': 0.7340650322695256,
  'saten.whitened': 0.48109583095723946,
  'kv.var': 14.129613603945224,
  'kv.var0': 7.702788911518621,
  'kv.P': 0.598207213343837,
  'q2n.dim': 10,
  'q2n.energy': 0.05967168973187128,
  'q2n.P': -0.9551487416711413,
};

const fro = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
};
/** ‖V_r V_rᵀ‖-style sign-free summary of the first r columns of a row-major n × n (or n × r) matrix: Σ_ij (P)_ij · w_ij. */
function projectorSummary(v: ArrayLike<number>, n: number, cols: number, r: number): number {
  let s = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let p = 0;
      for (let k = 0; k < r; k++) p += v[i * cols + k]! * v[j * cols + k]!;
      s += p * Math.cos(1 + i + 2 * j);
    }
  return s;
}
function windows(model: LlamaModel, count: number, len: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => Array.from({ length: len }, () => rng.int(model.config.vocabSize)));
}
function randRows(rows: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed),
    x = new Float32Array(rows * n),
    mix = Float32Array.from({ length: n }, () => rng.normal());
  for (let t = 0; t < rows; t++) {
    const z = rng.normal();
    for (let j = 0; j < n; j++) x[t * n + j] = rng.normal() + z * mix[j]!;
  }
  return x;
}

const values: Record<string, number> = {};
function pin(key: string, v: number) {
  values[key] = v;
  if (process.env.PIN_PRINT) return;
  expect(GOLDEN[key], `golden value for ${key}`).toBeDefined();
  const g = GOLDEN[key]!;
  expect(Math.abs(v - g)).toBeLessThanOrEqual(1e-8 * Math.max(1, Math.abs(g)));
}

describe('numerics pinned across the one-home refactor (issue 18)', () => {
  const model = randomModel({}, 7);
  const win = windows(model, 3, 24, 11);

  it('calibration statistics (models): Grams of every linear', () => {
    const stats = captureLinearStats(model, win, { gram: true });
    let tr = 0,
      f = 0;
    for (const s of stats.values()) {
      const n = s.n;
      for (let i = 0; i < n; i++) tr += s.gram![i * n + i]!;
      f += fro(s.gram!) * (1 + s.block);
    }
    pin('calib.trace', tr);
    pin('calib.fro', f);
  });

  it('GPTQ numerics (quantizers): Gram accumulator and the inverse upper Cholesky factor', () => {
    const n = 24,
      T = 60,
      x = randRows(T, n, 3);
    const g = new Float64Array(n * n);
    gramAccumulate(g, x, T, n);
    for (let i = 0; i < n; i++) g[i * n + i]! += 0.1;
    const { u } = inverseUpperCholesky(g, n);
    pin('gptq.gram', fro(g));
    pin('gptq.u', fro(u!));
    pin('gptq.u00', u![0]!);
  });

  it('QUAD (quantizers): norm-output covariance and the outlier basis', () => {
    const fused = fuseNorms(model);
    const cov = normOutputCovariance(fused, win);
    const d = model.config.dim,
      r = 4;
    const b = outlierBasis(cov, d, r);
    pin('quad.cov', fro(cov));
    pin('quad.eig0', b.eigenvalues[0]!);
    pin(
      'quad.eigSum',
      b.eigenvalues.reduce((a, x) => a + x, 0),
    );
    pin('quad.P', projectorSummary(b.p, d, r, r));
  });

  it('TT / Saten (tt-networks): TT-SVD and a whitened low-rank fit', () => {
    const rng = new Rng(5),
      m = 16,
      n = 24;
    const w = Float64Array.from({ length: m * n }, () => rng.normal());
    const tt = ttSvd(w, [4, 4, 24], { maxRank: 3 });
    pin('tt.err', tt.error / tt.norm);
    pin('tt.core0', fro(tt.cores[0]!) * fro(tt.cores[2]!));
    const x = randRows(80, n, 9),
      g = new Float64Array(n * n);
    gramAccumulate(g, x, 80, n);
    const plan = planLayer(Float32Array.from(w), m, n, { gram: g });
    const fit = fitLowRank(plan, { bytes: 4 * 4 * (m + n) })!;
    pin('saten.lowrank', fit.report.relError);
    pin('saten.whitened', fit.report.whitenedError ?? 0);
  });

  it('SVDq key basis (kv-cache): eigenvalues and the leading subspace', () => {
    const d = 8,
      n = 50,
      keys = randRows(n, d, 13);
    const basis = fitKeyBasis(keys, n, d, { center: true });
    pin(
      'kv.var',
      basis.variances.reduce((a, x) => a + x, 0),
    );
    pin('kv.var0', basis.variances[0]!);
    pin('kv.P', projectorSummary(basis.v, d, d, 3));
  });

  it('Q2N (nullspace): activation null space of a rank-deficient Gram', () => {
    const n = 16,
      T = 10,
      x = randRows(T, n, 17),
      g = new Float64Array(n * n);
    gramAccumulate(g, x, T, n);
    const f = NS.activationNullSpace;
    const ns = f(new Tensor('f64', g, [n, n]), { t: 0.1 });
    pin('q2n.dim', ns.diagnostics.dimension);
    pin('q2n.energy', ns.diagnostics.nullEnergy);
    pin('q2n.P', ns.basis ? projectorSummary(ns.basis.data, n, ns.basis.shape[1], ns.basis.shape[1]) : 0);
  });

  it('prints the values (PIN_PRINT=1)', () => {
    if (process.env.PIN_PRINT) console.log(JSON.stringify(values, null, 1));
  });
});
