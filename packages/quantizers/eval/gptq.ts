/**
 * `pnpm exec tsx packages/quantizers/eval/gptq.ts [--split eval|val] [--bits 4,3,2] [--group 32]
 *   [--rows rtn,gptq,...] [--percdamp 0.01] [--schedule sequential|per-block|dense] [--eval-text FILE] [--calib-text FILE] [--model FILE] [--tokenizer FILE]
 *   [--backend auto|wasm|reference] [--results | --out FILE]`
 *
 * RTN and GPTQ on stories260K under the standard protocol: evaluation windows 0..63 (`--split eval`)
 * or the validation windows 100..107 (`--split val`, where hyper-parameters are chosen), calibration
 * windows 200..231 of the calibration text. Rows (`--rows`, default all): the grid and group
 * ablations — full vs restricted grid, ragged last group vs per-channel fallback on layers whose
 * width the group size does not divide, GPTQ act-order modes (none / static / dynamic), clip search,
 * and the calibration schedule (true-sequential per group by default, per-block as the ablation).
 * bits/weight = 8 · (every stored byte of the block linears) / (their weight count).
 * Weights g32 f16 scales; head and embedding f32. Prints a markdown table; writes the JSON to llmpress-eval/gptq.json (scratch, git-ignored),
 * `--results` to results/gptq.json, `--out FILE` to FILE.
 */
import { writeFileSync } from 'node:fs';
import {
  evaluate,
  referenceLogits,
  compressLinears,
  type LlamaModel,
  type Window,
  type CompressResult,
  type CalibrationSchedule,
  type LayerJob,
} from '@llmpress/models';
import type { LinearLayer } from '@llmpress/tensor';
import { rtnModel, gptqModel, rtnLayer, gptqLayer, type Bits, type QuantGrid, type QuantSpec } from '../src/index.js';
import { backendFromArgs, flag } from '../../../scripts/backend-arg.ts';
import { evalDataFromArgs, evalOutPath, repoRelative } from '../../../scripts/eval-data.ts';

const sel = await backendFromArgs({ fallback: 'wasm', threads: 1 });
const backend = sel.backend;
const split = flag('split') ?? 'eval';
if (split !== 'eval' && split !== 'val') throw new Error(`--split must be eval or val, got ${split}`);
const bitsList = (flag('bits') ?? '4,3,2').split(',').map(Number) as Bits[];
const group = Number(flag('group') ?? 32);
const rowsWanted = flag('rows')?.split(',');
const percdamps = (flag('percdamp') ?? '0.01').split(',').map(Number);
// --split val = validation windows 100..107 (where hyper-parameters are chosen); --eval-start/--eval-windows override
const data = evalDataFromArgs(split === 'val' ? { evalStart: 100, evalWindows: 8 } : {});
const model: LlamaModel = data.model;
const evalWindows: Window[] = data.eval,
  calibration: Window[] = data.calibration;
const log = (s: string) => process.stderr.write(s + '\n');
log(
  `${data.modelName}: windows ${data.protocol.evalWindows.join('..')} of ${data.protocol.evalText}, calibration ${data.protocol.calibrationWindows.join('..')} of ${data.protocol.calibText}, g${group}, ${sel.describe?.() ?? backend?.name}`,
);
const reference = referenceLogits(model, evalWindows, { backend });
const dense = evaluate(model, evalWindows, { reference, backend });
log(`dense ppl ${dense.ppl.toFixed(4)}`);

interface Row {
  key: string;
  method: string;
  bits: number;
  variant: string;
  build: () => Promise<CompressResult<unknown>>;
}
const rows: Row[] = [];
const schedule = (flag('schedule') ?? 'sequential') as CalibrationSchedule;
const gFor = (n: number, perChannelWhereRagged: boolean) => (perChannelWhereRagged && n % group !== 0 ? 0 : group);
/** Any quantizer through the driver, with the old per-channel fallback as an option (ablation). */
const viaDriver = (sched: CalibrationSchedule, perChannelWhereRagged: boolean, q: (job: LayerJob, g: number) => { layer: LinearLayer; report: unknown }) =>
  compressLinears<unknown>(model, {
    calibration,
    schedule: sched,
    backend,
    compress: (job) => {
      const { layer, report } = q(job, gFor(job.weight.shape[1]!, perChannelWhereRagged));
      return { layer, report, bytes: layer.bytes(), kind: layer.kind };
    },
  });
for (const bits of bitsList) {
  const spec = (grid: QuantGrid): QuantSpec => ({ bits, groupSize: group, grid, scaleDtype: 'f16' });
  rows.push({ key: 'rtn', method: 'RTN', bits, variant: 'full grid, ragged', build: () => rtnModel(model, { ...spec('full'), backend }) });
  rows.push({
    key: 'rtn-clip',
    method: 'RTN',
    bits,
    variant: 'full grid, ragged, clip search',
    build: () => rtnModel(model, { ...spec('full'), clipSearch: true, backend }),
  });
  rows.push({
    key: 'rtn-restricted',
    method: 'RTN',
    bits,
    variant: 'restricted grid, ragged',
    build: () => rtnModel(model, { ...spec('restricted'), backend }),
  });
  rows.push({
    key: 'rtn-old',
    method: 'RTN',
    bits,
    variant: 'restricted grid, per-channel where g∤n (old)',
    build: () => viaDriver('dense', true, (job, g) => rtnLayer(job.weight, { ...spec('restricted'), groupSize: g })),
  });
  for (const pd of percdamps) {
    const sfx = percdamps.length > 1 ? ` percdamp ${pd}` : '';
    const gp = (grid: QuantGrid, actOrder: boolean | 'static' | 'dynamic', clipSearch = false, sched = schedule) =>
      gptqModel(model, { ...spec(grid), actOrder, percdamp: pd, clipSearch, calibration, schedule: sched, backend });
    rows.push({ key: 'gptq', method: 'GPTQ', bits, variant: `full grid, ragged, act-order static, ${schedule}${sfx}`, build: () => gp('full', 'static') });
    rows.push({
      key: 'gptq-clip',
      method: 'GPTQ',
      bits,
      variant: `full grid, ragged, act-order static, clip search, ${schedule}${sfx}`,
      build: () => gp('full', 'static', true),
    });
    rows.push({ key: 'gptq-noact', method: 'GPTQ', bits, variant: `full grid, ragged, no act-order, ${schedule}${sfx}`, build: () => gp('full', false) });
    rows.push({
      key: 'gptq-noact-clip',
      method: 'GPTQ',
      bits,
      variant: `full grid, ragged, no act-order, clip search, ${schedule}${sfx}`,
      build: () => gp('full', false, true),
    });
    rows.push({
      key: 'gptq-dynamic',
      method: 'GPTQ',
      bits,
      variant: `full grid, ragged, act-order dynamic (u16 perm), ${schedule}${sfx}`,
      build: () => gp('full', 'dynamic'),
    });
    // one change from the default (full grid, ragged, act-order static, clip search, sequential) each
    rows.push({
      key: 'gptq-restricted',
      method: 'GPTQ',
      bits,
      variant: `restricted grid, ragged, act-order static, clip search, ${schedule}${sfx}`,
      build: () => gp('restricted', 'static', true),
    });
    rows.push({
      key: 'gptq-perblock',
      method: 'GPTQ',
      bits,
      variant: `full grid, ragged, act-order static, clip search, per-block${sfx}`,
      build: () => gp('full', 'static', true, 'per-block'),
    });
    rows.push({
      key: 'gptq-restricted-noclip',
      method: 'GPTQ',
      bits,
      variant: `restricted grid, ragged, act-order static, ${schedule}${sfx}`,
      build: () => gp('restricted', 'static'),
    });
    rows.push({
      key: 'gptq-perblock-noclip',
      method: 'GPTQ',
      bits,
      variant: `full grid, ragged, act-order static, per-block${sfx}`,
      build: () => gp('full', 'static', false, 'per-block'),
    });
    rows.push({
      key: 'gptq-grid-only',
      method: 'GPTQ',
      bits,
      variant: `full grid, ragged, act-order dynamic, per-block (old settings, new grid + groups only)${sfx}`,
      build: () => gp('full', 'dynamic', false, 'per-block'),
    });
    rows.push({
      key: 'gptq-old',
      method: 'GPTQ',
      bits,
      variant: `restricted grid, per-channel where g∤n, act-order dynamic, per-block (old)${sfx}`,
      build: () =>
        viaDriver('per-block', true, (job, g) =>
          gptqLayer(job.weight, job.stats, { ...spec('restricted'), groupSize: g, actOrder: 'dynamic', percdamp: pd, backend }),
        ),
    });
  }
}

const results: Array<Record<string, unknown>> = [
  { method: 'dense', bits: 32, variant: '-', ppl: dense.ppl, kl: 0, top1: 1, bytes: model.linearBytes(), bitsPerWeight: 32 },
];
for (const r of rows) {
  if (rowsWanted && !rowsWanted.includes(r.key)) continue;
  const t0 = performance.now();
  const res0 = await r.build();
  const m = res0.model;
  const t1 = performance.now();
  const ev = evaluate(m, evalWindows, { reference, backend });
  const res = {
    method: r.method,
    bits: r.bits,
    variant: r.variant,
    ppl: ev.ppl,
    kl: ev.kl!,
    top1: ev.top1!,
    bytes: res0.bytes,
    bitsPerWeight: (8 * res0.bytes) / (res0.denseBytes / 4),
    buildSeconds: (t1 - t0) / 1000,
  };
  results.push(res);
  log(
    `${r.method} W${r.bits} [${r.variant}]: ppl ${ev.ppl.toFixed(4)} kl ${ev.kl!.toFixed(4)} bits/w ${res.bitsPerWeight.toFixed(3)} (${res.buildSeconds.toFixed(1)} s)`,
  );
}
console.log(
  `\n${split === 'eval' ? 'evaluation' : 'validation'} windows ${data.protocol.evalWindows.join('..')}, calibration ${data.protocol.calibrationWindows.join('..')}, g${group}, f16 scales\n`,
);
console.log('| method | bits | variant | PPL | KL | top-1 | bits/weight |');
console.log('|---|---|---|---:|---:|---:|---:|');
for (const x of results as any[])
  console.log(
    `| ${x.method} | ${x.bits === 32 ? 'f32' : `W${x.bits} g${group}`} | ${x.variant} | ${x.ppl.toFixed(3)} | ${x.kl.toFixed(4)} | ${(100 * x.top1).toFixed(2)}% | ${x.bitsPerWeight.toFixed(3)} |`,
  );
const out = evalOutPath('gptq.json');
writeFileSync(
  out,
  JSON.stringify({ model: data.modelName, protocol: data.protocol, split, group, schedule, rows: results, date: new Date().toISOString() }, null, 2) + '\n',
);
console.log(`\nwrote ${repoRelative(out)}`);
await (backend as any)?.dispose?.();
