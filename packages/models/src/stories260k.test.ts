import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir, dataRoots, hasData } from '@llmpress/tensor/testing';
import { loadStories260K, type Stories260K } from './node.js';
import { generate } from './generate.js';
import { contiguousWindows, evaluate, evalSplit, standardWindows } from './eval.js';
import { parseLlama2c, writeLlama2c } from './llama2c.js';
import { FormatError } from './errors.js';

const skip = !hasData();
const REASON = `data absent at ${dataDir()} (set LLMPRESS_DATA)`;
// The repository ships a prefix of the validation text; the whole 794,375-byte file (reference.json's
// token count) is only in $LLMPRESS_DATA or ../shared/data.
const FULL_TEXT = dataRoots()
  .map((r) => join(r, 'tinystories', 'tinystories_val.txt'))
  .find((p) => existsSync(p) && statSync(p).size === 794_375);

describe.skipIf(skip)(`stories260K reproduces reference.json${skip ? ` — skipped: ${REASON}` : ''}`, () => {
  let S: Stories260K;
  let ref: any;
  let ids: number[];
  beforeAll(() => {
    S = loadStories260K(dataDir());
    ref = JSON.parse(readFileSync(join(dataDir(), 'stories260K', 'reference.json'), 'utf8'));
    ids = S.tokenizer.encode(S.text);
  });

  it('config from the llama2.c header', () => {
    expect(S.model.config).toMatchObject({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      seqLen: 512,
      tiedEmbeddings: true,
      ropeStyle: 'interleaved',
    });
    expect(S.model.denseParams()).toBe(260032); // the README's 260,032 trainable parameters (norms included)
  });

  it('the first 8 logits after BOS (max abs err <= 1e-4)', () => {
    const lg = S.model.forward([1]);
    const want: number[] = ref.logits_pos0_after_bos_first8;
    const err = Math.max(...want.map((w, i) => Math.abs(lg.data[i]! - w)));
    expect(err).toBeLessThanOrEqual(1e-4);
  });

  it('greedy decoding from BOS gives the verified 256 ids and 565-character text', () => {
    const g = generate(S.model, [1], { maxTokens: 256 });
    expect(g).toEqual(ref.greedy_from_bos.ids_including_leading_bos.slice(1, 257));
    const text = S.tokenizer.decode([1, ...g]);
    expect(text.length).toBe(565);
    expect(text.startsWith('Once upon a time, there was a little girl named Lily. She loved to play outside in the park.')).toBe(true);
    expect(text.endsWith('Her mom said, "Don\'t worry, Lily. We can help you.')).toBe(true);
  });

  it('teacher-forced over the 346 reference ids, the argmax is the next id everywhere and BOS at the end', () => {
    const seq: number[] = ref.greedy_from_bos.ids_including_leading_bos;
    const lg = S.model.forward(seq);
    const V = 512;
    for (let i = 0; i < seq.length; i++) {
      let am = 0;
      for (let j = 1; j < V; j++) if (lg.data[i * V + j]! > lg.data[i * V + am]!) am = j;
      expect(am).toBe(i + 1 < seq.length ? seq[i + 1] : 1);
    }
  });

  it('encodes the example sentence as run.c does', () => {
    expect(S.tokenizer.encode(ref.encode_example.text)).toEqual(ref.encode_example.ids);
  });

  it.skipIf(!FULL_TEXT)(
    `encodes the whole validation text to reference.json's token count${FULL_TEXT ? '' : ' — skipped: the full 794,375-byte text is not shipped (set LLMPRESS_DATA)'}`,
    () => {
      expect(S.tokenizer.encode(readFileSync(FULL_TEXT!, 'utf8')).length).toBe(ref.eval_tinystories_val.n_tokens_including_leading_bos);
    },
  );

  it("per-window NLL of reference.json's protocol (windows 0 and 39 of 512)", () => {
    const ws = contiguousWindows(ids, { count: 40, len: 512 });
    const r = evaluate(S.model, [ws[0]!, ws[39]!]);
    const all: number[] = ref.eval_tinystories_val.per_window_mean_nll_first_40;
    const want = [all[0]!, all[39]!];
    r.perWindowNll.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-4));
  });

  it('evalSplit: windows 0..63 and 200..231, disjoint, per the standard protocol', () => {
    const sp = evalSplit(ids);
    expect(sp.eval.map((w) => w.index)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(sp.calibration.map((w) => w.index)).toEqual(Array.from({ length: 32 }, (_, i) => 200 + i));
    const w = sp.eval[3]!;
    const t = ids.slice(1);
    expect(w.input).toEqual([1, ...t.slice(768, 768 + 255)]);
    expect(w.targets).toEqual(t.slice(768, 1024));
    expect(() => evalSplit(ids, { calibStart: 60 })).toThrow(/must not overlap/);
    expect(() => standardWindows(ids, { start: 2000, count: 1 })).toThrow(/complete windows/);
  });

  it('llama2.c writer round-trips bit-exactly; truncated/garbled files get a FormatError', () => {
    const bytes = new Uint8Array(readFileSync(join(dataDir(), 'stories260K', 'stories260K.bin')));
    const again = writeLlama2c(parseLlama2c(bytes));
    // the legacy freq_cis tables are recomputed in f64 → f32; everything before them must match bit for bit
    const weightsEnd = bytes.length - 2 * 512 * 4 * 4;
    expect(again.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(again.subarray(0, weightsEnd)), Buffer.from(bytes.subarray(0, weightsEnd)))).toBe(0);
    expect(() => parseLlama2c(bytes.subarray(0, 1000), { file: 'x.bin' })).toThrow(FormatError);
    expect(() => parseLlama2c(bytes.subarray(0, 200000), { file: 'x.bin' })).toThrow(/file 'x\.bin', tensor 'wq'/);
    const bad = bytes.slice();
    new DataView(bad.buffer).setInt32(8, 1 << 30, true);
    expect(() => parseLlama2c(bad, { file: 'y.bin' })).toThrow(/field 'n_layers'/);
  });
});
