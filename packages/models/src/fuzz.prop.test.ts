/**
 * Fuzzing the parsers with fast-check: real headers from the format fixtures (formats/ under
 * $LLMPRESS_DATA or ../shared/data; not shipped, so those suites skip with the reason), mutated (byte
 * overwrites biased to length/count/offset fields, JSON value edits, truncation). Every outcome must be
 * a parse whose tensors all read back with the claimed sizes, or a typed LlmpressError — never another
 * exception, and never a read beyond the file or an allocation larger than the file. The llama2.c
 * suite uses the stories260K files shipped in the repository's data/. Files are read in beforeAll,
 * never at collection time, so a skipped suite reads nothing.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { LlmpressError } from '@llmpress/tensor';
import { dataPath, formatsDir, formatsSkipReason } from '@llmpress/tensor/testing';
import { SafetensorsFile, writeSafetensors, type ByteSource } from './safetensors.js';
import { GgufFile } from './gguf.js';
import { parseLlama2c } from './llama2c.js';
import { parseLlama2cTokenizer } from './tokenizer.js';
import { tensor } from '@llmpress/tensor';

const F = formatsDir();
const have = (p: string) => existsSync(join(F, p));
/** ' — skipped: <reason>' for a fixture that is absent (empty when present). */
const why = (p: string) => (have(p) ? '' : ` — skipped: ${formatsSkipReason() ?? `${join(F, p)} is absent`}`);
const NUM_RUNS = 150;

/** A ByteSource that records the largest read and fails the test on out-of-range requests. */
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

function expectTyped(f: () => void): 'ok' | 'rejected' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!LlmpressError.isInstance(e)) throw e;
    expect((e as Error).message).toMatch(/file '/);
    return 'rejected';
  }
}

/** Mutations: k overwrites at positions inside [0, span), values biased to extremes. */
const mutation = (span: number) =>
  fc.array(
    fc.record({
      pos: fc.nat({ max: span - 1 }),
      val: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0xff, 0x7f, 0x80, 0x30, 0x39, 0x2c, 0x22, 0x7b, 0x7d, 0x5b, 0x5d)),
      width: fc.constantFrom(1, 1, 1, 4, 8),
    }),
    { minLength: 1, maxLength: 6 },
  );

function apply(base: Uint8Array, muts: Array<{ pos: number; val: number; width: number }>, truncate?: number): Uint8Array {
  const b = base.slice(0, truncate ?? base.length);
  for (const m of muts) for (let i = 0; i < m.width && m.pos + i < b.length; i++) b[m.pos + i] = m.val;
  return b;
}

const HF = 'hf-tiny-random-llama-2/model.safetensors';
describe.skipIf(!have(HF))(`fuzz: safetensors (mutated real HF header)${why(HF)}`, () => {
  let base: Uint8Array;
  beforeAll(() => {
    base = new Uint8Array(readFileSync(join(F, HF)));
  });
  it('byte mutations of the prefix + JSON header, with or without truncation', () => {
    let ok = 0,
      rejected = 0;
    fc.assert(
      fc.property(mutation(2168), fc.option(fc.nat({ max: base.length }), { nil: undefined }), (muts, trunc) => {
        const b = apply(base, muts, trunc);
        const src = guarded(b);
        const r = expectTyped(() => {
          const f = SafetensorsFile.openSync(src);
          for (const n of f.names()) {
            const t = f.tensorSync(n);
            expect(t.size).toBe(f.entry(n).shape.reduce((a, x) => a * x, 1));
          }
        });
        if (r === 'ok') ok++;
        else rejected++;
        expect(src.maxRead).toBeLessThanOrEqual(b.length);
      }),
      { numRuns: NUM_RUNS, seed: 42 },
    );
    expect(rejected).toBeGreaterThan(0);
    void ok;
  });
  it('JSON-level edits: numbers in shapes/offsets replaced by hostile values', () => {
    const json = new TextDecoder().decode(base.subarray(8, 2168));
    const nums = [...json.matchAll(/\d+/g)].map((m) => m.index!);
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.nat({ max: nums.length - 1 }),
            fc.constantFrom('0', '1', '-1', '1e309', '9007199254740993', '4294967296', '18446744073709551615', '2.5', 'null', '"7"', '[]'),
          ),
          { minLength: 1, maxLength: 3 },
        ),
        (edits) => {
          let s = json;
          for (const [k, v] of edits.sort((a, b) => b[0] - a[0])) {
            const at = nums[k]!;
            const m = /^\d+/.exec(s.slice(at));
            if (m) s = s.slice(0, at) + v + s.slice(at + m[0].length);
          }
          const j = new TextEncoder().encode(s);
          const data = base.subarray(2168);
          const b = new Uint8Array(8 + j.length + data.length);
          new DataView(b.buffer).setUint32(0, j.length, true);
          b.set(j, 8);
          b.set(data, 8 + j.length);
          const src = guarded(b);
          expectTyped(() => {
            const f = SafetensorsFile.openSync(src);
            for (const n of f.names()) f.tensorSync(n);
          });
          expect(src.maxRead).toBeLessThanOrEqual(b.length);
        },
      ),
      { numRuns: NUM_RUNS, seed: 7 },
    );
  });
  it('random writer inputs always round-trip', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'),
          fc.array(fc.float({ noNaN: true }), { maxLength: 20 }),
          { maxKeys: 5 },
        ),
        (d) => {
          const ts = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, tensor(v, { shape: [v.length] })]));
          const out = SafetensorsFile.openSync(guarded(writeSafetensors(ts, { a: 'b' })));
          expect(out.names().sort()).toEqual(Object.keys(ts).sort());
          for (const [k, v] of Object.entries(ts)) expect(Array.from(out.tensorSync(k).data as Float32Array)).toEqual(Array.from(v.data));
        },
      ),
      { numRuns: 60, seed: 3 },
    );
  });
});

for (const file of ['gguf-stories260K-requantized/stories260K-q4_0-f16.gguf', 'gguf-llama4j-stories260k/tinyllamas-stories-260k-q8_0.gguf']) {
  describe.skipIf(!have(file))(`fuzz: GGUF (mutated real header of ${file.split('/')[1]})${why(file)}`, () => {
    let base: Uint8Array;
    beforeAll(() => {
      base = new Uint8Array(readFileSync(join(F, file)));
    });
    it('byte mutations in metadata + tensor infos, with or without truncation', () => {
      let rejected = 0;
      fc.assert(
        fc.property(mutation(14240), fc.option(fc.nat({ max: base.length }), { nil: undefined }), (muts, trunc) => {
          const b = apply(base, muts, trunc);
          const src = guarded(b);
          const r = expectTyped(() => {
            const g = new GgufFile(src);
            for (const t of g.header.tensors.slice(0, 8)) expect(g.tensor(t.name).size).toBe(t.dims.reduce((a, x) => a * x, 1));
          });
          if (r === 'rejected') rejected++;
          expect(src.maxRead).toBeLessThanOrEqual(b.length);
        }),
        { numRuns: NUM_RUNS, seed: 11 },
      );
      expect(rejected).toBeGreaterThan(0);
    });
    it('mutations aimed at the counts and the first lengths (bytes 4..64)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ pos: fc.integer({ min: 4, max: 63 }), val: fc.integer({ min: 0, max: 255 }), width: fc.constantFrom(1, 8) }), {
            minLength: 1,
            maxLength: 3,
          }),
          (muts) => {
            const b = apply(base, muts);
            const src = guarded(b);
            expectTyped(() => {
              new GgufFile(src);
            });
            expect(src.maxRead).toBeLessThanOrEqual(b.length);
          },
        ),
        { numRuns: NUM_RUNS, seed: 5 },
      );
    });
  });
}

const BIN = dataPath('stories260K/stories260K.bin'),
  TOK = dataPath('stories260K/tok512.bin');
const haveLlama2c = existsSync(BIN) && existsSync(TOK);
describe.skipIf(!haveLlama2c)(`fuzz: llama2.c checkpoint and tokenizer${haveLlama2c ? '' : ` — skipped: ${BIN} or ${TOK} is absent`}`, () => {
  let bin: Uint8Array, tok: Uint8Array;
  beforeAll(() => {
    bin = new Uint8Array(readFileSync(BIN));
    tok = new Uint8Array(readFileSync(TOK));
  });
  it('header mutations are rejected or give a consistent model', () => {
    fc.assert(
      fc.property(mutation(28), fc.option(fc.nat({ max: bin.length }), { nil: undefined }), (muts, trunc) => {
        expectTyped(() => {
          const m = parseLlama2c(apply(bin, muts, trunc), { file: 'x.bin' });
          expect(m.forward([1]).shape).toEqual([1, m.config.vocabSize]);
        });
      }),
      { numRuns: 60, seed: 9 },
    );
  });
  it('tokenizer mutations are rejected or parse', () => {
    fc.assert(
      fc.property(mutation(tok.length), fc.option(fc.nat({ max: tok.length }), { nil: undefined }), fc.integer({ min: 1, max: 600 }), (muts, trunc, vocab) => {
        expectTyped(() => {
          parseLlama2cTokenizer(apply(tok, muts, trunc), vocab, { file: 't.bin' }).encode('Once upon a time');
        });
      }),
      { numRuns: NUM_RUNS, seed: 13 },
    );
  });
});
