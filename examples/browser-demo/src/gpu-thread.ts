/**
 * The GPU thread of the demo (a worker started by the compression worker): owns the WebGPU device
 * and serves the synchronous facade's requests (see @llmpress/backend-webgpu's sync-facade.ts).
 */
import { serveGpuThread } from '@llmpress/backend-webgpu';

serveGpuThread(self as unknown as Parameters<typeof serveGpuThread>[0]);
