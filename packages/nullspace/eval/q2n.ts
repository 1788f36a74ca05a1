/**
 * `pnpm eval:q2n [--eval-text FILE] [--calib-text FILE] [--model FILE] [--tokenizer FILE] [--bits 4,3,2]
 *   [--group 32] [--ablate-bits 3,2] [--rows main,skip-down,target-w,per-block,restricted,post-hoc] [--sweep] [--eval-start 0 --eval-windows 64] [--backend auto|wasm|reference] [--results | --out path]`
 *
 * Q2N on stories260K under the standard protocol (eval windows 0..63 of the evaluation text,
 * calibration windows 200..231 of the calibration text), every row through the one driver
 * (`compressLinears`, true-sequential per-group schedule unless a row says per-block):
 * RTN, RTN + Q2N, GPTQ, GPTQ + Q2N at each bit width, group size 32 with a ragged last group where
 * it does not divide the width (down_proj: 172 = 5·32 + 12), full grid, f16 scales. GPTQ: act-order
 * with static groups (no stored permutation), clip search, percdamp 0.01 — chosen on validation
 * windows 100..107 (packages/quantizers/README.md). Q2N: t = 0.1, λ = 0.2, down_proj included,
 * applied to each layer right after it is quantized (its folded scales feed the later layers).
 * Ablations at --ablate-bits: skip down_proj (the authors' choice), target W, Q2N after the whole
 * base quantization (post-hoc on the records), B from GPTQ's working copy (the reference code), the
 * per-block schedule, and the restricted grid; with --sweep also t ∈ {0.05, 0.2} and λ ∈ {0, 1}
 * (hyper-parameters: sweep them on validation windows, `--eval-start 100 --eval-windows 8`).
 * bits/weight = 8 · every stored byte of the block linears / their weight count.
 * Writes llmpress-eval/q2n.json (scratch, git-ignored); `--results` the tracked results/q2n.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { evaluate, referenceLogits, type LlamaModel, type CompressResult, type CalibrationSchedule } from '@llmpress/models';
import { gptqModel, rtnModel, type Bits, type QuantGrid } from '@llmpress/quantizers';
import { q2nModel, quantizeWithGrams, applyQ2n, gptqWorkingWeights, type ModelQ2nOptions, type Q2nReport } from '../src/index.js';
import { backendFromArgs, flag } from '../../../scripts/backend-arg.ts';
import { evalDataFromArgs, evalOutPath } from '../../../scripts/eval-data.ts';

interface Row {
  method: string;
  bits: number;
  groupSize: number;
  variant: string;
  bytes: number;
  bitsPerWeight: number;
  ppl: number;
  kl: number;
  top1: number;
  nullDimFraction?: number;
  meanAbsLogM?: number;
  buildSeconds?: number;
}

async function main() {
  const sel = await backendFromArgs({ fallback: 'wasm', threads: 1 });
  const backend = sel.backend;
  const bitsList = (flag('bits') ?? '4,3,2').split(',').map(Number) as Bits[];
  const ablateBits = (flag('ablate-bits') ?? '3,2').split(',').filter(Boolean).map(Number);
  const group = Number(flag('group') ?? 32);
  const sweep = process.argv.includes('--sweep');
  // --rows main,skip-down,target-w,per-block,restricted,post-hoc (default all): which row groups run
  const rowSel = flag('rows')?.split(',');
  const want = (k: string) => !rowSel || rowSel.includes(k);
  const out = evalOutPath('q2n.json');
  const data = evalDataFromArgs();
  const model = data.model,
    calibration = data.calibration;
  const denseWeights = model.linears().reduce((a, e) => a + e.layer.inFeatures * e.layer.outFeatures, 0);
  console.log(
    `# Q2N on ${data.modelName}: eval windows ${data.protocol.evalWindows.join('..')} of ${data.protocol.evalText}, calibration ${data.protocol.calibrationWindows.join('..')} of ${data.protocol.calibText}, g${group}, ${sel.describe?.() ?? backend?.name}`,
  );
  const ref = referenceLogits(model, data.eval, { backend });
  const rows: Row[] = [];
  const dense = evaluate(model, data.eval, { reference: ref, backend });
  rows.push({
    method: 'dense',
    bits: 32,
    groupSize: 0,
    variant: '-',
    bytes: model.linearBytes(),
    bitsPerWeight: 32,
    ppl: dense.ppl,
    kl: dense.kl!,
    top1: dense.top1!,
  });
  console.log(`dense: ppl ${dense.ppl.toFixed(4)}`);
  const evalRow = (m: LlamaModel, bytes: number, method: string, bits: number, variant: string, reports: Q2nReport[] = [], buildSeconds?: number) => {
    const t = performance.now();
    const r = evaluate(m, data.eval, { reference: ref, backend });
    const row: Row = {
      method,
      bits,
      groupSize: group,
      variant,
      bytes,
      bitsPerWeight: (8 * bytes) / denseWeights,
      ppl: r.ppl,
      kl: r.kl!,
      top1: r.top1!,
      buildSeconds,
    };
    if (reports.length) {
      let d = 0,
        lm = 0,
        cnt = 0,
        rowsN = 0;
      for (const rep of reports) {
        if (rep.nullSpace) {
          d += rep.nullSpace.dimension / rep.nullSpace.n;
          cnt++;
        }
        for (const v of rep.m) {
          lm += Math.abs(Math.log(v));
          rowsN++;
        }
      }
      if (cnt) row.nullDimFraction = d / cnt;
      row.meanAbsLogM = lm / rowsN;
    }
    rows.push(row);
    console.log(
      `${method} W${bits} [${variant}]: ppl ${r.ppl.toFixed(4)} kl ${r.kl!.toFixed(4)} top1 ${r.top1!.toFixed(4)} bytes ${bytes} (build ${buildSeconds?.toFixed(1) ?? '-'} s, eval ${((performance.now() - t) / 1000).toFixed(1)} s)`,
    );
  };
  const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t = performance.now();
    const v = await f();
    return [v, (performance.now() - t) / 1000];
  };
  const q2nReports = (res: CompressResult<{ q2n: Q2nReport | null }>) => res.layers.map((l) => l.report.q2n).filter((x): x is Q2nReport => x !== null);
  const q2nDefault: ModelQ2nOptions = { lambda: 0.2, nullSpace: { t: 0.1 } };
  const label = 't=0.1 λ=0.2 incl. down';
  for (const bits of bitsList) {
    const spec = (grid: QuantGrid = 'full') => ({ bits, groupSize: group, grid, scaleDtype: 'f16' as const });
    const gptqOpts = (grid: QuantGrid = 'full') => ({ ...spec(grid), actOrder: 'static' as const, clipSearch: true, percdamp: 0.01 });
    if (want('main')) {
      const [rtn, tr] = await timed(() => rtnModel(model, { ...spec(), backend }));
      evalRow(rtn.model, rtn.bytes, 'RTN', bits, 'base', [], tr);
      const [rq, trq] = await timed(() => q2nModel(model, { quantizer: 'rtn', ...spec(), calibration, backend, q2n: q2nDefault }));
      evalRow(rq.model, rq.bytes, 'RTN+Q2N', bits, label, q2nReports(rq), trq);
      const [gp, tg] = await timed(() => gptqModel(model, { ...gptqOpts(), calibration, backend }));
      evalRow(gp.model, gp.bytes, 'GPTQ', bits, 'base (act-order static, clip search)', [], tg);
      const [gq, tgq] = await timed(() => q2nModel(model, { quantizer: 'gptq', ...gptqOpts(), calibration, backend, q2n: q2nDefault }));
      evalRow(gq.model, gq.bytes, 'GPTQ+Q2N', bits, label, q2nReports(gq), tgq);
    }
    if (!ablateBits.includes(bits)) continue;
    const ab = async (variant: string, q2n: ModelQ2nOptions, extra: { schedule?: CalibrationSchedule; grid?: QuantGrid } = {}) => {
      const [r, t] = await timed(() =>
        q2nModel(model, { quantizer: 'gptq', ...gptqOpts(extra.grid), calibration, backend, schedule: extra.schedule, q2n: { ...q2nDefault, ...q2n } }),
      );
      evalRow(r.model, r.bytes, 'GPTQ+Q2N', bits, variant, q2nReports(r), t);
    };
    if (want('skip-down')) await ab('skip down (authors’ choice)', { skipDown: true });
    if (want('target-w')) await ab('target W (no null space)', { target: 'W' });
    if (sweep) {
      await ab('t=0.05', { nullSpace: { t: 0.05 } });
      await ab('t=0.2', { nullSpace: { t: 0.2 } });
      await ab('λ=0', { lambda: 0 });
      await ab('λ=1', { lambda: 1 });
    }
    if (want('per-block')) await ab('per-block schedule', {}, { schedule: 'per-block' });
    if (want('restricted')) await ab('restricted grid', {}, { grid: 'restricted' });
    if (!want('post-hoc')) continue;
    // Q2N after the whole base quantization (records), and B from GPTQ's working copy (the reference code's choice)
    const [base, tb] = await timed(() => quantizeWithGrams(model, calibration, { quantizer: 'gptq', ...gptqOpts(), backend }));
    const post = applyQ2n(base.model, base.layers, q2nDefault);
    evalRow(post.model, base.result.bytes, 'GPTQ+Q2N', bits, 'post-hoc (after all layers are quantized)', [...post.reports.values()], tb);
    const working = base.layers.map((rec) => ({
      ...rec,
      reference: gptqWorkingWeights(rec.weight, rec.gram, { ...gptqOpts(), groupSize: rec.layer.nGroups > 1 ? group : 0 }),
    }));
    const wk = applyQ2n(base.model, working, q2nDefault);
    evalRow(wk.model, base.result.bytes, 'GPTQ+Q2N', bits, 'post-hoc, B from GPTQ working copy (reference code)', [...wk.reports.values()]);
  }
  const result = {
    model: data.modelName,
    protocol: data.protocol,
    groupSize: group,
    backend: sel.describe?.() ?? backend?.name,
    notes: [
      'every row through compressLinears (true-sequential per group unless the variant says per-block)',
      `g${group} with a ragged last group where ${group} does not divide the width (down_proj 172 = 5·32 + 12); full grid unless the variant says restricted; f16 scales`,
      'GPTQ: act-order with static groups (no stored permutation), clip search, percdamp 0.01, chosen on validation windows 100..107',
      'Q2N: applied to each layer right after its quantization, from the Gram the quantizer saw; bytes are the base quantizer’s',
    ],
    rows,
    date: new Date().toISOString(),
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log('\n| method | bits | variant | bytes (linears) | bits/weight | PPL | KL | top-1 | null dim / n | mean abs log m |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.method} | ${r.bits === 32 ? 'f32' : `W${r.bits} g${r.groupSize}`} | ${r.variant} | ${r.bytes.toLocaleString('en-US')} | ${r.bitsPerWeight.toFixed(2)} | ${r.ppl.toFixed(3)} | ${r.kl.toFixed(4)} | ${(100 * r.top1).toFixed(2)}% | ${r.nullDimFraction !== undefined ? r.nullDimFraction.toFixed(3) : ''} | ${r.meanAbsLogM !== undefined ? r.meanAbsLogM.toExponential(2) : ''} |`,
    );
  console.log(`wrote ${out}`);
  await (backend as { dispose?: () => Promise<void> } | undefined)?.dispose?.();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
