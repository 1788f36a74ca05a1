/** Test-only: the backends every property runs on (reference always; WASM when it can start here). */
import { referenceBackend, type Backend } from '@llmpress/tensor';
import { createWasmBackend } from '@llmpress/backend-wasm/node';

export interface NamedBackend {
  name: string;
  backend: Backend | null;
  reason?: string;
}

let wasm: Backend | null = null,
  reason: string | undefined;
try {
  wasm = (await createWasmBackend({ threads: 1 })) as Backend | null;
  if (!wasm) reason = 'WebAssembly SIMD is not available in this engine';
} catch (e) {
  reason = `createWasmBackend failed: ${(e as Error).message}`;
}

export const BACKENDS: NamedBackend[] = [
  { name: 'reference', backend: referenceBackend },
  { name: 'wasm', backend: wasm, reason },
];
