/**
 * `pnpm eval:dense [--eval-text FILE] [--model FILE] [--tokenizer FILE] [--eval-start 0] [--eval-windows 64] [--len 256]
 *   [--backend auto|wasm|webgpu|reference] [--threads N] [--results | --out FILE]`
 * Dense perplexity under the standard protocol (methods.md): evaluation windows 0..63 of 256 tokens of the
 * evaluation text (default the TinyStories validation text), BOS at each window start, fresh context per window.
 * The data flags are the shared ones of every table (scripts/eval-data.ts; `--calib-text` is accepted and unused,
 * `--text` is refused with a message naming --eval-text/--calib-text; `--windows N` is kept as --eval-windows N).
 * Prints a markdown table and writes the JSON to llmpress-eval/dense.json (scratch, git-ignored); `--results`
 * writes the tracked results/dense.json, `--out FILE` any file.
 */
import { evaluate, placeOnBackend } from '@llmpress/models';
import { writeFileAtomic } from '@llmpress/models/node';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { evalDataFromArgs, evalOutPath, repoRelative } from '../../../scripts/eval-data.ts';

const args = process.argv.slice(2);
const opt = (k: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const len = Number(opt('len') ?? 256);

const t0 = performance.now();
const data = evalDataFromArgs({ len, ...(opt('windows') !== undefined ? { evalWindows: Number(opt('windows')) } : {}) });
const loadMs = performance.now() - t0;
const model = data.model;
const [first, last] = data.protocol.evalWindows;
const count = last - first + 1;

const sel = await backendFromArgs();
const backend = sel.backend;
const placed = placeOnBackend(model, backend);

const windows = data.eval;
const r = evaluate(placed.model, windows, {
  backend,
  onProgress: (d, n) => {
    if (d % 16 === 0 || d === n) process.stderr.write(`  ${d}/${n} windows\n`);
  },
});

const row = {
  model: data.modelName === 'stories260K' ? 'stories260K/stories260K.bin' : data.modelName,
  text: data.protocol.evalText,
  protocol: `standard: windows ${first}..${last} × ${len}, BOS per window`,
  windows: count,
  tokens: r.tokens,
  nll: r.nll,
  ppl: r.ppl,
  storedBytes: model.storedBytes(),
  linearBytes: model.linearBytes(),
  bitsPerWeight: model.effectiveBitsPerWeight(),
  tokensPerSecond: r.tokensPerSecond,
  backend: backend.name,
  loadMs,
};
const outPath = evalOutPath('dense.json');
writeFileAtomic(outPath, new TextEncoder().encode(JSON.stringify({ ...row, perWindowNll: r.perWindowNll, date: new Date().toISOString() }, null, 2) + '\n'));

console.log(`| model | text | windows × len | tokens | NLL (nats) | PPL | stored bytes | bits/weight (linears) | tokens/s (${backend.name} backend) |`);
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
console.log(
  `| ${row.model} | ${row.text} | ${count} × ${len} | ${r.tokens} | ${r.nll.toFixed(5)} | ${r.ppl.toFixed(4)} | ${row.storedBytes} | ${row.bitsPerWeight.toFixed(2)} | ${r.tokensPerSecond.toFixed(0)} |`,
);
console.log(`\nwrote ${repoRelative(outPath)} (tokens/s is noisy: shared machine)\n${sel.describe()}`);
placed.release();
await sel.dispose();
