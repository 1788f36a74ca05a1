/**
 * `pnpm bench decompositions [--quick] [--no-ml-matrix] [--reference] [--backend wasm|auto|webgpu|reference] [--only svd,eigh,...] [--two-threads]`
 * (`--only` re-measures those ops and keeps the other ops' rows of the results file)
 * The randomized SVD is also timed on `createWasmBackend({ threads: 2 })` (rows labelled "2 threads";
 * its < 2 s target is absolute); `--two-threads` adds such a row for every case. The LAPACK anchor
 * stays single-threaded, so the 2-thread ratios are NOT like-for-like.
 *
 * Times SVD / eigh / Cholesky / QR / randomized SVD on LLM-sized matrices, checks every result, and
 * prints ratios against numpy/LAPACK run in the same process tree (single-threaded OpenBLAS).
 * Writes <repo>/bench/results/decompositions.json: [{op, shape, dtype, impl, ms, ratio_vs_lapack}].
 * The machine is shared and busy: numbers are noisy (best of a few repetitions where affordable), so
 * each case runs LAPACK right before ours and records CPU time (process.cpuUsage / process_time)
 * beside wall time; on a contended machine the CPU-time ratio is the meaningful one.
 * Each case is preceded by one untimed warm-up run on a 192-sized matrix (JIT warm-up).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randn, matmul, norm, sub, referenceBackend, Tensor, type Backend, type FloatDType } from '@llmpress/tensor';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { svd, eigh, cholesky, qr, randomizedSvd } from '@llmpress/decompositions';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const useRef = args.includes('--reference');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? new Set(args[onlyIdx + 1]!.split(',')) : null;
const S = quick ? 4 : 1; // --quick divides sizes by 4

interface Case {
  op: 'svd' | 'eigh' | 'cholesky' | 'qr' | 'randomizedSvd';
  shape: [number, number];
  dtype: FloatDType;
  reps: number;
  k?: number;
}
const cases: Case[] = (
  [
    { op: 'svd', shape: [1024 / S, 1024 / S], dtype: 'f32', reps: 2 },
    { op: 'svd', shape: [1024 / S, 1024 / S], dtype: 'f64', reps: 2 },
    { op: 'svd', shape: [4096 / S, 1024 / S], dtype: 'f32', reps: 2 },
    { op: 'svd', shape: [4096 / S, 1024 / S], dtype: 'f64', reps: 2 },
    { op: 'eigh', shape: [1024 / S, 1024 / S], dtype: 'f64', reps: 2 },
    { op: 'eigh', shape: [2048 / S, 2048 / S], dtype: 'f64', reps: 2 },
    { op: 'eigh', shape: [1024 / S, 1024 / S], dtype: 'f32', reps: 2 },
    { op: 'cholesky', shape: [4096 / S, 4096 / S], dtype: 'f64', reps: 2 },
    { op: 'cholesky', shape: [4096 / S, 4096 / S], dtype: 'f32', reps: 2 },
    { op: 'qr', shape: [4096 / S, 1024 / S], dtype: 'f64', reps: 2 },
    { op: 'qr', shape: [4096 / S, 1024 / S], dtype: 'f32', reps: 2 },
    { op: 'randomizedSvd', shape: [4096 / S, 4096 / S], dtype: 'f32', reps: 1, k: 256 / S },
    { op: 'randomizedSvd', shape: [4096 / S, 4096 / S], dtype: 'f64', reps: 1, k: 256 / S },
  ] as Case[]
).filter((c) => !only || only.has(c.op));

// ---- numpy / LAPACK reference, same run, single-threaded BLAS
function numpyRef(cs: Case[]): Map<string, { ms: number; cpu: number }> {
  const env: Record<string, string | undefined> = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('python3', [fileURLToPath(new URL('./numpy_ref.py', import.meta.url))], {
    input: JSON.stringify(cs),
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const out = new Map<string, { ms: number; cpu: number }>();
  if (r.status !== 0) {
    console.error(`numpy reference failed: ${r.stderr}`);
    return out;
  }
  const parsed = JSON.parse(r.stdout);
  numpyVersion = parsed.numpy;
  for (const x of parsed.results) out.set(key(x), { ms: x.ms, cpu: x.cpu_ms });
  return out;
}
const key = (c: { op: string; shape: number[]; dtype: string }) => `${c.op}:${c.shape.join('x')}:${c.dtype}`;

// ---- inputs (same distributions as numpy_ref.py, different generator)
function input(c: Case, backend: Backend): Tensor {
  const [m, n] = c.shape;
  const a = randn([m, n], { seed: 1, dtype: c.dtype });
  if (c.op === 'eigh') {
    const s = a.contiguous(true);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < i; j++) {
        const v = 0.5 * (s.data[i * n + j]! + s.data[j * n + i]!);
        s.data[i * n + j] = v;
        s.data[j * n + i] = v;
      }
    return s;
  }
  if (c.op === 'cholesky') {
    const g = matmul(a, a.T, { backend }).contiguous(true);
    for (let i = 0; i < n * n; i++) g.data[i] = g.data[i]! / n;
    for (let i = 0; i < n; i++) g.data[i * n + i] = g.data[i * n + i]! + 1;
    return g;
  }
  return a;
}

/** Relative residual of the result (checked against a dtype-scaled bound; throws when wrong). */
function check(c: Case, a: Tensor, r: any, backend: Backend): number {
  const o = { backend };
  const eps = c.dtype === 'f32' ? 2 ** -23 : 2 ** -52;
  const [m, n] = c.shape;
  let res: number;
  const scaleCols = (u: Tensor, s: Tensor) => {
    const x = u.contiguous(true);
    const k = s.shape[0]!;
    for (let i = 0; i < x.shape[0]!; i++) for (let j = 0; j < k; j++) x.data[i * k + j] = x.data[i * k + j]! * s.data[j]!;
    return x;
  };
  switch (c.op) {
    case 'svd':
      res = norm(sub(matmul(scaleCols(r.u, r.s), r.vt, o), a)) / norm(a);
      break;
    case 'qr':
      res = norm(sub(matmul(r.q, r.r, o), a)) / norm(a);
      break;
    case 'cholesky':
      res = norm(sub(matmul(r.l, r.l.T, o), a)) / norm(a);
      break;
    case 'eigh':
      res = norm(sub(matmul(a, r.vectors, o), scaleCols(r.vectors, r.values))) / norm(a);
      break;
    case 'randomizedSvd': {
      // sanity check against σ₀ from 30 power iterations (also a lower bound; Gaussian spectra are flat
      // at the top so both converge slowly): the properties test the accuracy, this catches garbage
      res = 0;
      let v = randn([n, 1], { seed: 9, dtype: c.dtype });
      for (let it = 0; it < 30; it++) {
        const w = matmul(a.T, matmul(a, v, o), o);
        const nv = norm(w);
        v = new Tensor(
          c.dtype,
          (w.data as any).map((x: number) => x / nv),
          [n, 1],
        ) as any;
      }
      const s0 = norm(matmul(a, v, o));
      res = Math.abs(r.s.data[0] - s0) / s0;
      if (!(res < 5e-2)) throw new Error(`randomizedSvd top singular value off by ${res}`);
      return res;
    }
  }
  const bound = 200 * eps * Math.sqrt(Math.max(m, n));
  if (!(res <= bound)) throw new Error(`${key(c)}: residual ${res} exceeds ${bound}`);
  return res;
}

function run(c: Case, a: Tensor, backend: Backend): any {
  const o = { backend };
  switch (c.op) {
    case 'svd':
      return svd(a, o);
    case 'eigh':
      return eigh(a, o);
    case 'cholesky':
      return cholesky(a, o);
    case 'qr':
      return qr(a, o);
    case 'randomizedSvd':
      return randomizedSvd(a, c.k!, { ...o, oversample: 10, powerIterations: 2, seed: 0 });
  }
}

const sel = await backendFromArgs({ fallback: useRef ? 'reference' : 'wasm', threads: 1 });
const wasm: Backend | null = sel.backend.name === 'reference' ? null : sel.backend;
const twoAll = args.includes('--two-threads');
// created on first use (after the 1-thread rows of the cases before it), so its worker is not around for those
let wasm2: Backend | null | undefined;
const getWasm2 = async () => (wasm2 === undefined ? (wasm2 = !wasm ? null : (await backendFromArgs({ fallback: 'wasm', threads: 2 })).backend) : wasm2);
const backend = wasm ?? referenceBackend;
const impl = `llmpress (${backend.name}${wasm ? ', 1 thread' : ''})`;
console.log(`backend: ${impl}; machine shared and busy — timings are noisy (CPU time reported too)`);
let numpyVersion = '?';
const rows: {
  op: string;
  shape: string;
  dtype: string;
  impl: string;
  ms: number;
  ratio_vs_lapack: number | null;
  cpu_ms: number;
  ratio_vs_lapack_cpu: number | null;
  residual?: number;
}[] = [];
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};
for (const c of cases) {
  // LAPACK for this case right before ours (same moment of machine load), wall and CPU time
  const lapack = numpyRef([c]);
  // warm-up on a small matrix of the same kind so V8 has optimised the JS paths (LAPACK needs no JIT)
  const small: Case = { ...c, shape: [Math.min(c.shape[0], 192), Math.min(c.shape[1], 192)] as [number, number], k: Math.min(c.k ?? 1, 32) };
  run(small, input(small, backend), backend);
  const a = input(c, backend);
  let best = Infinity,
    result: any;
  let bestCpu = Infinity;
  for (let i = 0; i < c.reps; i++) {
    const t = performance.now(),
      u = cpuNow();
    result = run(c, a, backend);
    best = Math.min(best, performance.now() - t);
    bestCpu = Math.min(bestCpu, cpuNow() - u);
  }
  const residual = check(c, a, result, backend);
  const ref = lapack.get(key(c));
  const shape = c.op === 'randomizedSvd' ? `${c.shape.join('x')} top-${c.k}` : c.shape.join('x');
  rows.push({
    op: c.op,
    shape,
    dtype: c.dtype,
    impl: `numpy ${numpyVersion}/OpenBLAS (1 thread)`,
    ms: ref?.ms ?? NaN,
    ratio_vs_lapack: ref ? 1 : null,
    cpu_ms: ref?.cpu ?? NaN,
    ratio_vs_lapack_cpu: ref ? 1 : null,
  });
  rows.push({
    op: c.op,
    shape,
    dtype: c.dtype,
    impl,
    ms: best,
    ratio_vs_lapack: ref ? best / ref.ms : null,
    cpu_ms: bestCpu,
    ratio_vs_lapack_cpu: ref ? bestCpu / ref.cpu : null,
    residual,
  });
  console.log(
    `${c.op} ${shape} ${c.dtype}: ${best.toFixed(0)} ms (cpu ${bestCpu.toFixed(0)}) vs LAPACK ${ref?.ms.toFixed(0)} ms (cpu ${ref?.cpu.toFixed(0)}): ×${ref ? (best / ref.ms).toFixed(2) : '?'} wall, ×${ref ? (bestCpu / ref.cpu).toFixed(2) : '?'} cpu; residual ${residual.toExponential(2)}`,
  );
  const w2 = twoAll || c.op === 'randomizedSvd' ? await getWasm2() : null;
  if (w2) {
    // same case on the 2-thread WASM backend (GEMMs split over two workers); labelled separately
    run(small, input(small, w2), w2);
    let best2 = Infinity,
      cpu2 = Infinity,
      r2: any;
    for (let i = 0; i < c.reps; i++) {
      const t = performance.now(),
        u = cpuNow();
      r2 = run(c, a, w2);
      best2 = Math.min(best2, performance.now() - t);
      cpu2 = Math.min(cpu2, cpuNow() - u);
    }
    const res2 = check(c, a, r2, w2);
    rows.push({
      op: c.op,
      shape,
      dtype: c.dtype,
      impl: 'llmpress (wasm, 2 threads)',
      ms: best2,
      ratio_vs_lapack: ref ? best2 / ref.ms : null,
      cpu_ms: cpu2,
      ratio_vs_lapack_cpu: ref ? cpu2 / ref.cpu : null,
      residual: res2,
    });
    console.log(
      `${c.op} ${shape} ${c.dtype} (2 threads): ${best2.toFixed(0)} ms wall (cpu ${cpu2.toFixed(0)}, both threads) vs LAPACK 1 thread ${ref?.ms.toFixed(0)} ms; residual ${res2.toExponential(2)}`,
    );
  }
}
if (!args.includes('--no-ml-matrix') && (!only || only.has('svd'))) {
  const { Matrix, SVD } = await import('ml-matrix');
  const n = 1024 / S;
  const a = randn([n, n], { seed: 1, dtype: 'f64' });
  const M = new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.data.subarray(i * n, i * n + n))));
  const ref = numpyRef([{ op: 'svd', shape: [n, n], dtype: 'f64', reps: 2 }]).get(`svd:${n}x${n}:f64`);
  const t = performance.now(),
    u = cpuNow();
  new SVD(M, { autoTranspose: true });
  const ms = performance.now() - t,
    cpu = cpuNow() - u;
  rows.push({
    op: 'svd',
    shape: `${n}x${n}`,
    dtype: 'f64',
    impl: 'ml-matrix 6.15',
    ms,
    ratio_vs_lapack: ref ? ms / ref.ms : null,
    cpu_ms: cpu,
    ratio_vs_lapack_cpu: ref ? cpu / ref.cpu : null,
  });
  console.log(`ml-matrix svd ${n}x${n} f64: ${ms.toFixed(0)} ms (cpu ${cpu.toFixed(0)}) vs LAPACK ${ref?.ms.toFixed(0)} ms (cpu ${ref?.cpu.toFixed(0)})`);
}
const f2 = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(2));
console.log('\n| op | shape | dtype | impl | wall ms | × LAPACK (wall) | CPU ms | × LAPACK (CPU) |\n| --- | --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const r of rows)
  console.log(
    `| ${r.op} | ${r.shape} | ${r.dtype} | ${r.impl} | ${r.ms.toFixed(0)} | ${f2(r.ratio_vs_lapack)} | ${r.cpu_ms.toFixed(0)} | ${f2(r.ratio_vs_lapack_cpu)} |`,
  );
// the full run goes to the repo-root bench/results; --quick runs stay beside the bench
const outDir = fileURLToPath(new URL(quick ? './results/' : '../../../bench/results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const outFile = outDir + (quick ? 'decompositions-quick.json' : 'decompositions.json');
let outRows: object[] = rows.map(({ residual, ...r }) => r);
if (only && existsSync(outFile)) {
  // --only re-measures some ops: keep the other ops' rows of the previous full run
  const OPS = ['svd', 'eigh', 'cholesky', 'qr', 'randomizedSvd'];
  const keepMl = args.includes('--no-ml-matrix');
  const prev = (JSON.parse(readFileSync(outFile, 'utf8')) as { op: string; impl: string }[]).filter(
    (r) => !only.has(r.op) || (keepMl && r.impl.startsWith('ml-matrix')),
  );
  outRows = [...prev, ...outRows].sort((a: any, b: any) => OPS.indexOf(a.op) - OPS.indexOf(b.op));
}
writeFileSync(outFile, JSON.stringify(outRows, null, 1) + '\n');
console.log(sel.describe());
await sel.dispose();
await (wasm2 as any)?.dispose?.(); // null/undefined when never created
