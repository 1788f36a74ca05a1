import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { DenseLinear, Tensor } from '@llmpress/tensor';
import { contiguousWindows, evaluate, evalSplit, referenceLogits, standardWindows } from './eval.js';
import { randomModel } from './testing/random-model.js';

describe('standard protocol windows', () => {
  it('window b = [BOS] + t[len·b : len·b+len−1] → t[len·b : len·b+len] for any ids (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 3, max: 50 }), { minLength: 2, maxLength: 200 }), fc.integer({ min: 1, max: 16 }), (text, len) => {
        const ids = [1, ...text];
        const ws = standardWindows(ids, { len });
        expect(ws.length).toBe(Math.floor(text.length / len));
        ws.forEach((w, b) => {
          expect(w.input).toEqual([1, ...text.slice(len * b, len * b + len - 1)]);
          expect(w.targets).toEqual(text.slice(len * b, len * b + len));
          expect(w.input.slice(1)).toEqual(w.targets.slice(0, -1)); // teacher forcing: input i+1 = target i
        });
      }),
      { numRuns: 60 },
    );
  });
  it('contiguous (reference.json) windows: input ids[len·b : +len], targets shifted by one', () => {
    const ids = Array.from({ length: 23 }, (_, i) => i);
    const ws = contiguousWindows(ids, { len: 5 });
    expect(ws.length).toBe(4);
    expect(ws[1]!.input).toEqual([5, 6, 7, 8, 9]);
    expect(ws[1]!.targets).toEqual([6, 7, 8, 9, 10]);
  });
  it('evalSplit refuses overlapping calibration and evaluation text', () => {
    const ids = [1, ...Array.from({ length: 256 * 240 }, (_, i) => 3 + (i % 7))];
    const s = evalSplit(ids);
    expect(s.eval.length).toBe(64);
    expect(s.calibration[0]!.span).toEqual([256 * 200, 256 * 201]);
    expect(() => evalSplit(ids, { evalCount: 201 })).toThrow(/must not overlap/);
  });
});

describe('evaluate', () => {
  const m = randomModel({ vocabSize: 30 }, 21);
  const ids = [1, ...Array.from({ length: 60 }, (_, i) => (i * 7 + 3) % 30)];
  const ws = standardWindows(ids, { len: 12 });
  it('NLL equals a direct log-softmax computation; ppl = exp(nll); progress is reported', () => {
    let calls = 0;
    const r = evaluate(m, ws, {
      onProgress: () => {
        calls++;
      },
    });
    let s = 0,
      n = 0;
    for (const w of ws) {
      const L = m.forward(w.input);
      w.targets.forEach((t, i) => {
        const row = Array.from(L.data.subarray(i * 30, i * 30 + 30));
        const mx = Math.max(...row);
        s += mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[t]!;
        n++;
      });
    }
    expect(r.tokens).toBe(n);
    expect(Math.abs(r.nll - s / n)).toBeLessThan(1e-9);
    expect(r.ppl).toBeCloseTo(Math.exp(r.nll), 12);
    expect(calls).toBe(ws.length);
    expect(r.kl).toBeUndefined();
  });
  it('against itself KL = 0 and top-1 = 1; against a perturbed copy KL > 0; precomputed logits give the same', () => {
    const self = evaluate(m, ws, { reference: m });
    expect(self.kl).toBeLessThan(1e-12);
    expect(self.top1).toBe(1);
    const p = m.clone();
    const L = p.getLinear('blocks.0.up') as DenseLinear;
    p.setLinear(
      'blocks.0.up',
      new DenseLinear(
        new Tensor(
          'f32',
          L.weight.data.map((x, i) => x * (1 + 0.8 * Math.sin(i))),
          L.weight.shape,
        ),
      ),
    );
    const r = evaluate(p, ws, { reference: m });
    expect(r.kl).toBeGreaterThan(1e-6);
    expect(r.top1).toBeLessThanOrEqual(1);
    const pre = evaluate(p, ws, { reference: referenceLogits(m, ws) });
    expect(pre.kl).toBe(r.kl);
    expect(pre.top1).toBe(r.top1);
    expect(() => evaluate(p, ws, { reference: referenceLogits(m, ws).slice(1) })).toThrow(/one per window/);
  });
});

describe('relativeLayerErrors', () => {
  it('0 for an unchanged layer, 1 for a zeroed one, and equals ‖(W−Ŵ)X‖²/‖WX‖² computed from the inputs', async () => {
    const { relativeLayerErrors } = await import('./eval.js');
    const { captureLinearStats } = await import('./calibration.js');
    const m = randomModel({}, 31);
    const windows = [
      [1, 2, 3, 4, 5, 6],
      [1, 7, 8, 9],
    ];
    const stats = captureLinearStats(m, windows, { blocks: [0] });
    const c = m.clone();
    const up = c.getLinear('blocks.0.up') as DenseLinear;
    const scaled = new DenseLinear(
      new Tensor(
        'f32',
        up.weight.data.map((x, i) => x * (i % 3 === 0 ? 0.5 : 1)),
        up.weight.shape,
      ),
    );
    c.setLinear('blocks.0.up', scaled);
    c.setLinear(
      'blocks.0.q',
      new DenseLinear(
        new Tensor('f32', new Float32Array(c.getLinear('blocks.0.q').inFeatures * c.getLinear('blocks.0.q').outFeatures), [
          c.getLinear('blocks.0.q').outFeatures,
          c.getLinear('blocks.0.q').inFeatures,
        ]),
      ),
    );
    const err = relativeLayerErrors(m, c, stats);
    expect(err.get('blocks.0.k')).toBe(0);
    expect(err.get('blocks.0.q')).toBeCloseTo(1, 12);
    expect(err.has('blocks.1.k')).toBe(false);
    // direct: inputs of blocks.0.up through the original model
    let num = 0,
      den = 0;
    for (const w of windows)
      m.forward(w, {
        hooks: {
          onLinearInput: (name, _r, _b, x) => {
            if (name !== 'blocks.0.up') return;
            const y = up.forward(x).data,
              yh = scaled.forward(x).data;
            for (let i = 0; i < y.length; i++) {
              num += (y[i]! - yh[i]!) ** 2;
              den += y[i]! ** 2;
            }
          },
        },
      });
    expect(Math.abs(err.get('blocks.0.up')! - num / den)).toBeLessThan(1e-5);
    expect(err.get('blocks.0.up')).toBeGreaterThan(0.01);
  });
});
