/**
 * End to end: the full stories260K forward pass over a 32-token window with every matmul,
 * elementwise op and RMSNorm reduction on WebGPU, against the reference backend and the greedy
 * token ids in shared/data/stories260K/reference.json.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceBackend, tolerance } from '@llmpress/tensor';
import { dataDir, hasData } from '@llmpress/tensor/testing';
import { createNodeWebGpuBackend, nodeWebGpuUnavailableReason } from '@llmpress/backend-webgpu/node';
import { argmaxRows, asyncOps, forward, parseLlama2c, pinWeights } from '../examples/forward-stories260k.js';

const reason = !hasData() ? `no model data under ${dataDir()} (set LLMPRESS_DATA)` : await nodeWebGpuUnavailableReason();

describe('end to end: stories260K forward pass on WebGPU', () => {
  if (reason) {
    it.skip(`skipped: ${reason}`, () => {});
    return;
  }
  it('matches the reference backend and reproduces the greedy continuation', async () => {
    const model = parseLlama2c(new Uint8Array(readFileSync(join(dataDir(), 'stories260K', 'stories260K.bin'))));
    expect([model.dim, model.hidden, model.layers, model.vocab]).toEqual([64, 172, 5, 512]);
    const ids: number[] = JSON.parse(readFileSync(join(dataDir(), 'stories260K', 'reference.json'), 'utf8')).greedy_from_bos.ids_including_leading_bos;
    const T = 32,
      window = ids.slice(0, T);
    const gpu = (await createNodeWebGpuBackend())!;
    try {
      const lg = await forward(model, window, asyncOps(gpu));
      const lr = await forward(model, window, asyncOps(referenceBackend));
      let diff = 0,
        scale = 0;
      for (let i = 0; i < lr.length; i++) {
        diff = Math.max(diff, Math.abs(lg[i]! - lr[i]!));
        scale = Math.max(scale, Math.abs(lr[i]!));
      }
      expect(diff).toBeLessThanOrEqual(tolerance('f32', model.hidden) * scale);
      expect(argmaxRows(lg, T, model.vocab)).toEqual(ids.slice(1, T + 1));
      const s = gpu.stats();
      expect(s.dispatches).toBeGreaterThan(5 * 10 * 1); // every layer's GEMMs ran on the device
      expect(s.fallbacks).toEqual({});
      // with the weights pinned on the device: same logits bit for bit, far fewer bytes uploaded
      const up0 = gpu.stats().uploadedBytes,
        pinned = pinWeights(model, gpu);
      const lp = await forward(model, window, asyncOps(gpu));
      expect(Array.from(lp)).toEqual(Array.from(lg));
      const upPinned = gpu.stats().uploadedBytes - up0 - pinned;
      expect(upPinned).toBe(up0 - pinned); // exactly the weight bytes are no longer uploaded per pass
    } finally {
      await gpu.dispose();
    }
  });
});
