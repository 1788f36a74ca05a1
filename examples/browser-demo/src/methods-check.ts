/**
 * The demo worker's method check (issue 20): every method of the CLI's registry compressed on the
 * WASM backend and on the WebGPU facade with the same settings, each evaluated on its own backend.
 * Driven by webgpu.e2e.test.ts through `window.__llmpressMethodsCheck` (main.ts) → this worker.
 */
import { getDefaultBackend, setDefaultBackend, type Backend } from '@llmpress/tensor';
import { evalSplit, evaluate, type LlamaModel } from '@llmpress/models';
import { compressWith, type MethodName } from '../../../packages/cli/src/methods.js';
import type { WebGpuSyncBackend } from '@llmpress/backend-webgpu';

export interface MethodsCheckRow {
  method: string;
  setting: string;
  pplWasm: number;
  pplWebgpu: number;
  secondsWasm: number;
  secondsWebgpu: number;
  gpu: Record<string, number>;
  routed: Record<string, number>;
  fallbacks: Record<string, number>;
}

async function once(method: MethodName, model: LlamaModel, split: ReturnType<typeof evalSplit>, backend: Backend) {
  const prev = getDefaultBackend();
  setDefaultBackend(backend);
  try {
    const t0 = performance.now();
    const out = await compressWith(method, model, {
      calibration: split.calibration,
      backend,
      ratio: 0.2,
      bits: 4,
      budget: 0.5,
      ttSearch: { orders: [3], perSide: 2, steps: 1 },
    });
    const ppl = evaluate(out.model, split.eval, { backend }).ppl;
    return { setting: out.setting, ppl, seconds: (performance.now() - t0) / 1000 };
  } finally {
    setDefaultBackend(prev === backend ? undefined : prev);
  }
}

export async function methodsCheck(
  model: LlamaModel,
  ids: number[],
  methods: string[],
  wasm: Backend,
  gpu: WebGpuSyncBackend,
  opts: { calib: number; evals: number; len: number },
  onRow: (r: MethodsCheckRow) => void,
): Promise<void> {
  const split = evalSplit(ids, { len: opts.len, evalCount: opts.evals, calibCount: opts.calib });
  for (const m of methods) {
    const a = await once(m as MethodName, model, split, wasm);
    gpu.resetStats();
    const b = await once(m as MethodName, model, split, gpu);
    const s = gpu.stats();
    onRow({
      method: m,
      setting: a.setting,
      pplWasm: a.ppl,
      pplWebgpu: b.ppl,
      secondsWasm: a.seconds,
      secondsWebgpu: b.seconds,
      gpu: s.gpu,
      routed: s.routed,
      fallbacks: s.fallbacks,
    });
  }
}
