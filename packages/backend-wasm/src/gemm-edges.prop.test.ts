// GEMM micro-kernel edge cases: the 2- and 4-row kernels for row remainders (m mod MR), the store
// fast paths (alpha = 1, beta ∈ {0, 1}), several k-blocks (k > KC = 256: later blocks accumulate into
// C), column edges (n mod 8) — against an f64 oracle, and with C resident between sentinel rows and
// columns so a stray store outside the m × n block (which a copied-in C would hide) is caught.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { dotTolerance } from '@llmpress/tensor';
import { createWasmBackend, type WasmBackend } from './node.js';

function fill(arr: Float32Array | Float64Array, seed: number) {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < arr.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    arr[i] = (s / 4294967296) * 2 - 1;
  }
  return arr;
}

const SENTINEL = 12345.5;

for (const relaxedSimd of [true, false]) {
  describe(`gemm edge tiles (${relaxedSimd ? 'relaxed SIMD, 6-row' : 'plain SIMD, 5-row'} micro-kernel)`, () => {
    let be: WasmBackend;
    beforeAll(async () => {
      be = (await createWasmBackend({ relaxedSimd }))!;
    });
    afterAll(async () => {
      await be?.dispose();
    });

    it('every row remainder, alpha/beta fast paths, k across blocks; nothing outside C is written', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 14 }),
          fc.integer({ min: 1, max: 19 }),
          fc.constantFrom(1, 7, 256, 257, 300),
          fc.constantFrom(1, 2),
          fc.constantFrom(0, 1, 0.5),
          fc.boolean(),
          fc.constantFrom<'f32' | 'f64'>('f32', 'f64'),
          fc.integer({ min: 1, max: 1e6 }),
          async (m, n, k, alpha, beta, tB, dtype, seed) => {
            const Arr = dtype === 'f32' ? Float32Array : Float64Array;
            const a = fill(new Arr(m * k), seed),
              b = fill(new Arr(k * n), seed + 1);
            // C resident: 2 sentinel rows above and below, 3 sentinel columns on the right (ldc = n + 3)
            const ldc = n + 3,
              rows = m + 4,
              off = 2 * ldc;
            const c = be.allocate!(dtype, rows * ldc);
            try {
              c.fill(SENTINEL);
              const c0 = fill(new Arr(m * n), seed + 2);
              if (beta === 0) c0.fill(NaN); // beta = 0 must overwrite, never read, C
              for (let i = 0; i < m; i++) c.set(c0.subarray(i * n, (i + 1) * n), off + i * ldc);
              be.gemm({ transA: false, transB: tB, m, n, k, alpha, a, aOffset: 0, lda: k, b, bOffset: 0, ldb: tB ? k : n, beta, c, cOffset: off, ldc });
              for (let r = 0; r < rows; r++) {
                for (let j = 0; j < ldc; j++) {
                  const i = r - 2,
                    v = c[r * ldc + j]!;
                  if (i < 0 || i >= m || j >= n) {
                    expect(v, `stray write at row ${i}, column ${j}`).toBe(SENTINEL);
                    continue;
                  }
                  let s = 0,
                    bd = 0;
                  for (let p = 0; p < k; p++) {
                    const t = a[i * k + p]! * (tB ? b[j * k + p]! : b[p * n + j]!);
                    s += t;
                    bd += Math.abs(t);
                  }
                  const want = alpha * s + (beta === 0 ? 0 : beta * c0[i * n + j]!);
                  const tol = dotTolerance(dtype, k + 2) * (Math.abs(alpha) * bd + Math.abs(beta === 0 ? 0 : beta * c0[i * n + j]!)) + 1e-300;
                  expect(Math.abs(v - want), `C[${i},${j}] = ${v}, want ${want} (m ${m} n ${n} k ${k} alpha ${alpha} beta ${beta})`).toBeLessThanOrEqual(tol);
                }
              }
            } finally {
              be.release(c);
            }
          },
        ),
        { numRuns: 60, seed: 20261125 },
      );
    });
  });
}
