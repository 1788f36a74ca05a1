/**
 * Issue 20: every method compresses stories260K with the WebGPU backend (the synchronous facade of
 * @llmpress/backend-webgpu, GPU thread on Dawn; Mesa lavapipe on machines without a GPU) and the
 * perplexity matches the WASM backend's on the same settings within 1%, with no GPU→CPU fallback; the
 * SVDq/KIVI KV evaluation runs its forward pass on WebGPU. Software WebGPU is slow: small windows
 * (2 calibration + 2 evaluation windows of 128 tokens; see packages/cli/bench/webgpu-methods.run.ts).
 * Every call is forced onto the GPU (`minFlops: 0`), f64 GEMMs in double-f32 (the default `f64: 'df32'`).
 * Skips with the reason without data or WebGPU.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasData, dataDir } from '@llmpress/tensor/testing';
import type { Backend } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm/node';
import { createWebGpuSyncBackend, nodeWebGpuUnavailableReason, type WebGpuSyncBackend } from '@llmpress/backend-webgpu/node';
import { CompressedKVCache, kiviKeys, kiviValues, svdqKeys, type KVCacheLike } from '@llmpress/kv-cache';
import { methodSetup, runMethod, WEBGPU_METHODS, type MethodSetup } from '../packages/cli/bench/webgpu-methods.run.js';

const reason = !hasData() ? `no model data under ${dataDir()}` : await nodeWebGpuUnavailableReason();

/**
 * Counts the f64 GEMMs of a run by the method-level function that issued them (first stack frame in a
 * method package: `whiten` for SVD-LLM's whitening, `gptq` for GPTQ's block updates, `cholesky`...) and
 * whether each ran on the GPU in double-f32. Wraps `gpu.gemm` until `delete gpu.gemm`.
 */
function trackF64Sites(gpu: WebGpuSyncBackend): Map<string, { gpu: number; cpu: number }> {
  const sites = new Map<string, { gpu: number; cpu: number }>();
  const inner = gpu.gemm.bind(gpu);
  (gpu as any).gemm = (args: Parameters<typeof inner>[0]) => {
    if (!(args.a instanceof Float64Array)) return inner(args);
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 60;
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = limit;
    const frame = stack.split('\n').find((l) => /packages\/(low-rank|quantizers|decompositions|tt-networks|nullspace|models)\/src\//.test(l));
    const m = frame?.match(/at (?:Object\.)?([\w$.<>]+) \(.*\/packages\/([\w-]+)\/src\/([\w./-]+):/);
    const where = m ? `${m[1]} (${m[2]}/${m[3]})` : 'unknown';
    const key = /\bat whiten \(/.test(stack) ? `whiten > ${where}` : where;
    const before = gpu.stats().gpu['gemm:df32'] ?? 0;
    inner(args);
    const ran = (gpu.stats().gpu['gemm:df32'] ?? 0) > before;
    const e = sites.get(key) ?? { gpu: 0, cpu: 0 };
    if (ran) e.gpu++;
    else e.cpu++;
    sites.set(key, e);
  };
  return sites;
}

describe('issue 20: methods and the KV evaluation on WebGPU (node)', () => {
  if (reason) {
    it.skip(`skipped: ${reason}`, () => {});
    return;
  }
  let wasm: Backend, gpu: WebGpuSyncBackend, gpuExact: WebGpuSyncBackend, setup: MethodSetup;
  beforeAll(async () => {
    wasm = (await createWasmBackend({ threads: 1 }))!;
    // f64 GEMMs in double-f32 from 2^16 flops: saten's ~65 000 smaller ones (TT-SVD internals) would
    // cost ~2 ms of round trip each on lavapipe (measured: its run went from 23 s to 168 s)
    gpu = (await createWebGpuSyncBackend({ cpu: wasm, minFlops: 0, minFlopsDf32: 2 ** 16 }))!;
    // Saten runs with its f64 GEMMs on WASM (`exact-f32-only`): its ~12 000 f64 GEMMs above 2^16
    // flops in df32 took 71 s on lavapipe, too long a synchronous stretch for vitest's worker RPC.
    gpuExact = (await createWebGpuSyncBackend({ cpu: wasm, minFlops: 0, f64: 'exact-f32-only' }))!;
    setup = methodSetup({ calib: 2, evals: 2, len: 128 });
  });
  afterAll(async () => {
    await gpu?.dispose();
    await gpuExact?.dispose();
    await wasm?.dispose?.();
  });

  // WASM and WebGPU runs are separate tests: each is one long synchronous stretch (the facade blocks on
  // Atomics.wait), and vitest's worker must answer its RPC between them
  const onWasm = new Map<string, number>();
  const gpuDf32 = () => gpu;
  for (const method of WEBGPU_METHODS) {
    it(`${method} on WASM (the baseline)`, async () => {
      onWasm.set(method, (await runMethod(method, setup, wasm)).ppl);
    });
    it(`${method} on WebGPU: perplexity within 1% of WASM, GEMMs on the GPU, no fallbacks`, async () => {
      const df32 = method !== 'saten';
      const gpu = df32 ? gpuDf32() : gpuExact;
      gpu.resetStats();
      const sites = method === 'svd-llm' || method === 'gptq' ? trackF64Sites(gpu) : null;
      let onGpu: Awaited<ReturnType<typeof runMethod>>;
      try {
        onGpu = await runMethod(method, setup, gpu);
      } finally {
        delete (gpu as any).gemm;
      }
      const s = gpu.stats();
      if (sites) {
        console.log(`${method}: f64 GEMMs by call site (df32 on the GPU / on the CPU): ${JSON.stringify(Object.fromEntries(sites))}`);
        // SVD-LLM's whitening (eigh of the Gram) and GPTQ's block updates: their f64 GEMMs ran on the GPU
        const key = method === 'svd-llm' ? 'whiten' : 'gptq';
        const hit = [...sites].filter(([k]) => k.startsWith(`${key} `));
        expect(hit.reduce((x, [, v]) => x + v.gpu, 0)).toBeGreaterThan(0);
      }
      expect(Math.abs(onGpu.ppl / onWasm.get(method)! - 1)).toBeLessThan(0.01);
      expect(s.gpu.gemm).toBeGreaterThan(100);
      expect(s.fallbacks).toEqual({});
      expect(s.lost).toBe(false);
      expect(s.device?.fallbacks).toEqual({});
      // f64 GEMMs (decompositions, GPTQ's updates, Grams) run on the GPU in double-f32: none routed to the CPU for being f64
      expect(s.f64.policy).toBe(df32 ? 'df32' : 'exact-f32-only');
      if (df32) expect(s.routed['gemm:f64'] ?? 0).toBe(0); // only `gemm:f64-small` (below minFlopsDf32) stay on the CPU
      if (df32 && method !== 'rtn') expect(s.gpu['gemm:df32']).toBeGreaterThan(0);
      console.log(
        `${method}: GEMMs on the GPU ${s.gpu.gemm} (df32 ${s.gpu['gemm:df32'] ?? 0}), routed ${JSON.stringify(s.routed)}, ppl ${onGpu.ppl} vs WASM ${onWasm.get(method)}`,
      );
    });
  }

  it('device loss in the middle of an SVD-LLM run: one warning, the rest on WASM, same perplexity', async () => {
    const lostReasons: string[] = [];
    const b = (await createWebGpuSyncBackend({ cpu: wasm, minFlops: 0, onLost: (r) => lostReasons.push(r) }))!;
    try {
      // destroy the device right after the 50th GPU GEMM (calibration Grams of block 0 are done by then)
      const gemm = b.gemm.bind(b);
      let calls = 0;
      (b as any).gemm = (args: any) => {
        gemm(args);
        if (++calls === 50) b.simulateDeviceLoss();
      };
      const onGpu = await runMethod('svd-llm', setup, b);
      const s = b.stats();
      expect(s.lost).toBe(true);
      expect(s.gpu.gemm).toBe(50);
      expect(s.fallbacks['gemm:device-lost']).toBeGreaterThan(100);
      expect(lostReasons).toHaveLength(1);
      expect(Math.abs(onGpu.ppl / onWasm.get('svd-llm')! - 1)).toBeLessThan(0.01);
    } finally {
      await b.dispose();
    }
  });

  it('evaluation with the weights pinned on the device: same perplexity, no weight uploads per window', async () => {
    const { evaluate } = await import('@llmpress/models');
    const { DenseLinear } = await import('@llmpress/tensor');
    const { model, evalWindows } = setup;
    gpu.resetStats();
    const plain = evaluate(model, evalWindows, { backend: gpu });
    const up0 = gpu.stats().uploadedBytes;
    const weights = model
      .linears()
      .filter((e) => e.name.startsWith('blocks.') && e.layer instanceof DenseLinear)
      .map((e) => (e.layer as InstanceType<typeof DenseLinear>).weight.data as Float32Array);
    for (const w of weights) gpu.pin(w);
    gpu.resetStats();
    const pinned = evaluate(model, evalWindows, { backend: gpu });
    const s = gpu.stats();
    expect(pinned.ppl).toBe(plain.ppl);
    expect(s.pinned).toBe(weights.length);
    expect(up0 - s.uploadedBytes).toBe(weights.reduce((a, w) => a + w.byteLength, 0) * evalWindows.length);
    for (const w of weights) gpu.unpin(w);
  });

  it('SVDq / KIVI KV evaluation: the forward pass with a compressed cache on WebGPU matches WASM', () => {
    const { model, evalWindows } = setup;
    const c = model.config,
      shape = { nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim };
    const caches: Record<string, () => KVCacheLike> = {
      'SVDq 2-bit prefill basis': () =>
        new CompressedKVCache(shape, { window: 32, blockSize: 32, maxContext: 128, keys: svdqKeys({ schedule: { mean: 2 }, basis: 'prefill' }), center: true }),
      'KIVI K2V2': () =>
        new CompressedKVCache(shape, { window: 32, blockSize: 32, maxContext: 128, keys: kiviKeys({ bits: 2 }), values: kiviValues({ bits: 2 }) }),
    };
    const nll = (backend: Backend, make: () => KVCacheLike) => {
      let sum = 0,
        count = 0;
      for (const w of evalWindows) {
        const logits = model.forward(w.input, { cache: make(), backend }).data as Float32Array,
          V = c.vocabSize;
        w.targets.forEach((y, t) => {
          let mx = -Infinity;
          for (let j = 0; j < V; j++) mx = Math.max(mx, logits[t * V + j]!);
          let z = 0;
          for (let j = 0; j < V; j++) z += Math.exp(logits[t * V + j]! - mx);
          sum += Math.log(z) + mx - logits[t * V + y]!;
          count++;
        });
      }
      return sum / count;
    };
    for (const [name, make] of Object.entries(caches)) {
      gpu.resetStats();
      const g = nll(gpu, make),
        r = nll(wasm, make),
        s = gpu.stats();
      expect(Math.abs(Math.exp(g) / Math.exp(r) - 1), name).toBeLessThan(0.01);
      expect(s.gpu.gemm, name).toBeGreaterThan(5 * 7 * evalWindows.length); // every block's linears, every window
      expect(s.fallbacks, name).toEqual({});
    }
  });
});
