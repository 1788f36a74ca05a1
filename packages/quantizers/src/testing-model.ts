/** A seeded random Llama model for this package's tests (weights N(0, 1/in), norms 1 ± 0.1, a few outlier channels). */
import { DenseLinear, Rng, Tensor } from '@llmpress/tensor';
import { LlamaModel, denseBlock, type LlamaConfig } from '@llmpress/models';

export function tinyModel(config: Partial<LlamaConfig> = {}, seed = 1): LlamaModel {
  const c: LlamaConfig = {
    dim: 16,
    hiddenDim: 24,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 4,
    vocabSize: 32,
    seqLen: 64,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'interleaved',
    tiedEmbeddings: true,
    ...config,
  };
  const rng = new Rng(seed);
  const mat = (out: number, inF: number) => {
    const d = new Float32Array(out * inF),
      s = 1 / Math.sqrt(inF);
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * s;
    return new Tensor('f32', d, [out, inF]);
  };
  // a couple of massive-activation channels in the norms, like real LLMs
  const norm = () => {
    const d = new Float32Array(c.dim);
    for (let i = 0; i < c.dim; i++) d[i] = (1 + 0.1 * rng.normal()) * (i % 7 === 3 ? 6 : 1);
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
  return new LlamaModel(c, {
    embedding: mat(c.vocabSize, c.dim),
    blocks,
    finalNorm: norm(),
    lmHead: c.tiedEmbeddings ? undefined : new DenseLinear(mat(c.vocabSize, c.dim)),
  });
}

export function tokens(n: number, vocab: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.int(vocab));
}
