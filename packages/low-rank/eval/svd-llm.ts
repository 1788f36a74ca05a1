/**
 * `pnpm eval:svd-llm [--eval-text FILE] [--calib-text FILE] [--model FILE] [--tokenizer FILE]
 *   [--ratios 0.2,0.4,0.6] [--methods svd,asvd,svd-llm,svd-llm+update,svd-llm+update@per-block]
 *   [--eval-start 0] [--eval-windows 64] [--ridge δ] [--sweeps N] [--whiten-with original|working]
 *   [--backend auto|wasm|webgpu|reference] [--threads N] [--results | --out path]`
 *
 * stories260K (default) under the standard protocol (methods.md): evaluation windows 0..63 of the
 * evaluation text, calibration windows 200..231 of the calibration text (both default to the TinyStories
 * validation file; disjoint, checked, when they are the same file). For each ratio of removed parameters
 * (of the compressed linears q,k,v,o,gate,up,down), compress with plain SVD, ASVD (α = 0.5), SVD-LLM
 * (eigh whitening) and SVD-LLM + the closed-form sequential update — under the true-sequential
 * per-group schedule, and `svd-llm+update@per-block` / `@dense` as schedule ablations — then report
 * PPL, KL and top-1 agreement against the dense model. Writes llmpress-eval/svd-llm.json (scratch, git-ignored); `--results` the tracked results/svd-llm.json.
 * Validation (hyper-parameter choice): `--eval-start 100 --eval-windows 8`.
 */
import { mkdirSync, writeFileSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import type { Backend } from '@llmpress/tensor';
import { evaluate, referenceLogits, type LlamaModel, type Window, type CalibrationSchedule, type CompressResult } from '@llmpress/models';
import * as modelsNode from '@llmpress/models/node';
import { svdModel, asvdModel, svdLlmModel, lowRankKinds, type LowRankLayerReport } from '../src/index.js';
import { backendFromArgs, flag } from '../../../scripts/backend-arg.ts';
import { evalDataFromArgs, evalOutPath } from '../../../scripts/eval-data.ts';

interface Row {
  method: string;
  ratio: number;
  params: number;
  bytes: number;
  bitsPerWeight: number;
  ppl: number;
  kl: number;
  top1: number;
  nll: number;
  modelBytes: number;
  compressSeconds: number;
  evalSeconds: number;
}

async function compress(
  method: string,
  model: LlamaModel,
  ratio: number,
  calibration: Window[],
  backend: Backend,
  opts: { ridge?: number; sweeps?: number; whitenWith?: 'original' | 'working' },
): Promise<CompressResult<LowRankLayerReport>> {
  const [base, sched] = method.split('@') as [string, CalibrationSchedule | undefined];
  if (base === 'svd') return svdModel(model, { ratio, backend });
  if (base === 'asvd') return asvdModel(model, { ratio, calibration, backend });
  if (base === 'svd-llm') return svdLlmModel(model, { ratio, calibration, backend, schedule: sched });
  if (base === 'svd-llm+update') {
    const update = opts.ridge !== undefined || opts.sweeps !== undefined ? { ridge: opts.ridge, sweeps: opts.sweeps } : true;
    return svdLlmModel(model, { ratio, calibration, backend, update, schedule: sched ?? 'sequential', whitenWith: opts.whitenWith });
  }
  throw new Error(`unknown method '${method}' (svd, asvd, svd-llm, svd-llm+update, with an optional @sequential|@per-block|@dense)`);
}

async function main() {
  const sel = await backendFromArgs();
  const backend = sel.backend;
  const ratios = (flag('ratios') ?? '0.2,0.4,0.6').split(',').map(Number);
  const methods = (flag('methods') ?? 'svd,asvd,svd-llm,svd-llm+update,svd-llm+update@per-block').split(',');
  const ridge = flag('ridge') !== undefined ? Number(flag('ridge')) : undefined;
  const sweeps = flag('sweeps') !== undefined ? Number(flag('sweeps')) : undefined;
  const whitenWith = flag('whiten-with') as 'original' | 'working' | undefined;
  const out = evalOutPath('svd-llm.json');
  const data = evalDataFromArgs();
  const { model } = data;
  const split = { eval: data.eval, calibration: data.calibration };
  console.log(
    `# SVD-LLM on ${data.modelName}: eval windows ${data.protocol.evalWindows.join('..')} of ${data.protocol.evalText}, calibration windows ${data.protocol.calibrationWindows.join('..')} of ${data.protocol.calibText}; ${sel.describe()}`,
  );
  const t0 = performance.now();
  const ref = referenceLogits(model, split.eval, { backend });
  console.log(`reference logits: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const rows: Row[] = [];
  let denseParams = 0;
  for (const e of model.linears()) denseParams += e.layer.params();
  {
    const t = performance.now();
    const r = evaluate(model, split.eval, { reference: ref, backend });
    rows.push({
      method: 'dense',
      ratio: 0,
      params: denseParams,
      bytes: 4 * denseParams,
      bitsPerWeight: 32,
      ppl: r.ppl,
      kl: r.kl ?? 0,
      top1: r.top1 ?? 1,
      nll: r.nll,
      modelBytes: model.storedBytes(),
      compressSeconds: 0,
      evalSeconds: (performance.now() - t) / 1000,
    });
    console.log(`dense: ppl ${r.ppl.toFixed(4)}`);
  }
  let reload: Record<string, unknown> = { skipped: 'not run' };
  for (const ratio of ratios) {
    for (const m of methods) {
      const tc = performance.now();
      const res = await compress(m, model, ratio, split.calibration, backend, { ridge, sweeps, whitenWith });
      const compressSeconds = (performance.now() - tc) / 1000;
      const te = performance.now();
      const r = evaluate(res.model, split.eval, { reference: ref, backend });
      let params = 0;
      for (const l of res.layers) params += l.report.params;
      const row: Row = {
        method: m,
        ratio,
        params,
        bytes: res.bytes,
        bitsPerWeight: (8 * res.bytes) / denseParams,
        ppl: r.ppl,
        kl: r.kl!,
        top1: r.top1!,
        nll: r.nll,
        modelBytes: res.model.storedBytes(),
        compressSeconds,
        evalSeconds: (performance.now() - te) / 1000,
      };
      rows.push(row);
      console.log(
        `${m} @ ${ratio}: ppl ${r.ppl.toFixed(4)} kl ${r.kl!.toFixed(4)} top1 ${r.top1!.toFixed(4)} (compress ${compressSeconds.toFixed(1)} s, eval ${row.evalSeconds.toFixed(1)} s)`,
      );
      // save + reload once (the SVD-LLM + update model at the middle ratio): must give the same perplexity
      if (m === 'svd-llm+update' && ratio === ratios[Math.floor(ratios.length / 2)]) reload = await saveAndReload(res.model, m, ratio, r.ppl, split, backend);
    }
  }
  const result = {
    model: data.modelName,
    protocol: data.protocol,
    backend: sel.describe(),
    options: { ridge: ridge ?? 'default', sweeps: sweeps ?? 'default', whitenWith: whitenWith ?? 'original' },
    reload,
    rows,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  printTable(rows, ratios);
  console.log(`\nreload check: ${JSON.stringify(reload)}`);
  console.log(`wrote ${out}`);
  await sel.dispose();
}

async function saveAndReload(m: LlamaModel, method: string, ratio: number, ppl: number, split: { eval: Window[] }, backend?: Backend) {
  const dir = mkdtempSync(join(tmpdir(), 'svd-llm-'));
  const file = join(dir, 'model.safetensors');
  try {
    modelsNode.saveModelFile(file, m);
    const size = statSync(file).size;
    const back = modelsNode.loadCompressedModelFile(file, { kinds: lowRankKinds });
    const r = evaluate(back, split.eval, { backend });
    return { method, ratio, ppl, reloadedPpl: r.ppl, identical: r.ppl === ppl, fileBytes: size, storedBytes: m.storedBytes() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(rows: Row[], ratios: number[]) {
  console.log('\n| method | removed | params (linears) | bytes (linears) | bits/weight | PPL | KL (nats/token) | top-1 |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.method} | ${r.method === 'dense' ? '0%' : `${Math.round(r.ratio * 100)}%`} | ${r.params.toLocaleString('en-US')} | ${r.bytes.toLocaleString('en-US')} | ${r.bitsPerWeight.toFixed(2)} | ${r.ppl.toFixed(3)} | ${r.kl.toFixed(4)} | ${(100 * r.top1).toFixed(2)}% |`,
    );
  const get = (m: string, ratio: number) => rows.find((r) => r.method === m && r.ratio === ratio);
  console.log('\nMargins (PPL, lower is better):');
  for (const ratio of ratios) {
    const w = get('svd-llm', ratio),
      u = get('svd-llm+update', ratio),
      a = get('asvd', ratio),
      s = get('svd', ratio),
      pb = get('svd-llm+update@per-block', ratio);
    const parts: string[] = [];
    if (w && a) parts.push(`SVD-LLM vs ASVD ${(100 * (w.ppl / a.ppl - 1)).toFixed(1)}%`);
    if (w && s) parts.push(`SVD-LLM vs SVD ${(100 * (w.ppl / s.ppl - 1)).toFixed(1)}%`);
    if (u && w) parts.push(`+update vs whitening ${(100 * (u.ppl / w.ppl - 1)).toFixed(1)}%`);
    if (u && pb) parts.push(`sequential vs per-block update ${(100 * (u.ppl / pb.ppl - 1)).toFixed(1)}%`);
    console.log(`- ${Math.round(ratio * 100)}%: ${parts.join('; ')}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
