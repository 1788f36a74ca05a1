/**
 * Every forward path of a quantized layer on the full grid and with ragged last groups: the JS
 * dequantizing GEMV, the JS exact-integer W4A4/W4A8 path, and the WASM int4 GEMV / W4A8 GEMV /
 * W4A8 GEMM kernels (through the zero-padded kernel layout), against plain f64 references built
 * from the unpacked codes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { type Tensor, randn, f16ToF32, type Backend } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm/node';
import {
  rtnQuantize,
  gptqQuantize,
  gramAccumulate,
  unpackBits,
  QuantActLinear,
  type QuantizedLinear,
  integerForward,
  quantizeActivations,
  type Bits,
  type QuantGrid,
} from './index.js';

let be: Backend | null = null;
beforeAll(async () => {
  be = await createWasmBackend({ threads: 1 });
});
afterAll(async () => {
  await be?.dispose?.();
});

/** Plain dequantized weight (original column order) from the stored parts: s · (c − z). */
function plainDense(q: QuantizedLinear): Float64Array {
  const m = q.outFeatures,
    n = q.inFeatures,
    g = q.groupSize,
    ng = Math.ceil(n / g);
  const c = unpackBits(q.packed, m, n, q.bits);
  const z = q.symmetric ? null : unpackBits(q.zeros!, m, ng, q.bits);
  const out = new Float64Array(m * n);
  for (let r = 0; r < m; r++)
    for (let j = 0; j < n; j++) {
      const k = Math.floor(j / g),
        s = q.scaleDtype === 'f16' ? f16ToF32(q.scales[r * ng + k]!) : q.scales[r * ng + k]!;
      out[r * n + (q.perm ? q.perm[j]! : j)] = s * (c[r * n + j]! - (z ? z[r * ng + k]! : 2 ** (q.bits - 1)));
    }
  return out;
}
function maxAbs(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(a[i]!));
  return s;
}
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number): void {
  const s = Math.max(maxAbs(b), 1e-30);
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(rel * s);
}

const layerArb = fc.record({
  m: fc.integer({ min: 1, max: 20 }),
  n: fc.integer({ min: 2, max: 180 }),
  g: fc.constantFrom(0, 2, 6, 16, 32, 48),
  grid: fc.constantFrom<QuantGrid>('full', 'restricted'),
  seed: fc.integer({ min: 0, max: 10_000 }),
  T: fc.constantFrom(1, 2, 5),
  gptq: fc.constantFrom<false | 'static' | 'dynamic'>(false, 'static', 'dynamic'),
});
/** An even group size ≤ n (what the int4 kernels take): 0 / odd sizes moved to the next even one below. */
function evenGroup(p: { n: number; g: number }): number {
  const g = Math.min(p.g || p.n, p.n);
  return g % 2 ? Math.max(2, g - 1) : g;
}
function build(p: { m: number; n: number; g: number; grid: QuantGrid; seed: number; gptq: false | 'static' | 'dynamic' }, bits: Bits): QuantizedLinear {
  const groupSize = Math.min(p.g, p.n);
  const W = randn([p.m, p.n], { seed: p.seed }) as Tensor<'f32'>;
  if (!p.gptq) return rtnQuantize(W, { bits, groupSize, grid: p.grid });
  const X = randn([2 * p.n + 8, p.n], { seed: p.seed + 1 }).data as Float32Array,
    G = new Float64Array(p.n * p.n);
  gramAccumulate(G, X, 2 * p.n + 8, p.n);
  return gptqQuantize(W, G, { bits, groupSize, grid: p.grid, actOrder: p.gptq });
}

describe('quantized forward paths (full grid, ragged groups)', () => {
  it('JS GEMV equals x · plain dequant(W)ᵀ for every bit width', () => {
    fc.assert(
      fc.property(layerArb, fc.constantFrom<Bits>(2, 3, 4, 5, 6, 7, 8), (p, bits) => {
        const q = build(p, bits),
          D = plainDense(q);
        expect(Array.from(q.toDense().data)).toEqual(Array.from(D, Math.fround));
        const x = randn([p.T, p.n], { seed: p.seed + 2 }) as Tensor<'f32'>;
        const y = q.forward(x).data,
          ref = new Float64Array(p.T * p.m);
        for (let t = 0; t < p.T; t++)
          for (let r = 0; r < p.m; r++) {
            let s = 0;
            for (let j = 0; j < p.n; j++) s += x.get(t, j) * D[r * p.n + j]!;
            ref[t * p.m + r] = s;
          }
        expectClose(y, ref, 1e-5);
      }),
      { numRuns: 60 },
    );
  });

  it('WASM int4 GEMV (padded kernel layout for a ragged last group) equals the JS GEMV', (ctx) => {
    if (!be) return ctx.skip();
    fc.assert(
      fc.property(layerArb, (p) => {
        const q = build({ ...p, g: evenGroup(p) }, 4);
        expect(q.int4KernelReady(be!)).toBe(true);
        const x = randn([p.T, p.n], { seed: p.seed + 3 }) as Tensor<'f32'>;
        expectClose(q.forward(x, { backend: be! }).data, q.forward(x).data, 1e-5);
        q.releaseBackendMemory(be!);
      }),
      { numRuns: 40 },
    );
  });

  it('W4A4 / W4A8 integer paths (JS and WASM GEMV / GEMM) equal a plain integer reference', (ctx) => {
    fc.assert(
      fc.property(layerArb, fc.constantFrom<4 | 8>(4, 8), fc.boolean(), (p, actBits, withOutlier) => {
        const r = withOutlier ? 3 : 0,
          nIn = p.n + r;
        const q = build({ ...p, g: evenGroup(p) }, 4);
        const x = randn([p.T, nIn], { seed: p.seed + 4 }) as Tensor<'f32'>;
        const act = { bits: actBits, clip: 0.9 };
        const a = quantizeActivations(x.data, p.T, p.n, act, nIn, r);
        // plain reference: s_x · Σ_j qx_j · s_w(j) · (c_j − 8)  in f64 (original column order)
        const D = plainDense(q),
          ref = new Float64Array(p.T * p.m);
        for (let t = 0; t < p.T; t++)
          for (let i = 0; i < p.m; i++) {
            let s = 0;
            for (let j = 0; j < p.n; j++) s += a.codes[t * p.n + j]! * D[i * p.n + j]!;
            ref[t * p.m + i] = a.scales[t]! * s;
          }
        expectClose(integerForward(q, a, p.T), ref, 1e-5);
        const outlier = r ? Float32Array.from({ length: p.m * r }, (_, k) => ((k % 5) - 2) * 0.1) : null;
        const L = new QuantActLinear({ weight: q, outlier, outlierColumns: r, act, rotation: null });
        const yJs = L.forward(x).data;
        for (let t = 0; t < p.T; t++)
          for (let i = 0; i < p.m; i++) {
            let s = 0;
            for (let k = 0; k < r; k++) s += outlier![i * r + k]! * x.get(t, k);
            ref[t * p.m + i]! += s;
          }
        expectClose(yJs, ref, 1e-5);
        if (be) {
          expectClose(L.forward(x, { backend: be }).data, yJs, 1e-5);
          q.releaseBackendMemory(be);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('the kernel layout pads a ragged last group with zero weights (code 8 ↔ nibble 0) and keeps the scales', (ctx) => {
    if (!be) return ctx.skip();
    const q = rtnQuantize(randn([3, 21], { seed: 5 }) as Tensor<'f32'>, { bits: 4, groupSize: 8 });
    expect(q.kernelWidth).toBe(24);
    const { w, scales, n } = q.kernelWeights(be);
    expect(n).toBe(24);
    expect(scales.length).toBe(9);
    expect(w.length).toBe(3 * 12);
    const c = unpackBits(q.packed, 3, 21, 4);
    for (let r = 0; r < 3; r++)
      for (let j = 0; j < 24; j++) {
        const nib = (w[r * 12 + (j >> 1)]! >> ((j & 1) * 4)) & 15,
          signed = nib >= 8 ? nib - 16 : nib;
        expect(signed).toBe(j < 21 ? c[r * 21 + j]! - 8 : 0);
      }
    q.releaseBackendMemory(be);
  });
});
