/**
 * `pnpm eval:q2n [--text file] [--model file.bin] [--tokenizer tok.bin] [--bits 4,3,2] [--group 32]
 *   [--eval-windows 64] [--ablate-bits 3,2] [--backend auto|wasm|webgpu|reference] [--out path]`
 *
 * Q2N on stories260K under the standard protocol (eval windows 0..63, calibration 200..231, disjoint):
 * RTN, RTN + Q2N, GPTQ (act-order), GPTQ + Q2N at each bit width, group size 32 (layers whose input
 * width it does not divide — down_proj, 172 inputs — are quantized per channel), f16 scales; and
 * ablations on GPTQ: the same per-row refit with target W instead of B (no null space), t ∈ {0.05,
 * 0.1, 0.2}, λ ∈ {0, 0.2, 1}, down_proj included. Writes results/q2n.json (repository root).
 */
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { evaluate, evalSplit, referenceLogits, type LlamaModel } from '@llmpress/models';
import * as modelsNode from '@llmpress/models/node';
import type { Bits } from '@llmpress/quantizers';
import { quantizeWithGrams, applyQ2n, gptqWorkingWeights, type ModelQ2nOptions, type QuantizedLayerRecord } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, dflt?: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };

interface Row { method: string; bits: number; groupSize: number; variant: string; bytes: number; bitsPerWeight: number; ppl: number; kl: number; top1: number; nullDimFraction?: number; meanAbsLogM?: number }

async function main() {
  const sel = await backendFromArgs();
  const backend = sel.backend;
  const bitsList = arg('bits', '4,3,2')!.split(',').map(Number) as Bits[];
  const ablateBits = arg('ablate-bits', '3,2')!.split(',').filter(Boolean).map(Number);
  const group = Number(arg('group', '32'));
  const evalCount = Number(arg('eval-windows', '64'));
  const out = arg('out', join(here, '..', '..', '..', 'results', 'q2n.json'))!;
  let model: LlamaModel, encode: (s: string) => number[], text: string, modelName: string;
  if (arg('model')) {
    model = modelsNode.loadModel(arg('model')!);
    const tok = modelsNode.loadTokenizer(arg('tokenizer') ?? join(modelsNode.dataDir(), 'stories260K', 'tok512.bin'), { vocabSize: model.config.vocabSize });
    encode = (s) => tok.encode(s);
    text = readFileSync(arg('text') ?? join(modelsNode.dataDir(), 'tinystories', 'tinystories_val.txt'), 'utf8');
    modelName = arg('model')!;
  } else {
    const s = modelsNode.loadStories260K();
    model = s.model; encode = (x) => s.tokenizer.encode(x); text = arg('text') ? readFileSync(arg('text')!, 'utf8') : s.text; modelName = 'stories260K';
  }
  const split = evalSplit(encode(text), { evalCount });
  console.log(`# Q2N on ${modelName}: ${split.eval.length} eval windows, ${split.calibration.length} calibration windows, g${group}, ${sel.describe()}`);
  const ref = referenceLogits(model, split.eval, { backend });
  const rows: Row[] = [];
  const workingOnly = args.includes('--working-only');
  const dense = workingOnly ? { ppl: NaN, kl: 0, top1: 1 } : evaluate(model, split.eval, { reference: ref, backend });
  rows.push({ method: 'dense', bits: 32, groupSize: 0, variant: '-', bytes: model.linearBytes(), bitsPerWeight: 32, ppl: dense.ppl, kl: dense.kl!, top1: dense.top1! });
  console.log(`dense: ppl ${dense.ppl.toFixed(4)}`);
  const evalRow = (m: LlamaModel, method: string, bits: number, variant: string, reports?: Map<string, any>) => {
    const t = performance.now();
    const r = evaluate(m, split.eval, { reference: ref, backend });
    const row: Row = { method, bits, groupSize: group, variant, bytes: m.linearBytes(), bitsPerWeight: m.effectiveBitsPerWeight(), ppl: r.ppl, kl: r.kl!, top1: r.top1! };
    if (reports && reports.size) {
      let d = 0, lm = 0, cnt = 0, rowsN = 0;
      for (const rep of reports.values()) {
        if (rep.nullSpace) { d += rep.nullSpace.dimension / rep.nullSpace.n; cnt++; }
        for (const v of rep.m) { lm += Math.abs(Math.log(v)); rowsN++; }
      }
      if (cnt) row.nullDimFraction = d / cnt;
      row.meanAbsLogM = lm / rowsN;
    }
    rows.push(row);
    console.log(`${method} W${bits} [${variant}]: ppl ${r.ppl.toFixed(4)} kl ${r.kl!.toFixed(4)} top1 ${r.top1!.toFixed(4)} bytes ${row.bytes} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  };
  const q2nDefault: ModelQ2nOptions = { lambda: 0.2, nullSpace: { t: 0.1 }, skipDown: true };
  for (const bits of workingOnly ? [] : bitsList) {
    const spec = { bits, groupSize: group, scaleDtype: 'f16' as const };
    const rtn = await quantizeWithGrams(model, split.calibration, { quantizer: 'rtn', ...spec, backend });
    evalRow(rtn.model, 'RTN', bits, 'base');
    const rq = applyQ2n(rtn.model, rtn.layers, q2nDefault);
    evalRow(rq.model, 'RTN+Q2N', bits, 't=0.1 λ=0.2 skip down', rq.reports);
    const t0 = performance.now();
    const gp = await quantizeWithGrams(model, split.calibration, { quantizer: 'gptq', ...spec, actOrder: true, backend });
    console.log(`  (GPTQ W${bits}: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    evalRow(gp.model, 'GPTQ', bits, 'base (act-order)');
    const gq = applyQ2n(gp.model, gp.layers, q2nDefault);
    evalRow(gq.model, 'GPTQ+Q2N', bits, 't=0.1 λ=0.2 skip down', gq.reports);
    if (ablateBits.includes(bits)) {
      const ab = (variant: string, o: ModelQ2nOptions, layers: QuantizedLayerRecord[] = gp.layers) => {
        const r = applyQ2n(gp.model, layers, { ...q2nDefault, ...o });
        evalRow(r.model, 'GPTQ+Q2N', bits, variant, r.reports);
      };
      ab('target W (no null space) λ=0.2', { target: 'W' });
      ab('t=0.05', { nullSpace: { t: 0.05 } });
      ab('t=0.2', { nullSpace: { t: 0.2 } });
      ab('λ=0', { lambda: 0 });
      ab('λ=1', { lambda: 1 });
      ab('incl. down', { skipDown: false });
    }
  }
  // ablation: B built from GPTQ's error-fed working copy (the reference code's choice) instead of the original W
  for (const bits of workingOnly ? ablateBits : []) {
    const spec = { bits: bits as Bits, groupSize: group, scaleDtype: 'f16' as const };
    const gp = await quantizeWithGrams(model, split.calibration, { quantizer: 'gptq', ...spec, actOrder: true, backend });
    const layers = gp.layers.map((rec) => {
      const n = rec.weight.shape[1]!;
      const g = group > 0 && n % group === 0 ? group : 0;
      return { ...rec, reference: gptqWorkingWeights(rec.weight, rec.gram, { ...spec, groupSize: g, actOrder: true }) };
    });
    const r = applyQ2n(gp.model, layers, q2nDefault);
    evalRow(r.model, 'GPTQ+Q2N', bits, 'B from GPTQ working copy (reference code)', r.reports);
  }
  if (workingOnly) {
    // merge into the existing table (rows with the same method/bits/variant are replaced)
    let prev: any = { rows: [] };
    try { prev = JSON.parse(readFileSync(out, 'utf8')); } catch { /* no table yet */ }
    const key = (r: Row) => `${r.method}|${r.bits}|${r.variant}`;
    const fresh = rows.filter((r) => r.method !== 'dense');
    const keep = (prev.rows as Row[]).filter((r) => !fresh.some((f) => key(f) === key(r)));
    prev.rows = [...keep, ...fresh];
    prev.notes = (prev.notes ?? []).filter((x: string) => !x.includes('working weights'));
    prev.notes.push("rows 'B from GPTQ working copy' come from `pnpm eval:q2n --working-only` (same protocol; GPTQ's working copy replayed by gptqWorkingWeights, checked code-for-code against gptq)");
    writeFileSync(out, JSON.stringify(prev, null, 2) + '\n');
    console.log(`merged ${fresh.length} rows into ${out}`);
    await sel.dispose();
    return;
  }
  const result = {
    model: modelName, protocol: { evalWindows: split.eval.length, calibrationWindows: split.calibration.length }, groupSize: group,
    notes: [
      'down_proj (172 inputs) is quantized per channel: 32 does not divide 172',
      'Q2N is a post-step: each layer uses the Gram its base quantizer saw (GPTQ: sequential, quantized prefix; RTN: original model)',
    ],
    rows,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log('\n| method | bits | variant | bytes (linears) | bits/weight | PPL | KL | top-1 | null dim / n | mean abs log m |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.method} | ${r.bits === 32 ? 'f32' : `W${r.bits} g${r.groupSize}`} | ${r.variant} | ${r.bytes.toLocaleString('en-US')} | ${r.bitsPerWeight.toFixed(2)} | ${r.ppl.toFixed(3)} | ${r.kl.toFixed(4)} | ${(100 * r.top1).toFixed(2)}% | ${r.nullDimFraction !== undefined ? r.nullDimFraction.toFixed(3) : ''} | ${r.meanAbsLogM !== undefined ? r.meanAbsLogM.toExponential(2) : ''} |`);
  console.log(`wrote ${out}\n${sel.describe()}`);
  await sel.dispose();
}
main().catch((e) => { console.error(e); process.exit(1); });
