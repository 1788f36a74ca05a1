/**
 * @llmpress/backend-wasm — WebAssembly SIMD backend (browser-safe main entry).
 *
 *   const backend = await createWasmBackend({ threads: 'auto' });   // null without WASM SIMD
 *
 * Threads here use Web Workers and need a cross-origin-isolated page (COOP/COEP headers, see the
 * README); without isolation the backend runs single-threaded. In Node use `@llmpress/backend-wasm/node`.
 */
import { createWasmBackendWith, detectWasmFeatures, type Platform, type WasmBackend, type WasmBackendOptions } from './core.js';
import { WEB_WORKER_SOURCE } from './worker-source.js';
import { selectBackendWith, type SelectBackendOptions, type SelectedBackend } from './select.js';

export type { WasmBackend, WasmBackendOptions, Platform, WorkerHandle } from './core.js';
export { createWasmBackendWith } from './core.js';
export { packInt4, unpackInt4, type Int4GemvArgs, type W4A8GemvArgs, type W4A4GemmArgs, type W4A8GemmArgs } from './extras.js';

/** SharedArrayBuffer may be shared with workers: a cross-origin-isolated page, or Deno. */
function isolated(): boolean {
  const g = globalThis as any;
  return g.crossOriginIsolated === true || (typeof g.Deno === 'object' && typeof g.SharedArrayBuffer === 'function');
}

/** The web platform: Web Workers from a Blob URL when the page is cross-origin isolated. */
export const webPlatform: Platform = {
  hardwareConcurrency: () => (globalThis as any).navigator?.hardwareConcurrency ?? 1,
  canBlock: typeof (globalThis as any).window === 'undefined', // workers may block; a page's main thread spins
  spawnWorker() {
    const g = globalThis as any;
    if (typeof g.Worker !== 'function' || typeof g.Blob !== 'function' || !isolated()) return null;
    const url = g.URL.createObjectURL(new g.Blob([WEB_WORKER_SOURCE], { type: 'text/javascript' }));
    // Deno only has module workers; the source is valid as either kind.
    const w = new g.Worker(url, g.Deno ? { type: 'module' } : undefined);
    return {
      postMessage: (m: unknown) => w.postMessage(m),
      firstMessage: () =>
        new Promise((resolve, reject) => {
          w.onmessage = (e: any) => {
            w.onmessage = null;
            resolve(e.data);
          };
          w.onerror = (e: any) => {
            reject(new Error(String(e?.message ?? e)));
          };
        }),
      terminate: () => {
        w.terminate();
        g.URL.revokeObjectURL(url);
      },
    };
  },
  threadsUnavailableReason() {
    const g = globalThis as any;
    if (typeof g.Worker !== 'function') return 'no Worker constructor';
    if (!isolated()) return 'page is not cross-origin isolated (COOP/COEP headers)';
    return undefined;
  },
};

/**
 * Creates the WASM backend, or resolves to `null` when this engine lacks WebAssembly SIMD.
 * Uses relaxed SIMD (FMA) when the engine accepts it. `threads` > 1 needs SharedArrayBuffer and
 * Web Workers (a cross-origin-isolated page); otherwise it quietly runs on one thread
 * (`capabilities.threads` says how many it got).
 */
export function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend | null> {
  return createWasmBackendWith(webPlatform, options);
}

/** Which kernel builds this engine accepts (without starting a backend). */
export function wasmFeatures(): { simd: boolean; relaxedSimd: boolean; sharedMemory: boolean } {
  return detectWasmFeatures(webPlatform);
}

/** The one backend selection (`auto|wasm|webgpu|reference`) for web surfaces; see select.ts. */
export function selectBackend(kind: string, options: SelectBackendOptions = {}): Promise<SelectedBackend> {
  return selectBackendWith(kind, createWasmBackend, options);
}
export { BACKEND_KINDS, isBackendKind, selectBackendWith, type BackendKind, type SelectBackendOptions, type SelectedBackend } from './select.js';
