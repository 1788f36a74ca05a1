/**
 * Reported bytes are what the file holds, for every method (issue 21): the CLI's footprint of a
 * compressed model (every tensor each layer serializes, plus embedding, norms and an untied head)
 * equals the saved safetensors file minus its header, and its linears' bytes equal the file's tensors
 * under the linear layers' names. QUAD's saved layers carry the activation bits they run with.
 */
import { describe, it, expect } from 'vitest';
import { Rng } from '@llmpress/tensor';
import { randomModel, saveModelBytes, loadCompressedModel, SafetensorsFile, bytesSource, standardWindows } from '@llmpress/models';
import { compressWith, METHODS, ALL_KINDS } from './methods.js';
import { modelFootprint, linearParams } from './footprint.js';

// a small seeded model: every width (64, 96) is a multiple of 32, so every method runs as on a real model
const model = randomModel({ dim: 64, hiddenDim: 96, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 64, seqLen: 128, nLayers: 2 }, 5);
const rng = new Rng(3);
const ids = [1, ...Array.from({ length: 4 * 64 + 1 }, () => 2 + rng.int(60))];
const calibration = standardWindows(ids, { start: 0, count: 4, len: 64 });
const ttSearch = { orders: [2], perSide: 1, steps: 4 };

describe('reported bytes = saved bytes, every method', () => {
  for (const method of METHODS) {
    it(`${method}`, async () => {
      const res = await compressWith(method, model, { calibration, ratio: 0.3, budget: 0.5, bits: 4, ttSearch });
      const foot = modelFootprint(res.model, linearParams(model));
      const file = saveModelBytes(res.model);
      const f = SafetensorsFile.openSync(bytesSource(file, method), { file: method });
      const dataBytes = file.byteLength - f.header.dataStart;
      expect(foot.totalBytes).toBe(dataBytes);
      const isLinear = (n: string) => /^blocks\.\d+\.(q|k|v|o|gate|up|down)\./.test(n);
      const fileLinear = f.header.tensors.filter((t) => isLinear(t.name)).reduce((a, t) => a + t.end - t.begin, 0);
      expect(foot.linearBytes).toBe(fileLinear);
      expect(foot.bitsPerWeight).toBeCloseTo((8 * fileLinear) / linearParams(model), 10);
      if (method === 'quad' || method === 'quad-a8') {
        const want = method === 'quad' ? 4 : 8;
        const layers = JSON.parse(f.metadata['llmpress.layers']!) as Record<string, { kind: string; meta: Record<string, unknown> }>;
        const blockLayers = Object.entries(layers).filter(([n]) => n.startsWith('blocks.'));
        expect(blockLayers.length).toBe(14);
        for (const [, rec] of blockLayers) {
          expect(rec.kind).toBe('quant-act');
          expect(rec.meta.actBits).toBe(want);
        }
        const back = loadCompressedModel(file, { kinds: ALL_KINDS });
        expect(modelFootprint(back, linearParams(model)).linearBytes).toBe(foot.linearBytes);
        expect(res.setting).toMatch(new RegExp(`^W4A${want}`));
      }
    }, 120_000);
  }
});
