/**
 * The one set of argument validators of the backend routines. Every backend (reference, WASM,
 * WebGPU) calls these before computing, so the same misuse raises the same typed error everywhere
 * (checked by the error block of the conformance suite). The int4 routines' validators are in int4.ts.
 */
import { ArgumentError, DTypeError, ShapeError } from './errors.js';
import type { BinaryOp, GemmArgs, GemvArgs, ReduceOp, UnaryOp } from './backend.js';
import type { FloatArray } from './dtype.js';
import { checkDim } from './int4.js';

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);
const nameOf = (v: unknown) => (v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v);

export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min'];
export const UNARY_OPS: readonly UnaryOp[] = ['neg', 'abs', 'sqrt', 'exp', 'log', 'square', 'silu', 'tanh'];
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'max', 'min', 'sumsq', 'absmax'];

/** Elements a row-major rows × cols view with leading dimension ld spans. */
export function span(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

export function checkFloatArray(fn: string, name: string, v: unknown): FloatArray {
  if (!(v instanceof Float32Array) && !(v instanceof Float64Array))
    throw new DTypeError(fn, `argument '${name}' must be a Float32Array or Float64Array, got ${nameOf(v)}`);
  return v;
}
function checkFinite(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(fn, name, v, 'must be a finite number');
  return v;
}
/** A rows × cols matrix in `arr` from `offset` with leading dimension `ld`. */
function checkMatrix(fn: string, name: string, arr: FloatArray, offset: unknown, ldName: string, ld: unknown, rows: number, cols: number): void {
  if (!isInt(offset) || offset < 0) throw new ArgumentError(fn, `${name}Offset`, offset, 'must be a non-negative integer');
  if (!isInt(ld) || ld < Math.max(1, cols))
    throw new ArgumentError(fn, ldName, ld, `must be an integer >= ${Math.max(1, cols)} (the stored matrix has ${cols} columns)`);
  const need = offset + span(rows, cols, ld);
  if (need > arr.length)
    throw new ShapeError(
      fn,
      `argument '${name}' is too short: a ${rows} × ${cols} matrix with ${ldName} ${ld} at offset ${offset} needs ${need} elements, got length ${arr.length}`,
    );
}
function sameDtype(fn: string, names: string, ...arrays: FloatArray[]): void {
  const c = arrays[0]!.constructor;
  if (arrays.some((x) => x.constructor !== c))
    throw new DTypeError(fn, `arguments ${names} must share one float dtype, got ${arrays.map((x) => x.constructor.name).join(', ')}`);
}

/** Validates GEMM arguments; returns the spans (elements) of A, B and C. */
export function validateGemm(fn: string, p: GemmArgs): { a: number; b: number; c: number } {
  if (p === null || typeof p !== 'object') throw new ArgumentError(fn, 'args', p, 'must be a GemmArgs object');
  const m = checkDim(fn, 'm', p.m),
    n = checkDim(fn, 'n', p.n),
    k = checkDim(fn, 'k', p.k);
  const a = checkFloatArray(fn, 'a', p.a),
    b = checkFloatArray(fn, 'b', p.b),
    c = checkFloatArray(fn, 'c', p.c);
  sameDtype(fn, "'a', 'b' and 'c'", a, b, c);
  checkFinite(fn, 'alpha', p.alpha);
  checkFinite(fn, 'beta', p.beta);
  const ar = p.transA ? k : m,
    ac = p.transA ? m : k,
    br = p.transB ? n : k,
    bc = p.transB ? k : n;
  checkMatrix(fn, 'a', a, p.aOffset, 'lda', p.lda, ar, ac);
  checkMatrix(fn, 'b', b, p.bOffset, 'ldb', p.ldb, br, bc);
  checkMatrix(fn, 'c', c, p.cOffset, 'ldc', p.ldc, m, n);
  return { a: span(ar, ac, p.lda), b: span(br, bc, p.ldb), c: span(m, n, p.ldc) };
}

/** Validates GEMV arguments; returns the lengths of x and y and the span of A. */
export function validateGemv(fn: string, p: GemvArgs): { lx: number; ly: number; a: number } {
  if (p === null || typeof p !== 'object') throw new ArgumentError(fn, 'args', p, 'must be a GemvArgs object');
  const m = checkDim(fn, 'm', p.m),
    n = checkDim(fn, 'n', p.n);
  const a = checkFloatArray(fn, 'a', p.a),
    x = checkFloatArray(fn, 'x', p.x),
    y = checkFloatArray(fn, 'y', p.y);
  sameDtype(fn, "'a', 'x' and 'y'", a, x, y);
  checkFinite(fn, 'alpha', p.alpha);
  checkFinite(fn, 'beta', p.beta);
  checkMatrix(fn, 'a', a, p.aOffset, 'lda', p.lda, m, n);
  const lx = p.trans ? m : n,
    ly = p.trans ? n : m;
  if (!isInt(p.xOffset) || p.xOffset < 0) throw new ArgumentError(fn, 'xOffset', p.xOffset, 'must be a non-negative integer');
  if (!isInt(p.yOffset) || p.yOffset < 0) throw new ArgumentError(fn, 'yOffset', p.yOffset, 'must be a non-negative integer');
  if (p.xOffset + lx > x.length)
    throw new ShapeError(fn, `argument 'x' is too short: needs ${p.xOffset + lx} elements (offset ${p.xOffset} + ${lx}), got length ${x.length}`);
  if (p.yOffset + ly > y.length)
    throw new ShapeError(fn, `argument 'y' is too short: needs ${p.yOffset + ly} elements (offset ${p.yOffset} + ${ly}), got length ${y.length}`);
  return { lx, ly, a: span(m, n, p.lda) };
}

function checkLen(fn: string, name: string, arr: FloatArray, n: number, offset = 0): void {
  if (offset + n > arr.length) throw new ShapeError(fn, `argument '${name}' is too short: needs ${offset + n} elements, got length ${arr.length}`);
}

export function validateBinary(fn: string, op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): void {
  if (!BINARY_OPS.includes(op)) throw new ArgumentError(fn, 'op', op, `must be one of ${BINARY_OPS.join(', ')}`);
  checkFloatArray(fn, 'a', a);
  checkFloatArray(fn, 'out', out);
  checkDim(fn, 'n', n);
  if (typeof b !== 'number') {
    checkFloatArray(fn, 'b', b);
    sameDtype(fn, "'a' and 'b'", a, b);
  }
  sameDtype(fn, "'a' and 'out'", a, out);
  checkLen(fn, 'a', a, n);
  checkLen(fn, 'out', out, n);
  if (typeof b !== 'number') checkLen(fn, 'b', b, n);
}

export function validateUnary(fn: string, op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void {
  if (!UNARY_OPS.includes(op)) throw new ArgumentError(fn, 'op', op, `must be one of ${UNARY_OPS.join(', ')}`);
  checkFloatArray(fn, 'a', a);
  checkFloatArray(fn, 'out', out);
  checkDim(fn, 'n', n);
  sameDtype(fn, "'a' and 'out'", a, out);
  checkLen(fn, 'a', a, n);
  checkLen(fn, 'out', out, n);
}

export function validateReduce(fn: string, op: ReduceOp, a: FloatArray, offset: number, n: number): void {
  if (!REDUCE_OPS.includes(op)) throw new ArgumentError(fn, 'op', op, `must be one of ${REDUCE_OPS.join(', ')}`);
  checkFloatArray(fn, 'a', a);
  checkDim(fn, 'offset', offset);
  checkDim(fn, 'n', n);
  checkLen(fn, 'a', a, n, offset);
}
