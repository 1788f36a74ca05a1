/**
 * The reference backend: plain TypeScript (+ @stdlib/blas for GEMM/GEMV, imported from the
 * pure-JS `lib/ndarray.js` files: `lib/index.js` probes for a native addon with require('path'),
 * which breaks browser bundles), simple and
 * f64-capable. It is the oracle every other backend is tested against, so clarity wins over speed.
 */
import dgemm from '@stdlib/blas/base/dgemm/lib/ndarray.js';
import sgemm from '@stdlib/blas/base/sgemm/lib/ndarray.js';
import dgemv from '@stdlib/blas/base/dgemv/lib/ndarray.js';
import sgemv from '@stdlib/blas/base/sgemv/lib/ndarray.js';
import type { Backend, BinaryOp, GemmArgs, GemvArgs, ReduceOp, UnaryOp } from './backend.js';
import type { FloatArray } from './dtype.js';
import { validateBinary, validateGemm, validateGemv, validateReduce, validateUnary } from './validate.js';
import { int4GemvReference, w4a8GemvReference, w4a4GemmReference, w4a8GemmReference } from './int4.js';
import { attentionReference } from './attention.js';

function gemm(p: GemmArgs): void {
  validateGemm('gemm', p);
  const { m, n, k } = p;
  if (m === 0 || n === 0) return;
  const ta = p.transA ? 'transpose' : 'no-transpose';
  const tb = p.transB ? 'transpose' : 'no-transpose';
  if (p.c instanceof Float64Array) {
    (dgemm as any)(ta, tb, m, n, k, p.alpha, p.a, p.lda, 1, p.aOffset, p.b, p.ldb, 1, p.bOffset, p.beta, p.c, p.ldc, 1, p.cOffset);
  } else {
    (sgemm as any)(ta, tb, m, n, k, p.alpha, p.a, p.lda, 1, p.aOffset, p.b, p.ldb, 1, p.bOffset, p.beta, p.c, p.ldc, 1, p.cOffset);
  }
}

function gemv(p: GemvArgs): void {
  validateGemv('gemv', p);
  if (p.m === 0 || p.n === 0) {
    // y = beta*y still applies
    const len = p.trans ? p.n : p.m;
    for (let i = 0; i < len; i++) p.y[p.yOffset + i] = p.beta === 0 ? 0 : p.beta * p.y[p.yOffset + i]!;
    return;
  }
  const t = p.trans ? 'transpose' : 'no-transpose';
  const f: any = p.y instanceof Float64Array ? dgemv : sgemv;
  f(t, p.m, p.n, p.alpha, p.a, p.lda, 1, p.aOffset, p.x, 1, p.xOffset, p.beta, p.y, 1, p.yOffset);
}

const BIN: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  max: (x, y) => (x > y || Number.isNaN(x) ? x : y),
  min: (x, y) => (x < y || Number.isNaN(x) ? x : y),
};
const UN: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sqrt: Math.sqrt,
  exp: Math.exp,
  log: Math.log,
  square: (x) => x * x,
  silu: (x) => x / (1 + Math.exp(-x)),
  tanh: Math.tanh,
};

function binary(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): void {
  validateBinary('binary', op, a, b, out, n);
  const f = BIN[op];
  if (typeof b === 'number') for (let i = 0; i < n; i++) out[i] = f(a[i]!, b);
  else for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!);
}
function unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): void {
  validateUnary('unary', op, a, out, n);
  const f = UN[op];
  for (let i = 0; i < n; i++) out[i] = f(a[i]!);
}
function reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): number {
  validateReduce('reduce', op, a, offset, n);
  let acc: number;
  switch (op) {
    case 'sum':
      acc = 0;
      for (let i = 0; i < n; i++) acc += a[offset + i]!;
      return acc;
    case 'sumsq':
      acc = 0;
      for (let i = 0; i < n; i++) {
        const v = a[offset + i]!;
        acc += v * v;
      }
      return acc;
    case 'max':
      acc = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = a[offset + i]!;
        if (v > acc || Number.isNaN(v)) acc = v;
      }
      return acc;
    case 'min':
      acc = Infinity;
      for (let i = 0; i < n; i++) {
        const v = a[offset + i]!;
        if (v < acc || Number.isNaN(v)) acc = v;
      }
      return acc;
    case 'absmax':
      acc = 0;
      for (let i = 0; i < n; i++) {
        const v = Math.abs(a[offset + i]!);
        if (v > acc || Number.isNaN(v)) acc = v;
      }
      return acc;
  }
}

/** The singleton reference backend. */
export const referenceBackend: Backend = Object.freeze({
  name: 'reference',
  capabilities: Object.freeze({ dtypes: ['f32', 'f64', 'i8', 'u8', 'i32'] as const, syncRead: true, threads: 1, features: [] as string[] }),
  gemm,
  gemv,
  binary,
  unary,
  reduce,
  int4Gemv: int4GemvReference,
  w4a8Gemv: w4a8GemvReference,
  w4a8Gemm: w4a8GemmReference,
  w4a4Gemm: w4a4GemmReference,
  attention: attentionReference,
});

/** Factory form, for `pickBackend([...])`. */
export function createReferenceBackend(): Backend {
  return referenceBackend;
}
