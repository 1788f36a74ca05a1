/**
 * `pnpm eval:quad [--text <file>] [--model <file>] [--tokenizer <file>] [--r 8] [--windows 64] [--calib 32] [--seed 0] [--only a,b] [--backend auto|wasm|webgpu|reference]`
 *
 * The QUAD table on stories260K under the standard protocol (methods.md): evaluation windows 0..63,
 * calibration windows 200..231 (disjoint, checked by evalSplit). Rows: dense; RTN W4A16; GPTQ W4A16;
 * RTN W4A4; QuaRot-style (Hadamard + GPTQ) W4A4; QUAD W4A4; QUAD W4A4/A8; QUAD + outlier refit.
 * Weights: 4-bit symmetric per output channel, f16 scales (GPTQ rows: clip search). Activations:
 * per-token symmetric, clip 0.9. Head and embedding stay f32 in every row.
 * Writes results/quad.json and prints a markdown table.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate, evalSplit, referenceLogits, type LlamaModel } from '@llmpress/models';
import { dataDir, loadModel, loadTokenizer, loadStories260K, writeFileAtomic } from '@llmpress/models/node';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { rtnModel, gptqModel, quadRotate, quantizeRotated, onlineRotationBytes, type ActivationPlan } from '@llmpress/quantizers';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const opt = (k: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : undefined; };

const S = loadStories260K(dataDir());
const modelPath = opt('model');
const textPath = opt('text') ?? join(dataDir(), 'tinystories', 'tinystories_val.txt');
const model = modelPath ? loadModel(modelPath) : S.model;
const tokenizer = opt('tokenizer') ? loadTokenizer(opt('tokenizer')!, { vocabSize: model.config.vocabSize }) : S.tokenizer;
const text = readFileSync(textPath, 'utf8');
const r = Number(opt('r') ?? 8), seed = Number(opt('seed') ?? 0);
const evalCount = Number(opt('windows') ?? 64), calibCount = Number(opt('calib') ?? 32);
const only = opt('only')?.split(',');

const ids = tokenizer.encode(text);
const split = evalSplit(ids, { evalCount, calibCount, bos: model.config.bosId ?? 1 });
const log = (s: string) => process.stderr.write(s + '\n');
log(`model dim ${model.config.dim}, ${model.config.nLayers} blocks; eval windows ${split.eval.length}, calibration windows ${split.calibration.length} (200..${199 + calibCount}); r = ${r}`);
const t0 = performance.now();
const sel = await backendFromArgs();
const backend = sel.backend;
const reference = referenceLogits(model, split.eval, { backend });
log(`reference logits: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const denseLinearWeights = model.linears().reduce((a, e) => a + e.layer.inFeatures * e.layer.outFeatures, 0);
const W4 = { bits: 4 as const, symmetric: true, scaleDtype: 'f16' as const };
const A4: ActivationPlan = { readers: 4, o: 4, down: 4, clip: 0.9 };
const A4A8: ActivationPlan = { readers: 4, o: 8, down: 8, clip: 0.9 };

interface Row { key: string; method: string; setting: string; build: () => Promise<LlamaModel> }
const rows: Row[] = [
  { key: 'dense', method: 'dense', setting: 'f32', build: async () => model },
  { key: 'rtn-w4a16', method: 'RTN', setting: 'W4A16', build: async () => rtnModel(model, W4) },
  { key: 'gptq-w4a16', method: 'GPTQ', setting: 'W4A16', build: () => gptqModel(model, split.calibration, { ...W4, clipSearch: true }) },
  { key: 'rtn-w4a4', method: 'RTN', setting: 'W4A4', build: async () => rtnModel(model, W4, A4) },
  { key: 'quarot-w4a4', method: 'QuaRot-style (Hadamard + GPTQ)', setting: 'W4A4', build: () => quantizeRotated(quadRotate(model, split.calibration, { r: 0, seed }), split.calibration, { ...W4, clipSearch: true, activations: A4 }) },
  { key: 'quad-w4a4', method: `QUAD (r=${r})`, setting: 'W4A4', build: () => quantizeRotated(quadRotate(model, split.calibration, { r, seed }), split.calibration, { ...W4, clipSearch: true, activations: A4 }) },
  { key: 'quad-w4a4a8', method: `QUAD (r=${r})`, setting: 'W4A4/A8', build: () => quantizeRotated(quadRotate(model, split.calibration, { r, seed }), split.calibration, { ...W4, clipSearch: true, activations: A4A8 }) },
  { key: 'quad-refit-w4a4', method: `QUAD (r=${r}) + outlier refit`, setting: 'W4A4', build: () => quantizeRotated(quadRotate(model, split.calibration, { r, seed }), split.calibration, { ...W4, clipSearch: true, activations: A4, refit: true }) },
  { key: 'quad-refit-w4a4a8', method: `QUAD (r=${r}) + outlier refit`, setting: 'W4A4/A8', build: () => quantizeRotated(quadRotate(model, split.calibration, { r, seed }), split.calibration, { ...W4, clipSearch: true, activations: A4A8, refit: true }) },
];

const results: Record<string, unknown>[] = [];
for (const row of rows) {
  if (only && !only.includes(row.key)) continue;
  const tb = performance.now();
  const m = await row.build();
  const buildS = (performance.now() - tb) / 1000;
  const te = performance.now();
  const ev = evaluate(m, split.eval, { reference, backend });
  const evalS = (performance.now() - te) / 1000;
  const rot = onlineRotationBytes(m);
  const linearBytes = m.linearBytes() + rot;
  const res = {
    key: row.key, method: row.method, setting: row.setting, ppl: ev.ppl, nll: ev.nll, kl: ev.kl!, top1: ev.top1!,
    linearBytes, onlineRotationBytes: rot, totalBytes: m.storedBytes() + rot,
    bitsPerWeight: (8 * linearBytes) / denseLinearWeights, residualWidth: m.config.dim, buildSeconds: buildS, evalSeconds: evalS,
  };
  results.push(res);
  log(`${row.key}: ppl ${ev.ppl.toFixed(4)} kl ${ev.kl!.toFixed(4)} top1 ${(100 * ev.top1!).toFixed(2)}% bytes ${linearBytes} (${buildS.toFixed(1)} s build, ${evalS.toFixed(1)} s eval)`);
}

mkdirSync(join(root, 'results'), { recursive: true });
writeFileAtomic(join(root, 'results', 'quad.json'), new TextEncoder().encode(JSON.stringify({
  model: modelPath ?? 'stories260K/stories260K.bin',
  text: textPath.startsWith(dataDir()) ? textPath.slice(dataDir().length + 1) : textPath,
  protocol: `standard: eval windows 0..${evalCount - 1} × 256, calibration windows 200..${199 + calibCount}`,
  r, seed, weights: '4-bit symmetric per output channel, f16 scales; GPTQ rows: percdamp 0.01, block 128, clip search',
  activations: 'per-token symmetric, clip 0.9; lm_head and embedding f32 in every row',
  denseLinearWeights, rows: results, date: new Date().toISOString(),
}, null, 2) + '\n'));

console.log(`| method | setting | PPL | KL vs dense (nats/token) | top-1 vs dense | linear bytes (+online rotations) | bits/weight | total stored bytes |`);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const x of results as any[]) {
  console.log(`| ${x.method} | ${x.setting} | ${x.ppl.toFixed(4)} | ${x.kl.toFixed(4)} | ${(100 * x.top1).toFixed(2)}% | ${x.linearBytes} | ${x.bitsPerWeight.toFixed(2)} | ${x.totalBytes} |`);
}
console.log(`\nwrote results/quad.json (${denseLinearWeights} dense block-linear weights; bits/weight counts scales, f32 outlier columns and online rotations)`);
console.log(sel.describe());
await sel.dispose();
