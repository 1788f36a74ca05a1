/** int4 kernels (GEMV, quantize, dequantize) on WebGPU against the CPU versions in int4.ts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dotTolerance } from '@llmpress/tensor';
import { dequantizeInt4Reference, int4GemvReference, quantizeInt4Reference, type WebGpuBackend } from '@llmpress/backend-webgpu';
import { createNodeWebGpuBackend, nodeWebGpuUnavailableReason } from '@llmpress/backend-webgpu/node';

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return a;
}
function randBytes(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s >>> 24;
  }
  return a;
}

describe('int4 CPU reference', () => {
  it('packs the low nibble as the even column, signed, and round-trips within half a step', () => {
    const q = quantizeInt4Reference({ m: 1, n: 4, groupSize: 4, a: new Float32Array([7, -7, 3.5, -1]) });
    expect(q.scales[0]).toBe(1);
    expect(Array.from(q.w)).toEqual([(7 & 15) | ((-7 & 15) << 4), (4 & 15) | ((-1 & 15) << 4)]); // 3.5 rounds half to even -> 4
    expect(Array.from(dequantizeInt4Reference(q))).toEqual([7, -7, 4, -1]);
  });
});

const reason = await nodeWebGpuUnavailableReason();
(reason ? describe.skip : describe)(`int4 on WebGPU${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let b: WebGpuBackend;
  beforeAll(async () => {
    b = (await createNodeWebGpuBackend())!;
  }, 120_000);
  afterAll(async () => {
    await b?.dispose();
  });

  it('int4GemvAsync matches the CPU version (odd shapes, unaligned rows, alpha/beta)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 24 }),
        fc.constantFrom(2, 4, 8, 16),
        fc.constantFrom(1, -0.5),
        fc.constantFrom(0, 0.5),
        fc.integer({ min: 1, max: 1e6 }),
        async (m, groups, g, alpha, beta, seed) => {
          const n = groups * g;
          const w = randBytes((m * n) / 2, seed),
            scales = rand((m * n) / g, seed + 1, 0, 0.2),
            x = rand(n, seed + 2);
          const y0 = rand(m, seed + 3),
            y = y0.slice(),
            want = y0.slice();
          await b.int4GemvAsync({ m, n, groupSize: g, w, scales, x, y, alpha, beta });
          int4GemvReference({ m, n, groupSize: g, w, scales, x, y: want, alpha, beta });
          for (let i = 0; i < m; i++) {
            let bound = Math.abs(beta * y0[i]!);
            for (let j = 0; j < n; j++) bound += 8 * scales[i * (n / g) + Math.floor(j / g)]! * Math.abs(x[j]!) * Math.abs(alpha);
            expect(Math.abs(y[i]! - want[i]!)).toBeLessThanOrEqual(dotTolerance('f32', n + 2, 4) * bound + 1e-30);
          }
        },
      ),
      { numRuns: 10, seed: 5 },
    );
  });

  it('quantizeInt4Async agrees with the CPU version and dequantizes within half a step', async () => {
    const m = 33,
      n = 96,
      g = 32,
      a = rand(m * n, 9, -3, 3);
    a.fill(0, 0, g); // an all-zero group: scale 0, codes 0
    const q = await b.quantizeInt4Async({ m, n, groupSize: g, a });
    const r = quantizeInt4Reference({ m, n, groupSize: g, a });
    for (let i = 0; i < r.scales.length; i++) expect(Math.abs(q.scales[i]! - r.scales[i]!)).toBeLessThanOrEqual(2 * 2 ** -23 * r.scales[i]!);
    let same = 0;
    for (let i = 0; i < r.w.length; i++) if (q.w[i] === r.w[i]) same++;
    expect(same / r.w.length).toBeGreaterThanOrEqual(0.99); // only exact .5 ties may round differently
    const d = await b.dequantizeInt4Async(q);
    expect(Array.from(d)).toEqual(Array.from(dequantizeInt4Reference(q)));
    for (let i = 0; i < m * n; i++) {
      const s = q.scales[Math.floor(i / n) * (n / g) + Math.floor((i % n) / g)]!;
      expect(Math.abs(d[i]! - a[i]!)).toBeLessThanOrEqual(0.5 * s * (1 + 1e-5) + 1e-30);
    }
    expect(Array.from(d.subarray(0, g))).toEqual(new Array(g).fill(0));
  });

  it('quantize with rows not word aligned (n % 8 != 0) runs the CPU path, counted', async () => {
    const before = b.stats().fallbacks['int4-unaligned'] ?? 0;
    const a = rand(3 * 12, 4);
    const q = await b.quantizeInt4Async({ m: 3, n: 12, groupSize: 4, a });
    expect(Array.from(q.w)).toEqual(Array.from(quantizeInt4Reference({ m: 3, n: 12, groupSize: 4, a }).w));
    expect(b.stats().fallbacks['int4-unaligned']).toBe(before + 1);
  });

  it('rejects bad shapes with typed errors', async () => {
    await expect(
      b.int4GemvAsync({ m: 2, n: 6, groupSize: 3, w: new Uint8Array(6), scales: new Float32Array(4), x: new Float32Array(6), y: new Float32Array(2) }),
    ).rejects.toThrow(/argument 'groupSize' must be an even integer >= 2, got 3/);
    await expect(
      b.int4GemvAsync({ m: 2, n: 6, groupSize: 4, w: new Uint8Array(6), scales: new Float32Array(3), x: new Float32Array(6), y: new Float32Array(2) }),
    ).rejects.toThrow(/argument 'scales' is too short: needs 4 elements/); // ragged: ⌈6/4⌉ = 2 groups a row
    await expect(
      b.int4GemvAsync({ m: 2, n: 8, groupSize: 4, w: new Uint8Array(3), scales: new Float32Array(4), x: new Float32Array(8), y: new Float32Array(2) }),
    ).rejects.toThrow(/argument 'w' is too short: needs 8 elements/);
    await expect(b.quantizeInt4Async({ m: 1, n: 8, groupSize: 8, a: new Float32Array([1, 2, NaN, 0, 0, 0, 0, 0]) })).rejects.toThrow(
      /must be finite \(index 2/,
    );
  });
});
