import { describe, expect, it, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasData, findData, formatsSkipReason } from '@llmpress/tensor/testing';
import { parseGguf, ggufToLlamaModel, ggufTokenizer } from '../gguf.js';
import { loadStories260K } from '../node.js';
import { exportGgufBytes } from './gguf-export.js';
import { tokenizerToGguf, TOKEN_TYPE } from './tokenizer-kv.js';
import { MissingTokenizerError } from './errors.js';
import { writeGgufFile } from './node.js';
import { standardWindows, evaluate } from '../eval.js';
import { generate } from '../generate.js';
import { openLlamaCpp } from '../testing/llama-cpp.js';

const dir = mkdtempSync(join(tmpdir(), 'llmpress-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasData())('GGUF export of stories260K', () => {
  const fixture = findData('formats/gguf-stories260K/stories260K.gguf');
  const why = fixture ? '' : ` — skipped: ${formatsSkipReason() ?? 'formats/gguf-stories260K/stories260K.gguf is absent'}`;
  it.skipIf(!fixture)(`F32: same metadata keys and tokenizer as the ggml-org GGUF, same weights back through our reader${why}`, () => {
    const { model, tokenizer } = loadStories260K();
    const { bytes, report } = exportGgufBytes(model, { type: 'f32', tokenizer: { kind: 'bpe', tokenizer } });
    expect(report.lossless).toBe(true);
    const ours = parseGguf(bytes);
    const ref = parseGguf(new Uint8Array(readFileSync(fixture!)));
    for (const k of ref.metadata.keys()) if (!k.endsWith('seperator_token_id') && !k.endsWith('padding_token_id')) expect(ours.metadata.has(k), k).toBe(true);
    expect(ours.get('tokenizer.ggml.tokens')).toEqual(ref.get('tokenizer.ggml.tokens'));
    expect(Array.from(ours.get('tokenizer.ggml.scores') as Float32Array)).toEqual(Array.from(ref.get('tokenizer.ggml.scores') as Float32Array));
    expect(Array.from(ours.get('tokenizer.ggml.token_type') as Int32Array)).toEqual(Array.from(ref.get('tokenizer.ggml.token_type') as Int32Array));
    for (const t of ref.header.tensors)
      if (t.name !== 'output.weight') expect(Array.from(ours.tensor(t.name).data)).toEqual(Array.from(ref.tensor(t.name).data));
    const back = ggufToLlamaModel(ours);
    expect(back.config.nKvHeads).toBe(4);
    expect(ggufTokenizer(ours).encode('Once upon a time')).toEqual(ggufTokenizer(ref).encode('Once upon a time'));
  });

  it('llama.cpp runs the F32 export: greedy tokens and perplexity match llmpress', async () => {
    const { model, tokenizer, text } = loadStories260K();
    const path = join(dir, 'f32.gguf');
    writeGgufFile(path, model, { type: 'f32', tokenizer: { kind: 'bpe', tokenizer } });
    const run = await openLlamaCpp(path, { vocabSize: 512 });
    try {
      const prompt = tokenizer.encode('Once upon a time');
      const ours = generate(model, prompt, { maxTokens: 64, stopTokens: [] });
      const theirs = await run.greedy(prompt, 64);
      expect(theirs).toEqual(ours);
      const windows = standardWindows(tokenizer.encode(text), { count: 2, len: 256 });
      const e = evaluate(model, windows);
      const L = await run.windowLogits(windows);
      let nll = 0,
        n = 0;
      windows.forEach((w, wi) =>
        w.targets.forEach((t, i) => {
          const row = L[wi]!.subarray(i * 512, i * 512 + 512);
          let mx = -Infinity;
          for (const v of row) mx = Math.max(mx, v);
          let s = 0;
          for (const v of row) s += Math.exp(v - mx);
          nll += mx + Math.log(s) - row[t]!;
          n++;
        }),
      );
      const ppl = Math.exp(nll / n);
      console.log('llmpress ppl', e.ppl, 'llama.cpp ppl', ppl);
      expect(Math.abs(ppl / e.ppl - 1)).toBeLessThan(0.005);
    } finally {
      await run.dispose();
    }
  });

  it.skipIf(!fixture)(`a GGUF input carries its tokenizer.ggml.* over unchanged${why}`, () => {
    const ref = parseGguf(new Uint8Array(readFileSync(fixture!)));
    const m = ggufToLlamaModel(ref);
    const { bytes } = exportGgufBytes(m, { type: 'f16', tokenizer: { kind: 'gguf', metadata: ref.metadata } });
    const g = parseGguf(bytes);
    for (const [k, v] of ref.metadata) if (k.startsWith('tokenizer.')) expect(g.metadata.get(k)).toEqual(v);
    expect(g.info('blk.0.attn_q.weight').typeName).toBe('F16');
  });
});

const hfTok = findData('formats/hf-tiny-random-llama-2/tokenizer.json');
describe.skipIf(!hfTok)(
  `tokenizer.json → tokenizer.ggml.*${hfTok ? '' : ` — skipped: ${formatsSkipReason() ?? 'formats/hf-tiny-random-llama-2/tokenizer.json is absent'}`}`,
  () => {
    it('Llama-2 style byte-fallback BPE: tokens in id order, special and byte types, ids; padded to the model vocabulary', () => {
      const json = JSON.parse(readFileSync(hfTok!, 'utf8'));
      const kv = tokenizerToGguf({ kind: 'hf-json', json }, 3008);
      const toks = kv.get('tokenizer.ggml.tokens')!.value as string[];
      const types = kv.get('tokenizer.ggml.token_type')!.value as Int32Array;
      expect(toks.length).toBe(3008);
      for (const [piece, id] of Object.entries(json.model.vocab as Record<string, number>)) expect(toks[id]).toBe(piece);
      expect([types[0], types[1], types[2]]).toEqual([TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control]);
      expect(types[toks.indexOf('<0x41>')]).toBe(TOKEN_TYPE.byte);
      expect(types[3007]).toBe(TOKEN_TYPE.unused);
      expect([kv.get('tokenizer.ggml.bos_token_id')!.value, kv.get('tokenizer.ggml.eos_token_id')!.value]).toEqual([1, 2]);
      expect(() => tokenizerToGguf({ kind: 'hf-json', json }, 100)).toThrow(MissingTokenizerError);
    });
  },
);
