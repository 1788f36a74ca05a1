/**
 * The last reader holes of issue 21, each fed and answered with a typed error:
 * - safetensors tensors must cover the data section exactly (offset 0, no holes, no overlap, to the end),
 *   so a header length one byte short is rejected instead of shifting every weight;
 * - a file shorter than the 8-byte prefix is a FormatError;
 * - llmpress's own files with a malformed layer record are FormatErrors, never a TypeError;
 * and mutation fuzzing of llmpress's own format (fixed seed, small budget, runs in CI).
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { LlmpressError, Tensor, type DenseLinear } from '@llmpress/tensor';
import { formatsDir, formatsSkipReason, dataPath } from '@llmpress/tensor/testing';
import { GgufFile } from './gguf.js';
import { parseLlama2c } from './llama2c.js';
import { parseLlama2cTokenizer } from './tokenizer.js';
import { exportGgufBytes } from './export/index.js';
import type { ByteSource } from './safetensors.js';
import { SafetensorsFile, bytesSource, writeSafetensors } from './safetensors.js';
import { saveModelBytes, loadCompressedModel } from './save.js';
import { FormatError } from './errors.js';
import { randomModel } from './testing/random-model.js';

const open = (b: Uint8Array) => SafetensorsFile.openSync(bytesSource(b, 'x.safetensors'), { file: 'x.safetensors' });

/** A safetensors file from a JSON header (padded with `pad` spaces) and a data section. */
function raw(header: Record<string, unknown>, data: Uint8Array, pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const t = (b: number, e: number) => ({ dtype: 'U8', shape: [e - b], data_offsets: [b, e] });

describe('safetensors: tensors cover the data section exactly', () => {
  it('accepts exact cover (any order, zero-size tensors) and rejects holes, a late start, trailing bytes', () => {
    expect(
      open(raw({ b: t(4, 10), a: t(0, 4), z: t(4, 4) }, new Uint8Array(10)))
        .names()
        .sort(),
    ).toEqual(['a', 'b', 'z']);
    expect(() => open(raw({ a: t(0, 4), b: t(5, 10) }, new Uint8Array(10)))).toThrow(/leaves the data bytes \[4, 5\) unused/);
    expect(() => open(raw({ a: t(1, 10) }, new Uint8Array(10)))).toThrow(/leaves the data bytes \[0, 1\) unused/);
    expect(() => open(raw({ a: t(0, 9) }, new Uint8Array(10)))).toThrow(FormatError);
    expect(() => open(raw({ a: t(0, 6), b: t(4, 10) }, new Uint8Array(10)))).toThrow(/overlaps/);
  });

  it('a header length one byte short is rejected (it would read every weight one byte off)', () => {
    const good = raw({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer), 3);
    expect(open(good).tensorSync('w').data).toEqual(new Float32Array([1, 2, 3, 4]));
    const short = good.slice();
    const dv = new DataView(short.buffer);
    dv.setBigUint64(0, dv.getBigUint64(0, true) - 1n, true);
    expect(() => open(short)).toThrow(FormatError);
    // the writer's own files are exact
    const w = writeSafetensors({ a: new Tensor('f32', new Float32Array(3), [3]), b: new Tensor('u8', new Uint8Array(5), [5]) });
    expect(open(w).names()).toEqual(['a', 'b']);
  });

  const hf = join(formatsDir(), 'hf-tiny-random-llama-2', 'model.safetensors');
  it.skipIf(!existsSync(hf))(
    `the HF fixture with its header length 70 08 → 6f 08 is rejected${existsSync(hf) ? '' : ` — skipped: ${formatsSkipReason() ?? `${hf} is absent`}`}`,
    () => {
      const b = new Uint8Array(readFileSync(hf));
      expect(open(b).names().length).toBeGreaterThan(0);
      expect([b[0], b[1]]).toEqual([0x70, 0x08]);
      b[0] = 0x6f;
      expect(() => open(b)).toThrow(FormatError);
    },
  );

  it('a file shorter than 8 bytes is a FormatError naming the file', () => {
    for (let n = 0; n < 8; n++) expect(() => open(new Uint8Array(n))).toThrow(/x\.safetensors.*shorter than the 8-byte/);
  });
});

describe("llmpress's own files: malformed layer records", () => {
  const model = randomModel({}, 2);
  const good = saveModelBytes(model);

  /** The file re-written with llmpress.layers edited. */
  function withLayers(edit: (layers: Record<string, any>) => void): Uint8Array {
    const f = SafetensorsFile.openSync(bytesSource(good), {});
    const tensors = new Map<string, Tensor>(f.names().map((n) => [n, f.tensorSync(n)]));
    const md = { ...f.metadata };
    const layers = JSON.parse(md['llmpress.layers']!);
    edit(layers);
    md['llmpress.layers'] = JSON.stringify(layers);
    return writeSafetensors(tensors, md);
  }

  it('round-trips unchanged', () => {
    const back = loadCompressedModel(good);
    expect((back.blocks[0]!.q as DenseLinear).weight.data).toEqual((model.blocks[0]!.q as DenseLinear).weight.data);
  });

  const cases: Array<[string, (l: Record<string, any>) => void]> = [
    [
      'tensors: 5',
      (l) => {
        l['blocks.0.q'].tensors = 5;
      },
    ],
    [
      'tensors: null',
      (l) => {
        l['blocks.0.q'].tensors = null;
      },
    ],
    [
      'tensors: "x"',
      (l) => {
        l['blocks.0.q'].tensors = 'x';
      },
    ],
    [
      'tensors: [5]',
      (l) => {
        l['blocks.0.q'].tensors = [5];
      },
    ],
    [
      'record null',
      (l) => {
        l['blocks.1.down'] = null;
      },
    ],
    [
      'record "x"',
      (l) => {
        l['blocks.1.down'] = 'x';
      },
    ],
    [
      'kind 5',
      (l) => {
        l['blocks.0.k'].kind = 5;
      },
    ],
    [
      'meta "x"',
      (l) => {
        l['blocks.0.v'].meta = 'x';
      },
    ],
    [
      'meta with an object',
      (l) => {
        l['blocks.0.v'].meta = { a: { b: 1 } };
      },
    ],
    [
      'layers an array',
      (l) => {
        for (const k of Object.keys(l)) delete l[k];
        (l as any).length = 0;
      },
    ],
  ];
  for (const [what, edit] of cases) {
    it(`${what} → FormatError`, () => {
      const bytes = withLayers(edit);
      expect(() => loadCompressedModel(bytes, { file: 'm.safetensors' })).toThrow(FormatError);
    });
  }

  it('fuzz: byte mutations of the header (fixed seed, small budget) give a model or a typed error', () => {
    const N = Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true));
    // aim at the layer records: the bytes of the llmpress.layers value (a JSON string inside the header)
    const head = new TextDecoder().decode(good.subarray(8, 8 + N));
    const at = 8 + new TextEncoder().encode(head.slice(0, head.indexOf('"llmpress.layers"'))).length;
    const span = Math.min(8 + N - at, 1500);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pos: fc.nat({ max: span - 1 }).map((p) => at + p),
            val: fc.constantFrom(0x20, 0x22, 0x2c, 0x30, 0x35, 0x3a, 0x5b, 0x5d, 0x6e, 0x7b, 0x7d, 0x78, 0x00, 0xff),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (muts) => {
          const b = good.slice();
          for (const m of muts) b[m.pos] = m.val;
          try {
            loadCompressedModel(b, { file: 'fuzz.safetensors' });
          } catch (e) {
            if (!LlmpressError.isInstance(e)) throw e;
            expect((e as Error).message).toMatch(/fuzz\.safetensors/);
          }
        },
      ),
      { numRuns: 300, seed: 21 },
    );
  });
});

/** A ByteSource that fails the test on a read outside the file. */
function guarded(bytes: Uint8Array): ByteSource & { maxRead: number } {
  const s = {
    size: bytes.byteLength,
    name: 'fuzz',
    maxRead: 0,
    read(o: number, n: number) {
      if (!(Number.isSafeInteger(o) && Number.isSafeInteger(n) && o >= 0 && n >= 0 && o + n <= bytes.byteLength))
        throw new Error(`out-of-range read [${o}, +${n}) of ${bytes.byteLength}`);
      s.maxRead = Math.max(s.maxRead, n);
      return bytes.subarray(o, o + n);
    },
  };
  return s;
}
const typed = (f: () => void): 'ok' | 'rejected' => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!LlmpressError.isInstance(e)) throw e;
    return 'rejected';
  }
};
const muts = (span: number) => fc.array(fc.record({ pos: fc.nat({ max: span - 1 }), val: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 });

// CI fuzzing on files the repository ships (the format fixtures above are optional): a real Hugging Face
// safetensors file and a GGUF written from the shipped stories260K; fixed seeds, small budgets
const HF656 = dataPath('tinystories-656k/model.safetensors');
const BIN = dataPath('stories260K/stories260K.bin'),
  TOK = dataPath('stories260K/tok512.bin');
describe.skipIf(!existsSync(HF656) || !existsSync(BIN) || !existsSync(TOK))('fuzz on shipped data: safetensors and GGUF headers', () => {
  it('safetensors (TinyStories-656K): header mutations give a parse whose tensors read back, or a typed error', () => {
    const base = new Uint8Array(readFileSync(HF656));
    const N = Number(new DataView(base.buffer, base.byteOffset).getBigUint64(0, true));
    let rejected = 0;
    fc.assert(
      fc.property(muts(8 + N), (ms) => {
        const b = base.slice();
        for (const m of ms) b[m.pos] = m.val;
        const src = guarded(b);
        if (
          typed(() => {
            const f = SafetensorsFile.openSync(src, { file: 'fuzz' });
            for (const n of f.names().slice(0, 4)) f.tensorSync(n);
          }) === 'rejected'
        )
          rejected++;
        expect(src.maxRead).toBeLessThanOrEqual(b.length);
      }),
      { numRuns: 120, seed: 31 },
    );
    expect(rejected).toBeGreaterThan(0);
  });

  it('GGUF (written from stories260K, Q8_0): header mutations give a parse whose tensors read back, or a typed error', () => {
    const model = parseLlama2c(new Uint8Array(readFileSync(BIN)), { file: BIN });
    const tok = parseLlama2cTokenizer(new Uint8Array(readFileSync(TOK)), model.config.vocabSize, { file: TOK });
    const base = exportGgufBytes(model, { type: 'q8_0', tokenizer: { kind: 'bpe', tokenizer: tok } }).bytes;
    const g0 = new GgufFile(guarded(base));
    const span = g0.header.dataStart;
    let rejected = 0;
    fc.assert(
      fc.property(muts(span), (ms) => {
        const b = base.slice();
        for (const m of ms) b[m.pos] = m.val;
        const src = guarded(b);
        if (
          typed(() => {
            const g = new GgufFile(src);
            for (const t of g.header.tensors.slice(0, 6)) g.tensor(t.name);
          }) === 'rejected'
        )
          rejected++;
        expect(src.maxRead).toBeLessThanOrEqual(b.length);
      }),
      { numRuns: 150, seed: 37 },
    );
    expect(rejected).toBeGreaterThan(0);
  });
});
