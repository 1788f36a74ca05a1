/**
 * The demo's web-safe pipeline in Node: format sniffing, the disjoint text split, one method end to
 * end on a small random model.
 */
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '@llmpress/tensor';
import { evaluate, randomModel, saveModelBytes, loadCompressedModel, writeLlama2c, type Tokenizer } from '@llmpress/models';
import { loadCheckpoint, runDemo, sniffFormat, splitText, compressedBytes, compressOne, showText, methodKnob, DEMO_KINDS, DEMO_METHODS } from './pipeline.js';
import { METHODS } from '../../../packages/cli/src/methods.js';
import { modelFootprint, linearParams } from '../../../packages/cli/src/stored-bytes.js';

/** A byte-level tokenizer for the random model's 40-token vocabulary (ids 3..39 ← chars). */
const toyTokenizer: Tokenizer = {
  encode: (t: string, o: { bos?: boolean } = {}) => [...(o.bos === false ? [] : [1]), ...[...t].map((ch) => 3 + (ch.charCodeAt(0) % 37))],
  decode: (ids: readonly number[]) =>
    ids
      .filter((i) => i > 2)
      .map((i) => String.fromCharCode(94 + i - 3))
      .join(''),
  decodeToken: () => '',
  decodeTokenBytes: () => new Uint8Array(),
} as any;

describe('splitText', () => {
  it('keeps evaluation and calibration windows disjoint for short texts', () => {
    const ids = Array.from({ length: 10 * 32 + 1 }, (_, i) => 3 + (i % 30));
    const s = splitText(ids, 4, { len: 32, calibCount: 8 });
    expect(s.eval.length).toBe(4);
    expect(s.calibStart).toBe(4);
    expect(s.calibration.length).toBe(6); // 10 windows available, 4 for evaluation
    for (const e of s.eval) for (const c of s.calibration) expect(e.span[1] <= c.span[0] || c.span[1] <= e.span[0]).toBe(true);
  });
  it('uses the standard split (calibration 200..231) for long texts', () => {
    const ids = Array.from({ length: 240 * 16 + 1 }, (_, i) => 3 + (i % 30));
    const s = splitText(ids, 4, { len: 16 });
    expect(s.calibStart).toBe(200);
    expect(s.calibration.length).toBe(32);
    expect(s.calibration[0]!.span[0]).toBe(200 * 16);
  });
  it('names the function and argument when the text is too short', () => {
    expect(() => splitText([1, 2, 3], 4, { len: 16 })).toThrow(ArgumentError);
    expect(() => splitText([1, 2, 3], 4, { len: 16 })).toThrow(/splitText: argument 'ids'/);
    expect(() => splitText([1, 2, 3], 0)).toThrow(/evalCount/);
  });
});

describe('loadCheckpoint', () => {
  it('sniffs llama2c, safetensors and gguf bytes', () => {
    const m = randomModel({}, 3);
    expect(sniffFormat({ name: 'x.bin', bytes: writeLlama2c(m) })).toBe('llama2c');
    expect(sniffFormat({ name: 'x.safetensors', bytes: saveModelBytes(m) })).toBe('safetensors');
    expect(sniffFormat({ name: 'x.gguf', bytes: new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0]) })).toBe('gguf');
  });
  it('asks for a tokenizer when the checkpoint has none', () => {
    const m = randomModel({}, 3);
    expect(() => loadCheckpoint([{ name: 'm.bin', bytes: writeLlama2c(m) }])).toThrow(/loadCheckpoint: argument 'tokenizerFile'/);
    expect(() => loadCheckpoint([])).toThrow(/loadCheckpoint: argument 'files'/);
  });
  it('a file that is no checkpoint gets a message saying what the page reads', () => {
    expect(() => loadCheckpoint([{ name: 'notes.txt', bytes: new TextEncoder().encode('hello, not a model') }])).toThrow(
      /argument 'files' is not a checkpoint this page reads \(llama2\.c \.bin, \.gguf or \.safetensors.*got .*notes\.txt/,
    );
  });
  it("shows SentencePiece '▁' markers as spaces", () => {
    expect(showText('▁Once▁upon a▁time')).toBe(' Once upon a time');
  });
});

/** llama2c tokenizer bytes: max token length, then per token (score f32, length i32, UTF-8 bytes). */
function llama2cTokenizerBytes(pieces: string[]): Uint8Array {
  const enc = pieces.map((p) => new TextEncoder().encode(p));
  const out = new Uint8Array(4 + enc.reduce((a, e) => a + 8 + e.length, 0));
  const dv = new DataView(out.buffer);
  dv.setInt32(0, Math.max(...enc.map((e) => e.length)), true);
  let o = 4;
  enc.forEach((e, i) => {
    dv.setFloat32(o, -i, true);
    dv.setInt32(o + 4, e.length, true);
    out.set(e, o + 8);
    o += 8 + e.length;
  });
  return out;
}

describe('loadCheckpoint round trips', () => {
  const pieces = ['<unk>', '<s>', '</s>', ...'abcdefghijklmnopqrstuvwxyz .,!?ABCDEFGHIJ'.slice(0, 37)];
  const tok = { name: 'tok40.bin', bytes: llama2cTokenizerBytes(pieces) };
  it('reads a llama2c checkpoint and then the llmpress safetensors the demo offers for download', async () => {
    const m = randomModel({}, 4);
    const ck = loadCheckpoint([{ name: 'm.bin', bytes: writeLlama2c(m) }], tok);
    expect(ck.format).toBe('llama2c');
    expect(ck.tokenizer.decode(ck.tokenizer.encode('abc', { bos: true }))).toBe('abc');
    const w = [{ input: [1, 5, 6, 7], targets: [5, 6, 7, 8], index: 0, span: [0, 4] as [number, number] }];
    expect(evaluate(ck.model, w as any).ppl).toBeCloseTo(evaluate(m, w as any).ppl, 5);
    const c = await compressOne(m, { method: 'svd', ratio: 0.25 }, []);
    const back = loadCheckpoint([{ name: 'c.safetensors', bytes: compressedBytes(c.model) }], tok);
    expect(back.format).toBe('safetensors-llmpress');
    expect(evaluate(back.model, w as any).ppl).toBe(evaluate(c.model, w as any).ppl);
  });
});

describe('runDemo (random model)', () => {
  it('compresses with RTN 3-bit, evaluates, generates and reports; the saved bytes reload to the same perplexity', async () => {
    const model = randomModel({ seqLen: 64 }, 5);
    const text = 'the quick brown fox jumps over the lazy dog. '.repeat(40);
    const stages = new Set<string>();
    const r = await runDemo({ model, tokenizer: toyTokenizer, format: 'llama2c', name: 'random' }, text, {
      method: 'rtn',
      bits: 3,
      groupSize: 16,
      evalWindows: 3,
      windowLen: 32,
      calibWindows: 8,
      genTokens: 8,
      onProgress: (s) => stages.add(s.split(' ')[0]!),
    });
    expect(Number.isFinite(r.dense.ppl) && Number.isFinite(r.compressed.ppl)).toBe(true);
    expect(r.compressed.kl).toBeGreaterThan(0);
    expect(r.compressed.linearBytes).toBeLessThan(r.dense.linearBytes / 4);
    expect(r.windows).toMatchObject({ eval: 3, len: 32, calibStart: 3 });
    expect(r.reportHtml).toContain('<svg');
    expect(r.generations.dense.length).toBeGreaterThan(0);
    expect([...stages]).toEqual(expect.arrayContaining(['tokenize', 'dense', 'compressed', 'generation']));
    const back = loadCompressedModel(compressedBytes(r.model), { kinds: DEMO_KINDS });
    expect(back.linearBytes()).toBe(r.model.linearBytes());
    const w = splitText(toyTokenizer.encode(text), 3, { len: 32, calibCount: 8 }).eval;
    expect(evaluate(back, w).ppl).toBe(evaluate(r.model, w).ppl);
    expect(evaluate(r.model, w).ppl).toBeCloseTo(r.compressed.ppl, 10);
  });
});
// The real model (stories260K + TinyStories) runs through the page in ../e2e.test.ts.

describe('compressOne: every demo method through the library drivers', () => {
  const model = randomModel({ seqLen: 64 }, 9);
  const ids = Array.from({ length: 12 * 32 + 1 }, (_, i) => 3 + ((i * 7 + (i >> 3)) % 37));
  const { calibration } = splitText(ids, 2, { len: 32, calibCount: 10 });
  it('offers every method the CLI offers', () => {
    expect([...DEMO_METHODS]).toEqual([...METHODS]);
  });
  for (const method of DEMO_METHODS) {
    it(`${method} shrinks the linears (every stored tensor counted) and changes the weights`, async () => {
      const r = await compressOne(model, { method, ratio: 0.3, bits: 4, groupSize: 16 }, calibration);
      expect(modelFootprint(r.model, linearParams(model)).linearBytes).toBeLessThan(model.linearBytes());
      const a = model.linears()[0]!.layer.toDense().data,
        b = r.model.linears()[0]!.layer.toDense().data;
      let diff = a.length === b.length ? 0 : Infinity; // QUAD's layers live in a rotated, wider basis
      for (let i = 0; i < a.length && diff < Infinity; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      expect(diff).toBeGreaterThan(0);
      const want = {
        ratio: /^30% params removed$/,
        size: /^70% of dense bytes$/,
        bits: method.startsWith('quad') ? new RegExp(`^W4A${method === 'quad' ? 4 : 8}, r=`) : /^W4 g16/,
      }[methodKnob(method)];
      expect(r.setting).toMatch(want);
    }, 120_000);
  }
  it('rejects an unknown method by name', async () => {
    await expect(compressOne(model, { method: 'zip' as any }, calibration)).rejects.toThrow(/compressOne: argument 'method'/);
  });
});

describe('runDemo: per-layer errors on another device', () => {
  const model = randomModel({ seqLen: 64 }, 6);
  const text = 'pack my box with five dozen liquor jugs. '.repeat(40);
  const req = { method: 'svd' as const, ratio: 0.3, evalWindows: 2, windowLen: 32, calibWindows: 4, genTokens: 4 };
  const ck = { model, tokenizer: toyTokenizer, format: 'llama2c' as const, name: 'random' };
  const f32Error = async (W: Float32Array, H: Float32Array) => {
    let n = 0,
      d = 0;
    for (let i = 0; i < W.length; i++) {
      const x = Math.fround(W[i]! - H[i]!);
      n = Math.fround(n + x * x);
      d = Math.fround(d + W[i]! * W[i]!);
    }
    return Math.sqrt(n / d);
  };
  it('uses the device values when they agree with the CPU', async () => {
    const r = await runDemo(ck, text, { ...req, layerError: { device: 'fake-gpu', fn: f32Error } });
    expect(r.layerErrors.device).toBe('fake-gpu');
    expect(r.layerErrors.layers).toBe(model.linears().length);
    expect(r.layerErrors.maxRelDiff).toBeLessThan(1e-3);
    expect(r.notes.join(' ')).toMatch(/Per-layer errors computed on fake-gpu/);
  });
  it('falls back to the CPU values, saying so, when the device is wrong', async () => {
    const r = await runDemo(ck, text, { ...req, layerError: { device: 'bad-gpu', fn: async (W, H) => 1.01 * (await f32Error(W, H)) } });
    expect(r.layerErrors.device).toBe('cpu');
    expect(r.notes.join(' ')).toMatch(/bad-gpu disagreed or failed/);
  });
});
