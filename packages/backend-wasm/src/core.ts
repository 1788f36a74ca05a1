/**
 * The platform-independent WASM backend. `index.ts` (browsers, Deno) and `node.ts` (Node) wrap it
 * with a `Platform` that knows how to start workers and whether relaxed SIMD can be switched on.
 */
import {
  ArgumentError, UnsupportedError, validateBinary, validateGemm, validateGemv, validateReduce, validateUnary,
  type Backend, type BinaryOp, type FloatArray, type GemmArgs, type GemvArgs, type ReduceOp, type UnaryOp,
  span, type BackendRoutines,
} from '@llmpress/tensor';
import { KERNELS_BASE64 } from './generated/kernels.js';
import { LinearAllocator } from './allocator.js';

/** A started worker, as the core needs it. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  /** Resolves with the first message the worker posts, rejects on its first error. */
  firstMessage(): Promise<unknown>;
  terminate(): void;
}

export interface Platform {
  /** Switches relaxed SIMD on where the engine has it behind a flag (Node 20: a V8 flag). */
  enableRelaxedSimd?(): void;
  hardwareConcurrency(): number;
  /** Starts a kernel worker, or returns null when this platform cannot. */
  spawnWorker?(): WorkerHandle | null;
  /** Whether this thread may block in Atomics.wait (false on a browser's main thread: it spins). */
  canBlock: boolean;
  /** Why threads are unavailable here, for `capabilities`/diagnostics. */
  threadsUnavailableReason?(): string | undefined;
}

export interface WasmBackendOptions {
  /** Worker threads for GEMM/GEMV (the calling thread counts as one). 'auto' = hardware concurrency. Default 1. */
  threads?: number | 'auto';
  /** Use the relaxed-SIMD (FMA) build when the engine supports it. Default true. */
  relaxedSimd?: boolean;
  /** GEMMs with fewer multiply-adds (m·n·k) than this stay on one thread. Default 2^21. */
  minParallelWork?: number;
  /** Backend name (default 'wasm'). */
  name?: string;
}

/** What `createWasmBackend` returns: a `Backend` with every routine of the contract, plus a few WASM-specific facts. */
export type WasmBackend = Backend & Required<BackendRoutines> & {
  /** out[i] = Σ_p a[i, p] · w[i, p] over `rows` rows of k packed int4 values each (exact i32; WASM-only). */
  int4Dot(rows: number, k: number, a: Uint8Array, w: Uint8Array, out: Int32Array): void;
  readonly memory: WebAssembly.Memory;
  /** True when `arr` lives in this backend's linear memory (routines then use it in place). */
  isResident(arr: ArrayBufferView): boolean;
  /** Present only when the memory is shared (then `grow` never detaches the arrays it returned). */
  allocate?(dtype: 'f32' | 'f64', n: number): FloatArray;
  /** Raw bytes in the linear memory (for packed int4 weights); present only with shared memory. */
  allocateBytes?(n: number): Uint8Array;
  release(array: ArrayBufferView): void;
  dispose(): Promise<void>;
  /** Why fewer threads run than were asked for (undefined when all started). */
  readonly threadsNote?: string;
  /** Counters for diagnostics: calls that ran on one thread vs split across threads. */
  stats(): { singleThreadCalls: number; parallelCalls: number };
};

type Variant = keyof typeof KERNELS_BASE64;

interface Kernels {
  scratchBytes(): number;
  microRows(): number;
  heapBase(): number;
  sgemm(...args: number[]): void;
  dgemm(...args: number[]): void;
  sgemv(...args: number[]): void;
  dgemv(...args: number[]): void;
  sbinary(op: number, a: number, b: number, out: number, n: number): void;
  dbinary(op: number, a: number, b: number, out: number, n: number): void;
  sbinaryScalar(op: number, a: number, s: number, out: number, n: number): void;
  dbinaryScalar(op: number, a: number, s: number, out: number, n: number): void;
  sunary(op: number, a: number, out: number, n: number): void;
  dunary(op: number, a: number, out: number, n: number): void;
  sreduce(op: number, a: number, n: number): number;
  blocking(which: number): number;
  spackB(...args: number[]): void;
  dpackB(...args: number[]): void;
  dreduce(op: number, a: number, n: number): number;
  [name: string]: any;
}

const BIN_OPS: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5 };
const UN_OPS: Record<UnaryOp, number> = { neg: 0, abs: 1, sqrt: 2, exp: 3, log: 4, square: 5, silu: 6, tanh: 7 };
const RED_OPS: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2, sumsq: 3, absmax: 4 };

const moduleCache = new Map<Variant, WebAssembly.Module>();
function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function bytesOf(v: Variant): Uint8Array { return decodeBase64(KERNELS_BASE64[v]); }
function moduleOf(v: Variant): WebAssembly.Module {
  let m = moduleCache.get(v);
  if (!m) { m = new WebAssembly.Module(bytesOf(v) as BufferSource); moduleCache.set(v, m); }
  return m;
}

/** Which kernel builds this engine accepts. */
export function detectWasmFeatures(platform?: Platform): { simd: boolean; relaxedSimd: boolean; sharedMemory: boolean } {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return { simd: false, relaxedSimd: false, sharedMemory: false };
  const simd = WebAssembly.validate(bytesOf('simd') as BufferSource);
  if (!simd) return { simd, relaxedSimd: false, sharedMemory: false };
  platform?.enableRelaxedSimd?.();
  const relaxedSimd = WebAssembly.validate(bytesOf('relaxed') as BufferSource);
  let sharedMemory = false;
  try {
    sharedMemory = typeof SharedArrayBuffer === 'function' && new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true } as WebAssembly.MemoryDescriptor).buffer instanceof SharedArrayBuffer;
  } catch { sharedMemory = false; }
  return { simd, relaxedSimd, sharedMemory };
}

function isInt(x: unknown): x is number { return typeof x === 'number' && Number.isInteger(x); }
function checkDim(fn: string, name: string, v: unknown): number {
  if (!isInt(v) || v < 0) throw new ArgumentError(fn, name, v, 'must be a non-negative integer');
  return v;
}

export async function createWasmBackendWith(platform: Platform, options: WasmBackendOptions = {}): Promise<WasmBackend | null> {
  const fn = 'createWasmBackend';
  if (options === null || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object or undefined');
  const th = options.threads ?? 1;
  if (!(th === 'auto' || (isInt(th) && th >= 1 && th <= 64))) throw new ArgumentError(fn, 'options.threads', th, "must be an integer in [1, 64] or 'auto'");
  if (options.relaxedSimd !== undefined && typeof options.relaxedSimd !== 'boolean') throw new ArgumentError(fn, 'options.relaxedSimd', options.relaxedSimd, 'must be a boolean');
  const minParallelWork = options.minParallelWork ?? 2 ** 21;
  if (typeof minParallelWork !== 'number' || !(minParallelWork >= 0)) throw new ArgumentError(fn, 'options.minParallelWork', minParallelWork, 'must be a non-negative number');

  const feat = detectWasmFeatures(platform);
  if (!feat.simd) return null;
  const relaxed = feat.relaxedSimd && options.relaxedSimd !== false;
  const wanted = th === 'auto' ? Math.max(1, Math.min(16, platform.hardwareConcurrency())) : th;
  const canThread = feat.sharedMemory && typeof platform.spawnWorker === 'function' && platform.threadsUnavailableReason?.() === undefined;
  let nThreads = canThread ? wanted : 1;
  let threadsNote: string | undefined = wanted > 1 && !canThread
    ? (!feat.sharedMemory ? 'no shared WebAssembly memory here (SharedArrayBuffer unavailable)' : platform.threadsUnavailableReason?.() ?? 'this platform cannot start workers')
    : undefined;

  // Memory: shared whenever the engine allows it (so `grow` never detaches arrays from allocate()).
  let memory: WebAssembly.Memory | undefined;
  let maxPages = 65536;
  if (feat.sharedMemory) {
    for (const mp of [65536, 32768, 16384, 4096]) {
      try { memory = new WebAssembly.Memory({ initial: 128, maximum: mp, shared: true } as WebAssembly.MemoryDescriptor); maxPages = mp; break; } catch { /* try smaller */ }
    }
  }
  const shared = memory !== undefined;
  if (!memory) memory = new WebAssembly.Memory({ initial: 128 });
  const variant: Variant = `${relaxed ? 'relaxed' : 'simd'}${shared ? '-shared' : ''}` as Variant;
  const module = moduleOf(variant);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const K = instance.exports as unknown as Kernels;
  const MR = K.microRows();
  const alloc = new LinearAllocator(memory, Math.max(65536, K.heapBase()), maxPages * 65536);
  const scratchBytes = K.scratchBytes();

  // Buffers seen from memory.buffer: arrays on any of them live in the linear memory.
  const buffers = new WeakSet<ArrayBufferLike>();
  const buf = (): ArrayBufferLike => { const b = memory!.buffer; buffers.add(b); return b; };
  const isResident = (arr: ArrayBufferView): boolean => { buf(); return buffers.has(arr.buffer); };

  // Per-thread scratch (packed panels) and, for workers, a control block.
  const scratch: number[] = [];
  for (let t = 0; t < nThreads; t++) scratch.push(alloc.alloc(scratchBytes, fn));
  const workers: { handle: WorkerHandle; base: number; seq: number }[] = [];
  // Threaded GEMM: one shared packed-B panel (KC × NC) and a chunk counter.
  const KC = K.blocking(4), MC32 = K.blocking(0), NC32 = K.blocking(1), MC64 = K.blocking(2), NC64 = K.blocking(3);
  const sharedB = nThreads > 1 ? alloc.alloc(Math.max(NC32 * KC * 4, NC64 * KC * 8), fn) : 0;
  const counterPtr = nThreads > 1 ? alloc.alloc(64, fn) : 0;
  if (nThreads > 1) {
    try {
      for (let t = 1; t < nThreads; t++) {
        const handle = platform.spawnWorker!();
        if (!handle) throw new UnsupportedError(fn, 'worker could not be started');
        const base = alloc.alloc(256, fn);
        new Int32Array(buf(), base, 16).fill(0);
        const ready = handle.firstMessage();
        handle.postMessage({ module, memory, base });
        workers.push({ handle, base, seq: 0 });
        const msg = await ready;
        if (msg !== 'ready') throw new UnsupportedError(fn, `worker ${t} failed to start: ${String(msg)}`);
      }
    } catch (e) {
      // fall back to one thread rather than failing: the caller still gets a working backend
      for (const w of workers) w.handle.terminate();
      workers.length = 0;
      threadsNote = `worker threads failed to start (${String((e as Error)?.message ?? e)}); running single-threaded`;
      nThreads = 1;
      while (scratch.length > 1) alloc.release(scratch.pop()!);
    }
  }
  let disposed = false;
  const name = options.name ?? 'wasm';
  const alive = (f: string) => { if (disposed) throw new UnsupportedError(f, `backend '${name}' has been disposed`); };

  // ---- dispatching jobs to workers
  // A worker that died (out of memory, killed) would leave its job unfinished: never wait forever.
  // The deadline is generous (30 s plus 10 ns per unit of work) and only guards against hangs.
  const waitDone = (w: { base: number; seq: number }, deadline: number) => {
    const ctl = new Int32Array(buf(), w.base, 16);
    for (let cur = Atomics.load(ctl, 1); cur !== w.seq; cur = Atomics.load(ctl, 1)) {
      if (platform.canBlock) Atomics.wait(ctl, 1, cur, 200);
      if (performance.now() > deadline) throw new UnsupportedError('wasm worker', `a worker thread did not finish its job (sequence ${w.seq}) before the deadline; it may have died — dispose this backend`);
    }
    if (ctl[2] !== 0) throw new UnsupportedError('wasm worker', 'a kernel trapped in a worker thread');
  };
  const post = (w: { base: number; seq: number }, params: number[]) => {
    const b = buf();
    new Float64Array(b, w.base + 64, 24).set([params[0]!, params.length - 1, ...params.slice(1)]);
    const ctl = new Int32Array(b, w.base, 16);
    w.seq = (w.seq + 1) | 0;
    Atomics.store(ctl, 0, w.seq);
    Atomics.notify(ctl, 0);
  };
  const OPS: Record<string, number> = { sgemm: 1, dgemm: 2, sgemv: 3, dgemv: 4, int4Gemv: 5, w4a8Gemv: 6, w4a4Gemm: 7, sgemmRows: 8, dgemmRows: 9, sattention: 10 };
  /**
   * Splits [0, total) into per-thread ranges (multiples of `unit`) when `work` is large enough and
   * runs kernel `name` with the arguments `mk(lo, hi)` on each: the first range here, the rest on workers.
   */
  const runSplit = (name: string, total: number, unit: number, work: number, mk: (lo: number, hi: number) => number[]) => {
    const T = work >= minParallelWork ? nThreads : 1;
    const parts = Math.min(T, Math.max(1, Math.floor(total / unit)));
    const kern = K[name] as (...a: number[]) => void;
    if (parts <= 1) { singleThreadCalls++; kern(...mk(0, total)); return; }
    const chunk = Math.ceil(total / parts / unit) * unit;
    const jobs: number[][] = [];
    for (let t = 0; t < parts; t++) {
      const lo = t * chunk, hi = Math.min(total, lo + chunk);
      if (lo < hi) jobs.push(mk(lo, hi));
    }
    runParallel(OPS[name]!, jobs, (j) => kern(...j), work);
  };
  /** Runs jobs[0] here and jobs[1..] on workers, waiting for all. */
  let parallelCalls = 0, singleThreadCalls = 0;
  const runParallel = (op: number, jobs: number[][], local: (args: number[]) => void, work: number) => {
    parallelCalls++;
    for (let t = 1; t < jobs.length; t++) post(workers[t - 1]!, [op, ...jobs[t]!]);
    let err: unknown;
    try { local(jobs[0]!); } catch (e) { err = e; }
    const deadline = performance.now() + 30_000 + work * 1e-5;
    for (let t = 1; t < jobs.length; t++) waitDone(workers[t - 1]!, deadline);
    if (err) throw err;
  };

  // ---- operands: use in place when resident, else copy into temporary blocks
  interface Operand { ptr: number; temp: number | null }
  const bytesPer = (a: FloatArray) => a.BYTES_PER_ELEMENT;
  const viewOf = (a: FloatArray, ptr: number, n: number): FloatArray =>
    a instanceof Float64Array ? new Float64Array(buf(), ptr, n) : new Float32Array(buf(), ptr, n);
  function operandIn(f: string, a: FloatArray, offset: number, n: number, copy = true): Operand {
    if (isResident(a)) return { ptr: a.byteOffset + offset * bytesPer(a), temp: null };
    const ptr = alloc.alloc(n * bytesPer(a), f);
    if (copy && n > 0) viewOf(a, ptr, n).set(a.subarray(offset, offset + n));
    return { ptr, temp: ptr };
  }
  function operandOut(a: FloatArray, offset: number, n: number, op: Operand): void {
    if (op.temp !== null && n > 0) a.set(viewOf(a, op.ptr, n), offset);
  }
  function freeAll(ops: Operand[]): void { for (const o of ops) if (o.temp !== null) alloc.release(o.temp); }

  // ---- GEMM
  function gemm(p: GemmArgs): void {
    const f = 'gemm';
    alive(f);
    const { a: sa, b: sb, c: sc } = validateGemm(f, p);
    const { m, n, k, a, b, c, alpha, beta } = p;
    const tA = !!p.transA, tB = !!p.transB;
    if (m === 0 || n === 0) return;
    const S = bytesPer(c), f64 = S === 8;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, p.aOffset, sa); ops.push(A);
      const B = operandIn(f, b, p.bOffset, sb); ops.push(B);
      // beta = 0 never reads C: skip its copy-in when C has no padding between rows to preserve
      const C = operandIn(f, c, p.cOffset, sc, !(beta === 0 && (p.ldc === n || m === 1))); ops.push(C);
      const kern = f64 ? K.dgemm : K.sgemm;
      // Vector shapes go to the GEMV kernels (no packing): m = 1 (one token) or n = 1.
      const gv = f64 ? 'dgemv' : 'sgemv';
      if (m === 1 && k > 0 && (!tA || k === 1)) {
        // c[0, j] = alpha · Σ_p a[p] · op(B)[p, j] + beta · c[0, j]
        if (!tB) runSplit(gv, n, 16, k * n, (lo, hi) => [1, k, lo, hi, n, alpha, B.ptr, p.ldb, A.ptr, beta, C.ptr]);
        else runSplit(gv, n, 4, k * n, (lo, hi) => [0, n, lo, hi, k, alpha, B.ptr, p.ldb, A.ptr, beta, C.ptr]);
        operandOut(c, p.cOffset, sc, C);
        return;
      }
      if (n === 1 && k > 0 && (tB || k === 1) && (p.ldc === 1 || m === 1)) {
        // c[i, 0] = alpha · Σ_p op(A)[i, p] · b[p] + beta · c[i, 0]
        if (!tA) runSplit(gv, m, 4, m * k, (lo, hi) => [0, m, lo, hi, k, alpha, A.ptr, p.lda, B.ptr, beta, C.ptr]);
        else runSplit(gv, m, 16, m * k, (lo, hi) => [1, k, lo, hi, m, alpha, A.ptr, p.lda, B.ptr, beta, C.ptr]);
        operandOut(c, p.cOffset, sc, C);
        return;
      }
      const T = m * n * k >= minParallelWork ? nThreads : 1;
      const MC = f64 ? MC64 : MC32, NC = f64 ? NC64 : NC32;
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
            for (let t = 0; t < T; t++) jobs.push([tA ? 1 : 0, m, kc, nc, alpha, aP, p.lda, sharedB, be, C.ptr + jc * S, p.ldc, scratch[t]!, counterPtr, chunk]);
            runParallel(OPS[rowsKern]!, jobs, (j) => (K[rowsKern] as (...a: number[]) => void)(...j), m * nc * kc);
          }
        }
      } else if (T > 1 && n > m && n >= 32) {
        // columns: each thread packs its own B columns (no duplicated packing of B)
        const parts = Math.min(T, Math.floor(n / 16));
        const chunk = Math.ceil(n / parts / 16) * 16;
        const jobs: number[][] = [];
        for (let t = 0; t < parts; t++) {
          const lo = t * chunk, hi = Math.min(n, lo + chunk);
          if (lo >= hi) break;
          const bP = B.ptr + (tB ? lo * p.ldb : lo) * S;
          jobs.push([tA ? 1 : 0, tB ? 1 : 0, m, hi - lo, k, alpha, A.ptr, p.lda, bP, p.ldb, beta, C.ptr + lo * S, p.ldc, scratch[t]!]);
        }
        runParallel(f64 ? 2 : 1, jobs, (j) => kern(...j), m * n * k);
      } else {
        singleThreadCalls++;
        kern(tA ? 1 : 0, tB ? 1 : 0, m, n, k, alpha, A.ptr, p.lda, B.ptr, p.ldb, beta, C.ptr, p.ldc, scratch[0]!);
      }
      operandOut(c, p.cOffset, sc, C);
    } finally { freeAll(ops); }
  }

  // ---- GEMV
  function gemv(p: GemvArgs): void {
    const f = 'gemv';
    alive(f);
    const { lx, ly } = validateGemv(f, p);
    const { m, n, a, x, y, alpha, beta } = p;
    const tr = !!p.trans;
    if (ly === 0) return;
    const S = bytesPer(y), f64 = S === 8;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, p.aOffset, span(m, n, p.lda)); ops.push(A);
      const X = operandIn(f, x, p.xOffset, lx); ops.push(X);
      const Y = operandIn(f, y, p.yOffset, ly, beta !== 0); ops.push(Y);
      const kern = f64 ? K.dgemv : K.sgemv;
      const unit = tr ? 16 : 4;
      const T = m * n >= (minParallelWork >> 2) ? nThreads : 1;
      const parts = Math.min(T, Math.max(1, Math.floor(ly / unit)));
      if (parts <= 1) {
        singleThreadCalls++;
        kern(tr ? 1 : 0, m, 0, ly, n, alpha, A.ptr, p.lda, X.ptr, beta, Y.ptr);
      } else {
        const chunk = Math.ceil(ly / parts / unit) * unit;
        const jobs: number[][] = [];
        for (let t = 0; t < parts; t++) {
          const lo = t * chunk, hi = Math.min(ly, lo + chunk);
          if (lo >= hi) break;
          jobs.push([tr ? 1 : 0, m, lo, hi, n, alpha, A.ptr, p.lda, X.ptr, beta, Y.ptr]);
        }
        runParallel(f64 ? 4 : 3, jobs, (j) => kern(...j), m * n);
      }
      operandOut(y, p.yOffset, ly, Y);
    } finally { freeAll(ops); }
  }

  // ---- elementwise and reductions
  function binary(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): void {
    const f = 'binary';
    alive(f);
    validateBinary(f, op, a, b, out, n);
    const code = BIN_OPS[op];
    if (n === 0) return;
    const f64 = a instanceof Float64Array;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, 0, n); ops.push(A);
      const O = operandIn(f, out, 0, n, false); ops.push(O);
      if (typeof b === 'number') (f64 ? K.dbinaryScalar : K.sbinaryScalar)(code, A.ptr, b, O.ptr, n);
      else {
        const B = operandIn(f, b, 0, n); ops.push(B);
        (f64 ? K.dbinary : K.sbinary)(code, A.ptr, B.ptr, O.ptr, n);
      }
      operandOut(out, 0, n, O);
    } finally { freeAll(ops); }
  }
  function unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void {
    const f = 'unary';
    alive(f);
    validateUnary(f, op, a, out, n);
    const code = UN_OPS[op];
    if (n === 0) return;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, 0, n); ops.push(A);
      const O = operandIn(f, out, 0, n, false); ops.push(O);
      (a instanceof Float64Array ? K.dunary : K.sunary)(code, A.ptr, O.ptr, n);
      operandOut(out, 0, n, O);
    } finally { freeAll(ops); }
  }
  function reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): number {
    const f = 'reduce';
    alive(f);
    validateReduce(f, op, a, offset, n);
    const code = RED_OPS[op];
    if (n === 0) return op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, offset, n); ops.push(A);
      return (a instanceof Float64Array ? K.dreduce : K.sreduce)(code, A.ptr, n);
    } finally { freeAll(ops); }
  }

  // ---- resident arrays
  const owned = new Map<number, number>(); // ptr -> bytes, handed out by allocate()
  function allocate(dtype: 'f32' | 'f64', n: number): FloatArray {
    const f = 'allocate';
    alive(f);
    if (dtype !== 'f32' && dtype !== 'f64') throw new ArgumentError(f, 'dtype', dtype, "must be 'f32' or 'f64'");
    checkDim(f, 'n', n);
    const S = dtype === 'f64' ? 8 : 4;
    const ptr = alloc.alloc(n * S, f);
    owned.set(ptr, n * S);
    const arr = dtype === 'f64' ? new Float64Array(buf(), ptr, n) : new Float32Array(buf(), ptr, n);
    arr.fill(0);
    return arr;
  }
  function allocateBytes(n: number): Uint8Array {
    const f = 'allocateBytes';
    alive(f);
    checkDim(f, 'n', n);
    const ptr = alloc.alloc(n, f);
    owned.set(ptr, n);
    return new Uint8Array(buf(), ptr, n).fill(0);
  }
  function release(arr: ArrayBufferView): void {
    const f = 'release';
    if (disposed) return;
    if (!ArrayBuffer.isView(arr) || !isResident(arr) || !owned.has(arr.byteOffset)) {
      throw new ArgumentError(f, 'array', arr, 'must be an array returned by allocate() of this backend and not yet released');
    }
    owned.delete(arr.byteOffset);
    alloc.release(arr.byteOffset);
  }

  async function dispose(): Promise<void> {
    if (disposed) return;
    disposed = true;
    for (const w of workers) {
      try { post(w, [-1]); } catch { /* ignore */ }
      w.handle.terminate();
    }
    workers.length = 0;
  }

  const features = ['simd'];
  if (relaxed) features.push('relaxed-simd');
  if (shared) features.push('shared-memory');
  if (nThreads > 1) features.push('threads');

  const integer = makeIntegerRoutines({ K, alive, isResident, buf, alloc, runSplit });
  const attention = makeAttention({ K, alive, isResident, buf, alloc, runSplit });

  const backend: WasmBackend = {
    name,
    capabilities: Object.freeze({ dtypes: Object.freeze(['f32', 'f64'] as const), syncRead: true, threads: nThreads, features: Object.freeze(features) }),
    gemm, gemv, binary, unary, reduce,
    memory,
    isResident,
    release,
    dispose,
    stats: () => ({ singleThreadCalls, parallelCalls }),
    threadsNote,
    ...integer,
    attention,
    ...(shared ? { allocate, allocateBytes } : {}),
  } as WasmBackend;
  return backend;
}

/** Context the extra (integer) routines need. */
export interface ExtraContext {
  K: Kernels;
  alive(fn: string): void;
  isResident(a: ArrayBufferView): boolean;
  buf(): ArrayBufferLike;
  alloc: LinearAllocator;
  runSplit(name: string, total: number, unit: number, work: number, mk: (lo: number, hi: number) => number[]): void;
}

// Filled in by extras.ts (kept separate so the core stays readable).
import { makeIntegerRoutines } from './extras.js';
import { makeAttention } from './attention.js';
