/**
 * `pnpm eval:svd-llm [--text file] [--model file.bin] [--tokenizer tok.bin] [--ratios 0.2,0.4,0.6]
 *   [--methods svd,asvd,svd-llm,svd-llm+update] [--eval-windows 64] [--eval-start 0] [--ridge δ] [--update-whitening original|compressed] [--backend wasm|reference] [--out path]`
 *
 * stories260K (default) under the standard protocol (methods.md): evaluation windows 0..63,
 * calibration windows 200..231 of the same text (disjoint, checked). For each ratio of removed
 * parameters (of the compressed linears q,k,v,o,gate,up,down), compress with plain SVD, ASVD
 * (α = 0.5), SVD-LLM (eigh whitening) and SVD-LLM + the closed-form sequential update, then report
 * PPL, KL and top-1 agreement against the dense model. Writes results/svd-llm.json (repository root).
 */
import { mkdirSync, writeFileSync, readFileSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Backend } from '@llmpress/tensor';
import { evaluate, evalSplit, referenceLogits, type LlamaModel } from '@llmpress/models';
import * as modelsNode from '@llmpress/models/node';
import { compressModel, lowRankKinds, type LowRankMethodName } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function arg(name: string, dflt?: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}

async function pickBackend(kind: string): Promise<Backend | undefined> {
  if (kind === 'reference') return undefined;
  try {
    const mod: any = await import('@llmpress/backend-wasm/node' as string);
    const b = await mod.createWasmBackend({ threads: 1 });
    if (b) return b;
  } catch (e) {
    console.error(`[eval:svd-llm] wasm backend unavailable (${(e as Error).message}); using the reference backend`);
  }
  return undefined;
}

interface Row {
  method: string; ratio: number; params: number; bytes: number; ppl: number; kl: number; top1: number;
  nll: number; modelBytes: number; compressSeconds: number; evalSeconds: number;
}

async function main() {
  const backendKind = arg('backend', 'wasm')!;
  const backend = await pickBackend(backendKind);
  const ratios = (arg('ratios', '0.2,0.4,0.6')!).split(',').map(Number);
  const methods = (arg('methods', 'svd,asvd,svd-llm,svd-llm+update')!).split(',');
  const evalCount = Number(arg('eval-windows', '64'));
  const ridge = arg('ridge') !== undefined ? Number(arg('ridge')) : undefined;
  const updateWhitening = arg('update-whitening') as 'original' | 'compressed' | undefined;
  const out = arg('out', join(here, '..', '..', '..', 'results', 'svd-llm.json'))!;
  let model: LlamaModel, encode: (s: string) => number[], text: string, modelName: string;
  const textPath = arg('text');
  if (arg('model')) {
    model = (modelsNode as any).loadModel(arg('model'));
    const tokPath = arg('tokenizer') ?? join(modelsNode.dataDir(), 'stories260K', 'tok512.bin');
    const tok = (modelsNode as any).loadTokenizer(tokPath, { vocabSize: model.config.vocabSize });
    encode = (s) => tok.encode(s);
    text = readFileSync(textPath ?? join(modelsNode.dataDir(), 'tinystories', 'tinystories_val.txt'), 'utf8');
    modelName = arg('model')!;
  } else {
    const s = modelsNode.loadStories260K();
    model = s.model; encode = (x) => s.tokenizer.encode(x); text = textPath ? readFileSync(textPath, 'utf8') : s.text;
    modelName = 'stories260K';
  }
  const evalStart = Number(arg('eval-start', '0'));
  const split = evalSplit(encode(text), { evalCount, evalStart });
  console.log(`# SVD-LLM on ${modelName}: ${split.eval.length} eval windows, ${split.calibration.length} calibration windows (disjoint), backend ${backend?.name ?? 'reference'}`);
  const t0 = performance.now();
  const ref = referenceLogits(model, split.eval, { backend });
  console.log(`reference logits: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const rows: Row[] = [];
  let denseParams = 0;
  for (const e of model.linears()) denseParams += e.layer.params();
  {
    const t = performance.now();
    const r = evaluate(model, split.eval, { reference: ref, backend });
    rows.push({ method: 'dense', ratio: 0, params: denseParams, bytes: 4 * denseParams, ppl: r.ppl, kl: r.kl ?? 0, top1: r.top1 ?? 1, nll: r.nll, modelBytes: model.storedBytes(), compressSeconds: 0, evalSeconds: (performance.now() - t) / 1000 });
    console.log(`dense: ppl ${r.ppl.toFixed(4)}`);
  }
  let reload: Record<string, unknown> = { skipped: 'not run' };
  for (const ratio of ratios) {
    for (const m of methods) {
      const method = (m === 'svd-llm+update' ? 'svd-llm' : m) as LowRankMethodName;
      const update = m === 'svd-llm+update' ? (ridge !== undefined ? { ridge } : true) : false;
      const tc = performance.now();
      const res = await compressModel(model, { method, ratio, update, calibration: split.calibration, backend, updateWhitening });
      const compressSeconds = (performance.now() - tc) / 1000;
      const te = performance.now();
      const r = evaluate(res.model, split.eval, { reference: ref, backend });
      const row: Row = { method: m, ratio, params: res.params, bytes: res.bytes, ppl: r.ppl, kl: r.kl!, top1: r.top1!, nll: r.nll, modelBytes: res.model.storedBytes(), compressSeconds, evalSeconds: (performance.now() - te) / 1000 };
      rows.push(row);
      console.log(`${m} @ ${ratio}: ppl ${r.ppl.toFixed(4)} kl ${r.kl!.toFixed(4)} top1 ${r.top1!.toFixed(4)} (compress ${compressSeconds.toFixed(1)} s, eval ${row.evalSeconds.toFixed(1)} s)`);
      // save + reload once (the SVD-LLM + update model at the middle ratio): must give the same perplexity
      if (m === 'svd-llm+update' && ratio === ratios[Math.floor(ratios.length / 2)]) reload = await saveAndReload(res.model, m, ratio, r.ppl, split, backend);
    }
  }
  const result = { model: modelName, protocol: { evalWindows: split.eval.length, calibrationWindows: split.calibration.length, windowTokens: 256 }, backend: backend?.name ?? 'reference', reload, rows };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  printTable(rows, ratios, methods);
  console.log(`\nreload check: ${JSON.stringify(reload)}`);
  console.log(`wrote ${out}`);
  await (backend as any)?.dispose?.();
}

async function saveAndReload(m: LlamaModel, method: string, ratio: number, ppl: number, split: ReturnType<typeof evalSplit>, backend?: Backend) {
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

function printTable(rows: Row[], ratios: number[], methods: string[]) {
  console.log('\n| method | removed | params (linears) | bytes (linears) | PPL | KL (nats/token) | top-1 |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.method} | ${r.method === 'dense' ? '0%' : `${Math.round(r.ratio * 100)}%`} | ${r.params.toLocaleString('en-US')} | ${r.bytes.toLocaleString('en-US')} | ${r.ppl.toFixed(3)} | ${r.kl.toFixed(4)} | ${(100 * r.top1).toFixed(2)}% |`);
  const get = (m: string, ratio: number) => rows.find((r) => r.method === m && r.ratio === ratio);
  console.log('\nMargins (PPL, lower is better):');
  for (const ratio of ratios) {
    const w = get('svd-llm', ratio), u = get('svd-llm+update', ratio), a = get('asvd', ratio), s = get('svd', ratio);
    const parts: string[] = [];
    if (w && a) parts.push(`SVD-LLM vs ASVD ${(w.ppl - a.ppl).toFixed(3)} (${(100 * (w.ppl / a.ppl - 1)).toFixed(1)}%)`);
    if (w && s) parts.push(`SVD-LLM vs SVD ${(w.ppl - s.ppl).toFixed(3)} (${(100 * (w.ppl / s.ppl - 1)).toFixed(1)}%)`);
    if (u && w) parts.push(`+update vs whitening ${(u.ppl - w.ppl).toFixed(3)} (${(100 * (u.ppl / w.ppl - 1)).toFixed(1)}%)`);
    console.log(`- ${Math.round(ratio * 100)}%: ${parts.join('; ')}`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
