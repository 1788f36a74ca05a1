/**
 * `pnpm bench svd-llm [--quick] [--shape 4096x11008] [--rank 256] [--reference] [--backend wasm|auto|webgpu|reference]`
 *
 * SVD-LLM's per-layer work on a synthetic m × n layer (default 4096 × 11008, LLaMA-7B's down_proj
 * transposed: out 4096, in 11008): Cholesky whitening of a realistic n × n Gram
 * G = D (F Fᵀ + s² I) D (64 shared activation directions, heavy-tailed per-channel scales with
 * outlier channels), then a RANDOMIZED truncated SVD of W·L at rank k (k + 10 samples, 2 power
 * iterations with QR re-orthonormalisation, applied as an operator: W·L is never formed), then
 * the factors W_u = U_k Σ^{1/2}, W_v = Σ^{-1/2} U_kᵀ W (projection form, one GEMM; total) — the
 * paper's W_v = Σ^{1/2} V_kᵀ L⁻¹ (triangular solve) is timed as an extra row 'factorsInverse'. k = 256 means ~91.5%
 * of this layer's parameters removed — randomized SVD is the right tool only because k ≪ min(m, n);
 * at 20–60% removal (k ≈ 1.2k–2.2k) a full SVD would be needed.
 * numpy (OPENBLAS_NUM_THREADS=1) runs the identical pipeline on the identical inputs (same W, G,
 * same Gaussian test matrix) in the same run. Results are checked (σ and W_u W_v x on a probe
 * agree with numpy). Everything in f64. The machine is shared and busy: timings are noisy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, Rng, matmul, type Backend } from '@llmpress/tensor';
import { cholesky, solveTriangular, qr, svd } from '@llmpress/decompositions';
import { backendFromArgs } from '../../../scripts/backend-arg.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const shapeArg = args.includes('--shape') ? args[args.indexOf('--shape') + 1]! : quick ? '1024x2752' : '4096x11008';
const [m, n] = shapeArg.split('x').map(Number) as [number, number];
const k = args.includes('--rank') ? Number(args[args.indexOf('--rank') + 1]) : quick ? 64 : 256;
const p = 10,
  q = 2,
  r = 64,
  noise = 0.05;
const l = k + p;

function f64(shape: number[], fill: (i: number) => number): Tensor<'f64'> {
  const size = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(size);
  for (let i = 0; i < size; i++) d[i] = fill(i);
  return new Tensor('f64', d, shape);
}

async function main() {
  const sel = await backendFromArgs({ fallback: args.includes('--reference') ? 'reference' : 'wasm', threads: 1 });
  const backend: Backend = sel.backend;
  const be = { backend };
  console.log(`# svd-llm bench: whitening (Cholesky) + randomized rank-${k} SVD of W·L + factors, W ${m}×${n}, f64, backend ${backend?.name ?? 'reference'}`);
  const rng = new Rng(7);
  // W: decaying spectrum (256 directions with σ_i ∝ 0.98^i) + a noise floor
  const rr = 256;
  const A = f64([m, rr], () => rng.normal());
  const Bm = f64([rr, n], (i) => rng.normal() * Math.pow(0.98, Math.floor(i / n)));
  const W = matmul(A, Bm, be) as Tensor<'f64'>;
  for (let i = 0; i < W.data.length; i++) W.data[i] = W.data[i]! / Math.sqrt(n * rr) + 0.002 * rng.normal();
  // G = D (F Fᵀ + s² I) D
  const F = f64([n, r], () => rng.normal() / Math.sqrt(r));
  const D = new Float64Array(n);
  for (let i = 0; i < n; i++) D[i] = Math.exp(0.5 * rng.normal()) * (rng.uniform() < 0.005 ? 20 : 1);
  const Om = f64([n, l], () => rng.normal());
  const probe = f64([n], () => rng.normal());
  const dir = mkdtempSync(join(tmpdir(), 'svd-llm-bench-'));
  const dump = (name: string, t: Tensor | Float64Array) =>
    writeFileSync(join(dir, name), new Uint8Array((t instanceof Float64Array ? t : (t.contiguous().data as Float64Array)).buffer));
  dump('W.f64', W);
  dump('F.f64', F);
  dump('D.f64', D);
  dump('Omega.f64', Om);
  dump('probe.f64', probe);

  // ---------------- numpy, same run (first, so both processes never hold the n × n matrices at once)
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const res = spawnSync('python3', [fileURLToPath(new URL('./svd-llm_ref.py', import.meta.url))], {
    input: JSON.stringify({ dir, m, n, r, k, p, q, noise }),
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  rmSync(dir, { recursive: true, force: true });
  if (res.status !== 0) throw new Error(`numpy reference failed: ${res.stderr}`);
  const ref = JSON.parse(res.stdout) as { numpy: string; ms: Record<string, number>; sigma: number[]; probe: number[] };

  // ---------------- llmpress
  const G = matmul(F, F.T, be) as Tensor<'f64'>;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) G.data[i * n + j] = (G.data[i * n + j]! + (i === j ? noise * noise : 0)) * D[i]! * D[j]!;
  const ms: Record<string, number> = {};
  const t0 = performance.now();
  const L = cholesky(G, be).l;
  const t1 = performance.now();
  ms.cholesky = t1 - t0;
  const orth = (Y: Tensor) => qr(Y, { mode: 'thin', backend }).q!;
  const AL = (X: Tensor) => matmul(W, matmul(L, X, be), be); // (W L) X
  const ALt = (Y: Tensor) => matmul(L.T, matmul(W.T, Y, be), be); // (W L)ᵀ Y
  let Q = orth(AL(Om));
  for (let it = 0; it < q; it++) {
    const Z = orth(ALt(Q));
    Q = orth(AL(Z));
  }
  const Bt = ALt(Q); // n × l = (Qᵀ A)ᵀ
  const sv = svd(Bt.T.contiguous(), { vectors: 'thin', backend });
  const U = matmul(Q, sv.u!, be).slice(null, [0, k]).contiguous();
  const sigma = Float64Array.from(sv.s.contiguous().data as Float64Array).slice(0, k);
  const Vk = sv.vt!.slice([0, k]).contiguous(); // k × n
  const t2 = performance.now();
  ms.randomizedSvd = t2 - t1;
  const rs = sigma.map(Math.sqrt);
  const Wu = U.contiguous(true) as Tensor<'f64'>;
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) Wu.data[i * k + j]! *= rs[j]!;
  // factors, projection form (svdLlm's `factors: 'projection'`): W_v = Σ^{-1/2} U_kᵀ W, one GEMM
  const Wv = matmul(U.T, W, be).contiguous(true) as Tensor<'f64'>;
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) Wv.data[i * n + j]! /= rs[i]!;
  const t3 = performance.now();
  ms.factors = t3 - t2;
  ms.total = t3 - t0;
  // factors, the paper's inverse form (svdLlm's default): W_vᵀ = L⁻ᵀ V_k Σ^{1/2} (triangular solve); timed, not in the total
  const t4 = performance.now();
  const VkS = Vk.T.contiguous(true) as Tensor<'f64'>; // n × k, columns scaled by √σ
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) VkS.data[i * k + j]! *= rs[j]!;
  const WvT = solveTriangular(L, VkS, { lower: true, trans: true, backend });
  ms.factorsInverse = performance.now() - t4;
  const y = matmul(Wu, matmul(Wv, probe, be), be).contiguous().data as Float64Array;
  const yInv = matmul(Wu, matmul(WvT.T, probe, be), be).contiguous().data as Float64Array;

  // ---------------- checks
  let sErr = 0;
  for (let i = 0; i < k; i++) sErr = Math.max(sErr, Math.abs(sigma[i]! - ref.sigma[i]!) / ref.sigma[0]!);
  let num = 0,
    den = 0;
  for (let i = 0; i < m; i++) {
    num += (y[i]! - ref.probe[i]!) ** 2;
    den += ref.probe[i]! ** 2;
  }
  const probeErr = Math.sqrt(num / den);
  let num2 = 0;
  for (let i = 0; i < m; i++) num2 += (yInv[i]! - ref.probe[i]!) ** 2;
  const probeErrInverse = Math.sqrt(num2 / den);
  const ok = sErr < 1e-6 && probeErr < 1e-4 && probeErrInverse < 1e-4;
  if (args.includes('--debug')) console.log(JSON.stringify([Array.from(sigma.slice(0, 5)), ref.sigma.slice(0, 5)]));
  console.log(
    `check: max |σ_i − σ_i(numpy)| / σ_1 = ${sErr.toExponential(2)}, ‖W_u W_v x − numpy‖/‖numpy‖ = ${probeErr.toExponential(2)} (projection), ${probeErrInverse.toExponential(2)} (inverse) → ${ok ? 'OK' : 'MISMATCH'}`,
  );

  const rows = ['cholesky', 'randomizedSvd', 'factors', 'total', 'factorsInverse'].map((step) => ({
    step,
    shape: `${m}x${n}`,
    rank: k,
    llmpressMs: ms[step]!,
    numpyMs: ref.ms[step]!,
    ratio: ms[step]! / ref.ms[step]!,
  }));
  console.log(`numpy ${ref.numpy} (OPENBLAS_NUM_THREADS=1)\n`);
  console.log('| step | shape | rank | llmpress (ms) | numpy 1 thread (ms) | ratio |');
  console.log('|---|---|---|---|---|---|');
  for (const x of rows) console.log(`| ${x.step} | ${x.shape} | ${x.rank} | ${x.llmpressMs.toFixed(0)} | ${x.numpyMs.toFixed(0)} | ${x.ratio.toFixed(2)}× |`);
  const outDir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, args.includes('--shape') ? `svd-llm-${m}x${n}.json` : quick ? 'svd-llm-quick.json' : 'svd-llm.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        backend: backend?.name ?? 'reference',
        dtype: 'f64',
        m,
        n,
        rank: k,
        oversample: p,
        powerIterations: q,
        check: { sigmaErr: sErr, probeErr, probeErrInverse, ok },
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${file}`);
  console.log(sel.describe());
  await sel.dispose();
  if (!ok) process.exit(1);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
