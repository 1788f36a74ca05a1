/**
 * Internal (not exported from the package): f64 work arrays that live in the backend's memory when it
 * offers `allocate` (the WASM backend's GEMM then uses them in place: no per-call copy-in / copy-out
 * and no hidden temporary of the operand's size), else ordinary arrays. `done()` releases them.
 */
import type { Backend } from '@llmpress/tensor';

export class Work {
  private owned: Float64Array[] = [];
  constructor(private readonly backend: Backend | undefined) {}
  /** An f64 array of length n (contents unspecified unless `zero`). */
  f64(n: number, zero = false): Float64Array {
    const be = this.backend;
    if (be && typeof be.allocate === 'function' && typeof be.release === 'function' && n >= 4096) {
      try {
        const a = be.allocate('f64', n) as Float64Array;
        if (zero) a.fill(0);
        this.owned.push(a);
        return a;
      } catch { /* backend memory exhausted: fall back to an ordinary array */ }
    }
    return new Float64Array(n);
  }
  /** Returns one array early (no-op for ordinary arrays). */
  free(a: Float64Array): void {
    const i = this.owned.indexOf(a);
    if (i >= 0) { this.owned.splice(i, 1); this.backend!.release!(a); }
  }
  done(): void {
    for (const a of this.owned) this.backend!.release!(a);
    this.owned = [];
  }
}
