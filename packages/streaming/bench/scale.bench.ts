/**
 * `pnpm bench scale [--shape llama-3.2-1b|llama-2-7b] [--layers N] [--methods svd-llm,gptq] [--tokens 512] [--skip-numpy] [--numpy-layers K] [--backend auto|wasm|webgpu|reference]`
 * (`--numpy-layers K`: time the numpy anchor on K blocks and scale it by N / K — every block has the same shapes.)
 * Streams a synthetic real-shape checkpoint (bf16, written once under $TMPDIR) through SVD-LLM 20%
 * and GPTQ W4 with 512 calibration tokens: wall time, peak RSS, and the same per-layer linear algebra
 * (the Gram-route plan compressCheckpointStreaming runs, decision 0005: eigh of W G Wᵀ for k/v, of
 * (W Xᵀ)(W Xᵀ)ᵀ + δ W Wᵀ from the rows for down, one
 * eigh whitening per Gram + eigh of (W S)ᵀ(W S) for q/o/gate/up, and the factor GEMMs — for SVD-LLM; for GPTQ the Gram, LAPACK Cholesky + triangular
 * solve and the same column loop, bench/gptq_ref.py) timed in numpy/scipy (1 thread) in the same run.
 * Not in CI: it takes minutes to hours on 2 cores. Writes bench/results/scale.json.
 */
import { existsSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { Rng } from '@llmpress/tensor';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { compressCheckpointStreaming, writeSyntheticCheckpoint, SHAPES, type ShapeName } from '@llmpress/streaming/node';

const args = process.argv.slice(2);
const opt = (k: string, d?: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const shape = opt('shape', 'llama-3.2-1b') as ShapeName;
const preset = SHAPES[shape];
if (!preset) {
  console.error(`unknown --shape ${shape}`);
  process.exit(2);
}
const layers = Number(opt('layers', String(preset.num_hidden_layers)));
const methods = opt('methods', 'svd-llm,gptq')!.split(',');
const tokens = Number(opt('tokens', '512'));
/** numpy anchor measured on this many blocks and scaled by layers / numpyLayers (every block has the same shapes). */
const numpyLayers = Math.min(layers, Number(opt('numpy-layers', String(layers))));
const root = resolve(new URL('../../..', import.meta.url).pathname);

const dir = join(tmpdir(), `llmpress-synth-${shape}-${layers}`);
if (!existsSync(join(dir, 'model.safetensors'))) {
  const t = performance.now();
  writeSyntheticCheckpoint(dir, shape, {
    dtype: 'bf16',
    layers,
    onTensor: (n, d, tot) => {
      if (d % 20 === 0 || d === tot) process.stderr.write(`  synth ${d}/${tot} ${n}\n`);
    },
  });
  console.error(`synthetic ${shape} (${layers} layers) written in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const rng = new Rng(11);
const calibration = Array.from({ length: Math.ceil(tokens / 256) }, () => Array.from({ length: 256 }, () => rng.int(preset.vocab_size)));

interface Row {
  shape: string;
  layers: number;
  method: string;
  seconds: number;
  blockSeconds: number[];
  peakRssMB: number;
  inputMB: number;
  outputMB: number;
  numpySeconds?: number;
  numpyLayersMeasured?: number;
  ratioVsNumpy?: number;
}
const sel = await backendFromArgs();
const backend = sel.backend;
console.error(sel.describe());
const rows: Row[] = [];
for (const method of methods) {
  const out = join(tmpdir(), `llmpress-scale-${shape}-${method}.safetensors`);
  rmSync(out, { force: true });
  rmSync(`${out}.journal`, { recursive: true, force: true });
  const blockSeconds: number[] = [];
  const r = await compressCheckpointStreaming(dir, out, {
    method: method as any,
    ratio: 0.2,
    bits: 4,
    calibration,
    backend,
    onBlock: (b, i) => {
      blockSeconds.push(+i.seconds.toFixed(1));
      process.stderr.write(`  ${method} block ${b} done in ${i.seconds.toFixed(1)} s, rss ${(i.rss / 2 ** 20).toFixed(0)} MB\n`);
    },
  });
  rows.push({
    shape,
    layers,
    method,
    seconds: r.seconds,
    blockSeconds,
    peakRssMB: r.peakRss / 2 ** 20,
    inputMB: r.inputBytes / 2 ** 20,
    outputMB: r.bytes / 2 ** 20,
  });
  rmSync(out, { force: true });
}

// numpy: the same SVD-LLM linear algebra per layer (eigh of the Gram, SVD of W·S), single thread
if (!args.includes('--skip-numpy') && methods.includes('svd-llm')) {
  const py = `
import numpy as np, time
d, h, kv, L, T = ${preset.hidden_size}, ${preset.intermediate_size}, ${(preset.hidden_size / preset.num_attention_heads) * preset.num_key_value_heads}, ${numpyLayers}, ${tokens}
rng = np.random.default_rng(0)
shapes = [(d, d, d), (kv, d, d), (kv, d, d), (d, d, d), (h, d, d), (h, d, d), (d, h, h)]
t0 = time.perf_counter()
# the same plan as compressCheckpointStreaming (decision 0005): m < n layers (k, v, down) by the eigh of
# W G Wᵀ; m >= n layers (q, o, gate, up) by one eigh whitening per Gram (shared) and the eigh of (W S)ᵀ(W S)
for _ in range(L):
    grams = {}
    for (m, n, gn) in shapes:
        W = rng.standard_normal((m, n)).astype(np.float32).astype(np.float64)
        k = int(m * n * 0.8 / (m + n))
        if gn == h:
            # down: the calibration rows themselves (no h × h Gram): (W Xᵀ)(W Xᵀ)ᵀ + δ W Wᵀ
            X = rng.standard_normal((T, gn)).astype(np.float64)
            B = W @ X.T
            lam, U = np.linalg.eigh(B @ B.T + 1e-12 * (W @ W.T))
            Uk = U[:, ::-1][:, :k]
            Wv = Uk.T @ W
            continue
        if gn not in grams:
            X = rng.standard_normal((T, gn)).astype(np.float64)
            grams[gn] = [X.T @ X, None]
        G, S = grams[gn]
        if m < n:
            lam, U = np.linalg.eigh((W @ G) @ W.T)
            Uk = U[:, ::-1][:, :k]
            Wv = Uk.T @ W
        else:
            if S is None:
                w, Q = np.linalg.eigh(G)
                w = np.maximum(w, w[-1] * n * 2.2e-16)
                S = grams[gn][1] = (Q * np.sqrt(w), (Q / np.sqrt(w)).T)
            A = W @ S[0]
            lam, V = np.linalg.eigh(A.T @ A)
            Vk = V[:, ::-1][:, :k]
            Wu = A @ Vk
            Wv = Vk.T @ S[1]
print(time.perf_counter() - t0)
`;
  anchor('svd-llm', ['-c', py]);
}
// numpy/scipy: GPTQ (LAPACK Cholesky + triangular solve, the same column loop) on every linear of a block
if (!args.includes('--skip-numpy') && methods.includes('gptq')) {
  const kvDim = (preset.hidden_size / preset.num_attention_heads) * preset.num_key_value_heads;
  anchor('gptq', [
    new URL('./gptq_ref.py', import.meta.url).pathname,
    String(preset.hidden_size),
    String(preset.intermediate_size),
    String(kvDim),
    String(numpyLayers),
    String(tokens),
  ]);
}

/** Runs a python3 anchor single-threaded and attaches its seconds (scaled to all layers) to the method's row. */
function anchor(method: string, pyArgs: string[]): void {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  process.stderr.write(`numpy anchor for ${method} (${numpyLayers} block${numpyLayers === 1 ? '' : 's'}) ...\n`);
  const r = spawnSync('python3', pyArgs, { env, encoding: 'utf8' });
  const secs = Number(r.stdout.trim());
  if (r.status === 0 && Number.isFinite(secs)) {
    for (const row of rows)
      if (row.method === method) {
        row.numpySeconds = (secs * layers) / numpyLayers;
        row.numpyLayersMeasured = numpyLayers;
        row.ratioVsNumpy = row.seconds / row.numpySeconds;
      }
  } else console.error(`numpy anchor for ${method} failed:`, r.stderr);
}

console.log(`| shape | layers | method | wall s | s per block (min–max) | peak RSS MB | input MB | output MB | numpy s (same linear algebra) | ours / numpy |`);
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows)
  console.log(
    `| ${r.shape} | ${r.layers} | ${r.method} | ${r.seconds.toFixed(1)} | ${Math.min(...r.blockSeconds).toFixed(0)}–${Math.max(...r.blockSeconds).toFixed(0)} | ${r.peakRssMB.toFixed(0)} | ${r.inputMB.toFixed(0)} | ${r.outputMB.toFixed(0)} | ${r.numpySeconds === undefined ? '—' : r.numpySeconds.toFixed(1) + (r.numpyLayersMeasured !== r.layers ? ` (${r.numpyLayersMeasured} block${r.numpyLayersMeasured === 1 ? '' : 's'} × ${r.layers / r.numpyLayersMeasured!})` : '')} | ${r.ratioVsNumpy?.toFixed(2) ?? '—'} |`,
  );
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
// merge: keep earlier rows for other (shape, layers, method) runs, replace this run's
const file = join(root, 'bench', 'results', 'scale.json');
let prev: Row[] = [];
try {
  prev = (JSON.parse(readFileSync(file, 'utf8')).rows ?? []) as Row[];
} catch {
  /* first run */
}
const key = (r: Row) => `${r.shape}/${r.layers}/${r.method}`;
const stamp = new Date().toISOString();
const mine = rows.map((r) => ({ ...r, date: stamp, loadavg: loadavg().map((x) => +x.toFixed(2)) }));
const merged = [...prev.filter((p) => !mine.some((r) => key(r) === key(p))), ...mine];
writeFileSync(file, JSON.stringify({ date: stamp, tokens, rows: merged }, null, 2) + '\n');
console.error(sel.describe());
await sel.dispose();
