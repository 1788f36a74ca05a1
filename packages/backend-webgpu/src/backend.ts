/**
 * The WebGPU backend: f32 WGSL kernels behind the async routines of the backend contract.
 * Web-standard APIs only (works with `navigator.gpu` in browsers and with the `webgpu` package's
 * GPU object in Node, see `./node`).
 */
import {
  ArgumentError, DTypeError, LlmpressError, referenceBackend,
  type Backend, type BackendCapabilities, type BinaryOp, type FloatArray, type GemmArgs, type GemvArgs, type ReduceOp, type UnaryOp,
} from '@llmpress/tensor';
import { DeviceLostError, ShaderCompileError, WebGpuError, type ShaderMessage } from './errors.js';
import { BufferPool, type PoolStats } from './pool.js';
import {
  binaryShader, ELEMENTWISE_UNIFORM_BYTES, ELEMENTWISE_WG, gemmShader, gemmTile, GEMM_UNIFORM_BYTES, gemvShader,
  GEMV_UNIFORM_BYTES, GEMV_WG, reduceShader, REDUCE_MAX_GROUPS, REDUCE_WG, unaryShader, type GemmKernel,
  int4GemvShader, int4DequantShader, int4QuantShader,
} from './shaders.js';
import {
  checkInt4Shape, checkTyped, dequantizeInt4Reference, int4GemvReference, quantizeInt4Reference,
  type Int4GemvArgs, type Int4Packed, type Int4QuantizeArgs,
} from './int4.js';

// GPUBufferUsage / GPUMapMode values (spelled out: Node has no such globals unless installed).
const U = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ = 0x1;
const STORAGE_IN = U.STORAGE | U.COPY_DST;
const STORAGE_OUT = U.STORAGE | U.COPY_SRC | U.COPY_DST;

export interface WebGpuBackendOptions {
  /** The GPU entry point; defaults to `navigator.gpu`. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * GEMM kernel family. `auto` (default) picks `register` (no workgroup memory) on software
   * adapters (lavapipe, SwiftShader, WARP) and `tiled` (shared-memory tiles) on real GPUs.
   */
  gemmKernel?: 'auto' | GemmKernel;
  /**
   * What routines do after the device is lost: `fallback` (default) computes on the reference
   * backend (inputs stay on the CPU, so results are still correct); `reject` throws `DeviceLostError`.
   */
  onDeviceLost?: 'fallback' | 'reject';
  /** Called with the reason when the factory returns null (no WebGPU, no adapter, no device). */
  onUnavailable?: (reason: string) => void;
  /** Called once when the device is lost. */
  onLost?: (error: DeviceLostError) => void;
  /**
   * Largest buffer binding a call may use, in bytes (default and upper bound: the device's
   * `maxStorageBufferBindingSize`). Larger calls run on the reference backend, counted as `too-large`.
   */
  maxBindingBytes?: number;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe, SwiftShader, WARP) or the adapter says it is a fallback adapter. */
  software: boolean;
}

export interface WebGpuStats {
  dispatches: number;
  uploadedBytes: number;
  downloadedBytes: number;
  pipelinesCompiled: number;
  pipelineCacheHits: number;
  /** Errors no error scope caught (reported by the device's `uncapturederror` event). */
  uncapturedErrors: number;
  /** The last uncaptured error's message, if any. */
  lastUncapturedError?: string;
  /** Calls computed on the reference backend, by reason (`f64`, `device-lost`, `too-large`). */
  fallbacks: Record<string, number>;
  pool: PoolStats;
}

export interface KernelTiming {
  /** Median GPU time of one kernel run in ms (timestamp queries) or wall time per run when unavailable. */
  ms: number;
  method: 'timestamp-query' | 'wall-clock';
  runs: number;
}

/** The WebGPU backend: all routines are async (`syncRead: false`). */
export interface WebGpuBackend extends Backend {
  gemmAsync(args: GemmArgs): Promise<void>;
  gemvAsync(args: GemvArgs): Promise<void>;
  binaryAsync(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): Promise<void>;
  unaryAsync(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): Promise<void>;
  reduceAsync(op: ReduceOp, a: FloatArray, offset: number, n: number): Promise<number>;
  readonly adapter: AdapterSummary;
  readonly gemmKernel: GemmKernel;
  /** The limits the device was created with (a subset, as plain numbers). */
  readonly limits: Readonly<Record<string, number>>;
  /** Optional features enabled on the device (`shader-f16`, `timestamp-query`). */
  readonly deviceFeatures: readonly string[];
  /** True once the device is lost (routines then follow `onDeviceLost`). */
  readonly lost: boolean;
  stats(): WebGpuStats;
  /** Compiles (or fetches from the cache) a compute pipeline with entry point `main`. */
  compile(label: string, source: string): Promise<GPUComputePipeline>;
  /** Times the GEMM / GEMV kernels on device-resident random data (no transfers). */
  timeGemm(shape: { m: number; n: number; k: number; transA?: boolean; transB?: boolean }, runs?: number): Promise<KernelTiming>;
  timeGemv(shape: { m: number; n: number; trans?: boolean }, runs?: number): Promise<KernelTiming>;
  /** y = alpha · dequant(W) · x + beta · y for packed symmetric int4 weights (layout: see `int4.ts`). */
  int4GemvAsync(args: Int4GemvArgs): Promise<void>;
  /** Symmetric per-group int4 quantization of a row-major m × n f32 matrix. */
  quantizeInt4Async(args: Int4QuantizeArgs): Promise<Int4Packed>;
  /** The f32 matrix the packed codes and scales stand for. */
  dequantizeInt4Async(args: Int4Packed): Promise<Float32Array>;
  /**
   * Uploads `array` once and keeps it on the device: later calls that pass this same array object
   * (as GEMM `a`/`b` or GEMV `a`/`x`, any offset) read the resident copy instead of uploading.
   * The resident copy is a SNAPSHOT: after changing the array on the CPU, call `pin` again
   * (re-uploads) or `unpin`. For weights that do not change.
   */
  pin(array: Float32Array): void;
  unpin(array: Float32Array): void;
  /** Test hook: destroys the device as a driver reset would (the backend stays usable per `onDeviceLost`). */
  simulateDeviceLoss(): void;
  dispose(): Promise<void>;
}

const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
] as const;
const OPTIONAL_FEATURES = ['shader-f16', 'timestamp-query'] as const;

function summarize(adapter: GPUAdapter): AdapterSummary {
  const info: any = (adapter as any).info ?? {};
  const s = (x: unknown) => (typeof x === 'string' ? x : '');
  const vendor = s(info.vendor), architecture = s(info.architecture), device = s(info.device), description = s(info.description);
  const text = `${vendor} ${architecture} ${device} ${description}`;
  const software = Boolean(info.isFallbackAdapter || (adapter as any).isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software|warp|microsoft basic|\bcpu\b/i.test(text);
  return { vendor, architecture, device, description, software };
}

/**
 * Creates the WebGPU backend, or returns `null` when WebGPU cannot run here (no `navigator.gpu`,
 * no adapter, device request refused). Never throws for those; `onUnavailable` gets the reason.
 */
export async function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend | null> {
  const unavailable = (reason: string) => { options.onUnavailable?.(reason); return null; };
  const gpu: GPU | undefined = options.gpu ?? (globalThis as any).navigator?.gpu;
  if (!gpu || typeof gpu.requestAdapter !== 'function') return unavailable('WebGPU is not available (no navigator.gpu and no `gpu` option)');
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
  } catch (e) {
    return unavailable(`requestAdapter failed: ${(e as Error)?.message ?? e}`);
  }
  if (!adapter) return unavailable('requestAdapter returned null (no WebGPU adapter on this machine)');
  const requiredLimits: Record<string, number> = {};
  for (const k of REQUESTED_LIMITS) {
    const v = (adapter.limits as any)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'llmpress' });
  } catch (e) {
    return unavailable(`requestDevice failed: ${(e as Error)?.message ?? e}`);
  }
  if (options.maxBindingBytes !== undefined && !(typeof options.maxBindingBytes === 'number' && options.maxBindingBytes > 0)) {
    device.destroy();
    throw new ArgumentError('createWebGpuBackend', 'options.maxBindingBytes', options.maxBindingBytes, 'must be a positive number of bytes');
  }
  if (options.gemmKernel !== undefined && !['auto', 'tiled', 'register'].includes(options.gemmKernel)) {
    device.destroy();
    throw new ArgumentError('createWebGpuBackend', 'options.gemmKernel', options.gemmKernel, "must be 'auto', 'tiled' or 'register'");
  }
  return new WebGpuBackendImpl(device, summarize(adapter), options) as WebGpuBackend;
}

interface Binding { buffer: GPUBuffer; size: number }
interface Pass { pipeline: GPUComputePipeline; bindings: Binding[]; groups: readonly [number, number, number] }

function isF32(...xs: FloatArray[]): boolean { return xs.every((x) => x instanceof Float32Array); }

function checkInt(fn: string, arg: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ArgumentError(fn, arg, v, `must be an integer >= ${min}`);
  return v;
}
function checkArray(fn: string, arg: string, v: unknown): FloatArray {
  if (!(v instanceof Float32Array) && !(v instanceof Float64Array)) throw new ArgumentError(fn, arg, v, 'must be a Float32Array or Float64Array');
  return v;
}
/** Elements a row-major rows × cols view with leading dimension ld spans. */
function span(rows: number, cols: number, ld: number): number { return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols; }

class WebGpuBackendImpl implements WebGpuBackend {
  readonly name = 'webgpu';
  readonly capabilities: BackendCapabilities;
  readonly adapter: AdapterSummary;
  readonly gemmKernel: GemmKernel;
  readonly limits: Readonly<Record<string, number>>;
  readonly deviceFeatures: readonly string[];
  readonly extra: Readonly<Record<string, (...args: any[]) => any>>;
  private readonly pool: BufferPool;
  private readonly cache = new Map<string, Promise<GPUComputePipeline>>();
  private lostError: DeviceLostError | null = null;
  private readonly lostSignal: Promise<never>;
  private disposed = false;
  private warnedLost = false;
  private readonly counters: { dispatches: number; uploadedBytes: number; downloadedBytes: number; pipelinesCompiled: number; pipelineCacheHits: number; uncapturedErrors: number; lastUncapturedError?: string } =
    { dispatches: 0, uploadedBytes: 0, downloadedBytes: 0, pipelinesCompiled: 0, pipelineCacheHits: 0, uncapturedErrors: 0 };
  private readonly fallbackCounts: Record<string, number> = {};
  private readonly pinned = new WeakMap<FloatArray, GPUBuffer>();
  private readonly pinnedBuffers = new Set<GPUBuffer>();

  constructor(private readonly device: GPUDevice, adapter: AdapterSummary, private readonly options: WebGpuBackendOptions) {
    this.adapter = adapter;
    const k = options.gemmKernel ?? 'auto';
    this.gemmKernel = k === 'auto' ? (adapter.software ? 'register' : 'tiled') : k;
    const lim: Record<string, number> = {};
    for (const key of REQUESTED_LIMITS) lim[key] = Number((device.limits as any)[key]);
    this.limits = Object.freeze(lim);
    this.deviceFeatures = Object.freeze(OPTIONAL_FEATURES.filter((f) => device.features.has(f)));
    this.capabilities = Object.freeze({ dtypes: ['f32'] as const, syncRead: false, threads: 1, features: ['webgpu', ...this.deviceFeatures, `gemm-${this.gemmKernel}`, ...(adapter.software ? ['software-adapter'] : [])] });
    this.pool = new BufferPool(device);
    try {
      device.addEventListener?.('uncapturederror', (ev: any) => {
        this.counters.uncapturedErrors++;
        this.counters.lastUncapturedError = String(ev?.error?.message ?? ev);
      });
    } catch { /* implementations without EventTarget on GPUDevice: the counter stays 0 */ }
    this.lostSignal = new Promise<never>((_, reject) => {
      device.lost.then((info) => {
        const err = new DeviceLostError('webgpu', String(info?.reason ?? 'unknown'), String(info?.message ?? ''));
        this.lostError = err;
        if (!this.disposed) this.options.onLost?.(err);
        reject(err);
      });
    });
    this.lostSignal.catch(() => {});
    this.extra = Object.freeze({
      stats: () => this.stats(),
      compile: (label: string, source: string) => this.compile(label, source),
      timeGemm: (shape: any, runs?: number) => this.timeGemm(shape, runs),
      timeGemv: (shape: any, runs?: number) => this.timeGemv(shape, runs),
      int4GemvAsync: (a: Int4GemvArgs) => this.int4GemvAsync(a),
      pin: (a: Float32Array) => this.pin(a),
      unpin: (a: Float32Array) => this.unpin(a),
      quantizeInt4Async: (a: Int4QuantizeArgs) => this.quantizeInt4Async(a),
      dequantizeInt4Async: (a: Int4Packed) => this.dequantizeInt4Async(a),
    });
  }

  get lost(): boolean { return this.lostError !== null && !this.disposed; }

  stats(): WebGpuStats { return { ...this.counters, fallbacks: { ...this.fallbackCounts }, pool: this.pool.stats() }; }

  private guard<T>(p: Promise<T>): Promise<T> { return Promise.race([p, this.lostSignal]); }

  private fallback(reason: string): void { this.fallbackCounts[reason] = (this.fallbackCounts[reason] ?? 0) + 1; }

  private checkUsable(fn: string): void {
    if (this.disposed) throw new LlmpressError(fn, 'the WebGPU backend was disposed', 'E_DISPOSED');
  }

  /** Runs the GPU path; after a device loss follows the `onDeviceLost` policy. */
  private async exec<T>(fn: string, gpu: () => Promise<T>, cpu: () => T): Promise<T> {
    this.checkUsable(fn);
    if (!this.lostError) {
      try {
        return await gpu();
      } catch (e) {
        if (!this.lostError && !DeviceLostError.isInstance(e)) throw e;
      }
    }
    const err = this.lostError ?? new DeviceLostError(fn, 'unknown', 'device lost');
    if ((this.options.onDeviceLost ?? 'fallback') === 'reject') throw new DeviceLostError(fn, err.reason, err.message);
    if (!this.warnedLost) {
      this.warnedLost = true;
      if (!this.options.onLost) console.warn(`[llmpress] ${err.message}; WebGPU routines now run on the reference backend`);
    }
    this.fallback('device-lost');
    return cpu();
  }

  compile(label: string, source: string): Promise<GPUComputePipeline> {
    const fn = 'WebGpuBackend.compile';
    this.checkUsable(fn);
    const hit = this.cache.get(source);
    if (hit) { this.counters.pipelineCacheHits++; return hit; }
    const device = this.device;
    const p = (async () => {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ label, code: source });
      const scope = device.popErrorScope();
      const info = await this.guard(module.getCompilationInfo());
      const lines = source.split('\n');
      const messages: ShaderMessage[] = info.messages.map((m) => ({
        type: m.type, line: m.lineNum, column: m.linePos, message: m.message, source: lines[m.lineNum - 1] ?? '',
      }));
      const scopeError = await this.guard(scope);
      if (messages.some((m) => m.type === 'error')) throw new ShaderCompileError(fn, label, messages);
      if (scopeError) throw new ShaderCompileError(fn, label, [{ type: 'error', line: 0, column: 0, message: scopeError.message, source: '' }]);
      try {
        const pipeline = await this.guard(device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint: 'main' } }));
        this.counters.pipelinesCompiled++;
        return pipeline;
      } catch (e) {
        if (DeviceLostError.isInstance(e)) throw e;
        throw new ShaderCompileError(fn, label, [{ type: 'error', line: 0, column: 0, message: `pipeline creation failed: ${(e as Error)?.message ?? e}`, source: '' }]);
      }
    })();
    this.cache.set(source, p);
    p.catch(() => this.cache.delete(source));
    return p;
  }

  pin(array: Float32Array): void {
    const fn = 'WebGpuBackend.pin';
    this.checkUsable(fn);
    if (!(array instanceof Float32Array)) throw new DTypeError(fn, `argument 'array' must be a Float32Array, got ${array === null ? 'null' : typeof array === 'object' ? (array as object).constructor?.name : typeof array}`);
    if (!this.fits(array.length * 4)) throw new ArgumentError(fn, 'array', array, `must fit one storage binding (${this.limits.maxStorageBufferBindingSize} bytes)`);
    this.unpin(array);
    const buf = this.device.createBuffer({ size: Math.max(4, array.length * 4), usage: STORAGE_IN, label: 'llmpress-pinned' });
    if (array.length) this.device.queue.writeBuffer(buf, 0, array as Float32Array<ArrayBuffer>, 0, array.length);
    this.counters.uploadedBytes += array.length * 4;
    this.pinned.set(array, buf);
    this.pinnedBuffers.add(buf);
  }

  unpin(array: Float32Array): void {
    const buf = this.pinned.get(array);
    if (!buf) return;
    this.pinned.delete(array);
    this.pinnedBuffers.delete(buf);
    try { buf.destroy(); } catch { /* device gone */ }
  }

  /** A storage binding for `count` elements of `data` from `offset`: the pinned copy, or a fresh upload (a temp). */
  private operand(data: Float32Array, offset: number, count: number): { buffer: GPUBuffer; size: number; off: number; temp: GPUBuffer | null } {
    const res = this.pinned.get(data);
    if (res) return { buffer: res, size: Math.max(4, data.length * 4), off: offset, temp: null };
    const buf = this.upload(data, offset, count);
    return { buffer: buf, size: count * 4, off: 0, temp: buf };
  }

  private upload(data: Float32Array, offset: number, count: number): GPUBuffer {
    const buf = this.pool.acquire(Math.max(4, count * 4), STORAGE_IN, 'llmpress-in');
    if (count > 0) this.device.queue.writeBuffer(buf, 0, data as Float32Array<ArrayBuffer>, offset, count);
    this.counters.uploadedBytes += count * 4;
    return buf;
  }

  private uniform(values: readonly (['u32' | 'f32', number])[], bytes: number): GPUBuffer {
    const ab = new ArrayBuffer(bytes);
    const u = new Uint32Array(ab), f = new Float32Array(ab);
    values.forEach(([t, v], i) => { if (t === 'u32') u[i] = v; else f[i] = v; });
    const buf = this.pool.acquire(bytes, U.UNIFORM | U.COPY_DST, 'llmpress-uniform');
    this.device.queue.writeBuffer(buf, 0, ab);
    return buf;
  }

  /** Splits a 1-D count of workgroups over x and y (each at most maxComputeWorkgroupsPerDimension). */
  private grid1d(groups: number): [number, number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension || 65535;
    if (groups <= max) return [Math.max(1, groups), 1, 1];
    const y = Math.ceil(groups / max);
    if (y > max) throw new LlmpressError('webgpu', `dispatch of ${groups} workgroups exceeds the device limit`, 'E_TOO_LARGE');
    return [max, y, 1];
  }

  private gemvGroups(trans: boolean, m: number, n: number): [number, number, number] {
    if (trans) return this.grid1d(Math.ceil(n / GEMV_WG));
    return this.gemmKernel === 'register' ? this.grid1d(Math.ceil(m / GEMV_WG)) : this.grid1d(m);
  }

  private fits(...bytes: number[]): boolean {
    const lim = Math.min(this.limits.maxStorageBufferBindingSize || 134217728, this.limits.maxBufferSize || Infinity, this.options.maxBindingBytes ?? Infinity);
    return bytes.every((b) => b <= lim);
  }

  /**
   * Encodes the passes, copies `read` into a staging buffer, submits, waits for the readback and
   * returns a copy of it. Validation and out-of-memory errors of the whole submission are caught
   * with error scopes; every temporary buffer goes back to the pool (or is destroyed on error).
   */
  private async run(fn: string, passes: Pass[], temps: GPUBuffer[], read: Binding): Promise<Float32Array> {
    return new Float32Array((await this.runMulti(fn, passes, temps, [read]))[0]!);
  }

  private async runMulti(fn: string, passes: Pass[], temps: GPUBuffer[], reads: Binding[]): Promise<ArrayBuffer[]> {
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const stagings = reads.map((r) => this.pool.acquire(r.size, U.MAP_READ | U.COPY_DST, 'llmpress-staging'));
    const enc = device.createCommandEncoder({ label: fn });
    for (const p of passes) {
      const bg = device.createBindGroup({
        layout: p.pipeline.getBindGroupLayout(0),
        entries: p.bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buffer, offset: 0, size: Math.max(4, Math.ceil(b.size / 4) * 4) } })),
      });
      const pass = enc.beginComputePass({ label: fn });
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(p.groups[0], p.groups[1], p.groups[2]);
      pass.end();
      this.counters.dispatches++;
    }
    reads.forEach((r, i) => enc.copyBufferToBuffer(r.buffer, 0, stagings[i]!, 0, r.size));
    device.queue.submit([enc.finish()]);
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    let ok = false;
    try {
      const [v, o] = await this.guard(Promise.all([validation, oom]));
      if (v) throw new WebGpuError(fn, 'validation', v.message);
      if (o) throw new WebGpuError(fn, 'out-of-memory', o.message);
      await this.guard(Promise.all(stagings.map((st, i) => st.mapAsync(MAP_READ, 0, reads[i]!.size))));
      const out = stagings.map((st, i) => {
        const copy = st.getMappedRange(0, reads[i]!.size).slice(0);
        st.unmap();
        this.counters.downloadedBytes += reads[i]!.size;
        return copy;
      });
      ok = true;
      return out;
    } finally {
      for (const b of [...temps, ...stagings]) {
        if (ok) this.pool.release(b);
        else { try { this.pool.discard(b); } catch { /* device gone */ } }
      }
    }
  }

  // ---------------------------------------------------------------- GEMM

  private checkGemm(fn: string, p: GemmArgs) {
    if (typeof p !== 'object' || p === null) throw new ArgumentError(fn, 'args', p, 'must be a GemmArgs object');
    const m = checkInt(fn, 'm', p.m), n = checkInt(fn, 'n', p.n), k = checkInt(fn, 'k', p.k);
    for (const a of ['a', 'b', 'c'] as const) checkArray(fn, a, p[a]);
    for (const o of ['aOffset', 'bOffset', 'cOffset'] as const) checkInt(fn, o, p[o]);
    const [ar, ac] = p.transA ? [k, m] : [m, k];
    const [br, bc] = p.transB ? [n, k] : [k, n];
    if (checkInt(fn, 'lda', p.lda) < Math.max(1, ac)) throw new ArgumentError(fn, 'lda', p.lda, `must be >= ${Math.max(1, ac)}`);
    if (checkInt(fn, 'ldb', p.ldb) < Math.max(1, bc)) throw new ArgumentError(fn, 'ldb', p.ldb, `must be >= ${Math.max(1, bc)}`);
    if (checkInt(fn, 'ldc', p.ldc) < Math.max(1, n)) throw new ArgumentError(fn, 'ldc', p.ldc, `must be >= ${Math.max(1, n)}`);
    const spans = { a: span(ar, ac, p.lda), b: span(br, bc, p.ldb), c: span(m, n, p.ldc) };
    if (p.aOffset + spans.a > p.a.length) throw new ArgumentError(fn, 'a', p.a, `must hold ${p.aOffset + spans.a} elements (offset ${p.aOffset}, lda ${p.lda})`);
    if (p.bOffset + spans.b > p.b.length) throw new ArgumentError(fn, 'b', p.b, `must hold ${p.bOffset + spans.b} elements (offset ${p.bOffset}, ldb ${p.ldb})`);
    if (p.cOffset + spans.c > p.c.length) throw new ArgumentError(fn, 'c', p.c, `must hold ${p.cOffset + spans.c} elements (offset ${p.cOffset}, ldc ${p.ldc})`);
    if (!Number.isFinite(p.alpha)) throw new ArgumentError(fn, 'alpha', p.alpha, 'must be finite');
    if (!Number.isFinite(p.beta)) throw new ArgumentError(fn, 'beta', p.beta, 'must be finite');
    return spans;
  }

  async gemmAsync(p: GemmArgs): Promise<void> {
    const fn = 'WebGpuBackend.gemmAsync';
    this.checkUsable(fn);
    const spans = this.checkGemm(fn, p);
    const { m, n, k } = p;
    if (m === 0 || n === 0) return;
    if (!isF32(p.a, p.b, p.c)) { this.fallback('f64'); referenceBackend.gemm!(p); return; }
    if (k === 0 || p.alpha === 0) {
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) { const idx = p.cOffset + i * p.ldc + j; p.c[idx] = p.beta === 0 ? 0 : p.beta * p.c[idx]!; }
      return;
    }
    const tile = gemmTile(this.gemmKernel);
    const gx = Math.ceil(n / tile.cols), gy = Math.ceil(m / tile.rows), maxG = this.limits.maxComputeWorkgroupsPerDimension || 65535;
    if (!this.fits(spans.a * 4, spans.b * 4, m * n * 4) || gx > maxG || gy > maxG) { this.fallback('too-large'); referenceBackend.gemm!(p); return; }
    await this.exec(fn, async () => {
      const source = gemmShader({ transA: p.transA, transB: p.transB, kernel: this.gemmKernel });
      const pipeline = await this.compile(`gemm-${this.gemmKernel}${p.transA ? '-tA' : ''}${p.transB ? '-tB' : ''}`, source);
      const a = this.operand(p.a as Float32Array, p.aOffset, spans.a);
      const b = this.operand(p.b as Float32Array, p.bOffset, spans.b);
      const c = this.pool.acquire(m * n * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', m], ['u32', n], ['u32', k], ['u32', p.lda], ['u32', p.ldb], ['f32', p.alpha], ['u32', a.off], ['u32', b.off]], GEMM_UNIFORM_BYTES);
      const temps = [a.temp, b.temp, c, u].filter((x): x is GPUBuffer => x !== null);
      const out = await this.run(fn, [{ pipeline, bindings: [a, b, { buffer: c, size: m * n * 4 }, { buffer: u, size: GEMM_UNIFORM_BYTES }], groups: [gx, gy, 1] }], temps, { buffer: c, size: m * n * 4 });
      const cc = p.c, beta = p.beta;
      for (let i = 0; i < m; i++) {
        const row = p.cOffset + i * p.ldc, src = i * n;
        if (beta === 0) for (let j = 0; j < n; j++) cc[row + j] = out[src + j]!;
        else for (let j = 0; j < n; j++) cc[row + j] = out[src + j]! + beta * cc[row + j]!;
      }
    }, () => referenceBackend.gemm!(p));
  }

  // ---------------------------------------------------------------- GEMV

  async gemvAsync(p: GemvArgs): Promise<void> {
    const fn = 'WebGpuBackend.gemvAsync';
    this.checkUsable(fn);
    if (typeof p !== 'object' || p === null) throw new ArgumentError(fn, 'args', p, 'must be a GemvArgs object');
    const m = checkInt(fn, 'm', p.m), n = checkInt(fn, 'n', p.n);
    for (const a of ['a', 'x', 'y'] as const) checkArray(fn, a, p[a]);
    for (const o of ['aOffset', 'xOffset', 'yOffset'] as const) checkInt(fn, o, p[o]);
    if (checkInt(fn, 'lda', p.lda) < Math.max(1, n)) throw new ArgumentError(fn, 'lda', p.lda, `must be >= ${Math.max(1, n)}`);
    const lx = p.trans ? m : n, ly = p.trans ? n : m, sa = span(m, n, p.lda);
    if (p.aOffset + sa > p.a.length) throw new ArgumentError(fn, 'a', p.a, `must hold ${p.aOffset + sa} elements`);
    if (p.xOffset + lx > p.x.length) throw new ArgumentError(fn, 'x', p.x, `must hold ${p.xOffset + lx} elements`);
    if (p.yOffset + ly > p.y.length) throw new ArgumentError(fn, 'y', p.y, `must hold ${p.yOffset + ly} elements`);
    if (!Number.isFinite(p.alpha) || !Number.isFinite(p.beta)) throw new ArgumentError(fn, 'alpha/beta', [p.alpha, p.beta], 'must be finite');
    if (ly === 0) return;
    if (!isF32(p.a, p.x, p.y)) { this.fallback('f64'); referenceBackend.gemv!(p); return; }
    if (lx === 0 || p.alpha === 0) {
      for (let i = 0; i < ly; i++) p.y[p.yOffset + i] = p.beta === 0 ? 0 : p.beta * p.y[p.yOffset + i]!;
      return;
    }
    if (!this.fits(sa * 4)) { this.fallback('too-large'); referenceBackend.gemv!(p); return; }
    await this.exec(fn, async () => {
      const pipeline = await this.compile(`gemv${p.trans ? '-t' : ''}`, gemvShader(p.trans, this.gemmKernel));
      const a = this.operand(p.a as Float32Array, p.aOffset, sa);
      const x = this.operand(p.x as Float32Array, p.xOffset, lx);
      const y = this.pool.acquire(ly * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', m], ['u32', n], ['u32', p.lda], ['f32', p.alpha], ['u32', a.off], ['u32', x.off], ['u32', 0], ['u32', 0]], GEMV_UNIFORM_BYTES);
      const groups = this.gemvGroups(p.trans, m, n);
      const temps = [a.temp, x.temp, y, u].filter((t): t is GPUBuffer => t !== null);
      const out = await this.run(fn, [{ pipeline, bindings: [a, x, { buffer: y, size: ly * 4 }, { buffer: u, size: GEMV_UNIFORM_BYTES }], groups }], temps, { buffer: y, size: ly * 4 });
      for (let i = 0; i < ly; i++) {
        const idx = p.yOffset + i;
        p.y[idx] = p.beta === 0 ? out[i]! : out[i]! + p.beta * p.y[idx]!;
      }
    }, () => referenceBackend.gemv!(p));
  }

  // ---------------------------------------------------------------- elementwise

  private checkN(fn: string, n: unknown, ...arrays: [string, unknown][]): number {
    const nn = checkInt(fn, 'n', n);
    for (const [name, arr] of arrays) {
      const a = checkArray(fn, name, arr);
      if (a.length < nn) throw new ArgumentError(fn, name, a, `must hold at least n = ${nn} elements`);
    }
    return nn;
  }

  async binaryAsync(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): Promise<void> {
    const fn = 'WebGpuBackend.binaryAsync';
    this.checkUsable(fn);
    if (!['add', 'sub', 'mul', 'div', 'max', 'min'].includes(op)) throw new ArgumentError(fn, 'op', op, 'must be one of add, sub, mul, div, max, min');
    const scalar = typeof b === 'number';
    this.checkN(fn, n, ['a', a], ['out', out], ...(scalar ? [] : [['b', b] as [string, unknown]]));
    if (n === 0) return;
    if (!isF32(a, out, ...(scalar ? [] : [b as FloatArray]))) { this.fallback('f64'); referenceBackend.binary!(op, a, b, out, n); return; }
    if (!this.fits(n * 4)) { this.fallback('too-large'); referenceBackend.binary!(op, a, b, out, n); return; }
    await this.exec(fn, async () => {
      const pipeline = await this.compile(`binary-${op}${scalar ? '-scalar' : ''}`, binaryShader(op, scalar));
      const ba = this.upload(a as Float32Array, 0, n);
      const bb = scalar ? ba : this.upload(b as Float32Array, 0, n);
      const bo = this.pool.acquire(n * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', n], ['f32', scalar ? (b as number) : 0], ['u32', 0], ['u32', 0]], ELEMENTWISE_UNIFORM_BYTES);
      const res = await this.run(fn, [{ pipeline, bindings: [{ buffer: ba, size: n * 4 }, { buffer: bo, size: n * 4 }, { buffer: u, size: ELEMENTWISE_UNIFORM_BYTES }, ...(scalar ? [] : [{ buffer: bb, size: n * 4 }])], groups: this.grid1d(Math.ceil(n / ELEMENTWISE_WG)) }], scalar ? [ba, bo, u] : [ba, bb, bo, u], { buffer: bo, size: n * 4 });
      (out as Float32Array).set(res.subarray(0, n));
    }, () => referenceBackend.binary!(op, a, b, out, n));
  }

  async unaryAsync(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): Promise<void> {
    const fn = 'WebGpuBackend.unaryAsync';
    this.checkUsable(fn);
    if (!['neg', 'abs', 'sqrt', 'exp', 'log', 'square', 'silu', 'tanh'].includes(op)) throw new ArgumentError(fn, 'op', op, 'must be one of neg, abs, sqrt, exp, log, square, silu, tanh');
    this.checkN(fn, n, ['a', a], ['out', out]);
    if (n === 0) return;
    if (!isF32(a, out)) { this.fallback('f64'); referenceBackend.unary!(op, a, out, n); return; }
    if (!this.fits(n * 4)) { this.fallback('too-large'); referenceBackend.unary!(op, a, out, n); return; }
    await this.exec(fn, async () => {
      const pipeline = await this.compile(`unary-${op}`, unaryShader(op));
      const ba = this.upload(a as Float32Array, 0, n);
      const bo = this.pool.acquire(n * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', n], ['f32', 0], ['u32', 0], ['u32', 0]], ELEMENTWISE_UNIFORM_BYTES);
      const res = await this.run(fn, [{ pipeline, bindings: [{ buffer: ba, size: n * 4 }, { buffer: bo, size: n * 4 }, { buffer: u, size: ELEMENTWISE_UNIFORM_BYTES }], groups: this.grid1d(Math.ceil(n / ELEMENTWISE_WG)) }], [ba, bo, u], { buffer: bo, size: n * 4 });
      (out as Float32Array).set(res.subarray(0, n));
    }, () => referenceBackend.unary!(op, a, out, n));
  }

  async reduceAsync(op: ReduceOp, a: FloatArray, offset: number, n: number): Promise<number> {
    const fn = 'WebGpuBackend.reduceAsync';
    this.checkUsable(fn);
    if (!['sum', 'max', 'min', 'sumsq', 'absmax'].includes(op)) throw new ArgumentError(fn, 'op', op, 'must be one of sum, max, min, sumsq, absmax');
    checkArray(fn, 'a', a);
    checkInt(fn, 'offset', offset);
    checkInt(fn, 'n', n);
    if (offset + n > a.length) throw new ArgumentError(fn, 'n', n, `must satisfy offset + n <= a.length = ${a.length} (offset ${offset})`);
    if (n === 0 || !isF32(a)) { if (n > 0) this.fallback('f64'); return referenceBackend.reduce!(op, a, offset, n); }
    if (!this.fits(n * 4)) { this.fallback('too-large'); return referenceBackend.reduce!(op, a, offset, n); }
    return this.exec(fn, async () => {
      const pipeline = await this.compile(`reduce-${op}`, reduceShader(op));
      const groups = Math.min(REDUCE_MAX_GROUPS, Math.ceil(n / REDUCE_WG));
      const ba = this.upload(a as Float32Array, offset, n);
      const bo = this.pool.acquire(groups * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', n], ['u32', 0x7f800000], ['u32', 0], ['u32', 0]], 16);
      const parts = await this.run(fn, [{ pipeline, bindings: [{ buffer: ba, size: n * 4 }, { buffer: bo, size: groups * 4 }, { buffer: u, size: 16 }], groups: [groups, 1, 1] }], [ba, bo, u], { buffer: bo, size: groups * 4 });
      // Combine the partials on the CPU (sums in f64; max/min/absmax exact).
      let acc = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
      for (let g = 0; g < groups; g++) {
        const v = parts[g]!;
        if (op === 'sum' || op === 'sumsq') acc += v;
        else if (Number.isNaN(v) || (op === 'min' ? v < acc : v > acc)) acc = v;
      }
      return op === 'sum' || op === 'sumsq' ? Math.fround(acc) : acc;
    }, () => referenceBackend.reduce!(op, a, offset, n));
  }

  // ---------------------------------------------------------------- int4

  private uploadBytes(data: Uint8Array, count: number): GPUBuffer {
    const padded = Math.max(4, Math.ceil(count / 4) * 4);
    const buf = this.pool.acquire(padded, STORAGE_IN, 'llmpress-in-u8');
    let src = data.subarray(0, count);
    if (padded !== count || src.byteOffset % 4 !== 0) { const t = new Uint8Array(padded); t.set(src); src = t; }
    this.device.queue.writeBuffer(buf, 0, src as Uint8Array<ArrayBuffer>, 0, padded);
    this.counters.uploadedBytes += padded;
    return buf;
  }

  async int4GemvAsync(p: Int4GemvArgs): Promise<void> {
    const fn = 'WebGpuBackend.int4GemvAsync';
    this.checkUsable(fn);
    if (typeof p !== 'object' || p === null) throw new ArgumentError(fn, 'args', p, 'must be an Int4GemvArgs object');
    const { m, n, g } = checkInt4Shape(fn, p.m, p.n, p.groupSize);
    checkTyped(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4', (m * n) / 2);
    checkTyped(fn, 'scales', p.scales, Float32Array, 'Float32Array', (m * n) / g);
    checkTyped(fn, 'x', p.x, Float32Array, 'Float32Array', n);
    checkTyped(fn, 'y', p.y, Float32Array, 'Float32Array', m);
    const alpha = p.alpha ?? 1, beta = p.beta ?? 0;
    if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw new ArgumentError(fn, 'alpha/beta', [alpha, beta], 'must be finite');
    if (m === 0) return;
    if (n === 0) { for (let i = 0; i < m; i++) p.y[i] = beta === 0 ? 0 : beta * p.y[i]!; return; }
    if (!this.fits((m * n) / 2, m * n / g * 4)) { this.fallback('too-large'); int4GemvReference(p); return; }
    await this.exec(fn, async () => {
      const pipeline = await this.compile('int4-gemv', int4GemvShader());
      const w = this.uploadBytes(p.w, (m * n) / 2);
      const sc = this.upload(p.scales, 0, (m * n) / g);
      const x = this.upload(p.x, 0, n);
      const y = this.pool.acquire(m * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', m], ['u32', n], ['u32', g], ['f32', alpha]], 16);
      const out = await this.run(fn, [{ pipeline, bindings: [{ buffer: w, size: Math.ceil((m * n) / 8) * 4 }, { buffer: sc, size: (m * n / g) * 4 }, { buffer: x, size: n * 4 }, { buffer: y, size: m * 4 }, { buffer: u, size: 16 }], groups: this.grid1d(Math.ceil(m / GEMV_WG)) }], [w, sc, x, y, u], { buffer: y, size: m * 4 });
      for (let i = 0; i < m; i++) p.y[i] = beta === 0 ? out[i]! : out[i]! + beta * p.y[i]!;
    }, () => int4GemvReference(p));
  }

  async quantizeInt4Async(p: Int4QuantizeArgs): Promise<Int4Packed> {
    const fn = 'WebGpuBackend.quantizeInt4Async';
    this.checkUsable(fn);
    if (typeof p !== 'object' || p === null) throw new ArgumentError(fn, 'args', p, 'must be an Int4QuantizeArgs object');
    const { m, n, g } = checkInt4Shape(fn, p.m, p.n, p.groupSize);
    checkTyped(fn, 'a', p.a, Float32Array, 'Float32Array', m * n);
    for (let i = 0; i < m * n; i++) if (!Number.isFinite(p.a[i]!)) throw new ArgumentError(fn, 'a', p.a, `must be finite (index ${i} is ${p.a[i]})`);
    // the GPU path writes whole u32 words per invocation: rows must be word aligned (n % 8 == 0)
    if (m === 0 || n === 0 || n % 8 !== 0) { if (m * n > 0) this.fallback('int4-unaligned'); return quantizeInt4Reference(p); }
    if (!this.fits(m * n * 4)) { this.fallback('too-large'); return quantizeInt4Reference(p); }
    return this.exec(fn, async () => {
      const pipeline = await this.compile('int4-quantize', int4QuantShader());
      const a = this.upload(p.a, 0, m * n);
      const words = (m * n) / 8;
      const w = this.pool.acquire(words * 4, STORAGE_OUT, 'llmpress-out-u8');
      const sc = this.pool.acquire((m * n / g) * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', m], ['u32', n], ['u32', g], ['u32', 0]], 16);
      const [wb, sb] = await this.runMulti(fn, [{ pipeline, bindings: [{ buffer: a, size: m * n * 4 }, { buffer: w, size: words * 4 }, { buffer: sc, size: (m * n / g) * 4 }, { buffer: u, size: 16 }], groups: this.grid1d(Math.ceil(words / ELEMENTWISE_WG)) }], [a, w, sc, u], [{ buffer: w, size: words * 4 }, { buffer: sc, size: (m * n / g) * 4 }]);
      return { m, n, groupSize: g, w: new Uint8Array(wb!), scales: new Float32Array(sb!) };
    }, () => quantizeInt4Reference(p));
  }

  async dequantizeInt4Async(p: Int4Packed): Promise<Float32Array> {
    const fn = 'WebGpuBackend.dequantizeInt4Async';
    this.checkUsable(fn);
    if (typeof p !== 'object' || p === null) throw new ArgumentError(fn, 'args', p, 'must be an Int4Packed object');
    const { m, n, g } = checkInt4Shape(fn, p.m, p.n, p.groupSize);
    checkTyped(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4', (m * n) / 2);
    checkTyped(fn, 'scales', p.scales, Float32Array, 'Float32Array', (m * n) / g);
    if (m * n === 0) return new Float32Array(0);
    if (!this.fits(m * n * 4)) { this.fallback('too-large'); return dequantizeInt4Reference(p); }
    return this.exec(fn, async () => {
      const pipeline = await this.compile('int4-dequantize', int4DequantShader());
      const w = this.uploadBytes(p.w, (m * n) / 2);
      const sc = this.upload(p.scales, 0, (m * n) / g);
      const o = this.pool.acquire(m * n * 4, STORAGE_OUT, 'llmpress-out');
      const u = this.uniform([['u32', m], ['u32', n], ['u32', g], ['u32', 0]], 16);
      const out = await this.run(fn, [{ pipeline, bindings: [{ buffer: w, size: Math.ceil((m * n) / 8) * 4 }, { buffer: sc, size: (m * n / g) * 4 }, { buffer: o, size: m * n * 4 }, { buffer: u, size: 16 }], groups: this.grid1d(Math.ceil((m * n) / ELEMENTWISE_WG)) }], [w, sc, o, u], { buffer: o, size: m * n * 4 });
      return out.length === m * n ? out : out.slice(0, m * n);
    }, () => dequantizeInt4Reference(p));
  }

  // ---------------------------------------------------------------- timing

  private async timePasses(fn: string, passes: Pass[], temps: GPUBuffer[], runs: number): Promise<KernelTiming> {
    const device = this.device;
    const ts = this.deviceFeatures.includes('timestamp-query');
    // warm-up (compiles lazily on some drivers)
    {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (const p of passes.slice(0, 1)) this.encodePass(pass, p);
      pass.end();
      device.queue.submit([enc.finish()]);
      await this.guard(device.queue.onSubmittedWorkDone());
    }
    const times: number[] = [];
    if (ts) {
      const qs = device.createQuerySet({ type: 'timestamp', count: 2 * runs });
      const resolve = device.createBuffer({ size: 16 * runs, usage: U.QUERY_RESOLVE | U.COPY_SRC });
      const read = device.createBuffer({ size: 16 * runs, usage: U.MAP_READ | U.COPY_DST });
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder();
      for (let r = 0; r < runs; r++) {
        const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 } });
        for (const p of passes) this.encodePass(pass, p);
        pass.end();
      }
      enc.resolveQuerySet(qs, 0, 2 * runs, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * runs);
      device.queue.submit([enc.finish()]);
      const err = await this.guard(device.popErrorScope());
      if (err) throw new WebGpuError(fn, 'validation', err.message);
      await this.guard(read.mapAsync(MAP_READ));
      const t = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      for (let r = 0; r < runs; r++) times.push(Number(t[2 * r + 1]! - t[2 * r]!) / 1e6);
      qs.destroy(); resolve.destroy(); read.destroy();
    }
    let method: KernelTiming['method'] = 'timestamp-query';
    if (!ts || times.some((x) => !(x > 0))) {
      times.length = 0;
      method = 'wall-clock';
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const p of passes) this.encodePass(pass, p);
        pass.end();
        device.queue.submit([enc.finish()]);
        await this.guard(device.queue.onSubmittedWorkDone());
        times.push(performance.now() - t0);
      }
    }
    for (const b of temps) this.pool.release(b);
    times.sort((x, y) => x - y);
    return { ms: times[Math.floor(times.length / 2)]!, method, runs };
  }

  private encodePass(pass: GPUComputePassEncoder, p: Pass): void {
    const bg = this.device.createBindGroup({
      layout: p.pipeline.getBindGroupLayout(0),
      entries: p.bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buffer, offset: 0, size: Math.max(4, Math.ceil(b.size / 4) * 4) } })),
    });
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(p.groups[0], p.groups[1], p.groups[2]);
  }

  private randomBuffer(count: number, seed: number): GPUBuffer {
    const data = new Float32Array(count);
    let s = seed >>> 0 || 1;
    for (let i = 0; i < count; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; data[i] = (s / 4294967296) * 2 - 1; }
    return this.upload(data, 0, count);
  }

  async timeGemm(shape: { m: number; n: number; k: number; transA?: boolean; transB?: boolean }, runs = 5): Promise<KernelTiming> {
    const fn = 'WebGpuBackend.timeGemm';
    this.checkUsable(fn);
    const m = checkInt(fn, 'm', shape.m, 1), n = checkInt(fn, 'n', shape.n, 1), k = checkInt(fn, 'k', shape.k, 1);
    checkInt(fn, 'runs', runs, 1);
    const tA = !!shape.transA, tB = !!shape.transB;
    const pipeline = await this.compile(`gemm-${this.gemmKernel}${tA ? '-tA' : ''}${tB ? '-tB' : ''}`, gemmShader({ transA: tA, transB: tB, kernel: this.gemmKernel }));
    const tile = gemmTile(this.gemmKernel);
    const a = this.randomBuffer(m * k, 1), b = this.randomBuffer(k * n, 2);
    const c = this.pool.acquire(m * n * 4, STORAGE_OUT);
    const u = this.uniform([['u32', m], ['u32', n], ['u32', k], ['u32', tA ? m : k], ['u32', tB ? k : n], ['f32', 1], ['u32', 0], ['u32', 0]], GEMM_UNIFORM_BYTES);
    const pass: Pass = { pipeline, bindings: [{ buffer: a, size: m * k * 4 }, { buffer: b, size: k * n * 4 }, { buffer: c, size: m * n * 4 }, { buffer: u, size: GEMM_UNIFORM_BYTES }], groups: [Math.ceil(n / tile.cols), Math.ceil(m / tile.rows), 1] };
    return this.timePasses(fn, [pass], [a, b, c, u], runs);
  }

  async timeGemv(shape: { m: number; n: number; trans?: boolean }, runs = 5): Promise<KernelTiming> {
    const fn = 'WebGpuBackend.timeGemv';
    this.checkUsable(fn);
    const m = checkInt(fn, 'm', shape.m, 1), n = checkInt(fn, 'n', shape.n, 1);
    checkInt(fn, 'runs', runs, 1);
    const trans = !!shape.trans;
    const pipeline = await this.compile(`gemv${trans ? '-t' : ''}`, gemvShader(trans, this.gemmKernel));
    const lx = trans ? m : n, ly = trans ? n : m;
    const a = this.randomBuffer(m * n, 1), x = this.randomBuffer(lx, 2);
    const y = this.pool.acquire(ly * 4, STORAGE_OUT);
    const u = this.uniform([['u32', m], ['u32', n], ['u32', n], ['f32', 1], ['u32', 0], ['u32', 0], ['u32', 0], ['u32', 0]], GEMV_UNIFORM_BYTES);
    const pass: Pass = { pipeline, bindings: [{ buffer: a, size: m * n * 4 }, { buffer: x, size: lx * 4 }, { buffer: y, size: ly * 4 }, { buffer: u, size: GEMV_UNIFORM_BYTES }], groups: this.gemvGroups(trans, m, n) };
    return this.timePasses(fn, [pass], [a, x, y, u], runs);
  }

  simulateDeviceLoss(): void {
    this.checkUsable('WebGpuBackend.simulateDeviceLoss');
    this.device.destroy();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.cache.clear();
    try { this.pool.clear(); } catch { /* device may be gone */ }
    for (const b of this.pinnedBuffers) { try { b.destroy(); } catch { /* device gone */ } }
    this.pinnedBuffers.clear();
    this.device.destroy();
  }
}
