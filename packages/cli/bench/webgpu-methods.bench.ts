/**
 * `pnpm bench webgpu-methods [--methods a,b] [--calib N] [--evals N] [--len T] [--min-flops F] [--threads N] [--f64 P] [--min-flops-df32 F]`
 *
 * Times every method (compress + evaluate) on stories260K on the WebGPU backend (the synchronous
 * facade, @llmpress/backend-webgpu) against the WASM backend on the same settings, and prints the
 * WebGPU/WASM time ratio, both perplexities and where the GEMMs ran. `--min-flops` is the facade's
 * routing threshold (default 0: every GEMM on the GPU; the library default is 2^24). On a software
 * adapter (lavapipe, SwiftShader) this is a correctness run, not a speed claim. `--f64` is the facade's
 * f64 policy (default `df32`: f64 GEMMs in double-f32 on the GPU; `exact-f32-only`, `all`, `cpu`);
 * `--min-flops-df32` the smallest f64 GEMM sent to the GPU in double-f32 (default 2^16: the
 * decompositions' tiny f64 GEMMs cost ~2 ms of round trip each on lavapipe). Writes
 * bench/results/webgpu-methods.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWasmBackend } from '@llmpress/backend-wasm/node';
import { createWebGpuSyncBackend } from '@llmpress/backend-webgpu/node';
import { methodSetup, runMethod, WEBGPU_METHODS } from './webgpu-methods.run.js';
import type { MethodName } from '../src/methods.js';

const argv = process.argv.slice(2);
const arg = (name: string, def?: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const methods = (arg('methods')?.split(',') ?? WEBGPU_METHODS) as MethodName[];
const minFlops = Number(arg('min-flops', '0'));
const threads = Number(arg('threads', '1'));
const minFlopsDf32 = Number(arg('min-flops-df32', String(2 ** 16)));
const f64 = arg('f64', 'df32') as 'df32' | 'exact-f32-only' | 'all' | 'cpu';
const setup = methodSetup({ calib: Number(arg('calib', '2')), evals: Number(arg('evals', '2')), len: Number(arg('len', '128')) });

const wasm = await createWasmBackend({ threads });
if (!wasm) {
  console.error('the WASM backend cannot run here');
  process.exit(1);
}
let why = '';
const gpu = await createWebGpuSyncBackend({
  cpu: wasm,
  minFlops,
  minFlopsDf32,
  f64,
  onUnavailable: (r) => {
    why = r;
  },
});
if (!gpu) {
  console.error(`WebGPU is not available here: ${why}`);
  process.exit(1);
}
const ad = gpu.adapter;
const adapter = [ad.vendor, ad.architecture, ad.device, ad.description].filter(Boolean).join(' / ');
console.log(`# webgpu-methods — ${setup.describe}`);
console.log(
  `WebGPU adapter: ${adapter}${ad.software ? ' (SOFTWARE adapter: a correctness run, not a speed claim)' : ''}; GEMM kernel ${gpu.gemmKernel}; minFlops ${minFlops}; f64 policy ${gpu.stats().f64.policy} (asked: ${f64}), minFlopsDf32 ${minFlopsDf32}`,
);
console.log(`WASM: ${wasm.capabilities.threads} thread(s); the facade's CPU side (small/f64 calls) is the same WASM backend\n`);
console.log(
  '| method | setting | WASM s | WebGPU s | WebGPU/WASM | ppl WASM | ppl WebGPU | Δppl | GEMMs on GPU | of which f64 in df32 | GEMMs routed to CPU (f64/small) | fallbacks |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
const rows = [];
for (const m of methods) {
  const a = await runMethod(m, setup, wasm);
  gpu.resetStats();
  const b = await runMethod(m, setup, gpu);
  const s = gpu.stats();
  const tw = a.compressSeconds + a.evalSeconds,
    tg = b.compressSeconds + b.evalSeconds;
  const routed = Object.entries(s.routed)
    .filter(([k]) => k.startsWith('gemm:'))
    .reduce((x, [, v]) => x + v, 0);
  const fb =
    Object.entries(s.fallbacks)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ') || '0';
  console.log(
    `| ${m} | ${a.setting} | ${tw.toFixed(2)} | ${tg.toFixed(2)} | ${(tg / tw).toFixed(2)}× | ${a.ppl.toFixed(4)} | ${b.ppl.toFixed(4)} | ${((b.ppl / a.ppl - 1) * 100).toFixed(4)}% | ${s.gpu.gemm ?? 0} | ${s.gpu['gemm:df32'] ?? 0} | ${routed} | ${fb} |`,
  );
  rows.push({ method: m, setting: a.setting, wasm: a, webgpu: b, ratio: tg / tw, stats: { gpu: s.gpu, routed: s.routed, fallbacks: s.fallbacks } });
}
await gpu.dispose();
await wasm.dispose?.();
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const out = join(root, 'bench', 'results', 'webgpu-methods.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      setup: setup.describe,
      adapter: { ...ad },
      gemmKernel: gpu.gemmKernel,
      minFlops,
      minFlopsDf32,
      f64: gpu.stats().f64,
      wasmThreads: threads,
      rows,
    },
    null,
    2,
  ),
);
console.log(`\nwrote ${out}`);
