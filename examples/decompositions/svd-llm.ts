// SVD-LLM on one layer of the real model: whitened truncation beats plain SVD on the layer's own inputs.
import { matmul, norm, sub, Tensor } from '@llmpress/tensor';
import { svdLlm, svdLowRank } from '@llmpress/low-rank';
import { captureLinearStats, evalSplit } from '@llmpress/models';
import { loadStories260K } from '@llmpress/models/node';
import { check } from '../check.js';

const { model, tokenizer, text } = loadStories260K();
const split = evalSplit(tokenizer.encode(text));
const stats = captureLinearStats(model, split.calibration, { gram: true, samples: 2048, blocks: [2], roles: ['up'] });
const st = stats.get('blocks.2.up')!;
const W = model.blocks[2]!.up.toDense();
const n = W.shape[1]!;
const G = new Tensor('f64', st.gram!, [n, n]);
const X = new Tensor('f32', st.samples!.slice(0, st.sampleRows! * n), [st.sampleRows!, n]); // calibration inputs, one row per token
const outErr = (layer: { forward(x: Tensor<'f32'>): Tensor<'f32'> }) => norm(sub(layer.forward(X as Tensor<'f32'>), matmul(X, W.T))) / norm(matmul(X, W.T));
const llm = svdLlm(W, G, { ratio: 0.4 }),
  plain = svdLowRank(W, { ratio: 0.4 });
const e1 = outErr(llm),
  e0 = outErr(plain);
console.log(`blocks.2.up at 40% removal: output error SVD ${e0.toFixed(4)} vs SVD-LLM ${e1.toFixed(4)}`);
check(e1 < e0, 'SVD-LLM has lower output error than plain SVD on calibration inputs');
