import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RotationBatch, rotKernels } from './rot-kernel.js';
// creating a WASM backend switches relaxed SIMD on in Node 20, so the relaxed kernel build is tested
import '../test-backends.js';
import { rot, type FA } from './util.js';

/** Random op sequence: sweeps (chained adjacent rotations), single rotations, sign flips. */
function ops(seed: number, rows: number): [number, number, number, number][] {
  let s = seed >>> 0;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const out: [number, number, number, number][] = [];
  for (let t = 0; t < 12; t++) {
    const kind = rnd();
    if (kind < 0.5) {
      // one to three sweeps from the same first row (the kernel fuses a sweep with the next one
      // when it is no longer), ends shrinking or not
      const k = Math.floor(rnd() * (rows - 1));
      let p = k + 1 + Math.floor(rnd() * (rows - 1 - k));
      const sweeps = 1 + Math.floor(rnd() * 3);
      for (let sw = 0; sw < sweeps; sw++) {
        for (let j = k; j < p; j++) {
          const th = rnd() * 6.28;
          out.push([j, j + 1, Math.cos(th), Math.sin(th)]);
        }
        const r = rnd();
        p = r < 0.4 ? Math.max(k + 1, p - 1) : r < 0.8 ? p : Math.min(rows - 1, p + 1);
      }
    } else if (kind < 0.6) {
      // near-swaps (|c| tiny: the swapped fast form) and long runs that force rescaling
      const a = Math.floor(rnd() * (rows - 1));
      for (let r = 0; r < 120; r++) {
        const th = Math.PI / 2 - (r % 2 ? 1e-7 : 0.05);
        out.push([a, a + 1, Math.cos(th), Math.sin(th)]);
      }
    } else if (kind < 0.9) {
      const a = Math.floor(rnd() * rows),
        b = Math.floor(rnd() * rows);
      if (a === b) continue;
      const th = rnd() * 6.28;
      out.push([a, b, Math.cos(th), Math.sin(th)]);
    } else {
      const a = Math.floor(rnd() * rows);
      out.push([a, a, -1, 0]);
    }
  }
  return out;
}

describe('batched rotation kernel (WASM SIMD) equals one-by-one rotations', () => {
  const K = rotKernels();
  it.skipIf(!K)('random chains/singles/negations, f64 and f32, plain and scaled, odd widths and small batch capacity', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: 1, max: 150 }),
        fc.integer(),
        fc.boolean(),
        fc.constantFrom(1, 3, 9, 64, 4096),
        fc.boolean(),
        (rows, cols, seed, f64, cap, fast) => {
          const mk = (n: number): FA => (f64 ? new Float64Array(n) : new Float32Array(n));
          const A = mk(rows * cols),
            B = mk(rows * cols);
          for (let i = 0; i < A.length; i++) A[i] = B[i] = Math.sin(i * 1.7 + seed);
          const seq = ops(seed, rows);
          const rb = new RotationBatch(K!, A, rows, cols, null, 0, 0, cap, fast);
          for (const [a, b, c, s] of seq) {
            rb.u(a, b, c, s);
            if (a === b) {
              for (let i = 0; i < cols; i++) B[a * cols + i] = -B[a * cols + i]!;
            } else rot(B, a * cols, b * cols, cols, c, s);
          }
          rb.finish();
          // agreement to rounding (rows stay O(1): rotations are orthogonal); the kernel may fuse
          // multiply-adds (relaxed SIMD build) or scale rows (fast rotations), so not bitwise
          const tol = f64 ? 1e-12 : 1e-4;
          for (let i = 0; i < A.length; i++) expect(Math.abs(A[i]! - B[i]!)).toBeLessThanOrEqual(tol);
        },
      ),
      { numRuns: 60 },
    );
  });
});
