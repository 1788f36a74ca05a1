// WebGPU in Node (Dawn; software Vulkan without a GPU): a GEMM checked against the reference backend.
import { randn, referenceBackend } from '@llmpress/tensor';
import { createNodeWebGpuBackend, nodeWebGpuUnavailableReason } from '@llmpress/backend-webgpu/node';
import { check } from '../check.js';

const gpu = await createNodeWebGpuBackend();
if (!gpu) {
  console.log(`✓ WebGPU unavailable here, and the factory says why instead of throwing: ${await nodeWebGpuUnavailableReason()}`);
} else {
  const m = 96,
    k = 80,
    n = 72;
  const a = randn([m, k], { seed: 1 }).data as Float32Array,
    b = randn([k, n], { seed: 2 }).data as Float32Array;
  const c = new Float32Array(m * n),
    ref = new Float32Array(m * n);
  const args = (out: Float32Array) => ({
    transA: false,
    transB: false,
    m,
    n,
    k,
    alpha: 1,
    a,
    aOffset: 0,
    lda: k,
    b,
    bOffset: 0,
    ldb: n,
    beta: 0,
    c: out,
    cOffset: 0,
    ldc: n,
  });
  await gpu.gemmAsync!(args(c));
  referenceBackend.gemm!(args(ref));
  let e = 0;
  for (let i = 0; i < c.length; i++) e = Math.max(e, Math.abs(c[i]! - ref[i]!));
  console.log(`${gpu.name}: ${m}×${k}×${n} GEMM, max |webgpu − reference| = ${e.toExponential(2)}`);
  check(e < 1e-4, 'WebGPU GEMM matches the reference backend');
  await gpu.dispose?.();
}
