/**
 * The compression worker: picks a backend (WASM SIMD, threaded when the page is cross-origin
 * isolated; reference otherwise), probes WebGPU, loads the checkpoint from the dropped bytes, runs
 * the demo pipeline and posts progress, the results, the report and the compressed model's bytes.
 */
import { fallbackStats, type Backend } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm';
import { createWebGpuBackend, type WebGpuBackend, type WebGpuSyncBackend } from '@llmpress/backend-webgpu';
import { loadCheckpoint, runDemo, compressedBytes } from './pipeline.js';
import { startWebGpuSync, describeGpuUse } from './webgpu-backend.js';
import { methodsCheck } from './methods-check.js';
import type { BackendChoice, BackendInfo, MethodsCheckMessage, RunMessage, WorkerMessage } from './protocol.js';

const post = (m: WorkerMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, rej) => {
        t = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/**
 * WebGPU: the adapter and a GEMM on the GPU checked against a CPU product. Returns the live backend
 * (for the report's per-layer errors, which it can compute with its async routines) or why not.
 */
async function probeWebGpu(): Promise<{ gpu: WebGpuBackend | null; summary: string }> {
  let reason = '';
  try {
    const gpu = await withTimeout(
      createWebGpuBackend({
        onUnavailable: (r) => {
          reason = r;
        },
      }),
      8000,
      'WebGPU device request',
    );
    if (!gpu) return { gpu: null, summary: `unavailable: ${reason}` };
    try {
      const m = 48,
        n = 16,
        k = 64;
      const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37)),
        b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
      const c = new Float32Array(m * n);
      await withTimeout(
        gpu.gemmAsync({ transA: false, transB: false, m, n, k, alpha: 1, a, aOffset: 0, lda: k, b, bOffset: 0, ldb: n, beta: 0, c, cOffset: 0, ldc: n }),
        15000,
        'WebGPU GEMM',
      );
      let err = 0;
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
          err = Math.max(err, Math.abs(s - c[i * n + j]!));
        }
      const ad = gpu.adapter;
      const summary = `available (${[ad.vendor, ad.architecture, ad.device].filter(Boolean).join(' / ') || ad.description || 'adapter'}${ad.software ? ', software adapter' : ''}); GEMM self-check ${m}×${k}·${k}×${n} max |Δ| = ${err.toExponential(1)}`;
      if (!(err < 1e-3)) {
        await gpu.dispose?.();
        return { gpu: null, summary: `${summary} — wrong, not used` };
      }
      return { gpu, summary };
    } catch (e) {
      await gpu.dispose?.();
      throw e;
    }
  } catch (e) {
    return { gpu: null, summary: `unavailable: ${(e as Error).message}` };
  }
}

/** ‖W − Ŵ‖_F / ‖W‖_F with WebGPU's async elementwise and reduction routines. */
function gpuLayerError(gpu: WebGpuBackend) {
  return async (W: Float32Array, H: Float32Array): Promise<number> => {
    const d = new Float32Array(W.length);
    await withTimeout(gpu.binaryAsync('sub', W, H, d, W.length), 15000, 'WebGPU sub');
    const num = await withTimeout(gpu.reduceAsync('sumsq', d, 0, d.length), 15000, 'WebGPU sumsq');
    const den = await withTimeout(gpu.reduceAsync('sumsq', W, 0, W.length), 15000, 'WebGPU sumsq');
    return Math.sqrt(num / (den || 1));
  };
}

async function pickBackend(choice: BackendChoice): Promise<{ backend: Backend | undefined; used: string; detail: string; cpu?: Backend }> {
  if (choice !== 'reference') {
    try {
      const w = await createWasmBackend({ threads: 'auto' });
      if (w) {
        const iso = (globalThis as any).crossOriginIsolated === true;
        const wasmDetail = `WASM SIMD, ${w.capabilities.threads} thread(s)${iso ? '' : ' (page not cross-origin isolated: single-threaded)'}; features ${w.capabilities.features.join(', ')}`;
        if (choice === 'auto' || choice === 'webgpu') {
          // WebGPU when the page has it: the synchronous facade, WASM for small and f64 calls ('webgpu' forces every GEMM onto the GPU)
          const { gpu, reason } = await startWebGpuSync(w, { minFlops: choice === 'webgpu' ? 0 : undefined }).catch((e) => ({
            gpu: null,
            reason: String((e as Error)?.message ?? e),
          }));
          if (gpu) {
            const ad = gpu.adapter;
            return {
              backend: gpu,
              cpu: w,
              used: 'webgpu',
              detail: `WebGPU (${[ad.vendor, ad.architecture, ad.device].filter(Boolean).join(' / ') || ad.description || 'adapter'}${ad.software ? ', software adapter' : ''}) through the synchronous facade, GEMMs of ≥ ${gpu.minFlops} flops on the GPU, the rest on ${wasmDetail}`,
            };
          }
          if (choice === 'webgpu') return { backend: w, used: 'wasm', detail: `WebGPU unavailable (${reason}); ${wasmDetail}` };
          return { backend: w, used: 'wasm', detail: `${wasmDetail} (WebGPU: ${reason})` };
        }
        return { backend: w, used: 'wasm', detail: wasmDetail };
      }
      if (choice === 'wasm')
        return { backend: undefined, used: 'reference', detail: 'WASM SIMD is not supported by this engine; using the plain-TypeScript reference backend' };
    } catch (e) {
      return { backend: undefined, used: 'reference', detail: `WASM backend failed to start (${(e as Error).message}); using the reference backend` };
    }
    return { backend: undefined, used: 'reference', detail: 'WASM SIMD is not supported by this engine; using the plain-TypeScript reference backend' };
  }
  return { backend: undefined, used: 'reference', detail: 'reference backend (plain TypeScript), as chosen' };
}

/** Issue 20's check through this worker: every method on WASM and on WebGPU, then a device loss mid-run. */
async function runMethodsCheck(msg: MethodsCheckMessage): Promise<void> {
  const w = await createWasmBackend({ threads: 1 });
  if (!w) throw new Error('WASM backend unavailable');
  const { gpu, reason } = await startWebGpuSync(w, { minFlops: 0 });
  if (!gpu) {
    post({ type: 'methods-check-result', unavailable: reason, rows: [] });
    await w.dispose?.();
    return;
  }
  try {
    const ck = loadCheckpoint(msg.files, msg.tokenizer);
    const ids = ck.tokenizer.encode(msg.text, { bos: true });
    const rows: any[] = [];
    await methodsCheck(ck.model, ids, msg.methods, w, gpu, msg, (r) => {
      rows.push(r);
      post({ type: 'progress', stage: `check ${r.method}`, done: rows.length, total: msg.methods.length, elapsed: 0 });
    });
    // device loss mid-run: the GPU is destroyed after the first GPU GEMM of a compression; the run finishes on WASM
    const lossMethod = msg.lossMethod ?? 'svd-llm';
    const lossRows: any[] = [];
    let lost = false;
    const origGemm = gpu.gemm.bind(gpu);
    (gpu as any).gemm = (a: any) => {
      origGemm(a);
      if (!lost && gpu.stats().gpu.gemm) {
        lost = true;
        gpu.simulateDeviceLoss();
      }
    };
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => {
      warnings.push(a.map(String).join(' '));
      warn(...a);
    };
    try {
      await methodsCheck(ck.model, ids, [lossMethod], w, gpu, msg, (r) => lossRows.push(r));
    } finally {
      console.warn = warn;
      (gpu as any).gemm = origGemm;
    }
    post({ type: 'methods-check-result', rows, adapter: { ...gpu.adapter }, loss: { ...lossRows[0], lost: gpu.lost, warnings } });
  } finally {
    await gpu.dispose();
    await w.dispose?.();
  }
}

self.onmessage = async (ev: MessageEvent<RunMessage>) => {
  const msg = ev.data as RunMessage | MethodsCheckMessage;
  if (msg?.type === 'methods-check') {
    try {
      await runMethodsCheck(msg);
    } catch (e) {
      post({ type: 'error', message: (e as Error)?.message ?? String(e), name: (e as any)?.code ?? (e as Error)?.name ?? 'Error' });
    }
    return;
  }
  if (msg?.type !== 'run') return;
  const t0 = performance.now();
  let backend: Backend | undefined,
    cpu: Backend | undefined,
    gpu: WebGpuBackend | null = null;
  try {
    const [picked, probe] = await Promise.all([pickBackend(msg.backend), probeWebGpu()]);
    backend = picked.backend;
    cpu = picked.cpu;
    gpu = probe.gpu;
    const info: BackendInfo = { used: picked.used, detail: picked.detail, webgpu: probe.summary, fallbacks: {} };
    post({ type: 'backend', info });
    const ck = loadCheckpoint(msg.files, msg.tokenizer);
    post({
      type: 'loaded',
      format: ck.format,
      name: ck.name,
      config: { ...ck.model.config },
      params: ck.model.linears().reduce((a, e) => a + e.layer.params(), 0),
    });
    const r = await runDemo(ck, msg.text, {
      method: msg.method,
      ratio: msg.ratio,
      bits: msg.bits,
      evalWindows: msg.evalWindows,
      calibWindows: msg.calibWindows,
      genTokens: msg.genTokens,
      prompt: msg.prompt,
      backend,
      layerError: gpu ? { device: 'WebGPU', fn: gpuLayerError(gpu) } : undefined,
      onProgress: (stage, done, total) => post({ type: 'progress', stage, done, total, elapsed: (performance.now() - t0) / 1000 }),
    });
    const saved = compressedBytes(r.model);
    info.fallbacks = Object.fromEntries(fallbackStats());
    if (picked.used === 'webgpu') info.detail += ` — ${describeGpuUse(backend as WebGpuSyncBackend)}`;
    const le = r.layerErrors;
    info.webgpu +=
      le.device === 'WebGPU'
        ? ` — used for the report's per-layer errors (${le.layers} layers, max relative difference to CPU f64 ${le.maxRelDiff!.toExponential(1)})${picked.used === 'webgpu' ? '; compression and evaluation ran on WebGPU through the synchronous facade (see the backend line)' : '; compression ran on the backend named above'}`
        : gpu
          ? ' — per-layer errors on WebGPU disagreed or failed, CPU values used (see the report notes)'
          : '';
    const { model: _m, method: _x, ...result } = r;
    post({ type: 'result', result, saved, info }, [saved.buffer]);
  } catch (e) {
    const err = e as Error;
    // class names are minified in the bundle; llmpress errors carry a stable code (E_ARGUMENT, ...)
    post({ type: 'error', message: err?.message ?? String(e), name: (err as any)?.code ?? err?.name ?? 'Error' });
  } finally {
    await backend?.dispose?.();
    await cpu?.dispose?.();
    await gpu?.dispose?.();
  }
};
