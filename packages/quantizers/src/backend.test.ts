import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { type Tensor, randn, type Backend } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm/node';
import { rtnQuantize, gptqQuantize, gramAccumulate, QuantActLinear } from './index.js';

let be: Backend | null = null;
beforeAll(async () => {
  be = await createWasmBackend();
});
afterAll(async () => {
  await be?.dispose?.();
});

function close(a: Tensor<'f32'>, b: Tensor<'f32'>, rel: number): void {
  let s = 0;
  for (const v of b.data) s = Math.max(s, Math.abs(v));
  for (let i = 0; i < a.size; i++) expect(Math.abs(a.data[i]! - b.data[i]!)).toBeLessThanOrEqual(rel * s);
}

describe('the backend integer routines (WASM) give the same answers as the JS paths', () => {
  const m = 24,
    n = 64,
    T = 6;
  const W = randn([m, n], { seed: 1 }) as Tensor<'f32'>;
  const x = randn([T, n], { seed: 2 }) as Tensor<'f32'>;
  it('int4 GEMV (per-channel and groups, with an act-order permutation)', (ctx) => {
    if (!be) return ctx.skip();
    const X = randn([80, n], { seed: 3 }).data as Float32Array,
      G = new Float64Array(n * n);
    gramAccumulate(G, X, 80, n);
    for (const q of [
      rtnQuantize(W, { bits: 4 }),
      rtnQuantize(W, { bits: 4, groupSize: 16 }),
      gptqQuantize(W, G, { bits: 4, actOrder: 'dynamic', groupSize: 16 }),
      rtnQuantize(W, { bits: 4, groupSize: 24 }),
    ]) {
      expect(q.int4KernelReady(be)).toBe(true);
      close(q.forward(x, { backend: be }), q.forward(x), 1e-5);
    }
    expect(rtnQuantize(W, { bits: 4, symmetric: false }).int4KernelReady(be)).toBe(false);
  });
  it('W4A4 GEMM and W4A8 GEMV inside QuantActLinear', (ctx) => {
    if (!be) return ctx.skip();
    for (const bits of [4, 8] as const) {
      const q = rtnQuantize(W.slice(null, [4, n]).contiguous(true), { bits: 4, groupSize: 20 });
      const L = new QuantActLinear({ weight: q, outlier: new Float32Array(m * 4).fill(0.25), outlierColumns: 4, act: { bits, clip: 0.9 }, rotation: null });
      close(L.forward(x, { backend: be }), L.forward(x), 1e-5);
    }
  });
  it('releaseBackendMemory frees the kernel copy (allocations balance) and the layer still runs', (ctx) => {
    if (!be || !be.allocate || !be.release) return ctx.skip();
    const q = rtnQuantize(W, { bits: 4 });
    const calls: number[] = [];
    const spy: Backend = {
      ...be,
      allocate: (d: 'f32' | 'f64', k: number) => {
        calls.push(1);
        return be!.allocate!(d, k);
      },
      allocateBytes: (k: number) => {
        calls.push(1);
        return be!.allocateBytes!(k);
      },
      release: (a: any) => {
        calls.push(-1);
        be!.release!(a);
      },
    } as Backend;
    const y0 = q.forward(x, { backend: spy });
    expect(calls.filter((c) => c === 1).length).toBe(2);
    q.releaseBackendMemory(spy);
    expect(calls.reduce((a, c) => a + c, 0)).toBe(0);
    q.releaseBackendMemory(spy); // idempotent
    expect(calls.reduce((a, c) => a + c, 0)).toBe(0);
    close(q.forward(x, { backend: spy }), y0, 0);
    q.releaseBackendMemory(spy);
  });
});
