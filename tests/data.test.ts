/**
 * The small real data that ships in the repository's data/ (see data/README.md): files are the
 * recorded bytes, and the TinyStories slice is long enough for every window the protocols use
 * (evaluation 0..63, validation 100..107, calibration 200..231 of 256 tokens; reference.json's
 * 512-token windows 0..39 and the KV table's calibration 100..107) with both shipped tokenizers.
 * Where the full validation text is available ($LLMPRESS_DATA or ../shared/data) the slice must be
 * a byte prefix of it and give exactly the same token ids.
 */
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { contiguousWindows, evalSplit, standardWindows } from '@llmpress/models';
import { dataDir, dataRoots } from '@llmpress/tensor/testing';

const DATA = fileURLToPath(new URL('../data/', import.meta.url));
const sha = (p: string) =>
  createHash('sha256')
    .update(readFileSync(join(DATA, p)))
    .digest('hex');
const FULL_BYTES = 794_375;

/**
 * `loadTokenizer(tokenizer).encode(<text file>, { bos: true })` of @llmpress/models/node, computed in a
 * child process. Encoding the texts takes tens of seconds with the HF tokenizer (31 s for the slice and
 * 45 s for the full text at load 12); done in this vitest worker it blocks the worker's RPC past its 60 s
 * timeout on a loaded machine ('Timeout calling "onTaskUpdate"', issue 21 item 9). Same code, same ids;
 * each (tokenizer, text) pair is encoded once per file.
 */
const nodeEntry = pathToFileURL(fileURLToPath(new URL('../packages/models/src/node.ts', import.meta.url))).href;
const encoded = new Map<string, Promise<number[]>>();
function encodeFile(tokenizer: string, textFile: string): Promise<number[]> {
  const key = `${tokenizer}\0${textFile}`;
  let p = encoded.get(key);
  if (!p) {
    const code = `const { loadTokenizer } = await import(${JSON.stringify(nodeEntry)});
      const { readFileSync } = await import('node:fs');
      process.stdout.write(JSON.stringify(loadTokenizer(${JSON.stringify(tokenizer)}).encode(readFileSync(${JSON.stringify(textFile)}, 'utf8'), { bos: true })));`;
    p = new Promise<number[]>((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '',
        err = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      c.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      c.on('error', reject);
      c.on('close', (status, signal) =>
        status === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`encoding ${textFile} with ${tokenizer}: exit ${status ?? signal}\n${err}`)),
      );
    });
    encoded.set(key, p);
  }
  return p;
}
const full = dataRoots()
  .map((r) => join(r, 'tinystories', 'tinystories_val.txt'))
  .find((p) => existsSync(p) && statSync(p).size === FULL_BYTES);

describe('data/: the shipped real data', () => {
  it('is where dataDir() looks first', () => {
    expect(dataDir()).toBe(join(DATA).replace(/\/$/, ''));
  });

  it('files are the recorded bytes (data/README.md and tinystories-656k/README.md)', () => {
    expect(sha('stories260K/stories260K.bin')).toBe('b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696');
    expect(sha('stories260K/tok512.bin')).toBe('037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312');
    expect(sha('stories260K/reference.json')).toBe('93ada0675a2ae4f7ad1106e45184bf2a34e12261cd5eea97ab7a8311157b6cea');
    expect(sha('tinystories/tinystories_val.txt')).toBe('a8e55f5b99253977eaa3ecd428c92bd9ff7d9271751233291202a4b7f283ab98');
    expect(sha('tinystories-656k/model.safetensors')).toBe('187d0d5e8360d9625e40e0b35ec57d1ef0eea1a60ddcf09412246bed3484852f');
    expect(sha('tinystories-656k/config.json')).toBe('5d34a34a12acbd8b0d4d8b400cb4ad72e6cdd49673d4b27b5b4c4e93030bc7ee');
    expect(sha('tinystories-656k/tokenizer.json')).toBe('9a7917d490ac034a4e69eb081096226971887e9e66b0969355421613f62b12e7');
    expect(sha('tinystories-656k/tokenizer_config.json')).toBe('b41898ab69aa46f6bd13416e9662542e056d0727d565bac0e6552efc08438809');
    for (const l of ['stories260K/LICENSE', 'tinystories/LICENSE', 'tinystories-656k/LICENSE']) expect(existsSync(join(DATA, l))).toBe(true);
    expect(readFileSync(join(DATA, 'tinystories/LICENSE'), 'utf8')).toMatch(/^Community Data License Agreement - Sharing - Version 1\.0/);
  });

  const tokenizers = [
    ['stories260K tok512', join(DATA, 'stories260K', 'tok512.bin')],
    ['TinyStories-656K tokenizer.json', join(DATA, 'tinystories-656k')],
  ] as const;
  const textFile = join(DATA, 'tinystories', 'tinystories_val.txt');
  const text = () => readFileSync(textFile, 'utf8');

  for (const [name, tokPath] of tokenizers) {
    it(`the slice holds every window the protocols use (${name})`, async () => {
      const ids = await encodeFile(tokPath, textFile);
      const split = evalSplit(ids);
      expect(split.eval.at(-1)!.index).toBe(63);
      expect(split.calibration.at(-1)!.index).toBe(231);
      expect(standardWindows(ids, { start: 100, count: 8 }).length).toBe(8);
      expect(contiguousWindows(ids, { start: 0, count: 40, len: 512 }).length).toBe(40);
      expect(contiguousWindows(ids, { start: 100, count: 8, len: 512 }).length).toBe(8);
      // margin: at least 25% more text than the furthest window needs (ids up to 1 + 256·232)
      expect(ids.length).toBeGreaterThan(1.25 * (1 + 256 * 232));
    }, 600_000);
  }

  const why = full ? '' : ` — skipped: the full ${FULL_BYTES}-byte validation text is not beside the repository (set LLMPRESS_DATA)`;
  for (const [name, tokPath] of tokenizers) {
    it.skipIf(!full)(
      `the slice is a byte prefix of the full text and tokenizes to the same ids (${name})${why}`,
      async () => {
        const f = readFileSync(full!, 'utf8'),
          s = text();
        expect(f.startsWith(s)).toBe(true);
        const [a, b] = await Promise.all([encodeFile(tokPath, textFile), encodeFile(tokPath, full!)]);
        // every id of the slice but the last (whose piece may merge differently at the cut) is the full file's id,
        // so eval 0..63, validation 100..107 and calibration 200..231 are the same windows
        expect(a.slice(0, -1)).toEqual(b.slice(0, a.length - 1));
        expect(evalSplit(a)).toEqual(evalSplit(b));
        expect(standardWindows(a, { start: 100, count: 8 })).toEqual(standardWindows(b, { start: 100, count: 8 }));
        expect(contiguousWindows(a, { start: 100, count: 8, len: 512 })).toEqual(contiguousWindows(b, { start: 100, count: 8, len: 512 }));
      },
      600_000,
    );
  }
});
