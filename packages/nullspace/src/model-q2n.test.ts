import { describe, it, expect } from 'vitest';
import { Rng, Tensor, ArgumentError, maxAbsDiff } from '@llmpress/tensor';
import { LlamaModel, denseBlock, type LlamaConfig } from '@llmpress/models';
import { QuantizedLinear } from '@llmpress/quantizers';
import { quantizeWithGrams, applyQ2n } from './model-q2n.js';

function tinyModel(seed = 3): LlamaModel {
  const c = { dim: 32, hiddenDim: 48, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, vocabSize: 40, seqLen: 64, normEps: 1e-5, ropeTheta: 10000, ropeStyle: 'interleaved', tiedEmbeddings: true } as LlamaConfig;
  const rng = new Rng(seed);
  const mat = (o: number, i: number) => new Tensor('f32', Float32Array.from({ length: o * i }, () => rng.normal() / Math.sqrt(i)), [o, i]);
  const norm = () => Float32Array.from({ length: c.dim }, () => 1 + 0.1 * rng.normal());
  const blocks = Array.from({ length: c.nLayers }, () => denseBlock({ attnNorm: norm(), ffnNorm: norm(), q: mat(32, 32), k: mat(16, 32), v: mat(16, 32), o: mat(32, 32), gate: mat(48, 32), up: mat(48, 32), down: mat(32, 48) }));
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
      const { model: q2n, reports } = applyQ2n(base.model, base.layers);
      expect(q2n.linearBytes()).toBe(base.model.linearBytes());
      expect(q2n.storedBytes()).toBe(base.model.storedBytes());
      expect(reports.size).toBe(12); // down skipped
      expect(q2n.getLinear('blocks.1.down')).toBe(base.model.getLinear('blocks.1.down'));
      const q = q2n.getLinear('blocks.0.q') as QuantizedLinear, q0 = base.model.getLinear('blocks.0.q') as QuantizedLinear;
      expect(q.packed).toBe(q0.packed);
      expect(maxAbsDiff(q.toDense(), q0.toDense())).toBeGreaterThan(0);
      const all = applyQ2n(base.model, base.layers, { skipDown: false });
      expect(all.reports.size).toBe(14);
      for (const v of q2n.forward(cal[0]!).data) expect(Number.isFinite(v)).toBe(true);
      // the input model is untouched
      expect(model.getLinear('blocks.0.q').kind).toBe('dense');
    });
  }
  it('bad input', async () => {
    const model = tinyModel();
    await expect(quantizeWithGrams(model, cal, { quantizer: 'awq' as any, bits: 4 })).rejects.toThrow(ArgumentError);
    await expect(quantizeWithGrams(model, cal, { quantizer: 'rtn', bits: 4, groupSize: 32, groupFallback: 'error' })).rejects.toThrow(/divide/);
    expect(() => applyQ2n(model, [])).toThrow(ArgumentError);
  });
});
