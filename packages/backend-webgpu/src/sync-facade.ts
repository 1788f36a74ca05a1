/**
 * The synchronous WebGPU backend (decision 0009): implements the SYNCHRONOUS backend contract, so
 * every algorithm (SVD-LLM, GPTQ, TT, the forward pass, calibration Grams...) can run on it unchanged.
 *
 * A dedicated GPU thread owns the device (`gpu-thread.ts`). Each routine call that is worth the GPU
 * copies its operands into a SharedArrayBuffer arena, posts a small request and blocks with
 * `Atomics.wait` until the GPU thread signals completion; then the result is copied out of the arena.
 * Calls below the size threshold, f64 calls whose operands are not exactly f32, and every call after
 * the device is lost run on the CPU backend (`options.cpu`, normally the WASM backend) — routed and
 * counted, never wrong. The calling thread must be allowed to block: a worker in browsers (with
 * cross-origin isolation for SharedArrayBuffer), any thread in Node.
 */
import {
  ArgumentError,
  referenceBackend,
  routine,
  type Backend,
  type BackendCapabilities,
  type BinaryOp,
  type FloatArray,
  type GemmArgs,
  type GemvArgs,
  type Int4GemvArgs,
  type ReduceOp,
  type UnaryOp,
} from '@llmpress/tensor';
import {
  CTRL_BYTES,
  DEVICE_LOST,
  LOST,
  OK,
  PENDING,
  RESULT_BYTE,
  STATE,
  STATUS,
  readText,
  type InitMessage,
  type InitReply,
  type Operand,
  type SyncRequest,
} from './sync-protocol.js';

/** Default routing threshold: GEMMs below 2·m·n·k = 2^24 flops (≈ 1 ms of WASM SIMD) stay on the CPU. */
export const DEFAULT_MIN_FLOPS = 1 << 24;

export interface WebGpuSyncOptions {
  /**
   * The backend for routed and fallen-back calls (small calls, f64 calls, everything after a device
   * loss). Pass the WASM backend; defaults to the reference backend.
   */
  cpu?: Backend;
  /** Dispose `cpu` too when this backend is disposed (default false: the caller owns it). */
  disposeCpu?: boolean;
  /** GEMM/GEMV/int4-GEMV calls with fewer flops (2·m·n·k, 2·m·n) stay on `cpu`. Default `DEFAULT_MIN_FLOPS`; 0 sends every call to the GPU. */
  minFlops?: number;
  /**
   * f64 GEMMs (policy `df32`) with fewer flops stay on `cpu` (`routed['gemm:f64-small']`). Default:
   * `minFlops`. A double-f32 multiply-add costs ~20 f32 operations and each call a round trip, so a
   * run that forces every f32 GEMM onto the GPU (`minFlops: 0`) may still want to keep the
   * decompositions' tiny f64 GEMMs on the CPU (the tests and the bench use 2^16 on software adapters).
   */
  minFlopsDf32?: number;
  /** Elementwise and reduction calls with fewer elements stay on `cpu`. Default `Infinity` (always CPU: one pass over memory never pays a round trip); 0 sends them all. */
  minElements?: number;
  /**
   * f64 GEMM/GEMV policy (WGSL has no f64):
   * - `df32` (default): every f64 GEMM above the threshold runs on the GPU in double-f32 (each value
   *   a pair hi + lo of f32, ~48-bit significands; operands scaled by powers of two so that their
   *   largest magnitude is ~1, then converted to pairs on upload and back to f64 on download).
   *   Used only when the adapter's self-test finds the double-f32 primitives exact; otherwise this
   *   policy acts as `exact-f32-only` (`df32` in `stats()` says which). f64 GEMVs as `exact-f32-only`.
   * - `exact-f32-only` (alias `exact`): an f64 call goes to the GPU only when every operand value is
   *   exactly an f32 (e.g. the f64 copies of f32 activations that Gram accumulation multiplies) —
   *   computed in f32, the result added into the f64 C on the CPU; other f64 calls stay on `cpu`.
   * - `all`: every f64 call in f32 (rounding operands to f32: faster, less accurate).
   * - `cpu`: all f64 calls on the CPU.
   */
  f64?: F64Policy;
  /** Largest operand a GPU call may bind, in bytes (default and upper bound: the device's limits). Larger A/C are split by rows of C. */
  maxBindingBytes?: number;
  /** Longest wait for one GPU call before it is treated as a lost device (ms, default 600 000). */
  timeoutMs?: number;
  /** Called once, with the reason, when the facade stops using the GPU (device lost, failed call, timeout). */
  onLost?: (reason: string) => void;
  gemmKernel?: 'auto' | 'tiled' | 'register';
  powerPreference?: GPUPowerPreference;
}

export type F64Policy = 'df32' | 'exact-f32-only' | 'exact' | 'all' | 'cpu';

/** Counts of where the facade's calls ran (keys: routine names; `routed`/`fallbacks` keys `routine:reason`). */
export interface WebGpuSyncStats {
  /** Calls that ran on the GPU. */
  gpu: Record<string, number>;
  /** Calls routed to the CPU by design: `small` (below the threshold), `f64` (operands not f32), `empty`. */
  routed: Record<string, number>;
  /** Calls that were meant for the GPU and ran on the CPU instead: `device-lost`, `failed`, `too-large`. */
  fallbacks: Record<string, number>;
  uploadedBytes: number;
  downloadedBytes: number;
  pinned: number;
  lost: boolean;
  /** The f64 policy in force (`df32` falls back to `exact-f32-only` when the adapter's self-test fails) and that self-test. */
  f64: { policy: 'df32' | 'exact-f32-only' | 'all' | 'cpu'; selfTest?: Extract<InitReply, { type: 'llmpress-gpu-ready' }>['df32'] };
  /** The GPU thread's own counters (`WebGpuStats` of the async backend), when the device answers. */
  device?: Record<string, unknown>;
}

export interface WebGpuSyncBackend extends Backend {
  gemm(args: GemmArgs): void;
  gemv(args: GemvArgs): void;
  binary(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): void;
  unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void;
  reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): number;
  readonly adapter: { vendor: string; architecture: string; device: string; description: string; software: boolean };
  readonly gemmKernel: string;
  readonly minFlops: number;
  /** True once the facade has stopped using the GPU. */
  readonly lost: boolean;
  /**
   * Keeps `array` resident on the device: GEMM/GEMV calls that pass this same array object as `a` or
   * `b` read the resident copy (no copy, no upload). The copy is a SNAPSHOT at this version of the
   * array: call `pin` again after changing it (a new version), or `unpin`. Dropped arrays are unpinned
   * automatically once collected. f32 only (f64 arrays are ignored).
   */
  pin(array: FloatArray): void;
  unpin(array: FloatArray): void;
  stats(): WebGpuSyncStats;
  /** Zeroes the counters (not the pins). */
  resetStats(): void;
  /** Test hook: destroys the device on the GPU thread, as a driver reset would. */
  simulateDeviceLoss(): void;
  dispose(): Promise<void>;
}

/** The thread that owns the device: a Node `Worker` or a browser `Worker`. */
export interface GpuThreadHandle {
  postMessage(message: unknown): void;
  on?(type: 'message', listener: (data: any) => void): unknown;
  addEventListener?(type: 'message', listener: (ev: any) => void): void;
  removeEventListener?(type: 'message', listener: (ev: any) => void): void;
  off?(type: 'message', listener: (data: any) => void): unknown;
  terminate(): unknown;
}

/** The elementwise and reduction ops the WGSL kernels implement; others run on the CPU backend (routed). */
const GPU_BINARY = new Set(['add', 'sub', 'mul', 'div', 'max', 'min']);
const GPU_UNARY = new Set(['neg', 'abs', 'sqrt', 'exp', 'log', 'square', 'silu', 'tanh']);
const GPU_REDUCE = new Set(['sum', 'max', 'min', 'sumsq', 'absmax']);

function inc(r: Record<string, number>, key: string, by = 1): void {
  r[key] = (r[key] ?? 0) + by;
}
function span(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Whether every element of the rows × cols view is exactly representable as an f32. */
function f32Exact(a: FloatArray, off: number, rows: number, cols: number, ld: number): boolean {
  if (a instanceof Float32Array) return true;
  for (let i = 0; i < rows; i++) {
    const o = off + i * ld;
    for (let j = 0; j < cols; j++) {
      const v = a[o + j]!;
      if (Math.fround(v) !== v) return false;
    }
  }
  return true;
}

/** Largest |value| of the rows × cols view (NaN or Infinity when one is not finite). */
function maxAbs(a: FloatArray, off: number, rows: number, cols: number, ld: number): number {
  let mx = 0;
  for (let i = 0; i < rows; i++) {
    const o = off + i * ld;
    for (let j = 0; j < cols; j++) {
      const v = Math.abs(a[o + j]!);
      if (v > mx) mx = v;
      else if (Number.isNaN(v)) return Number.NaN;
    }
  }
  return mx;
}

/**
 * Connects the synchronous facade to a GPU thread that runs `serveGpuThread` (see `gpu-thread.ts`).
 * Resolves to null (with `onUnavailable`) when the GPU thread has no WebGPU device or
 * SharedArrayBuffer is unavailable (a page that is not cross-origin isolated).
 */
export async function connectWebGpuSyncBackend(
  thread: GpuThreadHandle,
  options: WebGpuSyncOptions & { onUnavailable?: (reason: string) => void; initTimeoutMs?: number } = {},
): Promise<WebGpuSyncBackend | null> {
  const fn = 'connectWebGpuSyncBackend';
  if (options.minFlops !== undefined && !(typeof options.minFlops === 'number' && options.minFlops >= 0))
    throw new ArgumentError(fn, 'options.minFlops', options.minFlops, 'must be a number >= 0');
  if (options.minFlopsDf32 !== undefined && !(typeof options.minFlopsDf32 === 'number' && options.minFlopsDf32 >= 0))
    throw new ArgumentError(fn, 'options.minFlopsDf32', options.minFlopsDf32, 'must be a number >= 0');
  if (options.minElements !== undefined && !(typeof options.minElements === 'number' && options.minElements >= 0))
    throw new ArgumentError(fn, 'options.minElements', options.minElements, 'must be a number >= 0');
  if (options.maxBindingBytes !== undefined && !(typeof options.maxBindingBytes === 'number' && options.maxBindingBytes > 0))
    throw new ArgumentError(fn, 'options.maxBindingBytes', options.maxBindingBytes, 'must be a positive number of bytes');
  if (options.f64 !== undefined && !['df32', 'exact-f32-only', 'exact', 'all', 'cpu'].includes(options.f64))
    throw new ArgumentError(fn, 'options.f64', options.f64, "must be 'df32', 'exact-f32-only' (or 'exact'), 'all' or 'cpu'");
  const unavailable = (reason: string) => {
    options.onUnavailable?.(reason);
    thread.terminate();
    return null;
  };
  if (typeof SharedArrayBuffer !== 'function')
    return unavailable(
      'SharedArrayBuffer is not available (a page must be cross-origin isolated: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    );
  const ctrl = new SharedArrayBuffer(CTRL_BYTES);
  const reply = await new Promise<InitReply>((resolve) => {
    const timer = setTimeout(
      () => resolve({ type: 'llmpress-gpu-unavailable', reason: `the GPU thread did not answer within ${options.initTimeoutMs ?? 60_000} ms` }),
      options.initTimeoutMs ?? 60_000,
    );
    const onData = (data: any) => {
      if (data?.type !== 'llmpress-gpu-ready' && data?.type !== 'llmpress-gpu-unavailable') return;
      clearTimeout(timer);
      if (thread.off) thread.off('message', onData);
      else thread.removeEventListener?.('message', onEvent);
      resolve(data as InitReply);
    };
    const onEvent = (ev: MessageEvent) => onData(ev.data);
    if (typeof thread.on === 'function') {
      thread.on('message', onData);
      thread.on('error' as 'message', (e: Error) => onData({ type: 'llmpress-gpu-unavailable', reason: `the GPU thread failed: ${e?.message ?? e}` }));
    } else {
      thread.addEventListener!('message', onEvent);
      thread.addEventListener!('error' as 'message', (e: ErrorEvent) =>
        onData({ type: 'llmpress-gpu-unavailable', reason: `the GPU thread failed: ${e?.message ?? 'worker error'}` }),
      );
    }
    thread.postMessage({
      type: 'llmpress-gpu-init',
      ctrl,
      options: { gemmKernel: options.gemmKernel, powerPreference: options.powerPreference },
    } satisfies InitMessage);
  });
  if (reply.type !== 'llmpress-gpu-ready') return unavailable(reply.reason);
  return new WebGpuSyncFacade(thread, ctrl, reply, options);
}

class WebGpuSyncFacade implements WebGpuSyncBackend {
  readonly name = 'webgpu';
  readonly capabilities: BackendCapabilities;
  readonly adapter: WebGpuSyncBackend['adapter'];
  readonly gemmKernel: string;
  readonly minFlops: number;
  private readonly minFlopsDf32: number;
  private readonly cpu: Backend;
  private readonly minElements: number;
  private readonly f64: 'df32' | 'exact' | 'all' | 'cpu';
  private readonly df32SelfTest: Extract<InitReply, { type: 'llmpress-gpu-ready' }>['df32'];
  private readonly timeoutMs: number;
  private readonly i32: Int32Array;
  private readonly maxBinding: number;
  private arena = new SharedArrayBuffer(1 << 20);
  private arenaSent = false;
  private cursor = 0;
  private isLost = false;
  private disposed = false;
  private counts: Omit<WebGpuSyncStats, 'pinned' | 'lost' | 'device' | 'f64'> = { gpu: {}, routed: {}, fallbacks: {}, uploadedBytes: 0, downloadedBytes: 0 };
  private readonly pins = new WeakMap<FloatArray, number>();
  private pinCount = 0;
  private nextPin = 1;
  private readonly registry: FinalizationRegistry<number> | undefined;

  constructor(
    private readonly thread: GpuThreadHandle,
    private readonly ctrl: SharedArrayBuffer,
    ready: Extract<InitReply, { type: 'llmpress-gpu-ready' }>,
    private readonly options: WebGpuSyncOptions,
  ) {
    this.i32 = new Int32Array(ctrl);
    this.cpu = options.cpu ?? referenceBackend;
    this.minFlops = options.minFlops ?? DEFAULT_MIN_FLOPS;
    this.minFlopsDf32 = options.minFlopsDf32 ?? this.minFlops;
    this.minElements = options.minElements ?? Infinity;
    const f64 = options.f64 ?? 'df32';
    this.df32SelfTest = ready.df32;
    // df32 only where the adapter computes its error-free transformations exactly
    this.f64 = f64 === 'exact-f32-only' || (f64 === 'df32' && !ready.df32?.exact) ? 'exact' : f64;
    this.timeoutMs = options.timeoutMs ?? 600_000;
    this.adapter = Object.freeze({ ...ready.adapter });
    this.gemmKernel = ready.gemmKernel;
    this.maxBinding = Math.min(
      ready.limits.maxStorageBufferBindingSize || 128 << 20,
      ready.limits.maxBufferSize || Infinity,
      options.maxBindingBytes ?? Infinity,
    );
    this.capabilities = Object.freeze({
      // f64 is accepted (routed per `options.f64`), so algorithms that compute in f64 run unchanged
      dtypes: ['f32', 'f64'] as const,
      syncRead: true,
      threads: 1,
      features: ['webgpu', 'webgpu-sync', ...ready.features, `gemm-${ready.gemmKernel}`, ...(ready.adapter.software ? ['software-adapter'] : [])],
    });
    const FR = (globalThis as any).FinalizationRegistry;
    this.registry = FR
      ? new FR((id: number) => {
          if (!this.disposed && !this.isLost) {
            this.pinCount--;
            try {
              this.thread.postMessage({ op: 'unpin', id, silent: true });
            } catch {
              /* thread gone */
            }
          }
        })
      : undefined;
  }

  get lost(): boolean {
    return this.isLost;
  }

  // ------------------------------------------------------------ plumbing

  private loseGpu(reason: string): void {
    if (this.isLost) return;
    this.isLost = true;
    if (this.options.onLost) this.options.onLost(reason);
    else console.warn(`[llmpress] WebGPU stopped (${reason}); routines continue on the '${this.cpu.name}' backend`);
  }

  /** Whether the GPU may be used now (checks the GPU thread's asynchronous device-lost flag). */
  private usable(): boolean {
    if (this.disposed) throw new ArgumentError('WebGpuSyncBackend', 'this', 'disposed', 'the backend was disposed');
    if (!this.isLost && Atomics.load(this.i32, LOST) === 1) this.loseGpu('device lost');
    return !this.isLost;
  }

  /** Starts a request: returns a fresh arena large enough for `bytes`. */
  private begin(bytes: number): void {
    if (this.arena.byteLength < bytes) {
      this.arena = new SharedArrayBuffer(Math.max(bytes, Math.min(this.arena.byteLength * 2, bytes * 2)));
      this.arenaSent = false;
    }
    this.cursor = 0;
  }
  private alloc(bytes: number): number {
    const at = this.cursor;
    this.cursor += Math.ceil(bytes / 16) * 16;
    return at;
  }
  /** Copies `len` elements of `src` from `off` into a new f32 segment (f64 values are rounded). */
  private put(src: FloatArray, off: number, len: number): { seg: number; len: number } {
    const at = this.alloc(len * 4);
    new Float32Array(this.arena, at, len).set(src.subarray(off, off + len));
    this.counts.uploadedBytes += len * 4;
    return { seg: at, len };
  }
  private outSeg(len: number): { seg: number; len: number } {
    return { seg: this.alloc(len * 4), len };
  }
  private view(s: { seg: number; len: number }): Float32Array {
    this.counts.downloadedBytes += s.len * 4;
    return new Float32Array(this.arena, s.seg, s.len);
  }

  /** Posts a request and blocks until the GPU thread answers. Returns false when the call must run on the CPU. */
  private call(r: SyncRequest, routineName: string): boolean {
    if (!this.arenaSent) {
      r.arena = this.arena;
      this.arenaSent = true;
    }
    Atomics.store(this.i32, STATE, PENDING);
    try {
      this.thread.postMessage(r);
    } catch (e) {
      this.loseGpu(`post failed: ${(e as Error)?.message ?? e}`);
      inc(this.counts.fallbacks, `${routineName}:device-lost`);
      return false;
    }
    const w = Atomics.wait(this.i32, STATE, PENDING, this.timeoutMs);
    if (w === 'timed-out') {
      this.loseGpu(`no answer within ${this.timeoutMs} ms`);
      inc(this.counts.fallbacks, `${routineName}:device-lost`);
      return false;
    }
    const status = Atomics.load(this.i32, STATUS);
    if (status === OK) return true;
    const text = readText(this.ctrl);
    if (status === DEVICE_LOST) {
      this.loseGpu(`device lost: ${text}`);
      inc(this.counts.fallbacks, `${routineName}:device-lost`);
      return false;
    }
    // any other failure: stop using the GPU (a failed submit may leave the device in an unknown state)
    this.loseGpu(`${routineName} failed on the GPU: ${text}`);
    inc(this.counts.fallbacks, `${routineName}:failed`);
    return false;
  }

  private operand(
    arr: FloatArray,
    off: number,
    rows: number,
    cols: number,
    ld: number,
    others: Array<[FloatArray, number, Operand]>,
  ): { op: Operand; off: number } {
    const id = arr instanceof Float32Array ? this.pins.get(arr) : undefined;
    if (id !== undefined) return { op: { pin: id }, off };
    for (const [a, o, op] of others) if (a === arr && o === off) return { op, off: 0 };
    const op = this.put(arr, off, span(rows, cols, ld));
    others.push([arr, off, op]);
    return { op, off: 0 };
  }

  // ------------------------------------------------------------ routines

  gemm(args: GemmArgs): void {
    const { m, n, k } = args ?? ({} as GemmArgs);
    const ok =
      args &&
      isInt(m) &&
      isInt(n) &&
      isInt(k) &&
      isInt(args.lda) &&
      isInt(args.ldb) &&
      isInt(args.ldc) &&
      isInt(args.aOffset) &&
      isInt(args.bOffset) &&
      isInt(args.cOffset) &&
      (args.a instanceof Float32Array || args.a instanceof Float64Array) &&
      args.b?.constructor === args.a.constructor &&
      args.c?.constructor === args.a.constructor &&
      Number.isFinite(args.alpha) &&
      Number.isFinite(args.beta);
    // anything unusual (bad arguments, mixed dtypes): the CPU backend validates and throws its typed error
    if (!ok || m * n === 0) {
      if (ok) inc(this.counts.routed, 'gemm:empty');
      this.cpu.gemm!(args);
      return;
    }
    const flops = 2 * m * n * k;
    if (flops < this.minFlops) {
      inc(this.counts.routed, 'gemm:small');
      this.cpu.gemm!(args);
      return;
    }
    const f64 = args.a instanceof Float64Array;
    const rA = args.transA ? k : m,
      cA = args.transA ? m : k,
      rB = args.transB ? n : k,
      cB = args.transB ? k : n;
    if (
      f64 &&
      (this.f64 === 'cpu' || (this.f64 === 'exact' && !(f32Exact(args.a, args.aOffset, rA, cA, args.lda) && f32Exact(args.b, args.bOffset, rB, cB, args.ldb))))
    ) {
      inc(this.counts.routed, 'gemm:f64');
      this.cpu.gemm!(args);
      return;
    }
    // df32: powers of two that bring each operand's largest magnitude to [0.5, 1) (f32 range and
    // denormals stay out of the way); non-finite operands stay on the CPU
    let scaleA = 1,
      scaleB = 1;
    const df32 = f64 && this.f64 === 'df32';
    if (df32 && flops < this.minFlopsDf32) {
      inc(this.counts.routed, 'gemm:f64-small');
      this.cpu.gemm!(args);
      return;
    }
    if (df32) {
      const ma = maxAbs(args.a, args.aOffset, rA, cA, args.lda),
        mb = maxAbs(args.b, args.bOffset, rB, cB, args.ldb);
      if (!Number.isFinite(ma) || !Number.isFinite(mb)) {
        inc(this.counts.routed, 'gemm:f64-nonfinite');
        this.cpu.gemm!(args);
        return;
      }
      if (ma > 0) scaleA = 2 ** -Math.ceil(Math.log2(ma) + 1e-12);
      if (mb > 0) scaleB = 2 ** -Math.ceil(Math.log2(mb) + 1e-12);
    }
    // bounds (the CPU backend throws the typed error)
    if (
      args.aOffset + span(rA, cA, args.lda) > args.a.length ||
      args.bOffset + span(rB, cB, args.ldb) > args.b.length ||
      args.cOffset + span(m, n, args.ldc) > args.c.length ||
      args.lda < cA ||
      args.ldb < cB ||
      args.ldc < n
    ) {
      this.cpu.gemm!(args);
      return;
    }
    if (!this.usable()) {
      inc(this.counts.fallbacks, 'gemm:device-lost');
      this.cpu.gemm!(args);
      return;
    }
    // rows of C per GPU call so that no operand exceeds the device's binding limit
    const esz = df32 ? 8 : 4;
    const bBytes = span(rB, cB, args.ldb) * esz;
    const perRow = Math.max(args.transA ? 1 : args.lda, df32 ? n : args.ldc) * esz;
    const rowsPer = Math.max(0, Math.floor((this.maxBinding - 64) / perRow));
    if (bBytes > this.maxBinding || rowsPer === 0 || (args.transA && span(k, m, args.lda) * esz > this.maxBinding)) {
      inc(this.counts.fallbacks, 'gemm:too-large');
      this.cpu.gemm!(args);
      return;
    }
    for (let i0 = 0; i0 < m; i0 += rowsPer) {
      const mi = Math.min(rowsPer, m - i0);
      const sub: GemmArgs = { ...args, m: mi, aOffset: args.aOffset + (args.transA ? i0 : i0 * args.lda), cOffset: args.cOffset + i0 * args.ldc };
      if (!(df32 ? this.gemmDf32OnGpu(sub, scaleA, scaleB) : this.gemmOnGpu(sub, f64))) {
        this.cpu.gemm!(sub);
      }
    }
  }

  /** Copies the rows × cols view of `src` (scaled by `scale`, a power of two) into a segment of (hi, lo) f32 pairs, compact (leading dimension cols). */
  private putPairs(src: FloatArray, off: number, rows: number, cols: number, ld: number, scale: number): { seg: number; len: number } {
    const len = 2 * rows * cols,
      at = this.alloc(len * 4),
      out = new Float32Array(this.arena, at, len);
    let w = 0;
    for (let i = 0; i < rows; i++) {
      const o = off + i * ld;
      for (let j = 0; j < cols; j++) {
        const v = src[o + j]! * scale,
          hi = Math.fround(v);
        out[w++] = hi;
        out[w++] = Math.fround(v - hi);
      }
    }
    this.counts.uploadedBytes += len * 4;
    return { seg: at, len };
  }

  /** One f64 GEMM in double-f32 on the GPU (operands scaled by powers of two): C = alpha·op(A)op(B) + beta·C, epilogue in f64. */
  private gemmDf32OnGpu(args: GemmArgs, scaleA: number, scaleB: number): boolean {
    if (!this.usable()) {
      inc(this.counts.fallbacks, 'gemm:device-lost');
      return false;
    }
    const { m, n, k } = args;
    const rA = args.transA ? k : m,
      cA = args.transA ? m : k,
      rB = args.transB ? n : k,
      cB = args.transB ? k : n;
    this.begin(16 * 3 + 8 * (rA * cA + rB * cB + m * n));
    const a = this.putPairs(args.a, args.aOffset, rA, cA, args.lda, scaleA);
    const b =
      args.b === args.a && args.bOffset === args.aOffset && rB === rA && cB === cA && args.ldb === args.lda && scaleA === scaleB
        ? a
        : this.putPairs(args.b, args.bOffset, rB, cB, args.ldb, scaleB);
    const c = { seg: this.alloc(8 * m * n), len: 2 * m * n };
    if (!this.call({ op: 'gemmDf32', transA: args.transA, transB: args.transB, m, n, k, a, lda: cA, b, ldb: cB, c }, 'gemm')) return false;
    const out = this.view(c);
    const C = args.c,
      f = args.alpha / (scaleA * scaleB),
      be = args.beta;
    for (let i = 0; i < m; i++) {
      const ro = args.cOffset + i * args.ldc,
        so = 2 * i * n;
      if (be === 0) for (let j = 0; j < n; j++) C[ro + j] = f * (out[so + 2 * j]! + out[so + 2 * j + 1]!);
      else for (let j = 0; j < n; j++) C[ro + j] = f * (out[so + 2 * j]! + out[so + 2 * j + 1]!) + be * C[ro + j]!;
    }
    inc(this.counts.gpu, 'gemm');
    inc(this.counts.gpu, 'gemm:df32');
    return true;
  }

  private gemmOnGpu(args: GemmArgs, f64: boolean): boolean {
    if (!this.usable()) {
      inc(this.counts.fallbacks, 'gemm:device-lost');
      return false;
    }
    const { m, n, k } = args;
    const rA = args.transA ? k : m,
      cA = args.transA ? m : k,
      rB = args.transB ? n : k,
      cB = args.transB ? k : n;
    const sA = span(rA, cA, args.lda),
      sB = span(rB, cB, args.ldb),
      sC = span(m, n, args.ldc);
    this.begin(16 * 3 + 4 * (sA + sB + sC));
    const seen: Array<[FloatArray, number, Operand]> = [];
    const a = this.operand(args.a, args.aOffset, rA, cA, args.lda, seen);
    const b = this.operand(args.b, args.bOffset, rB, cB, args.ldb, seen);
    // f32: C travels in when beta != 0 (and is accumulated on the GPU); f64: the GPU computes op(A)op(B) and the CPU adds it in f64
    const beta = f64 ? 0 : args.beta,
      alpha = f64 ? 1 : args.alpha;
    const c = beta !== 0 ? this.put(args.c, args.cOffset, sC) : this.outSeg(sC);
    if (
      !this.call(
        {
          op: 'gemm',
          transA: args.transA,
          transB: args.transB,
          m,
          n,
          k,
          alpha,
          beta,
          a: a.op,
          aOffset: a.off,
          lda: args.lda,
          b: b.op,
          bOffset: b.off,
          ldb: args.ldb,
          c,
          ldc: args.ldc,
        },
        'gemm',
      )
    )
      return false;
    const out = this.view(c);
    const C = args.c;
    for (let i = 0; i < m; i++) {
      const ro = args.cOffset + i * args.ldc,
        so = i * args.ldc;
      if (!f64) {
        (C as Float32Array).set(out.subarray(so, so + n), ro);
        continue;
      }
      const al = args.alpha,
        be = args.beta;
      if (be === 0) for (let j = 0; j < n; j++) C[ro + j] = al * out[so + j]!;
      else for (let j = 0; j < n; j++) C[ro + j] = al * out[so + j]! + be * C[ro + j]!;
    }
    inc(this.counts.gpu, 'gemm');
    return true;
  }

  gemv(args: GemvArgs): void {
    const { m, n } = args ?? ({} as GemvArgs);
    const ok =
      args &&
      isInt(m) &&
      isInt(n) &&
      isInt(args.lda) &&
      isInt(args.aOffset) &&
      isInt(args.xOffset) &&
      isInt(args.yOffset) &&
      (args.a instanceof Float32Array || args.a instanceof Float64Array) &&
      args.x?.constructor === args.a.constructor &&
      args.y?.constructor === args.a.constructor &&
      Number.isFinite(args.alpha) &&
      Number.isFinite(args.beta);
    if (!ok || m * n === 0) {
      if (ok) inc(this.counts.routed, 'gemv:empty');
      this.cpu.gemv!(args);
      return;
    }
    if (2 * m * n < this.minFlops) {
      inc(this.counts.routed, 'gemv:small');
      this.cpu.gemv!(args);
      return;
    }
    const lx = args.trans ? m : n,
      ly = args.trans ? n : m;
    const f64 = args.a instanceof Float64Array;
    if (
      f64 &&
      (this.f64 === 'cpu' ||
        ((this.f64 === 'exact' || this.f64 === 'df32') && !(f32Exact(args.a, args.aOffset, m, n, args.lda) && f32Exact(args.x, args.xOffset, 1, lx, lx))))
    ) {
      inc(this.counts.routed, 'gemv:f64');
      this.cpu.gemv!(args);
      return;
    }
    if (args.lda < n || args.aOffset + span(m, n, args.lda) > args.a.length || args.xOffset + lx > args.x.length || args.yOffset + ly > args.y.length) {
      this.cpu.gemv!(args);
      return;
    }
    if (span(m, n, args.lda) * 4 > this.maxBinding) {
      inc(this.counts.fallbacks, 'gemv:too-large');
      this.cpu.gemv!(args);
      return;
    }
    if (!this.usable()) {
      inc(this.counts.fallbacks, 'gemv:device-lost');
      this.cpu.gemv!(args);
      return;
    }
    this.begin(48 + 4 * (span(m, n, args.lda) + lx + ly));
    const a = this.operand(args.a, args.aOffset, m, n, args.lda, []);
    const x = this.put(args.x, args.xOffset, lx);
    const beta = f64 ? 0 : args.beta,
      alpha = f64 ? 1 : args.alpha;
    const y = beta !== 0 ? this.put(args.y, args.yOffset, ly) : this.outSeg(ly);
    if (!this.call({ op: 'gemv', trans: args.trans, m, n, alpha, beta, a: a.op, aOffset: a.off, lda: args.lda, x, y }, 'gemv')) {
      this.cpu.gemv!(args);
      return;
    }
    const out = this.view(y);
    if (!f64) (args.y as Float32Array).set(out, args.yOffset);
    else for (let i = 0; i < ly; i++) args.y[args.yOffset + i] = args.alpha * out[i]! + (args.beta === 0 ? 0 : args.beta * args.y[args.yOffset + i]!);
    inc(this.counts.gpu, 'gemv');
  }

  private elementwiseOnGpu(name: string, n: number, arrays: FloatArray[]): boolean {
    if (!isInt(n) || n === 0 || n < this.minElements) {
      inc(this.counts.routed, `${name}:small`);
      return false;
    }
    if (!arrays.every((x) => x instanceof Float32Array && x.length >= n)) {
      inc(this.counts.routed, `${name}:f64`);
      return false;
    }
    if (n * 4 > this.maxBinding) {
      inc(this.counts.fallbacks, `${name}:too-large`);
      return false;
    }
    if (!this.usable()) {
      inc(this.counts.fallbacks, `${name}:device-lost`);
      return false;
    }
    return true;
  }

  binary(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): void {
    if (!GPU_BINARY.has(op)) {
      inc(this.counts.routed, `binary:${String(op)}`);
      (this.cpu.binary ?? referenceBackend.binary!).call(this.cpu, op, a, b, out, n);
      return;
    }
    if (!this.elementwiseOnGpu('binary', n, typeof b === 'number' ? [a, out] : [a, b, out])) {
      this.cpu.binary ? this.cpu.binary(op, a, b, out, n) : referenceBackend.binary!(op, a, b, out, n);
      return;
    }
    this.begin(64 + 12 * n);
    const sa = this.put(a, 0, n),
      sb = typeof b === 'number' ? b : this.put(b, 0, n),
      so = this.outSeg(n);
    if (!this.call({ op: 'binary', kind: op, n, a: sa, b: sb, out: so }, 'binary')) {
      (this.cpu.binary ?? referenceBackend.binary!).call(this.cpu, op, a, b, out, n);
      return;
    }
    (out as Float32Array).set(this.view(so));
    inc(this.counts.gpu, 'binary');
  }

  unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void {
    if (!GPU_UNARY.has(op)) {
      inc(this.counts.routed, `unary:${String(op)}`);
      (this.cpu.unary ?? referenceBackend.unary!).call(this.cpu, op, a, out, n);
      return;
    }
    if (!this.elementwiseOnGpu('unary', n, [a, out])) {
      (this.cpu.unary ?? referenceBackend.unary!).call(this.cpu, op, a, out, n);
      return;
    }
    this.begin(64 + 8 * n);
    const sa = this.put(a, 0, n),
      so = this.outSeg(n);
    if (!this.call({ op: 'unary', kind: op, n, a: sa, out: so }, 'unary')) {
      (this.cpu.unary ?? referenceBackend.unary!).call(this.cpu, op, a, out, n);
      return;
    }
    (out as Float32Array).set(this.view(so));
    inc(this.counts.gpu, 'unary');
  }

  reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): number {
    const cpu = () => (this.cpu.reduce ?? referenceBackend.reduce!).call(this.cpu, op, a, offset, n);
    if (!isInt(offset) || !(a instanceof Float32Array || a instanceof Float64Array) || offset + n > a.length) return cpu();
    if (!GPU_REDUCE.has(op)) {
      inc(this.counts.routed, `reduce:${String(op)}`);
      return cpu();
    }
    if (!this.elementwiseOnGpu('reduce', n, [a.subarray(offset)])) return cpu();
    this.begin(32 + 4 * n);
    const sa = this.put(a, offset, n);
    if (!this.call({ op: 'reduce', kind: op, n, a: sa }, 'reduce')) return cpu();
    inc(this.counts.gpu, 'reduce');
    return new Float64Array(this.ctrl, RESULT_BYTE, 1)[0]!;
  }

  /** int4 GEMV (layout of `Int4GemvArgs`): on the GPU above the threshold, else the CPU backend's routine. */
  int4Gemv(p: Int4GemvArgs): void {
    const cpu = () => routine(this.cpu, 'int4Gemv')(p);
    const m = p?.m,
      n = p?.n,
      g = p?.groupSize;
    // groups of g columns per row, the last one ragged when g does not divide n (layout: @llmpress/tensor int4.ts)
    const groups = isInt(n) && isInt(g) && g > 0 ? Math.ceil(n / g) : 0;
    const ok =
      p &&
      isInt(m) &&
      isInt(n) &&
      isInt(g) &&
      g > 0 &&
      n % 2 === 0 &&
      p.w instanceof Uint8Array &&
      p.w.length >= (m * n) / 2 &&
      p.scales instanceof Float32Array &&
      p.scales.length >= m * groups &&
      p.x instanceof Float32Array &&
      p.x.length >= n &&
      p.y instanceof Float32Array &&
      p.y.length >= m &&
      (p.alpha === undefined || Number.isFinite(p.alpha)) &&
      (p.beta === undefined || Number.isFinite(p.beta));
    // anything unusual: the CPU backend validates and throws its typed error
    if (!ok || m * n === 0 || 2 * m * n < this.minFlops) {
      if (ok) inc(this.counts.routed, m * n === 0 ? 'int4Gemv:empty' : 'int4Gemv:small');
      cpu();
      return;
    }
    if (!this.usable()) {
      inc(this.counts.fallbacks, 'int4Gemv:device-lost');
      cpu();
      return;
    }
    const wb = (m * n) / 2,
      ns = m * groups,
      alpha = p.alpha ?? 1,
      beta = p.beta ?? 0;
    this.begin(80 + wb + 4 * (ns + n + m));
    const wAt = this.alloc(wb);
    new Uint8Array(this.arena, wAt, wb).set(p.w.subarray(0, wb));
    this.counts.uploadedBytes += wb;
    const scales = this.put(p.scales, 0, ns),
      x = this.put(p.x, 0, n);
    const y = beta !== 0 ? this.put(p.y, 0, m) : this.outSeg(m);
    if (!this.call({ op: 'int4Gemv', m, n, groupSize: g, alpha, beta, w: { byte: wAt, bytes: wb }, scales, x, y }, 'int4Gemv')) {
      cpu();
      return;
    }
    p.y.set(this.view(y));
    inc(this.counts.gpu, 'int4Gemv');
  }

  // integer-activation kernels have no WebGPU version yet: the CPU backend's (counted as routed)
  w4a8Gemv(p: Parameters<NonNullable<Backend['w4a8Gemv']>>[0]): void {
    inc(this.counts.routed, 'w4a8Gemv:cpu-only');
    routine(this.cpu, 'w4a8Gemv')(p);
  }
  w4a8Gemm(p: Parameters<NonNullable<Backend['w4a8Gemm']>>[0]): void {
    inc(this.counts.routed, 'w4a8Gemm:cpu-only');
    routine(this.cpu, 'w4a8Gemm')(p);
  }
  w4a4Gemm(p: Parameters<NonNullable<Backend['w4a4Gemm']>>[0]): void {
    inc(this.counts.routed, 'w4a4Gemm:cpu-only');
    routine(this.cpu, 'w4a4Gemm')(p);
  }

  // ------------------------------------------------------------ residency, stats, lifecycle

  pin(array: FloatArray): void {
    if (!(array instanceof Float32Array)) return;
    if (!this.usable()) return;
    let id = this.pins.get(array);
    const fresh = id === undefined;
    if (fresh) id = this.nextPin++;
    if (array.length * 4 > this.maxBinding) return;
    this.begin(16 + array.length * 4);
    const s = this.put(array, 0, array.length);
    if (!this.call({ op: 'pin', id: id!, kind: 'f32', seg: s.seg, len: s.len }, 'pin')) return;
    if (fresh) {
      this.pins.set(array, id!);
      this.pinCount++;
      this.registry?.register(array, id!, array);
    }
  }

  unpin(array: FloatArray): void {
    const id = this.pins.get(array);
    if (id === undefined) return;
    this.pins.delete(array);
    this.pinCount--;
    this.registry?.unregister(array);
    if (this.usable()) this.call({ op: 'unpin', id }, 'unpin');
  }

  stats(): WebGpuSyncStats {
    const s: WebGpuSyncStats = {
      gpu: { ...this.counts.gpu },
      routed: { ...this.counts.routed },
      fallbacks: { ...this.counts.fallbacks },
      uploadedBytes: this.counts.uploadedBytes,
      downloadedBytes: this.counts.downloadedBytes,
      pinned: this.pinCount,
      f64: { policy: this.f64 === 'exact' ? 'exact-f32-only' : this.f64, selfTest: this.df32SelfTest },
      lost: this.disposed ? this.isLost : !this.usable(),
    };
    if (!this.isLost && !this.disposed) {
      this.begin(0);
      if (this.call({ op: 'stats' }, 'stats')) {
        try {
          s.device = JSON.parse(readText(this.ctrl));
        } catch {
          /* partial text */
        }
      }
      s.lost = this.isLost;
    }
    return s;
  }

  resetStats(): void {
    this.counts = { gpu: {}, routed: {}, fallbacks: {}, uploadedBytes: 0, downloadedBytes: 0 };
  }

  simulateDeviceLoss(): void {
    if (!this.usable()) return;
    this.begin(0);
    this.call({ op: 'lose' }, 'lose');
    // the device's `lost` promise settles on the GPU thread's event loop: wait (bounded) for its flag
    Atomics.wait(this.i32, LOST, 0, 2000);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    if (!this.isLost) {
      try {
        this.begin(0);
        this.call({ op: 'dispose' }, 'dispose');
      } catch {
        /* gone */
      }
    }
    this.disposed = true;
    await this.thread.terminate();
    if (this.options.disposeCpu) await this.cpu.dispose?.();
  }
}
