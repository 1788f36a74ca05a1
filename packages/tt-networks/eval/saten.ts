/**
 * `pnpm eval:saten [--eval-text FILE] [--calib-text FILE] [--model FILE] [--tokenizer FILE] [--eval-start 0] [--eval-windows 64]
 *   [--budgets 0.6,0.4] [--schedule sequential|per-block|dense] [--fit corrected|working|original] [--no-ablation]
 *   [--only substring,…] [--sequential-for name,…] [--backend auto|wasm|webgpu|reference] [--threads 1]`
 *
 * stories260K (or --model) under the standard protocol (methods.md): evaluation windows 0..63 of
 * 256 tokens of the evaluation text, calibration windows 200..231 of the calibration text (disjoint
 * when they are the same file). The data-aware variants run on the one driver (`satenModel`) under
 * the true-sequential per-group schedule; the same rows under the 'dense' schedule (every Gram from
 * the original model: the previous behaviour) follow as an ablation. Every per-block linear is replaced at equal
 * stored bytes (a fraction of the dense f32 linears): truncated SVD, SVD + sparse, SVD-LLM
 * (whitened SVD, `svdLlm` of @llmpress/low-rank), TT alone, TT + unstructured sparse,
 * TT + 2:4, and the data-aware (whitened) variants. Reports PPL, KL and top-1 agreement against
 * the dense model, relative Frobenius error, whitened error, bytes. Writes llmpress-eval/saten.json
 * (scratch, git-ignored); `--results` the tracked results/saten.json, `--out FILE` any file.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, type Backend, type LinearLayer } from '@llmpress/tensor';
import { evaluate, referenceLogits, captureLinearStats, type LlamaModel, type CalibrationSchedule } from '@llmpress/models';
import { writeFileAtomic } from '@llmpress/models/node';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { evalDataFromArgs, evalOutPath, repoRelative } from '../../../scripts/eval-data.ts';
import { svdLlm, svdLowRank } from '@llmpress/low-rank';
import { satenModel, planLayer, planErrors, type TTMethod, type LayerPlan } from '@llmpress/tt-networks';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const opt = (k: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const log = (s: string) => process.stderr.write(s + '\n');

const outPath = evalOutPath('saten.json');

function printTable(out: any): void {
  console.log(`dense: PPL ${out.dense.ppl.toFixed(4)} over ${out.dense.tokens} tokens; dense linears ${out.denseLinearBytes} bytes; backend ${out.backend}\n`);
  console.log('| budget | method | data-aware | bytes | bits/weight | PPL | KL (nats) | top-1 | rel. Frobenius err | mean whitened err | sparse share |');
  console.log('| ---: | --- | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of out.rows) {
    console.log(
      `| ${Math.round(r.budget * 100)}% | ${r.method} | ${r.dataAware ? 'yes' : 'no'} | ${r.bytes} | ${r.bitsPerWeight.toFixed(2)} | ${r.ppl.toFixed(3)} | ${r.kl.toFixed(4)} | ${r.top1.toFixed(3)} | ${r.relFrob.toFixed(4)} | ${r.meanWhitened.toFixed(4)} | ${r.sparseShareMean === undefined ? '—' : r.sparseShareMean.toFixed(2)} |`,
    );
  }
}

// `--merge a.json,b.json`: one table from runs over different --budgets (e.g. run in parallel)
if (opt('merge')) {
  const parts = opt('merge')!
    .split(',')
    .map((f) => JSON.parse(readFileSync(resolve(root, f), 'utf8')));
  const merged = { ...parts[0], rows: parts.flatMap((p: any) => p.rows), mergedFrom: opt('merge'), date: new Date().toISOString() };
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(outPath, new TextEncoder().encode(JSON.stringify(merged, null, 2) + '\n'));
  printTable(merged);
  console.log(`\nwrote ${repoRelative(outPath)}`);
  process.exit(0);
}

const sel = await backendFromArgs({ threads: 1 });
const backend: Backend = sel.backend;
const backendName = `${sel.name}${sel.threads > 1 ? ` (${sel.threads} threads)` : ''}`;

const data = evalDataFromArgs();
const model: LlamaModel = data.model;
const budgets = (opt('budgets') ?? '0.6,0.4').split(',').map(Number);
const schedule = (opt('schedule') ?? 'sequential') as CalibrationSchedule;
const ablation = !args.includes('--no-ablation') && schedule !== 'dense';
const fit = opt('fit') as 'corrected' | 'working' | 'original' | undefined;
const only = opt('only')?.split(',');
const wanted = (name: string) => !only || only.some((o) => name.includes(o));
// data-aware rows NOT listed here (exact names) run under the 'dense' schedule only (e.g. to bound the time: the
// sequential schedule re-plans every layer's TT shape search, as the Grams differ per run)
const seqFor = opt('sequential-for')?.split(',');
const sequentialFor = (name: string) => !seqFor || seqFor.includes(name);
const split = { eval: data.eval, calibration: data.calibration };
log(
  `eval windows ${data.protocol.evalWindows.join('..')} of ${data.protocol.evalText}, calibration windows ${data.protocol.calibrationWindows.join('..')} of ${data.protocol.calibText}, backend ${backendName}`,
);
let t0 = performance.now();
const refLogits = referenceLogits(model, split.eval, { backend });
const dense = evaluate(model, split.eval, { reference: refLogits, backend });
log(`dense: ppl ${dense.ppl.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
t0 = performance.now();
const stats = captureLinearStats(model, split.calibration, { gram: true, meanAbs: false, backend });
log(`calibration Grams: ${stats.size} linears (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
const calibration = new Map([...stats].map(([k, v]) => [k, { gram: v.gram! }]));

const entries = model.linears();
const denseBytes = entries.reduce((a, e) => a + e.layer.bytes(), 0);
const denseParams = entries.reduce((a, e) => a + e.layer.inFeatures * e.layer.outFeatures, 0);
// per-layer error plans (data-aware metric only; no fitting)
const metric = new Map<string, LayerPlan>(
  entries.map((e) => [
    e.name,
    planLayer(Float64Array.from(e.layer.toDense().data), e.layer.outFeatures, e.layer.inFeatures, { gram: calibration.get(e.name)!.gram, whitened: false }),
  ]),
);

function errorsOf(m: LlamaModel): { relFrob: number; meanRelFrob: number; meanWhitened: number } {
  let num = 0,
    den = 0,
    sumRel = 0,
    sumWh = 0;
  for (const e of m.linears()) {
    const plan = metric.get(e.name)!;
    const approx = e.layer.toDense().data;
    const er = planErrors(plan, approx);
    let w2 = 0;
    for (let i = 0; i < plan.w.length; i++) w2 += plan.w[i]! ** 2;
    num += er.relError ** 2 * w2;
    den += w2;
    sumRel += er.relError;
    sumWh += er.whitenedError!;
  }
  const n = m.linears().length;
  return { relFrob: Math.sqrt(num / den), meanRelFrob: sumRel / n, meanWhitened: sumWh / n };
}

interface Row {
  method: string;
  family: string;
  sparse: string;
  dataAware: boolean;
  budget: number;
  bytes: number;
  bitsPerWeight: number;
  ppl: number;
  kl: number;
  top1: number;
  relFrob: number;
  meanRelFrob: number;
  meanWhitened: number;
  compressSeconds: number;
  sparseShareMean?: number;
  ttShapes?: Record<string, number>;
  schedule?: CalibrationSchedule;
}
const rows: Row[] = [];

function lowRankByDecompositions(kind: 'svd' | 'svd-llm', frac: number): LlamaModel {
  const out = model.clone();
  for (const e of entries) {
    const m = e.layer.outFeatures,
      n = e.layer.inFeatures;
    const k = Math.max(1, Math.floor((frac * m * n) / (m + n)));
    const w = e.layer.toDense();
    const layer: LinearLayer =
      kind === 'svd' ? svdLowRank(w, { rank: k, backend }) : svdLlm(w, new Tensor('f64', calibration.get(e.name)!.gram, [n, n]), { rank: k, backend });
    out.setLinear(e.name, layer);
  }
  return out;
}

// plans are cached by content (weight and Gram fingerprints): data-free ones and the 'dense' schedule's
// are shared across budgets; under 'sequential' every run sees its own Grams
const cacheFree = new Map<string, unknown>(),
  cacheData = new Map<string, unknown>();
const search = { orders: [2, 3, 4], perSide: 2, steps: 10 };

function record(method: string, family: string, sparse: string, dataAware: boolean, frac: number, m: LlamaModel, seconds: number, extra: Partial<Row> = {}) {
  const bytes = m.linears().reduce((a, e) => a + e.layer.bytes(), 0);
  const budget = frac * denseBytes;
  if (bytes > budget) throw new Error(`${method}: ${bytes} bytes exceed the budget ${budget}`);
  const t = performance.now();
  const r = evaluate(m, split.eval, { reference: refLogits, backend });
  const errs = errorsOf(m);
  const row: Row = {
    method,
    family,
    sparse,
    dataAware,
    budget: frac,
    bytes,
    bitsPerWeight: (8 * bytes) / denseParams,
    ppl: r.ppl,
    kl: r.kl!,
    top1: r.top1!,
    ...errs,
    compressSeconds: seconds,
    ...extra,
  };
  rows.push(row);
  writeResults(false);
  log(
    `  ${frac} ${method}: ppl ${r.ppl.toFixed(3)} kl ${r.kl!.toFixed(4)} top1 ${r.top1!.toFixed(3)} relFrob ${errs.relFrob.toFixed(4)} whitened ${errs.meanWhitened.toFixed(4)} bytes ${bytes} (fit ${seconds.toFixed(0)} s, eval ${((performance.now() - t) / 1000).toFixed(0)} s)`,
  );
}

const ttMethods: { name: string; method: TTMethod; data: boolean; family: string; sparse: string }[] = [
  { name: 'SVD + sparse (unstructured)', method: 'lowrank-u', data: false, family: 'svd', sparse: 'unstructured' },
  { name: 'SVD + 2:4', method: 'lowrank-2:4', data: false, family: 'svd', sparse: '2:4' },
  { name: 'whitened SVD + sparse (unstructured)', method: 'lowrank-u', data: true, family: 'svd', sparse: 'unstructured' },
  { name: 'TT', method: 'tt', data: false, family: 'tt', sparse: 'none' },
  { name: 'TT + sparse (Saten, unstructured)', method: 'saten-u', data: false, family: 'tt', sparse: 'unstructured' },
  { name: 'TT + 2:4 (Saten, 2:4)', method: 'saten-2:4', data: false, family: 'tt', sparse: '2:4' },
  { name: 'whitened TT', method: 'tt', data: true, family: 'tt', sparse: 'none' },
  { name: 'whitened TT + sparse (unstructured)', method: 'saten-u', data: true, family: 'tt', sparse: 'unstructured' },
  { name: 'whitened TT + 2:4', method: 'saten-2:4', data: true, family: 'tt', sparse: '2:4' },
];

for (const frac of budgets) {
  log(`budget ${frac} of the dense linears (${Math.floor(frac * denseBytes)} bytes)`);
  let t = performance.now();
  if (wanted('truncated SVD')) record('truncated SVD', 'svd', 'none', false, frac, lowRankByDecompositions('svd', frac), (performance.now() - t) / 1000);
  t = performance.now();
  if (wanted('SVD-LLM (whitened SVD)'))
    record('SVD-LLM (whitened SVD)', 'svd', 'none', true, frac, lowRankByDecompositions('svd-llm', frac), (performance.now() - t) / 1000);
  const runs: { spec: (typeof ttMethods)[number]; sched?: CalibrationSchedule }[] = [];
  for (const spec of ttMethods) if (wanted(spec.name) && (!spec.data || sequentialFor(spec.name))) runs.push({ spec, sched: spec.data ? schedule : undefined });
  for (const spec of ttMethods) if (spec.data && wanted(spec.name) && (ablation || !sequentialFor(spec.name))) runs.push({ spec, sched: 'dense' });
  for (const { spec, sched } of runs) {
    t = performance.now();
    const res = await satenModel(model, {
      method: spec.method,
      budget: frac * denseBytes,
      search,
      backend,
      calibration: spec.data ? split.calibration : undefined,
      schedule: sched,
      fit,
      cache: spec.data ? cacheData : cacheFree,
    });
    const shapes: Record<string, number> = {};
    for (const l of res.layers)
      if (l.report.rowDims) {
        const k = `${l.report.rowDims.join('x')}|${l.report.colDims!.join('x')}`;
        shapes[k] = (shapes[k] ?? 0) + 1;
      }
    const share = res.layers.reduce((a, l) => a + l.report.sparseBytes / l.report.bytes, 0) / res.layers.length;
    const name = spec.data && sched !== schedule ? `${spec.name} [${sched} schedule]` : spec.name;
    record(name, spec.family, spec.sparse, spec.data, frac, res.model, (performance.now() - t) / 1000, {
      sparseShareMean: share,
      schedule: sched,
      ...(spec.family === 'tt' ? { ttShapes: shapes } : {}),
    });
  }
}

function writeResults(done: boolean) {
  const out = {
    model: data.modelName,
    evalText: data.protocol.evalText,
    calibText: data.protocol.calibText,
    protocol: `standard: eval windows ${data.protocol.evalWindows.join('..')} × 256 (BOS per window), calibration windows ${data.protocol.calibrationWindows.join('..')}`,
    fit: fit ?? 'corrected',
    sequentialFor: seqFor ?? 'all data-aware rows',
    schedule: `data-aware rows: '${schedule}' (true-sequential per group by default)${ablation ? '; rows marked [dense schedule]: every Gram from the original model (the previous behaviour)' : ''}`,
    backend: backendName,
    svdLlm: '@llmpress/low-rank svdLlm (eigh whitening, no parameter update); truncated SVD = svdLowRank',
    budgetRule: 'each linear gets budget·(its dense bytes); inside a layer the sparse share in {0,0.1,…,0.6} with the smallest proxy error wins',
    denseLinearBytes: denseBytes,
    denseParams,
    dense: { ppl: dense.ppl, nll: dense.nll, tokens: dense.tokens },
    complete: done,
    rows,
    date: new Date().toISOString(),
  };
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(outPath, new TextEncoder().encode(JSON.stringify(out, null, 2) + '\n'));
  return out;
}

printTable(writeResults(true));
console.log(`\nwrote ${repoRelative(outPath)}`);
log(sel.describe());
await sel.dispose();
