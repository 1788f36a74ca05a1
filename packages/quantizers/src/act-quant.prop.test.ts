import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, NonFiniteError, Tensor, randn } from '@llmpress/tensor';
import {
  quantizeActivations,
  fakeQuantActivations,
  QuantActLinear,
  rtnQuantize,
  hadamardRotation,
  DenseRotation,
  randomOrthogonal,
  randomRotation,
} from './index.js';
import { DenseLinear } from '@llmpress/tensor';

describe('per-token activation quantization', () => {
  it('error ≤ half a step inside the clip range; clipped values saturate', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<4 | 8>(4, 8),
        fc.double({ min: 0.5, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 999 }),
        (bits, clip, T, n, seed) => {
          const x = randn([T, n], { seed, std: 3 }).data as Float32Array;
          const { codes, scales } = quantizeActivations(x, T, n, { bits, clip });
          const qmax = (1 << (bits - 1)) - 1;
          for (let t = 0; t < T; t++) {
            let amax = 0;
            for (let j = 0; j < n; j++) amax = Math.max(amax, Math.abs(x[t * n + j]!));
            const s = scales[t]!;
            for (let j = 0; j < n; j++) {
              const v = x[t * n + j]!,
                c = codes[t * n + j]!;
              expect(c).toBeGreaterThanOrEqual(-qmax - 1);
              expect(c).toBeLessThanOrEqual(qmax);
              if (Math.abs(v) <= clip * amax) expect(Math.abs(s * c - v)).toBeLessThanOrEqual((s / 2) * (1 + 1e-6));
              else expect(Math.abs(c)).toBeGreaterThanOrEqual(qmax);
            }
          }
        },
      ),
      { numRuns: 50 },
    );
  });
  it('rejects bad options and non-finite activations', () => {
    expect(() => quantizeActivations([1, 2], 1, 2, { bits: 3 as 4 })).toThrow(ArgumentError);
    expect(() => quantizeActivations([1, 2], 1, 2, { bits: 4, clip: 0 })).toThrow(/clip/);
    expect(() => quantizeActivations([1, NaN], 1, 2, { bits: 4 })).toThrow(NonFiniteError);
  });
  it('an all-zero token quantizes to zeros', () => {
    expect(Array.from(fakeQuantActivations([0, 0, 0], 1, 3, { bits: 4 }))).toEqual([0, 0, 0]);
  });
});

describe('QuantActLinear', () => {
  const m = 6,
    n = 16,
    T = 5;
  const W = randn([m, n], { seed: 1 }) as Tensor<'f32'>;
  const x = randn([T, n], { seed: 2 }) as Tensor<'f32'>;
  it('integer kernel equals the dequantize path (W4A4, W4A8, groups, outliers, rotation)', () => {
    for (const [bits, groupSize, r] of [
      [4, 0, 0],
      [8, 4, 0],
      [4, 4, 4],
    ] as const) {
      const q = rtnQuantize(W.slice(null, [r, n]).contiguous(true), { bits: 4, groupSize });
      const outlier = r > 0 ? Float32Array.from({ length: m * r }, (_, i) => Math.cos(i)) : null;
      const rot = hadamardRotation(n, 3);
      const a = new QuantActLinear({ weight: q, outlier, outlierColumns: r, act: { bits, clip: 0.9 }, rotation: rot });
      const b = new QuantActLinear({ weight: q, outlier, outlierColumns: r, act: { bits, clip: 0.9 }, rotation: rot, integerKernel: false });
      const ya = a.forward(x),
        yb = b.forward(x);
      let scale = 0;
      for (const v of yb.data) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < ya.size; i++) expect(Math.abs(ya.data[i]! - yb.data[i]!)).toBeLessThanOrEqual(1e-5 * scale);
      // and it is not the float answer (activation quantization does something)
      const yf = new QuantActLinear({ weight: q, outlier, outlierColumns: r, act: null, rotation: rot }).forward(x);
      let diff = 0;
      for (let i = 0; i < ya.size; i++) diff = Math.max(diff, Math.abs(ya.data[i]! - yf.data[i]!));
      expect(diff).toBeGreaterThan(0);
    }
  });
  it('without quantization it is exactly the dense layer in input coordinates (toDense, rotation folded)', () => {
    const R = new DenseRotation(n, randomOrthogonal(n, 5));
    // weight stored in rotated coordinates: W R^T, so that (W R^T)(R x) = W x
    const M = R.matrix();
    const wr = new Float32Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += W.get(i, k) * M[j * n + k]!;
        wr[i * n + j] = s;
      }
    const r = 3;
    const wt = new Tensor('f32', wr, [m, n]);
    const outl = new Float32Array(m * r);
    for (let i = 0; i < m; i++) for (let k = 0; k < r; k++) outl[i * r + k] = wt.get(i, k);
    const L = new QuantActLinear({
      weight: new DenseLinear(wt.slice(null, [r, n]).contiguous(true)),
      outlier: outl,
      outlierColumns: r,
      act: null,
      rotation: R,
    });
    const y = L.forward(x),
      ref = new DenseLinear(W).forward(x);
    for (let i = 0; i < y.size; i++) expect(Math.abs(y.data[i]! - ref.data[i]!)).toBeLessThanOrEqual(1e-5);
    const D = L.toDense();
    for (let i = 0; i < D.size; i++) expect(Math.abs(D.data[i]! - W.data[i]!)).toBeLessThanOrEqual(1e-5);
    // dense part + f32 outlier columns + the stored f64 rotation matrix
    expect(L.bytes()).toBe(m * (n - r) * 4 + m * r * 4 + 8 * n * n);
  });
  it('serialize round trip (Hadamard, dense and Kronecker rotations)', () => {
    const q = rtnQuantize(W.slice(null, [2, n]).contiguous(true), { bits: 4 });
    for (const rotation of [hadamardRotation(n, 1), new DenseRotation(n, randomOrthogonal(n, 2)), randomRotation(n, 3)]) {
      const L = new QuantActLinear({ weight: q, outlier: new Float32Array(m * 2).fill(0.5), outlierColumns: 2, act: { bits: 4, clip: 0.9 }, rotation });
      const L2 = QuantActLinear.deserialize(L.serialize());
      expect(Array.from(L2.forward(x).data)).toEqual(Array.from(L.forward(x).data));
      expect(L2.bytes()).toBe(L.bytes());
      // bytes() counts exactly the tensors serialize() stores (rotation signs / f64 factors included)
      const stored = Object.values(L.serialize().tensors).reduce((a, t) => a + (t.contiguous().data as Uint8Array).byteLength, 0);
      expect(L.bytes()).toBe(stored);
      expect(L.bytes()).toBe(q.bytes() + m * 2 * 4 + rotation.bytes());
    }
  });
});
