/**
 * Shared by `pnpm bench webgpu-methods` and tests/webgpu-methods.test.ts: compresses stories260K with
 * one method through the CLI's method registry (`compressWith`) on a given backend and evaluates the
 * result on the same backend. The backend is also made the process default for the run, so code paths
 * that do not thread `options.backend` yet (TT, QUAD's calibration) run on it too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getDefaultBackend, setDefaultBackend, type Backend } from '@llmpress/tensor';
import { evalSplit, evaluate, type LlamaModel, type Window } from '@llmpress/models';
import { dataDir, loadModel, loadTokenizer } from '@llmpress/models/node';
import { compressWith, type MethodName } from '../src/methods.js';

export const WEBGPU_METHODS: readonly MethodName[] = ['svd-llm', 'svd-llm-update', 'gptq', 'rtn', 'q2n-gptq', 'saten', 'quad'];

export interface MethodSetup {
  model: LlamaModel;
  calibration: Window[];
  evalWindows: Window[];
  describe: string;
}

/** stories260K with small windows (software WebGPU is slow): `calib` calibration and `evals` evaluation windows of `len` tokens. */
export function methodSetup(options: { calib?: number; evals?: number; len?: number } = {}): MethodSetup {
  const dir = dataDir();
  const model = loadModel(join(dir, 'stories260K', 'stories260K.bin'));
  const tok = loadTokenizer(join(dir, 'stories260K', 'tok512.bin'), { vocabSize: model.config.vocabSize });
  const ids = tok.encode(readFileSync(join(dir, 'tinystories', 'tinystories_val.txt'), 'utf8'), { bos: true });
  const len = options.len ?? 128,
    calib = options.calib ?? 2,
    evals = options.evals ?? 2;
  const split = evalSplit(ids, { len, evalCount: evals, calibCount: calib });
  return {
    model,
    calibration: split.calibration,
    evalWindows: split.eval,
    describe: `stories260K, ${calib} calibration windows 200.. and ${evals} evaluation windows 0.. of ${len} tokens`,
  };
}

export interface MethodRun {
  method: MethodName;
  setting: string;
  ppl: number;
  compressSeconds: number;
  evalSeconds: number;
}

/** Compresses with `method` on `backend` and evaluates perplexity on the same backend. */
export async function runMethod(method: MethodName, setup: MethodSetup, backend: Backend): Promise<MethodRun> {
  const prev = getDefaultBackend();
  setDefaultBackend(backend);
  try {
    const t0 = performance.now();
    const out = await compressWith(method, setup.model, {
      calibration: setup.calibration,
      backend,
      ratio: 0.2,
      bits: 4,
      budget: 0.5,
      ttSearch: { orders: [3], perSide: 2, steps: 1 },
    });
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 0)); // let the event loop breathe between the two synchronous stretches
    const ev = evaluate(out.model, setup.evalWindows, { backend });
    const t2 = performance.now();
    return { method, setting: out.setting, ppl: ev.ppl, compressSeconds: (t1 - t0) / 1000, evalSeconds: (t2 - t1) / 1000 };
  } finally {
    setDefaultBackend(prev === backend ? undefined : prev);
  }
}
