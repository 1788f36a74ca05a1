/**
 * `pnpm bench quant [--n 4096] [--tokens 2048] [--gptq-reps 1] [--reps 5] [--skip-gptq] [--skip-kernels] [--js] [--backend wasm|auto|webgpu|reference] [--memory [--mem-n 8192] [--mem-m 2048] [--mem-tokens 512]]`
 *   (--memory: only GPTQ's peak extra RSS on the WASM backend, Linux /proc; writes bench/results/quant-memory.json)
 *   (--gptq-reps k: k alternating JS / numpy rounds of part 1; medians reported, per-round ratios in the JSON)
 *
 * 1. GPTQ on an n × n layer (default 4096 × 4096) with `tokens` calibration tokens (default 2048):
 *    this package's GPTQ (f64, per-channel symmetric 4-bit, f16 scales, block 128, percdamp 0.01)
 *    against a numpy implementation of the same algorithm on the same data, in the same run
 *    (python3 child: OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for it).
 *    Gram (XᵀX) time reported separately. Check: code agreement and GPTQ loss agreement.
 * 2. int4 GEMV and W4A4 / W4A8 GEMM throughput (4096 × 4096, 64 tokens for the GEMM) against f32 GEMV/GEMM
 *    of the same shape on the same WASM backend (1 thread; weights resident in WASM memory), the JS
 *    paths of this package, and numpy f32 (1 thread). Results checked against f64 dots.
 * Writes bench/results/quant.json. Timings are wall clock on a shared, busy 2-core machine: noisy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { Rng, Tensor, type Backend } from '@llmpress/tensor';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { gptq, gramAccumulate, rtnQuantize, quantizeActivations, integerForward, QuantActLinear } from '@llmpress/quantizers';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const args = process.argv.slice(2);
const opt = (k: string, d: number) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const N = opt('n', 4096),
  TOK = opt('tokens', 2048),
  REPS = opt('reps', 5),
  GPTQ_REPS = Math.max(1, opt('gptq-reps', 1));
const skipGptq = args.includes('--skip-gptq');
const skipKernels = args.includes('--skip-kernels');
const jsOnly = args.includes('--js'); // GPTQ on the reference (JS) backend and the Gram as a plain JS loop (no WASM)
const log = (s: string) => process.stderr.write(s + '\n');

function pyEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}
function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
/**
 * Times the functions round-robin (one run each per round, after one warm-up each): best / median /
 * worst wall-clock ms, and the median process CPU ms per run (discounts time descheduled by other load).
 */
function timeRR(fs: Record<string, () => void>, rounds: number): Record<string, { best: number; median: number; worst: number; cpuMedian: number }> {
  const ts: Record<string, number[]> = {},
    cs: Record<string, number[]> = {};
  for (const [k, f] of Object.entries(fs)) {
    f();
    ts[k] = [];
    cs[k] = [];
  }
  for (let r = 0; r < rounds; r++)
    for (const [k, f] of Object.entries(fs)) {
      const c0 = process.cpuUsage(),
        t0 = performance.now();
      f();
      ts[k]!.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cs[k]!.push((c.user + c.system) / 1000);
    }
  return Object.fromEntries(
    Object.entries(ts).map(([k, v]) => [k, { best: Math.min(...v), median: median(v), worst: Math.max(...v), cpuMedian: median(cs[k]!) }]),
  );
}
function time(f: () => void, reps: number): number {
  f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  return median(t);
}

const out: Record<string, unknown> = { date: new Date().toISOString(), loadavgAtStart: loadavg(), n: N, tokens: TOK };

// ------------------------------------------------------------------ 1. GPTQ vs numpy
const PY_GPTQ = String.raw`
import sys, time, json
import numpy as np
import scipy, scipy.linalg
from scipy.linalg import cho_factor, solve_triangular
d, m, n, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
W = np.fromfile(d + '/w.f32', dtype=np.float32).reshape(m, n).astype(np.float64)
X = np.fromfile(d + '/x.f32', dtype=np.float32).reshape(T, n).astype(np.float64)
t0 = time.perf_counter(); G = X.T @ X; tg = time.perf_counter() - t0
t0 = time.perf_counter()
H = 2.0 * G
dead = np.diag(H) == 0
H[dead, dead] = 1.0; W[:, dead] = 0.0
H[np.diag_indices(n)] += 0.01 * np.mean(np.diag(H))
# U = upper Cholesky factor of H^-1, the same math as llmpress: with J the reversal,
# J H J = L L^T  =>  H^-1 = (J L^-T J)(J L^-1 J), so U = J L^-1 J (LAPACK potrf + trsm via scipy)
tf0 = time.perf_counter()
L, _ = cho_factor(H[::-1, ::-1], lower=True, overwrite_a=True, check_finite=False)
Linv = solve_triangular(L, np.eye(n), lower=True, overwrite_b=True, check_finite=False)
U = np.ascontiguousarray(Linv[::-1, ::-1])
tf = time.perf_counter() - tf0
del L, Linv
amax = np.abs(W).max(axis=1)
s = np.where(amax > 0, amax / 7.0, 1.0)
s16 = s.astype(np.float16)
lo = s16.astype(np.float64) < s
s16[lo] = np.nextafter(s16[lo], np.float16(np.inf))
s = s16.astype(np.float64)
codes = np.zeros((m, n), dtype=np.uint8)
B = 128; loss = 0.0
for i1 in range(0, n, B):
    i2 = min(i1 + B, n)
    W1 = W[:, i1:i2].copy(); E1 = np.zeros((m, i2 - i1)); U1 = U[i1:i2, i1:i2]
    for i in range(i2 - i1):
        w = W1[:, i]; dd = U1[i, i]
        q = np.clip(np.floor(w / s + 0.5) + 8, 0, 15)
        codes[:, i1 + i] = q
        e = (w - s * (q - 8)) / dd
        loss += float(e @ e)
        W1[:, i:] -= np.outer(e, U1[i, i:])
        E1[:, i] = e
    W[:, i2:] -= E1 @ U[i1:i2, i2:]
tq = time.perf_counter() - t0
codes.tofile(d + '/codes_np.u8')
# for reference only (not part of the timed anchor): the factor step with LAPACK's triangular inverse
# (dtrtri, n^3/3 flops instead of the n^3 of a triangular solve against I)
t1 = time.perf_counter()
L2, _ = cho_factor(2.0 * G[::-1, ::-1] + 0.01 * np.mean(2.0 * np.diag(G)) * np.eye(n), lower=True, overwrite_a=True, check_finite=False)
Li2, info = scipy.linalg.lapack.dtrtri(L2, lower=1, overwrite_c=1)
tf2 = time.perf_counter() - t1
print(json.dumps({'gram_s': tg, 'gptq_s': tq, 'factor_s': tf, 'factor_trtri_s': tf2, 'loss': loss, 'numpy': np.__version__, 'scipy': scipy.__version__}))
`;

const sel = await backendFromArgs({ fallback: 'wasm', threads: 1 });
const be: Backend | null = sel.backend.name === 'reference' ? null : sel.backend;

// ------------------------------------------------------------------ --memory: GPTQ's peak extra RSS (issue #13 shape)
if (args.includes('--memory')) {
  const n = opt('mem-n', 8192),
    m = opt('mem-m', 2048),
    T = opt('mem-tokens', 512);
  const status = (k: string) => {
    const l = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((x) => x.startsWith(k));
    return l ? Number(/(\d+) kB/.exec(l)![1]) / 1024 : NaN;
  };
  if (!be) throw new Error('--memory needs the WASM backend');
  log(`GPTQ memory: n = ${n}, m = ${m}, Gram from ${T} tokens (WASM backend) ...`);
  const rng = new Rng(3);
  const W = new Float32Array(m * n);
  for (let i = 0; i < W.length; i++) W[i] = rng.normal() * 0.02;
  const X = new Float32Array(T * n);
  const mix = Float32Array.from({ length: n }, () => rng.normal());
  for (let t = 0; t < T; t++) {
    const z = rng.normal();
    for (let j = 0; j < n; j++) X[t * n + j] = rng.normal() + z * mix[j]!;
  }
  const G = new Float64Array(n * n);
  gramAccumulate(G, X, T, n, be);
  const rss0 = status('VmRSS');
  writeFileSync('/proc/self/clear_refs', '5'); // reset the peak-RSS high-water mark (Linux)
  const t0 = performance.now();
  const { report } = gptq(new Tensor('f32', W, [m, n]), G, { bits: 4, backend: be });
  const sec = (performance.now() - t0) / 1000,
    peak = status('VmHWM'),
    n2 = (n * n * 8) / 2 ** 20;
  const mem = {
    n,
    m,
    tokens: T,
    seconds: sec,
    factorSeconds: report.timings!.factorMs / 1000,
    loopSeconds: report.timings!.loopMs / 1000,
    rssBeforeMiB: rss0,
    peakMiB: peak,
    extraPeakMiB: peak - rss0,
    n2F64MiB: n2,
    extraInN2F64: (peak - rss0) / n2,
    load: loadavg(),
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'quant-memory.json'), JSON.stringify({ date: new Date().toISOString(), ...mem }, null, 2) + '\n');
  console.log(`\n| GPTQ memory, m × n = ${m} × ${n}, Gram from ${T} tokens | value |\n| --- | ---: |`);
  console.log(`| RSS before the call (Gram, weights, backend in place) | ${rss0.toFixed(0)} MiB |\n| peak RSS during the call | ${peak.toFixed(0)} MiB |`);
  console.log(`| **extra peak** | **${(peak - rss0).toFixed(0)} MiB = ${mem.extraInN2F64.toFixed(2)} n² f64** (n² f64 = ${n2.toFixed(0)} MiB) |`);
  console.log(`| time (factor / loop) | ${sec.toFixed(1)} s (${mem.factorSeconds.toFixed(1)} / ${mem.loopSeconds.toFixed(1)} s) |`);
  console.log(`\nwrote bench/results/quant-memory.json — shared machine (load ${loadavg()[0]!.toFixed(1)})`);
  await sel.dispose();
  process.exit(0);
}
if (!skipGptq) {
  const gb = jsOnly ? undefined : (be ?? undefined);
  log(`GPTQ ${N} x ${N}, ${TOK} tokens (${gb ? 'lazy update + Gram on the WASM f64 GEMM' : 'pure JS'}) ...`);
  const rng = new Rng(7);
  const W = new Float32Array(N * N);
  for (let i = 0; i < W.length; i++) W[i] = rng.normal() * 0.02;
  // correlated activations with a few large channels, like a real layer input
  const X = new Float32Array(TOK * N);
  const mix = Float32Array.from({ length: N }, () => rng.normal());
  for (let t = 0; t < TOK; t++) {
    const z = rng.normal();
    for (let j = 0; j < N; j++) X[t * N + j] = (rng.normal() + z * mix[j]!) * (j % 97 === 0 ? 8 : 1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'llmpress-gptq-'));
  try {
    writeFileSync(join(dir, 'w.f32'), new Uint8Array(W.buffer));
    writeFileSync(join(dir, 'x.f32'), new Uint8Array(X.buffer));
    // GPTQ_REPS rounds, each: JS Gram + GPTQ, then the numpy child (alternating, so both see similar load)
    const js: { gram: number; gptq: number; factor: number; loop: number }[] = [],
      nps: any[] = [];
    let layer: any = null,
      report: any = null;
    for (let rep = 0; rep < GPTQ_REPS; rep++) {
      const t0 = performance.now();
      const G = new Float64Array(N * N);
      gramAccumulate(G, X, TOK, N, gb);
      const gramMs = performance.now() - t0;
      const t1 = performance.now();
      ({ layer, report } = gptq(new Tensor('f32', W, [N, N]), G, { bits: 4, percdamp: 0.01, blockSize: 128, backend: gb }));
      const gptqMs = performance.now() - t1;
      js.push({ gram: gramMs / 1000, gptq: gptqMs / 1000, factor: report.timings!.factorMs / 1000, loop: report.timings!.loopMs / 1000 });
      log(
        `  [${rep + 1}/${GPTQ_REPS}] JS gram ${(gramMs / 1000).toFixed(2)} s, GPTQ ${(gptqMs / 1000).toFixed(2)} s (factor ${(report.timings!.factorMs / 1000).toFixed(2)} s, loop ${(report.timings!.loopMs / 1000).toFixed(2)} s; loss ${report.loss.toExponential(4)}; load ${loadavg()[0]!.toFixed(1)})`,
      );
      const py = spawnSync('python3', ['-c', PY_GPTQ, dir, String(N), String(N), String(TOK)], { env: pyEnv(), encoding: 'utf8', maxBuffer: 1 << 24 });
      if (py.status !== 0) throw new Error(`numpy GPTQ failed: ${py.stderr}`);
      const np = JSON.parse(py.stdout.trim().split('\n').pop()!);
      nps.push(np);
      log(
        `  [${rep + 1}/${GPTQ_REPS}] numpy gram ${np.gram_s.toFixed(2)} s, GPTQ ${np.gptq_s.toFixed(2)} s (factor ${np.factor_s.toFixed(2)} s; loss ${np.loss.toExponential(4)})`,
      );
    }
    const np = nps[nps.length - 1];
    const codesNp = new Uint8Array(readFileSync(join(dir, 'codes_np.u8')));
    const ours = new Uint8Array(N * N);
    for (let r = 0; r < N; r++) {
      const row = new Uint8Array(N);
      const pk = layer.packed;
      for (let j = 0; j < N; j++) row[j] = (pk[r * layer.rowBytes + (j >> 1)]! >> ((j & 1) * 4)) & 15;
      ours.set(row, r * N);
    }
    let same = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] === codesNp[i]) same++;
    const agree = same / ours.length,
      lossRel = Math.abs(report.loss - np.loss) / np.loss;
    const ok = agree > 0.99 && lossRel < 0.01;
    log(`  check: ${(100 * agree).toFixed(3)}% identical codes, loss rel. diff ${lossRel.toExponential(2)} → ${ok ? 'OK' : 'MISMATCH'}`);
    const med = (k: string, xs: any[]) => median(xs.map((x) => x[k]));
    const ratios = js.map((j, i) => j.gptq / nps[i].gptq_s);
    out.gptq = {
      shape: `${N}x${N}`,
      tokens: TOK,
      reps: GPTQ_REPS,
      path: gb ? 'JS f64 + WASM f64 GEMM (blocked Cholesky, triangular inverse, lazy update, syrk Gram), 1 thread' : 'JS f64 on the reference backend',
      jsGramSeconds: med('gram', js),
      jsGptqSeconds: med('gptq', js),
      numpyGramSeconds: med('gram_s', nps),
      numpyGptqSeconds: med('gptq_s', nps),
      jsFactorSeconds: med('factor', js),
      jsLoopSeconds: med('loop', js),
      numpyFactorSeconds: med('factor_s', nps),
      numpyLoopSeconds: median(nps.map((x) => x.gptq_s - x.factor_s)),
      numpyFactorTrtriSeconds: med('factor_trtri_s', nps),
      scipy: np.scipy,
      gptqRatio: med('gptq', js) / med('gptq_s', nps),
      gramRatio: med('gram', js) / med('gram_s', nps),
      perRoundGptqRatios: ratios,
      perRoundGramRatios: js.map((j, i) => j.gram / nps[i].gram_s),
      rounds: js.map((j, i) => ({ js: j, numpy: { gram: nps[i].gram_s, gptq: nps[i].gptq_s, factor: nps[i].factor_s } })),
      codeAgreement: agree,
      lossRelDiff: lossRel,
      ok,
      numpy: np.numpy,
    };
    if (!ok) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kern: Record<string, unknown> = {};
if (!skipKernels) {
  // ------------------------------------------------------------------ 2. kernels
  const PY_KER = String.raw`
import sys, time, json
import numpy as np
n, T, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
W = rng.standard_normal((n, n)).astype(np.float32); x = rng.standard_normal(n).astype(np.float32); X = rng.standard_normal((T, n)).astype(np.float32)
def med(f):
    f(); ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]
print(json.dumps({'gemv_s': med(lambda: W @ x), 'gemm_s': med(lambda: X @ W.T)}))
`;
  const KN = Math.min(N, 4096),
    KT = 64;
  log(`kernels ${KN} x ${KN} (GEMM with ${KT} tokens) ...`);
  const rng = new Rng(11);
  const Wf = new Float32Array(KN * KN);
  for (let i = 0; i < Wf.length; i++) Wf[i] = rng.normal() * 0.02;
  const xv = new Float32Array(KN);
  for (let i = 0; i < KN; i++) xv[i] = rng.normal();
  const Xm = new Float32Array(KT * KN);
  for (let i = 0; i < Xm.length; i++) Xm[i] = rng.normal();
  const q = rtnQuantize(new Tensor('f32', Wf, [KN, KN]), { bits: 4, groupSize: 128 });
  const Wd = q.toDense().data as Float32Array;
  const check = (name: string, y: Float32Array, X: Float32Array, rows: number, deq: Float32Array, xs?: Float32Array) => {
    let worst = 0;
    for (let s = 0; s < 16; s++) {
      const t = s % rows,
        i = (s * 977) % KN;
      let want = 0,
        bound = 0;
      for (let j = 0; j < KN; j++) {
        const xx = xs ? xs[t * KN + j]! : X[t * KN + j]!;
        want += deq[i * KN + j]! * xx;
        bound += Math.abs(deq[i * KN + j]! * xx);
      }
      worst = Math.max(worst, Math.abs(y[t * KN + i]! - want) / (bound * 1e-5 + 1e-30));
    }
    if (worst > 1) {
      log(`  CHECK FAILED: ${name}`);
      process.exitCode = 1;
    }
    return worst <= 1;
  };
  Object.assign(kern, { shape: `${KN}x${KN}`, gemmTokens: KT, backend: be?.name ?? 'none' });
  // JS paths (always)
  const yJs = q.forward(new Tensor('f32', xv, [1, KN])).data as Float32Array;
  kern.jsInt4GemvMs = time(() => {
    q.forward(new Tensor('f32', xv, [1, KN]));
  }, REPS);
  check('js int4 gemv', yJs, xv, 1, Wd);
  const aq = quantizeActivations(Xm, KT, KN, { bits: 4, clip: 1 });
  const xs4 = new Float32Array(KT * KN);
  for (let t = 0; t < KT; t++) for (let j = 0; j < KN; j++) xs4[t * KN + j] = aq.scales[t]! * aq.codes[t * KN + j]!;
  const yJs44 = integerForward(q, aq, KT);
  kern.jsW4a4GemmMs = time(
    () => {
      integerForward(q, aq, KT);
    },
    Math.max(1, Math.floor(REPS / 2)),
  );
  check('js w4a4 gemm', yJs44, Xm, KT, Wd, xs4);
  if (be) {
    const Wr = be.allocate!('f32', KN * KN) as Float32Array;
    Wr.set(Wf);
    const xr = be.allocate!('f32', KN) as Float32Array;
    xr.set(xv);
    const yr = be.allocate!('f32', KN) as Float32Array;
    const Xr = be.allocate!('f32', KT * KN) as Float32Array;
    Xr.set(Xm);
    const Cr = be.allocate!('f32', KT * KN) as Float32Array;
    be.gemv!({ trans: false, m: KN, n: KN, alpha: 1, a: Wr, aOffset: 0, lda: KN, x: xr, xOffset: 0, beta: 0, y: yr, yOffset: 0 });
    check('wasm f32 gemv', yr, xv, 1, Wf);
    be.gemm!({
      transA: false,
      transB: true,
      m: KT,
      n: KN,
      k: KN,
      alpha: 1,
      a: Xr,
      aOffset: 0,
      lda: KN,
      b: Wr,
      bOffset: 0,
      ldb: KN,
      beta: 0,
      c: Cr,
      cOffset: 0,
      ldc: KN,
    });
    check('wasm f32 gemm', Cr, Xm, KT, Wf);
    const { w, scales } = q.kernelWeights(be);
    const y4 = be.allocate!('f32', KN) as Float32Array;
    be.int4Gemv!({ m: KN, n: KN, groupSize: 128, w, scales, x: xr, y: y4 });
    check('wasm int4 gemv', y4, xv, 1, Wd);
    kern.layerInt4GemvMs = time(() => {
      q.forward(new Tensor('f32', xv, [1, KN]), { backend: be });
    }, REPS);
    const ap = new Uint8Array((KT * KN) / 2);
    for (let i = 0; i < ap.length; i++) ap[i] = (aq.codes[2 * i]! & 15) | ((aq.codes[2 * i + 1]! & 15) << 4);
    const as = new Float32Array(KT * (KN / 128));
    for (let t = 0; t < KT; t++) as.fill(aq.scales[t]!, t * (KN / 128), (t + 1) * (KN / 128));
    const C4 = be.allocate!('f32', KT * KN) as Float32Array;
    be.w4a4Gemm!({ m: KT, n: KN, k: KN, groupSize: 128, a: ap, aScales: as, w, wScales: scales, c: C4 });
    check('wasm w4a4 gemm', C4, Xm, KT, Wd, xs4);
    // W4A8: the same tiled kernel with int8 activations (per-token 8-bit codes)
    const aq8 = quantizeActivations(Xm, KT, KN, { bits: 8, clip: 1 });
    const xs8 = new Float32Array(KT * KN);
    for (let t = 0; t < KT; t++) for (let j = 0; j < KN; j++) xs8[t * KN + j] = aq8.scales[t]! * aq8.codes[t * KN + j]!;
    const as8 = new Float32Array(KT * (KN / 128));
    for (let t = 0; t < KT; t++) as8.fill(aq8.scales[t]!, t * (KN / 128), (t + 1) * (KN / 128));
    const C8 = be.allocate!('f32', KT * KN) as Float32Array;
    const w4a8 = () => be.w4a8Gemm!({ m: KT, n: KN, k: KN, groupSize: 128, a: aq8.codes, aScales: as8, w, wScales: scales, c: C8 });
    w4a8();
    check('wasm w4a8 gemm', C8, Xm, KT, Wd, xs8);
    // the whole layer: per-token activation quantization (JS) + the integer GEMM
    const layer = new QuantActLinear({ weight: q, outlier: null, outlierColumns: 0, act: { bits: 4, clip: 1 }, rotation: null });
    const Xt = new Tensor('f32', Xm, [KT, KN]);
    kern.layerW4a4GemmMs = time(() => {
      layer.forward(Xt, { backend: be });
    }, REPS);
    check('QuantActLinear W4A4 (wasm)', layer.forward(Xt, { backend: be }).data as Float32Array, Xm, KT, Wd, xs4);
    // f32 GEMM and the integer GEMMs again, round-robin (one run each per round) so load swings hit all alike
    const rr = timeRR(
      {
        f32Gemm: () =>
          be.gemm!({
            transA: false,
            transB: true,
            m: KT,
            n: KN,
            k: KN,
            alpha: 1,
            a: Xr,
            aOffset: 0,
            lda: KN,
            b: Wr,
            bOffset: 0,
            ldb: KN,
            beta: 0,
            c: Cr,
            cOffset: 0,
            ldc: KN,
          }),
        w4a4Gemm: () => be.w4a4Gemm!({ m: KT, n: KN, k: KN, groupSize: 128, a: ap, aScales: as, w, wScales: scales, c: C4 }),
        w4a8Gemm: w4a8,
        f32Gemv: () => be.gemv!({ trans: false, m: KN, n: KN, alpha: 1, a: Wr, aOffset: 0, lda: KN, x: xr, xOffset: 0, beta: 0, y: yr, yOffset: 0 }),
        int4Gemv: () => be.int4Gemv!({ m: KN, n: KN, groupSize: 128, w, scales, x: xr, y: y4 }),
      },
      Math.max(5, 2 * REPS),
    );
    kern.roundRobin = rr;
    // the headline numbers are the round-robin medians
    kern.f32GemmMs = rr.f32Gemm!.median;
    kern.w4a4GemmMs = rr.w4a4Gemm!.median;
    kern.w4a8GemmMs = rr.w4a8Gemm!.median;
    kern.f32GemvMs = rr.f32Gemv!.median;
    kern.int4GemvMs = rr.int4Gemv!.median;
    check('wasm w4a4 gemm (round-robin)', C4, Xm, KT, Wd, xs4);
  }
  const pk = spawnSync('python3', ['-c', PY_KER, String(KN), String(KT), String(REPS)], { env: pyEnv(), encoding: 'utf8' });
  if (pk.status === 0) {
    const r = JSON.parse(pk.stdout.trim());
    kern.numpyF32GemvMs = r.gemv_s * 1000;
    kern.numpyF32GemmMs = r.gemm_s * 1000;
  }
  out.kernels = kern;
}
out.loadavgAtEnd = loadavg();
console.log(sel.describe());
await sel.dispose();

mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'quant.json'), JSON.stringify(out, null, 2) + '\n');

const f = (v: unknown, d = 1) => (typeof v === 'number' ? v.toFixed(d) : 'n/a');
const g = out.gptq as any;
if (g) {
  const sp = (xs: number[]) => (xs.length > 1 ? ` (rounds ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}×)` : '');
  console.log(
    `\n| GPTQ ${g.shape}, ${g.tokens} tokens${g.reps > 1 ? `, median of ${g.reps} rounds` : ''} | llmpress (${g.path}) | numpy + scipy (1 thread) | ratio |`,
  );
  console.log('| --- | ---: | ---: | ---: |');
  console.log(`| Gram XᵀX | ${f(g.jsGramSeconds, 2)} s | ${f(g.numpyGramSeconds, 2)} s | ${f(g.gramRatio, 2)}×${sp(g.perRoundGramRatios)} |`);
  console.log(
    `| GPTQ total (damp, Cholesky, inverse, column loop) | ${f(g.jsGptqSeconds, 2)} s | ${f(g.numpyGptqSeconds, 2)} s | **${f(g.gptqRatio, 2)}×**${sp(g.perRoundGptqRatios)} |`,
  );
  console.log(
    `| – factor: H⁻¹'s upper Cholesky factor U | ${f(g.jsFactorSeconds, 2)} s | ${f(g.numpyFactorSeconds, 2)} s (potrf + trsm) | ${f(g.jsFactorSeconds / g.numpyFactorSeconds, 2)}× |`,
  );
  console.log(
    `| – column loop + lazy batch GEMMs | ${f(g.jsLoopSeconds, 2)} s | ${f(g.numpyLoopSeconds, 2)} s | ${f(g.jsLoopSeconds / g.numpyLoopSeconds, 2)}× |`,
  );
  console.log(
    `| (reference only) factor with LAPACK dtrtri | | ${f(g.numpyFactorTrtriSeconds, 2)} s | ${f(g.jsFactorSeconds / g.numpyFactorTrtriSeconds, 2)}× |`,
  );
  console.log(`\ncheck: ${(100 * g.codeAgreement).toFixed(3)}% identical 4-bit codes, GPTQ loss rel. diff ${g.lossRelDiff.toExponential(2)}`);
}
if (!skipKernels) {
  const k = kern as any;
  console.log(`\n| kernel ${k.shape} (WASM rows: round-robin medians) | time (ms) | speed vs WASM f32 (>1 = faster) |`);
  console.log('| --- | ---: | ---: |');
  console.log(`| WASM f32 GEMV | ${f(k.f32GemvMs, 2)} | 1.00× |`);
  console.log(`| WASM int4 GEMV (backend.int4Gemv, g128) | ${f(k.int4GemvMs, 2)} | ${f(k.f32GemvMs / k.int4GemvMs, 2)}× |`);
  console.log(`| QuantizedLinear.forward, 1 token, WASM backend | ${f(k.layerInt4GemvMs, 2)} | ${f(k.f32GemvMs / k.layerInt4GemvMs, 2)}× |`);
  console.log(`| QuantizedLinear.forward, 1 token, JS path | ${f(k.jsInt4GemvMs, 2)} | ${f(k.f32GemvMs / k.jsInt4GemvMs, 2)}× |`);
  console.log(`| numpy f32 GEMV (1 thread) | ${f(k.numpyF32GemvMs, 2)} | |`);
  console.log(`| WASM f32 GEMM (${k.gemmTokens} tokens) | ${f(k.f32GemmMs, 2)} | 1.00× |`);
  console.log(`| WASM W4A4 GEMM (backend.w4a4Gemm) | ${f(k.w4a4GemmMs, 2)} | ${f(k.f32GemmMs / k.w4a4GemmMs, 2)}× |`);
  console.log(`| JS W4A4 integer kernel (integerForward) | ${f(k.jsW4a4GemmMs, 2)} | ${f(k.f32GemmMs / k.jsW4a4GemmMs, 2)}× |`);
  console.log(`| WASM W4A8 GEMM (backend.w4a8Gemm) | ${f(k.w4a8GemmMs, 2)} | ${f(k.f32GemmMs / k.w4a8GemmMs, 2)}× |`);
  console.log(
    `| QuantActLinear.forward W4A4, ${k.gemmTokens} tokens, WASM backend (incl. act. quant.) | ${f(k.layerW4a4GemmMs, 2)} | ${f(k.f32GemmMs / k.layerW4a4GemmMs, 2)}× |`,
  );
  console.log(`| numpy f32 GEMM (1 thread) | ${f(k.numpyF32GemmMs, 2)} | |`);
  const rr = k.roundRobin;
  if (rr) {
    console.log(`\n| round-robin (one run each per round), ms | best | median | worst | CPU ms (median) | × f32 (median) | × f32 (best) | × f32 (CPU time) |`);
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [name, base] of [
      ['f32Gemm', 'f32Gemm'],
      ['w4a4Gemm', 'f32Gemm'],
      ['w4a8Gemm', 'f32Gemm'],
      ['f32Gemv', 'f32Gemv'],
      ['int4Gemv', 'f32Gemv'],
    ] as const) {
      const v = rr[name],
        b = rr[base];
      console.log(
        `| ${name} | ${f(v.best, 2)} | ${f(v.median, 2)} | ${f(v.worst, 2)} | ${f(v.cpuMedian, 2)} | ${f(b.median / v.median, 2)}× | ${f(b.best / v.best, 2)}× | ${f(b.cpuMedian / v.cpuMedian, 2)}× |`,
      );
    }
  }
}
console.log(`\nwrote bench/results/quant.json — shared busy machine (load ${loadavg()[0]!.toFixed(1)}): timings are noisy`);
