/**
 * The WASM backend's integer routines of the backend contract (`int4Gemv`, `w4a8Gemv`, `w4a8Gemm`,
 * `w4a4Gemm`) and `int4Dot`. Layout and arithmetic contract: `PackedInt4` in @llmpress/tensor
 * (int4.ts): two signed nibbles per byte, low nibble = even column, per-group f32 scales, the last
 * group of a row may be ragged. The SIMD kernels want whole groups: a ragged call is zero-padded to
 * whole groups here (a copy per call; quantized layers pre-pad their weights once, see
 * `QuantizedLinear.kernelWidth`). Arguments are checked by the shared validators of @llmpress/tensor.
 */
import {
  ArgumentError,
  checkDim,
  checkLength,
  checkTyped,
  int4Groups,
  validateInt4Gemv,
  validateIntGemm,
  type Int4GemvArgs,
  type W4A8GemvArgs,
  type W4A4GemmArgs,
  type W4A8GemmArgs,
} from '@llmpress/tensor';
import type { ExtraContext } from './core.js';

export type { Int4GemvArgs, W4A8GemvArgs, W4A4GemmArgs, W4A8GemmArgs };
export { packInt4, unpackInt4 } from '@llmpress/tensor';

/** Copies `rows` rows of `from` bytes into rows of `to` bytes (zero tail). */
function padRows<A extends Uint8Array | Int8Array | Float32Array>(src: A, rows: number, from: number, to: number): A {
  const out = new (src.constructor as { new (n: number): A })(rows * to);
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * from, r * from + from) as any, r * to);
  return out;
}

/** The integer routines of the WASM backend. */
export type WasmIntegerRoutines = {
  readonly int4Gemv: (args: Int4GemvArgs) => void;
  readonly w4a8Gemv: (args: W4A8GemvArgs) => void;
  readonly w4a4Gemm: (args: W4A4GemmArgs) => void;
  readonly w4a8Gemm: (args: W4A8GemmArgs) => void;
  readonly int4Dot: (rows: number, k: number, a: Uint8Array, w: Uint8Array, out: Int32Array) => void;
};

export function makeIntegerRoutines(ctx: ExtraContext): WasmIntegerRoutines {
  const { K, alloc } = ctx;
  interface Op {
    ptr: number;
    temp: number | null;
    bytes: number;
  }
  const inMem = (fn: string, arr: ArrayBufferView, copy = true): Op => {
    if (ctx.isResident(arr)) return { ptr: arr.byteOffset, temp: null, bytes: arr.byteLength };
    const ptr = alloc.alloc(arr.byteLength, fn);
    if (copy && arr.byteLength) new Uint8Array(ctx.buf(), ptr, arr.byteLength).set(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    return { ptr, temp: ptr, bytes: arr.byteLength };
  };
  const outOf = (arr: ArrayBufferView, o: Op) => {
    if (o.temp !== null && o.bytes) new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).set(new Uint8Array(ctx.buf(), o.ptr, o.bytes));
  };
  const free = (ops: Op[]) => {
    for (const o of ops) if (o.temp !== null) alloc.release(o.temp);
  };

  /**
   * int4 GEMV with f32 activations (`int4Gemv`) or int8 activations and one scale (`w4a8Gemv`): the
   * SIMD kernels read x permuted per 16 columns (even, then odd) when the group size allows it.
   */
  function gemv4(fn: 'int4Gemv' | 'w4a8Gemv', p: Int4GemvArgs | W4A8GemvArgs): void {
    ctx.alive(fn);
    const int8x = fn === 'w4a8Gemv';
    const { m, n, g, alpha, beta } = validateInt4Gemv(fn, p, int8x);
    if (m === 0) return;
    if (n % g !== 0) {
      const np = int4Groups(n, g) * g;
      return gemv4(fn, { ...p, n: np, w: padRows(p.w, m, n / 2, np / 2), x: padRows(p.x as Float32Array, 1, n, np) } as Int4GemvArgs);
    }
    const ops: Op[] = [];
    try {
      const W = inMem(fn, p.w.subarray(0, (m * n) / 2));
      ops.push(W);
      const Sc = inMem(fn, p.scales.subarray(0, (m * n) / g));
      ops.push(Sc);
      const X = inMem(fn, p.x.subarray(0, n));
      ops.push(X);
      let xPtr = X.ptr;
      if (g % 16 === 0) {
        const bytes = n * p.x.BYTES_PER_ELEMENT,
          P = alloc.alloc(bytes, fn);
        ops.push({ ptr: P, temp: P, bytes });
        (int8x ? K.int8PermuteX : K.int4PermuteX)(n, X.ptr, P);
        xPtr = P;
      }
      const ySub = p.y.subarray(0, m);
      const Y = inMem(fn, ySub, beta !== 0);
      ops.push(Y);
      const xs = int8x ? [(p as W4A8GemvArgs).xScale] : [];
      ctx.runSplit(fn, m, 4, (m * n) >> 2, (lo, hi) => [lo, hi, n, g, alpha, W.ptr, Sc.ptr, xPtr, ...xs, beta, Y.ptr]);
      outOf(ySub, Y);
    } finally {
      free(ops);
    }
  }
  const int4Gemv = (p: Int4GemvArgs): void => gemv4('int4Gemv', p);
  const w4a8Gemv = (p: W4A8GemvArgs): void => gemv4('w4a8Gemv', p);

  /**
   * W4A4 (`bits` = 4, `a` packed int4) or W4A8 (`bits` = 8, `a` int8) GEMM: prepare the activations
   * once (igemmPrepA), then split the weight rows (columns of C) across threads in strips of 8.
   */
  function intGemm(fn: string, bits: 4 | 8, p: W4A4GemmArgs | W4A8GemmArgs): void {
    ctx.alive(fn);
    const { m, n, k, g, ldc, alpha, beta, cSpan } = validateIntGemm(fn, bits, p);
    if (m === 0 || n === 0) return;
    if (k % g !== 0) {
      const kp = int4Groups(k, g) * g;
      const a = bits === 4 ? padRows(p.a as Uint8Array, m, k / 2, kp / 2) : padRows(p.a as Int8Array, m, k, kp);
      return intGemm(fn, bits, { ...p, k: kp, a, w: padRows(p.w, n, k / 2, kp / 2) } as W4A4GemmArgs | W4A8GemmArgs);
    }
    const aLen = bits === 4 ? (m * k) / 2 : m * k;
    const ops: Op[] = [];
    const temp = (bytes: number) => {
      const ptr = alloc.alloc(bytes, fn);
      ops.push({ ptr, temp: ptr, bytes });
      return ptr;
    };
    try {
      const A = inMem(fn, p.a.subarray(0, aLen));
      ops.push(A);
      const SA = inMem(fn, p.aScales.subarray(0, (m * k) / g));
      ops.push(SA);
      const W = inMem(fn, p.w.subarray(0, (n * k) / 2));
      ops.push(W);
      const SW = inMem(fn, p.wScales.subarray(0, (n * k) / g));
      ops.push(SW);
      const cSub = p.c.subarray(0, cSpan);
      const C = inMem(fn, cSub, beta !== 0 || (m > 1 && ldc > n));
      ops.push(C); // copy in: the gaps between rows are copied back out
      const MR = K.igemmInfo(0),
        NR = K.igemmInfo(1),
        AE = K.igemmInfo(2);
      const mpad = Math.ceil(m / MR) * MR,
        ng = k / g;
      const ap = temp(mpad * k * AE),
        sp = temp(mpad * ng * 4),
        sum = temp(mpad * ng * 4);
      const amax: number = K.igemmPrepA(bits, m, mpad, k, g, A.ptr, SA.ptr, ap, sp, sum, temp(MR * k * AE));
      // relaxed build: i16 accumulators gain at most 2·15·max|a| per word step; flush to i32 before
      // 32767 (a multiple of 4 steps: the kernel runs 2 steps per iteration, groups are 4k steps)
      const chunk = AE === 1 ? Math.max(4, Math.floor(32767 / (30 * Math.max(1, amax)) / 4) * 4) : 1 << 20;
      const scratchBytes = K.igemmScratchBytes(k, g);
      ctx.runSplit('w4a4Gemm', n, NR, m * n * k, (lo, hi) => [lo, hi, m, k, g, chunk, alpha, ap, sp, sum, W.ptr, SW.ptr, beta, C.ptr, ldc, temp(scratchBytes)]);
      outOf(cSub, C);
    } finally {
      free(ops);
    }
  }
  function w4a4Gemm(p: W4A4GemmArgs): void {
    intGemm('w4a4Gemm', 4, p);
  }
  function w4a8Gemm(p: W4A8GemmArgs): void {
    intGemm('w4a8Gemm', 8, p);
  }

  /** out[i] = Σ_p a[i, p] · w[i, p] over `rows` rows of k int4 values each (exact i32). */
  function int4Dot(rows: number, k: number, a: Uint8Array, w: Uint8Array, out: Int32Array): void {
    const fn = 'int4Dot';
    ctx.alive(fn);
    checkDim(fn, 'rows', rows);
    checkDim(fn, 'k', k);
    if (k % 2 !== 0) throw new ArgumentError(fn, 'k', k, 'must be even (two int4 values per byte)');
    checkTyped(fn, 'a', a, Uint8Array, 'Uint8Array of packed int4');
    checkTyped(fn, 'w', w, Uint8Array, 'Uint8Array of packed int4');
    checkTyped(fn, 'out', out, Int32Array, 'Int32Array');
    checkLength(fn, 'a', a, (rows * k) / 2);
    checkLength(fn, 'w', w, (rows * k) / 2);
    checkLength(fn, 'out', out, rows);
    if (rows === 0) return;
    const ops: Op[] = [];
    try {
      const A = inMem(fn, a.subarray(0, (rows * k) / 2));
      ops.push(A);
      const W = inMem(fn, w.subarray(0, (rows * k) / 2));
      ops.push(W);
      const oSub = out.subarray(0, rows);
      const O = inMem(fn, oSub, false);
      ops.push(O);
      K.int4Dot(rows, k, A.ptr, W.ptr, O.ptr);
      outOf(oSub, O);
    } finally {
      free(ops);
    }
  }

  return Object.freeze({ int4Gemv, w4a8Gemv, w4a4Gemm, w4a8Gemm, int4Dot });
}
