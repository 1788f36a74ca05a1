/**
 * The WebGPU backend: f32 WGSL kernels behind the async routines of the backend contract.
 * Web-standard APIs only (works with `navigator.gpu` in browsers and with the `webgpu` package's
 * GPU object in Node, see `./node`).
 *
 * Split by job: `device.ts` (adapter, device, limits, loss policy, counters), `pipelines.ts` (the
 * compute-pipeline cache), `submit.ts` (uploads, pinned copies, encoding, submission, readback,
 * timing) and `routines.ts` (the routines themselves). This file holds the public types and the factory.
 */
import type { Backend, BinaryOp, FloatArray, GemmArgs, GemvArgs, ReduceOp, UnaryOp } from '@llmpress/tensor';
import { GpuDevice, requestGpuDevice, type AdapterSummary, type WebGpuBackendOptions } from './device.js';
import type { PoolStats } from './pool.js';
import type { GemmKernel } from './shaders.js';
import type { KernelTiming } from './submit.js';
import type { Int4GemvArgs, Int4Packed, Int4QuantizeArgs } from './int4.js';
import { WebGpuRoutines } from './routines.js';

export type { WebGpuBackendOptions, AdapterSummary, KernelTiming };

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

/**
 * A double-f32 GEMM: A and B hold (hi, lo) f32 pairs (value = hi + lo), leading dimensions count
 * pairs and both start at pair 0. The result is m × n (hi, lo) pairs, row-major, without alpha/beta.
 */
export interface Df32GemmArgs {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  lda: number;
  b: Float32Array;
  ldb: number;
  /** TwoProd variant (default: the one the adapter's self-test found exact). */
  product?: 'fma' | 'dekker';
}
/** What the df32 self-test found on this adapter (`exact`: every TwoSum and TwoProd error-free). */
export interface Df32SelfTest {
  cases: number;
  twoSumExact: number;
  twoProdExact: number;
  exact: boolean;
  /** The TwoProd variant that was exact (absent when none was). */
  product?: 'fma' | 'dekker';
  /** Every variant tried, when the first was not exact. */
  tried?: Df32SelfTest[];
}

/** The WebGPU backend: all routines are async (`syncRead: false`). */
export interface WebGpuBackend extends Backend {
  gemmAsync(args: GemmArgs): Promise<void>;
  gemvAsync(args: GemvArgs): Promise<void>;
  binaryAsync(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): Promise<void>;
  unaryAsync(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): Promise<void>;
  reduceAsync(op: ReduceOp, a: FloatArray, offset: number, n: number): Promise<number>;
  /** Double-f32 GEMM (see `Df32GemmArgs`): about 48-bit significands on f32 hardware. */
  gemmDf32Async(args: Df32GemmArgs): Promise<Float32Array>;
  /** Checks on this adapter that the df32 kernels' TwoSum / TwoProd are error-free (no reassociation or contraction). */
  df32SelfTestAsync(pairs?: Float32Array, product?: 'fma' | 'dekker'): Promise<Df32SelfTest>;
  /** The self-test of both TwoProd variants, run once per device; `product` is what `gemmDf32Async` uses. */
  df32Check(): Promise<Df32SelfTest>;
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

/**
 * Creates the WebGPU backend, or returns `null` when WebGPU cannot run here (no `navigator.gpu`,
 * no adapter, device request refused). Never throws for those; `onUnavailable` gets the reason.
 */
export async function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend | null> {
  const got = await requestGpuDevice(options);
  if (!got) return null;
  return new WebGpuRoutines(new GpuDevice(got.device, got.adapter, options));
}
