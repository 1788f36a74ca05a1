import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Tensor, matmul, maxAbsDiff, tolerance, ArgumentError, ShapeError, DenseLinear } from '@llmpress/tensor';
import { rtnQuantize, QuantizedLinear } from '@llmpress/quantizers';
import { activationNullSpace } from './nullspace.js';
import { q2nLayer, q2nRowScales, foldRowScales } from './q2n.js';
import { lowRankInputs, gramOf, randomWeight, fro2 } from './testutil.js';

const m = 12,
  n = 32;
const W = randomWeight(m, n, 1);
const X = lowRankInputs(n, 10, 80, 2, 0.02);
const G = gramOf(X);

function rowScaled(q: Tensor, mv: ArrayLike<number>): Tensor<'f64'> {
  const d = q.astype('f64');
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) d.data[i * n + j]! *= mv[i]!;
  return d;
}

describe('Q2N', () => {
  it('folded == unfolded, bytes and codes unchanged (f32 and f16 scales, per-channel and per-group)', () => {
    for (const scaleDtype of ['f32', 'f16'] as const)
      for (const groupSize of [0, 8]) {
        const q = rtnQuantize(W, { bits: 3, groupSize, scaleDtype });
        const { layer, report } = q2nLayer(W, q, G);
        expect(layer.bytes()).toBe(q.bytes());
        expect(layer.packed).toBe(q.packed);
        const unfolded = rowScaled(q.toDense(), report.m);
        const tol = scaleDtype === 'f32' ? tolerance('f32', n, 1) : 2 ** -10; // f16 has no tolerance() entry: its unit roundoff is 2^-11
        const scale = Math.max(...Array.from(q.toDense().data, Math.abs));
        expect(maxAbsDiff(layer.toDense().astype('f64'), unfolded)).toBeLessThanOrEqual(tol * scale);
      }
  });

  it('m_i minimises ‖B_i − m Q_i‖² + λ(1 − m)² (so the refit never moves away from B)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.constantFrom(0, 0.2, 1), (seed, lambda) => {
        const w = randomWeight(6, 16, seed);
        const q = rtnQuantize(w, { bits: 2, scaleDtype: 'f32' }).toDense();
        const { projector } = activationNullSpace(gramOf(lowRankInputs(16, 6, 40, seed + 1)));
        const mv = q2nRowScales(w, q, projector, { lambda });
        // B = W − (W − Q) P
        const E = new Tensor(
          'f64',
          w.astype('f64').data.map((v, i) => v - q.data[i]!),
          [6, 16],
        );
        const EP = projector.apply(E);
        for (let i = 0; i < 6; i++) {
          const f = (s: number) => {
            let v = lambda * (1 - s) ** 2;
            for (let j = 0; j < 16; j++) {
              const b = w.data[i * 16 + j]! - EP.data[i * 16 + j]!;
              v += (b - s * q.data[i * 16 + j]!) ** 2;
            }
            return v;
          };
          expect(f(mv[i]!)).toBeLessThanOrEqual(f(1) + 1e-12);
          expect(f(mv[i]!)).toBeLessThanOrEqual(f(mv[i]! + 1e-3) + 1e-12);
          expect(f(mv[i]!)).toBeLessThanOrEqual(f(mv[i]! - 1e-3) + 1e-12);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('act-order safe: a column-permuted layer gets the same m and the same effective weight', () => {
    const q = rtnQuantize(W, { bits: 3, groupSize: 0, scaleDtype: 'f32' });
    // the same codes stored in a permuted column order
    const perm = Int32Array.from({ length: n }, (_, j) => (j * 7) % n);
    const codes = new Uint8Array(m * n),
      codesP = new Uint8Array(m * n);
    const dq = q.toDense();
    const sc = q.decodedScales(),
      z = q.decodedZeros();
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) codes[i * n + j] = Math.round(dq.data[i * n + j]! / sc[i]! + z[i]!);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) codesP[i * n + j] = codes[i * n + perm[j]!]!;
    const qp = QuantizedLinear.fromCodes({
      inFeatures: n,
      outFeatures: m,
      bits: 3,
      symmetric: true,
      groupSize: n,
      scaleDtype: 'f32',
      scales: q.scales.slice() as Float32Array,
      zeros: null,
      perm,
      codes: codesP,
    });
    expect(maxAbsDiff(qp.toDense(), q.toDense())).toBe(0);
    const a = q2nLayer(W, q, G),
      b = q2nLayer(W, qp, G);
    expect(Array.from(b.report.m)).toEqual(Array.from(a.report.m));
    expect(maxAbsDiff(a.layer.toDense(), b.layer.toDense())).toBe(0);
    const x = new Tensor('f32', Float32Array.from(X.data.slice(0, 5 * n)), [5, n]);
    expect(maxAbsDiff(a.layer.forward(x), b.layer.forward(x))).toBeLessThan(1e-5);
  });

  it('pulls the output toward the original on the calibration inputs (W3 g8 RTN, structured X)', () => {
    const q = rtnQuantize(W, { bits: 3, groupSize: 8, scaleDtype: 'f32' });
    const out = (w: Tensor) => matmul(X, w.astype('f64').T) as Tensor<'f64'>;
    const y = out(W);
    const err = (w: Tensor) =>
      fro2(
        new Tensor(
          'f64',
          out(w).data.map((v, i) => v - y.data[i]!),
          y.shape,
        ),
      );
    const { layer } = q2nLayer(W, q, G, { lambda: 0 });
    expect(err(layer.toDense())).toBeLessThanOrEqual(err(q.toDense()) * 1.0001);
  });

  it("ablations: target 'W' ignores the null space; P = I is a no-op; reference weight is used for B", () => {
    const q = rtnQuantize(W, { bits: 2, scaleDtype: 'f32' });
    const tw = q2nLayer(W, q, null, { target: 'W' });
    expect(Array.from(tw.report.m)).toEqual(Array.from(q2nRowScales(W, q.toDense(), null)));
    expect(tw.report.nullSpace).toBeUndefined();
    // identity projector (flat spectrum, no qualifying r): B = Q, m = 1
    const flat = new Tensor('f64', new Float64Array(n * n), [n, n]);
    for (let i = 0; i < n; i++) flat.set(1, i, i);
    const noop = q2nLayer(W, q, flat, { nullSpace: { t: 0.01 } }); // (n−k)/k ≤ 0.01 needs k = n
    expect(noop.report.nullSpace!.identity).toBe(true);
    for (const v of noop.report.m) expect(v).toBeCloseTo(1, 6);
    // B from a different reference (e.g. GPTQ's working weights) changes m
    const ref = randomWeight(m, n, 99);
    const r1 = q2nLayer(W, q, G, { reference: ref });
    expect(Array.from(r1.report.m)).not.toEqual(Array.from(q2nLayer(W, q, G).report.m));
  });

  it('bad input', () => {
    const q = rtnQuantize(W, { bits: 4 });
    expect(() => q2nLayer(W, new DenseLinear(W), G)).toThrow(/QuantizedLinear/);
    expect(() => q2nLayer(W.slice([0, m - 1]), q, G)).toThrow(ShapeError);
    expect(() => q2nLayer(W, q, null)).toThrow(/gram/);
    expect(() => q2nLayer(W, q, G, { lambda: -1 })).toThrow(ArgumentError);
    expect(() => q2nLayer(W, q, G, { target: 'X' as any })).toThrow(ArgumentError);
    expect(() => q2nLayer(W, q, gramOf(lowRankInputs(n - 1, 3, 10, 1)))).toThrow(ShapeError);
    expect(() => foldRowScales(q, new Float64Array(m - 1))).toThrow(ShapeError);
    expect(() => foldRowScales(q, new Float64Array(m).fill(NaN))).toThrow(/finite/);
  });
});
