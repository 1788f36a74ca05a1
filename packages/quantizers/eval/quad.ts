/**
 * `pnpm eval:quad [--eval-text FILE] [--calib-text FILE] [--model FILE] [--tokenizer FILE] [--r 8] [--seed 0]
 *   [--eval-start 0 --eval-windows 64] [--only a,b] [--backend auto|wasm|reference]`
 *
 * The QUAD table on stories260K under the standard protocol (methods.md): evaluation windows 0..63
 * of the evaluation text, calibration windows 200..231 of the calibration text (disjoint, checked
 * when both are the same file). Every row runs through the one driver (`compressLinears`) with the
 * true-sequential per-group schedule unless the row says 'per-block'. Rows: dense; RTN W4A16;
 * GPTQ W4A16; RTN W4A4; QuaRot-style (Hadamard + GPTQ) W4A4; QUAD W4A4; QUAD W4A4/A8; QUAD + outlier
 * refit (both); QUAD W4A4 per-block (schedule ablation). Weights: 4-bit symmetric per output channel
 * (full grid), f16 scales (GPTQ rows: clip search). Activations: per-token symmetric, clip 0.9. Head
 * and embedding stay f32 in every row. Bytes: every stored tensor of the block linears (codes,
 * scales, f32 outlier columns) plus each online rotation once (sign vectors, Kronecker factors).
 * Prints a markdown table and writes llmpress-eval/quad.json (scratch, git-ignored); `--results` writes the
 * tracked results/quad.json, `--out FILE` any file.
 */
import { evaluate, referenceLogits, type CompressResult, type CalibrationSchedule } from '@llmpress/models';
import { writeFileAtomic } from '@llmpress/models/node';
import { rtnModel, gptqModel, quadModel, QUAD_A4, QUAD_A4A8, type ActivationPlan } from '@llmpress/quantizers';
import { backendFromArgs, flag } from '../../../scripts/backend-arg.ts';
import { evalDataFromArgs, evalOutPath, repoRelative } from '../../../scripts/eval-data.ts';

const sel = await backendFromArgs({ fallback: 'wasm', threads: 1 });
const backend = sel.backend;
const data = evalDataFromArgs();
const { model, calibration } = data;
const r = Number(flag('r') ?? 8),
  seed = Number(flag('seed') ?? 0);
const only = flag('only')?.split(',');

const log = (s: string) => process.stderr.write(s + '\n');
log(
  `${data.modelName}: dim ${model.config.dim}, ${model.config.nLayers} blocks; eval windows ${data.protocol.evalWindows.join('..')} of ${data.protocol.evalText}, calibration ${data.protocol.calibrationWindows.join('..')} of ${data.protocol.calibText}; r = ${r}; ${sel.describe?.() ?? backend?.name}`,
);
const t0 = performance.now();
const reference = referenceLogits(model, data.eval, { backend });
log(`reference logits: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const denseLinearWeights = model.linears().reduce((a, e) => a + e.layer.inFeatures * e.layer.outFeatures, 0);
const W4 = { bits: 4 as const, symmetric: true, scaleDtype: 'f16' as const };
const A4: ActivationPlan = QUAD_A4;
const quad = (rr: number, activations: ActivationPlan, refit = false, schedule: CalibrationSchedule = 'sequential') =>
  quadModel(model, { ...W4, clipSearch: true, calibration, r: rr, seed, activations, refit, schedule, backend });

interface Row {
  key: string;
  method: string;
  setting: string;
  build: () => Promise<CompressResult<unknown> | null>;
}
const rows: Row[] = [
  { key: 'dense', method: 'dense', setting: 'f32', build: async () => null },
  { key: 'rtn-w4a16', method: 'RTN', setting: 'W4A16', build: () => rtnModel(model, { ...W4, backend }) },
  { key: 'gptq-w4a16', method: 'GPTQ', setting: 'W4A16', build: () => gptqModel(model, { ...W4, clipSearch: true, calibration, backend }) },
  { key: 'rtn-w4a4', method: 'RTN', setting: 'W4A4', build: () => rtnModel(model, { ...W4, activations: A4, backend }) },
  { key: 'quarot-w4a4', method: 'QuaRot-style (Hadamard + GPTQ)', setting: 'W4A4', build: () => quad(0, A4) },
  { key: 'quad-w4a4', method: `QUAD (r=${r})`, setting: 'W4A4', build: () => quad(r, A4) },
  { key: 'quad-w4a4a8', method: `QUAD (r=${r})`, setting: 'W4A4/A8', build: () => quad(r, QUAD_A4A8) },
  { key: 'quad-refit-w4a4', method: `QUAD (r=${r}) + outlier refit`, setting: 'W4A4', build: () => quad(r, A4, true) },
  { key: 'quad-refit-w4a4a8', method: `QUAD (r=${r}) + outlier refit`, setting: 'W4A4/A8', build: () => quad(r, QUAD_A4A8, true) },
  { key: 'quad-w4a4-per-block', method: `QUAD (r=${r}), per-block schedule (ablation)`, setting: 'W4A4', build: () => quad(r, A4, false, 'per-block') },
];

const results: Record<string, unknown>[] = [];
for (const row of rows) {
  if (only && !only.includes(row.key)) continue;
  const tb = performance.now();
  const res = await row.build();
  const m = res ? res.model : model;
  const buildS = (performance.now() - tb) / 1000;
  const te = performance.now();
  const ev = evaluate(m, data.eval, { reference, backend });
  const evalS = (performance.now() - te) / 1000;
  // res.bytes: every tensor the block linears store, each o/down layer's copy of its online rotation included;
  // linearBytes + onlineRotationBytes = res.bytes (the rotations reported apart, for the bytes-per-component plot)
  const rot = res ? res.layers.reduce((a, l) => a + ((l.report as { rotationBytes?: number }).rotationBytes ?? 0), 0) : 0;
  const storedLinear = res ? res.bytes : m.linearBytes();
  const linearBytes = storedLinear - rot;
  const out = {
    key: row.key,
    method: row.method,
    setting: row.setting,
    ppl: ev.ppl,
    nll: ev.nll,
    kl: ev.kl!,
    top1: ev.top1!,
    linearBytes,
    onlineRotationBytes: rot,
    totalBytes: m.storedBytes(),
    bitsPerWeight: (8 * storedLinear) / denseLinearWeights,
    residualWidth: m.config.dim,
    buildSeconds: buildS,
    evalSeconds: evalS,
  };
  results.push(out);
  log(
    `${row.key}: ppl ${ev.ppl.toFixed(4)} kl ${ev.kl!.toFixed(4)} top1 ${(100 * ev.top1!).toFixed(2)}% bytes ${linearBytes} (${buildS.toFixed(1)} s build, ${evalS.toFixed(1)} s eval)`,
  );
}

const outPath = evalOutPath('quad.json');
writeFileAtomic(
  outPath,
  new TextEncoder().encode(
    JSON.stringify(
      {
        model: data.modelName,
        protocol: data.protocol,
        r,
        seed,
        schedule: 'sequential (true-sequential per group) unless the row says per-block',
        weights: '4-bit symmetric full grid per output channel, f16 scales; GPTQ rows: percdamp 0.01, block 128, clip search',
        activations: 'per-token symmetric, clip 0.9; lm_head and embedding f32 in every row',
        denseLinearWeights,
        backend: sel.describe?.() ?? backend?.name,
        rows: results,
        date: new Date().toISOString(),
      },
      null,
      2,
    ) + '\n',
  ),
);

console.log(`| method | setting | PPL | KL vs dense (nats/token) | top-1 vs dense | linear bytes (+online rotations) | bits/weight | total stored bytes |`);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const x of results as any[]) {
  console.log(
    `| ${x.method} | ${x.setting} | ${x.ppl.toFixed(4)} | ${x.kl.toFixed(4)} | ${(100 * x.top1).toFixed(2)}% | ${x.linearBytes} | ${x.bitsPerWeight.toFixed(2)} | ${x.totalBytes} |`,
  );
}
console.log(
  `\nwrote ${repoRelative(outPath)} (${denseLinearWeights} dense block-linear weights; bits/weight counts scales, f32 outlier columns and online rotations)`,
);
await (backend as { dispose?: () => Promise<void> } | undefined)?.dispose?.();
