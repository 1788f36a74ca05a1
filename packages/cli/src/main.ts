/**
 * `llmpress` — inspect, compress, synth, eval, kv-eval, report, demo.
 * Exit codes (stable, for scripts): 0 ok · 1 unexpected failure · 2 usage error · 3 bad input
 * file or data · 4 refused (would overwrite, enlarge or re-quantize without --force).
 * Every user error is found before any work where it can be, and is one line on stderr.
 */
import { existsSync, readFileSync, readdirSync, statSync, realpathSync, lstatSync } from 'node:fs';
import { join, resolve, dirname, basename, isAbsolute } from 'node:path';
import { createRequire } from 'node:module';
import { LlmpressError, Rng, DenseLinear, type Tensor } from '@llmpress/tensor';
import {
  SafetensorsFile,
  bytesSource,
  evaluate,
  klStatistics,
  formatKlStats,
  evalSplit,
  standardWindows,
  contiguousWindows,
  Fp32KVCache,
  saveModelBytes,
  loadCompressedModel,
  type LlamaModel,
  type Tokenizer,
  type Window,
} from '@llmpress/models';
import { CompressedKVCache, Fp32KVCache as RecordingKVCache, kiviKeys, kiviValues, svdqKeys, fitKeyBasis, type KeyBasis } from '@llmpress/kv-cache';
import { dataDir, loadModel, loadTokenizer, writeFileAtomic } from '@llmpress/models/node';
import { isBackendKind, BACKEND_KINDS, type SelectedBackend } from '@llmpress/backend-wasm/node';
import { selectCliBackend } from './backend.js';
import { createProgress } from './progress.js';
import { METHODS, METHOD_OPTIONS, ALL_KINDS, compressWith, isMethod, type MethodName } from './methods.js';
import { renderReport, type ReportRow } from './report/report.js';
import { normaliseRows } from './results.js';
import { inspectFile, checkFinite } from './inspect.js';
import { runDemo, DEMO_SPEC } from './demo.js';
import { compressCheckpointStreaming, writeSyntheticCheckpoint, SHAPES, type ShapeName } from '@llmpress/streaming/node';
import { CliError, UsageError, helpFor, parseCommand, numberOpt, choiceOpt, BACKEND_OPT, CHECK_WEIGHTS_OPT, type CommandSpec } from './args.js';
import { inputFootprint, modelFootprint, linearParams } from './footprint.js';
import { EXPORT_SPEC, EXPORT_FORMATS, cmdExport, writeExport, describeExport } from './export.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, badInput: 3, refused: 4 } as const;
export { UsageError, CliError };

export const VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

function out(s: string) {
  process.stdout.write(s + '\n');
}
function warn(s: string) {
  process.stderr.write(s + '\n');
}

/** The caller's folder: INIT_CWD under `pnpm llmpress` (pnpm runs scripts from the root), else the process's. */
export function callerDir(): string {
  const init = process.env.INIT_CWD;
  return init && process.env.npm_lifecycle_event === 'llmpress' && existsSync(init) ? init : process.cwd();
}
let baseDir = process.cwd();
const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));

/** An input file or folder that must exist (exit 3 naming the option and the path otherwise). */
function mustExist(cmd: string, what: string, p: string, kind: 'file' | 'any' = 'any'): string {
  const a = abs(p);
  if (!existsSync(a)) throw new CliError(`${cmd}: ${what} '${p}' does not exist`, 3);
  if (kind === 'file' && statSync(a).isDirectory()) throw new CliError(`${cmd}: ${what} '${p}' is a folder, expected a file`, 3);
  return a;
}

const realOrResolved = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
};

/** The output's folder must exist; the output must not be (a link to) the input; an existing output needs --force. */
function checkOutput(cmd: string, outArg: string, inputs: string[], force: boolean): string {
  const o = abs(outArg);
  const dir = dirname(o);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${cmd}: --out '${outArg}': folder '${dir}' does not exist (create it first)`);
  let isLink = false;
  try {
    isLink = lstatSync(o).isSymbolicLink();
  } catch {
    /* absent */
  }
  const target = realOrResolved(o);
  for (const i of inputs) {
    const ri = realOrResolved(i);
    if (target === ri || (statSync(i).isDirectory() && target.startsWith(ri + '/') && basename(target) === 'model.safetensors'))
      throw new CliError(`${cmd}: refusing to write over the input '${i}'${isLink ? ` (--out '${outArg}' is a link to it)` : ''}`, 4);
  }
  if (existsSync(o) && statSync(o).isDirectory()) throw new UsageError(`${cmd}: --out '${outArg}' is a folder; give a file name`);
  if ((existsSync(o) || isLink) && !force) throw new CliError(`${cmd}: '${outArg}' exists; pass --force to replace it (the input is never touched)`, 4);
  return o;
}

/** Loads a dense checkpoint or an llmpress-compressed safetensors file. */
export function openModel(path: string, options: { checkWeights?: boolean } = {}): LlamaModel {
  let model: LlamaModel | undefined;
  if (path.endsWith('.safetensors') && existsSync(path) && statSync(path).isFile()) {
    const bytes = new Uint8Array(readFileSync(path));
    // the header is validated first, so a short or lying file is a FormatError naming it
    const f = SafetensorsFile.openSync(bytesSource(bytes, path), { file: path });
    if (f.metadata['llmpress.format'] !== undefined || f.metadata['llmpress.layers'] !== undefined)
      model = loadCompressedModel(bytes, { kinds: ALL_KINDS, file: path });
  }
  model ??= loadModel(path);
  if (options.checkWeights) checkFinite(model, path);
  return model;
}

/** Every compressed linear replaced by its dense (dequantized) weight, so any method can start from it. */
function densify(model: LlamaModel): LlamaModel {
  const out = model.clone();
  for (const e of model.linears())
    if (!(e.layer instanceof DenseLinear)) out.setLinear(e.name, new DenseLinear(e.layer.toDense().contiguous() as Tensor<'f32'>));
  return out;
}

function isGguf(path: string): boolean {
  if (!existsSync(path) || statSync(path).isDirectory()) return false;
  const b = readFileSync(path).subarray(0, 4);
  return b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46;
}

function findTokenizer(cmd: string, modelPath: string, explicit: string | undefined, vocabSize: number): Tokenizer {
  if (explicit) return loadTokenizer(mustExist(cmd, '--tokenizer', explicit), { vocabSize });
  // a GGUF carries its own tokenizer (tokenizer.ggml.*)
  if (isGguf(modelPath)) {
    try {
      return loadTokenizer(modelPath, { vocabSize });
    } catch {
      /* no usable tokenizer inside: look beside it */
    }
  }
  const dir = statSync(modelPath).isDirectory() ? modelPath : dirname(modelPath);
  for (const cand of [join(dir, 'tok512.bin'), join(dir, 'tokenizer.bin'), join(dir, 'tokenizer.json')]) {
    if (existsSync(cand)) return loadTokenizer(cand, { vocabSize });
  }
  const dflt = join(dataDir(), 'stories260K', 'tok512.bin');
  if (vocabSize === 512 && existsSync(dflt)) return loadTokenizer(dflt, { vocabSize });
  throw new UsageError(`${cmd}: --tokenizer <file> is needed: no tokenizer inside or beside '${modelPath}'`);
}

function defaultText(): string {
  return join(dataDir(), 'tinystories', 'tinystories_val.txt');
}

function readText(cmd: string, opt: string, p: string | undefined): { text: string; path: string } {
  if (p === undefined) {
    const d = defaultText();
    if (!existsSync(d)) throw new UsageError(`${cmd}: no default text at '${d}'; pass ${opt} <file> (or set LLMPRESS_DATA)`);
    return { text: readFileSync(d, 'utf8'), path: d };
  }
  const a = mustExist(cmd, opt, p, 'file');
  return { text: readFileSync(a, 'utf8'), path: a };
}

async function withBackend<T>(cmd: string, kind: string | undefined, f: (sel: SelectedBackend) => Promise<T>): Promise<T> {
  const k = kind ?? 'auto';
  if (!isBackendKind(k)) throw new UsageError(`${cmd}: --backend must be one of ${BACKEND_KINDS.join(', ')}, got '${k}'`);
  let sel: SelectedBackend;
  try {
    sel = await selectCliBackend(k);
  } catch (e) {
    throw new CliError(`${cmd}: --backend ${k}: ${(e as Error).message}`, 2);
  }
  try {
    return await f(sel);
  } finally {
    await sel.dispose();
  }
}

// ---------------------------------------------------------------------------------------------- compress

const COMPRESS: CommandSpec = {
  name: 'compress',
  summary: 'compress a model with one method and save it',
  usage: 'llmpress compress <model> --method <m> --out <file.safetensors> [options]',
  options: {
    method: { type: 'string', arg: 'm', help: `one of ${METHODS.join(', ')}` },
    out: { type: 'string', arg: 'file', help: 'output .safetensors (its folder must exist)' },
    ratio: { type: 'string', arg: 'r', default: '0.4', help: 'svd, asvd, svd-llm(-update): fraction of linear parameters removed, in (0, 1)' },
    bits: { type: 'string', arg: 'b', default: '4', help: 'rtn, gptq, q2n-*, quad(-a8): weight bits, 2..8' },
    'group-size': {
      type: 'string',
      arg: 'g',
      default: '32 (128 with --stream)',
      help: 'rtn, gptq, q2n-*: columns per scale, must divide some layer width; 0 = per channel',
    },
    budget: { type: 'string', arg: 'f', default: '0.4', help: 'tt, saten, saten-2:4: stored bytes as a fraction of the dense f32 linears, in (0, 1)' },
    'calib-text': {
      type: 'string',
      arg: 'file',
      default: 'the TinyStories validation text',
      help: 'calibration text: its windows 200..231 of 256 tokens (the standard protocol; the text needs 232 windows, about 240 KB)',
    },
    'eval-text': { type: 'string', arg: 'file', default: 'the TinyStories validation text', help: 'with --eval: evaluation text, its windows 0..15' },
    calib: {
      type: 'string',
      arg: 'text file',
      help: 'calibration from the START of a text (up to 32 windows of 256 tokens), for texts shorter than --calib-text needs; not with --calib-text',
    },
    tokenizer: { type: 'string', arg: 'file', default: "the GGUF's own, or one beside the model", help: 'tokenizer (.bin, tokenizer.json, .gguf)' },
    eval: { type: 'boolean', help: 'quick perplexity/KL/top-1 on 16 held-out windows after compressing' },
    force: { type: 'boolean', help: 'replace an existing --out; write even if the output is larger than the input or re-quantizes a quantized input' },
    stream: { type: 'boolean', help: 'block by block from a Hugging Face folder (svd-llm, svd, gptq, rtn), resumable, prints peak RSS' },
    tokens: { type: 'string', arg: 'n', default: '512', help: 'with --stream: calibration tokens' },
    'factor-dtype': { type: 'string', arg: 'f32|f16|bf16', default: "the input's dtype", help: 'with --stream: low-rank factor storage' },
    format: {
      type: 'string',
      arg: 'gguf|hf|gptq',
      help: 'write the result for an engine (llama.cpp GGUF, Hugging Face / GPTQ v1 folder) instead of llmpress safetensors; see llmpress export --help',
    },
    type: {
      type: 'string',
      arg: 'auto|q4_0|q8_0|q4_1|f16|bf16|f32',
      default: 'auto',
      help: 'with --format: GGUF tensor type (auto: what the codes map onto exactly) or the HF dense dtype',
    },
    backend: BACKEND_OPT,
    'check-weights': CHECK_WEIGHTS_OPT,
  },
  notes: ['exit codes: 0 ok, 1 failure, 2 usage, 3 bad input file, 4 refused (exists / larger / re-quantize without --force)'],
};

interface CompressNums {
  ratio?: number;
  bits?: number;
  groupSize?: number;
  budget?: number;
  tokens?: number;
}

function validateCompress(values: Record<string, string | boolean | undefined>, method: MethodName | 'stream'): CompressNums {
  const c = 'compress';
  const allowed = new Set<string>(method === 'stream' ? [] : METHOD_OPTIONS[method]);
  const m = String(values.method);
  if (method === 'stream') {
    if (m === 'svd-llm' || m === 'svd') allowed.add('ratio');
    else {
      allowed.add('bits');
      allowed.add('group-size');
    }
  }
  for (const k of ['ratio', 'bits', 'group-size', 'budget'] as const) {
    if (values[k] !== undefined && !allowed.has(k))
      throw new UsageError(`${c}: --${k} is not used by --method ${m}${allowed.size ? ` (it takes ${[...allowed].map((x) => `--${x}`).join(', ')})` : ''}`);
  }
  if (method !== 'stream')
    for (const k of ['tokens', 'factor-dtype'] as const) if (values[k] !== undefined) throw new UsageError(`${c}: --${k} needs --stream`);
  choiceOpt(c, 'factor-dtype', values['factor-dtype'], ['f32', 'f16', 'bf16'] as const);
  return {
    ratio: numberOpt(c, 'ratio', values.ratio, { min: 0, max: 1, minOpen: true, maxOpen: true }),
    bits: numberOpt(c, 'bits', values.bits, { int: true, min: 2, max: 8 }),
    groupSize: numberOpt(c, 'group-size', values['group-size'], { int: true, min: 0 }),
    budget: numberOpt(c, 'budget', values.budget, { min: 0, max: 1, minOpen: true, maxOpen: true }),
    tokens: numberOpt(c, 'tokens', values.tokens, { int: true, min: 1 }),
  };
}

/**
 * Calibration windows of `len` tokens: windows 200..231 of --calib-text (default the TinyStories validation text,
 * whose windows 0..63 are then the evaluation windows, checked disjoint), or up to 32 from the start of --calib.
 */
function calibrationWindows(
  cmd: string,
  calib: string | undefined,
  tokenizer: Tokenizer,
  len: number,
  calibText?: string,
): { calibration: Window[]; eval?: Window[] } {
  if (calib === undefined && calibText !== undefined) {
    const ids = tokenizer.encode(readText(cmd, '--calib-text', calibText).text);
    const available = Math.floor((ids.length - 1) / len);
    if (available < 232)
      throw new CliError(
        `${cmd}: --calib-text '${calibText}' holds ${available} windows of ${len} tokens; calibration takes windows 200..231 (232 needed, about ${Math.ceil((232 * len * 4) / 1000)} KB of text). Pass a longer text, or --calib '${calibText}' to calibrate on its start`,
        3,
      );
    return { calibration: standardWindows(ids, { start: 200, count: 32, len }) };
  }
  if (calib === undefined) {
    const { text } = readText(cmd, '--calib-text', undefined);
    const split = evalSplit(tokenizer.encode(text), { len });
    return { calibration: split.calibration, eval: split.eval };
  }
  const { text } = readText(cmd, '--calib', calib);
  const ids = tokenizer.encode(text);
  const available = Math.floor((ids.length - 1) / len);
  if (available < 1)
    throw new CliError(
      `${cmd}: --calib '${calib}' has ${Math.max(0, ids.length - 1)} tokens; one calibration window needs ${len} (about ${len * 4} characters of text)`,
      3,
    );
  const count = Math.min(32, available);
  if (count < 32)
    warn(
      `${cmd}: --calib '${calib}' holds ${count} window${count === 1 ? '' : 's'} of ${len} tokens; calibrating on ${count} (32 are used when the text is long enough)`,
    );
  return { calibration: standardWindows(ids, { start: 0, count, len }) };
}

const fmtBits = (b: number) => b.toFixed(2);

/** `compress --eval`: windows 0..15 (fewer when the text is shorter, with a warning) of the evaluation text. */
function quickEvalWindows(ids: readonly number[], len: number, evalText: string | undefined): Window[] {
  const available = Math.floor((ids.length - 1) / len);
  if (available < 1) throw new CliError(`compress: --eval-text '${evalText}' has ${Math.max(0, ids.length - 1)} tokens; one evaluation window needs ${len}`, 3);
  if (available < 16)
    warn(`compress: --eval-text '${evalText}' holds ${available} window${available === 1 ? '' : 's'} of ${len} tokens; evaluating ${available}`);
  return standardWindows(ids, { start: 0, count: Math.min(16, available), len });
}

async function cmdCompress(argv: string[]): Promise<number> {
  const p = parseCommand(COMPRESS, argv);
  if (p.help) {
    out(helpFor(COMPRESS));
    return EXIT.ok;
  }
  const { values, positionals } = p;
  const [inputArg, ...extra] = positionals;
  if (!inputArg) throw new UsageError('compress: missing <model>');
  if (extra.length) throw new UsageError(`compress: unexpected argument '${extra[0]}'`);
  if (!values.method || !isMethod(values.method))
    throw new UsageError(`compress: --method must be one of ${METHODS.join(', ')}, got '${values.method ?? 'nothing'}'`);
  if (!values.out) throw new UsageError('compress: --out <file.safetensors> is required');
  const method = values.method as MethodName;
  if (values.stream && !['svd-llm', 'svd', 'gptq', 'rtn'].includes(method))
    throw new UsageError(`compress --stream: --method must be svd-llm, svd, gptq or rtn, got '${method}'`);
  const nums = validateCompress(values, values.stream ? 'stream' : method);
  if (values.backend !== undefined && !isBackendKind(values.backend))
    throw new UsageError(`compress: --backend must be one of ${BACKEND_KINDS.join(', ')}, got '${values.backend}'`);
  const input = mustExist('compress', '<model>', inputArg);
  if (values.calib !== undefined) mustExist('compress', '--calib', String(values.calib), 'file');
  if (values.calib !== undefined && values['calib-text'] !== undefined)
    throw new UsageError('compress: give --calib-text FILE (its windows 200..231) or --calib FILE (its start), not both');
  if (values['calib-text'] !== undefined) mustExist('compress', '--calib-text', String(values['calib-text']), 'file');
  if (values['eval-text'] !== undefined && !values.eval) throw new UsageError('compress: --eval-text needs --eval (it names the text of the quick evaluation)');
  if (values['eval-text'] !== undefined) mustExist('compress', '--eval-text', String(values['eval-text']), 'file');
  if (values.tokenizer !== undefined) mustExist('compress', '--tokenizer', String(values.tokenizer));
  const outPath = checkOutput('compress', String(values.out), [input], Boolean(values.force));
  const format = choiceOpt('compress', 'format', values.format, EXPORT_FORMATS);
  if (values.type !== undefined && !format) throw new UsageError('compress: --type needs --format');
  if (format && values.stream) throw new UsageError('compress: --format does not combine with --stream (run llmpress export on the streamed result)');
  if (values.stream) return await streamCompress(input, outPath, values, nums);

  let model = openModel(input, { checkWeights: Boolean(values['check-weights']) });
  const params = linearParams(model);
  const inFoot = inputFootprint(input, model);
  if (nums.groupSize !== undefined && nums.groupSize > 0) {
    const widths = [...new Set(model.linears().map((e) => e.layer.inFeatures))];
    if (!widths.some((n) => n % nums.groupSize! === 0))
      throw new UsageError(
        `compress: --group-size ${nums.groupSize} divides none of the layer widths (${widths.join(', ')}); use a divisor (e.g. ${
          widths
            .map((n) => [32, 16, 8, 4].find((g) => n % g === 0) ?? 0)
            .filter(Boolean)
            .join(' or ') || 0
        }) or 0 for per channel`,
      );
  }
  const quantizing = ['rtn', 'gptq', 'q2n-rtn', 'q2n-gptq', 'quad', 'quad-a8'].includes(method);
  if (inFoot.quantized && !values.force) {
    throw new CliError(
      `compress: '${inputArg}' is already quantized (${inFoot.dtypes.join(', ')}, ${fmtBits(inFoot.bitsPerWeight)} bits/weight); ${quantizing ? 're-quantizing' : 'compressing'} its dequantized weights compounds the error and may grow the file. Compress the float original, or pass --force`,
      4,
    );
  }
  if (inFoot.quantized) model = densify(model); // --force: the methods start from the dequantized weights
  // plain SVD is data-free: it needs no tokenizer or text unless --eval or --calib/--calib-text asks for them
  const dataFree = method === 'svd' && !values.eval && values.calib === undefined && values['calib-text'] === undefined;
  const tokenizer = dataFree ? undefined : findTokenizer('compress', input, values.tokenizer as string | undefined, model.config.vocabSize);
  const len = Math.min(256, model.config.seqLen);
  const cal: { calibration: Window[]; eval?: Window[] } = tokenizer
    ? calibrationWindows('compress', values.calib as string | undefined, tokenizer, len, values['calib-text'] as string | undefined)
    : { calibration: [] };

  return await withBackend('compress', values.backend as string | undefined, async (sel) => {
    const bar = createProgress(`compress ${method}`, 1);
    const res = await compressWith(method, model, {
      ratio: nums.ratio,
      bits: nums.bits,
      groupSize: nums.groupSize,
      budget: nums.budget,
      calibration: cal.calibration,
      backend: sel.backend,
      onProgress: (label, done, total) => bar.tick(label, done, total),
    });
    bar.done();
    const o = modelFootprint(res.model, params);
    if (o.linearBytes > inFoot.linearBytes && !values.force) {
      throw new CliError(
        `compress: ${method} (${res.setting}) would store the linears in ${o.linearBytes} B, more than the input's ${inFoot.linearBytes} B (${inFoot.dtypes.join(', ')}); nothing written. Pass --force to write it anyway`,
        4,
      );
    }
    if (o.linearBytes > inFoot.linearBytes)
      warn(`compress: warning: the output's linears (${o.linearBytes} B) are larger than the input's (${inFoot.linearBytes} B)`);
    if (inFoot.quantized) warn(`compress: warning: the input was already quantized (${inFoot.dtypes.join(', ')}); written because of --force`);
    const exp = format
      ? writeExport(format, outPath, res.model, {
          type: values.type as any,
          tokenizer: values.tokenizer === undefined ? undefined : abs(String(values.tokenizer)),
          modelPath: input,
        })
      : undefined;
    const bytes = exp ? undefined : saveModelBytes(res.model);
    if (bytes) writeFileAtomic(outPath, bytes, { input });
    out(`| | linears bytes | all tensors bytes | bits/weight (linears) | linears ratio |\n| --- | ---: | ---: | ---: | ---: |`);
    out(`| input (${inFoot.dtypes.join(', ')}) | ${inFoot.linearBytes} | ${inFoot.totalBytes} | ${fmtBits(inFoot.bitsPerWeight)} | 1.00× |`);
    out(
      `| ${method} (${res.setting}) | ${o.linearBytes} | ${o.totalBytes} | ${fmtBits(o.bitsPerWeight)} | ${(inFoot.linearBytes / o.linearBytes).toFixed(2)}× |`,
    );
    if (values.eval) {
      const evalText = values['eval-text'] as string | undefined;
      const windows =
        evalText === undefined && cal.eval
          ? cal.eval.slice(0, 16)
          : quickEvalWindows(tokenizer!.encode(readText('compress', '--eval-text', evalText).text), len, evalText);
      const e = evaluate(res.model, windows, { reference: model, backend: sel.backend } as any);
      out(
        `\nquick eval (${windows.length} windows${evalText === undefined ? '' : ` of ${basename(evalText)}`}): ppl ${e.ppl.toFixed(4)}, KL ${e.kl?.toFixed(4)}, top-1 ${((e.top1 ?? 0) * 100).toFixed(1)}%`,
      );
    }
    out(sel.describe());
    if (exp) for (const l of describeExport(outPath, format!, exp.report)) out(l);
    else out(`wrote ${values.out} (${bytes!.length} bytes)`);
    return EXIT.ok;
  });
}

/** `compress --stream`: block by block from a Hugging Face folder, resumable, bounded memory; prints the peak RSS. */
async function streamCompress(input: string, outPath: string, values: Record<string, string | boolean | undefined>, nums: CompressNums): Promise<number> {
  const method = values.method as string;
  const dir = statSync(input).isDirectory() ? input : dirname(input);
  const cfgPath = join(dir, 'config.json');
  if (isGguf(input) || input.endsWith('.bin') || !existsSync(cfgPath)) {
    throw new UsageError(
      `compress --stream: needs a Hugging Face folder (config.json + model.safetensors); '${input}' is ${isGguf(input) ? 'a GGUF file' : input.endsWith('.bin') ? 'a llama2.c checkpoint' : 'not beside a config.json'} — drop --stream to compress it in memory`,
    );
  }
  let cfg: { vocab_size: number; num_hidden_layers: number };
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new CliError(`compress --stream: '${cfgPath}' is not valid JSON (${(e as Error).message})`, 3);
  }
  let calibration: number[][];
  const tokens = nums.tokens ?? 512;
  if (values.calib || values['calib-text'] || values.tokenizer) {
    const tok = findTokenizer('compress', input, values.tokenizer as string | undefined, cfg.vocab_size);
    // --calib: from the start of the text; --calib-text (or neither): from window 200 on, as the standard protocol
    const fromStart = Boolean(values.calib);
    const opt = fromStart ? '--calib' : '--calib-text';
    const ids = tok.encode(readText('compress', opt, (values.calib ?? values['calib-text']) as string | undefined).text);
    calibration = [];
    for (let o = fromStart ? 0 : 200 * 256; o + 256 <= ids.length && calibration.length * 256 < tokens; o += 256) calibration.push(ids.slice(o, o + 256));
    if (!calibration.length)
      throw new CliError(
        `compress --stream: ${opt} has ${ids.length} tokens; ${fromStart ? 'one window needs 256' : `calibration starts at window 200 (token ${200 * 256}); pass --calib FILE to calibrate on the start of a short text`}`,
        3,
      );
  } else {
    // no tokenizer: deterministic pseudo-random token windows (documented: fine for scale runs, not for quality)
    const rng = new Rng(11);
    calibration = Array.from({ length: Math.max(1, Math.ceil(tokens / 256)) }, () => Array.from({ length: 256 }, () => rng.int(cfg.vocab_size)));
    warn('compress --stream: no --tokenizer/--calib-text/--calib given; calibrating on seeded random token windows');
  }
  return await withBackend('compress', values.backend as string | undefined, async (sel) => {
    const bar = createProgress(`stream ${method}`, cfg.num_hidden_layers);
    const r = await compressCheckpointStreaming(input, outPath, {
      method: method as any,
      ratio: nums.ratio,
      bits: nums.bits,
      groupSize: nums.groupSize,
      calibration,
      overwrite: Boolean(values.force),
      factorDtype: values['factor-dtype'] as any,
      backend: sel.backend,
      onBlock: (b) => bar.tick(`block ${b}`, b + 1),
      // within a block: one event per read / group compressed (a line at least every 3 s while they arrive)
      onProgress: (stage, done, total) => bar.tick(stage, done, total),
    });
    bar.done();
    out(`| input MB | output MB | blocks | resumed from block | wall s | peak RSS MB |\n| ---: | ---: | ---: | ---: | ---: | ---: |`);
    out(
      `| ${(r.inputBytes / 2 ** 20).toFixed(1)} | ${(r.bytes / 2 ** 20).toFixed(1)} | ${r.blocks} | ${r.resumedFrom} | ${r.seconds.toFixed(1)} | ${(r.peakRss / 2 ** 20).toFixed(0)} |`,
    );
    out(sel.describe());
    out(`wrote ${outPath}`);
    return EXIT.ok;
  });
}

// ---------------------------------------------------------------------------------------------- kv-eval

const KV_EVAL: CommandSpec = {
  name: 'kv-eval',
  summary: 'perplexity with a compressed key cache vs fp32 keys (every row of the KV table)',
  usage: 'llmpress kv-eval <model> [options]',
  options: {
    keys: {
      type: 'string',
      arg: 'svdq|kivi|per-channel',
      default: 'svdq',
      help: 'key codec: SVDq latent channels, KIVI raw channels, or raw channels by variance with the SVDq schedule',
    },
    bits: { type: 'string', arg: 'b', default: '2', help: 'key bits per element (svdq/per-channel: the mean of the schedule), in (0, 8]' },
    allocation: { type: 'string', arg: 'preset|waterfill|flat', default: 'flat', help: 'svdq/per-channel: how the mean bits spread over channels' },
    basis: {
      type: 'string',
      arg: 'prefill|calib',
      default: 'prefill',
      help: 'svdq: basis from the prefill keys, or fitted on --calib-windows calibration windows',
    },
    center: { type: 'boolean', help: 'subtract the per-head key mean (default for svdq)' },
    uncentered: { type: 'boolean', help: 'do not center (default for kivi and per-channel)' },
    'one-bit': { type: 'string', arg: 'minmax|means', default: 'minmax', help: '1-bit channels: levels at min/max or at the conditional means' },
    keep: { type: 'string', arg: 'f', default: '1', help: 'attend only the top fraction f of quantized tokens (sparsity), in (0, 1]' },
    values: { type: 'string', arg: 'fp32|kivi', default: 'fp32', help: 'value codec' },
    'value-bits': { type: 'string', arg: 'b', default: '--bits', help: 'with --values kivi: value bits (integer 1..8)' },
    windows: { type: 'string', arg: 'n', default: '4', help: 'evaluation windows (positive integer)' },
    'calib-windows': { type: 'string', arg: 'n', default: '8', help: 'with --basis calib: calibration windows, taken after the evaluation windows' },
    window: { type: 'string', arg: 'n', default: '32', help: 'recent tokens kept in fp32 (non-negative integer)' },
    block: { type: 'string', arg: 'n', default: '32', help: 'tokens per quantization block (multiple of 8)' },
    len: { type: 'string', arg: 'n', default: "min(512, the model's context)", help: 'tokens per window' },
    text: { type: 'string', arg: 'file', default: 'held-out TinyStories', help: 'evaluation text' },
    tokenizer: { type: 'string', arg: 'file', default: "the GGUF's own, or one beside the model", help: 'tokenizer' },
    backend: BACKEND_OPT,
    'check-weights': CHECK_WEIGHTS_OPT,
  },
  notes: [
    "The default is the KV table's best row (results/kv.json): SVDq 2 bits, flat schedule, prefill basis, centered (ppl 4.22 vs 3.97 fp32, 5.95× smaller keys).",
    'Every row of the table: e.g. --keys kivi --bits 2 [--values kivi]; --keys svdq --bits 1.25 --allocation preset --basis calib [--keep 0.125] [--one-bit means]; --keys per-channel --bits 1.5 --allocation flat.',
  ],
};

async function cmdKvEval(argv: string[]): Promise<number> {
  const p = parseCommand(KV_EVAL, argv);
  if (p.help) {
    out(helpFor(KV_EVAL));
    return EXIT.ok;
  }
  const { values, positionals } = p;
  const [inputArg] = positionals;
  if (!inputArg) throw new UsageError('kv-eval: missing <model>');
  const C = 'kv-eval';
  const codec = choiceOpt(C, 'keys', values.keys, ['svdq', 'kivi', 'per-channel'] as const) ?? 'svdq';
  const bits = numberOpt(C, 'bits', values.bits, { min: 0, max: 8, minOpen: true }) ?? 2;
  if (codec === 'kivi' && !Number.isInteger(bits)) throw new UsageError(`kv-eval: --bits must be an integer for kivi, got '${values.bits}'`);
  const allocation = choiceOpt(C, 'allocation', values.allocation, ['preset', 'waterfill', 'flat'] as const) ?? 'flat';
  const basisKind = choiceOpt(C, 'basis', values.basis, ['prefill', 'calib'] as const) ?? 'prefill';
  const oneBit = choiceOpt(C, 'one-bit', values['one-bit'], ['minmax', 'means'] as const) ?? 'minmax';
  const valuesCodec = choiceOpt(C, 'values', values.values, ['fp32', 'kivi'] as const) ?? 'fp32';
  const valueBits = numberOpt(C, 'value-bits', values['value-bits'], { int: true, min: 1, max: 8 });
  const keep = numberOpt(C, 'keep', values.keep, { min: 0, max: 1, minOpen: true }) ?? 1;
  const count = numberOpt(C, 'windows', values.windows, { int: true, min: 1 }) ?? 4;
  const calibCount = numberOpt(C, 'calib-windows', values['calib-windows'], { int: true, min: 1 }) ?? 8;
  const recent = numberOpt(C, 'window', values.window, { int: true, min: 0 }) ?? 32;
  const block = numberOpt(C, 'block', values.block, { int: true, min: 8 }) ?? 32;
  if (block % 8 !== 0) throw new UsageError(`kv-eval: --block must be a multiple of 8, got '${values.block}'`);
  const lenOpt = numberOpt(C, 'len', values.len, { int: true, min: 2 });
  if (values.center && values.uncentered) throw new UsageError('kv-eval: --center and --uncentered contradict each other');
  if (codec !== 'svdq' && values.basis !== undefined) throw new UsageError(`kv-eval: --basis is used by --keys svdq only`);
  if (codec === 'kivi' && values.allocation !== undefined) throw new UsageError('kv-eval: --allocation is not used by --keys kivi (every channel gets --bits)');
  if (valuesCodec === 'fp32' && valueBits !== undefined) throw new UsageError('kv-eval: --value-bits needs --values kivi');
  if (basisKind !== 'calib' && values['calib-windows'] !== undefined) throw new UsageError('kv-eval: --calib-windows needs --basis calib');
  const center = values.center ? true : values.uncentered ? false : codec === 'svdq';
  if (values.backend !== undefined && !isBackendKind(values.backend))
    throw new UsageError(`kv-eval: --backend must be one of ${BACKEND_KINDS.join(', ')}, got '${values.backend}'`);
  const input = mustExist(C, '<model>', inputArg);
  if (values.text !== undefined) mustExist(C, '--text', String(values.text), 'file');
  const model = openModel(input, { checkWeights: Boolean(values['check-weights']) });
  const c = model.config;
  if (lenOpt !== undefined && lenOpt > c.seqLen) throw new UsageError(`kv-eval: --len must be at most the model's context ${c.seqLen}, got ${lenOpt}`);
  const len = lenOpt ?? Math.min(512, c.seqLen);
  if (recent > len) throw new UsageError(`kv-eval: --window ${recent} must not exceed --len ${len}`);
  const tokenizer = findTokenizer(C, input, values.tokenizer as string | undefined, c.vocabSize);
  const ids = tokenizer.encode(readText(C, '--text', values.text as string | undefined).text);
  const available = Math.floor((ids.length - 1) / len);
  const need = count + (basisKind === 'calib' ? calibCount : 0);
  if (available < need)
    throw new CliError(
      `kv-eval: the text has ${available} windows of ${len} tokens; ${count} evaluation${basisKind === 'calib' ? ` + ${calibCount} calibration` : ''} windows need ${need} (lower --windows or --len, or pass a longer --text)`,
      3,
    );
  const windows = contiguousWindows(ids, { start: 0, count, len });
  const shape = { nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim };
  const schedule = { mean: bits, allocation };
  let basis: 'prefill' | 'prefill-channels' | KeyBasis[][] = codec === 'per-channel' ? 'prefill-channels' : 'prefill';
  if (basisKind === 'calib') {
    // calibration keys from windows after the evaluation windows (disjoint), one basis per layer and KV head
    const calKeys: Float32Array[][] = Array.from({ length: c.nLayers }, () => Array.from({ length: c.nKvHeads }, () => new Float32Array(0)));
    for (const w of contiguousWindows(ids, { start: count, count: calibCount, len })) {
      const fc = new RecordingKVCache(shape);
      model.forward(w.input, { cache: fc });
      for (let l = 0; l < c.nLayers; l++)
        for (let h = 0; h < c.nKvHeads; h++) {
          const k = fc.keys(l, h),
            a = calKeys[l]![h]!;
          const m = new Float32Array(a.length + k.length);
          m.set(a);
          m.set(k, a.length);
          calKeys[l]![h] = m;
        }
    }
    basis = calKeys.map((hs) => hs.map((k) => fitKeyBasis(k, k.length / c.headDim, c.headDim, { center })));
  }
  const keys = codec === 'kivi' ? kiviKeys({ bits, oneBit }) : svdqKeys({ schedule, basis, oneBit });
  const valueCodec = valuesCodec === 'kivi' ? kiviValues({ bits: valueBits ?? Math.max(1, Math.round(bits)) }) : undefined;
  const label = `${codec} ${bits} bits${codec !== 'kivi' ? ` ${allocation}` : ''}${codec === 'svdq' ? ` ${basisKind}` : ''}${center ? ' centered' : ''}${oneBit === 'means' ? ' 1-bit means' : ''}${keep < 1 ? ` keep ${keep}` : ''}${valueCodec ? ` + values kivi ${valueBits ?? Math.max(1, Math.round(bits))}` : ''}`;
  const nll = (logits: Float32Array, targets: number[]) => {
    const V = c.vocabSize;
    let s = 0;
    targets.forEach((t, i) => {
      let mx = -Infinity;
      for (let j = 0; j < V; j++) mx = Math.max(mx, logits[i * V + j]!);
      let z = 0;
      for (let j = 0; j < V; j++) z += Math.exp(logits[i * V + j]! - mx);
      s += mx + Math.log(z) - logits[i * V + t]!;
    });
    return s;
  };
  return await withBackend(C, values.backend as string | undefined, async (sel) => {
    let fp = 0,
      cq = 0,
      n = 0,
      keyBytes = 0,
      fpKeyBytes = 0,
      bitsPerEl = 0;
    const bar = createProgress(C, windows.length);
    for (const w of windows) {
      fp += nll(model.forward(w.input, { cache: new Fp32KVCache(c), backend: sel.backend }).data as Float32Array, w.targets);
      const cache = new CompressedKVCache(shape, {
        keys,
        values: valueCodec,
        window: recent,
        blockSize: block,
        maxContext: len,
        center,
        sparsity: keep < 1 ? { keep } : undefined,
      });
      cq += nll(model.forward(w.input, { cache, backend: sel.backend }).data as Float32Array, w.targets);
      const b = cache.bytes();
      keyBytes += b.keyBytes;
      fpKeyBytes += 4 * w.input.length * c.nLayers * c.nKvHeads * c.headDim;
      bitsPerEl = b.keyBitsPerElement;
      n += w.targets.length;
      bar.tick(`window ${w.index}`);
    }
    bar.done();
    out(
      '| keys | windows × len | ppl (fp32 keys) | ppl (compressed keys) | key bytes | fp32 key bytes | compression | bits / key element |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    out(
      `| ${label} | ${windows.length} × ${len} | ${Math.exp(fp / n).toFixed(4)} | ${Math.exp(cq / n).toFixed(4)} | ${keyBytes} | ${fpKeyBytes} | ${(fpKeyBytes / keyBytes).toFixed(2)}× | ${bitsPerEl.toFixed(2)} |`,
    );
    out(sel.describe());
    return EXIT.ok;
  });
}

// ---------------------------------------------------------------------------------------------- synth

const SYNTH: CommandSpec = {
  name: 'synth',
  summary: 'write a synthetic Hugging Face checkpoint of a real shape (for scale runs)',
  usage: `llmpress synth <${Object.keys(SHAPES).join('|')}> --out <new folder> [options]`,
  options: {
    out: { type: 'string', arg: 'folder', help: 'a folder that does not exist yet (its parent must)' },
    layers: { type: 'string', arg: 'n', default: "the shape's", help: 'number of blocks (positive integer)' },
    dtype: { type: 'string', arg: 'bf16|f16', default: 'bf16', help: 'weight dtype' },
    seed: { type: 'string', arg: 'n', default: '0', help: 'random seed (non-negative integer)' },
  },
};

async function cmdSynth(argv: string[]): Promise<number> {
  const p = parseCommand(SYNTH, argv);
  if (p.help) {
    out(helpFor(SYNTH));
    return EXIT.ok;
  }
  const { values, positionals } = p;
  const shape = positionals[0] as ShapeName;
  if (!shape || !(shape in SHAPES)) throw new UsageError(`synth: <shape> must be one of ${Object.keys(SHAPES).join(', ')}, got '${shape ?? 'nothing'}'`);
  if (!values.out) throw new UsageError('synth: --out <folder> is required');
  const dtype = choiceOpt('synth', 'dtype', values.dtype, ['bf16', 'f16'] as const) ?? 'bf16';
  const layers = numberOpt('synth', 'layers', values.layers, { int: true, min: 1, max: 1024 });
  const seed = numberOpt('synth', 'seed', values.seed, { int: true, min: 0, max: 2 ** 32 - 1 });
  const o = abs(String(values.out));
  if (!existsSync(dirname(o))) throw new UsageError(`synth: --out '${values.out}': folder '${dirname(o)}' does not exist (create it first)`);
  if (existsSync(o)) throw new CliError(`synth: '${values.out}' already exists; give a new folder name (synth never writes into an existing path)`, 4);
  const bar = createProgress(`synth ${shape}`, 1);
  writeSyntheticCheckpoint(o, shape, { dtype, layers, seed, onTensor: (n, d, t) => bar.tick(n, d, t) });
  bar.done();
  out(`wrote ${values.out}/config.json and model.safetensors`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------- eval

const EVAL: CommandSpec = {
  name: 'eval',
  summary: 'perplexity (and KL / top-1 against a reference) on held-out windows',
  usage: 'llmpress eval <model> [options]',
  options: {
    'eval-text': { type: 'string', arg: 'file', default: 'the TinyStories validation text', help: 'evaluation text: its windows 0..n-1' },
    text: { type: 'string', arg: 'file', help: 'the old name of --eval-text (still accepted; not with --eval-text)' },
    reference: { type: 'string', arg: 'model', help: 'dense model for KL and top-1 agreement' },
    windows: { type: 'string', arg: 'n', default: '64', help: 'windows of min(256, context) tokens (positive integer)' },
    tokenizer: { type: 'string', arg: 'file', default: "the GGUF's own, or one beside the model (or the reference)", help: 'tokenizer' },
    json: { type: 'boolean', help: 'print one JSON object instead of the table' },
    backend: BACKEND_OPT,
    'check-weights': CHECK_WEIGHTS_OPT,
  },
};

async function cmdEval(argv: string[]): Promise<number> {
  const p = parseCommand(EVAL, argv);
  if (p.help) {
    out(helpFor(EVAL));
    return EXIT.ok;
  }
  const { values, positionals } = p;
  const [inputArg] = positionals;
  if (!inputArg) throw new UsageError('eval: missing <model>');
  const count = numberOpt('eval', 'windows', values.windows, { int: true, min: 1 }) ?? 64;
  if (values.backend !== undefined && !isBackendKind(values.backend))
    throw new UsageError(`eval: --backend must be one of ${BACKEND_KINDS.join(', ')}, got '${values.backend}'`);
  const input = mustExist('eval', '<model>', inputArg);
  const refPath = values.reference !== undefined ? mustExist('eval', '--reference', String(values.reference)) : undefined;
  if (values.text !== undefined && values['eval-text'] !== undefined) throw new UsageError('eval: --text is the old name of --eval-text; give one');
  const textOpt = values['eval-text'] !== undefined ? '--eval-text' : '--text';
  const textArg = (values['eval-text'] ?? values.text) as string | undefined;
  if (textArg !== undefined) mustExist('eval', textOpt, String(textArg), 'file');
  const model = openModel(input, { checkWeights: Boolean(values['check-weights']) });
  let tokenizer: Tokenizer;
  try {
    tokenizer = findTokenizer('eval', input, values.tokenizer as string | undefined, model.config.vocabSize);
  } catch (e) {
    if (!refPath || values.tokenizer) throw e;
    tokenizer = findTokenizer('eval', refPath, undefined, model.config.vocabSize);
  }
  const ids = tokenizer.encode(readText('eval', textOpt, textArg).text);
  const len = Math.min(256, model.config.seqLen);
  const available = Math.floor((ids.length - 1) / len);
  if (available < 1) throw new CliError(`eval: the text has ${ids.length - 1} tokens; one window needs ${len}`, 3);
  const n = Math.min(count, available);
  if (n < count) warn(`eval: the text holds ${available} windows of ${len} tokens; evaluating ${n}`);
  const windows = standardWindows(ids, { start: 0, count: n, len });
  const reference = refPath ? openModel(refPath) : undefined;
  return await withBackend('eval', values.backend as string | undefined, async (sel) => {
    const bar = createProgress('eval', windows.length);
    const r = evaluate(model, windows, { reference, backend: sel.backend, onProgress: (d: number) => bar.tick('window', d) } as any);
    bar.done();
    // llama-perplexity --kl-divergence statistics against the reference (KL percentiles, RMS Δp, same top p)
    const klStats = reference ? klStatistics(model, windows, { reference, backend: sel.backend }) : undefined;
    if (values.json)
      out(
        JSON.stringify({
          ppl: r.ppl,
          nll: r.nll,
          kl: r.kl,
          top1: r.top1,
          klStats,
          tokens: r.tokens,
          tokensPerSecond: r.tokensPerSecond,
          windows: windows.length,
          backend: sel.name,
          fallbacks: sel.fallbacks(),
        }),
      );
    else {
      out('| model | windows | ppl | KL | top-1 | tokens/s |\n| --- | ---: | ---: | ---: | ---: | ---: |');
      out(
        `| ${basename(input)} | ${windows.length} | ${r.ppl.toFixed(4)} | ${r.kl === undefined ? '—' : r.kl.toFixed(4)} | ${r.top1 === undefined ? '—' : (100 * r.top1).toFixed(1) + '%'} | ${r.tokensPerSecond.toFixed(0)} |`,
      );
      if (klStats) out('\n' + formatKlStats(klStats));
      out(sel.describe());
    }
    return EXIT.ok;
  });
}

// ---------------------------------------------------------------------------------------------- report

export function collectReportRows(dir: string): { rows: ReportRow[]; densePpl?: number; dense?: Record<string, number> } {
  const rows: ReportRow[] = [];
  let densePpl: number | undefined;
  const dense: Record<string, number> = {};
  if (!existsSync(dir)) return { rows };
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.json'))
    .sort()) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      continue;
    }
    const source = f.replace(/\.json$/, '');
    if (source === 'dense') {
      densePpl = (json as any)?.ppl;
      continue;
    }
    const rs = normaliseRows(source, json);
    rows.push(...rs);
  }
  return { rows, densePpl, dense };
}

const REPORT: CommandSpec = {
  name: 'report',
  summary: 'an HTML report (plots and tables) from the eval result tables',
  usage: 'llmpress report [options]',
  options: {
    results: { type: 'string', arg: 'dir', default: 'results', help: 'folder of result tables (*.json)' },
    out: { type: 'string', arg: 'file', default: '<results>/report.html', help: 'output HTML' },
  },
};

async function cmdReport(argv: string[]): Promise<number> {
  const p = parseCommand(REPORT, argv);
  if (p.help) {
    out(helpFor(REPORT));
    return EXIT.ok;
  }
  const { values } = p;
  const dir = abs(String(values.results ?? 'results'));
  if (!existsSync(dir)) throw new CliError(`report: --results folder '${dir}' does not exist (run pnpm eval:* or pnpm demo first)`, 3);
  const { rows, densePpl } = collectReportRows(dir);
  if (!rows.length) throw new CliError(`report: no result tables (*.json with ppl rows) in ${dir}`, 3);
  const html = renderReport({
    title: 'llmpress report',
    subtitle: `from ${dir}`,
    dense: densePpl ? { ppl: densePpl } : undefined,
    rows,
    generatedAt: new Date().toISOString(),
  });
  const outPath = values.out !== undefined ? abs(String(values.out)) : join(dir, 'report.html');
  if (!existsSync(dirname(outPath))) throw new UsageError(`report: --out '${values.out}': folder '${dirname(outPath)}' does not exist (create it first)`);
  writeFileAtomic(outPath, new TextEncoder().encode(html));
  out(`wrote ${outPath} (${rows.length} rows)`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------- inspect

const INSPECT: CommandSpec = {
  name: 'inspect',
  summary: 'format, config, tensors, bytes, dtype histogram; checks every weight is finite',
  usage: 'llmpress inspect <model>',
  options: {},
};

async function cmdInspect(argv: string[]): Promise<number> {
  const p = parseCommand(INSPECT, argv);
  if (p.help) {
    out(helpFor(INSPECT));
    return EXIT.ok;
  }
  const [inputArg] = p.positionals;
  if (!inputArg) throw new UsageError('inspect: missing <model>');
  const input = mustExist('inspect', '<model>', inputArg);
  out(inspectFile(input, { kinds: ALL_KINDS }));
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------- main

const COMMANDS: Array<[CommandSpec, (argv: string[]) => Promise<number>]> = [
  [INSPECT, cmdInspect],
  [COMPRESS, cmdCompress],
  [EVAL, cmdEval],
  [KV_EVAL, cmdKvEval],
  [SYNTH, cmdSynth],
  [REPORT, cmdReport],
  [DEMO_SPEC, (a) => runDemo(a, { baseDir })],
  [EXPORT_SPEC, (a) => cmdExport(a, { abs, openModel })],
];

export const HELP = `llmpress ${VERSION} — compress LLM weights and KV caches

usage: llmpress <command> [options]      (llmpress <command> --help lists every option with its default)

commands:
${COMMANDS.map(([c]) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

models: llama2.c .bin, .safetensors (file or Hugging Face folder), .gguf, or a compressed .safetensors written by llmpress.
data:   stories260K and the held-out text are found in the repository's data/, then $LLMPRESS_DATA, then ../shared/data.
paths:  relative to the folder you run from (under pnpm: the folder you called pnpm in).
exit:   0 ok, 1 unexpected failure, 2 usage error, 3 bad input file or data, 4 refused (exists / larger / re-quantize without --force).
--version prints the version.`;

export interface MainOptions {
  /** Folder relative paths resolve against (default: the caller's folder). */ cwd?: string;
}

export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const [cmd, ...rest] = argv;
  baseDir = options.cwd ?? callerDir();
  try {
    if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
      out(VERSION);
      return EXIT.ok;
    }
    if (cmd === undefined) {
      process.stderr.write(HELP + '\n');
      return EXIT.usage;
    }
    if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
      const sub = rest[0] && COMMANDS.find(([c]) => c.name === rest[0]);
      out(sub ? helpFor(sub[0]) : HELP);
      return EXIT.ok;
    }
    const entry = COMMANDS.find(([c]) => c.name === cmd);
    if (!entry) throw new UsageError(`unknown command '${cmd}' (commands: ${COMMANDS.map(([c]) => c.name).join(', ')})`);
    return await entry[1](rest);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`llmpress: ${e.message}\n`);
      if (e.code === EXIT.usage) process.stderr.write(`(llmpress ${cmd && COMMANDS.some(([c]) => c.name === cmd) ? `${cmd} ` : ''}--help for usage)\n`);
      return e.code;
    }
    if (LlmpressError.isInstance(e)) {
      process.stderr.write(`llmpress: ${oneLine((e as Error).message)}\n`);
      return EXIT.badInput;
    }
    const code = (e as NodeJS.ErrnoException)?.code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      // a file-system error the checks above did not foresee: one line, naming the path
      const ne = e as NodeJS.ErrnoException;
      process.stderr.write(`llmpress: ${cmd}: ${ne.code} ${ne.syscall ?? ''} '${ne.path ?? ''}'\n`);
      return EXIT.badInput;
    }
    throw e;
  }
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
