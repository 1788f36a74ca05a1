// The WASM SIMD backend: pick it at runtime, multiply, compare with the reference backend.
import { randn, matmul, maxAbsDiff, pickBackend, referenceBackend } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm/node';
import { check } from '../check.js';

const backend = await pickBackend([() => createWasmBackend({ threads: 1 }), referenceBackend]);
console.log(`backend: ${backend.name} (${backend.capabilities.features.join(', ') || 'no extra features'})`);
const a = randn([300, 200], { seed: 1 }),
  b = randn([200, 100], { seed: 2 });
const t0 = performance.now();
const c = matmul(a, b, { backend });
const ms = performance.now() - t0;
const ref = matmul(a, b, { backend: referenceBackend });
console.log(`300×200×100 f32 GEMM in ${ms.toFixed(2)} ms, max |wasm − reference| = ${maxAbsDiff(c, ref).toExponential(2)}`);
check(backend.name !== 'reference', 'WASM SIMD is available in this runtime');
check(maxAbsDiff(c, ref) < 1e-3, 'WASM result matches the reference backend');
await backend.dispose?.();
