import { describe, it, expect } from 'vitest';
import { ArgumentError, DenseLinear, Tensor } from '@llmpress/tensor';
import { randomModel } from '../testing/random-model.js';
import { captureLinearStats, sequentialCalibration, type SequentialStats } from '../calibration.js';
import { AbortedError } from '../errors.js';
import { compressLinears, type LayerCompressor } from './driver.js';
import type { LinearRole } from '../model.js';

const windows = [
  [1, 3, 5, 7, 9, 11, 2, 4],
  [1, 2, 4, 8, 16, 32, 33, 6, 7],
];

function relDiff(a: Float64Array, b: Float64Array): number {
  let d = 0,
    s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}

/** A deterministic "compressor": the weight scaled by 0.5 (changes every downstream input). */
function halve(seen: Map<string, SequentialStats>): LayerCompressor<{ scale: number }> {
  return (job) => {
    seen.set(job.name, job.stats);
    const layer = new DenseLinear(
      new Tensor(
        'f32',
        job.weight.data.map((x) => 0.5 * x),
        job.weight.shape as number[],
      ),
    );
    return { layer, report: { scale: 0.5 }, bytes: layer.bytes(), kind: 'halved' };
  };
}

/** Σ x xᵀ of one linear's input over the windows, through `m`. */
function gramOf(m: ReturnType<typeof randomModel>, name: string): Float64Array {
  const n = m.getLinear(name).inFeatures;
  const g = new Float64Array(n * n);
  for (const w of windows)
    m.forward(w, {
      hooks: {
        onLinearInput: (nm, _r, _b, x) => {
          if (nm !== name) return;
          for (let t = 0; t < x.shape[0]!; t++)
            for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j]! += x.data[t * n + i]! * x.data[t * n + j]!;
        },
      },
    });
  return g;
}

function halvedCopy(m: ReturnType<typeof randomModel>, names: string[]) {
  const c = m.clone();
  for (const nm of names) {
    const L = m.getLinear(nm) as DenseLinear;
    c.setLinear(
      nm,
      new DenseLinear(
        new Tensor(
          'f32',
          L.weight.data.map((x) => 0.5 * x),
          L.weight.shape as number[],
        ),
      ),
    );
  }
  return c;
}

describe('compressLinears', () => {
  it("block 0: under 'sequential' o's stats come from the compressed q/k/v (and differ from 'per-block')", async () => {
    const m = randomModel({}, 11);
    const seq = new Map<string, SequentialStats>(),
      per = new Map<string, SequentialStats>();
    await compressLinears(m, { calibration: windows, compress: halve(seq) });
    await compressLinears(m, { calibration: windows, compress: halve(per), schedule: 'per-block' });
    const o = 'blocks.0.o';
    // o's working input under 'sequential' = the input o sees in a model whose block-0 q/k/v are replaced
    const qkv = halvedCopy(m, ['blocks.0.q', 'blocks.0.k', 'blocks.0.v']);
    expect(relDiff(seq.get(o)!.gram, gramOf(qkv, o))).toBeLessThan(1e-6);
    // under 'per-block' it is the dense model's (in block 0 nothing upstream has changed)
    expect(relDiff(per.get(o)!.gram, gramOf(m, o))).toBeLessThan(1e-6);
    expect(relDiff(seq.get(o)!.gram, per.get(o)!.gram)).toBeGreaterThan(1e-2);
    // targets always come from the original model
    expect(relDiff(seq.get(o)!.origGram, gramOf(m, o))).toBeLessThan(1e-6);
    // down under 'sequential' sees q,k,v,o,gate,up of block 0 replaced
    const all6 = halvedCopy(
      m,
      ['q', 'k', 'v', 'o', 'gate', 'up'].map((r) => `blocks.0.${r}`),
    );
    expect(relDiff(seq.get('blocks.0.down')!.gram, gramOf(all6, 'blocks.0.down'))).toBeLessThan(1e-6);
    // the first group's inputs are identical under both schedules
    expect(relDiff(seq.get('blocks.0.q')!.gram, per.get('blocks.0.q')!.gram)).toBe(0);
  });

  it('crossGram pairs the original input with the working input (block 1 down, sequential)', async () => {
    const m = randomModel({}, 12);
    const seen = new Map<string, SequentialStats>();
    const res = await compressLinears(m, { calibration: windows, compress: halve(seen) });
    const name = 'blocks.1.down';
    const n = m.getLinear(name).inFeatures;
    const work = halvedCopy(
      m,
      m
        .linears()
        .filter((e) => e.block === 0 || e.role !== 'down')
        .map((e) => e.name),
    );
    const X: Float32Array[] = [],
      Xh: Float32Array[] = [];
    for (const w of windows) {
      m.forward(w, {
        hooks: {
          onLinearInput: (nm, _r, _b, x) => {
            if (nm === name) for (let t = 0; t < x.shape[0]!; t++) X.push(x.data.slice(t * n, t * n + n));
          },
        },
      });
      work.forward(w, {
        hooks: {
          onLinearInput: (nm, _r, _b, x) => {
            if (nm === name) for (let t = 0; t < x.shape[0]!; t++) Xh.push(x.data.slice(t * n, t * n + n));
          },
        },
      });
    }
    const cg = new Float64Array(n * n);
    X.forEach((x, t) => {
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cg[i * n + j]! += x[i]! * Xh[t]![j]!;
    });
    expect(relDiff(seen.get(name)!.crossGram, cg)).toBeLessThan(1e-6);
    expect(seen.get(name)!.count).toBe(17);
    // the result model is the working model: same outputs as replacing every layer directly
    const direct = halvedCopy(
      m,
      m.linears().map((e) => e.name),
    );
    expect(Array.from(res.model.forward(windows[0]!).data)).toEqual(Array.from(direct.forward(windows[0]!).data));
  });

  it("'dense' takes every statistic from the original model; the input model is never mutated", async () => {
    const m = randomModel({}, 13);
    const before = m.linears().map((e) => e.layer);
    const seen = new Map<string, SequentialStats>();
    const ref = captureLinearStats(m, windows);
    const res = await compressLinears(m, { calibration: windows, compress: halve(seen), schedule: 'dense' });
    expect(m.linears().map((e) => e.layer)).toEqual(before);
    for (const [name, s] of seen) {
      expect(relDiff(s.gram, ref.get(name)!.gram!)).toBeLessThan(1e-6);
      expect(s.origGram).toEqual(s.gram);
      expect(s.crossGram).toEqual(s.gram);
      expect(s.origGram).not.toBe(s.gram);
      expect(relDiff(s.meanAbs, ref.get(name)!.meanAbs!)).toBeLessThan(1e-9);
    }
    expect(res.layers.map((l) => l.name)).toEqual(m.linears().map((e) => e.name));
    expect(res.layers.every((l) => l.kind === 'halved' && l.report.scale === 0.5)).toBe(true);
  });

  it('roles/blocks subset: bytes count the untouched layers, denseBytes every linear; backend named; progress with ETA', async () => {
    const m = randomModel({ nLayers: 3 }, 14);
    const events: Array<{ done: number; total: number; layer: string; phase: string; etaMs?: number }> = [];
    const res = await compressLinears(m, {
      calibration: windows,
      roles: ['down', 'q'],
      blocks: [1],
      compress: (job) => {
        const L = new DenseLinear(job.weight);
        return { layer: L, report: job.role, bytes: 10, kind: 'x' };
      },
      onProgress: (p) => events.push(p),
    });
    expect(res.layers.map((l) => l.name)).toEqual(['blocks.1.q', 'blocks.1.down']);
    let dense = 0;
    for (const e of m.linears()) dense += 4 * e.layer.inFeatures * e.layer.outFeatures;
    expect(res.denseBytes).toBe(dense);
    expect(res.bytes).toBe(dense - m.getLinear('blocks.1.q').bytes() - m.getLinear('blocks.1.down').bytes() + 20);
    expect(typeof res.backend).toBe('string');
    expect(res.backend.length).toBeGreaterThan(0);
    expect(events.map((e) => `${e.phase}:${e.layer}`)).toEqual([
      'calibrate:blocks.1.q',
      'compress:blocks.1.q',
      'calibrate:blocks.1.down',
      'compress:blocks.1.down',
    ]);
    expect(events.every((e) => e.total === 2)).toBe(true);
    expect(events[0]!.etaMs).toBeUndefined();
    expect(events[3]!.done).toBe(1);
    expect(typeof events[3]!.etaMs).toBe('number');
  });

  it('matches sequentialCalibration (per-block callback) for the per-block schedule', async () => {
    const m = randomModel({}, 15);
    const viaDriver = new Map<string, SequentialStats>();
    await compressLinears(m, { calibration: windows, compress: halve(viaDriver), schedule: 'per-block' });
    const w = m.clone();
    const viaOld = new Map<string, SequentialStats>();
    await sequentialCalibration(m, w, windows, (b, st) => {
      for (const [r, s] of st) {
        viaOld.set(s.name, s);
        const L = w.blocks[b]![r as LinearRole] as DenseLinear;
        w.setLinear(
          s.name,
          new DenseLinear(
            new Tensor(
              'f32',
              L.weight.data.map((x) => 0.5 * x),
              L.weight.shape as number[],
            ),
          ),
        );
      }
    });
    for (const [name, s] of viaOld) {
      expect(viaDriver.get(name)!.gram).toEqual(s.gram);
      expect(viaDriver.get(name)!.crossGram).toEqual(s.crossGram);
    }
  });

  it('dataFree runs no calibration and passes empty stats', async () => {
    const m = randomModel({}, 16);
    const counts: number[] = [];
    const res = await compressLinears(m, {
      dataFree: true,
      compress: (job) => {
        counts.push(job.stats.count + job.stats.gram.length);
        return { layer: new DenseLinear(job.weight), report: null, bytes: 1, kind: 'd' };
      },
    });
    expect(counts.length).toBe(14);
    expect(counts.every((c) => c === 0)).toBe(true);
    expect(res.bytes).toBe(14);
  });

  it('abort: an aborted signal raises AbortedError before work and between layers', async () => {
    const m = randomModel({}, 17);
    const ac = new AbortController();
    ac.abort('stop');
    await expect(compressLinears(m, { calibration: windows, compress: halve(new Map()), signal: ac.signal })).rejects.toSatisfy((e) =>
      AbortedError.isInstance(e),
    );
    const ac2 = new AbortController();
    let calls = 0;
    const p = compressLinears(m, {
      calibration: windows,
      signal: ac2.signal,
      compress: (job) => {
        calls++;
        if (calls === 3) ac2.abort(new Error('user'));
        return halve(new Map())(job, undefined as never);
      },
    });
    await expect(p).rejects.toThrow(/aborted \(user\)/);
    expect(calls).toBe(3);
  });

  it('typed errors name the argument', async () => {
    const m = randomModel({}, 18);
    const c = halve(new Map());
    const bad = async (o: any, arg: string) => {
      const e = await compressLinears(m, o).then(
        () => undefined,
        (x) => x,
      );
      expect(ArgumentError.isInstance(e)).toBe(true);
      expect((e as ArgumentError).argument).toBe(arg);
      expect((e as ArgumentError).fn).toBe('compressLinears');
    };
    await bad({ calibration: windows, compress: c, schedule: 'greedy' }, 'options.schedule');
    await bad({ calibration: [], compress: c }, 'options.calibration');
    await bad({ calibration: windows }, 'options.compress');
    await bad({ calibration: windows, compress: c, roles: ['qq'] }, 'options.roles');
    await bad({ calibration: windows, compress: c, blocks: [2] }, 'options.blocks');
    await bad(
      { calibration: windows, compress: () => ({ layer: new DenseLinear(new Tensor('f32', new Float32Array(4), [2, 2])), report: 0, bytes: 0, kind: 'x' }) },
      'options.compress',
    );
    const e = await compressLinears({} as never, { calibration: windows, compress: c }).then(
      () => undefined,
      (x) => x,
    );
    expect((e as ArgumentError).argument).toBe('model');
  });
});
