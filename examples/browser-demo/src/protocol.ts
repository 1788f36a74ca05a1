/** Messages between the page (main.ts) and the compression worker (worker.ts). */
import type { DemoMethod } from './pipeline.js';

/** `auto`: WebGPU (synchronous facade, big GEMMs on the GPU, the rest on WASM) when the page has it, else WASM; `webgpu`: every GEMM on the GPU. */
export type BackendChoice = 'auto' | 'webgpu' | 'wasm' | 'reference';

/** Issue 20's check (driven by webgpu.e2e.test.ts): methods on WASM vs WebGPU, then a device loss mid-run. */
export interface MethodsCheckMessage {
  type: 'methods-check';
  files: Array<{ name: string; bytes: Uint8Array }>;
  tokenizer?: { name: string; bytes: Uint8Array };
  text: string;
  methods: string[];
  calib: number;
  evals: number;
  len: number;
  lossMethod?: string;
}

export interface RunMessage {
  type: 'run';
  files: Array<{ name: string; bytes: Uint8Array }>;
  tokenizer?: { name: string; bytes: Uint8Array };
  text: string;
  method: DemoMethod;
  ratio: number;
  bits: number;
  evalWindows: number;
  calibWindows: number;
  genTokens: number;
  prompt: string;
  backend: BackendChoice;
}

export interface BackendInfo {
  /** The backend compression, evaluation and generation ran on. */
  used: string;
  detail: string;
  /** WebGPU probe: adapter and a GEMM self-check, or why it is unavailable. */
  webgpu: string;
  /** Routine fallbacks to the reference backend, `backend:routine` → count. */
  fallbacks: Record<string, number>;
}

export type WorkerMessage =
  | { type: 'progress'; stage: string; done: number; total: number; elapsed: number }
  | { type: 'backend'; info: BackendInfo }
  | { type: 'loaded'; format: string; name: string; config: Record<string, unknown>; params: number }
  | { type: 'result'; result: PageResult; saved: Uint8Array; info: BackendInfo }
  | { type: 'methods-check-result'; rows: unknown[]; adapter?: unknown; loss?: unknown; unavailable?: string }
  | { type: 'error'; message: string /** the llmpress error code (E_ARGUMENT, ...) or the error's name */; name: string };

export interface PageResult {
  label: string;
  setting: string;
  dense: { ppl: number; nll: number; tokens: number; linearBytes: number; bitsPerWeight: number };
  compressed: { ppl: number; nll: number; kl: number; top1: number; linearBytes: number; bitsPerWeight: number };
  windows: { eval: number; calibration: number; len: number; calibStart: number };
  prompt: string;
  generations: { dense: string; compressed: string };
  reportHtml: string;
  notes: string[];
  layerErrors: { device: string; layers: number; maxRelDiff?: number };
  seconds: { compress: number; evaluate: number; total: number };
}
