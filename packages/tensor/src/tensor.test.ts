import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  Tensor,
  tensor,
  zeros,
  ones,
  eye,
  arange,
  randn,
  rand,
  add,
  sub,
  mul,
  div,
  sum,
  mean,
  max,
  min,
  matmul,
  norm,
  maxAbsDiff,
  allclose,
  ShapeError,
  DTypeError,
  ArgumentError,
  NonFiniteError,
  LlmpressError,
  UnsupportedError,
  assertFinite,
  f16ToF32,
  f32ToF16,
  bf16ToF32,
  f32ToBf16,
  decodeHalf,
  encodeHalf,
  pickBackend,
  referenceBackend,
  setDefaultBackend,
  getDefaultBackend,
  routine,
  onFallback,
  DenseLinear,
  Rng,
  tolerance,
  type Backend,
} from './index.js';

describe('Tensor views', () => {
  it('slice, transpose and reshape are O(1) views sharing storage', () => {
    const t = arange(24, 'f64').reshape([2, 3, 4]);
    const s = t.slice(1, [0, 3, 2], [1, 4]);
    expect(s.shape).toEqual([2, 3]);
    expect(s.data).toBe(t.data);
    expect(s.toArray()).toEqual([
      [13, 14, 15],
      [21, 22, 23],
    ]);
    const tr = t.transpose([2, 0, 1]);
    expect(tr.shape).toEqual([4, 2, 3]);
    expect(tr.get(3, 1, 2)).toBe(t.get(1, 2, 3));
    expect(t.slice(null, [null, null, -1]).get(0, 0, 0)).toBe(8);
  });

  it('views equal their contiguous copies (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        (r, c, start, step) => {
          const t = randn([r, c], { seed: r * 7 + c, dtype: 'f64' });
          const v = t.slice([Math.min(start, r - 1), r, step], [null, null, -1]).T;
          const copy = v.contiguous(true);
          expect(copy.isContiguous()).toBe(true);
          expect(copy.toArray()).toEqual(v.toArray());
          for (let i = 0; i < v.shape[0]!; i++) for (let j = 0; j < v.shape[1]!; j++) expect(copy.get(i, j)).toBe(v.get(i, j));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('reshape of a non-contiguous view is a typed error, -1 infers', () => {
    const t = arange(6).reshape([2, -1]);
    expect(t.shape).toEqual([2, 3]);
    expect(() => t.T.reshape([6])).toThrow(ShapeError);
    expect(() => t.reshape([4, 2])).toThrow(/reshape.*\[2, 3\].*\[4, 2\]/);
  });

  it('out-of-range views and indices name the function, argument and value', () => {
    const t = zeros([3, 4]);
    expect(() => t.slice(5)).toThrow(/Tensor\.slice: argument 'specs\[0\]' must be an integer index in \[-3, 3\), got 5/);
    expect(() => t.get(0, 9)).toThrow(ArgumentError);
    expect(() => t.transpose([0, 0])).toThrow(/permutation/);
    expect(() => new Tensor('f32', new Float32Array(3), [2, 2])).toThrow(ShapeError);
    expect(() => new Tensor('f32', new Float64Array(4) as any, [2, 2])).toThrow(DTypeError);
  });
});

describe('creation and random', () => {
  it('builds from nested arrays, typed arrays, and rejects ragged input', () => {
    expect(
      tensor([
        [1, 2],
        [3, 4],
      ]).shape,
    ).toEqual([2, 2]);
    expect(tensor(new Float64Array([1, 2, 3]), { dtype: 'f64' }).dtype).toBe('f64');
    expect(() => tensor([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => tensor([1, 2, 3], { shape: [2, 2] })).toThrow(/3 values cannot fill shape \[2,2\]/);
    expect(() => zeros([2, -1])).toThrow(/zeros: argument 'shape'/);
    expect(eye(3).toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    expect(ones([2]).toArray()).toEqual([1, 1]);
  });
  it('seeded random is reproducible and roughly standard', () => {
    const a = randn([2000], { seed: 5, dtype: 'f64' }),
      b = randn([2000], { seed: 5, dtype: 'f64' });
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(Math.abs(mean(a))).toBeLessThan(0.1);
    expect(Math.abs(mean(mul(a, a)) - 1)).toBeLessThan(0.1);
    const u = rand([1000], { seed: 1, low: -2, high: 3 });
    expect(min(u)).toBeGreaterThanOrEqual(-2);
    expect(max(u)).toBeLessThan(3);
    expect(new Rng(1).nextU32()).not.toBe(new Rng(2).nextU32());
  });
});

describe('elementwise and reductions', () => {
  it('broadcasts like numpy and rejects incompatible shapes', () => {
    const a = tensor(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: 'f64' },
    );
    const b = tensor([10, 20, 30], { dtype: 'f64' });
    expect(add(a, b).toArray()).toEqual([
      [11, 22, 33],
      [14, 25, 36],
    ]);
    expect(sub(a, 1).toArray()).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(div(a.T, tensor([[1], [2], [3]], { dtype: 'f64' })).toArray()).toEqual([
      [1, 4],
      [1, 2.5],
      [1, 2],
    ]);
    expect(() => add(a, tensor([1, 2], { dtype: 'f64' }))).toThrow(/add: shapes \[2, 3\] and \[2\] cannot be broadcast/);
    expect(() => add(a, tensor([1, 2, 3]))).toThrow(DTypeError);
  });
  it('reduces along axes with keepdims', () => {
    const a = tensor(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: 'f64' },
    );
    expect(sum(a)).toBe(21);
    expect(sum(a, { axis: 0 }).toArray()).toEqual([5, 7, 9]);
    expect(mean(a, { axis: -1, keepdims: true }).shape).toEqual([2, 1]);
    expect(max(a, { axis: 1 }).toArray()).toEqual([3, 6]);
    expect(() => sum(a, { axis: 2 })).toThrow(/sum: argument 'options.axis' must be an integer in \[-2, 2\), got 2/);
    expect(() => max(zeros([0]))).toThrow(ShapeError);
  });
  it('norms: Frobenius without overflow, 1 and inf; matrix 2-norm points to decompositions', () => {
    expect(norm(tensor([3, 4]))).toBe(5);
    expect(norm(tensor([1e200, 1e200], { dtype: 'f64' }))).toBeCloseTo(Math.SQRT2 * 1e200, -185);
    const a = tensor(
      [
        [1, -2],
        [3, 4],
      ],
      { dtype: 'f64' },
    );
    expect(norm(a, 1)).toBe(6);
    expect(norm(a, 'inf')).toBe(7);
    expect(() => norm(a, 2)).toThrow(UnsupportedError);
  });
  it('assertFinite names the first non-finite value', () => {
    const t = tensor([1, NaN, Infinity]);
    expect(() => assertFinite('svd', 'a', t)).toThrow(/svd: argument 'a' must be finite, found NaN at flat index 1/);
  });
});

describe('matmul', () => {
  it('handles 2-D, matrix-vector, vector-vector and batched broadcasting', () => {
    const A = tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { dtype: 'f64' },
      ),
      x = tensor([1, 1], { dtype: 'f64' });
    expect(matmul(A, A).toArray()).toEqual([
      [7, 10],
      [15, 22],
    ]);
    expect(matmul(A, x).toArray()).toEqual([3, 7]);
    expect(matmul(x, A).toArray()).toEqual([4, 6]);
    expect(matmul(x, x).toArray()).toBe(2);
    const B = randn([2, 1, 3, 4], { seed: 1, dtype: 'f64' }),
      C = randn([5, 4, 2], { seed: 2, dtype: 'f64' });
    const D = matmul(B, C);
    expect(D.shape).toEqual([2, 5, 3, 2]);
    expect(maxAbsDiff(D.slice(1, 3), matmul(B.slice(1, 0), C.slice(3)))).toBeLessThan(tolerance('f64', 4));
  });
  it('rejects mismatched shapes and dtypes with the function name', () => {
    expect(() => matmul(zeros([2, 3]), zeros([2, 3]))).toThrow(/matmul: inner dimensions differ: a is \[2, 3\], b is \[2, 3\]/);
    expect(() => matmul(zeros([2, 3]), zeros([3, 2], 'f64'))).toThrow(DTypeError);
    expect(() => matmul(zeros([2, 3], 'i32'), zeros([3, 2], 'i32'))).toThrow(/must be f32 or f64, got i32/);
    expect(() => matmul(zeros([2, 2]), zeros([2, 2]), { backend: {} as any })).toThrow(/options.backend/);
  });
  it('DenseLinear computes x Wᵀ and counts bytes', () => {
    const W = randn([3, 5], { seed: 3 }),
      x = randn([4, 5], { seed: 4 });
    const layer = new DenseLinear(W);
    const y = layer.forward(x);
    expect(y.shape).toEqual([4, 3]);
    expect(maxAbsDiff(y, matmul(x, W.T.contiguous()))).toBeLessThan(1e-5);
    expect(layer.bytes()).toBe(60);
    expect(() => layer.forward(randn([4, 4]))).toThrow(/DenseLinear\.forward: x must be \[T, 5\]/);
  });
});

describe('dtype conversion', () => {
  it('f16 and bf16 round trip exactly for representable values and round to nearest even', () => {
    for (let h = 0; h < 0x10000; h += 7) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) continue;
      expect(f32ToF16(v)).toBe(h);
    }
    expect(f32ToF16(65520)).toBe(0x7c00); // overflow → Inf
    expect(f16ToF32(f32ToF16(1 + 2 ** -11))).toBe(1); // tie → even
    expect(bf16ToF32(f32ToBf16(1.5))).toBe(1.5);
    const vals = [0, -2.5, 1e-3, 3.14159];
    const back = decodeHalf(encodeHalf(vals, 'bf16'), 'bf16');
    vals.forEach((v, i) => expect(Math.abs(back[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8));
  });
});

describe('backend selection and errors', () => {
  it('pickBackend takes the first factory that works and skips nulls/throws', async () => {
    const skipped: string[] = [];
    const b = await pickBackend(
      [
        () => null,
        () => {
          throw new Error('no gpu');
        },
        referenceBackend,
      ],
      { onSkip: (n, r) => skipped.push(`${n}:${r}`) },
    );
    expect(b).toBe(referenceBackend);
    expect(skipped).toEqual(['candidates[0]:factory returned null (not available here)', 'candidates[1]:no gpu']);
    await expect(pickBackend([])).rejects.toThrow(ArgumentError);
  });
  it('a backend lacking a routine falls back to the reference visibly', () => {
    const partial: Backend = { name: 'partial', capabilities: { dtypes: ['f32'], syncRead: true, threads: 1, features: [] }, gemm: referenceBackend.gemm };
    const seen: string[] = [];
    const prev = onFallback((e) => seen.push(`${e.backend}:${e.routine}`));
    try {
      routine(partial, 'reduce');
      expect(sum(tensor([1, 2]), { backend: partial })).toBe(3);
    } finally {
      onFallback(prev);
    }
    expect(seen).toContain('partial:reduce');
  });
  it('default backend is settable', () => {
    expect(getDefaultBackend()).toBe(referenceBackend);
    expect(() => setDefaultBackend({} as any)).toThrow(ArgumentError);
    setDefaultBackend(undefined);
  });
  it('isInstance works across duplicate copies via the brand', () => {
    const e = new ShapeError('f', 'bad');
    expect(ShapeError.isInstance(e)).toBe(true);
    expect(LlmpressError.isInstance(e)).toBe(true);
    expect(DTypeError.isInstance(e)).toBe(false);
    // a structurally separate copy (as from a second install) carries the same Symbol.for brand
    const foreign = { [Symbol.for('llmpress.error.ShapeError')]: true };
    expect(ShapeError.isInstance(foreign)).toBe(true);
    expect(NonFiniteError.isInstance(new Error('x'))).toBe(false);
    expect(allclose(tensor([1]), tensor([1 + 1e-9]))).toBe(true);
  });
});
