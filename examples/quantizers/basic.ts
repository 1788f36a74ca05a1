// RTN and GPTQ on one real layer: true packed bytes, and GPTQ's lower output error on calibration inputs.
import { Tensor, matmul, norm, sub } from '@llmpress/tensor';
import { rtnQuantize, gptqQuantize } from '@llmpress/quantizers';
import { captureLinearStats, evalSplit } from '@llmpress/models';
import { loadStories260K } from '@llmpress/models/node';
import { check } from '../check.js';

const { model, tokenizer, text } = loadStories260K();
const split = evalSplit(tokenizer.encode(text));
const st = captureLinearStats(model, split.calibration, { gram: true, samples: 2048, blocks: [1], roles: ['gate'] }).get('blocks.1.gate')!;
const W = model.blocks[1]!.gate.toDense();
const n = W.shape[1]!;
const X = new Tensor('f32', st.samples!.slice(0, st.sampleRows! * n), [st.sampleRows!, n]) as Tensor<'f32'>;
const err = (layer: { forward(x: Tensor<'f32'>): Tensor<'f32'> }) => norm(sub(layer.forward(X), matmul(X, W.T))) / norm(matmul(X, W.T));
const rtn = rtnQuantize(W, { bits: 4, groupSize: 32 });
const gptq = gptqQuantize(W, new Tensor('f64', st.gram!, [n, n]), { bits: 4, groupSize: 32 });
console.log(
  `blocks.1.gate [${W.shape}] W4 g32: ${rtn.bytes()} bytes (f32: ${W.size * 4}), output error RTN ${err(rtn).toFixed(4)}, GPTQ ${err(gptq).toFixed(4)}`,
);
check(rtn.bytes() === gptq.bytes() && rtn.bytes() < (W.size * 4) / 6, 'packed 4-bit storage with f16 scales is over 6× smaller than f32');
check(err(gptq) < err(rtn), 'GPTQ has lower output error than RTN on the calibration inputs');
