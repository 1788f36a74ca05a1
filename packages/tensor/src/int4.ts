/**
 * The packed-int4 type of llmpress and the integer routines' arguments, validators and reference
 * implementations (the oracle every backend's `int4Gemv` / `w4a8Gemv` / `w4a8Gemm` / `w4a4Gemm` is
 * tested against in the conformance suite).
 *
 * Layout (`PackedInt4`): two signed two's-complement nibbles (−8..7) per byte, LOW nibble = EVEN
 * column; a row of `cols` values takes cols/2 bytes (cols even); rows contiguous.
 * Arithmetic contract: groups of `groupSize` consecutive columns along the reduction dimension share
 * one f32 scale; a row has ⌈cols / groupSize⌉ groups (the LAST GROUP MAY BE RAGGED, i.e. shorter);
 * scales are row-major [rows × ⌈cols / groupSize⌉]. Within a group the products of integer codes are
 * summed exactly (integers), then scaled: y = Σ_g s_w[g] · s_x[g] · Σ_{j ∈ g} q_w[j] · q_x[j].
 */
import { ArgumentError, DTypeError, ShapeError } from './errors.js';

/** Packed signed int4 codes (see the layout above). */
export type PackedInt4 = Uint8Array;

/** y = alpha · dequant(W) · x + beta · y, W m × n packed int4 with per-group f32 scales. */
export interface Int4GemvArgs {
  /** Output rows (weight rows). */
  m: number;
  /** Input columns (even). */
  n: number;
  /** Columns per scale group (even, ≥ 2); the last group of a row may be shorter. */
  groupSize: number;
  /** Packed int4 weights, m × n/2 bytes. */
  w: PackedInt4;
  /** Per-group scales, m × ⌈n / groupSize⌉. */
  scales: Float32Array;
  x: Float32Array;
  y: Float32Array;
  alpha?: number;
  beta?: number;
}
/** As `Int4GemvArgs`, with int8 activations and their one scale: y = alpha · xScale · dequant(W) · x + beta · y. */
export interface W4A8GemvArgs extends Omit<Int4GemvArgs, 'x'> {
  x: Int8Array;
  xScale: number;
}
/** C (m × n) = alpha · A · Wᵀ + beta · C for int4 activations A (m × k, packed) and int4 weights W (n × k, packed). */
export interface W4A4GemmArgs {
  m: number;
  n: number;
  k: number;
  groupSize: number;
  a: PackedInt4;
  aScales: Float32Array;
  w: PackedInt4;
  wScales: Float32Array;
  c: Float32Array;
  /** Row stride of C in elements (default n). */
  ldc?: number;
  alpha?: number;
  beta?: number;
}
/** As `W4A4GemmArgs`, but the activations are int8 (one byte per value, m × k). */
export interface W4A8GemmArgs extends Omit<W4A4GemmArgs, 'a'> {
  a: Int8Array;
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);
const nameOf = (v: unknown) => (v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v);

/** Groups per row of `cols` columns. */
export function int4Groups(cols: number, groupSize: number): number {
  return Math.ceil(cols / groupSize);
}

/** Packs signed integers in [-8, 7] into the int4 layout (row-major, `cols` even). */
export function packInt4(values: ArrayLike<number>, rows: number, cols: number): PackedInt4 {
  const fn = 'packInt4';
  if (!isInt(rows) || rows < 0) throw new ArgumentError(fn, 'rows', rows, 'must be a non-negative integer');
  if (!isInt(cols) || cols < 0 || cols % 2 !== 0) throw new ArgumentError(fn, 'cols', cols, 'must be a non-negative even integer');
  if (values.length !== rows * cols) throw new ShapeError(fn, `argument 'values' must hold rows·cols = ${rows * cols} values, got length ${values.length}`);
  const out = new Uint8Array((rows * cols) / 2);
  for (let i = 0; i < values.length; i += 2) {
    const lo = values[i]!,
      hi = values[i + 1]!;
    if (!isInt(lo) || lo < -8 || lo > 7) throw new ArgumentError(fn, `values[${i}]`, lo, 'must be an integer in [-8, 7]');
    if (!isInt(hi) || hi < -8 || hi > 7) throw new ArgumentError(fn, `values[${i + 1}]`, hi, 'must be an integer in [-8, 7]');
    out[i >> 1] = (lo & 15) | ((hi & 15) << 4);
  }
  return out;
}

/** Inverse of packInt4: `count` signed values. */
export function unpackInt4(packed: PackedInt4, count = packed.length * 2): Int8Array {
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const b = packed[i >> 1]!;
    const v = i & 1 ? b >> 4 : b & 15;
    out[i] = v >= 8 ? v - 16 : v;
  }
  return out;
}

// ------------------------------------------------------------------ validators (shared by every backend)

export function checkDim(fn: string, name: string, v: unknown): number {
  if (!isInt(v) || v < 0) throw new ArgumentError(fn, name, v, 'must be a non-negative integer');
  return v;
}
export function checkTyped(fn: string, name: string, v: unknown, C: Function, want: string): void {
  if (!(v instanceof C)) throw new DTypeError(fn, `argument '${name}' must be a ${want}, got ${nameOf(v)}`);
}
export function checkLength(fn: string, name: string, v: { length: number }, need: number): void {
  if (v.length < need) throw new ShapeError(fn, `argument '${name}' is too short: needs ${need} elements, got length ${v.length}`);
}
export function checkNumber(fn: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(fn, name, v, 'must be a finite number');
  return v;
}
function checkArgs(fn: string, p: unknown, what: string): void {
  if (p === null || typeof p !== 'object') throw new ArgumentError(fn, 'args', p, `must be a ${what} object`);
}
function checkGroup(fn: string, g: unknown): number {
  if (!isInt(g) || g < 2 || g % 2 !== 0) throw new ArgumentError(fn, 'groupSize', g, 'must be an even integer >= 2');
  // exact i32 group sums: |Σ| ≤ groupSize · 8 · 128 must stay below 2^31
  if (g > 1 << 20) throw new ArgumentError(fn, 'groupSize', g, 'must be at most 1048576 (i32 group sums)');
  return g;
}
function checkEven(fn: string, name: string, v: number): void {
  if (v % 2 !== 0) throw new ArgumentError(fn, name, v, 'must be even (two int4 values per byte)');
}

/** Validates `Int4GemvArgs` (`xType` Float32Array) or `W4A8GemvArgs` (Int8Array + xScale). Returns the resolved shape. */
export function validateInt4Gemv(
  fn: string,
  p: Int4GemvArgs | W4A8GemvArgs,
  int8x = false,
): { m: number; n: number; g: number; ng: number; alpha: number; beta: number } {
  checkArgs(fn, p, int8x ? 'W4A8GemvArgs' : 'Int4GemvArgs');
  const m = checkDim(fn, 'm', p.m),
    n = checkDim(fn, 'n', p.n);
  checkEven(fn, 'n', n);
  const g = checkGroup(fn, p.groupSize),
    ng = int4Groups(n, g);
  checkTyped(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4');
  checkTyped(fn, 'scales', p.scales, Float32Array, 'Float32Array');
  if (int8x) checkTyped(fn, 'x', p.x, Int8Array, 'Int8Array');
  else checkTyped(fn, 'x', p.x, Float32Array, 'Float32Array');
  checkTyped(fn, 'y', p.y, Float32Array, 'Float32Array');
  checkLength(fn, 'w', p.w, (m * n) / 2);
  checkLength(fn, 'scales', p.scales, m * ng);
  checkLength(fn, 'x', p.x, n);
  checkLength(fn, 'y', p.y, m);
  const alpha = checkNumber(fn, 'alpha', p.alpha, 1),
    beta = checkNumber(fn, 'beta', p.beta, 0);
  if (int8x) checkNumber(fn, 'xScale', (p as W4A8GemvArgs).xScale ?? NaN, 0);
  return { m, n, g, ng, alpha, beta };
}

/** Validates `W4A4GemmArgs` (bits 4) or `W4A8GemmArgs` (bits 8). */
export function validateIntGemm(
  fn: string,
  bits: 4 | 8,
  p: W4A4GemmArgs | W4A8GemmArgs,
): { m: number; n: number; k: number; g: number; ng: number; ldc: number; alpha: number; beta: number; cSpan: number } {
  checkArgs(fn, p, bits === 4 ? 'W4A4GemmArgs' : 'W4A8GemmArgs');
  const m = checkDim(fn, 'm', p.m),
    n = checkDim(fn, 'n', p.n),
    k = checkDim(fn, 'k', p.k);
  checkEven(fn, 'k', k);
  const g = checkGroup(fn, p.groupSize),
    ng = int4Groups(k, g);
  if (bits === 4) checkTyped(fn, 'a', p.a, Uint8Array, 'Uint8Array of packed int4');
  else checkTyped(fn, 'a', p.a, Int8Array, 'Int8Array');
  checkTyped(fn, 'aScales', p.aScales, Float32Array, 'Float32Array');
  checkTyped(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4');
  checkTyped(fn, 'wScales', p.wScales, Float32Array, 'Float32Array');
  checkTyped(fn, 'c', p.c, Float32Array, 'Float32Array');
  const ldc = p.ldc ?? n;
  if (!isInt(ldc) || ldc < Math.max(1, n)) throw new ArgumentError(fn, 'ldc', ldc, `must be an integer >= ${Math.max(1, n)}`);
  checkLength(fn, 'a', p.a, bits === 4 ? (m * k) / 2 : m * k);
  checkLength(fn, 'aScales', p.aScales, m * ng);
  checkLength(fn, 'w', p.w, (n * k) / 2);
  checkLength(fn, 'wScales', p.wScales, n * ng);
  const cSpan = m === 0 || n === 0 ? 0 : (m - 1) * ldc + n;
  checkLength(fn, 'c', p.c, cSpan);
  const alpha = checkNumber(fn, 'alpha', p.alpha, 1),
    beta = checkNumber(fn, 'beta', p.beta, 0);
  return { m, n, k, g, ng, ldc, alpha, beta, cSpan };
}

// ------------------------------------------------------------------ reference implementations

const nib = (b: number, hi: boolean) => {
  const v = hi ? b >> 4 : b & 15;
  return v >= 8 ? v - 16 : v;
};

function gemvRef(fn: string, p: Int4GemvArgs | W4A8GemvArgs, int8x: boolean): void {
  const { m, n, g, ng, alpha, beta } = validateInt4Gemv(fn, p, int8x);
  const rb = n / 2,
    x = p.x,
    xs = int8x ? (p as W4A8GemvArgs).xScale : 1;
  for (let r = 0; r < m; r++) {
    let acc = 0;
    for (let gi = 0; gi < ng; gi++) {
      let s = 0;
      for (let j = gi * g, e = Math.min(n, j + g); j < e; j += 2) {
        const b = p.w[r * rb + j / 2]!;
        s += nib(b, false) * x[j]! + nib(b, true) * x[j + 1]!;
      }
      acc += p.scales[r * ng + gi]! * s;
    }
    p.y[r] = alpha * xs * acc + (beta === 0 ? 0 : beta * p.y[r]!);
  }
}

/** Reference `int4Gemv` (f64 accumulation). */
export function int4GemvReference(p: Int4GemvArgs): void {
  gemvRef('int4Gemv', p, false);
}
/** Reference `w4a8Gemv` (exact integer group sums). */
export function w4a8GemvReference(p: W4A8GemvArgs): void {
  gemvRef('w4a8Gemv', p, true);
}

function intGemmRef(fn: string, bits: 4 | 8, p: W4A4GemmArgs | W4A8GemmArgs): void {
  const { m, n, k, g, ng, ldc, alpha, beta } = validateIntGemm(fn, bits, p);
  const kb = k / 2;
  const av = (i: number, j: number) => (bits === 8 ? (p.a as Int8Array)[i * k + j]! : nib((p.a as Uint8Array)[i * kb + (j >> 1)]!, (j & 1) === 1));
  for (let i = 0; i < m; i++)
    for (let o = 0; o < n; o++) {
      let acc = 0;
      for (let gi = 0; gi < ng; gi++) {
        let s = 0;
        for (let j = gi * g, e = Math.min(k, j + g); j < e; j++) s += av(i, j) * nib(p.w[o * kb + (j >> 1)]!, (j & 1) === 1);
        acc += p.aScales[i * ng + gi]! * p.wScales[o * ng + gi]! * s;
      }
      const idx = i * ldc + o;
      p.c[idx] = alpha * acc + (beta === 0 ? 0 : beta * p.c[idx]!);
    }
}
/** Reference `w4a4Gemm`. */
export function w4a4GemmReference(p: W4A4GemmArgs): void {
  intGemmRef('w4a4Gemm', 4, p);
}
/** Reference `w4a8Gemm`. */
export function w4a8GemmReference(p: W4A8GemmArgs): void {
  intGemmRef('w4a8Gemm', 8, p);
}
