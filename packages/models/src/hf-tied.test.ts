import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataPath } from '@llmpress/tensor/testing';
import { SafetensorsFile, bytesSource } from './safetensors.js';
import { parseHfModel } from './hf.js';
import { FormatError } from './errors.js';

// TinyStories-656K (shipped in data/) ties its embeddings and stores the shared matrix once, as lm_head.weight.
describe('loadHfModel: tied checkpoints that store only lm_head.weight', () => {
  const dir = dataPath('tinystories-656k');
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
  const configJson = readFileSync(join(dir, 'config.json'), 'utf8');

  it('loads with the embedding read from lm_head.weight, and runs', () => {
    const f = SafetensorsFile.openSync(bytesSource(bytes, 'model.safetensors'));
    expect(f.has('model.embed_tokens.weight')).toBe(false);
    const head = f.tensorSync('lm_head.weight').astype('f32').contiguous().data as Float32Array;
    const m = parseHfModel(configJson, bytes);
    expect(m.config.tiedEmbeddings).toBe(true);
    expect(Array.from(m.embedding.contiguous().data as Float32Array)).toEqual(Array.from(head));
    const logits = m.forward([1, 5, 9]).contiguous();
    expect((logits.data as Float32Array).every((x) => Number.isFinite(x))).toBe(true);
  });

  it('an untied config without model.embed_tokens.weight is still a FormatError naming the tensor', () => {
    const cfg = JSON.stringify({ ...JSON.parse(configJson), tie_word_embeddings: false });
    expect(() => parseHfModel(cfg, bytes)).toThrow(FormatError);
    expect(() => parseHfModel(cfg, bytes)).toThrow(/model\.embed_tokens\.weight/);
  });
});
