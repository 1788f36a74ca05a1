import { describe, it, expect } from 'vitest';
import { ArgumentError, Rng, Tensor, maxAbsDiff } from '@llmpress/tensor';
import { randomModel, captureLinearStats, compressLinears, AbortedError, type SequentialStats } from '@llmpress/models';
import { svdLlmLayer, asvdLayer, svdLayer, svdLlmModel, asvdModel, svdModel } from './methods.js';
import { svdLlmFactor, svdLowRankFactor, asvdFactor } from './svd-llm.js';
import { compressModel } from './compress-model.js';
import { LowRankLinear } from './low-rank.js';

const model = randomModel({}, 31); // dim 32, hidden 48, GQA (4 q heads, 2 kv heads)
function windows(count: number, len: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => Array.from({ length: len }, () => rng.int(model.config.vocabSize)));
}
const cal = windows(4, 24, 3); // 96 tokens ≥ widest input (48)

describe('low-rank per-layer functions', () => {
  const stats = captureLinearStats(model, cal);
  const st = (name: string) => {
    const s = stats.get(name)!;
    return { n: s.n, count: s.count, gram: s.gram!, origGram: s.gram!, crossGram: s.gram!, meanAbs: s.meanAbs!, origMeanAbs: s.meanAbs! };
  };
  const W = model.getLinear('blocks.1.up').toDense();

  it('svdLlmLayer (no update) = svdLlmFactor on the original Gram; asvdLayer / svdLayer = their factor functions', () => {
    const s = st('blocks.1.up');
    const a = svdLlmLayer(W, s, { ratio: 0.4 });
    const b = svdLlmFactor(W, new Tensor('f64', s.origGram, [s.n, s.n]), { ratio: 0.4, route: 'auto' });
    expect(maxAbsDiff(a.layer.toDense(), b.layer.toDense())).toBe(0);
    expect(a.report.params).toBe(a.layer.params());
    expect(a.report.denseParams).toBe(W.shape[0]! * W.shape[1]!);
    expect(a.report.update).toBeUndefined();
    const c = asvdLayer(W, s, { ratio: 0.4, alpha: 0.5 });
    expect(maxAbsDiff(c.layer.toDense(), asvdFactor(W, new Tensor('f64', s.meanAbs, [s.n]), { ratio: 0.4 }).layer.toDense())).toBe(0);
    expect(maxAbsDiff(svdLayer(W, { ratio: 0.4 }).layer.toDense(), svdLowRankFactor(W, { ratio: 0.4 }).layer.toDense())).toBe(0);
  });

  it('svdLlmLayer with update and no drift (X̂ = X) keeps the whitening solution (objective unchanged)', () => {
    const r = svdLlmLayer(W, st('blocks.1.up'), { ratio: 0.4, update: true });
    const o = r.report.update!.objective;
    expect(Math.abs(o.at(-1)! - o[0]!)).toBeLessThanOrEqual(1e-6 * o[0]!);
  });

  it('bad input is a typed error naming the argument', () => {
    const s = st('blocks.1.up');
    const arg = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return ArgumentError.isInstance(e) ? (e as ArgumentError).argument : String(e);
      }
      return 'no error';
    };
    expect(arg(() => svdLlmLayer(W, { ...s, n: 5 }, { ratio: 0.4 }))).toBe('stats.n');
    expect(arg(() => svdLlmLayer(W, { ...s, count: 3 }, { ratio: 0.4 }))).toBe('stats.count');
    expect(arg(() => svdLlmLayer(W, { n: s.n, count: s.count, gram: s.gram }, { ratio: 0.4, update: true }))).toBe('stats.origGram');
    expect(arg(() => svdLlmLayer(W, s, { ratio: 0.4, whitenWith: 'both' as never }))).toBe('options.whitenWith');
    expect(arg(() => asvdLayer(W, { n: s.n, count: s.count }, { ratio: 0.4 }))).toBe('stats.origMeanAbs');
    expect(arg(() => svdLlmLayer(W, s, { ratio: 1.5 }))).toBe('ratio');
  });
});

describe('low-rank per-model functions (on compressLinears)', () => {
  it('whitening-only SVD-LLM is the same under every schedule (it reads the original Grams)', async () => {
    const a = await svdLlmModel(model, { calibration: cal, ratio: 0.4 });
    const b = await svdLlmModel(model, { calibration: cal, ratio: 0.4, schedule: 'sequential' });
    expect(maxAbsDiff(a.model.forward(cal[0]!), b.model.forward(cal[0]!))).toBe(0);
    expect(a.layers).toHaveLength(14);
    expect(a.bytes).toBe(a.layers.reduce((s, l) => s + l.bytes, 0));
    expect(a.denseBytes).toBe(4 * model.linears().reduce((s, e) => s + e.layer.inFeatures * e.layer.outFeatures, 0));
    expect(a.model.linears().every((e) => e.layer instanceof LowRankLinear)).toBe(true);
    expect(typeof a.backend).toBe('string');
  });

  it("block 0: the update of o is a no-op under 'per-block' (its inputs are still dense) but not under 'sequential'", async () => {
    const seq = await svdLlmModel(model, { calibration: cal, ratio: 0.5, update: true });
    const per = await svdLlmModel(model, { calibration: cal, ratio: 0.5, update: true, schedule: 'per-block' });
    const gain = (r: typeof seq, name: string) => {
      const o = r.layers.find((l) => l.name === name)!.report.update!.objective;
      return 1 - o.at(-1)! / o[0]!;
    };
    expect(Math.abs(gain(per, 'blocks.0.o'))).toBeLessThan(1e-6);
    expect(gain(seq, 'blocks.0.o')).toBeGreaterThan(1e-3);
    expect(Math.abs(gain(seq, 'blocks.0.q'))).toBeLessThan(1e-6); // the first group sees the dense inputs either way
    expect(gain(seq, 'blocks.0.down')).toBeGreaterThan(1e-3);
    // and the sequential model is closer to the dense model on the calibration windows
    const ref = model.forward(cal[1]!);
    const dist = (m: typeof seq.model) => {
      const y = m.forward(cal[1]!);
      let s = 0;
      for (let i = 0; i < y.data.length; i++) s += (y.data[i]! - ref.data[i]!) ** 2;
      return s;
    };
    expect(dist(seq.model)).toBeLessThan(dist(per.model));
  });

  it('the per-model functions are the driver with the per-layer functions (same layers)', async () => {
    const viaDriver = await compressLinears(model, {
      calibration: cal,
      schedule: 'dense',
      compress: (job) => {
        const r = asvdLayer(job.weight, job.stats as SequentialStats, { ratio: 0.3 });
        return { layer: r.layer, report: r.report, bytes: r.layer.bytes(), kind: r.layer.kind };
      },
    });
    const viaModel = await asvdModel(model, { calibration: cal, ratio: 0.3 });
    expect(maxAbsDiff(viaDriver.model.forward(cal[2]!), viaModel.model.forward(cal[2]!))).toBe(0);
    const s = await svdModel(model, { ratio: 0.3 });
    const c = await compressModel(model, { method: 'svd', ratio: 0.3 });
    expect(maxAbsDiff(s.model.forward(cal[2]!), c.model.forward(cal[2]!))).toBe(0);
  });

  it('progress with ETA, abort, typed errors before any work', async () => {
    const phases: string[] = [];
    let lastEta: number | undefined;
    await svdLlmModel(model, {
      calibration: cal,
      ratio: 0.4,
      update: true,
      roles: ['o', 'down'],
      onProgress: (p) => {
        phases.push(`${p.phase}:${p.layer}`);
        lastEta = p.etaMs;
      },
    });
    expect(phases).toEqual([
      'calibrate:blocks.0.o',
      'compress:blocks.0.o',
      'calibrate:blocks.0.down',
      'compress:blocks.0.down',
      'calibrate:blocks.1.o',
      'compress:blocks.1.o',
      'calibrate:blocks.1.down',
      'compress:blocks.1.down',
    ]);
    expect(typeof lastEta).toBe('number');
    const ac = new AbortController();
    ac.abort();
    await expect(svdLlmModel(model, { calibration: cal, ratio: 0.4, signal: ac.signal })).rejects.toSatisfy((e) => AbortedError.isInstance(e));
    await expect(svdLlmModel(model, { calibration: cal, ratio: 0 })).rejects.toThrow(/svdLlmModel: argument 'options.ratio'/);
    await expect(svdModel(model, { ratio: 0.99 })).rejects.toThrow(/rank 0/);
    const compressed = await svdModel(model, { ratio: 0.4 });
    await expect(asvdModel(compressed.model, { calibration: cal, ratio: 0.4 })).rejects.toThrow(/dense layer/);
    await expect(svdLlmModel(model, { ratio: 0.4 } as never)).rejects.toThrow(/options.calibration/);
  });
});
