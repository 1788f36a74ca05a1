/**
 * Work arrays that live in the backend's own memory when it offers `allocate` (the WASM backend's
 * GEMM then uses them in place: no per-call copy-in / copy-out), else ordinary arrays. The one
 * workspace arena of llmpress (decompositions, quantizers and the Gram accumulator use it).
 */
import type { Backend } from './backend.js';
import type { FloatArray } from './dtype.js';

export interface WorkspaceOptions {
  /** Arrays shorter than this are ordinary JS arrays (default 256 elements). */
  minResident?: number;
}

export class Workspace {
  private owned = new Set<FloatArray>();
  private readonly minResident: number;
  constructor(
    private readonly backend: Backend | undefined,
    options: WorkspaceOptions = {},
  ) {
    this.minResident = options.minResident ?? 256;
  }

  /** A work array of `n` elements of `dtype` (zeroed when `zero`; otherwise contents unspecified). */
  array(dtype: 'f32', n: number, zero?: boolean): Float32Array;
  array(dtype: 'f64', n: number, zero?: boolean): Float64Array;
  array(dtype: 'f32' | 'f64', n: number, zero?: boolean): FloatArray;
  array(dtype: 'f32' | 'f64', n: number, zero = false): FloatArray {
    const be = this.backend;
    if (be && typeof be.allocate === 'function' && typeof be.release === 'function' && n >= this.minResident) {
      try {
        const a = be.allocate(dtype, n) as FloatArray;
        if (zero) a.fill(0);
        this.owned.add(a);
        return a;
      } catch {
        /* backend memory exhausted: fall back to an ordinary array */
      }
    }
    return dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
  }

  /** An f64 work array of length n (contents unspecified unless `zero`). */
  f64(n: number, zero = false): Float64Array {
    return this.array('f64', n, zero);
  }

  /** Returns one array early (no-op for ordinary arrays). */
  free(a: FloatArray): void {
    if (this.owned.delete(a)) this.backend!.release!(a);
  }

  /** Releases every array still held (call in `finally`). */
  done(): void {
    for (const a of this.owned) this.backend!.release!(a);
    this.owned.clear();
  }
}

/** Runs `body` with a workspace whose arrays are released afterwards. */
export function withWorkspace<T>(backend: Backend | undefined, body: (ws: Workspace) => T, options?: WorkspaceOptions): T {
  const ws = new Workspace(backend, options);
  try {
    return body(ws);
  } finally {
    ws.done();
  }
}
