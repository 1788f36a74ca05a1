/**
 * Operands of the WASM routines: an argument that lives in the linear memory (from `allocate`) is used
 * in place, any other is copied into a temporary block and (for outputs) copied back; and the resident
 * arrays the backend hands out (`allocate`, `allocateBytes`, `release`).
 */
import { ArgumentError, checkDim, type FloatArray } from '@llmpress/tensor';
import type { LinearAllocator } from './allocator.js';

export interface Operand {
  ptr: number;
  temp: number | null;
}

export interface Operands {
  bytesPer(a: FloatArray): number;
  operandIn(f: string, a: FloatArray, offset: number, n: number, copy?: boolean): Operand;
  operandOut(a: FloatArray, offset: number, n: number, op: Operand): void;
  freeAll(ops: Operand[]): void;
  allocate(dtype: 'f32' | 'f64', n: number): FloatArray;
  allocateBytes(n: number): Uint8Array;
  release(arr: ArrayBufferView): void;
}

export function makeOperands(ctx: {
  alloc: LinearAllocator;
  buf(): ArrayBufferLike;
  isResident(a: ArrayBufferView): boolean;
  alive(fn: string): void;
  isDisposed(): boolean;
}): Operands {
  const { alloc, buf, isResident, alive, isDisposed } = ctx;
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
  function freeAll(ops: Operand[]): void {
    for (const o of ops) if (o.temp !== null) alloc.release(o.temp);
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
    if (isDisposed()) return;
    if (!ArrayBuffer.isView(arr) || !isResident(arr) || !owned.has(arr.byteOffset)) {
      throw new ArgumentError(f, 'array', arr, 'must be an array returned by allocate() of this backend and not yet released');
    }
    owned.delete(arr.byteOffset);
    alloc.release(arr.byteOffset);
  }

  return { bytesPer, operandIn, operandOut, freeAll, allocate, allocateBytes, release };
}
