/**
 * The one conformance suite for compute backends. Written once; every backend package runs it:
 *
 *   describeBackendConformance('wasm', () => createWasmBackend());
 *
 * Results are compared with a float64 oracle (naive triple loop) using the error bound
 * |ĉ_ij − c_ij| ≤ γ · k · eps(dtype) · Σ_p |a_ip| |b_pj|, γ = 4 (blocked summation orders differ).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { EPS, type FloatArray, type FloatDType } from '../dtype.js';
import type { Backend, BinaryOp, UnaryOp, ReduceOp } from '../backend.js';
import { matmul, randn, tensor, maxAbsDiff, sum, max, min } from '../ops.js';
import type { Tensor } from '../tensor.js';
import { referenceBackend } from '../reference-backend.js';
import { packInt4, int4Groups } from '../int4.js';
import { attentionReference } from '../attention.js';
import { ArgumentError, DTypeError, ShapeError } from '../errors.js';

export interface ConformanceOptions {
  /** Routines this backend intentionally lacks, each with a reason (they are skipped, visibly). */
  skip?: Partial<Record<'gemm' | 'gemv' | 'binary' | 'unary' | 'reduce' | 'f64' | 'matmul' | 'integer' | 'errors' | 'attention', string>>;
  /** Number of fast-check runs per property (default 25). */
  numRuns?: number;
  /** Largest dimension tried by properties (default 150). */
  maxDim?: number;
  /** Use async routines (gemmAsync, gemvAsync, binaryAsync, unaryAsync, reduceAsync) where the backend has them. */
  async?: boolean;
  /**
   * Unit roundoff of the backend's f64 GEMM when it emulates f64 (e.g. double-f32 on WebGPU, about
   * 48-bit significands: 2^-46 covers its product and sum errors), used in place of `EPS.f64` in the
   * GEMM bound 4 (k+2) eps Σ|a||b|. Default: `EPS.f64` (IEEE binary64).
   */
  gemmEpsF64?: number;
}

function fill(n: number, seed: number, arr: FloatArray): FloatArray {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    arr[i] = (s / 4294967296) * 2 - 1;
  }
  return arr;
}

function oracleGemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: FloatArray,
  lda: number,
  b: FloatArray,
  ldb: number,
  beta: number,
  c0: FloatArray,
  ldc: number,
) {
  const c = new Float64Array(m * n),
    bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0,
        ab = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * lda + i]! : a[i * lda + p]!;
        const bv = transB ? b[j * ldb + p]! : b[p * ldb + j]!;
        s += av * bv;
        ab += Math.abs(av * bv);
      }
      const cv = c0[i * ldc + j]!;
      c[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * cv);
      bound[i * n + j] = Math.abs(alpha) * ab + Math.abs(beta * cv);
    }
  return { c, bound };
}

export function describeBackendConformance(name: string, make: () => Promise<Backend | null> | Backend | null, options: ConformanceOptions = {}): void {
  const numRuns = options.numRuns ?? 25;
  const maxDim = options.maxDim ?? 150;
  const skip = options.skip ?? {};
  describe(`backend conformance: ${name}`, () => {
    let backend: Backend | null = null;
    beforeAll(async () => {
      backend = await make();
    }, 120_000);
    afterAll(async () => {
      await backend?.dispose?.();
    });
    const dtypes: FloatDType[] = skip.f64 ? ['f32'] : ['f32', 'f64'];
    if (skip.f64) it.skip(`f64 (skipped: ${skip.f64})`, () => {});

    const runGemm = async (b: Backend, args: Parameters<NonNullable<Backend['gemm']>>[0]) => {
      if (options.async && b.gemmAsync) await b.gemmAsync(args);
      else if (b.gemm) b.gemm(args);
      else throw new Error(`${b.name} has no gemm`);
    };

    const runBinary = async (b: Backend, op: BinaryOp, x: FloatArray, y: FloatArray | number, out: FloatArray, n: number) => {
      if (options.async && b.binaryAsync) await b.binaryAsync(op, x, y, out, n);
      else b.binary!(op, x, y, out, n);
    };
    const runUnary = async (b: Backend, op: UnaryOp, x: FloatArray, out: FloatArray, n: number) => {
      if (options.async && b.unaryAsync) await b.unaryAsync(op, x, out, n);
      else b.unary!(op, x, out, n);
    };
    const runReduce = async (b: Backend, op: ReduceOp, x: FloatArray, off: number, n: number): Promise<number> => {
      if (options.async && b.reduceAsync) return b.reduceAsync(op, x, off, n);
      return b.reduce!(op, x, off, n);
    };
    const hasAsync = (b: Backend, r: 'binary' | 'unary' | 'reduce') => (options.async && typeof b[`${r}Async`] === 'function') || typeof b[r] === 'function';

    it('is created by its factory and declares capabilities', () => {
      expect(backend, `${name} factory returned null`).not.toBeNull();
      expect(typeof backend!.name).toBe('string');
      expect(backend!.capabilities.dtypes).toContain('f32');
    });

    for (const dtype of dtypes) {
      const Arr = dtype === 'f32' ? Float32Array : Float64Array;
      const eps = EPS[dtype];
      const gemmEps = dtype === 'f64' ? (options.gemmEpsF64 ?? eps) : eps;
      (skip.gemm ? it.skip : it)(
        `gemm ${dtype}: all transposes, alpha/beta, leading dims and offsets match the f64 oracle${skip.gemm ? ` (skipped: ${skip.gemm})` : ''}`,
        async () => {
          await fc.assert(
            fc.asyncProperty(
              fc.integer({ min: 1, max: maxDim }),
              fc.integer({ min: 1, max: maxDim }),
              fc.integer({ min: 1, max: maxDim }),
              fc.boolean(),
              fc.boolean(),
              fc.constantFrom(1, -0.5, 2),
              fc.constantFrom(0, 1, 0.25),
              fc.integer({ min: 0, max: 3 }),
              fc.integer({ min: 0, max: 5 }),
              fc.integer({ min: 1, max: 1e6 }),
              async (m, n, k, tA, tB, alpha, beta, pad, off, seed) => {
                const ar = tA ? k : m,
                  ac = tA ? m : k,
                  br = tB ? n : k,
                  bc = tB ? k : n;
                const lda = ac + pad,
                  ldb = bc + pad,
                  ldc = n + pad;
                const a = fill(off + ar * lda, seed, new Arr(off + ar * lda));
                const b = fill(off + br * ldb, seed + 1, new Arr(off + br * ldb));
                const c = fill(off + m * ldc, seed + 2, new Arr(off + m * ldc));
                const c0 = c.slice(off);
                const ref = oracleGemm(tA, tB, m, n, k, alpha, a.subarray(off), lda, b.subarray(off), ldb, beta, c0, ldc);
                await runGemm(backend!, { transA: tA, transB: tB, m, n, k, alpha, a, aOffset: off, lda, b, bOffset: off, ldb, beta, c, cOffset: off, ldc });
                for (let i = 0; i < m; i++)
                  for (let j = 0; j < n; j++) {
                    const got = c[off + i * ldc + j]!,
                      want = ref.c[i * n + j]!;
                    const tol = 4 * (k + 2) * gemmEps * ref.bound[i * n + j]! + 1e-30;
                    if (!(Math.abs(got - want) <= tol))
                      throw new Error(`C[${i},${j}] = ${got}, oracle ${want}, tol ${tol} (m=${m} n=${n} k=${k} tA=${tA} tB=${tB})`);
                    if (pad > 0 && j === n - 1) expect(c[off + i * ldc + n]).toBe(c0[i * ldc + n]); // padding untouched
                  }
              },
            ),
            { numRuns, seed: 42 },
          );
        },
      );

      (skip.gemm ? it.skip : it)(`gemm ${dtype}: LLM-like skinny and large shapes`, async () => {
        for (const [m, n, k] of [
          [1, 300, 257],
          [257, 1, 300],
          [64, 512, 64],
          [300, 300, 300],
          [7, 1000, 33],
        ] as const) {
          const a = fill(m * k, 3, new Arr(m * k)),
            b = fill(k * n, 4, new Arr(k * n)),
            c = new Arr(m * n);
          await runGemm(backend!, {
            transA: false,
            transB: false,
            m,
            n,
            k,
            alpha: 1,
            a,
            aOffset: 0,
            lda: k,
            b,
            bOffset: 0,
            ldb: n,
            beta: 0,
            c,
            cOffset: 0,
            ldc: n,
          });
          const ref = oracleGemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
          for (let i = 0; i < m * n; i++) {
            const d = Math.abs(c[i]! - ref.c[i]!),
              tol = 4 * (k + 2) * gemmEps * ref.bound[i]! + 1e-30;
            if (!(d <= tol)) expect(d, `C[${i}] (m=${m} n=${n} k=${k})`).toBeLessThanOrEqual(tol); // expect() only on failure: 10^5 calls are slow
          }
        }
      });

      (skip.gemv ? it.skip : it)(`gemv ${dtype}: both orientations match the oracle${skip.gemv ? ` (skipped: ${skip.gemv})` : ''}`, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 300 }),
            fc.integer({ min: 1, max: 300 }),
            fc.boolean(),
            fc.constantFrom(0, 0.5),
            fc.integer({ min: 1, max: 1e6 }),
            async (m, n, trans, beta, seed) => {
              const a = fill(m * n, seed, new Arr(m * n));
              const lx = trans ? m : n,
                ly = trans ? n : m;
              const x = fill(lx, seed + 1, new Arr(lx)),
                y = fill(ly, seed + 2, new Arr(ly)),
                y0 = y.slice();
              const b = backend!;
              if (options.async && b.gemvAsync) await b.gemvAsync({ trans, m, n, alpha: 1, a, aOffset: 0, lda: n, x, xOffset: 0, beta, y, yOffset: 0 });
              else if (b.gemv) b.gemv({ trans, m, n, alpha: 1, a, aOffset: 0, lda: n, x, xOffset: 0, beta, y, yOffset: 0 });
              else return;
              for (let i = 0; i < ly; i++) {
                let s = 0,
                  bd = 0;
                for (let p = 0; p < lx; p++) {
                  const av = trans ? a[p * n + i]! : a[i * n + p]!;
                  s += av * x[p]!;
                  bd += Math.abs(av * x[p]!);
                }
                const want = s + beta * y0[i]!;
                const d = Math.abs(y[i]! - want),
                  tol = 4 * (lx + 2) * eps * (bd + Math.abs(beta * y0[i]!)) + 1e-30;
                if (!(d <= tol)) expect(d, `y[${i}] (m=${m} n=${n} trans=${trans})`).toBeLessThanOrEqual(tol);
              }
            },
          ),
          { numRuns, seed: 7 },
        );
      });

      (skip.binary ? it.skip : it)(`binary ${dtype}: every op equals the reference${skip.binary ? ` (skipped: ${skip.binary})` : ''}`, async () => {
        for (const op of ['add', 'sub', 'mul', 'div', 'max', 'min'] as BinaryOp[]) {
          for (const n of [0, 1, 3, 4, 17, 1000]) {
            const a = fill(n, 11, new Arr(n)),
              b = fill(n, 12, new Arr(n));
            const out = new Arr(n),
              want = new Arr(n);
            if (!hasAsync(backend!, 'binary')) return;
            await runBinary(backend!, op, a, b, out, n);
            referenceBackend.binary!(op, a, b, want, n);
            for (let i = 0; i < n; i++) if (!Object.is(out[i], want[i])) expect(out[i], `${op} [${i}]`).toBe(want[i]);
            await runBinary(backend!, op, a, 0.75, out, n);
            referenceBackend.binary!(op, a, 0.75, want, n);
            for (let i = 0; i < n; i++) if (!Object.is(out[i], want[i])) expect(out[i], `${op} scalar [${i}]`).toBe(want[i]);
          }
        }
      });

      (skip.unary ? it.skip : it)(`unary ${dtype}: every op within a few ulps of the reference${skip.unary ? ` (skipped: ${skip.unary})` : ''}`, async () => {
        for (const op of ['neg', 'abs', 'sqrt', 'exp', 'log', 'square', 'silu', 'tanh'] as UnaryOp[]) {
          const n = 257;
          const a = fill(n, 21, new Arr(n));
          if (op === 'sqrt' || op === 'log') for (let i = 0; i < n; i++) a[i] = Math.abs(a[i]!) + 0.01;
          const out = new Arr(n),
            want = new Arr(n);
          if (!hasAsync(backend!, 'unary')) return;
          await runUnary(backend!, op, a, out, n);
          referenceBackend.unary!(op, a, want, n);
          for (let i = 0; i < n; i++) {
            const d = Math.abs(out[i]! - want[i]!),
              tol = 8 * eps * Math.max(1, Math.abs(want[i]!));
            if (!(d <= tol)) expect(d, `${op} [${i}]`).toBeLessThanOrEqual(tol);
          }
        }
      });

      (skip.reduce ? it.skip : it)(
        `reduce ${dtype}: sum/sumsq within the summation bound, max/min/absmax exact${skip.reduce ? ` (skipped: ${skip.reduce})` : ''}`,
        async () => {
          await fc.assert(
            fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 1e6 }), async (n, off, seed) => {
              const a = fill(n + off, seed, new Arr(n + off));
              if (!hasAsync(backend!, 'reduce')) return;
              for (const op of ['sum', 'sumsq', 'max', 'min', 'absmax'] as ReduceOp[]) {
                const got = await runReduce(backend!, op, a, off, n);
                let want = 0,
                  bnd = 0;
                const xs = Array.from(a.subarray(off, off + n));
                if (op === 'sum') {
                  for (const v of xs) {
                    want += v;
                    bnd += Math.abs(v);
                  }
                } else if (op === 'sumsq') {
                  for (const v of xs) {
                    want += v * v;
                    bnd += v * v;
                  }
                } else if (op === 'max') want = Math.max(...xs);
                else if (op === 'min') want = Math.min(...xs);
                else want = Math.max(...xs.map(Math.abs));
                if (op === 'sum' || op === 'sumsq') expect(Math.abs(got - want)).toBeLessThanOrEqual(2 * (n + 1) * eps * bnd + 1e-30);
                else expect(got).toBe(want);
              }
            }),
            { numRuns, seed: 3 },
          );
        },
      );

      (skip.matmul ? it.skip : it)(
        `matmul ${dtype} through the tensor API: views equal copies, batched equals per-slice${skip.matmul ? ` (skipped: ${skip.matmul})` : ''}`,
        () => {
          const b = backend!;
          const A = randn([40, 30], { seed: 1, dtype }),
            B = randn([30, 20], { seed: 2, dtype });
          const viaViews = matmul(A.T.contiguous().T, B.T.contiguous().T, { backend: b });
          const viaCopies = matmul(A, B, { backend: b });
          expect(maxAbsDiff(viaViews, viaCopies)).toBeLessThanOrEqual(60 * eps * 30);
          const sliced = matmul(A.slice([5, 25], [3, 20]), B.slice([3, 20], null), { backend: b });
          const copied = matmul(A.slice([5, 25], [3, 20]).contiguous(true), B.slice([3, 20], null).contiguous(true), { backend: b });
          expect(maxAbsDiff(sliced, copied)).toBeLessThanOrEqual(60 * eps * 30);
          const X = randn([3, 4, 10, 6], { seed: 3, dtype }),
            Y = randn([4, 6, 5], { seed: 4, dtype });
          const Z = matmul(X, Y, { backend: b });
          expect(Z.shape).toEqual([3, 4, 10, 5]);
          for (const i of [0, 2])
            for (const j of [1, 3]) {
              const zij = matmul(X.slice(i, j), Y.slice(j), { backend: referenceBackend });
              expect(maxAbsDiff(Z.slice(i, j), zij)).toBeLessThanOrEqual(60 * eps * 6);
            }
          const v = tensor([1, 2, 3], { dtype }) as Tensor;
          expect(sum(v, { backend: b })).toBe(6);
          expect(max(v, { backend: b })).toBe(3);
          expect(min(v, { backend: b })).toBe(1);
        },
      );
    }

    // ---------------------------------------------------------------- integer routines (packed int4)
    const rint = (n: number, lo: number, hi: number, seed: number) => {
      let s = seed >>> 0 || 1;
      return Array.from({ length: n }, () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return lo + (s % (hi - lo + 1));
      });
    };
    /** f64 oracle of the arithmetic contract: Σ_g s_w s_x Σ_{j∈g} q_w q_x, with the bound Σ |terms|. */
    const oracleInt = (qw: number[], sw: Float32Array, qx: ArrayLike<number>, sx: (g: number) => number, row: number, ncols: number, g: number) => {
      const ng = int4Groups(ncols, g);
      let v = 0,
        bnd = 0;
      for (let gi = 0; gi < ng; gi++) {
        let s = 0,
          sa = 0;
        for (let j = gi * g; j < Math.min(ncols, gi * g + g); j++) {
          const t = qw[row * ncols + j]! * qx[j]!;
          s += t;
          sa += Math.abs(t);
        }
        const sc = sw[row * ng + gi]! * sx(gi);
        v += sc * s;
        bnd += Math.abs(sc) * sa;
      }
      return { v, bnd };
    };
    const integerCase = (label: string, fn: (b: Backend) => Promise<void> | void) =>
      (skip.integer ? it.skip : it)(`integer ${label}${skip.integer ? ` (skipped: ${skip.integer})` : ''}`, async () => {
        await fn(backend!);
      });
    const EPS32 = EPS.f32;
    for (const [m, n, g] of [
      [5, 32, 16],
      [7, 40, 16],
      [3, 20, 6],
      [1, 8, 8],
      [9, 64, 32],
    ] as const) {
      const ragged = n % g !== 0 ? ', ragged last group' : '';
      integerCase(`int4Gemv ${m}×${n} g${g}${ragged}: matches the f64 oracle (alpha, beta)`, async (b) => {
        const ng = int4Groups(n, g),
          qw = rint(m * n, -8, 7, m + n),
          w = packInt4(qw, m, n);
        const scales = Float32Array.from(rint(m * ng, 1, 9, 3), (v) => v / 64),
          x = fill(n, 5, new Float32Array(n)) as Float32Array;
        const y = fill(m, 6, new Float32Array(m)) as Float32Array,
          y0 = y.slice();
        const args = { m, n, groupSize: g, w, scales, x, y, alpha: 1.5, beta: 0.5 };
        if (b.int4Gemv) b.int4Gemv(args);
        else if (options.async && b.int4GemvAsync) await b.int4GemvAsync(args);
        else return;
        for (let r = 0; r < m; r++) {
          const o = oracleInt(qw, scales, x, () => 1, r, n, g),
            want = 1.5 * o.v + 0.5 * y0[r]!;
          expect(Math.abs(y[r]! - want), `y[${r}]`).toBeLessThanOrEqual(4 * (n + 2) * EPS32 * (1.5 * o.bnd + Math.abs(0.5 * y0[r]!)) + 1e-30);
        }
      });
      integerCase(`w4a8Gemv / w4a8Gemm / w4a4Gemm ${m}×${n} g${g}${ragged}: match the f64 oracle`, async (b) => {
        const ng = int4Groups(n, g),
          qw = rint(m * n, -8, 7, 2 * m + n),
          w = packInt4(qw, m, n);
        const sw = Float32Array.from(rint(m * ng, 1, 9, 4), (v) => v / 32);
        const T = 3,
          qa8 = rint(T * n, -127, 127, 7),
          qa4 = rint(T * n, -8, 7, 8);
        const sa = Float32Array.from(rint(T * ng, 1, 9, 9), (v) => v / 16);
        if (b.w4a8Gemv) {
          const y = new Float32Array(m);
          b.w4a8Gemv({ m, n, groupSize: g, w, scales: sw, x: Int8Array.from(qa8.slice(0, n)), xScale: 0.25, y });
          for (let r = 0; r < m; r++) {
            const o = oracleInt(qw, sw, qa8, () => 0.25, r, n, g);
            expect(Math.abs(y[r]! - o.v), `w4a8Gemv y[${r}]`).toBeLessThanOrEqual(4 * (n + 2) * EPS32 * o.bnd + 1e-30);
          }
        }
        for (const bits of [8, 4] as const) {
          const f = bits === 8 ? b.w4a8Gemm : b.w4a4Gemm;
          if (!f) continue;
          const ldc = m + 2,
            c = new Float32Array(T * ldc).fill(7);
          const q = bits === 8 ? qa8 : qa4;
          const a = bits === 8 ? Int8Array.from(q) : packInt4(q, T, n);
          f.call(b, { m: T, n: m, k: n, groupSize: g, a: a as any, aScales: sa, w, wScales: sw, c, ldc, beta: 0 });
          for (let t = 0; t < T; t++)
            for (let r = 0; r < m; r++) {
              const o = oracleInt(qw, sw, q.slice(t * n, t * n + n), (gi) => sa[t * ng + gi]!, r, n, g);
              expect(Math.abs(c[t * ldc + r]! - o.v), `w4a${bits}Gemm C[${t},${r}]`).toBeLessThanOrEqual(4 * (n + 2) * EPS32 * o.bnd + 1e-30);
            }
          for (let t = 0; t < T; t++) for (let r = m; r < ldc; r++) expect(c[t * ldc + r], 'ldc padding untouched').toBe(7);
        }
      });
    }

    // ---------------------------------------------------------------- attention
    (skip.attention ? it.skip : it)(
      `attention: causal GQA scoring and decoding shapes match the f64 reference${skip.attention ? ` (skipped: ${skip.attention})` : ''}`,
      () => {
        const b = backend!;
        if (typeof b.attention !== 'function') return; // routine() falls back to the reference implementation
        for (const [t, len, nH, nKv, hd] of [
          [1, 1, 1, 1, 4],
          [1, 37, 8, 4, 8],
          [16, 16, 4, 2, 6],
          [33, 40, 6, 3, 16],
          [256, 256, 8, 4, 8],
          [5, 300, 2, 1, 64],
        ] as const) {
          const q = fill(t * nH * hd, t + len, new Float32Array(t * nH * hd)) as Float32Array;
          const k = fill(len * nKv * hd, 2 * len, new Float32Array(len * nKv * hd)) as Float32Array;
          const v = fill(len * nKv * hd, 3 * len, new Float32Array(len * nKv * hd)) as Float32Array;
          for (let i = 0; i < q.length; i++) q[i]! *= 3; // peaked softmax rows
          const got = new Float32Array(t * nH * hd),
            want = new Float32Array(t * nH * hd);
          b.attention({ t, len, nHeads: nH, nKvHeads: nKv, headDim: hd, q, k, v, out: got });
          attentionReference({ t, len, nHeads: nH, nKvHeads: nKv, headDim: hd, q, k, v, out: want });
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
          // outputs are convex combinations of values in [-1, 1]; f32 scores of |s| ≤ 3·hd/√hd move the weights by ~hd·eps
          expect(worst, `t=${t} len=${len} heads ${nH}/${nKv} hd=${hd}`).toBeLessThanOrEqual(64 * (hd + 8) * EPS.f32);
        }
      },
    );

    // ---------------------------------------------------------------- shared error behaviour
    (skip.errors ? it.skip : it)(
      `errors: the same misuse raises the same typed error (class and argument) as the reference backend${skip.errors ? ` (skipped: ${skip.errors})` : ''}`,
      async () => {
        const b = backend!;
        const f32 = (n: number) => new Float32Array(n);
        const gemmOk = {
          transA: false,
          transB: false,
          m: 2,
          n: 3,
          k: 4,
          alpha: 1,
          a: f32(8),
          aOffset: 0,
          lda: 4,
          b: f32(12),
          bOffset: 0,
          ldb: 3,
          beta: 0,
          c: f32(6),
          cOffset: 0,
          ldc: 3,
        };
        const gemvOk = { trans: false, m: 2, n: 3, alpha: 1, a: f32(6), aOffset: 0, lda: 3, x: f32(3), xOffset: 0, beta: 0, y: f32(2), yOffset: 0 };
        const i4 = { m: 2, n: 8, groupSize: 4, w: new Uint8Array(8), scales: f32(4), x: f32(8), y: f32(2) };
        const ig = { m: 1, n: 2, k: 8, groupSize: 4, a: new Int8Array(8), aScales: f32(2), w: new Uint8Array(8), wScales: f32(4), c: f32(2) };
        type Case = [
          routine: 'gemm' | 'gemv' | 'binary' | 'unary' | 'reduce' | 'int4Gemv' | 'w4a8Gemv' | 'w4a8Gemm' | 'w4a4Gemm' | 'attention',
          args: unknown[],
          cls: typeof ArgumentError | typeof DTypeError | typeof ShapeError,
          arg: string,
        ];
        const cases: Case[] = [
          ['gemm', [{ ...gemmOk, m: -1 }], ArgumentError, 'm'],
          ['gemm', [{ ...gemmOk, m: 1.5 }], ArgumentError, 'm'],
          ['gemm', [{ ...gemmOk, lda: 2 }], ArgumentError, 'lda'],
          ['gemm', [{ ...gemmOk, b: f32(11) }], ShapeError, 'b'],
          ['gemm', [{ ...gemmOk, c: new Float64Array(6) }], DTypeError, "'a', 'b' and 'c'"],
          ['gemm', [{ ...gemmOk, a: [1, 2] }], DTypeError, 'a'],
          ['gemm', [{ ...gemmOk, alpha: NaN }], ArgumentError, 'alpha'],
          ['gemm', [{ ...gemmOk, cOffset: -1 }], ArgumentError, 'cOffset'],
          ['gemv', [{ ...gemvOk, x: f32(2) }], ShapeError, 'x'],
          ['gemv', [{ ...gemvOk, lda: 1 }], ArgumentError, 'lda'],
          ['gemv', [{ ...gemvOk, yOffset: 0.5 }], ArgumentError, 'yOffset'],
          ['binary', ['pow', f32(4), f32(4), f32(4), 4], ArgumentError, 'op'],
          ['binary', ['add', f32(4), f32(3), f32(4), 4], ShapeError, 'b'],
          ['binary', ['add', f32(4), new Float64Array(4), f32(4), 4], DTypeError, "'a' and 'b'"],
          ['unary', ['exp', f32(4), f32(2), 4], ShapeError, 'out'],
          ['unary', ['cube', f32(4), f32(4), 4], ArgumentError, 'op'],
          ['reduce', ['sum', f32(4), 2, 3], ShapeError, 'a'],
          ['reduce', ['mean', f32(4), 0, 4], ArgumentError, 'op'],
          ['int4Gemv', [{ ...i4, groupSize: 3 }], ArgumentError, 'groupSize'],
          ['int4Gemv', [{ ...i4, n: 7 }], ArgumentError, 'n'],
          ['int4Gemv', [{ ...i4, w: new Uint8Array(7) }], ShapeError, 'w'],
          ['int4Gemv', [{ ...i4, scales: f32(3) }], ShapeError, 'scales'],
          ['int4Gemv', [{ ...i4, x: new Float64Array(8) }], DTypeError, 'x'],
          ['w4a8Gemv', [{ ...i4, x: new Int8Array(8), xScale: undefined }], ArgumentError, 'xScale'],
          ['w4a8Gemm', [{ ...ig, a: new Uint8Array(8) }], DTypeError, 'a'],
          ['w4a8Gemm', [{ ...ig, ldc: 1 }], ArgumentError, 'ldc'],
          ['w4a4Gemm', [{ ...ig, a: new Uint8Array(4), wScales: f32(3) }], ShapeError, 'wScales'],
          ['attention', [{ t: 3, len: 2, nHeads: 2, nKvHeads: 1, headDim: 4, q: f32(24), k: f32(8), v: f32(8), out: f32(24) }], ArgumentError, 't'],
          ['attention', [{ t: 1, len: 2, nHeads: 3, nKvHeads: 2, headDim: 4, q: f32(12), k: f32(16), v: f32(16), out: f32(12) }], ArgumentError, 'nKvHeads'],
          ['attention', [{ t: 1, len: 2, nHeads: 2, nKvHeads: 1, headDim: 4, q: f32(8), k: f32(7), v: f32(8), out: f32(8) }], ShapeError, 'k'],
          ['attention', [{ t: 1, len: 2, nHeads: 2, nKvHeads: 1, headDim: 4, q: new Float64Array(8), k: f32(8), v: f32(8), out: f32(8) }], DTypeError, 'q'],
        ];
        const call = async (be: Backend, r: Case[0], args: unknown[]): Promise<unknown> => {
          const sync = (be as any)[r],
            asyncF = (be as any)[`${r}Async`];
          try {
            if (typeof sync === 'function') sync.apply(be, args);
            else if (typeof asyncF === 'function') await asyncF.apply(be, args);
            else return 'missing';
          } catch (e) {
            return e;
          }
          return undefined;
        };
        for (const [r, args, cls, arg] of cases) {
          const got = await call(b, r, args);
          if (got === 'missing') continue; // routine() falls back to the reference backend, which raises the reference error
          const want = await call(referenceBackend, r, args);
          expect(cls.isInstance(want), `reference ${r} ${arg}: ${String(want)}`).toBe(true);
          expect(cls.isInstance(got), `${b.name} ${r} (${arg}): expected ${cls.name}, got ${String(got)}`).toBe(true);
          const needle = arg.startsWith("'") ? arg : `'${arg}'`;
          expect(String((got as Error).message).includes(needle), `${b.name} ${r}: ${String((got as Error).message)} should name ${needle}`).toBe(true);
        }
      },
    );
  });
}
