/**
 * The demo's work, web-safe (no DOM, no Node built-ins): read a checkpoint from bytes, split the
 * user's text into disjoint calibration / evaluation windows, compress with one method through the
 * library's whole-model drivers, evaluate dense vs compressed, generate greedily with both, and build
 * the report. Runs in the page's Web Worker (src/worker.ts) and in Node tests (pipeline.test.ts).
 */
import { ArgumentError, DenseLinear, NonFiniteError, type Backend, type LinearLayer, type SerializedLayer } from '@llmpress/tensor';
import {
  type LlamaModel,
  bosOf,
  evalSplit,
  evaluate,
  generate,
  saveModelBytes,
  loadCompressedModel,
  parseLlama2c,
  parseLlama2cTokenizer,
  parseGguf,
  ggufToLlamaModel,
  ggufTokenizer,
  parseHfModel,
  parseHfTokenizer,
  type Tokenizer,
  type Window,
} from '@llmpress/models';
import { svdvals } from '@llmpress/decompositions';
// the CLI's method table and byte accounting (web-safe modules), so the page offers every CLI method
import { compressWith, ALL_KINDS } from '../../../packages/cli/src/methods.js';
import { modelFootprint, linearParams } from '../../../packages/cli/src/stored-bytes.js';
// '@llmpress/cli/report' in a published build; by path here because the root vitest alias maps
// '@llmpress/cli/report' to src/report.ts, which does not exist (the entry is src/report/index.ts).
import { renderReport, type ReportRow } from '../../../packages/cli/src/report/index.js';

import { DEMO_METHODS, METHOD_LABELS, isLowRank, methodKnob, type DemoMethod } from './pipeline-meta.js';
export { DEMO_METHODS, METHOD_LABELS, isLowRank, methodKnob, type DemoMethod };

/** Layer kinds the demo's methods write (to reload a model saved by the demo or the CLI). */
export const DEMO_KINDS: Record<string, (s: SerializedLayer) => LinearLayer> = { ...ALL_KINDS, dense: DenseLinear.deserialize };

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}
export type CheckpointFormat = 'llama2c' | 'gguf' | 'safetensors-llmpress' | 'safetensors-hf';

export interface LoadedCheckpoint {
  model: LlamaModel;
  tokenizer: Tokenizer;
  format: CheckpointFormat;
  name: string;
}

const td = new TextDecoder();

/** Which format the bytes hold: GGUF magic, a safetensors header (u64 length then '{'), else llama2c. */
export function sniffFormat(f: NamedBytes): 'gguf' | 'safetensors' | 'llama2c' {
  const b = f.bytes;
  if (b.length >= 4 && b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46) return 'gguf';
  if (b.length >= 9 && b[8] === 0x7b) {
    const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
    if (n > 1 && 8 + n <= b.length) return 'safetensors';
  }
  return 'llama2c';
}

/**
 * Reads a checkpoint dropped by the user. `files` holds the model (llama2c `.bin`, `.gguf` or
 * `.safetensors`) and optionally a `config.json` (Hugging Face safetensors) ; `tokenizer` is the
 * llama2c tokenizer `.bin` or a `tokenizer.json` (GGUF files carry their own).
 */
export function loadCheckpoint(files: readonly NamedBytes[], tokenizerFile?: NamedBytes): LoadedCheckpoint {
  const fn = 'loadCheckpoint';
  if (!Array.isArray(files) || files.length === 0) throw new ArgumentError(fn, 'files', files, 'must hold the checkpoint file');
  const config = files.find((f) => f.name.toLowerCase().endsWith('.json'));
  const main = files.find((f) => !f.name.toLowerCase().endsWith('.json'));
  if (!main)
    throw new ArgumentError(
      fn,
      'files',
      files.map((f) => f.name),
      'must include a .bin, .gguf or .safetensors checkpoint',
    );
  const kind = sniffFormat(main);
  let model: LlamaModel, format: CheckpointFormat, tokenizer: Tokenizer | undefined;
  if (kind === 'gguf') {
    const g = parseGguf(main.bytes, { file: main.name });
    model = ggufToLlamaModel(g);
    format = 'gguf';
    tokenizer = tokenizerFile ? undefined : ggufTokenizer(g);
  } else if (kind === 'safetensors') {
    const header = JSON.parse(
      td.decode(main.bytes.subarray(8, 8 + Number(new DataView(main.bytes.buffer, main.bytes.byteOffset, 8).getBigUint64(0, true)))),
    ) as Record<string, any>;
    if (header.__metadata__?.['llmpress.format']) {
      model = loadCompressedModel(main.bytes, { kinds: DEMO_KINDS, file: main.name });
      format = 'safetensors-llmpress';
    } else {
      if (!config)
        throw new ArgumentError(
          fn,
          'files',
          files.map((f) => f.name),
          `must include the model's config.json next to the Hugging Face safetensors '${main.name}'`,
        );
      model = parseHfModel(td.decode(config.bytes), main.bytes, { file: main.name, configFile: config.name });
      format = 'safetensors-hf';
    }
  } else {
    try {
      model = parseLlama2c(main.bytes, { file: main.name });
    } catch (e) {
      // neither GGUF nor safetensors magic: say what the page accepts, not only why llama2.c parsing failed
      throw new ArgumentError(
        fn,
        'files',
        main.name,
        `is not a checkpoint this page reads (llama2.c .bin, .gguf or .safetensors; its bytes are none of them: ${(e as Error).message})`,
      );
    }
    format = 'llama2c';
  }
  if (!tokenizer) {
    if (!tokenizerFile)
      throw new ArgumentError(fn, 'tokenizerFile', undefined, `is needed for a ${format} checkpoint (llama2c tokenizer .bin or tokenizer.json)`);
    tokenizer = tokenizerFile.name.toLowerCase().endsWith('.json')
      ? parseHfTokenizer(td.decode(tokenizerFile.bytes), config ? td.decode(config.bytes) : undefined, { file: tokenizerFile.name })
      : parseLlama2cTokenizer(tokenizerFile.bytes, model.config.vocabSize, { file: tokenizerFile.name });
  }
  return { model, tokenizer, format, name: main.name };
}

/**
 * Evaluation and calibration windows of the user's text, disjoint (checked by evalSplit). With a
 * long text (≥ 232 windows) the standard split: eval 0..n−1, calibration 200..231. With a shorter
 * text the calibration windows follow the evaluation ones.
 */
export function splitText(
  ids: readonly number[],
  evalCount: number,
  options: { len?: number; calibCount?: number; bos?: number } = {},
): { eval: Window[]; calibration: Window[]; calibStart: number } {
  const fn = 'splitText';
  const len = options.len ?? 256;
  if (!Number.isInteger(evalCount) || evalCount < 1) throw new ArgumentError(fn, 'evalCount', evalCount, 'must be an integer >= 1');
  if (!Number.isInteger(len) || len < 2) throw new ArgumentError(fn, 'options.len', len, 'must be an integer >= 2');
  const available = Math.floor((ids.length - 1) / len);
  const want = options.calibCount ?? 32;
  let calibStart = 200,
    calibCount = want;
  if (available < calibStart + calibCount) {
    calibStart = evalCount;
    calibCount = Math.min(want, available - evalCount);
  }
  if (calibStart < evalCount) calibStart = evalCount;
  if (calibCount < 1)
    throw new ArgumentError(
      fn,
      'ids',
      `${ids.length} tokens`,
      `must hold at least ${(evalCount + 1) * len + 1} tokens (${evalCount} evaluation + 1 calibration window of ${len}); paste a longer text`,
    );
  const s = evalSplit(ids, { len, bos: options.bos, evalStart: 0, evalCount, calibStart, calibCount });
  return { ...s, calibStart };
}

export interface DemoRequest {
  method: DemoMethod;
  /** Fraction removed, in (0, 1): parameters for low-rank methods, stored bytes for TT methods (budget = 1 − ratio). */
  ratio?: number;
  /** Weight bits (rtn, gptq). */
  bits?: number;
  groupSize?: number;
  evalWindows?: number;
  windowLen?: number;
  calibWindows?: number;
  genTokens?: number;
  prompt?: string;
  backend?: Backend;
  onProgress?: (stage: string, done: number, total: number) => void;
  /**
   * Optional other device for the report's per-layer errors ‖W − Ŵ‖_F / ‖W‖_F (the worker passes
   * WebGPU's async sub + sumsq). Checked against the CPU (f64) value of every layer; if any differs
   * by more than 1e-3 relative, or is not finite, the CPU values are used and a note says so.
   */
  layerError?: { device: string; fn: (W: Float32Array, H: Float32Array) => Promise<number> };
}

export interface DemoResult {
  method: DemoMethod;
  label: string;
  setting: string;
  dense: { ppl: number; nll: number; tokens: number; linearBytes: number; bitsPerWeight: number };
  compressed: { ppl: number; nll: number; kl: number; top1: number; linearBytes: number; bitsPerWeight: number };
  windows: { eval: number; calibration: number; len: number; calibStart: number };
  prompt: string;
  generations: { dense: string; compressed: string };
  reportHtml: string;
  notes: string[];
  /** Where the report's per-layer errors were computed, and the largest relative difference to the CPU values. */
  layerErrors: { device: string; layers: number; maxRelDiff?: number };
  seconds: { compress: number; evaluate: number; total: number };
  model: LlamaModel;
}

function finite(fn: string, what: string, v: number): number {
  if (!Number.isFinite(v)) throw new NonFiniteError(fn, what, 0, v);
  return v;
}

/** Compress `model` with one method through the CLI's method table (packages/cli/src/methods.ts). */
export async function compressOne(
  model: LlamaModel,
  req: DemoRequest,
  calibration: Window[],
): Promise<{ model: LlamaModel; setting: string; notes: string[] }> {
  const fn = 'compressOne';
  const progress = req.onProgress ?? (() => {});
  const m = req.method;
  if (!(DEMO_METHODS as readonly string[]).includes(m)) throw new ArgumentError(fn, 'method', m, `must be one of ${DEMO_METHODS.join(', ')}`);
  const ratio = req.ratio ?? 0.2;
  const knob = methodKnob(m);
  const r = await compressWith(m, model, {
    calibration,
    backend: req.backend,
    ...(knob === 'ratio'
      ? { ratio }
      : knob === 'size'
        ? { budget: 1 - ratio, ttSearch: { orders: [2, 3], perSide: 2, steps: 8 } }
        : { bits: req.bits ?? 4, groupSize: m.startsWith('quad') ? undefined : (req.groupSize ?? 32) }),
    onProgress: (label, done, total) => progress(`${m}: ${label}`, done, total),
  });
  return { model: r.model, setting: r.setting, notes: r.notes };
}

/** SentencePiece word markers ('▁') shown as spaces (a tokenizer that keeps them in its pieces). */
export const showText = (s: string) => s.replace(/\u2581/g, ' ');

const now = () => globalThis.performance?.now() ?? Date.now();

/** The whole demo: split, dense eval, compress, compressed eval, generations, report. */
export async function runDemo(ck: LoadedCheckpoint, text: string, req: DemoRequest): Promise<DemoResult> {
  const fn = 'runDemo';
  const t0 = now();
  const progress = req.onProgress ?? (() => {});
  if (typeof text !== 'string' || text.trim().length === 0) throw new ArgumentError(fn, 'text', text, 'must be a non-empty text (paste one or pick a file)');
  const { model, tokenizer } = ck;
  const len = Math.min(req.windowLen ?? 256, model.config.seqLen);
  const nEval = req.evalWindows ?? 4;
  progress('tokenize', 0, 1);
  const ids = tokenizer.encode(text, { bos: true });
  const split = splitText(ids, nEval, { len, calibCount: req.calibWindows ?? 32, bos: bosOf(model.config) });
  progress('tokenize', 1, 1);

  const backend = req.backend;
  progress('dense evaluation', 0, split.eval.length);
  const dense = evaluate(model, split.eval, { backend, onProgress: (d, t) => progress('dense evaluation', d, t) });
  finite(fn, 'dense perplexity', dense.ppl);

  const tc = now();
  const c = await compressOne(model, req, split.calibration);
  const compressSecs = (now() - tc) / 1000;

  const te = now();
  progress('compressed evaluation', 0, split.eval.length);
  const ev = evaluate(c.model, split.eval, { backend, reference: model, onProgress: (d, t) => progress('compressed evaluation', d, t) });
  finite(fn, 'compressed perplexity', ev.ppl);
  const evalSecs = (now() - te) / 1000;

  const prompt = req.prompt ?? 'Once upon a time';
  const pids = tokenizer.encode(prompt, { bos: true });
  const gen = (m: LlamaModel) => showText(tokenizer.decode([...pids, ...generate(m, pids, { maxTokens: req.genTokens ?? 48, temperature: 0, backend })]));
  progress('generation', 0, 2);
  const gDense = gen(model);
  progress('generation', 1, 2);
  const gComp = gen(c.model);
  progress('generation', 2, 2);

  const label = METHOD_LABELS[req.method];
  // every stored tensor counts (QUAD's rotations too); bits per weight over the input's dense linears
  const params = linearParams(model);
  const denseBytes = model.linearBytes(),
    foot = modelFootprint(c.model, params),
    bytes = foot.linearBytes;
  const cpuErrors: Array<{ method: string; layer: string; relErr: number }> = [];
  const devErrors: Array<{ method: string; layer: string; relErr: number }> = [];
  let maxRelDiff = 0,
    devFailure: string | undefined;
  const pairs = model
    .linears()
    .map((e) => [e, c.model.linears().find((x) => x.name === e.name)] as const)
    .filter(([e, h]) => h && h.layer.inFeatures === e.layer.inFeatures && h.layer.outFeatures === e.layer.outFeatures); // QUAD's rotated layers have other shapes
  for (const [i, [e, h]] of pairs.entries()) {
    progress('per-layer errors', i, pairs.length);
    const W = e.layer.toDense().data as Float32Array,
      H = h!.layer.toDense().data as Float32Array;
    let num = 0,
      den = 0;
    for (let k = 0; k < W.length; k++) {
      const d = W[k]! - H[k]!;
      num += d * d;
      den += W[k]! * W[k]!;
    }
    const cpu = Math.sqrt(num / (den || 1));
    cpuErrors.push({ method: label, layer: e.name, relErr: cpu });
    if (req.layerError && !devFailure) {
      try {
        const v = await req.layerError.fn(W, H);
        const rel = Math.abs(v - cpu) / Math.max(cpu, 1e-12);
        if (!Number.isFinite(v) || rel > 1e-3) devFailure = `${e.name}: ${req.layerError.device} gave ${v}, CPU ${cpu}`;
        else {
          maxRelDiff = Math.max(maxRelDiff, rel);
          devErrors.push({ method: label, layer: e.name, relErr: v });
        }
      } catch (err) {
        devFailure = `${e.name}: ${(err as Error).message}`;
      }
    }
  }
  progress('per-layer errors', pairs.length, pairs.length);
  const onDevice = req.layerError !== undefined && devFailure === undefined;
  const layerErrors = onDevice ? devErrors : cpuErrors;
  const spectra = model
    .linears()
    .filter((e) => e.block === 0)
    .map((e) => ({ layer: e.name, values: Array.from(svdvals(e.layer.toDense().astype('f64')).data as Float64Array) }));
  const row: ReportRow = {
    method: label,
    setting: c.setting,
    source: 'browser demo',
    bytes,
    denseBytes,
    bitsPerWeight: foot.bitsPerWeight,
    ppl: ev.ppl,
    kl: ev.kl,
    top1: ev.top1,
    components: foot.components,
  };
  const notes = [
    `${split.eval.length} evaluation windows of ${len} tokens (0..${split.eval.length - 1}); ${split.calibration.length} calibration windows from ${split.calibStart} (disjoint, checked by evalSplit).`,
    `Backend: ${backend?.name ?? 'reference'}.`,
    ...c.notes,
    onDevice
      ? `Per-layer errors computed on ${req.layerError!.device} (largest relative difference to the CPU f64 values: ${maxRelDiff.toExponential(1)}).`
      : req.layerError
        ? `Per-layer errors: ${req.layerError.device} disagreed or failed (${devFailure}); CPU values shown.`
        : 'Per-layer errors computed on the CPU.',
  ];
  const reportHtml = renderReport({
    title: `llmpress browser demo — ${label}`,
    subtitle: ck.name,
    model: { name: ck.name, params: model.denseParams(), bytes: model.storedBytes() },
    dense: { ppl: dense.ppl },
    rows: [row],
    spectra,
    layerErrors,
    notes,
    generatedAt: new Date().toISOString(),
  });
  return {
    method: req.method,
    label,
    setting: c.setting,
    dense: { ppl: dense.ppl, nll: dense.nll, tokens: dense.tokens, linearBytes: denseBytes, bitsPerWeight: model.effectiveBitsPerWeight() },
    compressed: { ppl: ev.ppl, nll: ev.nll, kl: ev.kl ?? NaN, top1: ev.top1 ?? NaN, linearBytes: bytes, bitsPerWeight: foot.bitsPerWeight },
    windows: { eval: split.eval.length, calibration: split.calibration.length, len, calibStart: split.calibStart },
    prompt,
    generations: { dense: gDense, compressed: gComp },
    reportHtml,
    notes,
    layerErrors: onDevice ? { device: req.layerError!.device, layers: devErrors.length, maxRelDiff } : { device: 'cpu', layers: cpuErrors.length },
    seconds: { compress: compressSecs, evaluate: evalSecs, total: (now() - t0) / 1000 },
    model: c.model,
  };
}

/** The compressed model as llmpress safetensors bytes (reloadable with loadCompressedModel + DEMO_KINDS). */
export function compressedBytes(model: LlamaModel): Uint8Array {
  return saveModelBytes(model);
}
