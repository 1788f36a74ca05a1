/**
 * Test/bench helper (Node, dev-only): runs a GGUF file in llama.cpp through `node-llama-cpp` (CPU
 * prebuilt binary, never built here) and scores windows from llama.cpp's own logits, so its
 * perplexity and KL can be set against llmpress's evaluation of the same model.
 */
import type { Window } from '../eval.js';

export interface LlamaCppRun {
  /** Greedy continuation of `prompt` (no stop tokens), `n` tokens. */
  greedy(prompt: number[], n: number): Promise<number[]>;
  /** Full logits of each window's positions ([T·V] per window, llama.cpp's raw logits). */
  windowLogits(windows: readonly Window[]): Promise<Float32Array[]>;
  vocabSize: number;
  dispose(): Promise<void>;
}

/** `threads` defaults to 1: llama.cpp's worker threads spin while they wait, and on a busy 2-core machine two threads made
 *  64 greedy tokens take ~30 s instead of ~80 ms (measured). */
export async function openLlamaCpp(path: string, options: { vocabSize: number; contextSize?: number; threads?: number }): Promise<LlamaCppRun> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false } as any);
  const model = await llama.loadModel({ modelPath: path });
  const contextSize = options.contextSize ?? 512;
  const ctx = await model.createContext({ contextSize, batchSize: contextSize, threads: options.threads ?? 1, sequences: 1 } as any);
  const seq = ctx.getSequence();
  const vocabSize = options.vocabSize;
  return {
    vocabSize,
    async greedy(prompt, n) {
      await seq.clearHistory();
      const out: number[] = [];
      for await (const t of seq.evaluate(prompt as any, { temperature: 0 } as any)) {
        out.push(Number(t));
        if (out.length >= n) break;
      }
      return out;
    },
    async windowLogits(windows) {
      const res: Float32Array[] = [];
      for (const w of windows) {
        await seq.clearHistory();
        const r = await seq.controlledEvaluate(w.input.map((t) => [t, { generateNext: { logits: true } }] as any));
        const L = new Float32Array(w.input.length * vocabSize);
        for (let i = 0; i < w.input.length; i++) {
          const m = r[i]?.next?.logits;
          if (!m) throw new Error(`llama.cpp returned no logits at position ${i}`);
          for (const [tok, v] of m) L[i * vocabSize + Number(tok)] = v;
        }
        res.push(L);
      }
      return res;
    },
    async dispose() {
      await ctx.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
