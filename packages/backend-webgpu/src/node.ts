/**
 * Node entry: the WebGPU backend on Dawn through the `webgpu` package (an optional peer
 * dependency). Without a GPU, Dawn runs on Mesa's software Vulkan driver (lavapipe) when it is
 * installed and `VK_ICD_FILENAMES` points at it (see the README).
 */
import { createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from './backend.js';

let gpuPromise: Promise<GPU | null> | undefined;
let loadError = '';

/** The `webgpu` package's GPU object (one per process), or null when the package cannot load. */
export function nodeGpu(): Promise<GPU | null> {
  gpuPromise ??= (async () => {
    try {
      const mod: any = await import('webgpu');
      Object.assign(globalThis, mod.globals ?? {});
      return mod.create([]) as GPU;
    } catch (e) {
      loadError = `the 'webgpu' package could not be loaded: ${(e as Error)?.message ?? e}`;
      return null;
    }
  })();
  return gpuPromise;
}

/** Creates the WebGPU backend on Node (Dawn), or null (with `onUnavailable(reason)`) when it cannot run here. */
export async function createNodeWebGpuBackend(options: Omit<WebGpuBackendOptions, 'gpu'> = {}): Promise<WebGpuBackend | null> {
  const gpu = await nodeGpu();
  if (!gpu) {
    options.onUnavailable?.(loadError);
    return null;
  }
  return createWebGpuBackend({ ...options, gpu });
}

/** Why WebGPU cannot run in this Node process, or null when it can (creates and disposes a device). */
export async function nodeWebGpuUnavailableReason(): Promise<string | null> {
  let reason: string | null = null;
  const b = await createNodeWebGpuBackend({
    onUnavailable: (r) => {
      reason = r;
    },
  });
  if (b) {
    await b.dispose();
    return null;
  }
  return reason ?? 'unknown reason';
}

export { createWebGpuSyncBackend } from './sync-node.js';
export * from './index.js';
