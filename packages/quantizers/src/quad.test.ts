import { describe, it, expect } from 'vitest';
import { type Tensor, tolerance } from '@llmpress/tensor';
import { evaluate, type LlamaModel } from '@llmpress/models';
import {
  fuseNorms,
  quadRotate,
  quantizeRotated,
  outlierBasis,
  normOutputCovariance,
  changeResidualBasis,
  rtnModel,
  gptqModel,
  QuantActLinear,
  QuantizedLinear,
  onlineRotationBytes,
  quadModel,
  QUAD_A4A8,
  GPTQ_MODEL_DEFAULTS,
} from './index.js';
import { tinyModel, tokens } from './testing-model.js';

function maxRel(a: Tensor<'f32'>, b: Tensor<'f32'>): number {
  let e = 0,
    s = 0;
  for (let i = 0; i < a.size; i++) {
    e = Math.max(e, Math.abs(a.data[i]! - b.data[i]!));
    s = Math.max(s, Math.abs(b.data[i]!));
  }
  return e / s;
}
const model = tinyModel();
const calib = [tokens(24, 32, 1), tokens(24, 32, 2), tokens(24, 32, 3), tokens(24, 32, 4)];
const probe = tokens(20, 32, 99);
const windows = [5, 6].map((s) => {
  const t = tokens(21, 32, s + 10);
  return { index: s, input: t.slice(0, 20), targets: t.slice(1), span: [0, 0] as [number, number] };
});

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
    for (let i = 0; i < 16; i++)
      for (let j = 0; j < 16; j++) {
        let s = 0;
        for (let k = 0; k < D; k++) s += b.q[i * D + k]! * b.q[j * D + k]!;
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-10);
      }
    expect(b.eigenvalues[0]!).toBeGreaterThanOrEqual(b.eigenvalues[3]!);
    // C p = λ p for the top direction
    for (let i = 0; i < 16; i++) {
      let s = 0;
      for (let j = 0; j < 16; j++) s += C[i * 16 + j]! * b.p[j * 3]!;
      expect(Math.abs(s - b.eigenvalues[0]! * b.p[i * 3]!)).toBeLessThan(1e-8 * b.eigenvalues[0]!);
    }
  });
  for (const r of [0, 4]) {
    it(`the rotated model (r = ${r}, residual ${16 + r} wide) gives the dense model's logits`, () => {
      const rot = quadRotate(model, calib, { r });
      expect(rot.model.config.dim).toBe(16 + r);
      expect(maxRel(rot.model.forward(probe), ref)).toBeLessThan(tol);
    });
    it(`with quantization disabled, the QUAD layer stack (outlier split, online rotations) is lossless (r = ${r})`, async () => {
      const rot = quadRotate(model, calib, { r });
      const q = (await quantizeRotated(rot, calib, { method: 'none', bits: 4, activations: null })).model;
      expect(q.blocks[0]!.q).toBeInstanceOf(QuantActLinear);
      expect((q.blocks[0]!.q as QuantActLinear).outlierColumns).toBe(r);
      expect((q.blocks[0]!.down as QuantActLinear).rotation).not.toBeNull();
      expect(maxRel(q.forward(probe), ref)).toBeLessThan(tol);
    });
  }
  it('changeResidualBasis rejects a non-orthogonal basis and unfused norms', () => {
    const M = new Float64Array(16 * 16).fill(0);
    for (let i = 0; i < 16; i++) M[i * 16 + i] = 2;
    expect(() => changeResidualBasis(fuseNorms(model), M, 16)).toThrow(/M Mᵀ = I/);
    const I = new Float64Array(16 * 16);
    for (let i = 0; i < 16; i++) I[i * 16 + i] = 1;
    expect(() => changeResidualBasis(model, I, 16)).toThrow(/fuseNorms/);
  });
});

describe('QUAD quantized', () => {
  it('W4A4 runs on integer kernels with f32 outlier columns; refit never increases its objective', async () => {
    const rot = quadRotate(model, calib, { r: 4 });
    const res = await quantizeRotated(rot, calib, { bits: 4, activations: { readers: 4, o: 8, down: 8 }, refit: true });
    const q = res.model,
      infos = res.layers.map((l) => l.report);
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
    // distinct online rotations once (runtime); every layer's stored copy in the bytes (file)
    const rotBytes = rot.online.o.bytes() + rot.online.down.bytes();
    expect(onlineRotationBytes(q)).toBe(rotBytes);
    expect(res.bytes).toBe(q.linearBytes());
    const nBlocks = q.blocks.length;
    expect(infos.reduce((a, i) => a + i.rotationBytes, 0)).toBe(nBlocks * rotBytes);
    // bytes() == Σ bytes of the tensors serialize() writes, for every layer (rotations included)
    const tensorBytes = (l: QuantActLinear) => Object.values(l.serialize().tensors).reduce((a, t) => a + (t.contiguous().data as Uint8Array).byteLength, 0);
    for (const e of q.linears()) expect(e.layer.bytes()).toBe(tensorBytes(e.layer as QuantActLinear));
    const down = q.blocks[0]!.down as QuantActLinear;
    expect(down.rotation).not.toBeNull();
    expect(Object.keys(down.serialize().tensors).some((k) => k.startsWith('rotation'))).toBe(true);
    expect((q.blocks[0]!.o as QuantActLinear).act).toEqual({ bits: 8, clip: 0.9 });
  });
  it('quadModel: W4A4 by default (every layer carries actBits 4 when saved), A4/A8 and A16 on request, dense bytes of the original model', async () => {
    const a4 = await quadModel(model, { calibration: calib, r: 4, bits: 4 });
    for (const e of a4.model.linears()) expect(Number((e.layer as QuantActLinear).serialize().meta.actBits)).toBe(4);
    expect(a4.denseBytes).toBe(model.linears().reduce((a, e) => a + 4 * e.layer.inFeatures * e.layer.outFeatures, 0));
    expect(a4.rotated.model.config.dim).toBe(20);
    const a8 = await quadModel(model, { calibration: calib, r: 4, bits: 4, activations: QUAD_A4A8 });
    expect(Number((a8.model.blocks[0]!.down as QuantActLinear).serialize().meta.actBits)).toBe(8);
    expect(Number((a8.model.blocks[0]!.q as QuantActLinear).serialize().meta.actBits)).toBe(4);
    const a16 = await quadModel(model, { calibration: calib, r: 4, bits: 4, activations: null });
    expect((a16.model.blocks[0]!.q as QuantActLinear).act).toBeNull();
    await expect(quadModel(model, { calibration: [], r: 4, bits: 4 })).rejects.toThrow(/quadModel.*options\.calibration/s);
  });
  it('GPTQ sequential W4 is closer to dense than RTN W4 (KL), both weight-only', async () => {
    const ref = windows.map((w) => model.forward(w.input));
    const kl = (m: LlamaModel) => evaluate(m, windows, { reference: ref }).kl!;
    const g = await gptqModel(model, { calibration: calib, bits: 3 });
    const r = await rtnModel(model, { bits: 3 });
    expect(g.model.blocks[0]!.q).toBeInstanceOf(QuantizedLinear);
    expect(g.bytes).toBe(g.model.linearBytes());
    expect(r.layers).toHaveLength(7 * model.config.nLayers);
    expect(kl(g.model)).toBeLessThan(kl(r.model));
    // the per-block schedule is an ablation of the default (true-sequential per group): both run, different inputs for o/down
    const pb = await gptqModel(model, { calibration: calib, bits: 3, schedule: 'per-block' });
    expect(pb.model.blocks[0]!.q.toDense().data).toEqual(g.model.blocks[0]!.q.toDense().data); // q/k/v see the same inputs in block 0
    expect(pb.model.blocks[0]!.down.toDense().data).not.toEqual(g.model.blocks[0]!.down.toDense().data);
    // activation plans wrap layers; bad options are typed errors
    const a = await rtnModel(model, { bits: 4, groupSize: 8, activations: { readers: 8, o: 8, down: 8 } });
    expect(a.model.blocks[0]!.o).toBeInstanceOf(QuantActLinear);
    await expect(gptqModel(model, { calibration: [], bits: 3 })).rejects.toThrow(/gptqModel.*options\.calibration/s);
    // unset options take GPTQ_MODEL_DEFAULTS (act-order with static groups: no stored permutation; clip search)
    const d = await gptqModel(model, { calibration: calib, bits: 3, groupSize: 8 });
    const e = await gptqModel(model, { calibration: calib, bits: 3, groupSize: 8, ...GPTQ_MODEL_DEFAULTS });
    const f = await gptqModel(model, { calibration: calib, bits: 3, groupSize: 8, actOrder: false, clipSearch: false });
    expect(d.model.blocks[1]!.up.toDense().data).toEqual(e.model.blocks[1]!.up.toDense().data);
    expect(d.model.blocks[1]!.up.toDense().data).not.toEqual(f.model.blocks[1]!.up.toDense().data);
    expect((d.model.blocks[1]!.up as QuantizedLinear).perm).toBeNull();
    await expect(rtnModel(model, { bits: 4, groupSize: 999 })).rejects.toThrow(/options\.groupSize/);
  });
});
