/** GPTQ v1 folder round trip (bit-exact), exact GGUF code mapping, RoPE permutation, typed errors, atomic writes. */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmpressError, type LinearLayer } from '@llmpress/tensor';
import {
  BpeTokenizer,
  exportGgufBytes,
  exportHfFiles,
  parseHfExport,
  parseGguf,
  ggufToLlamaModel,
  randomModel,
  standardWindows,
  LossyExportError,
  MissingTokenizerError,
  OutputRefusedError,
  codesToGgml,
  layerCodes,
  type LlamaModel,
} from '@llmpress/models';
import { writeGgufFile, writeHfFolder, loadHfExportFolder } from '@llmpress/models/node';
import { QuantizedLinear, gptqModel, rtnModel } from '@llmpress/quantizers';
import { f16ToF32 } from '@llmpress/tensor';
import { bestEngineExport } from './export.js';
import { renderReport } from './report/report.js';
import { evaluate } from '@llmpress/models';

const dir = mkdtempSync(join(tmpdir(), 'llmpress-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const kinds = { quantized: QuantizedLinear.deserialize as (s: any) => LinearLayer };

function tokenizer(V: number): BpeTokenizer {
  const enc = new TextEncoder();
  const pieces = Array.from({ length: V }, (_, i) =>
    enc.encode(i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : i < 6 ? ` ${String.fromCharCode(94 + i)}` : String.fromCharCode(94 + i)),
  );
  return new BpeTokenizer(
    pieces,
    Float32Array.from({ length: V }, (_, i) => -i),
  );
}
const windows = (V: number) =>
  standardWindows(
    Array.from({ length: 97 }, (_, i) => (i * 7 + 3) % V),
    { len: 24, count: 4 },
  );

function sameDense(a: LinearLayer, b: LinearLayer, rows?: ArrayLike<number>) {
  const x = a.toDense().contiguous().data,
    y = b.toDense().contiguous().data,
    n = a.inFeatures;
  expect(b.outFeatures).toBe(a.outFeatures);
  for (let r = 0; r < a.outFeatures; r++) {
    const rr = rows ? rows[r]! : r;
    expect(Array.from(y.subarray(r * n, r * n + n))).toEqual(Array.from(x.subarray(rr * n, rr * n + n)));
  }
}

describe('GPTQ v1 folder export', () => {
  const half = randomModel({ ropeStyle: 'half', dim: 64, hiddenDim: 96, nHeads: 4, nKvHeads: 2, headDim: 16, vocabSize: 48, tiedEmbeddings: false }, 3);
  const cases: Array<[string, () => Promise<LlamaModel>]> = [
    ['RTN W4 g32 symmetric', async () => (await rtnModel(half, { bits: 4, groupSize: 32 })).model],
    ['RTN W8 per-channel', async () => (await rtnModel(half, { bits: 8 })).model],
    ['RTN W4 g16 asymmetric', async () => (await rtnModel(half, { bits: 4, groupSize: 16, symmetric: false })).model],
    ['RTN W2 g32', async () => (await rtnModel(half, { bits: 2, groupSize: 32 })).model],
    [
      'GPTQ W4 g32 dynamic act-order (g_idx)',
      async () => (await gptqModel(half, { calibration: windows(48), bits: 4, groupSize: 32, actOrder: 'dynamic' })).model,
    ],
    [
      'GPTQ W4 g64 static act-order, ragged last group of down (96 = 64 + 32)',
      async () => (await gptqModel(half, { calibration: windows(48), bits: 4, groupSize: 64, actOrder: 'static' })).model,
    ],
  ];
  for (const [label, make] of cases) {
    it(`${label}: reads back bit-exactly`, async () => {
      const m = await make();
      const { files, report } = exportHfFiles(m, { gptq: true, dtype: 'f32' });
      const cfg = JSON.parse(new TextDecoder().decode(files.get('config.json')!));
      const q0 = m.blocks[0]!.q as QuantizedLinear;
      const d0 = m.blocks[0]!.down as QuantizedLinear;
      expect(cfg.quantization_config).toMatchObject({
        quant_method: 'gptq',
        bits: q0.bits,
        sym: q0.symmetric,
        desc_act: !!q0.perm,
        group_size: d0.groupSize === d0.inFeatures ? -1 : d0.groupSize,
      });
      expect(report.lossless).toBe(true);
      // an asymmetric zero point of 0 cannot be stored in v1 (zero − 1): such layers are written dense and say so
      const z0 = m
        .linears()
        .filter((e) => Array.from((e.layer as QuantizedLinear).decodedZeros()).includes(0))
        .map((e) => e.name);
      for (const t of report.tensors) expect(t.type.startsWith('GPTQ')).toBe(!z0.includes(t.source) && /\.(q|k|v|o|gate|up|down)$/.test(t.source));
      const back = parseHfExport(files, { kinds });
      for (const e of m.linears()) {
        const L = e.layer as QuantizedLinear,
          B = back.getLinear(e.name) as QuantizedLinear;
        sameDense(L, B);
        if (z0.includes(e.name)) {
          expect(B.kind).toBe('dense');
          continue;
        }
        expect(B.kind).toBe('quantized');
        // the stored codes and scales themselves, not just their product
        expect([B.bits, B.symmetric, B.groupSize, B.scaleDtype]).toEqual([L.bits, L.symmetric, L.groupSize, L.scaleDtype]);
        if (!L.perm) {
          expect(Array.from(B.packed)).toEqual(Array.from(L.packed));
          expect(Array.from(B.scales)).toEqual(Array.from(L.scales));
          expect(B.perm).toBeNull();
        } else expect(Array.from(layerCodes(B)).sort()).toEqual(Array.from(layerCodes(L)).sort());
      }
      expect(Array.from(back.embedding.data)).toEqual(Array.from(m.embedding.data));
      sameDense(m.lmHead, back.lmHead);
      const w = windows(48)[0]!.input;
      const a = m.forward(w).data,
        b = back.forward(w).data;
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
      expect(d).toBeLessThan(1e-4); // act-order layers sum in another column order
    });
  }

  it('an interleaved-RoPE (llama2.c) model gets rotate-half Q/K rows and the same logits back; folder written atomically', async () => {
    const inter = randomModel({ dim: 64, hiddenDim: 96, nHeads: 4, nKvHeads: 2, headDim: 16, vocabSize: 48 }, 5);
    const m = (await rtnModel(inter, { bits: 4, groupSize: 32 })).model;
    const out = join(dir, 'gptq-inter');
    writeHfFolder(out, m, { gptq: true, dtype: 'f32', tokenizerFiles: new Map([['tokenizer.json', new TextEncoder().encode('{}')]]) });
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const back = loadHfExportFolder(out, { kinds });
    expect(back.config.ropeStyle).toBe('half');
    const w = windows(48)[1]!.input;
    const a = m.forward(w).data,
      b = back.forward(w).data;
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    expect(d).toBeLessThan(1e-4);
    expect(() => writeHfFolder(out, m, { gptq: true })).toThrow(OutputRefusedError);
  });

  it('dense HF export in f16 reports rounding; lossless refuses it', () => {
    const { report } = exportHfFiles(half, { dtype: 'f16' });
    expect(report.lossless).toBe(false);
    expect(() => exportHfFiles(half, { dtype: 'f16', lossless: true })).toThrow(LossyExportError);
  });
});

describe('GGUF export', () => {
  const tok = tokenizer(48);
  const base = randomModel({ dim: 64, hiddenDim: 96, nHeads: 4, nKvHeads: 2, headDim: 16, vocabSize: 48 }, 7);

  it('symmetric 4-bit g32 codes are Q4_0 blocks and 8-bit codes Q8_0 blocks, bit for bit (read back through our reader)', async () => {
    for (const [bits, type, name] of [
      [4, 'q4_0', 'Q4_0'],
      [8, 'q8_0', 'Q8_0'],
      [3, 'q4_0', 'Q4_0'],
      [6, 'q8_0', 'Q8_0'],
    ] as const) {
      const m = (await rtnModel(base, { bits: bits as any, groupSize: 32 })).model;
      const { bytes, report } = exportGgufBytes(m, { type, tokenizer: { kind: 'bpe', tokenizer: tok }, lossless: true });
      expect(report.lossless).toBe(true);
      const g = parseGguf(bytes);
      expect(g.info('blk.0.attn_q.weight').typeName).toBe(name);
      expect(g.info('blk.1.ffn_down.weight').typeName).toBe(name); // 96 = 3 × 32
      const back = ggufToLlamaModel(g);
      for (const e of m.linears()) sameDense(e.layer, back.getLinear(e.name));
    }
  });

  it('asymmetric 4-bit codes are Q4_1 blocks with m = −s·z where that is an f16 value, else densified', async () => {
    // scales with few significant bits make every s·z exact in f16
    const m = 16,
      n = 64,
      ng = 2;
    const codes = Array.from({ length: m * n }, (_, i) => (i * 7 + (i >> 5)) % 16);
    const zeros = Array.from({ length: m * ng }, (_, i) => i % 16);
    const scales = Uint16Array.from({ length: m * ng }, (_, i) => [0x3400, 0x3800, 0x2c00, 0x3c00][i % 4]!); // 0.25, 0.5, 0.0625, 1
    const q = QuantizedLinear.fromCodes({
      inFeatures: n,
      outFeatures: m,
      bits: 4,
      symmetric: false,
      groupSize: 32,
      scaleDtype: 'f16',
      scales,
      codes,
      zeros,
      perm: null,
    });
    const raw = codesToGgml(q, 3);
    const dv = new DataView(raw.buffer),
      W = q.toDense().data;
    for (let b = 0; b < raw.length / 20; b++) {
      const d = f16ToF32(dv.getUint16(b * 20, true)),
        mn = f16ToF32(dv.getUint16(b * 20 + 2, true));
      for (let j = 0; j < 32; j++) {
        const c = j < 16 ? raw[b * 20 + 4 + j]! & 15 : raw[b * 20 + 4 + j - 16]! >> 4;
        expect(Math.fround(d * c + mn)).toBe(W[b * 32 + j]);
      }
    }
    // typical RTN scales: −s·z is rarely an f16 value, so the exporter densifies (F32: still exact) and says why
    const rt = (await rtnModel(base, { bits: 4, groupSize: 32, symmetric: false })).model;
    const { report } = exportGgufBytes(rt, { type: 'q4_1', tokenizer: { kind: 'bpe', tokenizer: tok } });
    const up = report.tensors.find((t) => t.source === 'blocks.0.up')!;
    if (up.type === 'F32') expect(up.note).toMatch(/not an f16 value/);
    else expect(up.type).toBe('Q4_1');
  });

  it('Hugging Face RoPE layout: Q/K rows permuted to llama.cpp order (same logits through the GGUF reader)', () => {
    const h = randomModel({ ropeStyle: 'half', dim: 64, hiddenDim: 96, nHeads: 4, nKvHeads: 2, headDim: 16, vocabSize: 48 }, 9);
    const { bytes } = exportGgufBytes(h, { type: 'f32', tokenizer: { kind: 'bpe', tokenizer: tok } });
    const back = ggufToLlamaModel(parseGguf(bytes));
    expect(back.config.ropeStyle).toBe('interleaved');
    const w = windows(48)[2]!.input;
    const a = h.forward(w).data,
      b = back.forward(w).data;
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    expect(d).toBeLessThan(1e-4);
    // and without the permutation the logits would differ: the check can fail
    const q = back.blocks[0]!.q.toDense().data,
      q0 = h.blocks[0]!.q.toDense().data;
    expect(Array.from(q)).not.toEqual(Array.from(q0));
  });

  it('typed errors: no tokenizer, lossless impossible, existing output, output = input; nothing left behind on failure', () => {
    expect(() => exportGgufBytes(base, { type: 'f32' })).toThrow(MissingTokenizerError);
    expect(() => exportGgufBytes(base, { type: 'f32', tokenizer: { kind: 'hf-json', json: { model: { type: 'WordPiece', vocab: {} } } } })).toThrow(
      MissingTokenizerError,
    );
    expect(() => exportGgufBytes(base, { type: 'q4_0', tokenizer: { kind: 'bpe', tokenizer: tok }, lossless: true })).toThrow(LossyExportError);
    const dyn = randomModel({ dim: 64, hiddenDim: 96, nHeads: 4, nKvHeads: 2, headDim: 16, vocabSize: 48 }, 11);
    const existing = join(dir, 'exists.gguf');
    writeFileSync(existing, 'x');
    expect(() => writeGgufFile(existing, base, { type: 'f32', tokenizer: { kind: 'bpe', tokenizer: tok } })).toThrow(OutputRefusedError);
    expect(() => writeGgufFile(existing, base, { type: 'f32', tokenizer: { kind: 'bpe', tokenizer: tok }, input: existing })).toThrow(/is the input/);
    // a layer that fails half-way through the data section: the partial file is removed
    const broken = dyn.clone();
    const L = broken.blocks[1]!.down;
    broken.setLinear('blocks.1.down', {
      ...L,
      kind: 'broken',
      inFeatures: L.inFeatures,
      outFeatures: L.outFeatures,
      forward: L.forward.bind(L),
      bytes: () => 0,
      params: () => 0,
      serialize: L.serialize.bind(L),
      toDense: () => {
        throw new Error('disk full (simulated)');
      },
    } as LinearLayer);
    const out = join(dir, 'broken.gguf');
    expect(() => writeGgufFile(out, broken, { type: 'f32', tokenizer: { kind: 'bpe', tokenizer: tok } })).toThrow(/disk full/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('broken'))).toEqual([]);
    expect(LlmpressError.isInstance(new OutputRefusedError('f', 'p', 'r'))).toBe(true);
  });

  it('the demo report column: best engine export of a quantized model is its exact Q4_0 GGUF; of a dense one a measured F16/Q8_0 file', async () => {
    const w = windows(48);
    const q = (await rtnModel(base, { bits: 4, groupSize: 32 })).model;
    const e = bestEngineExport(q, tok, w, evaluate(q, w).ppl)!;
    expect([e.label, e.lossless]).toEqual(['GGUF Q4_0', true]);
    expect(Math.abs(e.pplDeltaPct)).toBeLessThan(1e-3);
    const d = bestEngineExport(base, tok, w, evaluate(base, w).ppl)!;
    expect(['GGUF F16', 'GGUF Q8_0']).toContain(d.label);
    expect(d.lossless).toBe(false);
    const html = renderReport({
      title: 't',
      rows: [
        { method: 'RTN', setting: 'W4', source: 'demo', ppl: 5, engine: e },
        { method: 'dense', setting: 'f32', source: 'demo', ppl: 4, engine: d },
      ],
    } as any);
    expect(html).toContain('best engine export');
    expect(html).toContain('GGUF Q4_0 · ');
  });
});
