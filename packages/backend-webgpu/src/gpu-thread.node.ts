/**
 * Node entry of the GPU thread (a `worker_threads` worker started by `createWebGpuSyncBackend`):
 * loads Dawn through the `webgpu` package and serves the synchronous facade's requests.
 */
import { parentPort } from 'node:worker_threads';
import { serveGpuThread } from './gpu-thread.js';

async function loadGpu(): Promise<GPU | null> {
  try {
    const mod: any = await import('webgpu');
    Object.assign(globalThis, mod.globals ?? {});
    return mod.create([]) as GPU;
  } catch {
    return null;
  }
}

if (parentPort) serveGpuThread(parentPort, loadGpu());
