import type { DType, FloatArray } from './dtype.js';
import type { Int4GemvArgs, W4A8GemvArgs, W4A4GemmArgs, W4A8GemmArgs } from './int4.js';
import type { AttentionArgs } from './attention.js';

/**
 * Row-major GEMM on raw storage: C = alpha · op(A) · op(B) + beta · C.
 * op(A) is m × k, op(B) is k × n, C is m × n. `lda` etc. are row strides in elements.
 * A, B and C share one float dtype (all Float32Array or all Float64Array).
 */
export interface GemmArgs<A extends FloatArray = FloatArray> {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: A;
  aOffset: number;
  lda: number;
  b: A;
  bOffset: number;
  ldb: number;
  beta: number;
  c: A;
  cOffset: number;
  ldc: number;
}

/** y = alpha · op(A) · x + beta · y, A row-major m × n. */
export interface GemvArgs<A extends FloatArray = FloatArray> {
  trans: boolean;
  m: number;
  n: number;
  alpha: number;
  a: A;
  aOffset: number;
  lda: number;
  x: A;
  xOffset: number;
  beta: number;
  y: A;
  yOffset: number;
}

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';
export type UnaryOp = 'neg' | 'abs' | 'sqrt' | 'exp' | 'log' | 'square' | 'silu' | 'tanh';
export type ReduceOp = 'sum' | 'max' | 'min' | 'sumsq' | 'absmax';

/**
 * The routines a backend may implement. Every routine is optional except `gemm`: callers get them
 * through `routine(backend, name)`, so a missing routine falls back to the reference backend,
 * visibly and counted (see `onFallback`, `fallbackStats`). Arguments are checked by the shared
 * validators (`validate.ts`, `int4.ts`): the same misuse raises the same typed error on every backend.
 */
export interface BackendRoutines {
  gemm(args: GemmArgs): void;
  gemv(args: GemvArgs): void;
  /** out[i] = a[i] op b[i] over n contiguous elements (b may be a scalar). */
  binary(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): void;
  unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void;
  /** Reduction over n contiguous elements starting at offset. */
  reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): number;
  /** y = alpha · dequant(W) · x + beta · y for packed int4 weights with per-group scales (layout: int4.ts). */
  int4Gemv(args: Int4GemvArgs): void;
  /** As int4Gemv with int8 activations and one activation scale (exact integer group sums). */
  w4a8Gemv(args: W4A8GemvArgs): void;
  /** C = alpha · A · Wᵀ + beta · C, int8 activations × int4 weights, per-group scales on both. */
  w4a8Gemm(args: W4A8GemmArgs): void;
  /** As w4a8Gemm with packed int4 activations. */
  w4a4Gemm(args: W4A4GemmArgs): void;
  /** Causal grouped-query attention of t new queries over len cached keys/values (attention.ts). */
  attention(args: AttentionArgs): void;
}

export type RoutineName = keyof BackendRoutines;

export interface BackendCapabilities {
  /** Storage dtypes the backend computes in. */
  dtypes: readonly DType[];
  /** Whether results can be read synchronously (CPU backends) or only through async readback. */
  syncRead: boolean;
  /** Number of worker threads the backend uses (1 = single-threaded). */
  threads: number;
  /** Free-form feature flags, e.g. `relaxed-simd`, `shader-f16`. */
  features: readonly string[];
}

export interface Backend extends Partial<BackendRoutines> {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** Async GEMM for backends whose storage lives off the CPU (WebGPU). */
  gemmAsync?(args: GemmArgs): Promise<void>;
  gemvAsync?(args: GemvArgs): Promise<void>;
  /** Async variants of the elementwise and reduction routines (same semantics as the sync ones). */
  binaryAsync?(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): Promise<void>;
  unaryAsync?(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): Promise<void>;
  reduceAsync?(op: ReduceOp, a: FloatArray, offset: number, n: number): Promise<number>;
  int4GemvAsync?(args: Int4GemvArgs): Promise<void>;
  /**
   * Allocates an array that lives in the backend's own memory (e.g. inside the WASM linear memory),
   * so routines skip the copy-in when an argument is such an array. Optional; `release` frees it.
   */
  allocate?(dtype: 'f32' | 'f64', n: number): FloatArray;
  /** Raw bytes in the backend's own memory (packed int4 weights, int8 activations); freed by `release`. */
  allocateBytes?(n: number): Uint8Array;
  release?(array: ArrayBufferView): void;
  /** Frees workers and device memory. The backend may not be used afterwards. */
  dispose?(): void | Promise<void>;
}

/** Something that can produce a backend, or `null` when it cannot run here. */
export type BackendFactory = () => Promise<Backend | null> | Backend | null;
export type BackendCandidate = Backend | BackendFactory;

export function isBackend(x: unknown): x is Backend {
  return typeof x === 'object' && x !== null && typeof (x as any).name === 'string' && typeof (x as any).capabilities === 'object';
}

export type { Int4GemvArgs, W4A8GemvArgs, W4A4GemmArgs, W4A8GemmArgs } from './int4.js';
export type { AttentionArgs } from './attention.js';
