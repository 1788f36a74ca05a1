import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { dataDir, formatsDir, formatsSkipReason, hasData, hasFormats } from '@llmpress/tensor/testing';
import { main, EXIT } from './main.js';

let stdout = '',
  stderr = '';
beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: any) => {
    stdout += String(s);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: any) => {
    stderr += String(s);
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

describe('llmpress CLI', () => {
  it('usage errors exit 2 with the help text', async () => {
    expect(await main([])).toBe(EXIT.usage);
    expect(await main(['frobnicate'])).toBe(EXIT.usage);
    expect(stderr).toMatch(/unknown command 'frobnicate'/);
    expect(await main(['compress', 'x.bin', '--method', 'zip', '--out', 'y'])).toBe(EXIT.usage);
    expect(stderr).toMatch(/--method must be one of svd-llm/);
    expect(await main(['--help'])).toBe(EXIT.ok);
  });

  it('a malformed model file exits 3 with a message naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmpress-cli-'));
    try {
      const bad = join(dir, 'bad.safetensors');
      writeFileSync(bad, new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0, 1, 2]));
      expect(await main(['inspect', bad])).toBe(EXIT.badInput);
      expect(stderr).toMatch(/bad\.safetensors/);
      expect(await main(['inspect', join(dir, 'missing.bin')])).toBe(EXIT.badInput);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasData())('inspects the llama2.c checkpoint', async () => {
    expect(await main(['inspect', join(dataDir(), 'stories260K', 'stories260K.bin')])).toBe(EXIT.ok);
    expect(stdout).toMatch(/llama2\.c checkpoint .*shared classifier/);
    expect(stdout).toMatch(/260,032 parameters/);
  });

  it.skipIf(!hasFormats())(
    `inspects GGUF and Hugging Face checkpoints (format fixtures)${hasFormats() ? '' : ` — skipped: ${formatsSkipReason()}`}`,
    async () => {
      expect(await main(['inspect', join(formatsDir(), 'gguf-stories260K-requantized', 'stories260K-q4_0-f16.gguf')])).toBe(EXIT.ok);
      expect(stdout).toMatch(/GGUF v3/);
      expect(stdout).toMatch(/\| Q4_0 \|/);
      expect(await main(['inspect', join(formatsDir(), 'hf-tiny-random-llama-2')])).toBe(EXIT.ok);
      expect(stdout).toMatch(/\| BF16 \| 21 \|/);
    },
  );

  it.skipIf(!hasData())('compress never overwrites its input or an existing output, and writes atomically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmpress-cli-'));
    try {
      const model = join(dataDir(), 'stories260K', 'stories260K.bin');
      const before = readFileSync(model);
      expect(await main(['compress', model, '--method', 'rtn', '--out', model])).toBe(EXIT.refused);
      const existing = join(dir, 'keep.safetensors');
      writeFileSync(existing, 'precious');
      expect(await main(['compress', model, '--method', 'rtn', '--out', existing])).toBe(EXIT.refused);
      expect(readFileSync(existing, 'utf8')).toBe('precious');
      const out = join(dir, 'rtn.safetensors');
      expect(await main(['compress', model, '--method', 'rtn', '--bits', '4', '--out', out])).toBe(EXIT.ok);
      expect(existsSync(out)).toBe(true);
      expect(stdout).toMatch(/\| rtn \(W4 g32/);
      expect(readFileSync(model).equals(before)).toBe(true);
      expect(await main(['eval', out, '--windows', '1', '--json'])).toBe(EXIT.ok);
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(r.ppl).toBeGreaterThan(1);
      expect(r.ppl).toBeLessThan(20);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasData())('kv-eval reports perplexity and real key bytes of a compressed cache', async () => {
    expect(await main(['kv-eval', join(dataDir(), 'stories260K', 'stories260K.bin'), '--keys', 'zip'])).toBe(EXIT.usage);
    expect(await main(['kv-eval', join(dataDir(), 'stories260K', 'stories260K.bin'), '--keys', 'kivi', '--bits', '2', '--windows', '1', '--len', '128'])).toBe(
      EXIT.ok,
    );
    const row = stdout
      .trim()
      .split('\n')
      .find((l) => l.startsWith('| kivi'))!
      .split('|')
      .map((x) => x.trim());
    const [fp, cq, kb, fb] = [Number(row[3]), Number(row[4]), Number(row[5]), Number(row[6])];
    expect(fp).toBeGreaterThan(1);
    expect(cq).toBeGreaterThan(fp * 0.9);
    expect(kb).toBeGreaterThan(0);
    expect(kb).toBeLessThan(fb / 2); // 128 tokens: the 32-token fp window and per-block scales weigh more than at 512
  });
});
