/**
 * Integer routines for the quantizers (`backend.extra`). Packed int4 layout everywhere:
 * two values per byte, LOW nibble = EVEN column, high nibble = odd column, signed two's complement
 * (-8..7); rows contiguous with row stride = (columns / 2) bytes; groups of `groupSize` consecutive
 * columns (along the input / reduction dimension) share one f32 scale; scales row-major
 * [rows × columns / groupSize]. Symmetric quantization (no zero points).
 */
import { ArgumentError, DTypeError, ShapeError, type Int4GemvArgs } from '@llmpress/tensor';
import type { ExtraContext } from './core.js';

export type { Int4GemvArgs };
export interface W4A8GemvArgs extends Omit<Int4GemvArgs, 'x'> {
  /** Int8 activations (length n) and their one scale. */
  x: Int8Array;
  xScale: number;
}
export interface W4A4GemmArgs {
  /** C is m × n; A is m × k (activations), W is n × k (weights); C = A · Wᵀ. */
  m: number; n: number; k: number;
  groupSize: number;
  a: Uint8Array; aScales: Float32Array;
  w: Uint8Array; wScales: Float32Array;
  c: Float32Array;
  /** Row stride of C in elements (default n). */
  ldc?: number;
  alpha?: number;
  beta?: number;
}
/** As W4A4GemmArgs, but the activations are int8 (one byte per value, m × k). */
export interface W4A8GemmArgs extends Omit<W4A4GemmArgs, 'a'> {
  a: Int8Array;
}

/** Packs signed integers in [-8, 7] into the int4 layout above (row-major, `cols` even). */
export function packInt4(values: ArrayLike<number>, rows: number, cols: number): Uint8Array {
  const fn = 'packInt4';
  if (!Number.isInteger(rows) || rows < 0) throw new ArgumentError(fn, 'rows', rows, 'must be a non-negative integer');
  if (!Number.isInteger(cols) || cols < 0 || cols % 2 !== 0) throw new ArgumentError(fn, 'cols', cols, 'must be a non-negative even integer');
  if (values.length !== rows * cols) throw new ShapeError(fn, `argument 'values' must hold rows·cols = ${rows * cols} values, got length ${values.length}`);
  const out = new Uint8Array((rows * cols) / 2);
  for (let i = 0; i < values.length; i += 2) {
    const lo = values[i]!, hi = values[i + 1]!;
    if (!Number.isInteger(lo) || lo < -8 || lo > 7) throw new ArgumentError(fn, `values[${i}]`, lo, 'must be an integer in [-8, 7]');
    if (!Number.isInteger(hi) || hi < -8 || hi > 7) throw new ArgumentError(fn, `values[${i + 1}]`, hi, 'must be an integer in [-8, 7]');
    out[i >> 1] = (lo & 15) | ((hi & 15) << 4);
  }
  return out;
}

/** Inverse of packInt4. */
export function unpackInt4(packed: Uint8Array, count = packed.length * 2): Int8Array {
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const b = packed[i >> 1]!;
    const v = i & 1 ? b >> 4 : b & 15;
    out[i] = v >= 8 ? v - 16 : v;
  }
  return out;
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);

/** `backend.extra` of the WASM backend. */
export type WasmExtras = {
  readonly int4Gemv: (args: Int4GemvArgs) => void;
  readonly w4a8Gemv: (args: W4A8GemvArgs) => void;
  readonly w4a4Gemm: (args: W4A4GemmArgs) => void;
  readonly w4a8Gemm: (args: W4A8GemmArgs) => void;
  readonly int4Dot: (rows: number, k: number, a: Uint8Array, w: Uint8Array, out: Int32Array) => void;
};

export function makeExtras(ctx: ExtraContext): WasmExtras {
  const { K, alloc } = ctx;
  interface Op { ptr: number; temp: number | null; bytes: number }
  const inMem = (fn: string, arr: ArrayBufferView, copy = true): Op => {
    if (ctx.isResident(arr)) return { ptr: arr.byteOffset, temp: null, bytes: arr.byteLength };
    const ptr = alloc.alloc(arr.byteLength, fn);
    if (copy && arr.byteLength) new Uint8Array(ctx.buf(), ptr, arr.byteLength).set(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    return { ptr, temp: ptr, bytes: arr.byteLength };
  };
  const outOf = (arr: ArrayBufferView, o: Op) => {
    if (o.temp !== null && o.bytes) new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).set(new Uint8Array(ctx.buf(), o.ptr, o.bytes));
  };
  const free = (ops: Op[]) => { for (const o of ops) if (o.temp !== null) alloc.release(o.temp); };

  const dim = (fn: string, name: string, v: unknown) => { if (!isInt(v) || v < 0) throw new ArgumentError(fn, name, v, 'must be a non-negative integer'); return v; };
  const typed = (fn: string, name: string, v: unknown, C: any, want: string) => {
    if (!(v instanceof C)) throw new DTypeError(fn, `argument '${name}' must be a ${want}, got ${v === null ? 'null' : typeof v === 'object' ? (v as object).constructor?.name : typeof v}`);
  };
  const len = (fn: string, name: string, v: ArrayBufferView & { length: number }, need: number) => {
    if (v.length < need) throw new ShapeError(fn, `argument '${name}' is too short: needs ${need} elements, got length ${v.length}`);
  };
  const groups = (fn: string, cols: number, colsName: string, g: unknown) => {
    if (!isInt(g) || g < 2 || g % 2 !== 0) throw new ArgumentError(fn, 'groupSize', g, 'must be an even integer >= 2');
    if (cols % g !== 0) throw new ArgumentError(fn, 'groupSize', g, `must divide ${colsName} = ${cols}`);
    return g;
  };
  const num = (fn: string, name: string, v: unknown, dflt: number) => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number') throw new ArgumentError(fn, name, v, 'must be a number');
    return v;
  };

  function int4Gemv(p: Int4GemvArgs): void {
    const fn = 'int4Gemv';
    ctx.alive(fn);
    const m = dim(fn, 'm', p?.m), n = dim(fn, 'n', p.n);
    const g = groups(fn, n, 'n', p.groupSize);
    typed(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4'); typed(fn, 'scales', p.scales, Float32Array, 'Float32Array');
    typed(fn, 'x', p.x, Float32Array, 'Float32Array'); typed(fn, 'y', p.y, Float32Array, 'Float32Array');
    len(fn, 'w', p.w, (m * n) / 2); len(fn, 'scales', p.scales, (m * n) / g); len(fn, 'x', p.x, n); len(fn, 'y', p.y, m);
    const alpha = num(fn, 'alpha', p.alpha, 1), beta = num(fn, 'beta', p.beta, 0);
    if (m === 0) return;
    const ops: Op[] = [];
    try {
      const W = inMem(fn, p.w.subarray(0, (m * n) / 2)); ops.push(W);
      const Sc = inMem(fn, p.scales.subarray(0, (m * n) / g)); ops.push(Sc);
      const X = inMem(fn, p.x.subarray(0, n)); ops.push(X);
      let xPtr = X.ptr;
      if (g % 16 === 0) {
        // the SIMD kernel reads x permuted per 16 columns (even, then odd)
        const P = alloc.alloc(n * 4, fn); ops.push({ ptr: P, temp: P, bytes: n * 4 });
        K.int4PermuteX(n, X.ptr, P);
        xPtr = P;
      }
      const ySub = p.y.subarray(0, m);
      const Y = inMem(fn, ySub, beta !== 0); ops.push(Y);
      ctx.runSplit('int4Gemv', m, 4, (m * n) >> 2, (lo, hi) => [lo, hi, n, g, alpha, W.ptr, Sc.ptr, xPtr, beta, Y.ptr]);
      outOf(ySub, Y);
    } finally { free(ops); }
  }

  function w4a8Gemv(p: W4A8GemvArgs): void {
    const fn = 'w4a8Gemv';
    ctx.alive(fn);
    const m = dim(fn, 'm', p?.m), n = dim(fn, 'n', p.n);
    const g = groups(fn, n, 'n', p.groupSize);
    typed(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4'); typed(fn, 'scales', p.scales, Float32Array, 'Float32Array');
    typed(fn, 'x', p.x, Int8Array, 'Int8Array'); typed(fn, 'y', p.y, Float32Array, 'Float32Array');
    len(fn, 'w', p.w, (m * n) / 2); len(fn, 'scales', p.scales, (m * n) / g); len(fn, 'x', p.x, n); len(fn, 'y', p.y, m);
    const alpha = num(fn, 'alpha', p.alpha, 1), beta = num(fn, 'beta', p.beta, 0);
    if (typeof p.xScale !== 'number') throw new ArgumentError(fn, 'xScale', p.xScale, 'must be a number');
    if (m === 0) return;
    const ops: Op[] = [];
    try {
      const W = inMem(fn, p.w.subarray(0, (m * n) / 2)); ops.push(W);
      const Sc = inMem(fn, p.scales.subarray(0, (m * n) / g)); ops.push(Sc);
      const X = inMem(fn, p.x.subarray(0, n)); ops.push(X);
      let xPtr = X.ptr;
      if (g % 16 === 0) {
        // the SIMD kernel reads x permuted per 16 columns (even, then odd)
        const P = alloc.alloc(n, fn); ops.push({ ptr: P, temp: P, bytes: n });
        K.int8PermuteX(n, X.ptr, P);
        xPtr = P;
      }
      const ySub = p.y.subarray(0, m);
      const Y = inMem(fn, ySub, beta !== 0); ops.push(Y);
      ctx.runSplit('w4a8Gemv', m, 4, (m * n) >> 2, (lo, hi) => [lo, hi, n, g, alpha, W.ptr, Sc.ptr, xPtr, p.xScale, beta, Y.ptr]);
      outOf(ySub, Y);
    } finally { free(ops); }
  }

  /**
   * W4A4 (`bits` = 4, `a` packed int4) or W4A8 (`bits` = 8, `a` int8) GEMM: prepare the activations
   * once (igemmPrepA), then split the weight rows (columns of C) across threads in strips of 8.
   */
  function intGemm(fn: string, bits: 4 | 8, p: W4A4GemmArgs | W4A8GemmArgs): void {
    ctx.alive(fn);
    const m = dim(fn, 'm', p?.m), n = dim(fn, 'n', p.n), k = dim(fn, 'k', p.k);
    const g = groups(fn, k, 'k', p.groupSize);
    // exact i32 group sums: |Σ| ≤ groupSize · 15 · 128 must stay below 2^31
    if (g > 1 << 20) throw new ArgumentError(fn, 'groupSize', g, 'must be at most 1048576 (i32 group sums)');
    if (bits === 4) typed(fn, 'a', p.a, Uint8Array, 'Uint8Array of packed int4');
    else typed(fn, 'a', p.a, Int8Array, 'Int8Array');
    typed(fn, 'aScales', p.aScales, Float32Array, 'Float32Array');
    typed(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4'); typed(fn, 'wScales', p.wScales, Float32Array, 'Float32Array');
    typed(fn, 'c', p.c, Float32Array, 'Float32Array');
    const ldc = p.ldc ?? n;
    if (!isInt(ldc) || ldc < Math.max(1, n)) throw new ArgumentError(fn, 'ldc', ldc, `must be an integer >= ${Math.max(1, n)}`);
    const aLen = bits === 4 ? (m * k) / 2 : m * k;
    len(fn, 'a', p.a, aLen); len(fn, 'aScales', p.aScales, (m * k) / g);
    len(fn, 'w', p.w, (n * k) / 2); len(fn, 'wScales', p.wScales, (n * k) / g);
    const cSpan = m === 0 || n === 0 ? 0 : (m - 1) * ldc + n;
    len(fn, 'c', p.c, cSpan);
    const alpha = num(fn, 'alpha', p.alpha, 1), beta = num(fn, 'beta', p.beta, 0);
    if (m === 0 || n === 0) return;
    const ops: Op[] = [];
    const temp = (bytes: number) => { const ptr = alloc.alloc(bytes, fn); ops.push({ ptr, temp: ptr, bytes }); return ptr; };
    try {
      const A = inMem(fn, p.a.subarray(0, aLen)); ops.push(A);
      const SA = inMem(fn, p.aScales.subarray(0, (m * k) / g)); ops.push(SA);
      const W = inMem(fn, p.w.subarray(0, (n * k) / 2)); ops.push(W);
      const SW = inMem(fn, p.wScales.subarray(0, (n * k) / g)); ops.push(SW);
      const cSub = p.c.subarray(0, cSpan);
      const C = inMem(fn, cSub, beta !== 0 || (m > 1 && ldc > n)); ops.push(C); // copy in: the gaps between rows are copied back out
      const MR = K.igemmInfo(0), NR = K.igemmInfo(1), AE = K.igemmInfo(2);
      const mpad = Math.ceil(m / MR) * MR, ng = k / g;
      const ap = temp(mpad * k * AE), sp = temp(mpad * ng * 4), sum = temp(mpad * ng * 4);
      const amax: number = K.igemmPrepA(bits, m, mpad, k, g, A.ptr, SA.ptr, ap, sp, sum, temp(MR * k * AE));
      // relaxed build: i16 accumulators gain at most 2·15·max|a| per word step; flush to i32 before
      // 32767 (a multiple of 4 steps: the kernel runs 2 steps per iteration, groups are 4k steps)
      const chunk = AE === 1 ? Math.max(4, Math.floor(32767 / (30 * Math.max(1, amax)) / 4) * 4) : 1 << 20;
      const scratchBytes = K.igemmScratchBytes(k, g);
      ctx.runSplit('w4a4Gemm', n, NR, m * n * k, (lo, hi) => [lo, hi, m, k, g, chunk, alpha, ap, sp, sum, W.ptr, SW.ptr, beta, C.ptr, ldc, temp(scratchBytes)]);
      outOf(cSub, C);
    } finally { free(ops); }
  }
  function w4a4Gemm(p: W4A4GemmArgs): void { intGemm('w4a4Gemm', 4, p); }
  function w4a8Gemm(p: W4A8GemmArgs): void { intGemm('w4a8Gemm', 8, p); }

  /** out[i] = Σ_p a[i, p] · w[i, p] over `rows` rows of k int4 values each (exact i32). */
  function int4Dot(rows: number, k: number, a: Uint8Array, w: Uint8Array, out: Int32Array): void {
    const fn = 'int4Dot';
    ctx.alive(fn);
    dim(fn, 'rows', rows); dim(fn, 'k', k);
    if (k % 2 !== 0) throw new ArgumentError(fn, 'k', k, 'must be even (two int4 values per byte)');
    typed(fn, 'a', a, Uint8Array, 'Uint8Array of packed int4'); typed(fn, 'w', w, Uint8Array, 'Uint8Array of packed int4');
    typed(fn, 'out', out, Int32Array, 'Int32Array');
    len(fn, 'a', a, (rows * k) / 2); len(fn, 'w', w, (rows * k) / 2); len(fn, 'out', out, rows);
    if (rows === 0) return;
    const ops: Op[] = [];
    try {
      const A = inMem(fn, a.subarray(0, (rows * k) / 2)); ops.push(A);
      const W = inMem(fn, w.subarray(0, (rows * k) / 2)); ops.push(W);
      const oSub = out.subarray(0, rows);
      const O = inMem(fn, oSub, false); ops.push(O);
      K.int4Dot(rows, k, A.ptr, W.ptr, O.ptr);
      outOf(oSub, O);
    } finally { free(ops); }
  }

  return Object.freeze({ int4Gemv, w4a8Gemv, w4a4Gemm, w4a8Gemm, int4Dot });
}
