import { ArgumentError, ShapeError, DTypeError } from './errors.js';
import { allocArray, dtypeOfArray, isDType, type ArrayOf, type DType, type TypedArray } from './dtype.js';

export type Shape = readonly number[];
/** One axis of a slice: an index (drops the axis), `null` (whole axis) or `[start, end?, step?]`. */
export type SliceSpec = number | null | readonly [(number | null)?, (number | null)?, (number | null)?];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function checkShape(fn: string, arg: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(fn, arg, shape, 'must be an array of non-negative integers');
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ArgumentError(fn, arg, shape, 'must be an array of non-negative integers');
  }
  return shape.slice();
}

/**
 * The tensor value: dtype, typed-array storage, shape, strides (in elements) and offset.
 * Views (slice, transpose, reshape of a contiguous tensor) share storage and cost O(1).
 */
export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly data: ArrayOf[D];
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;

  constructor(dtype: D, data: ArrayOf[D], shape: Shape, strides?: Shape, offset = 0) {
    if (!isDType(dtype)) throw new DTypeError('Tensor', `unknown dtype ${String(dtype)}`);
    if (dtypeOfArray(data) !== dtype) throw new DTypeError('Tensor', `storage is ${data.constructor.name}, not ${dtype}`);
    this.dtype = dtype;
    this.data = data;
    this.shape = Object.freeze(shape.slice());
    this.strides = Object.freeze((strides ?? contiguousStrides(shape)).slice());
    this.offset = offset;
    if (this.strides.length !== this.shape.length) throw new ShapeError('Tensor', `strides [${this.strides}] do not match shape [${this.shape}]`);
    if (sizeOf(this.shape) > 0) {
      let lo = offset,
        hi = offset;
      for (let i = 0; i < this.shape.length; i++) {
        const span = (this.shape[i]! - 1) * this.strides[i]!;
        if (span < 0) lo += span;
        else hi += span;
      }
      if (lo < 0 || hi >= data.length)
        throw new ShapeError(
          'Tensor',
          `view [${this.shape}] with strides [${this.strides}] and offset ${offset} reaches outside storage of length ${data.length}`,
        );
    }
  }

  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  /** 2-D transpose shortcut. */
  get T(): Tensor<D> {
    return this.transpose();
  }

  isContiguous(): boolean {
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== acc) return false;
      acc *= this.shape[i]!;
    }
    return true;
  }

  private flatIndex(fn: string, idx: readonly number[]): number {
    if (idx.length !== this.shape.length) throw new ArgumentError(fn, 'index', idx, `must have ${this.shape.length} entries`);
    let o = this.offset;
    for (let i = 0; i < idx.length; i++) {
      let k = idx[i]!;
      const d = this.shape[i]!;
      if (k < 0) k += d;
      if (!Number.isInteger(k) || k < 0 || k >= d) throw new ArgumentError(fn, `index[${i}]`, idx[i], `must be an integer in [-${d}, ${d})`);
      o += k * this.strides[i]!;
    }
    return o;
  }

  get(...idx: number[]): number {
    return this.data[this.flatIndex('Tensor.get', idx)]!;
  }
  set(value: number, ...idx: number[]): void {
    this.data[this.flatIndex('Tensor.set', idx)] = value;
  }

  /** O(1) view: numpy-style basic slicing, one spec per leading axis. */
  slice(...specs: SliceSpec[]): Tensor<D> {
    const fn = 'Tensor.slice';
    if (specs.length > this.ndim) throw new ArgumentError(fn, 'specs', specs, `must have at most ${this.ndim} entries`);
    const shape: number[] = [];
    const strides: number[] = [];
    let offset = this.offset;
    for (let i = 0; i < this.ndim; i++) {
      const d = this.shape[i]!;
      const st = this.strides[i]!;
      const spec = i < specs.length ? specs[i] : null;
      if (spec === null || spec === undefined) {
        shape.push(d);
        strides.push(st);
        continue;
      }
      if (typeof spec === 'number') {
        const k = spec < 0 ? spec + d : spec;
        if (!Number.isInteger(k) || k < 0 || k >= d) throw new ArgumentError(fn, `specs[${i}]`, spec, `must be an integer index in [-${d}, ${d})`);
        offset += k * st;
        continue;
      }
      const step = (spec[2] as number | null | undefined) ?? 1;
      if (!Number.isInteger(step) || step === 0) throw new ArgumentError(fn, `specs[${i}].step`, step, 'must be a non-zero integer');
      const norm = (v: number | undefined | null, dflt: number) => {
        if (v === undefined || v === null) return dflt;
        if (!Number.isInteger(v)) throw new ArgumentError(fn, `specs[${i}]`, spec, 'must hold integers');
        const k = v < 0 ? v + d : v;
        return step > 0 ? Math.min(Math.max(k, 0), d) : Math.min(Math.max(k, -1), d - 1);
      };
      const start = norm(spec[0], step > 0 ? 0 : d - 1);
      const end = norm(spec[1], step > 0 ? d : -1);
      const len = step > 0 ? Math.max(0, Math.ceil((end - start) / step)) : Math.max(0, Math.ceil((start - end) / -step));
      if (len > 0) offset += start * st;
      shape.push(len);
      strides.push(st * step);
    }
    return new Tensor(this.dtype, this.data, shape, strides, sizeOf(shape) === 0 ? 0 : offset);
  }

  /** O(1) view with permuted axes (default: reversed). */
  transpose(axes?: readonly number[]): Tensor<D> {
    const perm = axes ?? this.shape.map((_, i) => this.ndim - 1 - i);
    const seen = new Set<number>();
    if (perm.length !== this.ndim || perm.some((a) => !Number.isInteger(a) || a < 0 || a >= this.ndim || seen.has(a) || !seen.add(a))) {
      throw new ArgumentError('Tensor.transpose', 'axes', axes, `must be a permutation of 0..${this.ndim - 1}`);
    }
    return new Tensor(
      this.dtype,
      this.data,
      perm.map((a) => this.shape[a]!),
      perm.map((a) => this.strides[a]!),
      this.offset,
    );
  }

  /** O(1) view with a new shape; the tensor must be contiguous (call `contiguous()` first). One axis may be -1. */
  reshape(shape: readonly number[]): Tensor<D> {
    const fn = 'Tensor.reshape';
    const s = shape.slice();
    const neg = s.filter((d) => d === -1).length;
    if (neg > 1 || s.some((d) => !Number.isInteger(d) || d < -1))
      throw new ArgumentError(fn, 'shape', shape, 'must hold non-negative integers and at most one -1');
    if (neg === 1) {
      const known = s.reduce((a, d) => (d === -1 ? a : a * d), 1);
      if (known === 0 || this.size % known !== 0) throw new ShapeError(fn, `cannot reshape [${this.shape.join(', ')}] into [${shape.join(', ')}]`);
      s[s.indexOf(-1)] = this.size / known;
    }
    if (sizeOf(s) !== this.size) throw new ShapeError(fn, `cannot reshape [${this.shape.join(', ')}] (size ${this.size}) into [${shape.join(', ')}]`);
    if (!this.isContiguous()) throw new ShapeError(fn, `tensor with strides [${this.strides}] is not contiguous; call contiguous() first`);
    return new Tensor(this.dtype, this.data, s, contiguousStrides(s), this.offset);
  }

  /** Visits every element in row-major order. */
  forEachIndex(cb: (flat: number, i: number) => void): void {
    const n = this.size;
    if (n === 0) return;
    if (this.isContiguous()) {
      for (let i = 0; i < n; i++) cb(this.offset + i, i);
      return;
    }
    const nd = this.ndim;
    const idx = new Array<number>(nd).fill(0);
    let flat = this.offset;
    for (let i = 0; i < n; i++) {
      cb(flat, i);
      for (let ax = nd - 1; ax >= 0; ax--) {
        idx[ax]!++;
        flat += this.strides[ax]!;
        if (idx[ax]! < this.shape[ax]!) break;
        flat -= this.shape[ax]! * this.strides[ax]!;
        idx[ax] = 0;
      }
    }
  }

  /** A contiguous copy (or `this` when already contiguous and `force` is false). */
  contiguous(force = false): Tensor<D> {
    if (!force && this.isContiguous() && this.offset === 0 && this.data.length === this.size) return this;
    const out = allocArray(this.dtype, this.size);
    const src = this.data;
    this.forEachIndex((f, i) => {
      out[i] = src[f]!;
    });
    return new Tensor(this.dtype, out, this.shape);
  }

  /** Contiguous typed array of the values (a copy unless the storage already is exactly that). */
  toTypedArray(): ArrayOf[D] {
    return this.contiguous().data;
  }

  /** Nested JavaScript arrays. */
  toArray(): any {
    const flat = Array.from(this.toTypedArray() as ArrayLike<number>);
    if (this.ndim === 0) return flat[0];
    const build = (ax: number, base: number): any => {
      const d = this.shape[ax]!;
      const inner = sizeOf(this.shape.slice(ax + 1));
      if (ax === this.ndim - 1) return flat.slice(base, base + d);
      const out = [];
      for (let i = 0; i < d; i++) out.push(build(ax + 1, base + i * inner));
      return out;
    };
    return build(0, 0);
  }

  astype<E extends DType>(dtype: E): Tensor<E> {
    if (!isDType(dtype)) throw new ArgumentError('Tensor.astype', 'dtype', dtype, 'must be one of f32, f64, i8, u8, i32');
    const out = allocArray(dtype, this.size);
    const src = this.data;
    this.forEachIndex((f, i) => {
      out[i] = src[f]!;
    });
    return new Tensor(dtype, out, this.shape);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor || (typeof x === 'object' && x !== null && 'shape' in x && 'strides' in x && 'dtype' in x && 'data' in x);
}

export type AnyTensor = Tensor<DType>;
export type { TypedArray };
