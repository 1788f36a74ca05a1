/**
 * Batched plane rotations in a small WASM SIMD module of this package (assembly/rot.ts), for the
 * bidiagonal QR iteration: its O(n³) part is applying rotations to rows of Uᵀ and Vᵀ. Falls back to
 * plain TypeScript (the caller checks `rotKernels()`) where WebAssembly SIMD is unavailable.
 */
import { ROT_WASM_BASE64, ROT_WASM_RELAXED_BASE64 } from './generated/rot-wasm.js';
import type { FA } from './util.js';

interface Kernels {
  memory: WebAssembly.Memory;
  drotBatch(base: number, ld: number, ncols: number, ops: number, count: number): void;
  srotBatch(base: number, ld: number, ncols: number, ops: number, count: number): void;
  dfastBatch(base: number, ld: number, ncols: number, ops: number, count: number): void;
  sfastBatch(base: number, ld: number, ncols: number, ops: number, count: number): void;
}
let cached: Kernels | null | undefined;

function decode(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const decoded = new Map<string, Uint8Array>();
function instantiate(b64: string): Kernels | null {
  try {
    let bytes = decoded.get(b64);
    if (!bytes) {
      bytes = decode(b64);
      decoded.set(b64, bytes);
    }
    if (!WebAssembly.validate(bytes as BufferSource)) return null;
    const memory = new WebAssembly.Memory({ initial: 2 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), { env: { memory } });
    const ex = inst.exports as any;
    return { memory, drotBatch: ex.drotBatch, srotBatch: ex.srotBatch, dfastBatch: ex.dfastBatch, sfastBatch: ex.sfastBatch };
  } catch {
    return null;
  }
}

let relaxedTried = false;
/**
 * The rotation kernels: the relaxed-SIMD build (fused multiply-adds) where the engine accepts it —
 * in Node 20 once a WASM backend has switched the V8 flag on, so it is re-checked until it loads —
 * else the SIMD build; null without WebAssembly SIMD.
 */
export function rotKernels(): Kernels | null {
  if (cached && relaxedTried) return cached;
  const r = instantiate(ROT_WASM_RELAXED_BASE64);
  if (r) {
    relaxedTried = true;
    cached = r;
    return r;
  }
  if (cached === undefined) cached = instantiate(ROT_WASM_BASE64);
  return cached;
}

const BASE = 65536;
/** Below this |c| a fast rotation uses the swapped form (keeps p, q and the scales bounded). */
const CTINY = 2 ** -16;

/**
 * Holds copies of Uᵀ (rows × ldu) and Vᵀ (rows × ldv) inside the kernel's memory and queues rotations
 * on their rows; `finish()` applies what is left and copies the results back.
 */
export class RotationBatch {
  private K: Kernels;
  private f64: boolean;
  private uOff = 0;
  private vOff = 0;
  private uOps = 0;
  private vOps = 0;
  private uCount = 0;
  private vCount = 0;
  private uQ!: Float64Array;
  private vQ!: Float64Array;
  /** Padded row strides inside the kernel memory: a power-of-two stride would map every row of a
   * column chunk to the same few cache sets (the rotations walk down rows). */
  private lu: number;
  private lv: number;
  private du: Float64Array | null = null;
  private dv: Float64Array | null = null;
  /**
   * `fast` (default for f64): scaled rotations, two multiplies and two adds per element (see
   * `fastOp`); false (default for f32, where it measured no faster): plain rotations, four multiplies
   * and two adds per element, consecutive sweeps fused into one wavefront by the kernel.
   */
  constructor(
    K: Kernels,
    private Ut: FA | null,
    private uRows: number,
    private ldu: number,
    private Vt: FA | null,
    private vRows: number,
    private ldv: number,
    private cap: number,
    private fast: boolean = (Ut ?? Vt) instanceof Float64Array,
  ) {
    this.K = K;
    if (fast) {
      this.du = new Float64Array(uRows).fill(1);
      this.dv = new Float64Array(vRows).fill(1);
    }
    this.f64 = (Ut ?? Vt) instanceof Float64Array;
    const bpe = this.f64 ? 8 : 4;
    const pad = (ld: number) => {
      const l = (Math.ceil((ld * bpe) / 64) * 64) / bpe;
      return l + 64 / bpe;
    };
    this.lu = pad(ldu);
    this.lv = pad(ldv);
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
    if (Ut) {
      const d = view(this.uOff, uRows * this.lu);
      for (let r = 0; r < uRows; r++) d.set(Ut.subarray(r * ldu, r * ldu + ldu), r * this.lu);
    }
    if (Vt) {
      const d = view(this.vOff, vRows * this.lv);
      for (let r = 0; r < vRows; r++) d.set(Vt.subarray(r * ldv, r * ldv + ldv), r * this.lv);
    }
    this.uQ = new Float64Array(buf, this.uOps, cap * 4);
    this.vQ = new Float64Array(buf, this.vOps, cap * 4);
  }
  /** Rotate rows (a, b) of Uᵀ: (x, y) ← (c x + s y, c y − s x). a = b with c = −1, s = 0 negates row a. */
  u(a: number, b: number, c: number, s: number): void {
    if (!this.Ut) return;
    if (this.fast) {
      this.fastOp(this.du!, true, a, b, c, s);
      return;
    }
    this.pushU(a, b, c, s);
  }
  v(a: number, b: number, c: number, s: number): void {
    if (!this.Vt) return;
    if (this.fast) {
      this.fastOp(this.dv!, false, a, b, c, s);
      return;
    }
    this.pushV(a, b, c, s);
  }
  private pushU(a: number, b: number, p: number, q: number): void {
    const o = this.uCount * 4,
      Q = this.uQ;
    Q[o] = a;
    Q[o + 1] = b;
    Q[o + 2] = p;
    Q[o + 3] = q;
    if (++this.uCount === this.cap) this.flushU();
  }
  private pushV(a: number, b: number, p: number, q: number): void {
    const o = this.vCount * 4,
      Q = this.vQ;
    Q[o] = a;
    Q[o + 1] = b;
    Q[o + 2] = p;
    Q[o + 3] = q;
    if (++this.vCount === this.cap) this.flushV();
  }
  /**
   * Scaled ("fast") rotation: true row r = d[r] · stored row r. With |c| not tiny the stored rows get
   * (X_a + p X_b, X_b − q X_a), p = s d_b / (c d_a), q = s d_a / (c d_b), and d_a, d_b scale by c; with
   * |c| tiny the roles swap (p = c d_a / (s d_b), q = c d_b / (s d_a), d_a ← s d_b, d_b ← −s d_a).
   * Rounding errors equal those of the plain rotation; a row whose scale leaves [LOW, 1] is rescaled.
   */
  private fastOp(d: Float64Array, isU: boolean, a: number, b: number, c: number, s: number): void {
    if (a === b) {
      d[a] = d[a]! * c;
      return;
    } // negation (c = −1, s = 0): a scale change only
    const da = d[a]!,
      db = d[b]!;
    let bb = b,
      p: number,
      q: number;
    // one division: p = w·d_b², q = w·d_a² with w = s / (c d_a d_b); scales stay in [LOW, 1] (LOW = 2⁻²⁰⁰
    // for f64, 2⁻⁶⁰ for f32) and |c| ≥ 2⁻¹⁶ here, so the denominator cannot underflow
    if (Math.abs(c) >= CTINY) {
      const w = s / (c * da * db);
      p = w * db * db;
      q = w * da * da;
      d[a] = c * da;
      d[b] = c * db;
    } else {
      const w = c / (s * da * db);
      bb = -b - 1;
      p = w * da * da;
      q = w * db * db;
      d[a] = s * db;
      d[b] = -s * da;
    }
    if (isU) this.pushU(a, bb, p, q);
    else this.pushV(a, bb, p, q);
    const low = this.f64 ? 2 ** -200 : 2 ** -60;
    if (Math.abs(d[a]!) < low) {
      if (isU) this.pushU(a, a, d[a]!, 0);
      else this.pushV(a, a, d[a]!, 0);
      d[a] = 1;
    }
    if (Math.abs(d[b]!) < low) {
      if (isU) this.pushU(b, b, d[b]!, 0);
      else this.pushV(b, b, d[b]!, 0);
      d[b] = 1;
    }
  }
  private flushU(): void {
    if (this.uCount === 0) return;
    (this.fast ? (this.f64 ? this.K.dfastBatch : this.K.sfastBatch) : this.f64 ? this.K.drotBatch : this.K.srotBatch)(
      this.uOff,
      this.lu,
      this.ldu,
      this.uOps,
      this.uCount,
    );
    this.uCount = 0;
  }
  private flushV(): void {
    if (this.vCount === 0) return;
    (this.fast ? (this.f64 ? this.K.dfastBatch : this.K.sfastBatch) : this.f64 ? this.K.drotBatch : this.K.srotBatch)(
      this.vOff,
      this.lv,
      this.ldv,
      this.vOps,
      this.vCount,
    );
    this.vCount = 0;
  }
  finish(): void {
    this.flushU();
    this.flushV();
    const buf = this.K.memory.buffer;
    const view = (off: number, n: number): FA => (this.f64 ? new Float64Array(buf, off, n) : new Float32Array(buf, off, n));
    const back = (X: FA, off: number, rows: number, lk: number, ld: number, d: Float64Array | null) => {
      const src = view(off, rows * lk);
      for (let r = 0; r < rows; r++) {
        const so = r * lk,
          o = r * ld,
          f = d ? d[r]! : 1;
        if (f === 1) X.set(src.subarray(so, so + ld), o);
        else for (let i = 0; i < ld; i++) X[o + i] = f * src[so + i]!;
      }
    };
    if (this.Ut) back(this.Ut, this.uOff, this.uRows, this.lu, this.ldu, this.du);
    if (this.Vt) back(this.Vt, this.vOff, this.vRows, this.lv, this.ldv, this.dv);
  }
}
