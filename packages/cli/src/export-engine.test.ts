/**
 * llama.cpp (node-llama-cpp, CPU prebuilt binary) runs the GGUF exports of the real stories260K:
 * dense F32, GPTQ W4 g32 → Q4_0, RTN W8 g32 → Q8_0, SVD-LLM densified to F16. For each: ≥ 64 greedy
 * tokens equal llmpress's forward pass of the same (compressed) model, and llama.cpp's perplexity
 * from its own logits over the SAME evaluation windows (eval windows 0..3 of the standard split,
 * 4 × 256 tokens) is within 0.5% of llmpress's `evaluate` of that model. Calibration: windows 200..207.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasData } from '@llmpress/tensor/testing';
import { LINEAR_ROLES, evalSplit, evaluate, generate, type LlamaModel, type Window } from '@llmpress/models';
import { loadStories260K, writeGgufFile } from '@llmpress/models/node';
import { gptqModel, rtnModel } from '@llmpress/quantizers';
import { svdLlmModel } from '@llmpress/low-rank';
import { openLlamaCpp } from '../../models/src/testing/llama-cpp.js';

const dir = mkdtempSync(join(tmpdir(), 'llmpress-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pplOf(logits: Float32Array[], windows: readonly Window[], V: number): number {
  let nll = 0,
    n = 0;
  windows.forEach((w, wi) =>
    w.targets.forEach((t, i) => {
      const row = logits[wi]!.subarray(i * V, (i + 1) * V);
      let mx = -Infinity;
      for (const v of row) mx = Math.max(mx, v);
      let s = 0;
      for (const v of row) s += Math.exp(v - mx);
      nll += mx + Math.log(s) - row[t]!;
      n++;
    }),
  );
  return Math.exp(nll / n);
}

/**
 * GPTQ one block per call (each call's model has the earlier blocks already quantized, so the layer inputs — and the
 * result — are those of one sequential run), yielding to the event loop (setImmediate: pending I/O is read first) in between: a single synchronous run of
 * minutes on a loaded machine starves the test worker's RPC.
 */
async function gptqByBlock(model: LlamaModel, calibration: readonly Window[]): Promise<LlamaModel> {
  let m = model;
  for (let b = 0; b < model.config.nLayers; b++) {
    m = (await gptqModel(m, { calibration, bits: 4, groupSize: 32, actOrder: true, blocks: [b] })).model;
    await new Promise((r) => setImmediate(r)); // after the poll phase: the worker's RPC replies get read
  }
  return m;
}

/** SVD-LLM (statistics from the original model: the 'dense' schedule) one block per call, assembled, with yields. */
async function svdLlmByBlock(model: LlamaModel, calibration: readonly Window[]): Promise<LlamaModel> {
  const out = model.clone();
  for (let b = 0; b < model.config.nLayers; b++) {
    const r = await svdLlmModel(model, { calibration, ratio: 0.2, blocks: [b] });
    for (const role of LINEAR_ROLES) out.setLinear(`blocks.${b}.${role}`, r.model.getLinear(`blocks.${b}.${role}`));
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

describe.skipIf(!hasData())('llama.cpp runs llmpress GGUF exports of stories260K', () => {
  let base: ReturnType<typeof loadStories260K>;
  let split: ReturnType<typeof evalSplit>;
  beforeAll(() => {
    base = loadStories260K();
    split = evalSplit(base.tokenizer.encode(base.text), { calibCount: 8 });
  });

  const cases: Array<
    [string, 'f32' | 'q4_0' | 'q8_0' | 'f16', () => Promise<LlamaModel>, (r: { tensors: Array<{ type: string; how: string; source: string }> }) => void]
  > = [
    ['dense F32', 'f32', async () => base.model, (r) => expect(r.tensors.every((t) => t.how === 'exact')).toBe(true)],
    [
      'GPTQ W4 g32 → Q4_0',
      'q4_0',
      () => gptqByBlock(base.model, split.calibration),
      (r) => {
        // every quantized layer whose width is a multiple of 32 is Q4_0 bit for bit; down_proj (172 wide) is F32
        for (const t of r.tensors) if (/\.(q|k|v|o|gate|up)$/.test(t.source)) expect([t.source, t.type, t.how]).toEqual([t.source, 'Q4_0', 'exact']);
        for (const t of r.tensors) if (t.source.endsWith('.down')) expect([t.type, t.how]).toEqual(['F32', 'exact']);
      },
    ],
    [
      'RTN W8 g32 → Q8_0',
      'q8_0',
      async () => (await rtnModel(base.model, { bits: 8, groupSize: 32 })).model,
      (r) => {
        for (const t of r.tensors) if (/\.(q|k|v|o|gate|up)$/.test(t.source)) expect([t.type, t.how]).toEqual(['Q8_0', 'exact']);
      },
    ],
    [
      'SVD-LLM 20% → F16',
      'f16',
      () => svdLlmByBlock(base.model, split.calibration),
      (r) => {
        for (const t of r.tensors) if (/\.(q|k|v|o|gate|up|down)$/.test(t.source)) expect([t.type, t.how]).toEqual(['F16', 'densified']);
      },
    ],
  ];

  for (const [label, type, make, checkReport] of cases) {
    it(label, async () => {
      const t0 = performance.now();
      const model = await make();
      const t1 = performance.now();
      const path = join(dir, `${type}.gguf`);
      const report = writeGgufFile(path, model, { type, tokenizer: { kind: 'bpe', tokenizer: base.tokenizer } });
      checkReport(report);
      const windows = split.eval.slice(0, 4);
      const ours = evaluate(model, windows);
      const t2 = performance.now();
      const run = await openLlamaCpp(path, { vocabSize: model.config.vocabSize });
      try {
        const prompt = base.tokenizer.encode('Once upon a time');
        const g0 = generate(model, prompt, { maxTokens: 64, stopTokens: [] });
        const t3 = performance.now();
        const g1 = await run.greedy(prompt, 64);
        const t4 = performance.now();
        const ppl = pplOf(await run.windowLogits(windows), windows, model.config.vocabSize);
        console.log(
          `times: make ${(t1 - t0) | 0} ms, eval ${(t2 - t1) | 0}, generate ${(t3 - t2) | 0}, llama greedy ${(t4 - t3) | 0}, llama windows ${(performance.now() - t4) | 0}`,
        );
        console.log(
          `${label}: llmpress ppl ${ours.ppl.toFixed(5)}, llama.cpp ppl ${ppl.toFixed(5)} (${(100 * (ppl / ours.ppl - 1)).toFixed(3)}%), greedy equal ${g0.filter((t, i) => t === g1[i]).length}/64, file ${report.bytes} B`,
        );
        expect(g1).toEqual(g0);
        expect(Math.abs(ppl / ours.ppl - 1)).toBeLessThan(0.005);
      } finally {
        await run.dispose();
      }
    }, 600_000);
  }
});
