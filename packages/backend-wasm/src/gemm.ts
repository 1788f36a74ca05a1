/**
 * The WASM backend's GEMM and GEMV: operands in place when resident (else copied in), vector shapes on
 * the GEMV kernels, large products split over the worker pool (shared packed-B panel for tall C, own
 * column ranges for wide C), the rest on one thread with its packing scratch.
 */
import { validateGemm, validateGemv, span, type GemmArgs, type GemvArgs } from '@llmpress/tensor';
import type { Kernels } from './core.js';
import { OPS, type WorkerPool } from './pool.js';
import type { Operands } from './operands.js';

export interface GemmContext {
  K: Kernels;
  alive(fn: string): void;
  buf(): ArrayBufferLike;
  ops: Operands;
  pool: WorkerPool;
  /** Per-thread packing scratch, the shared packed-B panel and the row-chunk counter (threads > 1). */
  scratch: number[];
  sharedB: number;
  counterPtr: number;
  minParallelWork: number;
}

export function makeGemm(ctx: GemmContext): { gemm(p: GemmArgs): void; gemv(p: GemvArgs): void } {
  const { K, alive, buf, pool, scratch, sharedB, counterPtr, minParallelWork } = ctx;
  const { operandIn, operandOut, freeAll, bytesPer } = ctx.ops;
  type Operand = ReturnType<typeof operandIn>;
  const nThreads = pool.threads;
  const MR = K.microRows();
  const KC = K.blocking(4),
    MC32 = K.blocking(0),
    NC32 = K.blocking(1),
    MC64 = K.blocking(2),
    NC64 = K.blocking(3);
  void NC32;
  void NC64;

  // ---- GEMM
  function gemm(p: GemmArgs): void {
    const f = 'gemm';
    alive(f);
    const { a: sa, b: sb, c: sc } = validateGemm(f, p);
    const { m, n, k, a, b, c, alpha, beta } = p;
    const tA = !!p.transA,
      tB = !!p.transB;
    if (m === 0 || n === 0) return;
    const S = bytesPer(c),
      f64 = S === 8;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, p.aOffset, sa);
      ops.push(A);
      const B = operandIn(f, b, p.bOffset, sb);
      ops.push(B);
      // beta = 0 never reads C: skip its copy-in when C has no padding between rows to preserve
      const C = operandIn(f, c, p.cOffset, sc, !(beta === 0 && (p.ldc === n || m === 1)));
      ops.push(C);
      const kern = f64 ? K.dgemm : K.sgemm;
      // Vector shapes go to the GEMV kernels (no packing): m = 1 (one token) or n = 1.
      const gv = f64 ? 'dgemv' : 'sgemv';
      if (m === 1 && k > 0 && (!tA || k === 1)) {
        // c[0, j] = alpha · Σ_p a[p] · op(B)[p, j] + beta · c[0, j]
        if (!tB) pool.runSplit(gv, n, 16, k * n, (lo, hi) => [1, k, lo, hi, n, alpha, B.ptr, p.ldb, A.ptr, beta, C.ptr]);
        else pool.runSplit(gv, n, 4, k * n, (lo, hi) => [0, n, lo, hi, k, alpha, B.ptr, p.ldb, A.ptr, beta, C.ptr]);
        operandOut(c, p.cOffset, sc, C);
        return;
      }
      if (n === 1 && k > 0 && (tB || k === 1) && (p.ldc === 1 || m === 1)) {
        // c[i, 0] = alpha · Σ_p op(A)[i, p] · b[p] + beta · c[i, 0]
        if (!tA) pool.runSplit(gv, m, 4, m * k, (lo, hi) => [0, m, lo, hi, k, alpha, A.ptr, p.lda, B.ptr, beta, C.ptr]);
        else pool.runSplit(gv, m, 16, m * k, (lo, hi) => [1, k, lo, hi, m, alpha, A.ptr, p.lda, B.ptr, beta, C.ptr]);
        operandOut(c, p.cOffset, sc, C);
        return;
      }
      const T = m * n * k >= minParallelWork ? nThreads : 1;
      const MC = f64 ? MC64 : MC32,
        NC = f64 ? NC64 : NC32;
      if (T > 1 && m >= n && m >= 2 * MR && k > 0 && alpha !== 0) {
        // rows: shared packed B per (jc, pc) step, row chunks handed out by an atomic counter
        const chunk = m >= 4 * T * MC ? MC : Math.max(MR, Math.ceil(m / (2 * T) / MR) * MR);
        const rowsKern = f64 ? 'dgemmRows' : 'sgemmRows';
        const packB = f64 ? K.dpackB : K.spackB;
        const counter = new Int32Array(buf(), counterPtr, 1);
        for (let jc = 0; jc < n; jc += NC) {
          const nc = Math.min(NC, n - jc);
          for (let pc = 0; pc < k; pc += KC) {
            const kc = Math.min(KC, k - pc);
            packB(tB ? 1 : 0, kc, nc, B.ptr + (tB ? jc * p.ldb + pc : pc * p.ldb + jc) * S, p.ldb, sharedB);
            Atomics.store(counter, 0, 0);
            const be = pc === 0 ? beta : 1;
            const aP = A.ptr + (tA ? pc * p.lda : pc) * S;
            const jobs: number[][] = [];
            for (let t = 0; t < T; t++)
              jobs.push([tA ? 1 : 0, m, kc, nc, alpha, aP, p.lda, sharedB, be, C.ptr + jc * S, p.ldc, scratch[t]!, counterPtr, chunk]);
            pool.runParallel(OPS[rowsKern]!, jobs, (j) => (K[rowsKern] as (...a: number[]) => void)(...j), m * nc * kc);
          }
        }
      } else if (T > 1 && n > m && n >= 32) {
        // columns: each thread packs its own B columns (no duplicated packing of B)
        const parts = Math.min(T, Math.floor(n / 16));
        const chunk = Math.ceil(n / parts / 16) * 16;
        const jobs: number[][] = [];
        for (let t = 0; t < parts; t++) {
          const lo = t * chunk,
            hi = Math.min(n, lo + chunk);
          if (lo >= hi) break;
          const bP = B.ptr + (tB ? lo * p.ldb : lo) * S;
          jobs.push([tA ? 1 : 0, tB ? 1 : 0, m, hi - lo, k, alpha, A.ptr, p.lda, bP, p.ldb, beta, C.ptr + lo * S, p.ldc, scratch[t]!]);
        }
        pool.runParallel(f64 ? 2 : 1, jobs, (j) => kern(...j), m * n * k);
      } else {
        pool.single();
        kern(tA ? 1 : 0, tB ? 1 : 0, m, n, k, alpha, A.ptr, p.lda, B.ptr, p.ldb, beta, C.ptr, p.ldc, scratch[0]!);
      }
      operandOut(c, p.cOffset, sc, C);
    } finally {
      freeAll(ops);
    }
  }

  // ---- GEMV
  function gemv(p: GemvArgs): void {
    const f = 'gemv';
    alive(f);
    const { lx, ly } = validateGemv(f, p);
    const { m, n, a, x, y, alpha, beta } = p;
    const tr = !!p.trans;
    if (ly === 0) return;
    const S = bytesPer(y),
      f64 = S === 8;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, p.aOffset, span(m, n, p.lda));
      ops.push(A);
      const X = operandIn(f, x, p.xOffset, lx);
      ops.push(X);
      const Y = operandIn(f, y, p.yOffset, ly, beta !== 0);
      ops.push(Y);
      const kern = f64 ? K.dgemv : K.sgemv;
      const unit = tr ? 16 : 4;
      const T = m * n >= minParallelWork >> 2 ? nThreads : 1;
      const parts = Math.min(T, Math.max(1, Math.floor(ly / unit)));
      if (parts <= 1) {
        pool.single();
        kern(tr ? 1 : 0, m, 0, ly, n, alpha, A.ptr, p.lda, X.ptr, beta, Y.ptr);
      } else {
        const chunk = Math.ceil(ly / parts / unit) * unit;
        const jobs: number[][] = [];
        for (let t = 0; t < parts; t++) {
          const lo = t * chunk,
            hi = Math.min(ly, lo + chunk);
          if (lo >= hi) break;
          jobs.push([tr ? 1 : 0, m, lo, hi, n, alpha, A.ptr, p.lda, X.ptr, beta, Y.ptr]);
        }
        pool.runParallel(f64 ? 4 : 3, jobs, (j) => kern(...j), m * n);
      }
      operandOut(y, p.yOffset, ly, Y);
    } finally {
      freeAll(ops);
    }
  }

  return { gemm, gemv };
}
