/**
 * `llmpress export <model> --format gguf|hf|gptq --out PATH`: a (compressed) model in a format real
 * engines load — llama.cpp / ollama (GGUF), transformers / vLLM / TGI (Hugging Face folder, GPTQ v1).
 * Never overwrites the input or an existing output; writes atomically (temporary + rename, nothing
 * left behind on error); shows progress; `--eval` measures what the export cost (perplexity and KL
 * of the written file, read back, against the model it came from).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  BpeTokenizer,
  GgufFile,
  exportGgufBytes,
  parseGguf,
  ggufTokenizer,
  LossyExportError,
  MissingTokenizerError,
  OutputRefusedError,
  evaluate,
  formatKlStats,
  ggufToLlamaModel,
  klStatistics,
  standardWindows,
  isQuantizedLike,
  GGUF_EXPORT_TYPES,
  type ExportReport,
  type GgufExportType,
  type KlStats,
  type LlamaModel,
  type TokenizerSource,
  type Tokenizer,
} from '@llmpress/models';
import { dataDir, fileSource, loadTokenizer, writeGgufFile, writeHfFolder, loadHfExportFolder, checkOutputPath } from '@llmpress/models/node';
import { CliError, UsageError, choiceOpt, helpFor, numberOpt, parseCommand, type CommandSpec } from './args.js';
import { createProgress } from './progress.js';
import { ALL_KINDS } from './methods.js';

export const EXPORT_FORMATS = ['gguf', 'hf', 'gptq'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_SPEC: CommandSpec = {
  name: 'export',
  summary: 'write a (compressed) model as GGUF (llama.cpp) or a Hugging Face / GPTQ v1 folder',
  usage: 'llmpress export <model> --format gguf|hf|gptq --out <path> [options]',
  options: {
    format: { type: 'string', arg: 'gguf|hf|gptq', help: 'output format (required)' },
    out: { type: 'string', arg: 'path', help: 'output file (gguf) or folder (hf, gptq); must not exist (required)' },
    type: {
      type: 'string',
      arg: 'auto|q4_0|q8_0|q4_1|f16|bf16|f32',
      default: 'auto',
      help: 'gguf: type of the linear layers (auto: the ggml type the codes map onto exactly, else f16); hf/gptq: dtype of dense tensors (auto = f16)',
    },
    'dense-type': {
      type: 'string',
      arg: 'f32|f16|bf16',
      default: 'f32 for q-types, else --type',
      help: 'gguf: type of densified layers (low-rank, TT, sparse, unmappable codes) and of the embedding',
    },
    'factorized-type': {
      type: 'string',
      arg: 'f32|f16|bf16|q8_0|q4_0',
      default: '--dense-type',
      help: "gguf: type of low-rank / TT / sparse layers (their dense product; q-types by ggml's reference quantizer)",
    },
    tokenizer: { type: 'string', arg: 'file', help: 'tokenizer to embed (llama2.c .bin, tokenizer.json or a .gguf); default: inside or beside the model' },
    lossless: { type: 'boolean', help: "refuse unless every written tensor equals the model's effective weights bit for bit" },
    eval: { type: 'boolean', help: 'read the written file back and report its perplexity and KL against the model it came from' },
    windows: { type: 'string', arg: 'n', default: '8', help: 'evaluation windows (256 tokens) for --eval' },
    text: { type: 'string', arg: 'file', help: 'evaluation text for --eval (default: the held-out TinyStories text)' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  notes: [
    'exact mappings (gguf): symmetric codes with f16 scales, groups a multiple of 32 and no dynamic act-order:',
    '  ≤ 4 bits → Q4_0 (4-bit: d = s, q = c), ≤ 8 bits → Q8_0 (8-bit: q = c − 128); asymmetric ≤ 4 bits → Q4_1 where −s·z is an f16 value.',
    'Everything else is densified at --dense-type and listed in the report. gptq: 2/4/8-bit codes with f16 scales → qweight/qzeros/scales/g_idx.',
  ],
};

export interface ExportContext {
  abs(p: string): string;
  openModel(path: string): LlamaModel;
  out?(s: string): void;
}

function isGgufPath(p: string): boolean {
  if (!existsSync(p) || statSync(p).isDirectory()) return false;
  const b = readFileSync(p).subarray(0, 4);
  return b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46;
}

function ggufMetadata(path: string) {
  const src = fileSource(path);
  try {
    return new GgufFile(src, { file: path }).metadata;
  } finally {
    src.close();
  }
}

/** The tokenizer to embed in a GGUF: explicit, the GGUF input's own, or a llama2.c / tokenizer.json beside the model. */
export function findTokenizerSource(modelPath: string, explicit: string | undefined, vocabSize: number): TokenizerSource {
  const fromFile = (p: string): TokenizerSource => {
    if (isGgufPath(p)) return { kind: 'gguf', metadata: ggufMetadata(p) };
    if (p.endsWith('.json')) {
      const cfg = join(dirname(p), 'tokenizer_config.json');
      return { kind: 'hf-json', json: JSON.parse(readFileSync(p, 'utf8')), config: existsSync(cfg) ? JSON.parse(readFileSync(cfg, 'utf8')) : undefined };
    }
    const t = loadTokenizer(p, { vocabSize });
    if (!(t instanceof BpeTokenizer)) throw new MissingTokenizerError('export', `tokenizer '${p}' cannot be embedded`);
    return { kind: 'bpe', tokenizer: t };
  };
  if (explicit) return fromFile(explicit);
  if (isGgufPath(modelPath)) {
    const md = ggufMetadata(modelPath);
    if (md.has('tokenizer.ggml.tokens')) return { kind: 'gguf', metadata: md };
  }
  const dir = existsSync(modelPath) && statSync(modelPath).isDirectory() ? modelPath : dirname(modelPath);
  for (const c of ['tok512.bin', 'tokenizer.bin', 'tokenizer.json']) if (existsSync(join(dir, c))) return fromFile(join(dir, c));
  const dflt = join(dataDir(), 'stories260K', 'tok512.bin');
  if (vocabSize === 512 && existsSync(dflt)) return fromFile(dflt);
  throw new MissingTokenizerError(
    'export',
    `no tokenizer inside or beside '${modelPath}' to embed; pass --tokenizer <file> (llama2.c .bin, tokenizer.json or .gguf)`,
  );
}

/** The GGUF type whose blocks most of the model's quantized layers map onto exactly (f16 for models without codes). */
export function autoGgufType(model: LlamaModel): GgufExportType {
  const votes = new Map<GgufExportType, number>();
  for (const e of model.linears()) {
    const L = e.layer;
    if (!isQuantizedLike(L)) continue;
    const t: GgufExportType = !L.symmetric ? 'q4_1' : L.bits <= 4 ? 'q4_0' : 'q8_0';
    votes.set(t, (votes.get(t) ?? 0) + 1);
  }
  let best: GgufExportType = 'f16',
    n = 0;
  for (const [t, v] of votes)
    if (v > n) {
      best = t;
      n = v;
    }
  return best;
}

/** Hugging Face tokenizer files to copy into an hf/gptq folder. */
function hfTokenizerFiles(modelPath: string, explicit: string | undefined): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const names = ['tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'special_tokens_map.json', 'generation_config.json'];
  if (explicit && explicit.endsWith('.json')) {
    files.set('tokenizer.json', new Uint8Array(readFileSync(explicit)));
    const cfg = join(dirname(explicit), 'tokenizer_config.json');
    if (existsSync(cfg)) files.set('tokenizer_config.json', new Uint8Array(readFileSync(cfg)));
    return files;
  }
  const dir = existsSync(modelPath) && statSync(modelPath).isDirectory() ? modelPath : dirname(modelPath);
  for (const n of names) if (existsSync(join(dir, n))) files.set(n, new Uint8Array(readFileSync(join(dir, n))));
  return files;
}

export interface ExportCost {
  windows: number;
  pplModel: number;
  pplExport: number;
  pplDeltaPct: number;
  kl: KlStats;
}

/** Perplexity and KL of the exported model (read back) against the model it came from. */
export function exportCost(model: LlamaModel, exported: LlamaModel, tokenizer: Tokenizer, text: string, count: number): ExportCost {
  const ids = tokenizer.encode(text);
  const len = Math.min(256, model.config.seqLen);
  const n = Math.min(count, Math.floor((ids.length - 1) / len));
  if (n < 1) throw new CliError(`export --eval: the text has ${ids.length - 1} tokens; one window needs ${len}`, 3);
  const windows = standardWindows(ids, { count: n, len, bos: tokenizer.bosId });
  const a = evaluate(model, windows),
    b = evaluate(exported, windows);
  const kl = klStatistics(exported, windows, { reference: model });
  return { windows: n, pplModel: a.ppl, pplExport: b.ppl, pplDeltaPct: 100 * (b.ppl / a.ppl - 1), kl };
}

export interface WriteExportOptions {
  type?: 'auto' | GgufExportType;
  denseType?: 'f32' | 'f16' | 'bf16';
  factorizedType?: GgufExportType;
  /** Explicit tokenizer file (else found inside / beside `modelPath`). */
  tokenizer?: string;
  /** The file or folder the model was read from: never overwritten, and where tokenizers are looked for. */
  modelPath: string;
  lossless?: boolean;
}

/**
 * Writes `model` to `outPath` as gguf / hf / gptq (atomically, with a progress bar) and returns the
 * report and a loader of the written file. Refusals and lossy-under-lossless become CliErrors (exit 4),
 * a missing tokenizer a UsageError.
 */
export function writeExport(
  format: ExportFormat,
  outPath: string,
  model: LlamaModel,
  o: WriteExportOptions,
): { report: ExportReport; exported: () => LlamaModel } {
  const typeOpt = o.type ?? 'auto';
  if (!(['auto', ...GGUF_EXPORT_TYPES] as string[]).includes(typeOpt))
    throw new UsageError(`export: --type must be one of auto, ${GGUF_EXPORT_TYPES.join(', ')}, got '${typeOpt}'`);
  try {
    if (format === 'gguf') {
      let tokenizer: TokenizerSource;
      try {
        tokenizer = findTokenizerSource(o.modelPath, o.tokenizer, model.config.vocabSize);
      } catch (e) {
        if (MissingTokenizerError.isInstance(e)) throw new UsageError(`export: ${(e as Error).message.replace(/^\w+: /, '')}`);
        throw e;
      }
      const type = typeOpt === 'auto' ? autoGgufType(model) : typeOpt;
      const bar = createProgress(`export gguf ${type}`, 1);
      const report = writeGgufFile(outPath, model, {
        type,
        denseType: o.denseType,
        factorizedType: o.factorizedType,
        tokenizer,
        lossless: o.lossless,
        input: o.modelPath,
        name: basename(o.modelPath),
        onProgress: (d, t, n) => bar.tick(n, d, t),
      });
      bar.done();
      return {
        report,
        exported: () => {
          const src = fileSource(outPath);
          try {
            return ggufToLlamaModel(new GgufFile(src, { file: outPath }));
          } finally {
            src.close();
          }
        },
      };
    }
    if (!['auto', 'f32', 'f16', 'bf16'].includes(typeOpt))
      throw new UsageError(`export: --type for --format ${format} is the dense dtype (f32, f16 or bf16), got '${typeOpt}'`);
    const dtype = typeOpt === 'auto' ? 'f16' : (typeOpt as 'f32' | 'f16' | 'bf16');
    const bar = createProgress(`export ${format}`, 1);
    const tokenizerFiles = hfTokenizerFiles(o.modelPath, o.tokenizer);
    // no tokenizer.json to copy: a llama2.c / GGUF vocabulary is converted (none at all is allowed: the folder says so)
    let bpeTokenizer: BpeTokenizer | undefined;
    if (!tokenizerFiles.size) {
      try {
        const src = findTokenizerSource(o.modelPath, o.tokenizer, model.config.vocabSize);
        if (src.kind === 'bpe') bpeTokenizer = src.tokenizer;
        else if (src.kind === 'gguf') bpeTokenizer = ggufTokenizer({ get: (k: string) => src.metadata.get(k)?.value, header: { file: o.modelPath } } as any);
      } catch {
        /* none */
      }
    }
    const report = writeHfFolder(outPath, model, {
      gptq: format === 'gptq',
      dtype,
      lossless: o.lossless,
      tokenizerFiles,
      bpeTokenizer,
      input: o.modelPath,
      onProgress: (d, t, n) => bar.tick(n, d, t),
    });
    bar.done();
    return { report, exported: () => loadHfExportFolder(outPath, { kinds: ALL_KINDS }) };
  } catch (e) {
    if (LossyExportError.isInstance(e)) throw new CliError(`export: --lossless: ${(e as Error).message.replace(/^\w+: /, '')}`, 4);
    if (OutputRefusedError.isInstance(e)) throw new CliError(`export: ${(e as Error).message.replace(/^\w+: /, '')}`, 4);
    throw e;
  }
}

/** One line per fact of an export report (for the compress / export commands). */
export function describeExport(outPath: string, format: ExportFormat, report: ExportReport): string[] {
  return [
    `wrote ${outPath} (${format}, ${report.bytes} bytes; ${report.lossless ? "lossless: every tensor is the model's weights bit for bit" : 'not lossless'})`,
    `tensor types: ${Object.entries(countTypes(report))
      .map(([t, n]) => `${t} ×${n}`)
      .join(', ')}`,
    ...report.notes.map((n) => `  ${n}`),
  ];
}

export async function cmdExport(argv: string[], ctx: ExportContext): Promise<number> {
  const out = ctx.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const p = parseCommand(EXPORT_SPEC, argv);
  if (p.help) {
    out(helpFor(EXPORT_SPEC));
    return 0;
  }
  const { values, positionals } = p;
  const [inputArg, ...extra] = positionals;
  if (!inputArg) throw new UsageError('export: missing <model>');
  if (extra.length) throw new UsageError(`export: unexpected argument '${extra[0]}'`);
  const format = choiceOpt('export', 'format', values.format, EXPORT_FORMATS);
  if (!format) throw new UsageError(`export: --format must be one of ${EXPORT_FORMATS.join(', ')}`);
  if (!values.out) throw new UsageError(`export: --out <${format === 'gguf' ? 'file.gguf' : 'folder'}> is required`);
  const typeOpt = choiceOpt('export', 'type', values.type ?? 'auto', ['auto', ...GGUF_EXPORT_TYPES] as const)!;
  if (format !== 'gguf' && !['auto', 'f32', 'f16', 'bf16'].includes(typeOpt))
    throw new UsageError(`export: --type for --format ${format} is the dense dtype (f32, f16 or bf16), got '${typeOpt}'`);
  const denseType = choiceOpt('export', 'dense-type', values['dense-type'], ['f32', 'f16', 'bf16'] as const);
  if (denseType && format !== 'gguf') throw new UsageError('export: --dense-type applies to --format gguf (use --type for hf/gptq)');
  const factorizedType = choiceOpt('export', 'factorized-type', values['factorized-type'], GGUF_EXPORT_TYPES);
  if (factorizedType && format !== 'gguf') throw new UsageError('export: --factorized-type applies to --format gguf');
  const windows = numberOpt('export', 'windows', values.windows, { int: true, min: 1 }) ?? 8;
  const input = ctx.abs(inputArg);
  if (!existsSync(input)) throw new CliError(`export: <model> '${inputArg}' does not exist`, 3);
  const outPath = ctx.abs(String(values.out));
  const tokPath = values.tokenizer !== undefined ? ctx.abs(String(values.tokenizer)) : undefined;
  if (tokPath && !existsSync(tokPath)) throw new CliError(`export: --tokenizer '${values.tokenizer}' does not exist`, 3);
  try {
    checkOutputPath('export', outPath, input);
  } catch (e) {
    if (OutputRefusedError.isInstance(e)) throw new CliError(`export: ${(e as Error).message.replace(/^checkOutputPath: /, '').replace(/^export: /, '')}`, 4);
    throw e;
  }
  const model = ctx.openModel(input);
  const { report, exported } = writeExport(format, outPath, model, {
    type: typeOpt,
    denseType,
    factorizedType,
    tokenizer: tokPath,
    modelPath: input,
    lossless: Boolean(values.lossless),
  });
  let cost: ExportCost | undefined;
  if (values.eval) {
    // the tokenizer that reads the text: explicit, the one embedded in the written GGUF, or one in / beside the folders
    const dirOf = (x: string) => (statSync(x).isDirectory() ? x : dirname(x));
    const cands = [
      tokPath,
      format === 'gguf' ? outPath : join(outPath, 'tokenizer.json'),
      ...['tok512.bin', 'tokenizer.bin', 'tokenizer.json'].map((n) => join(dirOf(input), n)),
      model.config.vocabSize === 512 ? join(dataDir(), 'stories260K', 'tok512.bin') : undefined,
    ].filter((x): x is string => !!x && existsSync(x));
    if (!cands.length) throw new UsageError('export --eval: needs a tokenizer to read the text (--tokenizer <file>)');
    const tok = loadTokenizer(cands[0]!, { vocabSize: model.config.vocabSize });
    const textPath = values.text !== undefined ? ctx.abs(String(values.text)) : join(dataDir(), 'tinystories', 'tinystories_val.txt');
    if (!existsSync(textPath)) throw new CliError(`export --eval: text '${textPath}' does not exist`, 3);
    cost = exportCost(model, exported(), tok, readFileSync(textPath, 'utf8'), windows);
  }
  if (values.json) {
    out(JSON.stringify({ format, out: outPath, bytes: report.bytes, lossless: report.lossless, notes: report.notes, types: countTypes(report), cost }));
    return 0;
  }
  for (const l of describeExport(outPath, format, report)) out(l);
  if (cost) {
    out(
      `\nexport cost over ${cost.windows} windows: ppl ${cost.pplModel.toFixed(4)} (model) → ${cost.pplExport.toFixed(4)} (file, read back) = ${cost.pplDeltaPct >= 0 ? '+' : ''}${cost.pplDeltaPct.toFixed(3)}%`,
    );
    out(formatKlStats(cost.kl));
  }
  return 0;
}

function countTypes(r: ExportReport): Record<string, number> {
  const c: Record<string, number> = {};
  for (const t of r.tensors) c[t.type] = (c[t.type] ?? 0) + 1;
  return c;
}

/** What the demo report shows per method: the smallest engine-loadable file that costs little, and its measured cost. */
export interface EngineExportSummary {
  /** e.g. 'GGUF Q4_0' (the type most linears were written in). */
  label: string;
  bytes: number;
  lossless: boolean;
  /** Perplexity of the file read back, and its KL to the compressed model, over the same windows. */
  ppl: number;
  kl: number;
  pplDeltaPct: number;
}

/**
 * The best GGUF (llama.cpp / ollama) export of a compressed model: the type its codes map onto exactly
 * (`auto`), and for models without codes also Q8_0; the smallest file whose perplexity (read back) is
 * within 1% of the model's, else the closest. Computed in memory; nothing is written.
 */
export function bestEngineExport(
  model: LlamaModel,
  tokenizer: BpeTokenizer,
  windows: readonly import('@llmpress/models').Window[],
  modelPpl: number,
  options: { backend?: import('@llmpress/tensor').Backend } = {},
): EngineExportSummary | undefined {
  const auto = autoGgufType(model);
  // (Q4_1 files are written but not read back here: the GGUF reader dequantizes F32/F16/BF16/Q8_0/Q4_0)
  // models without codes (low-rank, TT, sparse): F16, or their dense product quantized to Q8_0
  const cands: GgufExportType[] = auto === 'f16' ? ['f16', 'q8_0'] : auto === 'q4_1' ? ['f16'] : [auto];
  let best: EngineExportSummary | undefined;
  for (const type of cands) {
    const { bytes, report } = exportGgufBytes(model, { type, factorizedType: auto === 'f16' ? type : undefined, tokenizer: { kind: 'bpe', tokenizer } });
    let back: LlamaModel;
    try {
      back = ggufToLlamaModel(parseGguf(bytes));
    } catch {
      continue;
    }
    const e = evaluate(back, windows, { reference: model, backend: options.backend });
    const counts = countTypes(report);
    const main =
      Object.entries(counts)
        .filter(([t]) => t !== 'F32')
        .sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
    const s: EngineExportSummary = {
      label: `GGUF ${main}`,
      bytes: bytes.length,
      lossless: report.lossless,
      ppl: e.ppl,
      kl: e.kl ?? 0,
      pplDeltaPct: 100 * (e.ppl / modelPpl - 1),
    };
    const ok = (x: EngineExportSummary) => Math.abs(x.pplDeltaPct) <= 1;
    if (!best || (ok(s) && (!ok(best) || s.bytes < best.bytes)) || (!ok(s) && !ok(best) && Math.abs(s.pplDeltaPct) < Math.abs(best.pplDeltaPct))) best = s;
  }
  return best;
}
