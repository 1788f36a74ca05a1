import { describe, it, expect } from 'vitest';
import { dataDir, hasData } from '@llmpress/tensor/testing';
import { loadStories260K } from './node.js';
import { evaluate, evalSplit } from './eval.js';
import { placeOnBackend } from './model.js';
import type { Backend } from '@llmpress/tensor';

/** The WASM backend when it is built here (3–7× faster for this 16,384-token run), else the reference backend.
 *  The reference backend's route is covered by stories260k.test.ts (logits, greedy, per-window NLL). */
async function fastBackend(): Promise<Backend | undefined> {
  try {
    const mod: any = await import('@llmpress/backend-wasm/node');
    return (await mod.createWasmBackend({ threads: 1 })) ?? undefined;
  } catch {
    return undefined;
  }
}

const skip = !hasData();
describe.skipIf(skip)(`dense stories260K under the standard protocol${skip ? ` — skipped: shared data absent at ${dataDir()}` : ''}`, () => {
  it('perplexity over windows 0..63 is ≈ 4.62 (methods.md, f64 reference)', async () => {
    const S = loadStories260K(dataDir());
    const { tokenizer, text } = S;
    const backend = await fastBackend();
    const placed = backend ? placeOnBackend(S.model, backend) : { model: S.model, release() {} };
    const model = placed.model;
    const { eval: windows } = evalSplit(tokenizer.encode(text));
    expect(windows.length).toBe(64);
    // evaluate in chunks, yielding to the event loop between them (keeps the test worker responsive on a busy machine)
    let nllSum = 0,
      tokens = 0;
    for (let i = 0; i < windows.length; i += 8) {
      const r = evaluate(model, windows.slice(i, i + 8), { backend });
      nllSum += r.nll * r.tokens;
      tokens += r.tokens;
      await new Promise((res) => setTimeout(res, 0));
    }
    placed.release();
    await backend?.dispose?.();
    expect(tokens).toBe(16384);
    const ppl = Math.exp(nllSum / tokens);
    // methods.md states 4.62 (two decimals); f32 agrees with f64 to ~1e-3 relative
    expect(Math.abs(ppl - 4.62)).toBeLessThan(0.006);
  });
});
