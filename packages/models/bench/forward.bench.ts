/**
 * `pnpm bench forward [--windows 4] [--decode 128] [--synthetic-tokens 8] [--synthetic-decode 3] [--no-synthetic] [--backend wasm|auto|webgpu|reference] [--threads 1]`
 * Tokens/s of batched scoring and of KV-cache decoding, for stories260K and a synthetic random Llama with
 * real-model shapes (dim 2048, 22 layers, GQA 32/4, hidden 5632, vocab 32000), on each available backend,
 * plus a same-run numpy anchor (stories260K, float32, OPENBLAS_NUM_THREADS=1). Results are checked
 * (greedy ids vs reference.json, logits vs numpy and across backends). Writes bench/results/forward.json.
 * The machine is shared and busy: the numbers are noisy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DenseLinear, Tensor, referenceBackend, type Backend } from '@llmpress/tensor';
import { Fp32KVCache, LlamaModel, placeOnBackend, standardWindows, type LlamaConfig, type LlamaBlock } from '@llmpress/models';
import { dataDir, loadStories260K, writeFileAtomic } from '@llmpress/models/node';
import { loadavg } from 'node:os';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const args = process.argv.slice(2);
const opt = (k: string, d: number) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const nWindows = opt('windows', 4),
  nDecode = opt('decode', 128),
  synT = opt('synthetic-tokens', 8),
  synDecode = opt('synthetic-decode', 3);
/** Rounds for stories260K: numpy and every backend are measured in alternation, best round kept (load on the shared machine fluctuates). */
const rounds = opt('rounds', 3);

// ---------------------------------------------------------------- backends
const backends: Array<{ name: string; backend: Backend }> = [{ name: 'reference', backend: referenceBackend }];
const sel = await backendFromArgs({ fallback: 'wasm', threads: 1 });
if (sel.backend !== referenceBackend) {
  const b = sel.backend;
  backends.push({
    name: `${b.name} (${sel.threads} thread${sel.threads > 1 ? 's' : ''}${b.capabilities.features.includes('relaxed-simd') ? ', relaxed-simd' : ''})`,
    backend: b,
  });
}

// ---------------------------------------------------------------- helpers
function scoreTps(model: LlamaModel, windows: number[][], backend: Backend): { tps: number; logits: Tensor<'f32'> } {
  let first: Tensor<'f32'> | undefined;
  let n = 0;
  const t0 = performance.now();
  for (const w of windows) {
    const l = model.forward(w, { backend });
    first ??= l;
    n += w.length;
  }
  return { tps: n / ((performance.now() - t0) / 1000), logits: first! };
}
function decodeTps(model: LlamaModel, steps: number, backend: Backend): { tps: number; ids: number[] } {
  const cache = new Fp32KVCache(model.config, { capacity: steps + 1 });
  let tok = 1;
  const ids: number[] = [];
  const t0 = performance.now();
  for (let p = 0; p < steps; p++) {
    const l = model.forward([tok], { cache, backend, logits: 'last' }).data;
    let am = 0;
    for (let j = 1; j < l.length; j++) if (l[j]! > l[am]!) am = j;
    ids.push(am);
    tok = am;
  }
  return { tps: steps / ((performance.now() - t0) / 1000), ids };
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** Random Llama with real-model shapes; the 22 blocks share one set of random weights (same FLOPs and
 *  memory traffic per block — each block's 176 MB of weights is streamed from DRAM either way — at 1/22 of the RAM). */
function syntheticModel(): LlamaModel {
  const c: LlamaConfig = {
    dim: 2048,
    hiddenDim: 5632,
    nLayers: 22,
    nHeads: 32,
    nKvHeads: 4,
    headDim: 64,
    vocabSize: 32000,
    seqLen: 2048,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'half',
    tiedEmbeddings: false,
  };
  let s = 12345;
  const mat = (out: number, inF: number) => {
    const d = new Float32Array(out * inF);
    const sc = 2 / Math.sqrt(inF);
    for (let i = 0; i < d.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      d[i] = (s / 4294967296 - 0.5) * sc;
    }
    return new DenseLinear(new Tensor('f32', d, [out, inF]));
  };
  const q = c.nHeads * c.headDim,
    kv = c.nKvHeads * c.headDim;
  const shared: Omit<LlamaBlock, 'attnNorm' | 'ffnNorm'> = {
    q: mat(q, c.dim),
    k: mat(kv, c.dim),
    v: mat(kv, c.dim),
    o: mat(c.dim, q),
    gate: mat(c.hiddenDim, c.dim),
    up: mat(c.hiddenDim, c.dim),
    down: mat(c.dim, c.hiddenDim),
  };
  const ones = () => new Float32Array(c.dim).fill(1);
  const blocks = Array.from({ length: c.nLayers }, () => ({ ...shared, attnNorm: ones(), ffnNorm: ones() }));
  return new LlamaModel(c, { embedding: mat(c.vocabSize, c.dim).weight, blocks, finalNorm: ones(), lmHead: mat(c.vocabSize, c.dim) });
}

// ---------------------------------------------------------------- stories260K
const rows: any[] = [];
const checks: string[] = [];
const S = loadStories260K(dataDir());
const ref = JSON.parse(readFileSync(join(dataDir(), 'stories260K', 'reference.json'), 'utf8'));
const ids = S.tokenizer.encode(S.text);
const windows = standardWindows(ids, { count: nWindows }).map((w) => w.input);

// numpy anchor, same run
const wfile = join(tmpdir(), `llmpress-bench-windows-${process.pid}.json`);
writeFileSync(wfile, JSON.stringify(windows));
const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
delete env.OPENBLAS_CORETYPE;
delete env.OPENBLAS_L2_SIZE;
const runNumpy = () => {
  const py = spawnSync('python3', [join(here, 'forward_numpy.py'), join(dataDir(), 'stories260K', 'stories260K.bin'), wfile, String(nDecode)], {
    env,
    encoding: 'utf8',
  });
  if (py.status !== 0) {
    console.log(`numpy anchor failed: ${py.stderr}`);
    return null;
  }
  return JSON.parse(py.stdout.trim().split('\n').pop()!);
};
let np: any = null;
const best = new Map<string, { score: number; decode: number }>();
const keep = (k: string, score: number, decode: number) => {
  const b = best.get(k);
  best.set(k, { score: Math.max(score, b?.score ?? 0), decode: Math.max(decode, b?.decode ?? 0) });
};
const placedModels = backends.map(({ backend }) => placeOnBackend(S.model, backend)); // weights resident in each backend's memory
const results = new Map<string, { sc: { tps: number; logits: Tensor<'f32'> }; de: { tps: number; ids: number[] } }>();
for (let r = 0; r < rounds; r++) {
  const n = runNumpy();
  if (n) {
    np = n;
    keep('numpy', n.score_tokens_per_s, n.decode_tokens_per_s);
  }
  backends.forEach(({ name, backend }, i) => {
    const sc = scoreTps(placedModels[i]!.model, windows, backend);
    const de = decodeTps(placedModels[i]!.model, nDecode, backend);
    keep(name, sc.tps, de.tps);
    results.set(name, { sc, de });
  });
}
placedModels.forEach((p) => p.release());
if (np) {
  np.score_tokens_per_s = best.get('numpy')!.score;
  np.decode_tokens_per_s = best.get('numpy')!.decode;
}

const wantGreedy: number[] = ref.greedy_from_bos.ids_including_leading_bos.slice(1, 1 + nDecode);
let refLogits: Tensor<'f32'> | undefined;
for (const { name } of backends) {
  const { sc, de } = results.get(name)!;
  sc.tps = best.get(name)!.score;
  de.tps = best.get(name)!.decode;
  const greedyOk = JSON.stringify(de.ids.slice(0, wantGreedy.length)) === JSON.stringify(wantGreedy);
  const V = S.model.config.vocabSize,
    T = windows[0]!.length;
  const npDiff = np
    ? Math.max(
        maxDiff(sc.logits.data.subarray(0, 8), np.first_window_logits_row0_8),
        maxDiff(sc.logits.data.subarray((T - 1) * V, (T - 1) * V + 8), np.first_window_last_row_8),
      )
    : NaN;
  const xDiff = refLogits ? maxDiff(sc.logits.data, refLogits.data) : 0;
  refLogits ??= sc.logits;
  const ok = greedyOk && !(npDiff > 1e-3) && xDiff < 1e-3;
  checks.push(
    `stories260K/${name}: greedy ${nDecode} ids ${greedyOk ? 'match' : 'DIFFER from'} reference.json; logits vs numpy max |Δ| ${npDiff.toExponential(2)}; vs reference backend ${xDiff.toExponential(2)}`,
  );
  rows.push({
    model: 'stories260K',
    backend: name,
    scoreTokensPerS: sc.tps,
    decodeTokensPerS: de.tps,
    scoreVsNumpy: np ? sc.tps / np.score_tokens_per_s : null,
    decodeVsNumpy: np ? de.tps / np.decode_tokens_per_s : null,
    ok,
  });
}
if (np) {
  const npGreedy = JSON.stringify(np.greedy_ids.slice(0, wantGreedy.length)) === JSON.stringify(wantGreedy);
  checks.push(`stories260K/numpy ${np.numpy}: greedy ids ${npGreedy ? 'match' : 'DIFFER from'} reference.json`);
  rows.push({
    model: 'stories260K',
    backend: `numpy ${np.numpy} (f32, 1 thread)`,
    scoreTokensPerS: np.score_tokens_per_s,
    decodeTokensPerS: np.decode_tokens_per_s,
    scoreVsNumpy: 1,
    decodeVsNumpy: 1,
    ok: npGreedy,
  });
}

// ---------------------------------------------------------------- synthetic 2048 / 22 layers
if (!args.includes('--no-synthetic')) {
  const t0 = performance.now();
  const M = syntheticModel();
  console.log(
    `synthetic model built in ${((performance.now() - t0) / 1000).toFixed(1)} s (${(M.denseParams() / 1e6).toFixed(0)} M dense parameters, blocks share weights)`,
  );
  const win = [1, ...Array.from({ length: synT - 1 }, (_, i) => (i * 7919) % 32000)];
  let base: Tensor<'f32'> | undefined;
  for (const { name, backend } of backends) {
    const placed = placeOnBackend(M, backend);
    const sc = scoreTps(placed.model, [win], backend);
    const de = decodeTps(placed.model, synDecode, backend);
    placed.release();
    const d = base ? maxDiff(sc.logits.data, base.data) : 0;
    base ??= sc.logits;
    let fin = true;
    for (const v of sc.logits.data)
      if (!Number.isFinite(v)) {
        fin = false;
        break;
      }
    checks.push(`synthetic/${name}: logits finite ${fin}; vs reference backend max |Δ| ${d.toExponential(2)}`);
    rows.push({
      model: `synthetic 2048×22, GQA 32/4, hidden 5632 (T=${synT}, ${synDecode} decode steps)`,
      backend: name,
      scoreTokensPerS: sc.tps,
      decodeTokensPerS: de.tps,
      scoreVsNumpy: null,
      decodeVsNumpy: null,
      ok: fin && d < 1e-2,
    });
  }
}

// ---------------------------------------------------------------- report
const f = (x: number | null, d = 1) => (x === null || x === undefined ? '—' : x.toFixed(d));
console.log(`\n| model | backend | scoring tokens/s | decoding tokens/s | scoring vs numpy | decoding vs numpy | checked |`);
console.log('| --- | --- | ---: | ---: | ---: | ---: | --- |');
for (const r of rows)
  console.log(
    `| ${r.model} | ${r.backend} | ${f(r.scoreTokensPerS)} | ${f(r.decodeTokensPerS)} | ${f(r.scoreVsNumpy, 2)}× | ${f(r.decodeVsNumpy, 2)}× | ${r.ok ? 'ok' : 'FAIL'} |`,
  );
console.log(
  `\nstories260K: scoring = ${nWindows} standard windows of 256 tokens; decoding = ${nDecode} greedy steps from BOS through the KV cache; best of ${rounds} alternating rounds.`,
);
for (const c of checks) console.log(`- ${c}`);
console.log(
  `Numbers are noisy: 2 shared CPU cores under load from other processes (load average at the end ${loadavg()
    .map((x) => x.toFixed(1))
    .join(', ')}).\n${sel.describe()}`,
);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(
  join(root, 'bench', 'results', 'forward.json'),
  new TextEncoder().encode(JSON.stringify({ date: new Date().toISOString(), options: { nWindows, nDecode, synT, synDecode }, rows, checks }, null, 2) + '\n'),
);
await sel.dispose();
if (rows.some((r) => !r.ok)) {
  console.error('some checks FAILED');
  process.exitCode = 1;
}
