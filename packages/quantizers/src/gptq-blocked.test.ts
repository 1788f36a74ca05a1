/**
 * The blocked, backend-GEMM pieces of GPTQ: triangular inverse across several 128-column blocks,
 * the syrk-like Gram across several 256-row blocks, and GPTQ on the WASM backend (backend-resident
 * buffers) against the reference backend, with sizes that cross the 128-column lazy-batch blocks.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { NotPositiveDefiniteError, Rng, type Tensor, randn, referenceBackend, dotTolerance, type Backend } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm/node';
import { choleskyInPlace } from '@llmpress/decompositions';
import { gptq, gramAccumulate, lowerInverseInPlace, inverseUpperCholesky } from './index.js';

let wasm: Backend | null = null;
beforeAll(async () => {
  wasm = await createWasmBackend({ threads: 1 });
});
afterAll(async () => {
  await wasm?.dispose?.();
});
const backends = (): [string, Backend][] => [['reference', referenceBackend], ...(wasm ? [['wasm', wasm] as [string, Backend]] : [])];

function spd(n: number, seed: number): Float64Array {
  const rng = new Rng(seed),
    T = n + 20,
    x = new Float64Array(T * n);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * (1 + ((i % n) % 5));
  const g = new Float64Array(n * n);
  gramAccumulate(g, x, T, n);
  for (let i = 0; i < n; i++) g[i * n + i]! += 0.1 * n;
  return g;
}

describe('lowerInverseInPlace (blocked, GEMM-driven)', () => {
  it('L · inv(L) = I across three 128-column blocks, upper triangle stays zero, on every backend', () => {
    const n = 300,
      H = spd(n, 1);
    for (const [name, be] of backends()) {
      const L = H.slice();
      choleskyInPlace(L, n, { backend: be });
      const X = L.slice();
      lowerInverseInPlace(X, n, be);
      let worst = 0,
        upper = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          if (j > i) {
            if (X[i * n + j] !== 0) upper++;
            continue;
          }
          let s = 0,
            a = 0;
          for (let k = j; k <= i; k++) {
            s += L[i * n + k]! * X[k * n + j]!;
            a += Math.abs(L[i * n + k]! * X[k * n + j]!);
          }
          worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)) / (dotTolerance('f64', n, 4) * Math.max(a, 1)));
        }
      expect(worst, name).toBeLessThanOrEqual(1);
      expect(upper, `${name}: nonzero upper entries`).toBe(0);
    }
  });
  it('rejects a zero diagonal with NotPositiveDefiniteError naming the pivot', () => {
    const n = 5,
      L = new Float64Array(n * n);
    for (let i = 0; i < n; i++) L[i * n + i] = i === 3 ? 0 : 1;
    expect(() => lowerInverseInPlace(L, n)).toThrow(/pivot 3/);
    expect(() => lowerInverseInPlace(L, n)).toThrow(NotPositiveDefiniteError);
  });
  it('inverseUpperCholesky (one blocked Cholesky + blocked triangular inverse across a 128 block edge) gives upper U with Uᵀ U H = I', () => {
    const n = 140,
      H = spd(n, 2);
    const U = inverseUpperCholesky(H, n).u!;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(U[i * n + j]).toBe(0);
    // M = U H, then Uᵀ M must be the identity
    const M = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let k = i; k < n; k++) {
        const u = U[i * n + k]!;
        for (let j = 0; j < n; j++) M[i * n + j] += u * H[k * n + j]!;
      }
    let worst = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k <= Math.min(i, n - 1); k++) s += U[k * n + i]! * M[k * n + j]!;
        worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
      }
    expect(worst).toBeLessThan(1e-8);
  });
});

describe('gramAccumulate on a backend (syrk-like, upper triangle then mirror)', () => {
  it('equals a naive XᵀX across 256-row blocks, accumulates, and is exactly symmetric', () => {
    const n = 300,
      T = 37,
      rng = new Rng(5);
    const x = new Float32Array(T * n);
    for (let i = 0; i < x.length; i++) x[i] = rng.normal();
    const ref = new Float64Array(n * n);
    for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) ref[i * n + j]! += 2 * x[t * n + i]! * x[t * n + j]!;
    for (const [name, be] of backends()) {
      const g = new Float64Array(n * n);
      gramAccumulate(g, x, T, n, be);
      gramAccumulate(g, x, T, n, be);
      let asym = 0,
        worst = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          if (g[i * n + j] !== g[j * n + i]) asym++;
          worst = Math.max(worst, Math.abs(g[i * n + j]! - ref[i * n + j]!));
        }
      expect(asym, `${name}: asymmetric entries`).toBe(0);
      expect(worst, name).toBeLessThanOrEqual(dotTolerance('f64', 2 * T, 4) * (2 * T) * 16);
    }
  });
});

describe('gptq on the WASM backend', () => {
  it('matches the reference backend across blocks (n = 200, act-order, groups of 40, block 64)', (ctx) => {
    if (!wasm) return ctx.skip();
    const m = 24,
      n = 200,
      T = 400,
      rng = new Rng(9);
    const x = new Float32Array(T * n);
    const mix = Array.from({ length: n }, () => rng.normal());
    for (let t = 0; t < T; t++) {
      const z = rng.normal();
      for (let j = 0; j < n; j++) x[t * n + j] = (rng.normal() + z * mix[j]!) * (j % 11 === 0 ? 5 : 1);
    }
    const G = new Float64Array(n * n);
    gramAccumulate(G, x, T, n, wasm);
    const G0 = G.slice();
    const W = randn([m, n], { seed: 10 }) as Tensor<'f32'>;
    for (const opts of [{ bits: 4 as const }, { bits: 3 as const, actOrder: true, groupSize: 40, blockSize: 64 }]) {
      const a = gptq(W, G, { ...opts, backend: referenceBackend }),
        b = gptq(W, G, { ...opts, backend: wasm });
      const da = a.layer.toDense().data,
        db = b.layer.toDense().data;
      let same = 0;
      for (let i = 0; i < da.length; i++) if (da[i] === db[i]) same++;
      expect(same).toBeGreaterThanOrEqual(da.length - 2); // reassociated sums may flip a rounding tie, rarely
      expect(Math.abs(a.report.loss - b.report.loss)).toBeLessThanOrEqual(1e-9 * a.report.loss);
      expect(b.report.timings!.factorMs).toBeGreaterThanOrEqual(0);
    }
    for (let i = 0; i < n * n; i++) if (G[i] !== G0[i]) throw new Error(`gptq modified the Gram at ${i}`);
  });
});

describe('gptq never returns silently wrong results', () => {
  it('a Gram whose doubled Hessian overflows escalates and then throws NotPositiveDefiniteError', () => {
    const n = 6,
      G = new Float64Array(n * n);
    for (let i = 0; i < n; i++) G[i * n + i] = i === 2 ? 1e308 : 1;
    const W = randn([3, n], { seed: 4 }) as Tensor<'f32'>;
    expect(() => gptq(W, G, { bits: 4 })).toThrow(NotPositiveDefiniteError);
  });
});
