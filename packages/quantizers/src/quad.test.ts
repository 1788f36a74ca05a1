import { describe, it, expect } from 'vitest';
import { Tensor, tolerance } from '@llmpress/tensor';
import { evaluate, type LlamaModel } from '@llmpress/models';
import { fuseNorms, quadRotate, quantizeRotated, outlierBasis, normOutputCovariance, changeResidualBasis, rtnModel, gptqModel, QuantActLinear, QuantizedLinear, onlineRotationBytes } from './index.js';
import { tinyModel, tokens } from './testing-model.js';

function maxRel(a: Tensor<'f32'>, b: Tensor<'f32'>): number {
  let e = 0, s = 0;
  for (let i = 0; i < a.size; i++) { e = Math.max(e, Math.abs(a.data[i]! - b.data[i]!)); s = Math.max(s, Math.abs(b.data[i]!)); }
  return e / s;
}
const model = tinyModel();
const calib = [tokens(24, 32, 1), tokens(24, 32, 2), tokens(24, 32, 3), tokens(24, 32, 4)];
const probe = tokens(20, 32, 99);
const windows = [5, 6].map((s) => { const t = tokens(21, 32, s + 10); return { index: s, input: t.slice(0, 20), targets: t.slice(1), span: [0, 0] as [number, number] }; });

describe('QUAD float stage (lossless)', () => {
  const ref = model.forward(probe);
  const tol = tolerance('f32', 64, 200);
  it('fuseNorms does not change the model', () => {
    expect(maxRel(fuseNorms(model).forward(probe), ref)).toBeLessThan(tol);
  });
  it('Q = [P, I − PPᵀ] satisfies Q Qᵀ = I and P spans the top eigenvectors', () => {
    const C = normOutputCovariance(fuseNorms(model), calib);
    const b = outlierBasis(C, 16, 3);
    const D = 19;
    for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) {
      let s = 0; for (let k = 0; k < D; k++) s += b.q[i * D + k]! * b.q[j * D + k]!;
      expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-10);
    }
    expect(b.eigenvalues[0]!).toBeGreaterThanOrEqual(b.eigenvalues[3]!);
    // C p = λ p for the top direction
    for (let i = 0; i < 16; i++) { let s = 0; for (let j = 0; j < 16; j++) s += C[i * 16 + j]! * b.p[j * 3]!; expect(Math.abs(s - b.eigenvalues[0]! * b.p[i * 3]!)).toBeLessThan(1e-8 * b.eigenvalues[0]!); }
  });
  for (const r of [0, 4]) {
    it(`the rotated model (r = ${r}, residual ${16 + r} wide) gives the dense model's logits`, () => {
      const rot = quadRotate(model, calib, { r });
      expect(rot.model.config.dim).toBe(16 + r);
      expect(maxRel(rot.model.forward(probe), ref)).toBeLessThan(tol);
    });
    it(`with quantization disabled, the QUAD layer stack (outlier split, online rotations) is lossless (r = ${r})`, async () => {
      const rot = quadRotate(model, calib, { r });
      const q = await quantizeRotated(rot, calib, { method: 'none', bits: 4, activations: null });
      expect(q.blocks[0]!.q).toBeInstanceOf(QuantActLinear);
      expect((q.blocks[0]!.q as QuantActLinear).outlierColumns).toBe(r);
      expect((q.blocks[0]!.down as QuantActLinear).rotation).not.toBeNull();
      expect(maxRel(q.forward(probe), ref)).toBeLessThan(tol);
    });
  }
  it('changeResidualBasis rejects a non-orthogonal basis and unfused norms', () => {
    const M = new Float64Array(16 * 16).fill(0); for (let i = 0; i < 16; i++) M[i * 16 + i] = 2;
    expect(() => changeResidualBasis(fuseNorms(model), M, 16)).toThrow(/M Mᵀ = I/);
    const I = new Float64Array(16 * 16); for (let i = 0; i < 16; i++) I[i * 16 + i] = 1;
    expect(() => changeResidualBasis(model, I, 16)).toThrow(/fuseNorms/);
  });
});

describe('QUAD quantized', () => {
  it('W4A4 runs on integer kernels with f32 outlier columns; refit never increases its objective', async () => {
    const rot = quadRotate(model, calib, { r: 4 });
    const infos: { refitBefore?: number; refitAfter?: number }[] = [];
    const q = await quantizeRotated(rot, calib, { bits: 4, activations: { readers: 4, o: 8, down: 8 }, refit: true, onLayer: (_n, i) => infos.push(i) });
    const L = q.blocks[1]!.gate as QuantActLinear;
    expect(L.weight).toBeInstanceOf(QuantizedLinear);
    expect(L.outlier!.length).toBe(24 * 4);
    expect(L.bytes()).toBe((L.weight as QuantizedLinear).bytes() + 24 * 4 * 4);
    const refits = infos.filter((i) => i.refitBefore !== undefined);
    expect(refits.length).toBe(2 * 5);
    for (const i of refits) expect(i.refitAfter!).toBeLessThanOrEqual(i.refitBefore!);
    expect(refits.some((i) => i.refitAfter! < i.refitBefore!)).toBe(true);
    const y = q.forward(probe);
    for (const v of y.data) expect(Number.isFinite(v)).toBe(true);
    expect(onlineRotationBytes(q)).toBeGreaterThan(0);
  });
  it('GPTQ sequential W4 is closer to dense than RTN W4 (KL), both weight-only', async () => {
    const ref = windows.map((w) => model.forward(w.input));
    const kl = (m: LlamaModel) => evaluate(m, windows, { reference: ref }).kl!;
    const g = await gptqModel(model, calib, { bits: 3 });
    const r = rtnModel(model, { bits: 3 });
    expect(g.blocks[0]!.q).toBeInstanceOf(QuantizedLinear);
    expect(kl(g)).toBeLessThan(kl(r));
  });
});
