import { afterAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { hasData, dataDir } from '@llmpress/tensor/testing';
import { parseGguf, randomModel } from '@llmpress/models';
import { saveModelFile } from '@llmpress/models/node';
import { rtnModel } from '@llmpress/quantizers';
import { cmdExport } from './export.js';
import { openModel, main } from './main.js';
import { CliError } from './args.js';

const dir = mkdtempSync(join(tmpdir(), 'llmpress-cli-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lines: string[] = [];
const ctx = {
  abs: (p: string) => resolve(dir, p),
  openModel: (p: string) => openModel(p),
  out: (s: string) => {
    lines.push(s);
  },
};
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const code = async (argv: string[]) => {
  try {
    return await cmdExport(argv, ctx);
  } catch (e) {
    if (e instanceof CliError) return e.code;
    throw e;
  }
};

describe.skipIf(!hasData())('llmpress export', () => {
  const bin = join(dataDir(), 'stories260K', 'stories260K.bin');

  it('an RTN W4 g32 compressed file → GGUF: Q4_0 chosen automatically, exact, cost reported (zero) in JSON', async () => {
    const { loadStories260K } = await import('@llmpress/models/node');
    const q = (await rtnModel(loadStories260K().model, { bits: 4, groupSize: 32 })).model;
    const compressed = join(dir, 'rtn4.safetensors');
    saveModelFile(compressed, q);
    const before = sha(compressed);
    lines.length = 0;
    expect(await cmdExport([compressed, '--format', 'gguf', '--out', 'rtn4.gguf', '--eval', '--windows', '2', '--json'], ctx)).toBe(0);
    const r = JSON.parse(lines.at(-1)!);
    expect(r.types.Q4_0).toBe(30); // 6 roles × 5 blocks; down (172 wide) is F32
    expect(r.lossless).toBe(true);
    expect(r.cost.windows).toBe(2);
    expect(Math.abs(r.cost.pplDeltaPct)).toBeLessThan(1e-4); // the file holds the same weights: only summation order differs
    expect(r.cost.kl.sameTop.fraction).toBe(1);
    expect(sha(compressed)).toBe(before);
    const g = parseGguf(new Uint8Array(readFileSync(join(dir, 'rtn4.gguf'))));
    expect(g.info('blk.0.attn_q.weight').typeName).toBe('Q4_0');
    expect(g.info('blk.0.ffn_down.weight').typeName).toBe('F32');
  });

  it('gptq folder from the same kind of file; text output lists the notes', async () => {
    lines.length = 0;
    expect(await cmdExport([join(dir, 'rtn4.safetensors'), '--format', 'gptq', '--out', 'rtn4-gptq', '--type', 'f32'], ctx)).toBe(0);
    expect(readdirSync(join(dir, 'rtn4-gptq')).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    // q, k, v, o are GPTQ; gate/up (172 outputs) and down (172 inputs) do not pack into int32 words of 8 codes: dense f32, said so
    expect(lines.join('\n')).toMatch(/GPTQ4 ×20/);
    expect(lines.join('\n')).toMatch(/not a multiple of 8/);
  });

  it('refusals: existing output, output = input, lossless impossible, no tokenizer to embed — nothing written', async () => {
    writeFileSync(join(dir, 'taken.gguf'), 'x');
    expect(await code([bin, '--format', 'gguf', '--out', 'taken.gguf'])).toBe(4);
    expect(readFileSync(join(dir, 'taken.gguf'), 'utf8')).toBe('x');
    expect(await code([join(dir, 'rtn4.gguf'), '--format', 'gguf', '--out', join(dir, 'rtn4.gguf')])).toBe(4);
    expect(await code([bin, '--format', 'gguf', '--type', 'q4_0', '--lossless', '--out', 'lossy.gguf'])).toBe(4);
    expect(existsSync(join(dir, 'lossy.gguf'))).toBe(false);
    const lone = join(dir, 'lone');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(lone);
    saveModelFile(join(lone, 'm.safetensors'), randomModel({ vocabSize: 40 }, 3));
    expect(await code([join(lone, 'm.safetensors'), '--format', 'gguf', '--out', 'lone.gguf'])).toBe(2);
    expect(await code([bin, '--format', 'onnx', '--out', 'x'])).toBe(2);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('compress --format gguf writes the compressed model for llama.cpp; eval --reference prints KL statistics (JSON)', async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((x: any) => {
      writes.push(String(x));
      return true;
    });
    try {
      expect(await main(['compress', bin, '--method', 'rtn', '--bits', '8', '--format', 'gguf', '--out', 'c8.gguf'], { cwd: dir })).toBe(0);
      const g = parseGguf(new Uint8Array(readFileSync(join(dir, 'c8.gguf'))));
      expect(g.info('blk.1.ffn_up.weight').typeName).toBe('Q8_0');
      expect(await main(['compress', bin, '--method', 'rtn', '--type', 'q4_0', '--out', 'x.safetensors'], { cwd: dir })).toBe(2);
      writes.length = 0;
      expect(await main(['eval', 'c8.gguf', '--reference', bin, '--windows', '1', '--json'], { cwd: dir })).toBe(0);
      const r = JSON.parse(writes.join('').trim().split('\n').at(-1)!);
      expect(r.klStats.tokens).toBe(256);
      expect(r.klStats.kl.mean).toBeCloseTo(r.kl, 12);
      expect(r.klStats.kl.max).toBeGreaterThanOrEqual(r.klStats.kl.p99);
      expect(r.klStats.sameTop.fraction).toBeCloseTo(r.top1, 12);
    } finally {
      spy.mockRestore();
    }
  });
});
