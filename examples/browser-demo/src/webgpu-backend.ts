/**
 * The demo's WebGPU compute backend: the synchronous facade (decision 0009) over a GPU thread that
 * this (compression) worker starts. The algorithms call synchronous routines; each routine worth the
 * GPU blocks this worker with Atomics.wait while the GPU thread runs it. Needs SharedArrayBuffer,
 * i.e. a cross-origin isolated page (the demo is served with COOP: same-origin + COEP: require-corp).
 */
import type { Backend } from '@llmpress/tensor';
import { connectWebGpuSyncBackend, type WebGpuSyncBackend } from '@llmpress/backend-webgpu';

export async function startWebGpuSync(
  cpu: Backend,
  options: { minFlops?: number; initTimeoutMs?: number } = {},
): Promise<{ gpu: WebGpuSyncBackend | null; reason: string }> {
  let reason = '';
  if ((globalThis as any).crossOriginIsolated !== true)
    return {
      gpu: null,
      reason:
        'the page is not cross-origin isolated (no SharedArrayBuffer): serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp',
    };
  if (!(globalThis as any).navigator?.gpu) return { gpu: null, reason: 'this browser has no navigator.gpu' };
  const thread = new Worker(new URL('./gpu-thread.ts', import.meta.url), { type: 'module' });
  const gpu = await connectWebGpuSyncBackend(thread, {
    cpu,
    minFlops: options.minFlops,
    initTimeoutMs: options.initTimeoutMs ?? 15_000,
    onUnavailable: (r) => {
      reason = r;
    },
  });
  return { gpu, reason };
}

/** One line on where the facade's calls ran. */
export function describeGpuUse(gpu: WebGpuSyncBackend): string {
  const s = gpu.stats();
  const sum = (r: Record<string, number>, prefix = '') =>
    Object.entries(r)
      .filter(([k]) => k.startsWith(prefix))
      .reduce((a, [, v]) => a + v, 0);
  const fb = Object.entries(s.fallbacks)
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');
  return `${sum(s.gpu)} calls on the GPU (${
    Object.entries(s.gpu)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ') || 'none'
  }), ${sum(s.routed)} routed to WASM (small, f64 or integer-activation), ${fb ? `fallbacks: ${fb}` : '0 fallbacks'}${s.lost ? '; the device was lost during the run, the rest ran on WASM' : ''}`;
}
