/**
 * `pnpm bench scale [--shape llama-3.2-1b|llama-2-7b] [--layers N] [--methods svd-llm,gptq] [--tokens 512] [--skip-numpy]`
 * Streams a synthetic real-shape checkpoint (bf16, written once under $TMPDIR) through SVD-LLM 20%
 * and GPTQ W4 with 512 calibration tokens: wall time, peak RSS, and the same per-layer linear algebra
 * (Gram eigendecomposition + SVD of W·S for SVD-LLM; Cholesky + GPTQ column loop for GPTQ is not
 * repeated in numpy — its anchor is `pnpm bench quant`) timed in numpy in the same run.
 * Not in CI: it takes minutes to hours on 2 cores. Writes bench/results/scale.json.
 */
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { Rng } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm/node';
import { compressCheckpointStreaming, writeSyntheticCheckpoint, SHAPES, type ShapeName } from '@llmpress/streaming/node';

const args = process.argv.slice(2);
const opt = (k: string, d?: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : d; };
const shape = (opt('shape', 'llama-3.2-1b') as ShapeName);
const preset = SHAPES[shape];
if (!preset) { console.error(`unknown --shape ${shape}`); process.exit(2); }
const layers = Number(opt('layers', String(preset.num_hidden_layers)));
const methods = opt('methods', 'svd-llm,gptq')!.split(',');
const tokens = Number(opt('tokens', '512'));
const root = resolve(new URL('../../..', import.meta.url).pathname);

const dir = join(tmpdir(), `llmpress-synth-${shape}-${layers}`);
if (!existsSync(join(dir, 'model.safetensors'))) {
  const t = performance.now();
  writeSyntheticCheckpoint(dir, shape, { dtype: 'bf16', layers, onTensor: (n, d, tot) => { if (d % 20 === 0 || d === tot) process.stderr.write(`  synth ${d}/${tot} ${n}\n`); } });
  console.error(`synthetic ${shape} (${layers} layers) written in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const rng = new Rng(11);
const calibration = Array.from({ length: Math.ceil(tokens / 256) }, () => Array.from({ length: 256 }, () => rng.int(preset.vocab_size)));

interface Row { shape: string; layers: number; method: string; seconds: number; peakRssMB: number; inputMB: number; outputMB: number; numpySeconds?: number; ratioVsNumpy?: number }
const backend = (await createWasmBackend({ threads: 'auto' })) ?? undefined;
console.error(`backend: ${backend?.name ?? 'reference'} (${backend?.capabilities.threads ?? 1} threads)`);
const rows: Row[] = [];
for (const method of methods) {
  const out = join(tmpdir(), `llmpress-scale-${shape}-${method}.safetensors`);
  rmSync(out, { force: true }); rmSync(`${out}.journal`, { recursive: true, force: true });
  const r = await compressCheckpointStreaming(dir, out, {
    method: method as any, ratio: 0.2, bits: 4, calibration, backend,
    onBlock: (b, i) => process.stderr.write(`  ${method} block ${b} done in ${i.seconds.toFixed(1)} s, rss ${(i.rss / 2 ** 20).toFixed(0)} MB\n`),
  });
  rows.push({ shape, layers, method, seconds: r.seconds, peakRssMB: r.peakRss / 2 ** 20, inputMB: r.inputBytes / 2 ** 20, outputMB: r.bytes / 2 ** 20 });
  rmSync(out, { force: true });
}

// numpy: the same SVD-LLM linear algebra per layer (eigh of the Gram, SVD of W·S), single thread
if (!args.includes('--skip-numpy') && methods.includes('svd-llm')) {
  const py = `
import numpy as np, time
d, h, kv, L, T = ${preset.hidden_size}, ${preset.intermediate_size}, ${(preset.hidden_size / preset.num_attention_heads) * preset.num_key_value_heads}, ${layers}, ${tokens}
rng = np.random.default_rng(0)
shapes = [(d, d, d), (kv, d, d), (kv, d, d), (d, d, d), (h, d, d), (h, d, d), (d, h, h)]
t0 = time.perf_counter()
for _ in range(L):
    grams = {}
    for (m, n, gn) in shapes:
        if gn not in grams:
            X = rng.standard_normal((T, gn)).astype(np.float64)
            G = X.T @ X
            w, Q = np.linalg.eigh(G)
            w = np.maximum(w, w[-1] * 1e-10)
            grams[gn] = Q * np.sqrt(w)
        S = grams[gn]
        W = rng.standard_normal((m, n)).astype(np.float32)
        k = int(m * n * 0.8 / (m + n))
        U, s, Vt = np.linalg.svd(W.astype(np.float64) @ S, full_matrices=False)
print(time.perf_counter() - t0)
`;
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE; delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('python3', ['-c', py], { env, encoding: 'utf8' });
  const secs = Number(r.stdout.trim());
  if (r.status === 0 && Number.isFinite(secs)) { for (const row of rows) if (row.method === 'svd-llm') { row.numpySeconds = secs; row.ratioVsNumpy = row.seconds / secs; } }
  else console.error('numpy anchor failed:', r.stderr);
}

console.log(`| shape | layers | method | wall s | peak RSS MB | input MB | output MB | numpy s (same linear algebra) | ours / numpy |`);
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.shape} | ${r.layers} | ${r.method} | ${r.seconds.toFixed(1)} | ${r.peakRssMB.toFixed(0)} | ${r.inputMB.toFixed(0)} | ${r.outputMB.toFixed(0)} | ${r.numpySeconds?.toFixed(1) ?? '—'} | ${r.ratioVsNumpy?.toFixed(2) ?? '—'} |`);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'scale.json'), JSON.stringify({ date: new Date().toISOString(), tokens, rows }, null, 2) + '\n');
