import { describe, it, expect } from 'vitest';
import { Rng, Tensor, ArgumentError, maxAbsDiff } from '@llmpress/tensor';
import { LlamaModel, denseBlock, type LlamaConfig } from '@llmpress/models';
import type { QuantizedLinear } from '@llmpress/quantizers';
import { quantizeWithGrams, applyQ2n, q2nModel } from './model-q2n.js';
import { gptqModel, rtnModel } from '@llmpress/quantizers';

function tinyModel(seed = 3): LlamaModel {
  const c = {
    dim: 32,
    hiddenDim: 48,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 8,
    vocabSize: 40,
    seqLen: 64,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'interleaved',
    tiedEmbeddings: true,
  } as LlamaConfig;
  const rng = new Rng(seed);
  const mat = (o: number, i: number) =>
    new Tensor(
      'f32',
      Float32Array.from({ length: o * i }, () => rng.normal() / Math.sqrt(i)),
      [o, i],
    );
  const norm = () => Float32Array.from({ length: c.dim }, () => 1 + 0.1 * rng.normal());
  const blocks = Array.from({ length: c.nLayers }, () =>
    denseBlock({
      attnNorm: norm(),
      ffnNorm: norm(),
      q: mat(32, 32),
      k: mat(16, 32),
      v: mat(16, 32),
      o: mat(32, 32),
      gate: mat(48, 32),
      up: mat(48, 32),
      down: mat(32, 48),
    }),
  );
  return new LlamaModel(c, { embedding: mat(c.vocabSize, c.dim), blocks, finalNorm: norm() });
}
const rng = new Rng(8);
const cal = Array.from({ length: 3 }, () => Array.from({ length: 32 }, () => rng.int(40)));

describe('whole-model Q2N', () => {
  for (const quantizer of ['rtn', 'gptq'] as const) {
    it(`${quantizer}: Q2N keeps the stored bytes and codes, touches only the chosen layers`, async () => {
      const model = tinyModel();
      const base = await quantizeWithGrams(model, cal, { quantizer, bits: 3, groupSize: 32 });
      expect(base.layers).toHaveLength(14);
      // 48-wide down_proj is not divisible by 32: a ragged last group (32 + 16), never per channel
      const down = base.model.getLinear('blocks.0.down') as QuantizedLinear;
      expect(down.groupSize).toBe(32);
      expect(down.nGroups).toBe(2);
      const pc = await quantizeWithGrams(model, cal, { quantizer, bits: 3, groupSize: 32, groupFallback: 'per-channel' });
      expect((pc.model.getLinear('blocks.0.down') as QuantizedLinear).groupSize).toBe(48);
      const { model: q2n, reports } = applyQ2n(base.model, base.layers, { skipDown: true });
      expect(q2n.linearBytes()).toBe(base.model.linearBytes());
      expect(q2n.storedBytes()).toBe(base.model.storedBytes());
      expect(reports.size).toBe(12); // down skipped (ablation)
      expect(q2n.getLinear('blocks.1.down')).toBe(base.model.getLinear('blocks.1.down'));
      const q = q2n.getLinear('blocks.0.q') as QuantizedLinear,
        q0 = base.model.getLinear('blocks.0.q') as QuantizedLinear;
      expect(q.packed).toBe(q0.packed);
      expect(maxAbsDiff(q.toDense(), q0.toDense())).toBeGreaterThan(0);
      const all = applyQ2n(base.model, base.layers);
      expect(all.reports.size).toBe(14); // down_proj included by default
      for (const v of q2n.forward(cal[0]!).data) expect(Number.isFinite(v)).toBe(true);
      // the input model is untouched
      expect(model.getLinear('blocks.0.q').kind).toBe('dense');
    });
  }
  it('q2nModel runs Q2N inside the driver: same bytes as the base quantizer, down included by default, skip-down as an ablation', async () => {
    const model = tinyModel();
    for (const quantizer of ['gptq', 'rtn'] as const) {
      const base =
        quantizer === 'gptq' ? await gptqModel(model, { calibration: cal, bits: 3, groupSize: 16 }) : await rtnModel(model, { bits: 3, groupSize: 16 });
      const q = await q2nModel(model, { calibration: cal, quantizer, bits: 3, groupSize: 16 });
      expect(q.bytes).toBe(base.bytes);
      expect(q.layers.every((l) => l.report.q2n !== null)).toBe(true);
      const down = q.layers.find((l) => l.name === 'blocks.1.down')!;
      expect(down.report.q2n!.m.length).toBe(32);
      // the first layer sees the same inputs in both runs: its codes are the base quantizer's, its scales rescaled per row
      const q0 = q.model.getLinear('blocks.0.q') as QuantizedLinear,
        b0 = base.model.getLinear('blocks.0.q') as QuantizedLinear;
      expect(Array.from(q0.packed)).toEqual(Array.from(b0.packed));
      expect(maxAbsDiff(q0.toDense(), b0.toDense())).toBeGreaterThan(0);
      const skip = await q2nModel(model, { calibration: cal, quantizer, bits: 3, groupSize: 16, q2n: { skipDown: true } });
      expect(skip.layers.filter((l) => l.report.q2n === null).map((l) => l.name)).toEqual(['blocks.0.down', 'blocks.1.down']);
    }
    await expect(q2nModel(model, { calibration: [], quantizer: 'gptq', bits: 3 })).rejects.toThrow(/q2nModel.*options\.calibration/s);
    await expect(q2nModel(model, { calibration: cal, quantizer: 'awq' as 'rtn', bits: 3 })).rejects.toThrow(/options\.quantizer/);
  });
  it('bad input', async () => {
    const model = tinyModel();
    await expect(quantizeWithGrams(model, cal, { quantizer: 'awq' as any, bits: 4 })).rejects.toThrow(ArgumentError);
    await expect(quantizeWithGrams(model, cal, { quantizer: 'rtn', bits: 4, groupSize: 32, groupFallback: 'error' })).rejects.toThrow(/divide/);
    expect(() => applyQ2n(model, [])).toThrow(ArgumentError);
  });
});
