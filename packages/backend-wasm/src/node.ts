/**
 * @llmpress/backend-wasm/node — the WASM backend with Node specifics: worker_threads for threads,
 * and relaxed SIMD switched on through `v8.setFlagsFromString('--experimental-wasm-relaxed-simd')`
 * before compiling (Node 20 has it behind that flag; newer Node has it by default).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { createWasmBackendWith, detectWasmFeatures, type Platform, type WasmBackend, type WasmBackendOptions } from './core.js';
import { NODE_WORKER_SOURCE } from './worker-source.js';
import { selectBackendWith, type SelectBackendOptions, type SelectedBackend } from './select.js';

export type { WasmBackend, WasmBackendOptions } from './core.js';
export { packInt4, unpackInt4, type Int4GemvArgs, type W4A8GemvArgs, type W4A4GemmArgs, type W4A8GemmArgs } from './extras.js';

let flagged = false;
export const nodePlatform: Platform = {
  enableRelaxedSimd() {
    if (flagged) return;
    flagged = true;
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      /* engine without the flag: plain SIMD */
    }
  },
  hardwareConcurrency: () => availableParallelism(),
  canBlock: true,
  spawnWorker() {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(NODE_WORKER_SOURCE)}`));
    w.unref(); // an undisposed backend must not keep the process alive
    return {
      postMessage: (m: unknown) => w.postMessage(m),
      firstMessage: () =>
        new Promise((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
      terminate: () => {
        void w.terminate();
      },
    };
  },
};

/** Creates the WASM backend for Node (worker_threads for `threads` > 1); null without WASM SIMD. */
export function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend | null> {
  return createWasmBackendWith(nodePlatform, options);
}

export function wasmFeatures(): { simd: boolean; relaxedSimd: boolean; sharedMemory: boolean } {
  return detectWasmFeatures(nodePlatform);
}

/** The one backend selection (`--backend auto|wasm|webgpu|reference`) for Node surfaces; see select.ts. */
export function selectBackend(kind: string, options: SelectBackendOptions = {}): Promise<SelectedBackend> {
  return selectBackendWith(kind, createWasmBackend, options);
}
export { BACKEND_KINDS, isBackendKind, selectBackendWith, type BackendKind, type SelectBackendOptions, type SelectedBackend } from './select.js';
