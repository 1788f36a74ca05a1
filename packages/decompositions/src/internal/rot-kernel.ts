/**
 * Batched plane rotations in a small WASM SIMD module of this package (assembly/rot.ts), for the
 * bidiagonal QR iteration: its O(n³) part is applying rotations to rows of Uᵀ and Vᵀ. Falls back to
 * plain TypeScript (the caller checks `rotKernels()`) where WebAssembly SIMD is unavailable.
 */
import { ROT_WASM_BASE64 } from './generated/rot-wasm.js';
import type { FA } from './util.js';

interface Kernels {
  memory: WebAssembly.Memory;
  drotBatch(base: number, ld: number, ncols: number, ops: number, count: number): void;
  srotBatch(base: number, ld: number, ncols: number, ops: number, count: number): void;
}
let cached: Kernels | null | undefined;

function decode(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function rotKernels(): Kernels | null {
  if (cached !== undefined) return cached;
  try {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(decode(ROT_WASM_BASE64) as BufferSource), { env: { memory } });
    const ex = inst.exports as any;
    cached = { memory, drotBatch: ex.drotBatch, srotBatch: ex.srotBatch };
  } catch {
    cached = null;
  }
  return cached;
}

const BASE = 65536;

/**
 * Holds copies of Uᵀ (rows × ldu) and Vᵀ (rows × ldv) inside the kernel's memory and queues rotations
 * on their rows; `finish()` applies what is left and copies the results back.
 */
export class RotationBatch {
  private K: Kernels;
  private f64: boolean;
  private uOff = 0; private vOff = 0; private uOps = 0; private vOps = 0;
  private uCount = 0; private vCount = 0;
  private uQ!: Float64Array; private vQ!: Float64Array;
  /** Padded row strides inside the kernel memory: a power-of-two stride would map every row of a
   * column chunk to the same few cache sets (the rotations walk down rows). */
  private lu: number; private lv: number;
  constructor(K: Kernels, private Ut: FA | null, private uRows: number, private ldu: number,
    private Vt: FA | null, private vRows: number, private ldv: number, private cap: number) {
    this.K = K;
    this.f64 = (Ut ?? Vt) instanceof Float64Array;
    const bpe = this.f64 ? 8 : 4;
    const pad = (ld: number) => { const l = Math.ceil((ld * bpe) / 64) * 64 / bpe; return l + 64 / bpe; };
    this.lu = pad(ldu); this.lv = pad(ldv);
    const align = (x: number) => Math.ceil(x / 64) * 64;
    this.uOff = BASE;
    this.vOff = align(this.uOff + (Ut ? uRows * this.lu * bpe : 0));
    this.uOps = align(this.vOff + (Vt ? vRows * this.lv * bpe : 0));
    this.vOps = align(this.uOps + cap * 32);
    const need = this.vOps + cap * 32;
    const have = K.memory.buffer.byteLength;
    if (need > have) K.memory.grow(Math.ceil((need - have) / 65536));
    const buf = K.memory.buffer;
    const view = (off: number, n: number): FA => (this.f64 ? new Float64Array(buf, off, n) : new Float32Array(buf, off, n));
    if (Ut) { const d = view(this.uOff, uRows * this.lu); for (let r = 0; r < uRows; r++) d.set(Ut.subarray(r * ldu, r * ldu + ldu), r * this.lu); }
    if (Vt) { const d = view(this.vOff, vRows * this.lv); for (let r = 0; r < vRows; r++) d.set(Vt.subarray(r * ldv, r * ldv + ldv), r * this.lv); }
    this.uQ = new Float64Array(buf, this.uOps, cap * 4);
    this.vQ = new Float64Array(buf, this.vOps, cap * 4);
  }
  /** Rotate rows (a, b) of Uᵀ: (x, y) ← (c x + s y, c y − s x). a = b with c = −1, s = 0 negates row a. */
  u(a: number, b: number, c: number, s: number): void {
    if (!this.Ut) return;
    const o = this.uCount * 4, q = this.uQ;
    q[o] = a; q[o + 1] = b; q[o + 2] = c; q[o + 3] = s;
    if (++this.uCount === this.cap) this.flushU();
  }
  v(a: number, b: number, c: number, s: number): void {
    if (!this.Vt) return;
    const o = this.vCount * 4, q = this.vQ;
    q[o] = a; q[o + 1] = b; q[o + 2] = c; q[o + 3] = s;
    if (++this.vCount === this.cap) this.flushV();
  }
  private flushU(): void {
    if (this.uCount === 0) return;
    (this.f64 ? this.K.drotBatch : this.K.srotBatch)(this.uOff, this.lu, this.ldu, this.uOps, this.uCount);
    this.uCount = 0;
  }
  private flushV(): void {
    if (this.vCount === 0) return;
    (this.f64 ? this.K.drotBatch : this.K.srotBatch)(this.vOff, this.lv, this.ldv, this.vOps, this.vCount);
    this.vCount = 0;
  }
  finish(): void {
    this.flushU(); this.flushV();
    const buf = this.K.memory.buffer;
    const view = (off: number, n: number): FA => (this.f64 ? new Float64Array(buf, off, n) : new Float32Array(buf, off, n));
    if (this.Ut) { const s = view(this.uOff, this.uRows * this.lu), ld = this.ldu; for (let r = 0; r < this.uRows; r++) this.Ut.set(s.subarray(r * this.lu, r * this.lu + ld), r * ld); }
    if (this.Vt) { const s = view(this.vOff, this.vRows * this.lv), ld = this.ldv; for (let r = 0; r < this.vRows; r++) this.Vt.set(s.subarray(r * this.lv, r * this.lv + ld), r * ld); }
  }
}
