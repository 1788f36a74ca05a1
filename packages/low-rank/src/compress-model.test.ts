import { describe, it, expect } from 'vitest';
import { Rng, Tensor, ArgumentError, maxAbsDiff, DenseLinear } from '@llmpress/tensor';
import { LlamaModel, denseBlock, saveModelBytes, loadCompressedModel, type LlamaConfig } from '@llmpress/models';
import { compressModel, lowRankKinds } from './compress-model.js';
import { LowRankLinear } from './low-rank.js';
import { rankFromRatio } from './rank.js';

/** A small seeded GQA Llama (q is 4 heads, k/v 2 heads) with dense linears. */
function tinyModel(seed = 1): LlamaModel {
  const c: LlamaConfig = {
    dim: 24,
    hiddenDim: 40,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 6,
    vocabSize: 32,
    seqLen: 64,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'interleaved',
    tiedEmbeddings: true,
  } as LlamaConfig;
  const rng = new Rng(seed);
  const mat = (out: number, inF: number) => {
    const d = new Float32Array(out * inF);
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() / Math.sqrt(inF);
    return new Tensor('f32', d, [out, inF]);
  };
  const norm = () => Float32Array.from({ length: c.dim }, () => 1 + 0.1 * rng.normal());
  const q = c.nHeads * c.headDim,
    kv = c.nKvHeads * c.headDim;
  const blocks = Array.from({ length: c.nLayers }, () =>
    denseBlock({
      attnNorm: norm(),
      ffnNorm: norm(),
      q: mat(q, c.dim),
      k: mat(kv, c.dim),
      v: mat(kv, c.dim),
      o: mat(c.dim, q),
      gate: mat(c.hiddenDim, c.dim),
      up: mat(c.hiddenDim, c.dim),
      down: mat(c.dim, c.hiddenDim),
    }),
  );
  return new LlamaModel(c, { embedding: mat(c.vocabSize, c.dim), blocks, finalNorm: norm() });
}

function windows(count: number, len: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => Array.from({ length: len }, () => rng.int(32)));
}

const model = tinyModel();
const cal = windows(4, 24, 5); // 96 tokens ≥ widest input (40)

describe('compressModel', () => {
  for (const [method, update] of [
    ['svd', false],
    ['asvd', false],
    ['svd-llm', false],
    ['svd-llm', true],
  ] as const) {
    it(`${method}${update ? ' + update' : ''}: every linear becomes low-rank at the budget (GQA shapes from the config)`, async () => {
      const events: number[] = [];
      const res = await compressModel(model, {
        method,
        ratio: 0.4,
        update,
        calibration: cal,
        onProgress: (e) => {
          if (e.stage === 'compress') events.push(e.done);
        },
      });
      expect(res.layers).toHaveLength(14);
      expect(events).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
      for (const e of res.model.linears()) {
        expect(e.layer).toBeInstanceOf(LowRankLinear);
        const k = rankFromRatio(e.layer.outFeatures, e.layer.inFeatures, 0.4);
        expect((e.layer as LowRankLinear).rank).toBe(k);
        expect(e.layer.params()).toBeLessThanOrEqual(0.6 * e.layer.inFeatures * e.layer.outFeatures);
      }
      const kLayer = res.model.getLinear('blocks.0.k');
      expect([kLayer.outFeatures, kLayer.inFeatures]).toEqual([12, 24]);
      expect(res.params).toBe(res.layers.reduce((a, l) => a + l.params, 0));
      expect(res.bytes).toBe(4 * res.params);
      expect(res.params).toBeLessThanOrEqual(0.6 * res.denseParams);
      // the input model is untouched
      for (const e of model.linears()) expect(e.layer).toBeInstanceOf(DenseLinear);
      if (update)
        for (const l of res.layers) {
          const o = l.update!.objective;
          expect(o.at(-1)!).toBeLessThanOrEqual(o[0]! * (1 + 1e-9));
        }
      const y = res.model.forward(cal[0]!);
      for (const v of y.data) expect(Number.isFinite(v)).toBe(true);
    });
  }

  it('saves as safetensors and reloads to the identical model (same logits, same bytes)', async () => {
    const res = await compressModel(model, { method: 'svd-llm', ratio: 0.3, update: true, calibration: cal, roles: ['q', 'k', 'v', 'o', 'gate', 'up'] });
    const bytes = saveModelBytes(res.model);
    const back = loadCompressedModel(bytes, { kinds: lowRankKinds });
    expect(back.getLinear('blocks.1.up')).toBeInstanceOf(LowRankLinear);
    expect(back.getLinear('blocks.1.down').kind).toBe('dense');
    expect(back.storedBytes()).toBe(res.model.storedBytes());
    expect(maxAbsDiff(back.forward(cal[1]!), res.model.forward(cal[1]!))).toBe(0);
    // without the low-rank deserializer the loader refuses (typed), it does not guess
    expect(() => loadCompressedModel(bytes)).toThrow(/low-rank/);
  });

  it('bad input: method, ratio, update for baselines, missing or too-small calibration, roles', async () => {
    await expect(compressModel(model, { method: 'tucker' as any, ratio: 0.4, calibration: cal })).rejects.toThrow(ArgumentError);
    for (const ratio of [0, 1, -0.2, 1.2, NaN]) await expect(compressModel(model, { method: 'svd', ratio })).rejects.toThrow(/options.ratio/);
    await expect(compressModel(model, { method: 'svd', ratio: 0.97 })).rejects.toThrow(/rank 0/);
    await expect(compressModel(model, { method: 'asvd', ratio: 0.4, update: true, calibration: cal })).rejects.toThrow(/options.update/);
    await expect(compressModel(model, { method: 'svd-llm', ratio: 0.4 })).rejects.toThrow(/options.calibration/);
    await expect(compressModel(model, { method: 'svd-llm', ratio: 0.4, calibration: [] })).rejects.toThrow(/options.calibration/);
    await expect(compressModel(model, { method: 'svd-llm', ratio: 0.4, roles: ['qkv' as any], calibration: cal })).rejects.toThrow(/options.roles/);
    const tiny = windows(1, 16, 9); // 16 tokens < 24 and 40 input features
    await expect(compressModel(model, { method: 'svd-llm', ratio: 0.4, calibration: tiny })).rejects.toThrow(/at least 24 tokens/);
    await expect(compressModel(model, { method: 'svd-llm', ratio: 0.4, update: true, calibration: tiny })).rejects.toThrow(ArgumentError);
    // documented fallback: floor the singular Gram (eigh whitening)
    const ok = await compressModel(model, { method: 'svd-llm', ratio: 0.4, calibration: tiny, allowRankDeficient: true });
    // eigh whitening: G's missing directions are floored; the m < n Gram route counts the output
    // directions the 16 calibration tokens could not reach: max(0, m − 16)
    for (const l of ok.layers) {
      if (l.report.whitening?.method === 'gram') expect([l.name, l.report.whitening.floored]).toEqual([l.name, Math.max(0, l.outFeatures - 16)]);
      else expect([l.name, (l.report.whitening?.floored ?? 0) > 0]).toEqual([l.name, true]);
    }
    expect(ok.layers.some((l) => l.report.whitening?.method === 'gram' && l.report.whitening.floored > 0)).toBe(true);
    // cholesky whitening has no fallback: a typed not-positive-definite error
    await expect(compressModel(model, { method: 'svd-llm', ratio: 0.4, calibration: tiny, allowRankDeficient: true, whitening: 'cholesky' })).rejects.toThrow(
      /not positive definite/,
    );
    // a model whose layers are already compressed is refused
    const res = await compressModel(model, { method: 'svd', ratio: 0.4 });
    await expect(compressModel(res.model, { method: 'svd', ratio: 0.4 })).rejects.toThrow(/dense layer/);
  });

  it('compresses only the requested roles', async () => {
    const res = await compressModel(model, { method: 'svd-llm', ratio: 0.5, calibration: cal, roles: ['gate', 'up', 'down'] });
    expect(res.layers.map((l) => l.role).sort()).toEqual(['down', 'down', 'gate', 'gate', 'up', 'up']);
    expect(res.model.getLinear('blocks.1.q').kind).toBe('dense');
  });
});
