import { ArgumentError, DTypeError, NonFiniteError, ShapeError, UnsupportedError, describe } from './errors.js';
import { allocArray, isDType, type ArrayOf, type DType, type FloatArray, type FloatDType } from './dtype.js';
import { Tensor, checkShape, contiguousStrides, sizeOf, isTensor, type Shape } from './tensor.js';
import type { Backend, BinaryOp, UnaryOp } from './backend.js';
import { resolveBackend, routine } from './select.js';
import { Rng } from './random.js';

export interface BackendOption {
  backend?: Backend;
}

// ---------------------------------------------------------------- creation
function nestedShape(x: unknown): number[] {
  const shape: number[] = [];
  let cur: any = x;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

/** Builds a tensor from a typed array, a flat array with `shape`, or nested arrays. */
export function tensor<D extends DType = 'f32'>(values: ArrayLike<number> | readonly any[], options: { shape?: Shape; dtype?: D } = {}): Tensor<D> {
  const fn = 'tensor';
  const dtype = (options.dtype ?? 'f32') as D;
  if (!isDType(dtype)) throw new ArgumentError(fn, 'options.dtype', dtype, 'must be one of f32, f64, i8, u8, i32');
  let flat: ArrayLike<number>;
  let shape: number[];
  if (Array.isArray(values) && values.length > 0 && Array.isArray(values[0])) {
    shape = nestedShape(values);
    flat = (values as any[]).flat(shape.length) as number[];
    if (flat.length !== sizeOf(shape))
      throw new ShapeError(fn, `nested arrays are ragged (expected ${sizeOf(shape)} values for shape [${shape}], got ${flat.length})`);
  } else {
    flat = values as ArrayLike<number>;
    shape = options.shape ? checkShape(fn, 'options.shape', options.shape) : [flat.length];
  }
  if (options.shape && Array.isArray(values) && Array.isArray(values[0]) && sizeOf(options.shape) !== sizeOf(shape)) {
    throw new ShapeError(fn, `nested shape [${shape}] does not match options.shape [${options.shape}]`);
  }
  if (sizeOf(shape) !== flat.length) throw new ShapeError(fn, `${flat.length} values cannot fill shape [${shape}]`);
  const data = allocArray(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number') throw new ArgumentError(fn, `values[${i}]`, v, 'must be a number');
    data[i] = v;
  }
  return new Tensor(dtype, data, shape);
}

export function zeros<D extends DType = 'f32'>(shape: Shape, dtype: D = 'f32' as D): Tensor<D> {
  const s = checkShape('zeros', 'shape', shape);
  if (!isDType(dtype)) throw new ArgumentError('zeros', 'dtype', dtype, 'must be one of f32, f64, i8, u8, i32');
  return new Tensor(dtype, allocArray(dtype, sizeOf(s)), s);
}
export function full<D extends DType = 'f32'>(shape: Shape, value: number, dtype: D = 'f32' as D): Tensor<D> {
  const t = zeros(shape, dtype);
  t.data.fill(value);
  return t;
}
export function ones<D extends DType = 'f32'>(shape: Shape, dtype: D = 'f32' as D): Tensor<D> {
  return full(shape, 1, dtype);
}
export function eye<D extends DType = 'f32'>(n: number, dtype: D = 'f32' as D): Tensor<D> {
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError('eye', 'n', n, 'must be a non-negative integer');
  const t = zeros([n, n], dtype);
  for (let i = 0; i < n; i++) t.data[i * n + i] = 1;
  return t;
}
export function arange<D extends DType = 'f32'>(n: number, dtype: D = 'f32' as D): Tensor<D> {
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError('arange', 'n', n, 'must be a non-negative integer');
  const t = zeros([n], dtype);
  for (let i = 0; i < n; i++) t.data[i] = i;
  return t;
}
export interface RandomOptions<D extends FloatDType> {
  seed?: number;
  dtype?: D;
}
/** Seeded standard normal samples (times `std`, plus `mean`). */
export function randn<D extends FloatDType = 'f32'>(shape: Shape, options: RandomOptions<D> & { mean?: number; std?: number } = {}): Tensor<D> {
  const t = zeros(shape, (options.dtype ?? 'f32') as D);
  const rng = new Rng(options.seed ?? 0);
  const mean = options.mean ?? 0,
    std = options.std ?? 1;
  for (let i = 0; i < t.data.length; i++) t.data[i] = mean + std * rng.normal();
  return t;
}
/** Seeded uniform samples in [low, high). */
export function rand<D extends FloatDType = 'f32'>(shape: Shape, options: RandomOptions<D> & { low?: number; high?: number } = {}): Tensor<D> {
  const t = zeros(shape, (options.dtype ?? 'f32') as D);
  const rng = new Rng(options.seed ?? 0);
  const lo = options.low ?? 0,
    hi = options.high ?? 1;
  for (let i = 0; i < t.data.length; i++) t.data[i] = lo + (hi - lo) * rng.uniform();
  return t;
}

// ---------------------------------------------------------------- checks
export function assertTensor(fn: string, arg: string, x: unknown): asserts x is Tensor {
  if (!isTensor(x)) throw new ArgumentError(fn, arg, x, 'must be a Tensor');
}
export function assertFloat(fn: string, arg: string, t: Tensor): asserts t is Tensor<FloatDType> {
  if (t.dtype !== 'f32' && t.dtype !== 'f64') throw new DTypeError(fn, `argument '${arg}' must be f32 or f64, got ${t.dtype}`);
}
/** Throws NonFiniteError naming the first NaN/Inf. */
export function assertFinite(fn: string, arg: string, t: Tensor): void {
  const d = t.data;
  let bad = -1,
    val = 0;
  t.forEachIndex((f, i) => {
    if (bad < 0 && !Number.isFinite(d[f]!)) {
      bad = i;
      val = d[f]!;
    }
  });
  if (bad >= 0) throw new NonFiniteError(fn, arg, bad, val);
}
export function assertMatrix(fn: string, arg: string, t: unknown): asserts t is Tensor {
  assertTensor(fn, arg, t);
  if (t.ndim !== 2) throw new ShapeError(fn, `argument '${arg}' must be a 2-D matrix, got shape [${t.shape.join(', ')}]`);
}

// ---------------------------------------------------------------- elementwise
export function broadcastShapes(fn: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1,
      db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new ShapeError(fn, `shapes [${a.join(', ')}] and [${b.join(', ')}] cannot be broadcast`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

function broadcastStrides(t: Tensor, shape: Shape): number[] {
  const n = shape.length,
    k = t.ndim;
  return shape.map((d, i) => {
    const j = i - (n - k);
    if (j < 0) return 0;
    return t.shape[j] === 1 && d !== 1 ? 0 : t.strides[j]!;
  });
}

const BIN_JS: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  max: (x, y) => (x > y || Number.isNaN(x) ? x : y),
  min: (x, y) => (x < y || Number.isNaN(x) ? x : y),
};

function binaryOp(op: BinaryOp, fn: string, a: Tensor, b: Tensor | number, options: BackendOption): Tensor {
  assertTensor(fn, 'a', a);
  if (typeof b !== 'number') {
    assertTensor(fn, 'b', b);
    if (a.dtype !== b.dtype) throw new DTypeError(fn, `dtypes differ: a is ${a.dtype}, b is ${b.dtype} (cast with astype first)`);
  }
  const backend = resolveBackend(fn, options.backend);
  const isFloat = a.dtype === 'f32' || a.dtype === 'f64';
  if (typeof b === 'number') {
    const ac = a.contiguous();
    const out = allocArray(a.dtype, a.size);
    if (isFloat) routine(backend, 'binary')(op, ac.data as FloatArray, b, out as unknown as FloatArray, a.size);
    else {
      const f = BIN_JS[op];
      for (let i = 0; i < a.size; i++) out[i] = f(ac.data[i]!, b);
    }
    return new Tensor(a.dtype, out, a.shape);
  }
  const shape = broadcastShapes(fn, a.shape, b.shape);
  const n = sizeOf(shape);
  const out = allocArray(a.dtype, n);
  const same = a.ndim === b.ndim && a.shape.every((d, i) => d === b.shape[i]);
  if (same && isFloat) {
    routine(backend, 'binary')(op, a.contiguous().data as FloatArray, b.contiguous().data as FloatArray, out as unknown as FloatArray, n);
    return new Tensor<DType>(a.dtype, out, shape);
  }
  const sa = broadcastStrides(a, shape),
    sb = broadcastStrides(b, shape);
  const f = BIN_JS[op];
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let ia = a.offset,
    ib = b.offset;
  for (let i = 0; i < n; i++) {
    out[i] = f(a.data[ia]!, b.data[ib]!);
    for (let ax = nd - 1; ax >= 0; ax--) {
      idx[ax]!++;
      ia += sa[ax]!;
      ib += sb[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      ia -= shape[ax]! * sa[ax]!;
      ib -= shape[ax]! * sb[ax]!;
      idx[ax] = 0;
    }
  }
  return new Tensor(a.dtype, out, shape);
}

export const add = (a: Tensor, b: Tensor | number, o: BackendOption = {}) => binaryOp('add', 'add', a, b, o);
export const sub = (a: Tensor, b: Tensor | number, o: BackendOption = {}) => binaryOp('sub', 'sub', a, b, o);
export const mul = (a: Tensor, b: Tensor | number, o: BackendOption = {}) => binaryOp('mul', 'mul', a, b, o);
export const div = (a: Tensor, b: Tensor | number, o: BackendOption = {}) => binaryOp('div', 'div', a, b, o);
export const maximum = (a: Tensor, b: Tensor | number, o: BackendOption = {}) => binaryOp('max', 'maximum', a, b, o);
export const minimum = (a: Tensor, b: Tensor | number, o: BackendOption = {}) => binaryOp('min', 'minimum', a, b, o);

function unaryOp(op: UnaryOp, a: Tensor, options: BackendOption): Tensor {
  assertTensor(op, 'a', a);
  assertFloat(op, 'a', a);
  const out = allocArray(a.dtype, a.size) as FloatArray;
  routine(resolveBackend(op, options.backend), 'unary')(op, a.contiguous().data as FloatArray, out, a.size);
  return new Tensor(a.dtype, out as any, a.shape);
}
export const neg = (a: Tensor, o: BackendOption = {}) => unaryOp('neg', a, o);
export const abs = (a: Tensor, o: BackendOption = {}) => unaryOp('abs', a, o);
export const sqrt = (a: Tensor, o: BackendOption = {}) => unaryOp('sqrt', a, o);
export const exp = (a: Tensor, o: BackendOption = {}) => unaryOp('exp', a, o);
export const log = (a: Tensor, o: BackendOption = {}) => unaryOp('log', a, o);
export const square = (a: Tensor, o: BackendOption = {}) => unaryOp('square', a, o);
export const silu = (a: Tensor, o: BackendOption = {}) => unaryOp('silu', a, o);

// ---------------------------------------------------------------- reductions
export interface ReduceOptions extends BackendOption {
  axis?: number;
  keepdims?: boolean;
}
type RKind = 'sum' | 'max' | 'min' | 'mean';

function reduceOp(kind: RKind, t: Tensor, options: ReduceOptions): Tensor | number {
  const fn = kind;
  assertTensor(fn, 't', t);
  const backend = resolveBackend(fn, options.backend);
  const isFloat = t.dtype === 'f32' || t.dtype === 'f64';
  if (options.axis === undefined) {
    if (t.size === 0 && (kind === 'max' || kind === 'min')) throw new ShapeError(fn, `cannot reduce an empty tensor of shape [${t.shape}] with ${kind}`);
    const c = t.contiguous();
    let v: number;
    if (isFloat) v = routine(backend, 'reduce')(kind === 'mean' ? 'sum' : kind, c.data as FloatArray, 0, t.size);
    else {
      v = kind === 'max' ? -Infinity : kind === 'min' ? Infinity : 0;
      for (let i = 0; i < t.size; i++) {
        const x = c.data[i]!;
        v = kind === 'max' ? Math.max(v, x) : kind === 'min' ? Math.min(v, x) : v + x;
      }
    }
    return kind === 'mean' ? v / t.size : v;
  }
  let axis = options.axis;
  if (!Number.isInteger(axis) || axis < -t.ndim || axis >= t.ndim)
    throw new ArgumentError(fn, 'options.axis', options.axis, `must be an integer in [-${t.ndim}, ${t.ndim})`);
  if (axis < 0) axis += t.ndim;
  const d = t.shape[axis]!;
  if (d === 0 && (kind === 'max' || kind === 'min')) throw new ShapeError(fn, `cannot reduce an empty axis ${axis} with ${kind}`);
  const perm = t.shape
    .map((_, i) => i)
    .filter((i) => i !== axis)
    .concat([axis]);
  const moved = t.transpose(perm).contiguous();
  const outShape = t.shape.filter((_, i) => i !== axis);
  const nOut = sizeOf(outShape);
  const outDtype: DType = kind === 'mean' && !isFloat ? 'f64' : t.dtype;
  const out = allocArray(outDtype, nOut);
  const red = isFloat ? routine(backend, 'reduce') : undefined;
  for (let i = 0; i < nOut; i++) {
    let v: number;
    if (red) v = red(kind === 'mean' ? 'sum' : kind, moved.data as FloatArray, i * d, d);
    else {
      v = kind === 'max' ? -Infinity : kind === 'min' ? Infinity : 0;
      for (let j = 0; j < d; j++) {
        const x = moved.data[i * d + j]!;
        v = kind === 'max' ? Math.max(v, x) : kind === 'min' ? Math.min(v, x) : v + x;
      }
    }
    out[i] = kind === 'mean' ? v / d : v;
  }
  const res = new Tensor(outDtype, out, outShape);
  if (options.keepdims) {
    const ks = t.shape.slice();
    ks[axis] = 1;
    return res.reshape(ks);
  }
  return res;
}
export function sum(t: Tensor, options: ReduceOptions & { axis: number }): Tensor;
export function sum(t: Tensor, options?: ReduceOptions): number;
export function sum(t: Tensor, options: ReduceOptions = {}): any {
  return reduceOp('sum', t, options);
}
export function mean(t: Tensor, options: ReduceOptions & { axis: number }): Tensor;
export function mean(t: Tensor, options?: ReduceOptions): number;
export function mean(t: Tensor, options: ReduceOptions = {}): any {
  return reduceOp('mean', t, options);
}
export function max(t: Tensor, options: ReduceOptions & { axis: number }): Tensor;
export function max(t: Tensor, options?: ReduceOptions): number;
export function max(t: Tensor, options: ReduceOptions = {}): any {
  return reduceOp('max', t, options);
}
export function min(t: Tensor, options: ReduceOptions & { axis: number }): Tensor;
export function min(t: Tensor, options?: ReduceOptions): number;
export function min(t: Tensor, options: ReduceOptions = {}): any {
  return reduceOp('min', t, options);
}

// ---------------------------------------------------------------- matmul
/** Returns (array, offset, ld, trans) describing a 2-D float view for GEMM, copying only if needed. */
export function gemmOperand(t: Tensor): { data: FloatArray; offset: number; ld: number; trans: boolean } {
  const [r, c] = t.shape as [number, number];
  const [s0, s1] = t.strides as [number, number];
  // row-major view: element (i, j) at offset + i*ld + j
  if (s1 === 1 || c === 1) return { data: t.data as FloatArray, offset: t.offset, ld: r > 1 ? s0 : Math.max(c, 1), trans: false };
  // column-major view = transpose of a row-major (c × r) matrix with row stride s1
  if (s0 === 1 || r === 1) return { data: t.data as FloatArray, offset: t.offset, ld: c > 1 ? s1 : Math.max(r, 1), trans: true };
  const cc = t.contiguous(true);
  return { data: cc.data as FloatArray, offset: 0, ld: c, trans: false };
}

function matmul2d(fn: string, a: Tensor, b: Tensor, backend: Backend, out?: FloatArray, outOffset = 0): Tensor {
  const [m, k] = a.shape as [number, number];
  const [k2, n] = b.shape as [number, number];
  if (k !== k2) throw new ShapeError(fn, `inner dimensions differ: a is [${a.shape.join(', ')}], b is [${b.shape.join(', ')}]`);
  const c = out ?? (allocArray(a.dtype, m * n) as FloatArray);
  if (m > 0 && n > 0) {
    if (k === 0) c.fill(0, outOffset, outOffset + m * n);
    else {
      const A = gemmOperand(a),
        B = gemmOperand(b);
      routine(
        backend,
        'gemm',
      )({
        transA: A.trans,
        transB: B.trans,
        m,
        n,
        k,
        alpha: 1,
        a: A.data,
        aOffset: A.offset,
        lda: A.ld,
        b: B.data,
        bOffset: B.offset,
        ldb: B.ld,
        beta: 0,
        c,
        cOffset: outOffset,
        ldc: n,
      });
    }
  }
  return new Tensor(a.dtype, c as any, [m, n]);
}

/**
 * Matrix product. 2-D × 2-D, 2-D × 1-D (matrix–vector), and batched (leading dims broadcast,
 * numpy semantics). Transposed views are passed to GEMM as transposes, not copied.
 */
export function matmul(a: Tensor, b: Tensor, options: BackendOption = {}): Tensor {
  const fn = 'matmul';
  assertTensor(fn, 'a', a);
  assertTensor(fn, 'b', b);
  assertFloat(fn, 'a', a);
  assertFloat(fn, 'b', b);
  if (a.dtype !== b.dtype) throw new DTypeError(fn, `dtypes differ: a is ${a.dtype}, b is ${b.dtype}`);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(fn, `operands must be at least 1-D, got shapes [${a.shape}] and [${b.shape}]`);
  const backend = resolveBackend(fn, options.backend);
  if (a.ndim === 1 && b.ndim === 1) {
    if (a.shape[0] !== b.shape[0]) throw new ShapeError(fn, `vector lengths differ: ${a.shape[0]} and ${b.shape[0]}`);
    return matmul2d(fn, a.reshape([1, a.shape[0]!]), b.contiguous().reshape([b.shape[0]!, 1]), backend).reshape([]);
  }
  if (a.ndim === 2 && b.ndim === 1) {
    return matmul2d(fn, a, b.contiguous().reshape([b.shape[0]!, 1]), backend).reshape([a.shape[0]!]);
  }
  if (a.ndim === 1 && b.ndim === 2) {
    return matmul2d(fn, a.contiguous().reshape([1, a.shape[0]!]), b, backend).reshape([b.shape[1]!]);
  }
  if (a.ndim === 2 && b.ndim === 2) return matmul2d(fn, a, b, backend);
  // batched
  const A = a.ndim === 1 ? a.contiguous().reshape([1, a.shape[0]!]) : a;
  const B = b.ndim === 1 ? b.contiguous().reshape([b.shape[0]!, 1]) : b;
  const batchA = A.shape.slice(0, -2),
    batchB = B.shape.slice(0, -2);
  const batch = broadcastShapes(fn, batchA, batchB);
  const m = A.shape[A.ndim - 2]!,
    k = A.shape[A.ndim - 1]!,
    n = B.shape[B.ndim - 1]!;
  if (B.shape[B.ndim - 2] !== k) throw new ShapeError(fn, `inner dimensions differ: a is [${a.shape.join(', ')}], b is [${b.shape.join(', ')}]`);
  const nb = sizeOf(batch);
  const out = allocArray(a.dtype, nb * m * n) as FloatArray;
  const idx = new Array<number>(batch.length).fill(0);
  for (let t = 0; t < nb; t++) {
    const pick = (x: Tensor, bs: readonly number[]) => {
      const spec = bs.map((d, i) => (d === 1 ? 0 : idx[i + batch.length - bs.length]!));
      return x.slice(...spec);
    };
    matmul2d(fn, pick(A, batchA), pick(B, batchB), backend, out, t * m * n);
    for (let ax = batch.length - 1; ax >= 0; ax--) {
      idx[ax]!++;
      if (idx[ax]! < batch[ax]!) break;
      idx[ax] = 0;
    }
  }
  return new Tensor(a.dtype, out as any, [...batch, m, n]);
}

// ---------------------------------------------------------------- norms & comparisons
export type NormOrd = 'fro' | 1 | 2 | 'inf';
/** Vector 2-norm (any shape, flattened) or matrix norms 'fro', 1, 'inf'. Matrix 2-norm lives in decompositions (needs an SVD). */
export function norm(t: Tensor, ord: NormOrd = 'fro', options: BackendOption = {}): number {
  const fn = 'norm';
  assertTensor(fn, 't', t);
  if (ord === 'fro' || (ord === 2 && t.ndim <= 1)) {
    // scaled sum of squares: no overflow for huge entries
    const c = t.contiguous();
    let scale = 0;
    for (let i = 0; i < t.size; i++) scale = Math.max(scale, Math.abs(c.data[i]!));
    if (scale === 0 || !Number.isFinite(scale)) return scale;
    let s = 0;
    for (let i = 0; i < t.size; i++) {
      const v = c.data[i]! / scale;
      s += v * v;
    }
    return scale * Math.sqrt(s);
  }
  if (t.ndim !== 2) throw new ArgumentError(fn, 'ord', ord, `is only defined for 2-D tensors, got shape [${t.shape}]`);
  if (ord === 2) throw new UnsupportedError(fn, `the matrix 2-norm needs an SVD: use svdvals from @llmpress/decompositions`);
  const [r, c] = t.shape as [number, number];
  let best = 0;
  if (ord === 1)
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let i = 0; i < r; i++) s += Math.abs(t.get(i, j));
      best = Math.max(best, s);
    }
  else if (ord === 'inf')
    for (let i = 0; i < r; i++) {
      let s = 0;
      for (let j = 0; j < c; j++) s += Math.abs(t.get(i, j));
      best = Math.max(best, s);
    }
  else throw new ArgumentError(fn, 'ord', ord, "must be 'fro', 1, 2 or 'inf'");
  void options;
  return best;
}

/** max |a − b| over all elements (shapes must match exactly). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  assertTensor('maxAbsDiff', 'a', a);
  assertTensor('maxAbsDiff', 'b', b);
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) throw new ShapeError('maxAbsDiff', `shapes differ: [${a.shape}] and [${b.shape}]`);
  const x = a.contiguous().data,
    y = b.contiguous().data;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    if (d > m || Number.isNaN(d)) m = d;
  }
  return m;
}

export function allclose(a: Tensor, b: Tensor, options: { rtol?: number; atol?: number } = {}): boolean {
  const rtol = options.rtol ?? 1e-5,
    atol = options.atol ?? 1e-8;
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) return false;
  const x = a.contiguous().data,
    y = b.contiguous().data;
  for (let i = 0; i < x.length; i++) if (!(Math.abs(x[i]! - y[i]!) <= atol + rtol * Math.abs(y[i]!))) return false;
  return true;
}

export { describe, contiguousStrides };
export type { ArrayOf };
