/**
 * The synchronous WebGPU facade in Node (GPU thread in a worker_thread, Dawn; on machines without a
 * GPU, Mesa lavapipe): the shared conformance suite with every call forced onto the GPU, routing,
 * residency and a device loss mid-run. Skips with the reason when this machine has no WebGPU adapter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackendConformance } from '@llmpress/tensor/testing';
import { referenceBackend, type GemmArgs } from '@llmpress/tensor';
import { createWebGpuSyncBackend, nodeWebGpuUnavailableReason, type WebGpuSyncBackend } from '@llmpress/backend-webgpu/node';

const reason = await nodeWebGpuUnavailableReason();

function rand(n: number, seed: number, f64 = false): Float32Array | Float64Array {
  const a = f64 ? new Float64Array(n) : new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}
function gemmArgs(m: number, n: number, k: number, f64: boolean, seed: number, c?: Float32Array | Float64Array): GemmArgs {
  return {
    transA: false,
    transB: true,
    m,
    n,
    k,
    alpha: 0.5,
    a: rand(m * k, seed, f64),
    aOffset: 0,
    lda: k,
    b: rand(n * k, seed + 1, f64),
    bOffset: 0,
    ldb: k,
    beta: 0.25,
    c: c ?? rand(m * n, seed + 2, f64),
    cOffset: 0,
    ldc: n,
  };
}
function maxDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

if (reason) {
  describe('webgpu sync facade (node)', () => {
    it.skip(`skipped: ${reason}`, () => {});
  });
} else {
  describeBackendConformance('webgpu sync facade (node, every call on the GPU)', () => createWebGpuSyncBackend({ minFlops: 0, minElements: 0, f64: 'df32' }), {
    gemmEpsF64: 2 ** -46, // f64 GEMMs run in double-f32 on the GPU (decision 0009)
    numRuns: 8,
    maxDim: 64,
    skip: { matmul: 'covered by the gemm properties (the facade is a plain synchronous backend)' },
  });

  describe('webgpu sync facade (node)', () => {
    let gpu: WebGpuSyncBackend;
    beforeAll(async () => {
      gpu = (await createWebGpuSyncBackend({ minFlops: 0, minElements: 0 }))!;
    });
    afterAll(async () => {
      await gpu?.dispose();
    });

    it('runs f32 GEMMs on the GPU, synchronously, with the reference result', () => {
      gpu.resetStats();
      const g = gemmArgs(37, 29, 41, false, 3),
        r = { ...g, c: Float32Array.from(g.c) };
      gpu.gemm(g);
      referenceBackend.gemm!(r);
      expect(maxDiff(g.c, r.c)).toBeLessThan(1e-5);
      expect(gpu.stats().gpu.gemm).toBe(1);
      expect(gpu.capabilities.syncRead).toBe(true);
    });

    it("f64: 'exact-f32-only': exactly-f32 operands on the GPU (f64 epilogue), other f64 operands routed to the CPU", async () => {
      const ex = (await createWebGpuSyncBackend({ minFlops: 0, f64: 'exact-f32-only' }))!;
      try {
        const g = gemmArgs(20, 24, 300, true, 7);
        for (const x of [g.a, g.b]) for (let i = 0; i < x.length; i++) x[i] = Math.fround(x[i]!);
        const r = { ...g, c: Float64Array.from(g.c) };
        ex.gemm(g);
        referenceBackend.gemm!(r);
        expect(maxDiff(g.c, r.c)).toBeLessThan(1e-4);
        expect(maxDiff(g.c, r.c)).toBeGreaterThan(0); // really computed in f32 on the device
        const h = gemmArgs(20, 24, 300, true, 8),
          rh = { ...h, c: Float64Array.from(h.c) };
        ex.gemm(h);
        referenceBackend.gemm!(rh);
        expect(maxDiff(h.c, rh.c)).toBeLessThan(1e-12);
        expect(ex.stats()).toMatchObject({ gpu: { gemm: 1 }, routed: { 'gemm:f64': 1 }, fallbacks: {}, f64: { policy: 'exact-f32-only' } });
      } finally {
        await ex.dispose();
      }
    });

    it("f64: 'df32' (default) runs every f64 GEMM on the GPU in double-f32, near f64 accuracy; non-finite operands stay on the CPU", () => {
      gpu.resetStats();
      expect(gpu.stats().f64.policy).toBe('df32'); // the adapter passed the df32 self-test
      const h = gemmArgs(20, 24, 300, true, 8),
        rh = { ...h, c: Float64Array.from(h.c) };
      gpu.gemm(h);
      referenceBackend.gemm!(rh);
      expect(maxDiff(h.c, rh.c)).toBeLessThan(1e-12); // f32 alone would be ~1e-6
      const nan = gemmArgs(8, 8, 8, true, 9);
      nan.a[3] = Number.NaN;
      const rn = { ...nan, c: Float64Array.from(nan.c) };
      gpu.gemm(nan);
      referenceBackend.gemm!(rn);
      expect(Array.from(nan.c)).toEqual(Array.from(rn.c));
      expect(gpu.stats()).toMatchObject({ gpu: { gemm: 1, 'gemm:df32': 1 }, routed: { 'gemm:f64-nonfinite': 1 }, fallbacks: {} });
    });

    it('routes calls below the flop threshold to the CPU backend', async () => {
      const small = (await createWebGpuSyncBackend({ minFlops: 2 * 16 * 16 * 16 + 1 }))!;
      try {
        small.gemm(gemmArgs(16, 16, 16, false, 1));
        small.gemm(gemmArgs(16, 16, 17, false, 1));
        expect(small.stats()).toMatchObject({ gpu: { gemm: 1 }, routed: { 'gemm:small': 1 }, fallbacks: {} });
      } finally {
        await small.dispose();
      }
    });

    it('splits GEMMs whose A or C exceed the binding limit by rows of C; a B that does not fit runs on the CPU, counted', async () => {
      const small = (await createWebGpuSyncBackend({ minFlops: 0, maxBindingBytes: 4096 }))!;
      try {
        for (const [transA, transB] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ] as const) {
          const m = 200,
            n = 9,
            k = 4,
            lda = (transA ? m : k) + 2,
            ldb = (transB ? k : n) + 1,
            ldc = n + 3;
          const g: GemmArgs = {
            transA,
            transB,
            m,
            n,
            k,
            alpha: 1.5,
            a: rand(lda * (transA ? k : m) + 5, 31),
            aOffset: 5,
            lda,
            b: rand(ldb * (transB ? n : k), 32),
            bOffset: 0,
            ldb,
            beta: -0.5,
            c: rand(ldc * m, 33),
            cOffset: 0,
            ldc,
          };
          const r = { ...g, c: Float32Array.from(g.c) };
          small.resetStats();
          small.gemm(g);
          referenceBackend.gemm!(r);
          expect(maxDiff(g.c, r.c)).toBeLessThan(1e-5);
          expect(small.stats().gpu.gemm).toBeGreaterThan(1); // several row blocks
        }
        small.resetStats();
        const big = gemmArgs(4, 40, 40, false, 40),
          rb = { ...big, c: Float32Array.from(big.c) }; // B: 6400 bytes
        small.gemm(big);
        referenceBackend.gemm!(rb);
        expect(maxDiff(big.c, rb.c)).toBeLessThan(1e-5);
        expect(small.stats().fallbacks).toEqual({ 'gemm:too-large': 1 });
      } finally {
        await small.dispose();
      }
    });

    it('pinned operands stay resident (no copy) until pinned again', () => {
      const g = gemmArgs(64, 48, 32, false, 11);
      gpu.pin(g.b);
      gpu.resetStats();
      const c1 = new Float32Array(64 * 48);
      gpu.gemm({ ...g, beta: 0, c: c1 });
      expect(gpu.stats().uploadedBytes).toBe(64 * 32 * 4); // A only
      const r = new Float32Array(64 * 48);
      referenceBackend.gemm!({ ...g, beta: 0, c: r });
      expect(maxDiff(c1, r)).toBeLessThan(1e-5);
      // a snapshot: changing B on the CPU is seen only after pinning again
      (g.b as Float32Array).fill(0);
      const c2 = new Float32Array(64 * 48);
      gpu.gemm({ ...g, beta: 0, c: c2 });
      expect(Array.from(c2)).toEqual(Array.from(c1));
      gpu.pin(g.b);
      gpu.gemm({ ...g, beta: 0, c: c2 });
      expect(c2.every((v) => v === 0)).toBe(true);
      gpu.unpin(g.b);
      expect(gpu.stats().pinned).toBe(0);
    });

    it('survives a device loss mid-run: warns once, keeps computing correctly on the CPU, counts the fallbacks', async () => {
      const lostReasons: string[] = [];
      const b = (await createWebGpuSyncBackend({ minFlops: 0, onLost: (r) => lostReasons.push(r) }))!;
      try {
        const before = gemmArgs(30, 20, 10, false, 5);
        b.gemm(before);
        b.simulateDeviceLoss();
        for (let i = 0; i < 3; i++) {
          const g = gemmArgs(30, 20, 10, false, 20 + i),
            r = { ...g, c: Float32Array.from(g.c) };
          b.gemm(g);
          referenceBackend.gemm!(r);
          expect(maxDiff(g.c, r.c)).toBeLessThan(1e-5);
        }
        const s = b.stats();
        expect(s.lost).toBe(true);
        expect(s.gpu.gemm).toBe(1);
        expect(s.fallbacks['gemm:device-lost']).toBe(3);
        expect(lostReasons).toHaveLength(1);
        expect(lostReasons[0]).toMatch(/lost/);
      } finally {
        await b.dispose();
      }
    });
  });
}
