import { describeBackendConformance } from '@llmpress/tensor/testing';
import { createWasmBackend } from './node.js';

// One thread, relaxed-SIMD build (FMA, 6×8 micro-kernel) where the engine has it.
describeBackendConformance('wasm (1 thread, relaxed SIMD)', () => createWasmBackend({ threads: 1 }), { numRuns: 15 });
// One thread, plain SIMD build (5×8 micro-kernel, mul + add).
describeBackendConformance('wasm (1 thread, plain SIMD)', () => createWasmBackend({ threads: 1, relaxedSimd: false }), { numRuns: 10 });
// Two threads sharing one memory; minParallelWork 0 so even the small property cases are split.
describeBackendConformance('wasm (2 threads)', () => createWasmBackend({ threads: 2, minParallelWork: 0 }), { numRuns: 10 });
