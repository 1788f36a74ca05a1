/**
 * The platform-independent WASM backend: module instantiation, memory, and assembly of the routines
 * (worker pool: pool.ts; operands and resident arrays: operands.ts; GEMM/GEMV: gemm.ts; integer
 * routines: extras.ts; attention: attention.ts; elementwise and reductions here).
 * `index.ts` (browsers, Deno) and `node.ts` (Node) wrap it
 * with a `Platform` that knows how to start workers and whether relaxed SIMD can be switched on.
 */
import {
  ArgumentError,
  UnsupportedError,
  validateBinary,
  validateReduce,
  validateUnary,
  type Backend,
  type BinaryOp,
  type FloatArray,
  type ReduceOp,
  type UnaryOp,
  type BackendRoutines,
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
export type WasmBackend = Backend &
  Required<BackendRoutines> & {
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

export interface Kernels {
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
function bytesOf(v: Variant): Uint8Array {
  return decodeBase64(KERNELS_BASE64[v]);
}
function moduleOf(v: Variant): WebAssembly.Module {
  let m = moduleCache.get(v);
  if (!m) {
    m = new WebAssembly.Module(bytesOf(v) as BufferSource);
    moduleCache.set(v, m);
  }
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
    sharedMemory =
      typeof SharedArrayBuffer === 'function' &&
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true } as WebAssembly.MemoryDescriptor).buffer instanceof SharedArrayBuffer;
  } catch {
    sharedMemory = false;
  }
  return { simd, relaxedSimd, sharedMemory };
}

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

export async function createWasmBackendWith(platform: Platform, options: WasmBackendOptions = {}): Promise<WasmBackend | null> {
  const fn = 'createWasmBackend';
  if (options === null || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object or undefined');
  const th = options.threads ?? 1;
  if (!(th === 'auto' || (isInt(th) && th >= 1 && th <= 64))) throw new ArgumentError(fn, 'options.threads', th, "must be an integer in [1, 64] or 'auto'");
  if (options.relaxedSimd !== undefined && typeof options.relaxedSimd !== 'boolean')
    throw new ArgumentError(fn, 'options.relaxedSimd', options.relaxedSimd, 'must be a boolean');
  const minParallelWork = options.minParallelWork ?? 2 ** 21;
  if (typeof minParallelWork !== 'number' || !(minParallelWork >= 0))
    throw new ArgumentError(fn, 'options.minParallelWork', minParallelWork, 'must be a non-negative number');

  const feat = detectWasmFeatures(platform);
  if (!feat.simd) return null;
  const relaxed = feat.relaxedSimd && options.relaxedSimd !== false;
  const wanted = th === 'auto' ? Math.max(1, Math.min(16, platform.hardwareConcurrency())) : th;
  const canThread = feat.sharedMemory && typeof platform.spawnWorker === 'function' && platform.threadsUnavailableReason?.() === undefined;
  let nThreads = canThread ? wanted : 1;
  let threadsNote: string | undefined =
    wanted > 1 && !canThread
      ? !feat.sharedMemory
        ? 'no shared WebAssembly memory here (SharedArrayBuffer unavailable)'
        : (platform.threadsUnavailableReason?.() ?? 'this platform cannot start workers')
      : undefined;

  // Memory: shared whenever the engine allows it (so `grow` never detaches arrays from allocate()).
  let memory: WebAssembly.Memory | undefined;
  let maxPages = 65536;
  if (feat.sharedMemory) {
    for (const mp of [65536, 32768, 16384, 4096]) {
      try {
        memory = new WebAssembly.Memory({ initial: 128, maximum: mp, shared: true } as WebAssembly.MemoryDescriptor);
        maxPages = mp;
        break;
      } catch {
        /* try smaller */
      }
    }
  }
  const shared = memory !== undefined;
  if (!memory) memory = new WebAssembly.Memory({ initial: 128 });
  const variant: Variant = `${relaxed ? 'relaxed' : 'simd'}${shared ? '-shared' : ''}` as Variant;
  const module = moduleOf(variant);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const K = instance.exports as unknown as Kernels;
  const alloc = new LinearAllocator(memory, Math.max(65536, K.heapBase()), maxPages * 65536);
  const scratchBytes = K.scratchBytes();

  // Buffers seen from memory.buffer: arrays on any of them live in the linear memory.
  const buffers = new WeakSet<ArrayBufferLike>();
  const buf = (): ArrayBufferLike => {
    const b = memory!.buffer;
    buffers.add(b);
    return b;
  };
  const isResident = (arr: ArrayBufferView): boolean => {
    buf();
    return buffers.has(arr.buffer);
  };

  // Worker threads (worker pool), then per-thread packing scratch, the shared packed-B panel and the
  // row-chunk counter of threaded GEMM.
  const pool = await startWorkerPool({ fn, platform, module, memory, alloc, buf, K, wanted: nThreads, note: threadsNote, minParallelWork });
  nThreads = pool.threads;
  threadsNote = pool.note;
  const scratch: number[] = [];
  for (let t = 0; t < nThreads; t++) scratch.push(alloc.alloc(scratchBytes, fn));
  const KC = K.blocking(4),
    NC32 = K.blocking(1),
    NC64 = K.blocking(3);
  const sharedB = nThreads > 1 ? alloc.alloc(Math.max(NC32 * KC * 4, NC64 * KC * 8), fn) : 0;
  const counterPtr = nThreads > 1 ? alloc.alloc(64, fn) : 0;
  let disposed = false;
  const name = options.name ?? 'wasm';
  const alive = (f: string) => {
    if (disposed) throw new UnsupportedError(f, `backend '${name}' has been disposed`);
  };
  const ops = makeOperands({ alloc, buf, isResident, alive, isDisposed: () => disposed });
  const { operandIn, operandOut, freeAll } = ops;
  type Operand = ReturnType<typeof operandIn>;
  const { gemm, gemv } = makeGemm({ K, alive, buf, ops, pool, scratch, sharedB, counterPtr, minParallelWork });
  const runSplit = pool.runSplit;

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
      const A = operandIn(f, a, 0, n);
      ops.push(A);
      const O = operandIn(f, out, 0, n, false);
      ops.push(O);
      if (typeof b === 'number') (f64 ? K.dbinaryScalar : K.sbinaryScalar)(code, A.ptr, b, O.ptr, n);
      else {
        const B = operandIn(f, b, 0, n);
        ops.push(B);
        (f64 ? K.dbinary : K.sbinary)(code, A.ptr, B.ptr, O.ptr, n);
      }
      operandOut(out, 0, n, O);
    } finally {
      freeAll(ops);
    }
  }
  function unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void {
    const f = 'unary';
    alive(f);
    validateUnary(f, op, a, out, n);
    const code = UN_OPS[op];
    if (n === 0) return;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, 0, n);
      ops.push(A);
      const O = operandIn(f, out, 0, n, false);
      ops.push(O);
      (a instanceof Float64Array ? K.dunary : K.sunary)(code, A.ptr, O.ptr, n);
      operandOut(out, 0, n, O);
    } finally {
      freeAll(ops);
    }
  }
  function reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): number {
    const f = 'reduce';
    alive(f);
    validateReduce(f, op, a, offset, n);
    const code = RED_OPS[op];
    if (n === 0) return op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
    const ops: Operand[] = [];
    try {
      const A = operandIn(f, a, offset, n);
      ops.push(A);
      return (a instanceof Float64Array ? K.dreduce : K.sreduce)(code, A.ptr, n);
    } finally {
      freeAll(ops);
    }
  }

  async function dispose(): Promise<void> {
    if (disposed) return;
    disposed = true;
    pool.dispose();
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
    gemm,
    gemv,
    binary,
    unary,
    reduce,
    memory,
    isResident,
    release: ops.release,
    dispose,
    stats: pool.stats,
    threadsNote,
    ...integer,
    attention,
    ...(shared ? { allocate: ops.allocate, allocateBytes: ops.allocateBytes } : {}),
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

// The routines and parts split by job (kept separate so the core stays readable).
import { makeIntegerRoutines } from './extras.js';
import { makeAttention } from './attention.js';
import { startWorkerPool } from './pool.js';
import { makeOperands } from './operands.js';
import { makeGemm } from './gemm.js';
