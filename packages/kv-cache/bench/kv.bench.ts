/**
 * `pnpm bench kv [--steps N] [--quick]`: decode tokens/s of one attention layer through the compressed caches
 * vs the fp32 cache, synthetic heads with real-model shapes (32 query heads, 8 KV heads, head dim 64 / 128;
 * 2048 / 8192 cached tokens), and the bytes each cache holds. A same-run numpy fp32 reference (one thread)
 * checks the fp32 result and gives the ratio column. Timings come from a shared, busy machine: noisy.
 */
import { mkdirSync, writeFileSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rng } from '@llmpress/tensor';
import { CompressedKVCache, Fp32KVCache, fitKeyBasis, kiviKeys, kiviValues, svdqKeys, type CacheShape, type KVCacheLike } from '@llmpress/kv-cache';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const stepsArg = args.indexOf('--steps');
const steps = stepsArg >= 0 ? Number(args[stepsArg + 1]) : quick ? 2 : 4;
const nHeads = 32,
  nKvHeads = 8;
const shapes = quick
  ? [{ d: 64, n: 2048 }]
  : [
      { d: 64, n: 2048 },
      { d: 64, n: 8192 },
      { d: 128, n: 2048 },
      { d: 128, n: 8192 },
    ];

/** Keys with a decaying spectrum in a random orthonormal basis plus a per-head offset (like post-RoPE keys). */
function synthKeys(rng: Rng, n: number, d: number): Float32Array {
  const kvDim = nKvHeads * d,
    out = new Float32Array(n * kvDim);
  for (let h = 0; h < nKvHeads; h++) {
    const g = new Float32Array(4 * d * d);
    for (let i = 0; i < g.length; i++) g[i] = rng.normal();
    const Q = fitKeyBasis(g, 4 * d, d).v; // orthonormal d × d
    const mu = Array.from({ length: d }, () => rng.normal() * 2);
    const z = new Float64Array(d);
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < d; c++) z[c] = (rng.normal() * 4) / Math.sqrt(1 + c);
      for (let i = 0; i < d; i++) {
        let s = mu[i]!;
        for (let c = 0; c < d; c++) s += Q[i * d + c]! * z[c]!;
        out[t * kvDim + h * d + i] = s;
      }
    }
  }
  return out;
}
function randn(rng: Rng, n: number, s = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * s;
  return a;
}

interface Config {
  name: string;
  make: (shape: CacheShape) => KVCacheLike;
}
const configs: Config[] = [
  { name: 'fp32', make: (s) => new Fp32KVCache(s) },
  {
    name: 'KIVI K2 V2',
    make: (s) => new CompressedKVCache(s, { keys: kiviKeys({ bits: 2 }), values: kiviValues({ bits: 2, groupSize: 32 }), window: 128, blockSize: 32 }),
  },
  { name: 'SVDq K2 (fp32 V)', make: (s) => new CompressedKVCache(s, { keys: svdqKeys({ schedule: { mean: 2 } }), window: 128, blockSize: 32, center: true }) },
  {
    name: 'SVDq K1.25 + V2',
    make: (s) =>
      new CompressedKVCache(s, {
        keys: svdqKeys({ schedule: { mean: 1.25 } }),
        values: kiviValues({ bits: 2, groupSize: 32 }),
        window: 128,
        blockSize: 32,
        center: true,
      }),
  },
  {
    name: 'SVDq K1.25 + V2 + top-12.5%',
    make: (s) =>
      new CompressedKVCache(s, {
        keys: svdqKeys({ schedule: { mean: 1.25 } }),
        values: kiviValues({ bits: 2, groupSize: 32 }),
        window: 128,
        blockSize: 32,
        center: true,
        sparsity: { keep: 0.125 },
      }),
  },
];

const dir = mkdtempSync(join(tmpdir(), 'kvbench-'));
const py = `
import numpy as np, sys, time, json
d, n, H, G, steps = [int(x) for x in sys.argv[2:7]]
K = np.fromfile(sys.argv[1] + '/k.f32', dtype=np.float32).reshape(n + steps, G, d)
V = np.fromfile(sys.argv[1] + '/v.f32', dtype=np.float32).reshape(n + steps, G, d)
Q = np.fromfile(sys.argv[1] + '/q.f32', dtype=np.float32).reshape(steps, H, d)
rep = H // G
def step(i):
    L = n + i + 1
    k = K[:L]; v = V[:L]
    out = np.empty((H, d), np.float32)
    for g in range(G):
        q = Q[i, g*rep:(g+1)*rep]                        # [rep, d]
        s = (q @ k[:, g].T) / np.sqrt(np.float32(d))     # [rep, L]
        s = np.exp(s - s.max(axis=1, keepdims=True)); s /= s.sum(axis=1, keepdims=True)
        out[g*rep:(g+1)*rep] = s @ v[:, g]
    return out
outs = []
t0 = time.perf_counter()
for i in range(steps): outs.append(step(i))
dt = time.perf_counter() - t0
np.stack(outs).astype(np.float32).tofile(sys.argv[1] + '/out.f32')
print(json.dumps({"tokensPerSecond": steps / dt}))
`;
writeFileSync(join(dir, 'ref.py'), py);
const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
delete env.OPENBLAS_CORETYPE;
delete env.OPENBLAS_L2_SIZE;

const results: any[] = [];
const lines = [
  '| head dim | cached tokens | cache | decode tok/s | vs numpy fp32 | vs fp32 cache | bytes (K+V) | K bits/elem | V bits/elem | rel. error vs fp32 |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
for (const { d, n } of shapes) {
  const rng = new Rng(1000 + d + n);
  const kvDim = nKvHeads * d,
    shape: CacheShape = { nLayers: 1, nHeads, nKvHeads, headDim: d };
  const K = synthKeys(rng, n + steps, d),
    V = randn(rng, (n + steps) * kvDim);
  // queries aimed at a few cached keys (peaked attention, as in trained models) plus noise
  const Qs = new Float32Array(steps * nHeads * d);
  for (let i = 0; i < steps; i++)
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / (nHeads / nKvHeads)),
        j = rng.int(n);
      for (let c = 0; c < d; c++) Qs[(i * nHeads + h) * d + c] = 0.35 * K[j * kvDim + g * d + c]! + rng.normal() * 0.5;
    }
  writeFileSync(join(dir, 'k.f32'), new Uint8Array(K.buffer));
  writeFileSync(join(dir, 'v.f32'), new Uint8Array(V.buffer));
  writeFileSync(join(dir, 'q.f32'), new Uint8Array(Qs.buffer));
  const r = spawnSync('python3', [join(dir, 'ref.py'), dir, String(d), String(n), String(nHeads), String(nKvHeads), String(steps)], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`numpy reference failed: ${r.stderr}`);
  const np = JSON.parse(r.stdout.trim().split('\n').pop()!) as { tokensPerSecond: number };
  const ref = new Float32Array(readFileSync(join(dir, 'out.f32')).buffer.slice(0));
  let fpTps = 0;
  for (const cfg of configs) {
    const cache = cfg.make(shape);
    const t0 = performance.now();
    cache.append(0, K.subarray(0, n * kvDim), V.subarray(0, n * kvDim), n);
    const prefillS = (performance.now() - t0) / 1000;
    const outs = new Float32Array(steps * nHeads * d);
    let dt = 0;
    for (let i = 0; i < steps; i++) {
      const s0 = performance.now();
      cache.append(0, K.subarray((n + i) * kvDim, (n + i + 1) * kvDim), V.subarray((n + i) * kvDim, (n + i + 1) * kvDim), 1);
      outs.set(cache.attend(0, Qs.subarray(i * nHeads * d, (i + 1) * nHeads * d), 1), i * nHeads * d);
      dt += performance.now() - s0;
    }
    let num = 0,
      den = 0;
    for (let i = 0; i < outs.length; i++) {
      if (!Number.isFinite(outs[i]!)) throw new Error(`${cfg.name}: non-finite output`);
      num += (outs[i]! - ref[i]!) ** 2;
      den += ref[i]! ** 2;
    }
    const rel = Math.sqrt(num / den);
    if (cfg.name === 'fp32' && rel > 1e-5) throw new Error(`fp32 cache disagrees with numpy: relative error ${rel}`);
    // without sparsity the output is a convex combination of (nearly) the same values: error far below 1 or broken
    if (!cfg.name.includes('top-') && rel > 1) throw new Error(`${cfg.name}: relative error ${rel} vs fp32 (broken)`);
    const tps = steps / (dt / 1000);
    if (cfg.name === 'fp32') fpTps = tps;
    const b = (cache as any).bytes();
    const tokens = n + steps;
    const row = {
      headDim: d,
      cachedTokens: n,
      cache: cfg.name,
      decodeTokensPerSecond: tps,
      numpyFp32TokensPerSecond: np.tokensPerSecond,
      ratioVsNumpy: tps / np.tokensPerSecond,
      ratioVsFp32: tps / fpTps,
      prefillSeconds: prefillS,
      bytes: b.total,
      keyBytes: b.keyBytes,
      valueBytes: b.valueBytes,
      keyBitsPerElement: (b.keyBytes * 8) / (tokens * kvDim),
      valueBitsPerElement: (b.valueBytes * 8) / (tokens * kvDim),
      relErrorVsFp32: rel,
    };
    results.push(row);
    const line = `| ${d} | ${n} | ${cfg.name} | ${tps.toFixed(2)} | ${row.ratioVsNumpy.toFixed(2)}× | ${row.ratioVsFp32.toFixed(2)}× | ${(b.total / 2 ** 20).toFixed(2)} MiB | ${row.keyBitsPerElement.toFixed(2)} | ${row.valueBitsPerElement.toFixed(2)} | ${rel.toExponential(2)} |`;
    lines.push(line);
    console.error(line);
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(
  `\nDecode through one attention layer (${nHeads} query heads, ${nKvHeads} KV heads), ${steps} steps per row, fp window 128, block 32, f16 scales; numpy = fp32 softmax(qKᵀ)V, 1 thread. Shared busy machine: timings are noisy.\n`,
);
console.log(lines.join('\n'));
const outPath = join(root, 'bench', 'results', 'kv.json');
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(
  outPath,
  JSON.stringify(
    {
      command: `pnpm bench kv ${args.join(' ')}`.trim(),
      date: new Date().toISOString(),
      nHeads,
      nKvHeads,
      steps,
      note: 'shared, busy 2-core machine: timings are noisy',
      results,
    },
    null,
    2,
  ) + '\n',
);
console.error(`wrote ${outPath}`);
