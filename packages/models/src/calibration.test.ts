import { describe, it, expect } from 'vitest';
import { DenseLinear, Tensor, tolerance } from '@llmpress/tensor';
import { captureLinearStats, sequentialCalibration, streamLinearStats, type LinearStats } from './calibration.js';
import { randomModel } from './testing/random-model.js';
import type { LinearRole } from './model.js';

const windows = [
  [1, 3, 5, 7, 9, 11],
  [1, 2, 4, 8, 16, 32, 33],
];

/** Σ x xᵀ collected directly from the hooks, in f64. */
function directGram(m: ReturnType<typeof randomModel>, name: string): { gram: Float64Array; abs: Float64Array; count: number; rows: Float32Array[] } {
  const n = m.getLinear(name).inFeatures;
  const gram = new Float64Array(n * n),
    abs = new Float64Array(n);
  let count = 0;
  const rows: Float32Array[] = [];
  for (const w of windows)
    m.forward(w, {
      hooks: {
        onLinearInput: (nm, _r, _b, x) => {
          if (nm !== name) return;
          for (let t = 0; t < x.shape[0]!; t++) {
            const row = x.data.slice(t * n, (t + 1) * n);
            rows.push(row);
            for (let i = 0; i < n; i++) {
              abs[i]! += Math.abs(row[i]!);
              for (let j = 0; j < n; j++) gram[i * n + j]! += row[i]! * row[j]!;
            }
            count++;
          }
        },
      },
    });
  return { gram, abs: abs.map((v) => v / count), count, rows };
}

function relErr(a: Float64Array, b: Float64Array): number {
  let d = 0,
    s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}

describe('calibration capture', () => {
  it('captureLinearStats: gram, meanAbs, count and samples equal direct accumulation', () => {
    const m = randomModel({}, 3);
    const stats = captureLinearStats(m, windows, { samples: 4 });
    expect(stats.size).toBe(7 * m.config.nLayers);
    for (const name of ['blocks.0.q', 'blocks.1.down', 'blocks.1.o']) {
      const s = stats.get(name)!;
      const d = directGram(m, name);
      expect(s.count).toBe(13);
      expect(s.n).toBe(m.getLinear(name).inFeatures);
      expect(relErr(s.gram!, d.gram)).toBeLessThan(tolerance('f64', s.n, 1e8)); // inputs are f32; f64 accumulation
      expect(relErr(s.meanAbs!, d.abs)).toBeLessThan(1e-12);
      expect(s.sampleRows).toBe(4);
      expect(Array.from(s.samples!.subarray(0, s.n))).toEqual(Array.from(d.rows[0]!));
    }
  });
  it('roles/blocks filters, and the gram is symmetric PSD-ish (non-negative diagonal)', () => {
    const m = randomModel({}, 4);
    const stats = captureLinearStats(m, windows, { roles: ['gate'], blocks: [1], meanAbs: false });
    expect([...stats.keys()]).toEqual(['blocks.1.gate']);
    const s = stats.get('blocks.1.gate')!;
    expect(s.meanAbs).toBeUndefined();
    for (let i = 0; i < s.n; i++) {
      expect(s.gram![i * s.n + i]).toBeGreaterThan(0);
      for (let j = 0; j < s.n; j++) expect(s.gram![i * s.n + j]).toBeCloseTo(s.gram![j * s.n + i]!, 10);
    }
    expect(() => captureLinearStats(m, windows, { blocks: [5] })).toThrow(/options.blocks/);
    expect(() => captureLinearStats(m, [], {})).toThrow(/windows/);
  });
  it('streamLinearStats gives the same stats block by block', async () => {
    const m = randomModel({}, 5);
    const all = captureLinearStats(m, windows);
    const seen: number[] = [];
    await streamLinearStats(m, windows, (b, st) => {
      seen.push(b);
      for (const [k, s] of st) expect(relErr(s.gram!, all.get(k)!.gram!)).toBeLessThan(1e-6);
    });
    expect(seen).toEqual([0, 1]);
  });
  it('sequentialCalibration: with an unchanged working copy, gram = origGram = crossGram', async () => {
    const m = randomModel({}, 6);
    const ref = captureLinearStats(m, windows);
    await sequentialCalibration(m, m.clone(), windows, (b, st) => {
      expect(st.get('k')!.gram).toEqual(st.get('q')!.gram);
      expect(st.get('k')!.gram).not.toBe(st.get('q')!.gram); // copies, not shared arrays
      expect(st.get('up')!.crossGram).toEqual(st.get('gate')!.crossGram);
      expect(st.get('v')!.count).toBe(13);
      for (const [r, s] of st) {
        expect(relErr(s.gram, s.origGram)).toBe(0);
        expect(relErr(s.crossGram, s.origGram)).toBeLessThan(1e-12);
        expect(relErr(s.gram, ref.get(`blocks.${b}.${r}`)!.gram!)).toBeLessThan(1e-6);
      }
    });
  });
  it('sequentialCalibration: replacing block 0 changes X̂ (not X) of block 1; crossGram pairs X with X̂', async () => {
    const m = randomModel({}, 8);
    const w = m.clone();
    const got = new Map<number, Map<LinearRole, any>>();
    await sequentialCalibration(m, w, windows, (b, st) => {
      got.set(b, st);
      if (b === 0)
        for (const r of ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const) {
          const L = w.blocks[0]![r] as DenseLinear;
          const W = L.weight.data.map((x) => x * 0.5);
          w.setLinear(`blocks.0.${r}`, new DenseLinear(new Tensor('f32', W, [L.outFeatures, L.inFeatures])));
        }
    });
    const s1 = got.get(1)!.get('q')!;
    const orig = captureLinearStats(m, windows, { blocks: [1], roles: ['q'] }).get('blocks.1.q')!;
    const work = captureLinearStats(w, windows, { blocks: [1], roles: ['q'] }).get('blocks.1.q')!;
    expect(relErr(s1.origGram, orig.gram!)).toBeLessThan(1e-6);
    expect(relErr(s1.gram, work.gram!)).toBeLessThan(1e-6);
    expect(relErr(s1.gram, s1.origGram)).toBeGreaterThan(1e-3);
    // crossGram = Σ x x̂ᵀ computed directly
    const X: Float32Array[] = [],
      Xh: Float32Array[] = [];
    for (const win of windows) {
      m.forward(win, {
        hooks: {
          onLinearInput: (nm, _r, _b, x) => {
            if (nm === 'blocks.1.q') for (let t = 0; t < x.shape[0]!; t++) X.push(x.data.slice(t * 32, t * 32 + 32));
          },
        },
      });
      w.forward(win, {
        hooks: {
          onLinearInput: (nm, _r, _b, x) => {
            if (nm === 'blocks.1.q') for (let t = 0; t < x.shape[0]!; t++) Xh.push(x.data.slice(t * 32, t * 32 + 32));
          },
        },
      });
    }
    const cg = new Float64Array(32 * 32);
    X.forEach((x, t) => {
      for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) cg[i * 32 + j]! += x[i]! * Xh[t]![j]!;
    });
    expect(relErr(s1.crossGram, cg)).toBeLessThan(1e-6);
    await expect(sequentialCalibration(m, m, windows, () => {})).rejects.toThrow(/different model/);
  });
});
void ({} as LinearStats);
