/**
 * `pnpm bench webgpu` — f32 GEMM/GEMV on the WebGPU backend (Node, Dawn) with the shapes of the gemm
 * benchmark, against a same-run numpy/OpenBLAS single-thread reference (python3 child with
 * OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that child only).
 *
 * Per shape: the kernel time on device-resident data (median of timestamp queries when the device
 * has `timestamp-query`, else wall clock per submission), and one end-to-end `gemmAsync`/`gemvAsync`
 * call (upload + kernel + readback, wall clock) whose result is checked (Freivalds + sampled
 * entries against f64 dots). On software Vulkan (lavapipe) this is slow: `--quick` runs the small
 * shapes only. Writes bench/results/webgpu.json (repository root, like the other benches). The machine is shared and busy: numbers are noisy.
 *
 * Options: --quick, --runs N (kernel timing runs, default 3), --other-kernel (also time the other
 * GEMM kernel family on the two smallest GEMM shapes).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createNodeWebGpuBackend, type WebGpuBackend } from '../src/node.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const runs = Number(args[args.indexOf('--runs') + 1]) || 3;
const otherKernel = args.includes('--other-kernel');

interface Case {
  kind: 'gemm' | 'gemv';
  m: number;
  n: number;
  k: number;
  label: string;
}
const all: Case[] = [
  { kind: 'gemm', m: 512, n: 512, k: 512, label: '512x512x512' },
  { kind: 'gemm', m: 1024, n: 1024, k: 1024, label: '1024x1024x1024' },
  { kind: 'gemm', m: 2048, n: 2048, k: 2048, label: '2048x2048x2048' },
  { kind: 'gemm', m: 2048, n: 5632, k: 128, label: '2048x5632x128' },
  { kind: 'gemv', m: 4096, n: 4096, k: 1, label: 'gemv 4096x4096' },
];
const cases = quick ? all.filter((c) => c.label === '512x512x512' || c.label === 'gemv 4096x4096') : all;
const flopsOf = (c: Case) => (c.kind === 'gemm' ? 2 * c.m * c.n * c.k : 2 * c.m * c.n);

// ---------------------------------------------------------------- numpy / OpenBLAS 1 thread
const PY = String.raw`
import json, sys, time
import numpy as np
cases = json.loads(sys.argv[1]); min_reps = int(sys.argv[2])
rng = np.random.default_rng(0)
out = []
for c in cases:
    a = rng.uniform(-1, 1, (c['m'], c['k'] if c['kind'] == 'gemm' else c['n'])).astype(np.float32)
    b = rng.uniform(-1, 1, (c['k'], c['n']) if c['kind'] == 'gemm' else c['n']).astype(np.float32)
    f = lambda: a @ b
    r = f()
    i = 0; want = a[i].astype(np.float64) @ (b.astype(np.float64) if c['kind'] == 'gemv' else b[:, 0].astype(np.float64))
    got = r[i] if c['kind'] == 'gemv' else r[i, 0]
    ok = bool(abs(float(got) - float(want)) <= 1e-3 * max(1.0, abs(float(want))))
    times = []
    t_end = time.perf_counter() + 1.0
    while len(times) < min_reps or (time.perf_counter() < t_end and len(times) < 20):
        t0 = time.perf_counter(); f(); times.append(time.perf_counter() - t0)
    out.append({'label': c['label'], 'times': times, 'ok': ok})
print(json.dumps({'numpy': np.__version__, 'results': out}))
`;
function runNumpy(cs: Case[]): { version: string; results: Map<string, { times: number[]; ok: boolean }> } | null {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('python3', ['-c', PY, JSON.stringify(cs), '3'], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.log(`numpy reference unavailable: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`);
    return null;
  }
  const j = JSON.parse(r.stdout);
  return { version: j.numpy, results: new Map(j.results.map((x: any) => [x.label, x])) };
}

// ---------------------------------------------------------------- data and checking
function fill(arr: Float32Array, seed: number) {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < arr.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    arr[i] = (s / 4294967296) * 2 - 1;
  }
  return arr;
}
/** Freivalds (C·v vs A·(B·v) with an error bound) plus 32 sampled entries vs f64 dot products. */
function check(c: Case, A: Float32Array, B: Float32Array, C: Float32Array): string | null {
  const { m, n, k } = c,
    eps = 2 ** -23;
  if (c.kind === 'gemv') {
    for (let i = 0; i < m; i++) {
      let s = 0,
        bd = 0;
      for (let j = 0; j < n; j++) {
        s += A[i * n + j]! * B[j]!;
        bd += Math.abs(A[i * n + j]! * B[j]!);
      }
      if (!(Math.abs(C[i]! - s) <= 4 * (n + 2) * eps * bd + 1e-30)) return `y[${i}] = ${C[i]}, want ${s}`;
    }
    return null;
  }
  const v = new Float64Array(n);
  for (let j = 0; j < n; j++) v[j] = ((j * 7919) % 13) / 6.5 - 1;
  const bv = new Float64Array(k),
    abv = new Float64Array(k);
  for (let p = 0; p < k; p++) {
    let s = 0,
      t = 0;
    for (let j = 0; j < n; j++) {
      s += B[p * n + j]! * v[j]!;
      t += Math.abs(B[p * n + j]! * v[j]!);
    }
    bv[p] = s;
    abv[p] = t;
  }
  for (let i = 0; i < m; i++) {
    let want = 0,
      bound = 0,
      got = 0,
      gb = 0;
    for (let p = 0; p < k; p++) {
      want += A[i * k + p]! * bv[p]!;
      bound += Math.abs(A[i * k + p]!) * abv[p]!;
    }
    for (let j = 0; j < n; j++) {
      got += C[i * n + j]! * v[j]!;
      gb += Math.abs(C[i * n + j]! * v[j]!);
    }
    const tol = 4 * (k + 2) * eps * bound + 4 * (n + 2) * 2 ** -52 * gb + 1e-20;
    if (!(Math.abs(got - want) <= tol)) return `Freivalds row ${i}: C·v = ${got}, A·(B·v) = ${want}, tol ${tol}`;
  }
  let s = 12345;
  for (let t = 0; t < 32; t++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const i = s % m;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % n;
    let want = 0,
      bd = 0;
    for (let p = 0; p < k; p++) {
      want += A[i * k + p]! * B[p * n + j]!;
      bd += Math.abs(A[i * k + p]! * B[p * n + j]!);
    }
    if (!(Math.abs(C[i * n + j]! - want) <= 4 * (k + 2) * eps * bd + 1e-30)) return `C[${i},${j}] = ${C[i * n + j]}, want ${want}`;
  }
  return null;
}

async function endToEnd(b: WebGpuBackend, c: Case): Promise<{ ms: number; error: string | null }> {
  if (c.kind === 'gemv') {
    const A = fill(new Float32Array(c.m * c.n), 1),
      x = fill(new Float32Array(c.n), 2),
      y = new Float32Array(c.m);
    const t0 = performance.now();
    await b.gemvAsync({ trans: false, m: c.m, n: c.n, alpha: 1, a: A, aOffset: 0, lda: c.n, x, xOffset: 0, beta: 0, y, yOffset: 0 });
    return { ms: performance.now() - t0, error: check(c, A, x, y) };
  }
  const A = fill(new Float32Array(c.m * c.k), 1),
    B = fill(new Float32Array(c.k * c.n), 2),
    C = new Float32Array(c.m * c.n);
  const t0 = performance.now();
  await b.gemmAsync({
    transA: false,
    transB: false,
    m: c.m,
    n: c.n,
    k: c.k,
    alpha: 1,
    a: A,
    aOffset: 0,
    lda: c.k,
    b: B,
    bOffset: 0,
    ldb: c.n,
    beta: 0,
    c: C,
    cOffset: 0,
    ldc: c.n,
  });
  return { ms: performance.now() - t0, error: check(c, A, B, C) };
}

// ---------------------------------------------------------------- run
const load0 = loadavg();
console.log(
  `machine: ${cpus()[0]?.model ?? '?'} × ${availableParallelism()}, load average ${load0.map((x) => x.toFixed(2)).join(' ')} (shared machine: numbers are noisy)`,
);
const b = await createNodeWebGpuBackend({ onUnavailable: (r) => console.log(`WebGPU unavailable: ${r}`) });
if (!b) process.exit(1);
const adapterLine = `${b.adapter.vendor} / ${b.adapter.architecture} / ${b.adapter.device || b.adapter.description}`;
console.log(`adapter: ${adapterLine} (software: ${b.adapter.software}); gemm kernel '${b.gemmKernel}'; features ${b.deviceFeatures.join(', ') || 'none'}`);

interface Row {
  shape: string;
  kernel: string;
  kernel_ms: number;
  timing: string;
  gflops: number;
  end_to_end_ms: number | null;
  numpy_1t_ms: number | null;
  numpy_gflops: number | null;
  ratio_vs_numpy_1t: number | null;
  verified: boolean | null;
  note?: string;
}
const rows: Row[] = [];
const np = runNumpy(cases);
if (np) console.log(`numpy ${np.version} (OpenBLAS, OPENBLAS_NUM_THREADS=1)`);

async function measure(be: WebGpuBackend, c: Case, withEndToEnd: boolean): Promise<Row> {
  const t = c.kind === 'gemm' ? await be.timeGemm({ m: c.m, n: c.n, k: c.k }, runs) : await be.timeGemv({ m: c.m, n: c.n }, runs);
  const gflops = flopsOf(c) / t.ms / 1e6;
  let e2e: { ms: number; error: string | null } | null = null;
  if (withEndToEnd) e2e = await endToEnd(be, c);
  const npr = np?.results.get(c.label);
  const npMs = npr ? Math.min(...npr.times) * 1e3 : null;
  const npG = npMs ? flopsOf(c) / npMs / 1e6 : null;
  return {
    shape: c.label,
    kernel: be.gemmKernel,
    kernel_ms: +t.ms.toFixed(3),
    timing: `${t.method}, median of ${t.runs}`,
    gflops: +gflops.toFixed(3),
    end_to_end_ms: e2e ? +e2e.ms.toFixed(1) : null,
    numpy_1t_ms: npMs ? +npMs.toFixed(3) : null,
    numpy_gflops: npG ? +npG.toFixed(2) : null,
    ratio_vs_numpy_1t: npG ? +(gflops / npG).toFixed(4) : null,
    verified: e2e ? e2e.error === null : null,
    ...(e2e?.error ? { note: e2e.error } : {}),
  };
}

for (const c of cases) {
  const r = await measure(b, c, true);
  rows.push(r);
  console.log(
    `  ${r.shape} [${r.kernel}]: ${r.kernel_ms} ms (${r.gflops} GFLOPS), end to end ${r.end_to_end_ms} ms, ${r.verified ? 'verified' : `CHECK FAILED: ${r.note}`}`,
  );
}
await b.dispose();
if (otherKernel) {
  const other = b.gemmKernel === 'tiled' ? 'register' : 'tiled';
  const b2 = (await createNodeWebGpuBackend({ gemmKernel: other }))!;
  for (const c of cases.filter((x) => x.kind === 'gemm').slice(0, quick ? 1 : 2)) {
    const r = await measure(b2, c, false);
    rows.push(r);
    console.log(`  ${r.shape} [${r.kernel}]: ${r.kernel_ms} ms (${r.gflops} GFLOPS)`);
  }
  await b2.dispose();
}

const fmt = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
console.log('\n| shape | kernel | kernel ms | GFLOPS | end-to-end ms (upload+kernel+readback) | numpy 1t ms | numpy GFLOPS | ratio vs numpy 1t | verified |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows)
  console.log(
    `| ${r.shape} | ${r.kernel} | ${fmt(r.kernel_ms, 1)} | ${fmt(r.gflops, 2)} | ${fmt(r.end_to_end_ms, 0)} | ${fmt(r.numpy_1t_ms, 2)} | ${fmt(r.numpy_gflops, 1)} | ${fmt(r.ratio_vs_numpy_1t, 3)} | ${r.verified === null ? '—' : r.verified ? 'yes' : 'NO'} |`,
  );
const failed = rows.some((r) => r.verified === false);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const out = {
  bench: 'webgpu',
  date: new Date().toISOString(),
  quick,
  runs,
  machine: { cpu: cpus()[0]?.model ?? '?', cores: availableParallelism(), loadavg_start: load0, loadavg_end: loadavg() },
  adapter: b.adapter,
  features: b.deviceFeatures,
  numpy: np?.version ?? null,
  note: 'kernel_ms: device-resident data, timestamp queries when available; end_to_end_ms: one gemmAsync/gemvAsync incl. transfers (wall clock). Shared busy machine: noisy.',
  rows,
};
writeFileSync(join(root, 'bench', 'results', 'webgpu.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`\nwrote ${join('bench', 'results', 'webgpu.json')}`);
if (failed) {
  console.error('some results failed their check');
  process.exit(1);
}
