import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { BpeTokenizer, parseLlama2cTokenizer } from './tokenizer.js';
import { FormatError } from './errors.js';

const enc = new TextEncoder();

/** run.c's encode(), transcribed literally (O(n²) rescans), on byte strings. */
function runcEncode(pieces: string[], scores: number[], text: string, bos: boolean): number[] {
  const lookup = (s: string) => pieces.indexOf(s);
  const toks: number[] = [];
  if (bos) toks.push(1);
  const bytes = Array.from(enc.encode(text));
  const latin = (b: number[]) => String.fromCharCode(...b);
  if (bytes.length > 0) toks.push(lookup(' '));
  let buf: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i]! & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[i]!);
    if (i + 1 < bytes.length && (bytes[i + 1]! & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = lookup(latin(buf));
    if (id !== -1) toks.push(id);
    else for (const b of buf) toks.push(b + 3);
    buf = [];
  }
  for (;;) {
    let best = -1e10,
      bestId = -1,
      bestIdx = -1;
    for (let i = 0; i < toks.length - 1; i++) {
      const id = lookup(pieces[toks[i]!]! + pieces[toks[i + 1]!]!);
      if (id !== -1 && scores[id]! > best) {
        best = scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    toks.splice(bestIdx, 2, bestId);
  }
  return toks;
}

/** A small vocab in tok512's layout: <unk>, BOS, EOS, 256 byte pieces, then learned pieces. */
function vocab(learned: string[], scores: number[]): { pieces: string[]; scores: number[]; tok: BpeTokenizer } {
  const pieces = ['<unk>', '\n<s>\n', '\n</s>\n', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`), ...learned];
  const sc = [...new Array(259).fill(0), ...scores];
  const latinBytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  return { pieces, scores: sc, tok: new BpeTokenizer(pieces.map(latinBytes), Float32Array.from(sc)) };
}

describe('BpeTokenizer (run.c semantics)', () => {
  it('heap merging equals run.c’s literal O(n²) loop on random texts and vocabularies (property)', () => {
    const alphabet = ['a', 'b', ' ', 'é'];
    const latin = (s: string) => String.fromCharCode(...enc.encode(s));
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 4 }).map((a) => latin(a.join(''))),
          { minLength: 1, maxLength: 25 },
        ),
        fc.array(fc.integer({ min: -2, max: 0 }), { minLength: 25, maxLength: 25 }), // few distinct scores: many ties
        fc.array(fc.constantFrom(...alphabet, 'z', '\n'), { maxLength: 40 }).map((a) => a.join('')),
        fc.boolean(),
        (learnedRaw, sc, text, bos) => {
          const learned = [...new Set([latin(' '), ...learnedRaw])];
          const scores = learned.map((_, i) => sc[i % sc.length]!); // ties on purpose
          const v = vocab(learned, scores);
          expect(v.tok.encode(text, { bos })).toEqual(runcEncode(v.pieces, v.scores, text, bos));
        },
      ),
      { numRuns: 300, seed: 1 },
    );
  });
  it('highest score first, leftmost on ties, byte fallback, dummy prefix', () => {
    const v = vocab([' ', 'a', 'b', 'c', 'ab', 'bc', ' a'], [0, 0, 0, 0, -1, -1, -2]);
    // " abc" = [' ', a, b, c]; pairs ' a' (-2), 'ab' (-1), 'bc' (-1): 'ab' wins (leftmost of the tie)
    expect(v.tok.encode('abc', { bos: false })).toEqual([259, 263, 262]);
    // a code point that is not a piece falls back to its bytes (+3), which never merge
    expect(v.tok.encode('zab', { bos: false })).toEqual([259, 0x7a + 3, 263]);
    expect(v.tok.encode('', { bos: true })).toEqual([1]);
    expect(v.tok.encode('€', { bos: false })).toEqual([259, 0xe2 + 3, 0x82 + 3, 0xac + 3]);
  });
  it('decodeToken: drops the space after BOS, <0xNN> → raw byte; decode joins bytes before UTF-8 decoding', () => {
    const v = vocab([' ', ' hi'], [0, -1]);
    expect(v.tok.decodeToken(1, 260)).toBe('hi');
    expect(v.tok.decodeToken(5, 260)).toBe(' hi');
    expect(Array.from(v.tok.decodeTokenBytes(0, 0xe2 + 3))).toEqual([0xe2]);
    expect(v.tok.decode([1, 260, 0xe2 + 3, 0x82 + 3, 0xac + 3, 2])).toBe('hi€');
  });
  it('parseLlama2cTokenizer validates every record with a FormatError naming the token and field', () => {
    const good = (() => {
      const parts: number[] = [];
      const i32 = (x: number) => {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setInt32(0, x, true);
        parts.push(...b);
      };
      const f32 = (x: number) => {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setFloat32(0, x, true);
        parts.push(...b);
      };
      i32(3);
      for (const s of ['a', 'bc', 'abc']) {
        f32(-1);
        i32(s.length);
        parts.push(...enc.encode(s));
      }
      return Uint8Array.from(parts);
    })();
    expect(parseLlama2cTokenizer(good, 3).vocabSize).toBe(3);
    expect(() => parseLlama2cTokenizer(good, 4, { file: 't.bin' })).toThrow(/file 't\.bin', tensor 'token 3', field 'score\/len'/);
    expect(() => parseLlama2cTokenizer(good, 2, { file: 't.bin' })).toThrow(/trailing bytes/);
    const bad = good.slice();
    new DataView(bad.buffer).setInt32(8, 99, true);
    expect(() => parseLlama2cTokenizer(bad, 3, { file: 't.bin' })).toThrow(FormatError);
  });
});
