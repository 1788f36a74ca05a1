/**
 * `pnpm eval:dense [--text <file>] [--model <file>] [--tokenizer <file>] [--windows 64] [--len 256] [--backend auto|wasm|webgpu|reference] [--threads N]`
 * Dense perplexity under the standard protocol (methods.md): windows 0..63 of 256 tokens, BOS at each
 * window start, fresh context per window. Prints a markdown table and writes the JSON to llmpress-eval/dense.json
 * (scratch, git-ignored); `--results` writes the tracked results/dense.json, `--out FILE` any file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate, placeOnBackend, standardWindows } from '@llmpress/models';
import { dataDir, loadModel, loadTokenizer, loadStories260K, writeFileAtomic } from '@llmpress/models/node';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { evalOutPath, repoRelative } from '../../../scripts/eval-data.ts';

const args = process.argv.slice(2);
const opt = (k: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : undefined; };

const S = loadStories260K(dataDir());
const modelPath = opt('model');
const textPath = opt('text') ?? join(dataDir(), 'tinystories', 'tinystories_val.txt');
const model = modelPath ? loadModel(modelPath) : S.model;
const tokenizer = opt('tokenizer') ? loadTokenizer(opt('tokenizer')!, { vocabSize: model.config.vocabSize }) : S.tokenizer;
const text = readFileSync(textPath, 'utf8');
const count = Number(opt('windows') ?? 64), len = Number(opt('len') ?? 256);

const sel = await backendFromArgs();
const backend = sel.backend;
const placed = placeOnBackend(model, backend);

const t0 = performance.now();
const ids = tokenizer.encode(text);
const encodeMs = performance.now() - t0;
const windows = standardWindows(ids, { start: 0, count, len, bos: model.config.bosId ?? 1 });
const r = evaluate(placed.model, windows, { backend, onProgress: (d, n) => { if (d % 16 === 0 || d === n) process.stderr.write(`  ${d}/${n} windows\n`); } });

const row = {
  model: modelPath ?? 'stories260K/stories260K.bin',
  text: textPath.startsWith(dataDir()) ? textPath.slice(dataDir().length + 1) : textPath,
  protocol: `standard: windows 0..${count - 1} × ${len}, BOS per window`,
  windows: count, tokens: r.tokens, nll: r.nll, ppl: r.ppl,
  storedBytes: model.storedBytes(), linearBytes: model.linearBytes(), bitsPerWeight: model.effectiveBitsPerWeight(),
  tokensPerSecond: r.tokensPerSecond, backend: backend.name, encodeMs,
};
const outPath = evalOutPath('dense.json');
writeFileAtomic(outPath, new TextEncoder().encode(JSON.stringify({ ...row, perWindowNll: r.perWindowNll, date: new Date().toISOString() }, null, 2) + '\n'));

console.log(`| model | text | windows × len | tokens | NLL (nats) | PPL | stored bytes | bits/weight (linears) | tokens/s (${backend.name} backend) |`);
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
console.log(`| ${row.model} | ${row.text} | ${count} × ${len} | ${r.tokens} | ${r.nll.toFixed(5)} | ${r.ppl.toFixed(4)} | ${row.storedBytes} | ${row.bitsPerWeight.toFixed(2)} | ${r.tokensPerSecond.toFixed(0)} |`);
console.log(`\nwrote ${repoRelative(outPath)} (tokens/s is noisy: shared machine)\n${sel.describe()}`);
placed.release();
await sel.dispose();
