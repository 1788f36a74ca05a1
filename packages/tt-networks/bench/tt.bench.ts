/**
 * `pnpm bench tt [--reps 5] [--ranks 16,64] [--threads 1] [--backend auto|wasm|webgpu|reference]`
 *
 * TT-matvec and TT + sparse forward against the dense GEMV of the same layer (the TT layer's own
 * dense weight), for 4096 × 4096 and 4096 × 11008 (out × in), at T = 1 and T = 16 tokens, with a
 * same-run numpy reference (OPENBLAS_NUM_THREADS=1) for the dense product and the TT contraction.
 * Checks every result (on 16 sampled output rows, W_TT rows contracted in f64 in the opposite
 * order) before timing it; the dense GEMV runs on a weight of the same shape kept in backend memory. Writes bench/results/tt.json.
 * Timings are medians of `reps` runs on a shared, busy machine: treat them as noisy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, Tensor, routine, type Backend } from '@llmpress/tensor';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { TTLinear, TTSparseLinear, CsrMatrix, Sparse24Matrix } from '@llmpress/tt-networks';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const opt = (k: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const reps = Number(opt('reps') ?? 5);
const rankList = (opt('ranks') ?? '16,64').split(',').map(Number);
const sel = await backendFromArgs({ threads: 1 });
const backend: Backend = sel.backend;
const backendName = `${sel.name} (${sel.threads} thread${sel.threads > 1 ? 's' : ''})`;

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function time(f: () => void): number {
  f(); // warm-up
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

interface Case {
  m: number;
  n: number;
  rowDims: number[];
  colDims: number[];
}
const cases: Case[] = [
  { m: 4096, n: 4096, rowDims: [16, 16, 16], colDims: [16, 16, 16] },
  { m: 4096, n: 11008, rowDims: [16, 16, 16], colDims: [16, 16, 43] },
];
const Ts = [1, 16];

// ---- numpy reference (same shapes, same ranks, random values) ----
const py = String.raw`
import json, sys, time, numpy as np
reps = int(sys.argv[1]); rankList = json.loads(sys.argv[2])
cases = json.loads(sys.argv[3]); Ts = json.loads(sys.argv[4])
rng = np.random.default_rng(0)
def med(f):
    f(); ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts))
out = []
for c, rank in [(c, r) for c in cases for r in rankList]:
    m, n, rd, cd = c['m'], c['n'], c['rowDims'], c['colDims']
    d = len(rd); ranks = [1] + [rank] * (d - 1) + [1]
    W = rng.standard_normal((m, n), dtype=np.float32)
    cores = [rng.standard_normal((ranks[k], rd[k], cd[k], ranks[k + 1]), dtype=np.float32) for k in range(d)]
    As = [np.ascontiguousarray(c.transpose(1, 3, 0, 2).reshape(c.shape[1] * c.shape[3], c.shape[0] * c.shape[2])) for c in cores]
    for T in Ts:
        X = rng.standard_normal((T, n), dtype=np.float32)
        def tt():
            z = X; P = T; rest = n
            for k in range(d):
                r0, mk, nk, r1 = cores[k].shape
                rest //= nk
                z = np.matmul(As[k], z.reshape(P, r0 * nk, rest))  # [P, mk*r1, rest]
                P *= mk
            return z.reshape(T, m)
        assert tt().shape == (T, m)
        out.append({'m': m, 'n': n, 'T': T, 'rank': rank, 'denseMs': med(lambda: X @ W.T), 'ttMs': med(tt)})
print(json.dumps({'numpy': np.__version__, 'rows': out}))
`;
const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' } as Record<string, string | undefined>;
delete env.OPENBLAS_CORETYPE;
delete env.OPENBLAS_L2_SIZE;
const pr = spawnSync('python3', ['-c', py, String(reps), JSON.stringify(rankList), JSON.stringify(cases), JSON.stringify(Ts)], {
  env: env as NodeJS.ProcessEnv,
  encoding: 'utf8',
  maxBuffer: 1 << 24,
});
let numpy: { numpy: string; rows: { m: number; n: number; T: number; rank: number; denseMs: number; ttMs: number }[] } | null = null;
if (pr.status === 0) numpy = JSON.parse(pr.stdout.trim().split('\n').pop()!);
else console.error(`numpy reference failed (status ${pr.status}): ${pr.stderr.slice(-500)}`);

// ---- ours ----
const rows: any[] = [];
const gemm = routine(backend, 'gemm');
for (const c of cases)
  for (const rank of rankList) {
    const { m, n, rowDims, colDims } = c;
    const d = rowDims.length;
    const ranks = [1, ...Array(d - 1).fill(rank), 1];
    const rng = new Rng(1);
    const cores = rowDims.map((mk, k) =>
      Float32Array.from({ length: ranks[k]! * mk * colDims[k]! * ranks[k + 1]! }, () => rng.normal() / Math.sqrt(ranks[k]! * colDims[k]!)),
    );
    const tt = new TTLinear(rowDims, colDims, ranks, cores);
    process.stderr.write(`${m}×${n} rank ${rank}\n`);
    // sparse parts: 2% unstructured residual (random positions and values), and full 2:4
    const resid = new Float64Array(m * n);
    for (let i = 0; i < resid.length; i++) resid[i] = rng.normal() * 0.01;
    const csr = CsrMatrix.fromTopK(resid, m, n, Math.floor(0.02 * m * n));
    const s24 = Sparse24Matrix.fromDense(resid, m, n);
    const withCsr = new TTSparseLinear(tt, csr),
      with24 = new TTSparseLinear(tt, s24);
    const layers = [
      { name: 'TT', layer: tt, extra: null as Float32Array | null },
      { name: 'TT + CSR 2%', layer: withCsr, extra: csr.toDense() },
      { name: 'TT + 2:4', layer: with24, extra: s24.toDense() },
    ];
    // checks on sampled output rows: row i of W_TT contracted right to left in f64 (independent of the forward's order)
    const checkRows = Array.from({ length: 16 }, (_, q) => Math.floor(((q + 0.5) * m) / 16));
    const ttRow = (i: number): Float64Array => {
      const digits: number[] = [];
      let rem = i;
      for (let k = d - 1; k >= 0; k--) {
        digits[k] = rem % rowDims[k]!;
        rem = Math.floor(rem / rowDims[k]!);
      }
      let acc = Float64Array.of(1); // [r_k, cols to the right]
      let right = 1;
      for (let k = d - 1; k >= 0; k--) {
        const r0 = ranks[k]!,
          mk = rowDims[k]!,
          nk = colDims[k]!,
          r1 = ranks[k + 1]!,
          core = cores[k]!;
        const next = new Float64Array(r0 * nk * right);
        for (let a = 0; a < r0; a++)
          for (let j = 0; j < nk; j++)
            for (let b = 0; b < r1; b++) {
              const g = core[((a * mk + digits[k]!) * nk + j) * r1 + b]!;
              if (g === 0) continue;
              const o = (a * nk + j) * right,
                src = b * right;
              for (let q = 0; q < right; q++) next[o + q] += g * acc[src + q]!;
            }
        acc = next;
        right *= nk;
      }
      return acc;
    };
    const rowsTT = new Map(checkRows.map((i) => [i, ttRow(i)]));
    // the dense GEMV of the same shape: its weight lives in the backend's own memory (no per-call copy-in)
    const W: Float32Array = backend.allocate ? (backend.allocate('f32', m * n) as Float32Array) : new Float32Array(m * n);
    let lcg = 12345;
    for (let i = 0; i < W.length; i++) {
      lcg = (Math.imul(lcg, 1664525) + 1013904223) >>> 0;
      W[i] = lcg / 4294967296 - 0.5;
    }
    for (const T of Ts) {
      const x = new Tensor(
        'f32',
        Float32Array.from({ length: T * n }, () => rng.normal()),
        [T, n],
      );
      const y = new Float32Array(T * m);
      const denseMs = time(() =>
        gemm({
          transA: false,
          transB: true,
          m: T,
          n: m,
          k: n,
          alpha: 1,
          a: x.data,
          aOffset: 0,
          lda: n,
          b: W,
          bOffset: 0,
          ldb: n,
          beta: 0,
          c: y,
          cOffset: 0,
          ldc: m,
        }),
      );
      const np = numpy?.rows.find((r) => r.m === m && r.n === n && r.T === T && r.rank === rank);
      for (const L of layers) {
        const got = L.layer.forward(x, { backend }).data;
        let num = 0,
          den = 0;
        for (const i of checkRows) {
          const row = rowsTT.get(i)!;
          for (let t = 0; t < T; t++) {
            let ref = 0;
            for (let j = 0; j < n; j++) ref += (row[j]! + (L.extra ? L.extra[i * n + j]! : 0)) * x.data[t * n + j]!;
            num += (got[t * m + i]! - ref) ** 2;
            den += ref * ref;
          }
        }
        const relErr = Math.sqrt(num / den);
        if (!(relErr < 1e-4)) throw new Error(`${L.name} ${m}×${n} T=${T}: forward differs from the dense product on sampled rows (rel. error ${relErr})`);
        const ms = time(() => L.layer.forward(x, { backend }));
        rows.push({
          m,
          n,
          T,
          layer: L.name,
          ranks,
          rowDims,
          colDims,
          bytes: L.layer.bytes(),
          denseBytes: 4 * m * n,
          ms,
          denseMs,
          tokensPerSecond: (1000 * T) / ms,
          denseTokensPerSecond: (1000 * T) / denseMs,
          speedupVsDense: denseMs / ms,
          checkRelErr: relErr,
          numpyDenseMs: np?.denseMs,
          numpyTTMs: L.name === 'TT' ? np?.ttMs : undefined,
        });
        process.stderr.write(`  T=${T} ${L.name}: ${ms.toFixed(2)} ms (dense ${denseMs.toFixed(2)} ms)\n`);
      }
    }
    backend.release?.(W);
  }

const out = {
  backend: backendName,
  reps,
  ranks: rankList,
  numpy: numpy?.numpy ?? null,
  numpyRows: numpy?.rows ?? null,
  rows,
  note: 'medians of reps runs on a shared, busy 2-core machine: noisy',
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'tt.json'), JSON.stringify(out, null, 2) + '\n');

console.log(
  `backend ${backendName}; TT ranks ${rankList.join(', ')} (uniform); median of ${reps}; numpy ${numpy?.numpy ?? 'n/a'} (1 thread). Noisy: shared machine.\n`,
);
console.log(
  '| layer (out × in) | TT rank | T | form | bytes (% dense) | ms | tokens/s | dense GEMV ms (ours) | speed-up vs dense | numpy dense ms | numpy TT ms | ours / numpy |',
);
console.log('| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  const npMs = r.layer === 'TT' ? r.numpyTTMs : undefined;
  console.log(
    `| ${r.m} × ${r.n} | ${r.ranks[1]} | ${r.T} | ${r.layer} | ${r.bytes} (${((100 * r.bytes) / r.denseBytes).toFixed(1)}%) | ${r.ms.toFixed(2)} | ${r.tokensPerSecond.toFixed(0)} | ${r.denseMs.toFixed(2)} | ${r.speedupVsDense.toFixed(2)}× | ${r.numpyDenseMs?.toFixed(2) ?? '—'} | ${npMs?.toFixed(2) ?? '—'} | ${npMs ? (r.ms / npMs).toFixed(2) + ' (TT)' : r.numpyDenseMs ? (r.denseMs / r.numpyDenseMs).toFixed(2) + ' (dense)' : '—'} |`,
  );
}
console.log('\nwrote bench/results/tt.json');
console.log(sel.describe());
await sel.dispose();
