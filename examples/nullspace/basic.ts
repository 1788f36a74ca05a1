// The null space of a layer's calibration inputs, and Q2N on an RTN-quantized layer (same bytes, lower output error).
import { Tensor, matmul, norm, sub } from '@llmpress/tensor';
import { rtnQuantize } from '@llmpress/quantizers';
import { activationNullSpace, q2nLayer } from '@llmpress/nullspace';
import { captureLinearStats, evalSplit } from '@llmpress/models';
import { loadStories260K } from '@llmpress/models/node';
import { check } from '../check.js';

const { model, tokenizer, text } = loadStories260K();
const split = evalSplit(tokenizer.encode(text));
const st = captureLinearStats(model, split.calibration, { gram: true, samples: 2048, blocks: [3], roles: ['q'] }).get('blocks.3.q')!;
const n = st.n;
const G = new Tensor('f64', st.gram!, [n, n]);
const ns = activationNullSpace(G, { t: 0.1 });
console.log(`blocks.3.q input: null-space dimension ${ns.diagnostics.dimension} of ${n}`);
const W = model.blocks[3]!.q.toDense();
const X = new Tensor('f32', st.samples!.slice(0, st.sampleRows! * n), [st.sampleRows!, n]) as Tensor<'f32'>;
const err = (l: { forward(x: Tensor<'f32'>): Tensor<'f32'> }) => norm(sub(l.forward(X), matmul(X, W.T))) / norm(matmul(X, W.T));
const base = rtnQuantize(W, { bits: 3, groupSize: 32 });
const { layer } = q2nLayer(W, base, G, { lambda: 0.2 });
console.log(`W3 g32 RTN: output error ${err(base).toFixed(4)} → with Q2N ${err(layer).toFixed(4)}; bytes ${base.bytes()} → ${layer.bytes()}`);
check(layer.bytes() === base.bytes(), 'Q2N folds into the scales: stored bytes unchanged');
check(err(layer) <= err(base) * 1.05, 'Q2N does not make the output error worse on calibration inputs');
