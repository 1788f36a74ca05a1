/**
 * The data flags every `pnpm eval:*` table shares, parsed in one place:
 *   --model FILE        llama2.c .bin / .gguf / safetensors folder (default stories260K)
 *   --tokenizer FILE    (default the stories260K tok512.bin, or the model's own)
 *   --eval-text FILE    evaluation windows come from it (default the TinyStories validation text)
 *   --calib-text FILE   calibration windows come from it (default the TinyStories validation text)
 *   --eval-start S --eval-windows N   evaluation windows S..S+N−1 (default 0, 64; validation: 100, 8)
 *   --calib-start S --calib-windows N calibration windows (default 200, 32)
 * `--text` (which used to move both texts) is refused with a message naming the two flags.
 * When both texts are the same file the evaluation and calibration spans are checked disjoint.
 * And where the table goes (`evalOutPath`):
 *   (default)           llmpress-eval/<name>.json, a git-ignored scratch folder at the repository root
 *   --results           results/<name>.json, the tracked table the READMEs quote
 *   --out FILE          FILE (relative to the folder pnpm was started from)
 */
import { readFileSync, existsSync, statSync, mkdirSync } from 'node:fs';
import { resolve, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '@llmpress/tensor';
import { standardWindows, assertDisjoint, type LlamaModel, type Window } from '@llmpress/models';
import { dataDir, loadModel, loadHfModel, loadTokenizer, loadStories260K } from '@llmpress/models/node';
import { flag } from './backend-arg.ts';

export interface EvalData {
  model: LlamaModel;
  /** 'stories260K' or the --model path. */
  modelName: string;
  encode: (text: string) => number[];
  evalText: string;
  calibText: string;
  eval: Window[];
  calibration: Window[];
  /** What to print / store about the protocol. */
  protocol: { evalText: string; calibText: string; evalWindows: [number, number]; calibrationWindows: [number, number]; windowTokens: number };
}

function intFlag(fn: string, name: string, dflt: number, argv: readonly string[]): number {
  const v = flag(name, argv);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(fn, `--${name}`, v, 'must be a non-negative integer');
  return n;
}

function fileFlag(fn: string, name: string, argv: readonly string[]): string | undefined {
  const v = flag(name, argv);
  if (v === undefined) return undefined;
  const p = resolve(v);
  if (!existsSync(p)) throw new ArgumentError(fn, `--${name}`, v, 'must name an existing file');
  return p;
}

/**
 * The two text paths `--eval-text FILE` / `--calib-text FILE` name (each defaults to the TinyStories validation
 * text), for tables that cut their own windows (eval:kv). `--text` is refused with a message naming both flags;
 * a path that does not exist is an ArgumentError naming `fn` and the flag.
 */
export function textPathsFromArgs(fn: string, argv: readonly string[] = process.argv.slice(2)): { evalPath: string; calibPath: string } {
  if (flag('text', argv) !== undefined)
    throw new ArgumentError(
      fn,
      '--text',
      flag('text', argv),
      'is replaced by --eval-text FILE (evaluation windows) and --calib-text FILE (calibration windows)',
    );
  const defaultText = join(dataDir(), 'tinystories', 'tinystories_val.txt');
  return { evalPath: fileFlag(fn, 'eval-text', argv) ?? defaultText, calibPath: fileFlag(fn, 'calib-text', argv) ?? defaultText };
}

/** Loads the model, tokenizer and both texts the flags name, and cuts the standard windows (`len` tokens, default 256, for the evaluation windows). */
export function evalDataFromArgs(options: { argv?: readonly string[]; evalStart?: number; evalWindows?: number; len?: number } = {}): EvalData {
  const fn = 'evalDataFromArgs';
  const argv = options.argv ?? process.argv.slice(2);
  const { evalPath, calibPath } = textPathsFromArgs(fn, argv);
  const modelPath = fileFlag(fn, 'model', argv);
  const tokPath = fileFlag(fn, 'tokenizer', argv);
  let model: LlamaModel, encode: (s: string) => number[];
  if (modelPath) {
    model = statSync(modelPath).isDirectory() ? loadHfModel(modelPath) : loadModel(modelPath);
    const tp =
      tokPath ?? (statSync(modelPath).isDirectory() ? modelPath : modelPath.endsWith('.gguf') ? modelPath : join(dataDir(), 'stories260K', 'tok512.bin'));
    const tok = loadTokenizer(tp, { vocabSize: model.config.vocabSize });
    encode = (s) => tok.encode(s);
  } else {
    const s = loadStories260K(dataDir());
    model = s.model;
    const tok = tokPath ? loadTokenizer(tokPath, { vocabSize: model.config.vocabSize }) : s.tokenizer;
    encode = (x) => tok.encode(x);
  }
  const evalStart = intFlag(fn, 'eval-start', options.evalStart ?? 0, argv);
  const evalCount = intFlag(fn, 'eval-windows', options.evalWindows ?? 64, argv);
  const calibStart = intFlag(fn, 'calib-start', 200, argv);
  const calibCount = intFlag(fn, 'calib-windows', 32, argv);
  if (evalCount < 1) throw new ArgumentError(fn, '--eval-windows', evalCount, 'must be at least 1');
  if (calibCount < 1) throw new ArgumentError(fn, '--calib-windows', calibCount, 'must be at least 1');
  const bos = (model.config as { bosId?: number }).bosId ?? 1;
  const evalText = readFileSync(evalPath, 'utf8');
  const calibText = calibPath === evalPath ? evalText : readFileSync(calibPath, 'utf8');
  const evalIds = encode(evalText);
  const calibIds = calibPath === evalPath ? evalIds : encode(calibText);
  const evalLen = options.len ?? 256;
  const ev = standardWindows(evalIds, { start: evalStart, count: evalCount, len: evalLen, bos });
  const cal = standardWindows(calibIds, { start: calibStart, count: calibCount, bos });
  if (calibPath === evalPath) assertDisjoint(fn, ev, cal);
  const rel = (p: string) => (p.startsWith(dataDir()) ? p.slice(dataDir().length + 1) : p);
  return {
    model,
    modelName: modelPath ?? 'stories260K',
    encode,
    evalText: evalPath,
    calibText: calibPath,
    eval: ev,
    calibration: cal,
    protocol: {
      evalText: rel(evalPath),
      calibText: rel(calibPath),
      evalWindows: [evalStart, evalStart + evalCount - 1],
      calibrationWindows: [calibStart, calibStart + calibCount - 1],
      windowTokens: evalLen,
    },
  };
}

/** The repository root (scripts/..). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The git-ignored folder every `pnpm eval:*` writes to unless asked otherwise. */
export const EVAL_SCRATCH_DIR = 'llmpress-eval';

/**
 * Where an eval writes its JSON table `file` (e.g. 'quad.json'): `--out FILE` as given, `--results` the
 * tracked results/`file`, else the scratch llmpress-eval/`file`, so a run changes a tracked result only
 * when asked. Creates the folder. `--out` with `--results`, or `--out` without a value, is an ArgumentError.
 */
export function evalOutPath(file: string, argv: readonly string[] = process.argv.slice(2)): string {
  const fn = 'evalOutPath';
  const out = flag('out', argv);
  const tracked = argv.includes('--results');
  let p: string;
  if (argv.includes('--out') || out !== undefined) {
    if (!out || out.startsWith('--')) throw new ArgumentError(fn, '--out', out, 'needs a file path (e.g. --out results/' + file + ')');
    if (tracked) throw new ArgumentError(fn, '--results', true, 'cannot be combined with --out FILE (give one)');
    p = resolve(process.env.INIT_CWD ?? process.cwd(), out);
  } else p = join(repoRoot, tracked ? 'results' : EVAL_SCRATCH_DIR, file);
  mkdirSync(dirname(p), { recursive: true });
  return p;
}

/** `p` relative to the repository root when inside it (for "wrote …" lines). */
export function repoRelative(p: string): string {
  return p.startsWith(repoRoot + '/') ? p.slice(repoRoot.length + 1) : p;
}
