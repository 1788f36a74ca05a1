import type { DType, FloatArray } from './dtype.js';

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
  a: A; aOffset: number; lda: number;
  b: A; bOffset: number; ldb: number;
  beta: number;
  c: A; cOffset: number; ldc: number;
}

/** y = alpha · op(A) · x + beta · y, A row-major m × n. */
export interface GemvArgs<A extends FloatArray = FloatArray> {
  trans: boolean;
  m: number;
  n: number;
  alpha: number;
  a: A; aOffset: number; lda: number;
  x: A; xOffset: number;
  beta: number;
  y: A; yOffset: number;
}

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';
export type UnaryOp = 'neg' | 'abs' | 'sqrt' | 'exp' | 'log' | 'square' | 'silu' | 'tanh';
export type ReduceOp = 'sum' | 'max' | 'min' | 'sumsq' | 'absmax';

/**
 * The routines a backend may implement. Every routine is optional except `gemm`:
 * a missing routine falls back to the reference backend, visibly (see `onFallback`).
 */
export interface BackendRoutines {
  gemm(args: GemmArgs): void;
  gemv(args: GemvArgs): void;
  /** out[i] = a[i] op b[i] over n contiguous elements (b may be a scalar). */
  binary(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): void;
  unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void;
  /** Reduction over n contiguous elements starting at offset. */
  reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): number;
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
  /** Extra, backend-specific named routines (int4 GEMV, Householder panels, ...). */
  readonly extra?: Readonly<Record<string, (...args: any[]) => any>>;
  /**
   * Allocates an array that lives in the backend's own memory (e.g. inside the WASM linear memory),
   * so routines skip the copy-in when an argument is such an array. Optional; `release` frees it.
   */
  allocate?(dtype: 'f32' | 'f64', n: number): FloatArray;
  release?(array: FloatArray): void;
  /** Frees workers and device memory. The backend may not be used afterwards. */
  dispose?(): void | Promise<void>;
}

/** Something that can produce a backend, or `null` when it cannot run here. */
export type BackendFactory = () => Promise<Backend | null> | Backend | null;
export type BackendCandidate = Backend | BackendFactory;

export function isBackend(x: unknown): x is Backend {
  return typeof x === 'object' && x !== null && typeof (x as any).name === 'string' && typeof (x as any).capabilities === 'object';
}

/**
 * Arguments of the int4 GEMV both compute backends offer (`extra.int4Gemv` / `int4GemvAsync`): y = alpha·W x + beta·y
 * with W packed two signed nibbles per byte (low nibble = even column), rows of n/2 bytes, and one f32
 * scale per `groupSize` consecutive columns ([m, n/groupSize]).
 */
export interface Int4GemvArgs {
  /** Output rows (weight rows). */
  m: number;
  /** Input columns (even; a multiple of groupSize). */
  n: number;
  groupSize: number;
  /** Packed int4 weights, m × n/2 bytes. */
  w: Uint8Array;
  /** Per-group scales, m × n/groupSize. */
  scales: Float32Array;
  x: Float32Array;
  y: Float32Array;
  alpha?: number;
  beta?: number;
}
