import { describe, it, expect } from 'vitest';
import { hasData, dataDir } from '@llmpress/tensor/testing';
import { loadStories260K } from '@llmpress/models/node';
import { quadRotate, quantizeRotated } from './index.js';

describe.skipIf(!hasData())('QUAD on the real stories260K (skipped without ../shared/data)', () => {
  it('the d + r residual model (r = 8) reproduces the dense logits, and W4A4 stays close', async () => {
    const { model, tokenizer, text } = loadStories260K(dataDir());
    const ids = tokenizer.encode(text.slice(0, 4000));
    const calib = [ids.slice(0, 64), ids.slice(64, 128)];
    const probe = ids.slice(200, 248);
    const ref = model.forward(probe).data;
    const rot = quadRotate(model, calib, { r: 8 });
    expect(rot.model.config.dim).toBe(72);
    const y = rot.model.forward(probe).data;
    let err = 0,
      scale = 0;
    for (let i = 0; i < y.length; i++) {
      err = Math.max(err, Math.abs(y[i]! - ref[i]!));
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
    expect(err / scale).toBeLessThan(1e-4);
    const q = (await quantizeRotated(rot, calib, { bits: 4, activations: { readers: 4, o: 8, down: 8 } })).model;
    const yq = q.forward(probe).data;
    // argmax agreement with dense on most positions (a broken pipeline gives ~chance = 1/512)
    const V = model.config.vocabSize;
    let agree = 0;
    for (let t = 0; t < probe.length; t++) {
      let a = 0,
        b = 0;
      for (let j = 1; j < V; j++) {
        if (yq[t * V + j]! > yq[t * V + a]!) a = j;
        if (ref[t * V + j]! > ref[t * V + b]!) b = j;
      }
      if (a === b) agree++;
    }
    expect(agree / probe.length).toBeGreaterThan(0.6);
  });
});
