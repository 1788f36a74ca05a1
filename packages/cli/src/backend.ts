/**
 * The CLI's `--backend auto|wasm|webgpu|reference`: the one selection (`selectBackend` of
 * @llmpress/backend-wasm/node, as the evals and benches use it), with the Node WebGPU factory for
 * `webgpu` (the synchronous facade over WASM, decision 0009), loaded only when asked for. `auto` is
 * WASM with threads where it runs, else the reference backend.
 */
import { createWasmBackend, selectBackend, type SelectedBackend } from '@llmpress/backend-wasm/node';

export async function selectCliBackend(kind: string): Promise<SelectedBackend> {
  const webgpu = async () => {
    const { createWebGpuSyncBackend } = await import('@llmpress/backend-webgpu/node');
    const cpu = await createWasmBackend({ threads: 'auto' });
    const gpu = await createWebGpuSyncBackend({ cpu: cpu ?? undefined, disposeCpu: true });
    if (!gpu) await cpu?.dispose?.();
    return gpu;
  };
  return selectBackend(kind, { threads: 'auto', webgpu });
}
