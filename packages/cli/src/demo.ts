/**
 * `llmpress demo` (what `pnpm demo` runs): compress the real model with every method, evaluate each
 * against the dense model on held-out windows disjoint from calibration, save one compressed model and
 * reload it, and write an HTML report (plus results/demo.json). The real stories260K and text ship in
 * the repository's data/ (found by dataDir(): data/, $LLMPRESS_DATA, ../shared/data); a generated
 * deterministic model is used only when asked (--generated). Default: the standard protocol's 64
 * evaluation windows, so the dense row is the README table's perplexity (4.6156).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve, isAbsolute } from 'node:path';
import { isBackendKind, BACKEND_KINDS, type SelectedBackend } from '@llmpress/backend-wasm/node';
import { selectCliBackend } from './backend.js';
import { UsageError, CliError, parseCommand, helpFor, numberOpt, BACKEND_OPT, type CommandSpec } from './args.js';
import { modelFootprint, linearParams } from './footprint.js';
import { Rng, randn, type Tensor } from '@llmpress/tensor';
import { svdvals } from '@llmpress/decompositions';
import { LlamaModel, denseBlock, evaluate, evalSplit, generate, saveModelBytes, loadCompressedModel, type LlamaConfig, type Window } from '@llmpress/models';
import { dataDir, dataRoots, loadStories260K, writeFileAtomic } from '@llmpress/models/node';
import { compressWith, ALL_KINDS, METHODS, type MethodName } from './methods.js';
import { renderReport, type ReportRow } from './report/report.js';
import { bestEngineExport } from './export.js';
import { normaliseRows } from './results.js';
import { createProgress } from './progress.js';

const PLAN: Array<{ method: MethodName; label: string; ratio?: number; bits?: number; budget?: number }> = [
  { method: 'svd', label: 'SVD', ratio: 0.2 },
  { method: 'asvd', label: 'ASVD', ratio: 0.2 },
  { method: 'svd-llm', label: 'SVD-LLM', ratio: 0.2 },
  { method: 'svd-llm-update', label: 'SVD-LLM + update', ratio: 0.2 },
  { method: 'tt', label: 'TT', budget: 0.8 },
  { method: 'saten', label: 'Saten (TT + sparse)', budget: 0.8 },
  { method: 'rtn', label: 'RTN', bits: 4 },
  { method: 'gptq', label: 'GPTQ', bits: 4 },
  { method: 'q2n-gptq', label: 'GPTQ + Q2N', bits: 4 },
  { method: 'quad', label: 'QUAD W4A4', bits: 4 },
  { method: 'quad-a8', label: 'QUAD W4A8', bits: 4 },
];

export const DEMO_SPEC: CommandSpec = {
  name: 'demo',
  summary: 'every method on the real model (or a generated one), evaluated, then the HTML report',
  usage: 'llmpress demo [options]',
  options: {
    windows: { type: 'string', arg: 'n', default: '64', help: 'evaluation windows of 256 tokens (positive integer, at most 64)' },
    'out-dir': { type: 'string', arg: 'dir', default: 'llmpress-demo (scratch, git-ignored)', help: 'where report.html, demo.json and the saved model go' },
    results: { type: 'string', arg: 'dir', help: 'also write demo.json here (e.g. results/ to update the tracked table; only when asked)' },
    methods: { type: 'string', arg: 'm,m,…', default: PLAN.map((p) => p.method).join(','), help: 'comma-separated subset of the plan' },
    generated: { type: 'boolean', help: 'use the generated deterministic model even when the real one is present' },
    backend: BACKEND_OPT,
  },
};

/** A deterministic generated model (random weights with decaying spectra) and text sampled from it. */
export function generatedModel(seed = 7): { model: LlamaModel; ids: number[] } {
  const config: LlamaConfig = {
    dim: 64,
    hiddenDim: 172,
    nLayers: 2,
    nHeads: 8,
    nKvHeads: 4,
    headDim: 8,
    vocabSize: 256,
    seqLen: 512,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'interleaved',
    tiedEmbeddings: true,
  } as LlamaConfig;
  let s = seed;
  const mat = (out: number, inp: number) => {
    const w = randn([out, inp], { seed: s++ });
    // decaying column scales give a realistic singular-value decay
    for (let i = 0; i < out; i++) for (let j = 0; j < inp; j++) w.data[i * inp + j]! *= 0.6 / Math.sqrt(inp) / (1 + j / 8);
    return w as Tensor<'f32'>;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const kv = config.nKvHeads * config.headDim;
  const blocks = Array.from({ length: config.nLayers }, () =>
    denseBlock({
      attnNorm: ones(64),
      ffnNorm: ones(64),
      q: mat(64, 64),
      k: mat(kv, 64),
      v: mat(kv, 64),
      o: mat(64, 64),
      gate: mat(172, 64),
      up: mat(172, 64),
      down: mat(64, 172),
    }),
  );
  const emb = randn([256, 64], { seed: s++, std: 1 }) as Tensor<'f32'>;
  const model = new LlamaModel(config, { embedding: emb, blocks, finalNorm: ones(64) });
  const ids: number[] = [1];
  const rng = new Rng(seed);
  while (ids.length < 240 * 256 + 2) ids.push(...generate(model, [1, rng.int(255) + 1], { maxTokens: 255, temperature: 1, seed: rng.nextU32() }).slice(0, 256));
  return { model, ids };
}

export async function runDemo(argv: string[], options: { baseDir?: string } = {}): Promise<number> {
  const p0 = parseCommand(DEMO_SPEC, argv);
  if (p0.help) {
    process.stdout.write(helpFor(DEMO_SPEC) + '\n');
    return 0;
  }
  const values = p0.values as Record<string, string | boolean | undefined>;
  const base = options.baseDir ?? process.cwd();
  const abs = (x: string) => (isAbsolute(x) ? x : resolve(base, x));
  const nWin = numberOpt('demo', 'windows', values.windows, { int: true, min: 1, max: 64 }) ?? 64;
  const only = typeof values.methods === 'string' ? values.methods.split(',').map((x) => x.trim()) : undefined;
  for (const m of only ?? [])
    if (!PLAN.some((p) => p.method === m))
      throw new UsageError(`demo: --methods: '${m}' is not in the demo's plan (${PLAN.map((p) => p.method).join(', ')}; all methods: ${METHODS.join(', ')})`);
  const plan = PLAN.filter((p) => !only || only.includes(p.method));
  const kind = String(values.backend ?? 'auto');
  if (!isBackendKind(kind)) throw new UsageError(`demo: --backend must be one of ${BACKEND_KINDS.join(', ')}, got '${kind}'`);
  const outDir = abs(String(values['out-dir'] ?? 'llmpress-demo'));
  const resultsOut = values.results !== undefined ? abs(String(values.results)) : undefined;
  if (resultsOut && !existsSync(resultsOut)) throw new UsageError(`demo: --results '${values.results}' does not exist (create it first)`);
  mkdirSync(outDir, { recursive: true });
  let sel;
  try {
    sel = await selectCliBackend(kind);
  } catch (e) {
    throw new CliError(`demo: --backend ${kind}: ${(e as Error).message}`, 2);
  }
  try {
    return await runPlan(plan, nWin, outDir, resultsOut, Boolean(values.generated), sel);
  } finally {
    await sel.dispose();
  }
}

async function runPlan(
  plan: typeof PLAN,
  nWin: number,
  outDir: string,
  resultsOut: string | undefined,
  generatedOnly: boolean,
  sel: SelectedBackend,
): Promise<number> {
  const values = { generated: generatedOnly };
  const backend = sel.backend;

  let model: LlamaModel, ids: number[], modelName: string;
  let tokenizer: import('@llmpress/models').BpeTokenizer | undefined;
  const real = !values.generated;
  if (real) {
    // never a silent fallback to the generated model: the real one ships in the repository's data/
    if (!existsSync(join(dataDir(), 'stories260K', 'stories260K.bin')))
      throw new CliError(
        `demo: stories260K not found (looked in ${dataRoots().join(', ')}); it ships in the repository's data/ folder — restore it, set LLMPRESS_DATA, or pass --generated for the generated model`,
        3,
      );
    const S = loadStories260K(dataDir());
    model = S.model;
    tokenizer = S.tokenizer;
    ids = S.tokenizer.encode(S.text);
    modelName = `stories260K (real, ${dataDir()})`;
  } else {
    process.stderr.write('demo: --generated: using the generated deterministic model (random weights, not stories260K)\n');
    ({ model, ids } = generatedModel());
    modelName = 'generated 2-layer Llama (random weights, text sampled from it)';
  }
  const split = evalSplit(ids);
  const evalWindows: Window[] = split.eval.slice(0, nWin);
  const denseLinearBytes = model.linearBytes();
  process.stderr.write(`demo: ${modelName}; eval windows 0..${nWin - 1} × 256, calibration windows 200..231 (disjoint)\n`);

  const dense = evaluate(model, evalWindows, { backend });
  const params = linearParams(model);
  // TT shape search limited for the demo (orders 2–3, 2 factorizations per side, 8 ε steps) and shared across TT/Saten
  const ttSearch = { orders: [2, 3], perSide: 2, steps: 8 };
  const ttCache = new Map<string, unknown>();
  const rows: ReportRow[] = [];
  const layerErrors: Array<{ method: string; layer: string; relErr: number }> = [];
  const table: string[] = [
    '| method | setting | linear bytes | compression | bits/weight | ppl | KL | top-1 | time | best engine export (ppl vs model) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    `| dense | f32 | ${denseLinearBytes} | 1.00× | 32.00 | ${dense.ppl.toFixed(4)} | 0 | 100% | | |`,
  ];
  rows.push({
    method: 'dense',
    setting: 'f32',
    source: 'demo',
    bytes: denseLinearBytes,
    denseBytes: denseLinearBytes,
    bitsPerWeight: 32,
    ppl: dense.ppl,
    kl: 0,
    top1: 1,
    baseline: true,
  });
  let saved: { method: string; path: string; ppl: number } | undefined;
  for (const p of plan) {
    const t0 = performance.now();
    const bar = createProgress(`demo ${p.label}`, 1);
    try {
      const res = await compressWith(p.method, model, {
        ratio: p.ratio,
        bits: p.bits,
        budget: p.budget,
        calibration: split.calibration,
        ttSearch,
        ttCache,
        backend,
        onProgress: (l, d, t) => bar.tick(l, d, t),
      });
      const e = evaluate(res.model, evalWindows, { reference: model, backend });
      const secs = (performance.now() - t0) / 1000;
      bar.done(`ppl ${e.ppl.toFixed(3)}`);
      // every stored tensor counts (QUAD's rotations and outlier columns included)
      const foot = modelFootprint(res.model, params);
      const bytes = foot.linearBytes;
      // the best file llama.cpp / ollama can load (GGUF), read back and scored on the same windows against this model
      const engine = tokenizer ? bestEngineExport(res.model, tokenizer, evalWindows, e.ppl, { backend }) : undefined;
      rows.push({
        method: p.label,
        setting: res.setting,
        source: 'demo',
        bytes,
        denseBytes: denseLinearBytes,
        bitsPerWeight: foot.bitsPerWeight,
        ppl: e.ppl,
        kl: e.kl,
        top1: e.top1,
        components: foot.components,
        engine,
      });
      table.push(
        `| ${p.label} | ${res.setting} | ${bytes} | ${(denseLinearBytes / bytes).toFixed(2)}× | ${foot.bitsPerWeight.toFixed(2)} | ${e.ppl.toFixed(4)} | ${e.kl?.toFixed(4)} | ${((e.top1 ?? 0) * 100).toFixed(1)}% | ${secs.toFixed(1)}s | ${engine ? `${engine.label} ${engine.bytes} B ${engine.lossless ? 'exact' : `${engine.pplDeltaPct >= 0 ? '+' : ''}${engine.pplDeltaPct.toFixed(2)}%`}` : '—'} |`,
      );
      if (p.method !== 'quad' && p.method !== 'quad-a8') {
        for (const entry of model.linears()) {
          const c = res.model.linears().find((x) => x.name === entry.name);
          if (!c) continue;
          const W = entry.layer.toDense().data,
            H = c.layer.toDense().data;
          let num = 0,
            den = 0;
          for (let i = 0; i < W.length; i++) {
            const d = W[i]! - H[i]!;
            num += d * d;
            den += W[i]! * W[i]!;
          }
          layerErrors.push({ method: p.label, layer: entry.name, relErr: Math.sqrt(num / den) });
        }
      }
      if (p.method === 'svd-llm-update') {
        const path = join(outDir, 'stories260K-svd-llm-20.safetensors');
        writeFileAtomic(path, saveModelBytes(res.model));
        const back = loadCompressedModel(new Uint8Array(readFileSync(path)), { kinds: ALL_KINDS, file: path });
        saved = { method: p.label, path, ppl: evaluate(back, evalWindows, { backend }).ppl };
      }
    } catch (err) {
      bar.done('FAILED');
      process.stderr.write(`demo: ${p.label} failed: ${(err as Error).message}\n`);
      table.push(`| ${p.label} | failed: ${(err as Error).message.slice(0, 80)} | | | | | | | | |`);
    }
  }
  const spectra = model
    .linears()
    .filter((e) => e.block === 0)
    .map((e) => ({ layer: e.name, values: Array.from(svdvals(e.layer.toDense().astype('f64')).data as Float64Array) }));
  // fold in the full tables of the eval commands when they have been run
  const resultsDir = resolve('results');
  if (existsSync(resultsDir)) {
    for (const f of readdirSync(resultsDir).filter((x) => x.endsWith('.json') && x !== 'dense.json' && x !== 'demo.json')) {
      try {
        rows.push(...normaliseRows(f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(resultsDir, f), 'utf8')), real ? denseLinearBytes : undefined));
      } catch {
        /* not a table */
      }
    }
  }
  const notes = [
    `Demo rows: ${nWin} evaluation windows of 256 tokens (standard protocol), calibration windows 200..231; command: pnpm demo.`,
    `Other sections come from results/*.json written by pnpm eval:svd-llm, eval:saten, eval:quad, eval:q2n, eval:kv (64 windows).`,
    saved ? `Saved ${saved.method} to ${saved.path}; reloaded perplexity ${saved.ppl.toFixed(4)} (identical model).` : 'No model saved.',
  ];
  notes.push(`Backend: ${sel.describe()}.`);
  const html = renderReport({
    title: 'llmpress — what compression cost',
    subtitle: modelName,
    model: { name: modelName, params: model.denseParams(), bytes: model.storedBytes() },
    dense: { ppl: dense.ppl },
    rows,
    spectra,
    layerErrors,
    notes,
    generatedAt: new Date().toISOString(),
  });
  const reportPath = join(outDir, 'report.html');
  writeFileAtomic(reportPath, new TextEncoder().encode(html));
  const demoJson = new TextEncoder().encode(
    JSON.stringify(
      rows.filter((r) => r.source === 'demo').map((r) => ({ ...r, windows: nWin })),
      null,
      2,
    ) + '\n',
  );
  writeFileAtomic(join(outDir, 'demo.json'), demoJson);
  if (resultsOut) writeFileAtomic(join(resultsOut, 'demo.json'), demoJson);
  process.stdout.write(`\n${table.join('\n')}\n\n${notes[2]}\n${sel.describe()}\nreport: ${reportPath}\n`);
  return rows.some((r) => r.source === 'demo') ? 0 : 1;
}
