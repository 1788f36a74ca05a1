/**
 * Double-f32 ("df32") GEMM of the synchronous facade (decision 0009): the adapter's self-test of the
 * error-free transformations, and a property test against the reference backend's f64 GEMM on
 * well-conditioned data (uniform in [-1, 1] times a random power of two per operand). Skips with
 * the reason when this machine has no WebGPU adapter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { referenceBackend, type GemmArgs } from '@llmpress/tensor';
import { createNodeWebGpuBackend, createWebGpuSyncBackend, nodeWebGpuUnavailableReason, type WebGpuSyncBackend } from '@llmpress/backend-webgpu/node';
import { df32SelfTestInputs } from '@llmpress/backend-webgpu';

const reason = await nodeWebGpuUnavailableReason();

function fill(n: number, seed: number, scale: number): Float64Array {
  const a = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const hi = s / 4294967296;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((hi + s / 4294967296 / 4294967296) * 2 - 1) * scale; // 53 random bits: not f32 values
  }
  return a;
}

if (reason) {
  describe('df32 GEMM (node)', () => {
    it.skip(`skipped: ${reason}`, () => {});
  });
} else {
  describe('df32 GEMM (node)', () => {
    it('self-test on this adapter: TwoSum and (some) TwoProd are error-free; plain f32 source would not be', async () => {
      const be = (await createNodeWebGpuBackend())!;
      try {
        const check = await be.df32Check();
        console.log(`df32 self-test on ${be.adapter.description}: ${JSON.stringify(check)}`);
        expect(check.exact).toBe(true);
        expect(check.twoSumExact).toBe(check.cases);
        expect(check.twoProdExact).toBe(check.cases);
        // the inputs really exercise rounding errors: most sums and products of them are not f32 values
        const x = df32SelfTestInputs();
        let inexact = 0;
        for (let i = 0; i < x.length; i += 2) if (Math.fround(x[i]! * x[i + 1]!) !== x[i]! * x[i + 1]!) inexact++;
        expect(inexact).toBeGreaterThan(x.length / 4);
      } finally {
        await be.dispose();
      }
    });

    let gpu: WebGpuSyncBackend;
    beforeAll(async () => {
      gpu = (await createWebGpuSyncBackend({ minFlops: 0, f64: 'df32' }))!;
    });
    afterAll(async () => {
      await gpu?.dispose();
    });

    it('matches the reference f64 GEMM: elementwise error <= 4 (k+2) 2^-46 Σ|terms|, normwise relative error < 1e-13', async () => {
      expect(gpu.stats().f64.policy).toBe('df32');
      let worstElem = 0, // max |ĉ − c| / Σ|terms| / (k + 2)
        worstNorm = 0; // max ‖Ĉ − C‖_F / ‖C‖_F
      gpu.resetStats();
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1, max: 400 }),
          fc.boolean(),
          fc.boolean(),
          fc.constantFrom(1, -0.75, 3),
          fc.constantFrom(0, 1, -0.5),
          fc.integer({ min: -60, max: 60 }),
          fc.integer({ min: -60, max: 60 }),
          fc.integer({ min: 0, max: 3 }),
          fc.integer({ min: 1, max: 1e6 }),
          async (m, n, k, tA, tB, alpha, beta, ea, eb, pad, seed) => {
            const ar = tA ? k : m,
              ac = tA ? m : k,
              br = tB ? n : k,
              bc = tB ? k : n;
            const lda = ac + pad,
              ldb = bc + pad,
              ldc = n + pad;
            const g: GemmArgs = {
              transA: tA,
              transB: tB,
              m,
              n,
              k,
              alpha,
              a: fill(ar * lda + pad, seed, 2 ** ea),
              aOffset: pad,
              lda,
              b: fill(br * ldb, seed + 1, 2 ** eb),
              bOffset: 0,
              ldb,
              beta,
              c: fill(m * ldc, seed + 2, 2 ** (ea + eb)),
              cOffset: 0,
              ldc,
            };
            const r = { ...g, c: Float64Array.from(g.c) };
            const c0 = Float64Array.from(g.c);
            gpu.gemm(g);
            calls++;
            referenceBackend.gemm!(r);
            let num = 0,
              den = 0;
            for (let i = 0; i < m; i++)
              for (let j = 0; j < n; j++) {
                let bound = Math.abs(beta * c0[i * ldc + j]!);
                for (let q = 0; q < k; q++) {
                  const a = g.a[pad + (tA ? q * lda + i : i * lda + q)]!,
                    b = g.b[tB ? j * ldb + q : q * ldb + j]!;
                  bound += Math.abs(alpha * a * b);
                }
                const d = Math.abs(g.c[i * ldc + j]! - r.c[i * ldc + j]!);
                worstElem = Math.max(worstElem, d / bound / (k + 2));
                if (!(d <= 4 * (k + 2) * 2 ** -46 * bound)) throw new Error(`C[${i},${j}]: |err| ${d} > bound (Σ|terms| ${bound}, m=${m} n=${n} k=${k})`);
                num += d * d;
                den += r.c[i * ldc + j]! ** 2;
                if (pad > 0 && j === n - 1) expect(g.c[i * ldc + n]).toBe(c0[i * ldc + n]); // padding untouched
              }
            if (den > 0) worstNorm = Math.max(worstNorm, Math.sqrt(num / den));
            expect(Math.sqrt(num / den)).toBeLessThan(1e-13);
          },
        ),
        { numRuns: 40, seed: 2026 },
      );
      console.log(
        `df32 GEMM vs reference f64 (${calls} cases): max |err|/(Σ|terms|·(k+2)) = ${worstElem.toExponential(2)} (2^${Math.log2(worstElem).toFixed(1)}), max normwise relative error = ${worstNorm.toExponential(2)}`,
      );
      expect(gpu.stats()).toMatchObject({ gpu: { gemm: calls, 'gemm:df32': calls }, routed: {}, fallbacks: {} });
    });

    it('f64 GEMMs below minFlopsDf32 stay on the CPU (counted), larger ones run in df32; f32 GEMMs follow minFlops', async () => {
      const t = (await createWebGpuSyncBackend({ minFlops: 0, minFlopsDf32: 2 * 8 * 8 * 64 + 1 }))!;
      try {
        const mk = (k: number): GemmArgs => ({
          transA: false,
          transB: false,
          m: 8,
          n: 8,
          k,
          alpha: 1,
          a: fill(8 * k, k, 1),
          aOffset: 0,
          lda: k,
          b: fill(8 * k, k + 1, 1),
          bOffset: 0,
          ldb: 8,
          beta: 0,
          c: new Float64Array(64),
          cOffset: 0,
          ldc: 8,
        });
        for (const k of [64, 65]) {
          const g = mk(k),
            r = mk(k);
          t.gemm(g);
          referenceBackend.gemm!(r);
          for (let i = 0; i < 64; i++) expect(Math.abs(g.c[i]! - r.c[i]!)).toBeLessThan(1e-13);
        }
        t.gemm({ ...mk(4), a: new Float32Array(32), b: new Float32Array(32), c: new Float32Array(64) });
        expect(t.stats()).toMatchObject({ gpu: { gemm: 2, 'gemm:df32': 1 }, routed: { 'gemm:f64-small': 1 }, fallbacks: {} });
      } finally {
        await t.dispose();
      }
    });

    it('is far more accurate than the f32 path it replaces (f64: all)', async () => {
      const all = (await createWebGpuSyncBackend({ minFlops: 0, f64: 'all' }))!;
      try {
        const mk = (): GemmArgs => ({
          transA: true,
          transB: false,
          m: 24,
          n: 24,
          k: 256,
          alpha: 1,
          a: fill(256 * 24, 5, 1),
          aOffset: 0,
          lda: 24,
          b: fill(256 * 24, 6, 1),
          bOffset: 0,
          ldb: 24,
          beta: 0,
          c: new Float64Array(576),
          cOffset: 0,
          ldc: 24,
        });
        const g = mk(),
          f = mk(),
          r = mk();
        gpu.gemm(g);
        all.gemm(f);
        referenceBackend.gemm!(r);
        const err = (x: Float64Array) => Math.max(...Array.from(x, (v, i) => Math.abs(v - r.c[i]!)));
        expect(err(g.c as Float64Array)).toBeLessThan(1e-12);
        expect(err(f.c as Float64Array)).toBeGreaterThan(1e-7);
      } finally {
        await all.dispose();
      }
    });
  });
}
