/**
 * The wire format between the synchronous facade (`sync-facade.ts`, on the thread that runs the
 * algorithm) and the GPU thread (`gpu-thread.ts`, which owns the WebGPU device).
 *
 * One request is in flight at a time: the caller writes its operands into the shared ARENA, posts a
 * small message describing the call, and blocks with `Atomics.wait` on CTRL[STATE]. The GPU thread
 * runs the routine on the device, writes the result into the arena (or CTRL's f64 slot for reductions),
 * stores CTRL[STATUS], sets CTRL[STATE] = DONE and notifies.
 */

/** Int32 slots of the control buffer. */
export const STATE = 0;
export const STATUS = 1;
/** Set by the GPU thread (at any time) once the device is lost. */
export const LOST = 2;
/** Bytes of UTF-8 text in the text area (error messages, JSON stats). */
export const TEXT_LEN = 3;
/** Byte offset of the f64 result slot (reductions). */
export const RESULT_BYTE = 16;
/** Byte offset and capacity of the text area. */
export const TEXT_BYTE = 64;
export const TEXT_CAP = 1 << 16;
export const CTRL_BYTES = TEXT_BYTE + TEXT_CAP;

export const PENDING = 0;
export const DONE = 1;

export const OK = 0;
/** The routine threw (message in the text area); the caller computes on the CPU. */
export const FAILED = 1;
/** The device is lost; the caller computes on the CPU from now on. */
export const DEVICE_LOST = 2;

/** An operand: a segment of the arena (f32 elements from a byte offset), or a pinned resident array. */
export type Operand = { seg: number; len: number } | { pin: number };

export interface GemmRequest {
  op: 'gemm';
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  a: Operand;
  aOffset: number;
  lda: number;
  b: Operand;
  bOffset: number;
  ldb: number;
  /** C's segment: read when beta != 0, always written back. */
  c: { seg: number; len: number };
  ldc: number;
}
/** A double-f32 GEMM: A, B are (hi, lo) f32 pairs from pair 0 (leading dimensions in pairs); C gets m·n pairs. */
export interface GemmDf32Request {
  op: 'gemmDf32';
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  a: { seg: number; len: number };
  lda: number;
  b: { seg: number; len: number };
  ldb: number;
  c: { seg: number; len: number };
}
export interface GemvRequest {
  op: 'gemv';
  trans: boolean;
  m: number;
  n: number;
  alpha: number;
  beta: number;
  a: Operand;
  aOffset: number;
  lda: number;
  x: { seg: number; len: number };
  y: { seg: number; len: number };
}
export interface BinaryRequest {
  op: 'binary';
  kind: string;
  n: number;
  a: { seg: number; len: number };
  b: { seg: number; len: number } | number;
  out: { seg: number; len: number };
}
export interface UnaryRequest {
  op: 'unary';
  kind: string;
  n: number;
  a: { seg: number; len: number };
  out: { seg: number; len: number };
}
export interface ReduceRequest {
  op: 'reduce';
  kind: string;
  n: number;
  a: { seg: number; len: number };
}
export interface Int4GemvRequest {
  op: 'int4Gemv';
  m: number;
  n: number;
  groupSize: number;
  alpha: number;
  beta: number;
  /** Packed bytes (m·n/2) at a byte offset. */
  w: { byte: number; bytes: number } | { pin: number };
  scales: Operand;
  x: { seg: number; len: number };
  y: { seg: number; len: number };
}
export interface PinRequest {
  op: 'pin';
  id: number;
  kind: 'f32' | 'u8';
  seg: number;
  len: number;
}
export interface UnpinRequest {
  op: 'unpin';
  id: number;
}
export interface ControlRequest {
  op: 'stats' | 'lose' | 'dispose';
}

export type SyncRequest = (
  | GemmRequest
  | GemmDf32Request
  | GemvRequest
  | BinaryRequest
  | UnaryRequest
  | ReduceRequest
  | Int4GemvRequest
  | PinRequest
  | UnpinRequest
  | ControlRequest
) & {
  /** A new arena (sent once, whenever the caller grew it). */
  arena?: SharedArrayBuffer;
};

/** First message to the GPU thread (posted once by the facade's factory). */
export interface InitMessage {
  type: 'llmpress-gpu-init';
  ctrl: SharedArrayBuffer;
  options: { gemmKernel?: 'auto' | 'tiled' | 'register'; powerPreference?: GPUPowerPreference };
}
/** The GPU thread's answer to `InitMessage` (posted as a message: the factory is async). */
export type InitReply =
  | {
      type: 'llmpress-gpu-ready';
      adapter: { vendor: string; architecture: string; device: string; description: string; software: boolean };
      gemmKernel: string;
      limits: Record<string, number>;
      features: string[];
      /** The df32 self-test on this adapter (TwoSum / TwoProd exact?); absent when it could not run. */
      df32?: { exact: boolean; product?: 'fma' | 'dekker'; cases: number; twoSumExact: number; twoProdExact: number; tried?: unknown };
    }
  | { type: 'llmpress-gpu-unavailable'; reason: string };

export function writeText(ctrl: SharedArrayBuffer, text: string): void {
  const bytes = new TextEncoder().encode(text);
  const n = Math.min(bytes.length, TEXT_CAP);
  new Uint8Array(ctrl, TEXT_BYTE, n).set(bytes.subarray(0, n));
  new Int32Array(ctrl)[TEXT_LEN] = n;
}

export function readText(ctrl: SharedArrayBuffer): string {
  const n = new Int32Array(ctrl)[TEXT_LEN]!;
  // TextDecoder refuses views of shared memory: copy out first
  return new TextDecoder().decode(new Uint8Array(ctrl, TEXT_BYTE, n).slice());
}
