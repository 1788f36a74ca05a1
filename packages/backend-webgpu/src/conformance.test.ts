/**
 * The shared conformance suite on WebGPU in Node (Dawn; on machines without a GPU, Mesa lavapipe).
 * Skips with the reason when this machine has no WebGPU adapter.
 */
import { describe, it } from 'vitest';
import { describeBackendConformance } from '@llmpress/tensor/testing';
import { createNodeWebGpuBackend, nodeWebGpuUnavailableReason } from '@llmpress/backend-webgpu/node';

export const WEBGPU_SKIPS = {
  f64: 'WebGPU computes in f32 only (WGSL has no f64)',
  matmul: 'the tensor-API matmul is synchronous and WebGPU has only async routines (sync calls fall back to the reference backend)',
};

const reason = await nodeWebGpuUnavailableReason();
if (reason) {
  describe('backend conformance: webgpu (node)', () => {
    it.skip(`skipped: ${reason}`, () => {});
  });
} else {
  describeBackendConformance('webgpu (node, auto kernel)', () => createNodeWebGpuBackend(), { async: true, numRuns: 12, maxDim: 64, skip: WEBGPU_SKIPS });
  // the other GEMM kernel family too (auto picks 'register' on software adapters, 'tiled' on GPUs)
  describeBackendConformance(
    'webgpu (node, other gemm kernel)',
    async () => {
      const probe = await createNodeWebGpuBackend();
      const other = probe?.gemmKernel === 'tiled' ? 'register' : 'tiled';
      await probe?.dispose();
      return createNodeWebGpuBackend({ gemmKernel: other });
    },
    {
      async: true,
      numRuns: 8,
      maxDim: 64,
      skip: {
        ...WEBGPU_SKIPS,
        binary: 'covered by the auto-kernel run',
        unary: 'covered by the auto-kernel run',
        reduce: 'covered by the auto-kernel run',
        gemv: 'covered by the auto-kernel run',
      },
    },
  );
}
