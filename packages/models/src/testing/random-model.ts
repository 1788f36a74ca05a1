import { Rng, Tensor } from '@llmpress/tensor';
import type { LlamaConfig } from '../config.js';
import { LlamaModel, denseBlock } from '../model.js';
import { DenseLinear } from '@llmpress/tensor';

/** A seeded random Llama model (for tests and benchmarks): weights N(0, std²/in), norms ~ 1 ± 0.1. */
export function randomModel(config: Partial<LlamaConfig> = {}, seed = 1): LlamaModel {
  const c: LlamaConfig = {
    dim: 32,
    hiddenDim: 48,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 8,
    vocabSize: 40,
    seqLen: 128,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'interleaved',
    tiedEmbeddings: true,
    ...config,
  };
  const rng = new Rng(seed);
  const mat = (out: number, inF: number) => {
    const d = new Float32Array(out * inF);
    const s = 1 / Math.sqrt(inF);
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * s;
    return new Tensor('f32', d, [out, inF]);
  };
  const norm = () => {
    const d = new Float32Array(c.dim);
    for (let i = 0; i < c.dim; i++) d[i] = 1 + 0.1 * rng.normal();
    return d;
  };
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
  const emb = mat(c.vocabSize, c.dim);
  return new LlamaModel(c, { embedding: emb, blocks, finalNorm: norm(), lmHead: c.tiedEmbeddings ? undefined : new DenseLinear(mat(c.vocabSize, c.dim)) });
}
