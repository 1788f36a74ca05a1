/**
 * `llmpress` — inspect, compress, eval, kv-eval, report, demo.
 * Exit codes (stable, for scripts): 0 ok · 1 unexpected failure · 2 usage error · 3 bad input
 * file or data · 4 refused to overwrite.
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname, basename } from 'node:path';
import { LlmpressError, ArgumentError } from '@llmpress/tensor';
import { evaluate, evalSplit, standardWindows, contiguousWindows, Fp32KVCache, saveModelBytes, loadCompressedModel, type LlamaModel, type Tokenizer } from '@llmpress/models';
import { CompressedKVCache, kiviKeys, svdqKeys } from '@llmpress/kv-cache';
import { dataDir, loadModel, loadTokenizer, writeFileAtomic } from '@llmpress/models/node';
import { createProgress } from './progress.js';
import { METHODS, ALL_KINDS, compressWith, isMethod, type MethodName } from './methods.js';
import { renderReport, type ReportRow } from './report/report.js';
import { normaliseRows } from './results.js';
import { inspectFile } from './inspect.js';
import { runDemo } from './demo.js';
import { Rng } from '@llmpress/tensor';
import { compressCheckpointStreaming, writeSyntheticCheckpoint, SHAPES, type ShapeName } from '@llmpress/streaming/node';

export const EXIT = { ok: 0, failure: 1, usage: 2, badInput: 3, refused: 4 } as const;

class UsageError extends Error {}

const HELP = `llmpress — compress LLM weights and KV caches

usage:
  llmpress inspect <model>                         format, config, tensors, bytes, dtype histogram
  llmpress compress <model> --method <m> --out <file.safetensors>
           [--ratio 0.4] [--bits 4] [--group-size 32] [--budget 0.4]
           [--calib <text file>] [--tokenizer <file>] [--eval]
           methods: ${METHODS.join(', ')}
           --stream: block by block from a Hugging Face folder (svd-llm, svd, gptq, rtn), resumable, prints peak RSS
           --factor-dtype f32|f16|bf16: low-rank factor storage with --stream (default: the input's dtype)
  llmpress synth <llama-3.2-1b|llama-2-7b|tiny> --out <folder> [--layers N] [--dtype bf16|f16]
  llmpress eval <model> [--text <file>] [--reference <model>] [--windows 64] [--tokenizer <file>]
  llmpress kv-eval <model> [--keys svdq|kivi] [--bits 2] [--center] [--windows 4] [--window 32]
                                                   perplexity with a compressed key cache vs fp32 keys
  llmpress report [--results <dir>] [--out report.html]
  llmpress demo [--windows 16] [--out-dir <dir>]     every method on the real model (or a generated one), then the report

models: llama2.c .bin, .safetensors (file or Hugging Face folder), .gguf, or a compressed .safetensors written by llmpress.
data:   $LLMPRESS_DATA (default ../shared/data) holds stories260K and the held-out text.`;

function out(s: string) { process.stdout.write(s + '\n'); }

/** Loads a dense checkpoint or an llmpress-compressed safetensors file. */
export function openModel(path: string): LlamaModel {
  if (path.endsWith('.safetensors') && existsSync(path) && statSync(path).isFile()) {
    const bytes = new Uint8Array(readFileSync(path));
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const head = n > 0 && n < bytes.length ? new TextDecoder().decode(bytes.subarray(8, 8 + Math.min(n, 1 << 20))) : '';
    if (head.includes('"llmpress')) return loadCompressedModel(bytes, { kinds: ALL_KINDS, file: path });
  }
  return loadModel(path);
}

function findTokenizer(modelPath: string, explicit: string | undefined, vocabSize: number): Tokenizer {
  if (explicit) return loadTokenizer(explicit, { vocabSize });
  const dir = statSync(modelPath).isDirectory() ? modelPath : dirname(modelPath);
  for (const cand of [join(dir, 'tok512.bin'), join(dir, 'tokenizer.bin'), join(dir, 'tokenizer.json')]) {
    if (existsSync(cand)) return loadTokenizer(cand, { vocabSize });
  }
  const dflt = join(dataDir(), 'stories260K', 'tok512.bin');
  if (vocabSize === 512 && existsSync(dflt)) return loadTokenizer(dflt, { vocabSize });
  throw new ArgumentError('llmpress', '--tokenizer', undefined, `is needed: no tokenizer found beside '${modelPath}'`);
}

function defaultText(): string { return join(dataDir(), 'tinystories', 'tinystories_val.txt'); }

async function cmdCompress(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    method: { type: 'string' }, out: { type: 'string' }, ratio: { type: 'string' }, bits: { type: 'string' },
    'group-size': { type: 'string' }, 'factor-dtype': { type: 'string' }, budget: { type: 'string' }, calib: { type: 'string' }, tokenizer: { type: 'string' },
    eval: { type: 'boolean' }, force: { type: 'boolean' }, stream: { type: 'boolean' }, tokens: { type: 'string' },
  } });
  const [input] = positionals;
  if (!input) throw new UsageError('compress: missing <model>');
  if (!values.method || !isMethod(values.method)) throw new UsageError(`compress: --method must be one of ${METHODS.join(', ')}, got ${values.method ?? 'nothing'}`);
  if (!values.out) throw new UsageError('compress: --out <file.safetensors> is required');
  const outPath = resolve(values.out);
  if (resolve(input) === outPath) { process.stderr.write(`compress: refusing to overwrite the input '${input}'\n`); return EXIT.refused; }
  if (existsSync(outPath) && !values.force) { process.stderr.write(`compress: '${values.out}' exists; pass --force to replace it (the input is never touched)\n`); return EXIT.refused; }
  const num = (k: string, v: string | undefined) => { if (v === undefined) return undefined; const x = Number(v); if (!Number.isFinite(x)) throw new UsageError(`compress: --${k} must be a number, got ${v}`); return x; };
  if (values.stream) return await streamCompress(input, outPath, values as any, num);
  const model = openModel(input);
  const tokenizer = findTokenizer(input, values.tokenizer, model.config.vocabSize);
  const text = readFileSync(values.calib ?? defaultText(), 'utf8');
  const split = evalSplit(tokenizer.encode(text));
  const bar = createProgress(`compress ${values.method}`, 1);
  const res = await compressWith(values.method as MethodName, model, {
    ratio: num('ratio', values.ratio), bits: num('bits', values.bits), groupSize: num('group-size', values['group-size']),
    budget: num('budget', values.budget), calibration: split.calibration,
    onProgress: (label, done, total) => bar.tick(label, done, total),
  });
  bar.done();
  writeFileAtomic(outPath, saveModelBytes(res.model), { input });
  out(`| | linears bytes | total bytes | bits/weight (linears) |\n| --- | ---: | ---: | ---: |`);
  out(`| input | ${model.linearBytes()} | ${model.storedBytes()} | ${model.effectiveBitsPerWeight().toFixed(2)} |`);
  out(`| ${values.method} (${res.setting}) | ${res.model.linearBytes()} | ${res.model.storedBytes()} | ${res.model.effectiveBitsPerWeight().toFixed(2)} |`);
  if (values.eval) {
    const windows = split.eval.slice(0, 16);
    const e = evaluate(res.model, windows, { reference: model });
    out(`\nquick eval (16 windows): ppl ${e.ppl.toFixed(4)}, KL ${e.kl?.toFixed(4)}, top-1 ${((e.top1 ?? 0) * 100).toFixed(1)}%`);
  }
  out(`wrote ${values.out}`);
  return EXIT.ok;
}

/** `compress --stream`: block by block from a Hugging Face folder, resumable, bounded memory; prints the peak RSS. */
async function streamCompress(input: string, outPath: string, values: Record<string, string | boolean | undefined>, num: (k: string, v: string | undefined) => number | undefined): Promise<number> {
  const method = values.method as string;
  if (!['svd-llm', 'svd', 'gptq', 'rtn'].includes(method)) throw new UsageError(`compress --stream: --method must be svd-llm, svd, gptq or rtn, got ${method}`);
  const cfg = JSON.parse(readFileSync(join(statSync(input).isDirectory() ? input : dirname(input), 'config.json'), 'utf8'));
  let calibration: number[][];
  const tokens = num('tokens', values.tokens as string | undefined) ?? 512;
  if (values.calib || values.tokenizer) {
    const tok = findTokenizer(input, values.tokenizer as string | undefined, cfg.vocab_size);
    const ids = tok.encode(readFileSync((values.calib as string) ?? defaultText(), 'utf8'));
    calibration = [];
    for (let o = 0; o + 256 <= ids.length && calibration.length * 256 < tokens; o += 256) calibration.push(ids.slice(o, o + 256));
  } else {
    // no tokenizer: deterministic pseudo-random token windows (documented: fine for scale runs, not for quality)
    const rng = new Rng(11);
    calibration = Array.from({ length: Math.max(1, Math.ceil(tokens / 256)) }, () => Array.from({ length: 256 }, () => rng.int(cfg.vocab_size)));
    process.stderr.write('compress --stream: no --tokenizer/--calib given; calibrating on seeded random token windows\n');
  }
  const bar = createProgress(`stream ${method}`, cfg.num_hidden_layers);
  const r = await compressCheckpointStreaming(input, outPath, {
    method: method as any, ratio: num('ratio', values.ratio as string | undefined), bits: num('bits', values.bits as string | undefined),
    groupSize: num('group-size', values['group-size'] as string | undefined), calibration, overwrite: Boolean(values.force),
    factorDtype: values['factor-dtype'] as any,
    onBlock: (b) => bar.tick(`block ${b}`, b + 1),
  });
  bar.done();
  out(`| input MB | output MB | blocks | resumed from block | wall s | peak RSS MB |\n| ---: | ---: | ---: | ---: | ---: | ---: |`);
  out(`| ${(r.inputBytes / 2 ** 20).toFixed(1)} | ${(r.bytes / 2 ** 20).toFixed(1)} | ${r.blocks} | ${r.resumedFrom} | ${r.seconds.toFixed(1)} | ${(r.peakRss / 2 ** 20).toFixed(0)} |`);
  out(`wrote ${outPath}`);
  return EXIT.ok;
}

/** `kv-eval`: perplexity with a compressed key cache (SVDq / KIVI) against fp32 keys, on 512-token windows. */
async function cmdKvEval(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    keys: { type: 'string' }, bits: { type: 'string' }, windows: { type: 'string' }, text: { type: 'string' }, tokenizer: { type: 'string' },
    window: { type: 'string' }, center: { type: 'boolean' }, len: { type: 'string' },
  } });
  const [input] = positionals;
  if (!input) throw new UsageError('kv-eval: missing <model>');
  const codec = values.keys ?? 'svdq';
  if (codec !== 'svdq' && codec !== 'kivi') throw new UsageError(`kv-eval: --keys must be svdq or kivi, got ${codec}`);
  const bits = Number(values.bits ?? (codec === 'kivi' ? 2 : 2));
  if (!(bits > 0 && bits <= 8)) throw new UsageError(`kv-eval: --bits must be in (0, 8], got ${values.bits}`);
  const model = openModel(input);
  const c = model.config;
  const tokenizer = findTokenizer(input, values.tokenizer, c.vocabSize);
  const len = Number(values.len ?? Math.min(512, c.seqLen));
  const count = Number(values.windows ?? 4);
  const windows = contiguousWindows(tokenizer.encode(readFileSync(values.text ?? defaultText(), 'utf8')), { start: 0, count, len });
  const shape = { nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim };
  const keys = codec === 'kivi' ? kiviKeys({ bits }) : svdqKeys({ schedule: { mean: bits } });
  const nll = (logits: Float32Array, targets: number[]) => {
    const V = c.vocabSize; let s = 0;
    targets.forEach((t, i) => { let mx = -Infinity; for (let j = 0; j < V; j++) mx = Math.max(mx, logits[i * V + j]!); let z = 0; for (let j = 0; j < V; j++) z += Math.exp(logits[i * V + j]! - mx); s += mx + Math.log(z) - logits[i * V + t]!; });
    return s;
  };
  let fp = 0, cq = 0, n = 0, keyBytes = 0, fpKeyBytes = 0, bitsPerEl = 0;
  const bar = createProgress('kv-eval', windows.length);
  for (const w of windows) {
    fp += nll(model.forward(w.input, { cache: new Fp32KVCache(c) }).data as Float32Array, w.targets);
    const cache = new CompressedKVCache(shape, { keys, window: Number(values.window ?? 32), maxContext: len, center: Boolean(values.center) });
    cq += nll(model.forward(w.input, { cache }).data as Float32Array, w.targets);
    const b = cache.bytes();
    keyBytes += b.keyBytes; fpKeyBytes += 4 * w.input.length * c.nLayers * c.nKvHeads * c.headDim; bitsPerEl = b.keyBitsPerElement;
    n += w.targets.length;
    bar.tick(`window ${w.index}`);
  }
  bar.done();
  out('| keys | windows × len | ppl (fp32 keys) | ppl (compressed keys) | key bytes | fp32 key bytes | compression | bits / key element |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  out(`| ${codec} ${bits} bits${values.center ? ' centered' : ''} | ${windows.length} × ${len} | ${Math.exp(fp / n).toFixed(4)} | ${Math.exp(cq / n).toFixed(4)} | ${keyBytes} | ${fpKeyBytes} | ${(fpKeyBytes / keyBytes).toFixed(2)}× | ${bitsPerEl.toFixed(2)} |`);
  return EXIT.ok;
}

async function cmdSynth(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, layers: { type: 'string' }, dtype: { type: 'string' }, seed: { type: 'string' } } });
  const shape = positionals[0] as ShapeName;
  if (!shape || !(shape in SHAPES)) throw new UsageError(`synth: <shape> must be one of ${Object.keys(SHAPES).join(', ')}`);
  if (!values.out) throw new UsageError('synth: --out <folder> is required');
  if (values.dtype && values.dtype !== 'bf16' && values.dtype !== 'f16') throw new UsageError(`synth: --dtype must be bf16 or f16, got ${values.dtype}`);
  const bar = createProgress(`synth ${shape}`, 1);
  writeSyntheticCheckpoint(values.out, shape, { dtype: (values.dtype as any) ?? 'bf16', layers: values.layers ? Number(values.layers) : undefined, seed: values.seed ? Number(values.seed) : undefined, onTensor: (n, d, t) => bar.tick(n, d, t) });
  bar.done();
  out(`wrote ${values.out}/config.json and model.safetensors`);
  return EXIT.ok;
}

async function cmdEval(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    text: { type: 'string' }, reference: { type: 'string' }, windows: { type: 'string' }, tokenizer: { type: 'string' }, json: { type: 'boolean' },
  } });
  const [input] = positionals;
  if (!input) throw new UsageError('eval: missing <model>');
  const model = openModel(input);
  const tokenizer = findTokenizer(values.reference ?? input, values.tokenizer, model.config.vocabSize);
  const text = readFileSync(values.text ?? defaultText(), 'utf8');
  const count = Number(values.windows ?? 64);
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`eval: --windows must be a positive integer, got ${values.windows}`);
  const windows = standardWindows(tokenizer.encode(text), { start: 0, count, len: Math.min(256, model.config.seqLen) });
  const reference = values.reference ? openModel(values.reference) : undefined;
  const bar = createProgress('eval', windows.length);
  const r = evaluate(model, windows, { reference, onProgress: (d: number) => bar.tick('window', d) });
  bar.done();
  if (values.json) out(JSON.stringify({ ppl: r.ppl, nll: r.nll, kl: r.kl, top1: r.top1, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond }));
  else {
    out('| model | windows | ppl | KL | top-1 | tokens/s |\n| --- | ---: | ---: | ---: | ---: | ---: |');
    out(`| ${basename(input)} | ${windows.length} | ${r.ppl.toFixed(4)} | ${r.kl === undefined ? '—' : r.kl.toFixed(4)} | ${r.top1 === undefined ? '—' : (100 * r.top1).toFixed(1) + '%'} | ${r.tokensPerSecond.toFixed(0)} |`);
  }
  return EXIT.ok;
}

export function collectReportRows(dir: string): { rows: ReportRow[]; densePpl?: number } {
  const rows: ReportRow[] = [];
  let densePpl: number | undefined;
  if (!existsSync(dir)) return { rows };
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    let json: unknown;
    try { json = JSON.parse(readFileSync(join(dir, f), 'utf8')); } catch { continue; }
    const source = f.replace(/\.json$/, '');
    if (source === 'dense') { densePpl = (json as any)?.ppl; continue; }
    rows.push(...normaliseRows(source, json));
  }
  return { rows, densePpl };
}

async function cmdReport(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { results: { type: 'string' }, out: { type: 'string' } } });
  const dir = resolve(values.results ?? 'results');
  const { rows, densePpl } = collectReportRows(dir);
  if (!rows.length) { process.stderr.write(`report: no result tables (*.json with ppl rows) in ${dir}\n`); return EXIT.badInput; }
  const html = renderReport({ title: 'llmpress report', subtitle: `from ${dir}`, dense: densePpl ? { ppl: densePpl } : undefined, rows, generatedAt: new Date().toISOString() });
  const outPath = resolve(values.out ?? join(dir, 'report.html'));
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(outPath, new TextEncoder().encode(html));
  out(`wrote ${outPath} (${rows.length} rows)`);
  return EXIT.ok;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'inspect': { if (!rest[0]) throw new UsageError('inspect: missing <model>'); out(inspectFile(rest[0])); return EXIT.ok; }
      case 'compress': return await cmdCompress(rest);
      case 'eval': return await cmdEval(rest);
      case 'report': return await cmdReport(rest);
      case 'demo': return await runDemo(rest);
      case 'synth': return await cmdSynth(rest);
      case 'kv-eval': return await cmdKvEval(rest);
      case undefined: case '-h': case '--help': case 'help': out(HELP); return cmd === undefined ? EXIT.usage : EXIT.ok;
      default: throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as any)?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as any)?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`llmpress: ${(e as Error).message}\n\n${HELP}\n`);
      return EXIT.usage;
    }
    if (LlmpressError.isInstance(e)) { process.stderr.write(`llmpress: ${(e as Error).message}\n`); return EXIT.badInput; }
    throw e;
  }
}
