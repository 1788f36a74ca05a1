import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { UnsupportedError, tensor } from '@llmpress/tensor';
import { dataDir, formatsDir, formatsSkipReason } from '@llmpress/tensor/testing';
import { parseSafetensors, writeSafetensors, SafetensorsFile, bytesSource } from './safetensors.js';
import { parseGguf, ggufToLlamaModel, ggufToLlamaConfig, ggufTokenizer } from './gguf.js';
import { loadModel, loadHfModel, loadStories260K, fileSource } from './node.js';
import { FormatError } from './errors.js';
import { generate } from './generate.js';

const F = formatsDir();
const skip = !existsSync(join(F, 'README.md'));
const why = skip ? ` — skipped: ${formatsSkipReason() ?? `${F} absent (set LLMPRESS_DATA)`}` : '';
const rd = (p: string) => new Uint8Array(readFileSync(join(F, p)));

describe.skipIf(skip)(`safetensors-samples: the 2022 unpadded files${why}`, () => {
  const want: Record<string, [string, number[]]> = {
    B: ['u8', [253, 254, 255, 0, 1, 2]],
    b: ['i8', [-3, -2, -1, 0, 1, 2]],
    H: ['i32', [65533, 65534, 65535, 0, 1, 2]],
    e: ['f32', [-3, -2, -1, 0, 1, 2]],
    I: ['f64', [4294967293, 4294967294, 4294967295, 0, 1, 2]],
    f: ['f32', [-3, -2, -1, 0, 1, 2]],
    d: ['f64', [-3, -2, -1, 0, 1, 2]],
  };
  for (const [name, [dtype, values]] of Object.entries(want)) {
    it(`${name}.safetensors`, () => {
      const p = `safetensors-samples/${name}.safetensors`;
      if (!existsSync(join(F, p))) return;
      const r = parseSafetensors(rd(p), { file: p });
      expect(r.metadata).toEqual({ test: 'a' });
      expect([...r.tensors.keys()]).toEqual([name]);
      const t = r.tensors.get(name)!;
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([6]);
      expect(Array.from(t.data as ArrayLike<number>)).toEqual(values);
      expect(r.header.dataStart).toBe(8 + (name === 'B' || name === 'b' ? 81 : 83));
    });
  }
});

describe.skipIf(skip)(`hf-tiny-random-llama-2: HF checkpoint loads and reproduces transformers' logits${why}`, () => {
  it('header layout as listed', async () => {
    const src = fileSource(join(F, 'hf-tiny-random-llama-2/model.safetensors'));
    const f = await SafetensorsFile.open(src);
    expect(f.header.headerLength).toBe(2160);
    expect(f.header.dataStart).toBe(2168);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.names().length).toBe(21);
    expect(f.entry('lm_head.weight')).toMatchObject({ dtype: 'BF16', shape: [3000, 16], begin: 0, end: 96000 });
    expect(f.entry('model.layers.0.self_attn.q_proj.weight')).toMatchObject({ begin: 199232, end: 199744 });
    const q = await f.tensor('model.layers.0.self_attn.q_proj.weight');
    expect(Array.from(q.data.subarray(0, 4))).toEqual([0.019775390625, 0.0201416015625, -0.021484375, 0.012451171875]);
    expect(Array.from((await f.tensor('lm_head.weight')).data.subarray(0, 4))).toEqual([
      -0.01611328125, -0.0002880096435546875, -0.00189971923828125, 0.0244140625,
    ]);
    src.close();
  });
  it('model cases: logits at the sampled ids within 1e-5 and the greedy continuations', () => {
    const m = loadModel(join(F, 'hf-tiny-random-llama-2'));
    expect(m.config).toMatchObject({
      dim: 16,
      hiddenDim: 64,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 4,
      headDim: 4,
      vocabSize: 3000,
      ropeStyle: 'half',
      tiedEmbeddings: false,
    });
    const ref = JSON.parse(readFileSync(join(F, 'hf-tiny-random-llama-2/reference_corpus.json'), 'utf8'));
    for (const c of ref.model_cases) {
      const lg = m.forward(c.input_ids, { logits: 'last' });
      for (const [id, v] of Object.entries(c.sampled_logits)) expect(Math.abs(lg.data[Number(id)]! - (v as number))).toBeLessThan(1e-5);
      expect(generate(m, c.input_ids, { maxTokens: 4, stopTokens: [] })).toEqual(c.greedy_continuation);
    }
    expect(loadHfModel(join(F, 'hf-tiny-random-llama-2')).storedBytes()).toBe(m.storedBytes());
  });
});

describe.skipIf(skip)(`GGUF files parse as listed and reproduce llama.cpp${why}`, () => {
  let greedy: any;
  beforeAll(() => {
    greedy = JSON.parse(readFileSync(join(F, 'gguf-stories260K-requantized/llama_cpp_greedy.json'), 'utf8'));
  });

  it('stories260K.gguf (v3, F32): layout, metadata, bit-identical to the .bin, llama.cpp logits', () => {
    const g = parseGguf(rd('gguf-stories260K/stories260K.gguf'), { file: 'stories260K.gguf' });
    expect(g.header.version).toBe(3);
    expect(g.header.tensors.length).toBe(48);
    expect(g.header.metadata.size).toBe(19);
    expect(g.header.infoEnd).toBe(14152);
    expect(g.header.dataStart).toBe(14176);
    expect(g.get('llama.attention.head_count_kv')).toBe(4);
    expect(g.get('tokenizer.ggml.seperator_token_id')).toBe(4294967295);
    expect(g.info('output.weight').offset).toBe(131328);
    expect(g.info('blk.4.ffn_norm.weight').offset).toBe(1170944);
    expect(g.info('blk.0.ffn_down.weight').shape).toEqual([64, 172]);
    expect(Array.from(g.tensor('output_norm.weight').data.subarray(0, 4))).toEqual(
      [2.4583089351654053, 1.3673226833343506, 1.7504382133483887, 1.1078318357467651].map(Math.fround),
    );
    const m = ggufToLlamaModel(g);
    const bin = loadStories260K(dataDir()).model;
    expect(m.config).toMatchObject({ ...bin.config, seqLen: 2048, normEps: Math.fround(1e-5), tiedEmbeddings: false });
    expect(Buffer.from(m.blocks[3]!.gate.toDense().data.buffer).equals(Buffer.from(bin.blocks[3]!.gate.toDense().data.buffer))).toBe(true);
    const r = greedy.results['stories260K.gguf'];
    const lg = m.forward([1]);
    r.logits_after_bos_first8.forEach((v: number, i: number) => expect(Math.abs(lg.data[i]! - v)).toBeLessThan(1e-3));
    expect(generate(m, [1], { maxTokens: 60 })).toEqual(r.greedy_ids_including_leading_bos.slice(1, 61));
    const tok = ggufTokenizer(g);
    expect(tok.encode('Once upon a time, there was a little girl named Lily.')).toEqual([
      1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
    ]);
  });

  it('requantized Q8_0 / Q4_0 + F16 files: offsets, block values, exact-dequant logits, llama.cpp logits within 0.15, greedy prefix', () => {
    const exact: Record<string, number[]> = {
      // README §7: float64 dequantize-then-float logits after BOS
      'stories260K-q8_0-f16.gguf': [-6.20444, 8.41887, -6.20616, -6.21349, -6.21349, -6.20616, -6.21349, -6.21349],
      'stories260K-q4_0-f16.gguf': [-6.6475, 8.4745, -6.6475, -6.6475, -6.6475, -6.6475, -6.6475, -6.6475],
    };
    for (const [name, first, nGreedy] of [
      ['stories260K-q8_0-f16.gguf', 35072, 60],
      ['stories260K-q4_0-f16.gguf', 18688, 60],
    ] as const) {
      const g = parseGguf(rd(`gguf-stories260K-requantized/${name}`), { file: name });
      expect(g.header.tensors.length).toBe(48);
      expect(g.header.metadata.size).toBe(21);
      expect(g.header.dataStart).toBe(14240);
      expect(g.info('token_embd.weight').offset).toBe(first);
      expect(g.info('blk.0.ffn_down.weight').typeName).toBe('F16');
      const emb = g.tensor('token_embd.weight').data.subarray(0, 4);
      const want = name.includes('q8')
        ? [-0.2912750244140625, 0.5617446899414062, 0.17337799072265625, 0.33982086181640625]
        : [-0.330322265625, 0.550537109375, 0.22021484375, 0.330322265625];
      expect(Array.from(emb)).toEqual(want.map(Math.fround));
      expect(Array.from(g.tensor('blk.0.ffn_down.weight').data.subarray(0, 4))).toEqual([0.135009765625, 0.067138671875, 0.11248779296875, 0.10052490234375]);
      const m = ggufToLlamaModel(g);
      const r = greedy.results[name];
      const lg = m.forward([1]);
      exact[name]!.forEach((v, i) => expect(Math.abs(lg.data[i]! - v)).toBeLessThan(1e-3));
      // llama.cpp quantizes activations to Q8_0 too, so its own logits differ by up to ~0.1
      r.logits_after_bos_first8.forEach((v: number, i: number) => expect(Math.abs(lg.data[i]! - v)).toBeLessThan(0.15));
      // exact dequantize-then-float agrees with llama.cpp's greedy for the first 71 (Q8_0) / 120 (Q4_0) tokens
      expect(generate(m, [1], { maxTokens: nGreedy })).toEqual(r.greedy_ids_including_leading_bos.slice(1, nGreedy + 1));
    }
  });

  it('llama4j v2 Q8_0 (rows of 172 not a multiple of 32: flat blocks) and v1 rejected', () => {
    const g = parseGguf(rd('gguf-llama4j-stories260k/tinyllamas-stories-260k-q8_0.gguf'), { file: 'q8_0.gguf' });
    expect(g.header.version).toBe(2);
    expect(g.header.infoEnd).toBe(14215);
    expect(g.header.dataStart).toBe(14240);
    expect(Array.from(g.tensor('blk.0.ffn_down.weight').data.subarray(0, 4))).toEqual(
      [0.13449668884277344, 0.06724834442138672, 0.11208057403564453, 0.10012531280517578].map(Math.fround),
    );
    const lg = ggufToLlamaModel(g).forward([1]);
    [-6.2211, 8.42358, -6.22282, -6.23007, -6.23007, -6.22282, -6.23007, -6.23007].forEach((v, i) => expect(Math.abs(lg.data[i]! - v)).toBeLessThan(1e-3));
    expect(() => parseGguf(rd('gguf-llama4j-stories260k/tinyllamas-stories-260k-f32.gguf'), { file: 'v1.gguf' })).toThrow(UnsupportedError);
    expect(() => parseGguf(rd('gguf-llama4j-stories260k/tinyllamas-stories-260k-f32.gguf'), { file: 'v1.gguf' })).toThrow(/v1/);
  });

  it('llama-2-tiny-random (F16, 32000 vocab) and the vocab-only file with llama.cpp tokenizer vectors', () => {
    const g = parseGguf(rd('gguf-llama-2-tiny-random/llama-2-tiny-random.gguf'));
    expect(g.header.infoEnd).toBe(724398);
    expect(g.header.dataStart).toBe(724416);
    expect(g.info('output.weight').offset).toBe(514144);
    const emb = g.tensor('token_embd.weight');
    expect(emb.shape).toEqual([32000, 8]);
    expect(Array.from(emb.data.subarray(8, 12))).toEqual([0.034088134765625, 0.0158843994140625, 0.01776123046875, -0.02484130859375]);
    expect(ggufToLlamaConfig(g)).toMatchObject({ dim: 8, nLayers: 1, hiddenDim: 32, nHeads: 2, nKvHeads: 2, headDim: 4, vocabSize: 32000 });
    expect(ggufToLlamaModel(g).forward([1, 15043]).shape).toEqual([2, 32000]);

    const v = parseGguf(rd('gguf-vocab-llama-spm/ggml-vocab-llama-spm.gguf'));
    expect(v.header.tensors.length).toBe(0);
    expect(v.header.metadata.size).toBe(22);
    expect(v.get('tokenizer.ggml.add_bos_token')).toBe(true);
    const tok = ggufTokenizer(v);
    const inp = readFileSync(join(F, 'gguf-vocab-llama-spm/ggml-vocab-llama-spm.gguf.inp'), 'utf8').split('\n__ggml_vocab_test__\n');
    if (inp[inp.length - 1] === '') inp.pop();
    const out = readFileSync(join(F, 'gguf-vocab-llama-spm/ggml-vocab-llama-spm.gguf.out'), 'utf8')
      .split('\n')
      .filter((l, i, a) => i < a.length - 1 || l !== '');
    expect(inp.length).toBe(46);
    expect(out.length).toBe(46);
    let ok = 0;
    const bad: string[] = [];
    inp.forEach((text, i) => {
      const want = out[i]!.trim() === '' ? [] : out[i]!.trim().split(' ').map(Number);
      const got = tok.encode(text, { bos: false });
      if (JSON.stringify(got) === JSON.stringify(want)) ok++;
      else bad.push(JSON.stringify(text));
    });
    expect(bad).toEqual([]);
    expect(ok).toBe(46);
  });
});

describe('safetensors writer', () => {
  it('round-trips bit-exactly (incl. NaN payloads, -0, raw F16/BF16) with metadata, and re-writes identical bytes', () => {
    const f = new Float32Array([1.5, -0, NaN, Infinity, 3e-45]);
    new Uint32Array(f.buffer)[2] = 0x7fc01234;
    const tensors = {
      a: tensor(f, { shape: [5] }),
      'b.c': tensor([1, -2, 3, 4], { dtype: 'i32', shape: [2, 2] }),
      z: tensor([], { dtype: 'u8', shape: [0] }),
      h: { dtype: 'BF16' as const, shape: [2], data: Uint8Array.of(0x80, 0x3f, 0x00, 0xc0) },
      d: tensor([Math.PI, -1e300], { dtype: 'f64' }),
      i: tensor([-128, 127], { dtype: 'i8' }),
    };
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'ü' });
    expect((8 + new DataView(bytes.buffer).getUint32(0, true)) % 8).toBe(0);
    const r = parseSafetensors(bytes);
    expect(r.metadata).toEqual({ format: 'pt', note: 'ü' });
    expect(new Uint32Array((r.tensors.get('a')!.data as Float32Array).buffer)).toEqual(new Uint32Array(f.buffer));
    expect(Array.from(r.tensors.get('b.c')!.data as Int32Array)).toEqual([1, -2, 3, 4]);
    expect(r.tensors.get('b.c')!.shape).toEqual([2, 2]);
    expect(Array.from(r.tensors.get('h')!.data as Float32Array)).toEqual([1, -2]);
    expect(r.tensors.get('z')!.size).toBe(0);
    const f2 = SafetensorsFile.openSync(bytesSource(bytes));
    const again = writeSafetensors(
      Object.fromEntries(f2.names().map((n) => [n, { dtype: f2.entry(n).dtype, shape: f2.entry(n).shape, data: f2.rawSync(n) }])),
      f2.metadata,
    );
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });
  it.skipIf(skip)(`re-writing the HF checkpoint from raw tensors reproduces its data section and tensors byte for byte${why}`, () => {
    const bytes = rd('hf-tiny-random-llama-2/model.safetensors');
    const f = SafetensorsFile.openSync(bytesSource(bytes));
    const out = writeSafetensors(
      Object.fromEntries(f.names().map((n) => [n, { dtype: f.entry(n).dtype, shape: f.entry(n).shape, data: f.rawSync(n) }])),
      f.metadata,
    );
    const g = SafetensorsFile.openSync(bytesSource(out));
    for (const n of f.names()) {
      expect(g.entry(n)).toEqual(f.entry(n));
      expect(Buffer.from(g.rawSync(n)).equals(Buffer.from(f.rawSync(n)))).toBe(true);
    }
    expect(Buffer.from(out.subarray(g.header.dataStart)).equals(Buffer.from(bytes.subarray(f.header.dataStart)))).toBe(true);
  });
  it('validation: typed FormatError naming file, tensor and field', () => {
    const good = writeSafetensors({ w: tensor([1, 2, 3, 4], { shape: [2, 2] }), v: tensor([1, 2], { shape: [2] }) });
    const withHeader = (h: object) => {
      const j = new TextEncoder().encode(JSON.stringify(h));
      const b = new Uint8Array(8 + j.length + 24);
      new DataView(b.buffer).setUint32(0, j.length, true);
      b.set(j, 8);
      return b;
    };
    const cases: Array<[Uint8Array, RegExp]> = [
      [good.subarray(0, 5), /field 'header length'/],
      [withHeader({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }), /tensor 'w', field 'data_offsets'.*needs 16/],
      [withHeader({ w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }), /tensor 'w', field 'dtype'/],
      [withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /tensor 'w', field 'shape'/],
      [withHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, x: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), /overlaps/],
      [withHeader({ w: { dtype: 'F32', shape: [10], data_offsets: [0, 40] } }), /reaches past the data section/],
      [withHeader({ __metadata__: { a: 1 } }), /field '__metadata__.a'/],
      [withHeader([1, 2] as any), /field 'header': must start with '\{'/],
    ];
    for (const [b, re] of cases) {
      expect(() => parseSafetensors(b, { file: 'm.safetensors' })).toThrow(FormatError);
      expect(() => parseSafetensors(b, { file: 'm.safetensors' })).toThrow(re);
    }
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(4, 1, true);
    expect(() => parseSafetensors(huge, { file: 'm.safetensors' })).toThrow(/file 'm\.safetensors', field 'header length'/);
  });
});

describe.skipIf(skip)(`hf-tiny-random-llama-2 tokenizer.json through @huggingface/tokenizers${why}`, () => {
  it('reproduces the 5 tokenizer_cases and decodes back', async () => {
    const { loadTokenizer } = await import('./node.js');
    const tok = loadTokenizer(join(F, 'hf-tiny-random-llama-2/tokenizer.json'));
    const ref = JSON.parse(readFileSync(join(F, 'hf-tiny-random-llama-2/reference_corpus.json'), 'utf8'));
    for (const c of ref.tokenizer_cases) expect(tok.encode(c.text, { bos: c.add_special_tokens })).toEqual(c.token_ids);
    expect(
      tok
        .decode(tok.encode('hello world'))
        .replace(/\u2581/g, ' ')
        .trim(),
    ).toBe('hello world'); // byte-only vocab: the decoder's Replace runs before ByteFallback
    expect(tok.bosId).toBe(1);
    expect(tok.vocabSize).toBe(3000);
  });
});

describe.skipIf(skip)(`sharded Hugging Face checkpoint (the tiny model split into two shards + index)${why}`, () => {
  it('loads through model.safetensors.index.json and gives the same logits', async () => {
    const { mkdtempSync, writeFileSync, copyFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'llmpress-shards-'));
    const f = SafetensorsFile.openSync(bytesSource(rd('hf-tiny-random-llama-2/model.safetensors')));
    const names = f.names();
    const weightMap: Record<string, string> = {};
    [names.slice(0, 10), names.slice(10)].forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeFileSync(
        join(dir, file),
        writeSafetensors(Object.fromEntries(part.map((n) => [n, { dtype: f.entry(n).dtype, shape: f.entry(n).shape, data: f.rawSync(n) }])), { format: 'pt' }),
      );
      for (const n of part) weightMap[n] = file;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    copyFileSync(join(F, 'hf-tiny-random-llama-2/config.json'), join(dir, 'config.json'));
    const a = loadModel(dir),
      b = loadModel(join(F, 'hf-tiny-random-llama-2'));
    expect(Buffer.from(a.forward([1, 42, 99]).data.buffer).equals(Buffer.from(b.forward([1, 42, 99]).data.buffer))).toBe(true);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...weightMap, 'lm_head.weight': '../evil.safetensors' } }));
    expect(() => loadModel(dir)).toThrow(/plain file name/);
    rmSync(dir, { recursive: true, force: true });
  });
});
