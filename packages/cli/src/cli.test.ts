/**
 * The CLI's user errors (issue 21), run in-process through main(): each must give the documented exit
 * code, a one-line message naming the option or file (no stack trace), leave no output behind, and
 * leave the input's bytes (sha256) unchanged. Plus the documented things that must work.
 */
import { describe, it, expect, vi, beforeEach, afterEach, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync, symlinkSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { dataDir, hasData, formatsDir, hasFormats, formatsSkipReason } from '@llmpress/tensor/testing';
import { main, EXIT, VERSION } from './main.js';

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

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llmpress-cli-errors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const model = () => join(dataDir(), 'stories260K', 'stories260K.bin');

/** Runs a user error: exit code, one line naming `re`, no stack, no output (nor temp file) left, inputs unchanged. */
async function userError(argv: string[], code: number, re: RegExp, o: { inputs?: string[]; out?: string } = {}) {
  const inputs = (o.inputs ?? []).filter((p) => existsSync(p));
  const before = inputs.map(sha);
  const filesBefore = readdirSync(dir).sort();
  stdout = '';
  stderr = '';
  const rc = await main(argv);
  const lines = stderr.split('\n').filter((l) => l.trim() && !/^[^:]+: \d+\/\d+ /.test(l) && !/: done in /.test(l));
  expect({ rc, stderr }).toMatchObject({ rc: code });
  expect(lines[0]).toMatch(/^llmpress: /);
  expect(lines[0]).toMatch(re);
  expect(lines.length).toBeLessThanOrEqual(2); // the message, and for usage errors a '--help' hint
  if (lines[1]) expect(lines[1]).toMatch(/--help for usage/);
  expect(stderr).not.toMatch(/\n\s+at /);
  if (o.out) expect(existsSync(o.out)).toBe(false);
  expect(readdirSync(dir).sort()).toEqual(filesBefore); // no temp files either
  expect(inputs.map(sha)).toEqual(before);
}

describe('llmpress help, version and validation up front', () => {
  it('--version and <cmd> --help for every command, each listing every flag with defaults', async () => {
    expect(await main(['--version'])).toBe(EXIT.ok);
    expect(stdout.trim()).toBe(VERSION);
    for (const cmd of ['inspect', 'compress', 'eval', 'kv-eval', 'synth', 'report', 'demo']) {
      stdout = '';
      expect(await main([cmd, '--help'])).toBe(EXIT.ok);
      expect(stdout).toMatch(new RegExp(`^llmpress ${cmd} — `));
    }
    stdout = '';
    await main(['compress', '--help']);
    for (const f of ['--force', '--tokens', '--backend', '--check-weights', '--group-size', '--factor-dtype', '--stream', '(default: 4)', '(default: auto)'])
      expect(stdout).toContain(f);
    stdout = '';
    await main(['eval', '--help']);
    expect(stdout).toContain('--json');
    stdout = '';
    await main(['kv-eval', '--help']);
    expect(stdout).toContain('--len');
    stdout = '';
    await main(['synth', '--help']);
    expect(stdout).toContain('--seed');
    stdout = '';
    await main(['demo', '--help']);
    expect(stdout).toContain('--methods');
    stdout = '';
    await main(['help', 'eval']);
    expect(stdout).toMatch(/^llmpress eval — /);
  });

  it.skipIf(!hasData())('bad options exit 2 naming the option, before any work', async () => {
    const m = model(),
      out = join(dir, 'o.safetensors');
    const io = { inputs: [m], out };
    await userError(['compress', m, '--method', 'rtn', '--group-size', '7', '--out', out], EXIT.usage, /--group-size 7 divides none/, io);
    await userError(['compress', m, '--method', 'tt', '--budget', '2', '--out', out], EXIT.usage, /--budget must be a number in \(0, 1\), got '2'/, io);
    await userError(['compress', m, '--method', 'gptq', '--ratio', '0.3', '--out', out], EXIT.usage, /--ratio is not used by --method gptq/, io);
    await userError(['compress', m, '--method', 'gptq', '--bits', '0', '--out', out], EXIT.usage, /--bits must be an integer in \[2, 8\], got '0'/, io);
    await userError(['compress', m, '--method', 'zip', '--out', out], EXIT.usage, /--method must be one of/, io);
    await userError(['compress', m, '--method', 'rtn', '--out', out, '--tokens', '9'], EXIT.usage, /--tokens needs --stream/, io);
    await userError(
      ['compress', m, '--method', 'rtn', '--out', out, '--backend', 'cuda'],
      EXIT.usage,
      /--backend must be one of auto, wasm, webgpu, reference/,
      io,
    );
    await userError(['compress', m, '--method', 'rtn', '--out', out, '--frobnicate'], EXIT.usage, /Unknown option '--frobnicate'/, io);
    await userError(['compress', m, '--method', 'rtn'], EXIT.usage, /--out <file.safetensors> is required/, io);
    await userError(['kv-eval', m, '--windows', '0'], EXIT.usage, /--windows must be an integer ≥ 1, got '0'/, io);
    await userError(['kv-eval', m, '--keys', 'zip'], EXIT.usage, /--keys must be one of svdq, kivi, per-channel/, io);
    await userError(['kv-eval', m, '--value-bits', '2'], EXIT.usage, /--value-bits needs --values kivi/, io);
    await userError(['kv-eval', m, '--keys', 'kivi', '--basis', 'calib'], EXIT.usage, /--basis is used by --keys svdq only/, io);
    await userError(['kv-eval', m, '--keep', '0'], EXIT.usage, /--keep must be a number in \(0, 1\]/, io);
    await userError(['eval', m, '--windows', 'abc'], EXIT.usage, /--windows must be an integer ≥ 1, got 'abc'/, io);
    await userError(['synth', 'tiny', '--out', join(dir, 's1'), '--layers', 'abc'], EXIT.usage, /--layers must be an integer in \[1, 1024\], got 'abc'/, {
      out: join(dir, 's1'),
    });
    await userError(['synth', 'tiny', '--out', join(dir, 's1'), '--seed', 'abc'], EXIT.usage, /--seed must be an integer/, { out: join(dir, 's1') });
    await userError(['demo', '--windows', '0'], EXIT.usage, /--windows must be an integer in \[1, 64\]/);
    await userError(['demo', '--methods', 'zip'], EXIT.usage, /--methods: 'zip' is not in the demo's plan/);
    await userError(['frobnicate'], EXIT.usage, /unknown command 'frobnicate'/);
  });
});

describe.skipIf(!hasData())('llmpress user errors: files and paths', () => {
  it('missing files and folders are one line naming them, before any work', async () => {
    const m = model(),
      out = join(dir, 'o.safetensors');
    const io = { inputs: [m], out };
    await userError(['compress', join(dir, 'nope.bin'), '--method', 'rtn', '--out', out], EXIT.badInput, /<model> '.*nope\.bin' does not exist/, io);
    await userError(
      ['compress', m, '--method', 'rtn', '--out', join(dir, 'missing-folder', 'o.safetensors')],
      EXIT.usage,
      /--out '.*missing-folder.*': folder '.*' does not exist/,
      io,
    );
    await userError(
      ['compress', m, '--method', 'rtn', '--out', out, '--calib', join(dir, 'nope.txt')],
      EXIT.badInput,
      /--calib '.*nope\.txt' does not exist/,
      io,
    );
    await userError(['eval', m, '--text', join(dir, 'nope.txt')], EXIT.badInput, /--text '.*nope\.txt' does not exist/, io);
    await userError(['eval', m, '--reference', join(dir, 'nope.bin')], EXIT.badInput, /--reference '.*nope\.bin' does not exist/, io);
    await userError(['kv-eval', m, '--text', join(dir, 'nope.txt')], EXIT.badInput, /--text '.*nope\.txt' does not exist/, io);
    await userError(['inspect', join(dir, 'nope.bin')], EXIT.badInput, /'.*nope\.bin' does not exist/);
    await userError(['report', '--results', join(dir, 'no-results')], EXIT.badInput, /--results folder '.*no-results' does not exist/);
  });

  it('--stream on a llama2.c file, an existing output, a link to the input, synth onto an existing path', async () => {
    const m = model(),
      out = join(dir, 'o.safetensors');
    await userError(['compress', m, '--stream', '--method', 'rtn', '--out', out], EXIT.usage, /--stream: needs a Hugging Face folder .* llama2\.c checkpoint/, {
      inputs: [m],
      out,
    });
    await userError(['compress', m, '--method', 'rtn', '--out', m], EXIT.refused, /refusing to write over the input/, { inputs: [m] });
    const link = join(dir, 'link.bin');
    symlinkSync(m, link);
    try {
      await userError(['compress', m, '--method', 'rtn', '--out', link, '--force'], EXIT.refused, /refusing to write over the input .* is a link to it/, {
        inputs: [m],
      });
    } finally {
      rmSync(link);
    }
    const keep = join(dir, 'keep.safetensors');
    writeFileSync(keep, 'precious');
    try {
      await userError(['compress', m, '--method', 'rtn', '--out', keep], EXIT.refused, /'.*keep\.safetensors' exists; pass --force/, { inputs: [m, keep] });
      expect(readFileSync(keep, 'utf8')).toBe('precious');
    } finally {
      rmSync(keep);
    }
    const existing = join(dir, 'already');
    mkdirSync(existing);
    try {
      await userError(['synth', 'tiny', '--out', existing], EXIT.refused, /'.*already' already exists; give a new folder name/);
      expect(readdirSync(existing)).toEqual([]);
    } finally {
      rmSync(existing, { recursive: true });
    }
  });

  it('malformed files: < 8 byte safetensors, truncated .bin, NaN weights (--check-weights, always in inspect)', async () => {
    const tiny = join(dir, 'tiny.safetensors');
    writeFileSync(tiny, new Uint8Array([1, 2, 3, 4, 5]));
    const trunc = join(dir, 'trunc.bin');
    writeFileSync(trunc, readFileSync(model()).subarray(0, 500_000));
    const nan = join(dir, 'nan.bin');
    const b = new Uint8Array(readFileSync(model()));
    new DataView(b.buffer).setFloat32(28 + 4 * 10, NaN, true); // token_embedding_table[10]
    writeFileSync(nan, b);
    const out = join(dir, 'o.safetensors');
    try {
      await userError(['compress', tiny, '--method', 'rtn', '--out', out], EXIT.badInput, /tiny\.safetensors.*shorter than the 8-byte length prefix/, {
        inputs: [tiny],
        out,
      });
      await userError(['eval', tiny], EXIT.badInput, /tiny\.safetensors.*shorter than the 8-byte/, { inputs: [tiny] });
      await userError(['inspect', tiny], EXIT.badInput, /tiny\.safetensors/, { inputs: [tiny] });
      await userError(['inspect', trunc], EXIT.badInput, /trunc\.bin.*(truncated|needs bytes)/, { inputs: [trunc] });
      await userError(['inspect', nan], EXIT.badInput, /nan\.bin', tensor 'token_embedding_table'.*element 10 is NaN/, { inputs: [nan] });
      await userError(['eval', nan, '--check-weights', '--windows', '1'], EXIT.badInput, /nan\.bin', tensor 'embedding'.*NaN/, { inputs: [nan] });
    } finally {
      for (const f of [tiny, trunc, nan]) rmSync(f, { force: true });
    }
  });

  it('re-quantizing a quantized input is refused without --force, then written with a warning', async () => {
    const q = join(dir, 'q.safetensors'),
      q2 = join(dir, 'q2.safetensors');
    try {
      expect(await main(['compress', model(), '--method', 'rtn', '--out', q])).toBe(EXIT.ok);
      // inspect reads llmpress's own files by layer: packed bytes are not parameters
      stdout = '';
      expect(await main(['inspect', q])).toBe(EXIT.ok);
      expect(stdout).toMatch(/llmpress compressed model .* 260,032 parameters/);
      expect(stdout).toMatch(/\| quantized \| 35 \| 226,560 \|/);
      await userError(['compress', q, '--method', 'rtn', '--out', q2], EXIT.refused, /is already quantized .*pass --force/, { inputs: [q], out: q2 });
      stderr = '';
      expect(await main(['compress', q, '--method', 'rtn', '--out', q2, '--force'])).toBe(EXIT.ok);
      expect(stderr).toMatch(/warning: the input was already quantized/);
      expect(existsSync(q2)).toBe(true);
    } finally {
      rmSync(q, { force: true });
      rmSync(q2, { force: true });
    }
  });
});

describe.skipIf(!hasData())('llmpress: what the docs promise works', () => {
  it("short --calib text calibrates on fewer windows; relative paths resolve against the caller's folder", async () => {
    writeFileSync(join(dir, 'short.txt'), readFileSync(join(dataDir(), 'tinystories', 'tinystories_val.txt'), 'utf8').slice(0, 4000));
    try {
      expect(await main(['compress', model(), '--method', 'rtn', '--calib', 'short.txt', '--out', 'r.safetensors'], { cwd: dir })).toBe(EXIT.ok);
      expect(stderr).toMatch(/holds \d window/);
      expect(existsSync(join(dir, 'r.safetensors'))).toBe(true);
      expect(stdout).toMatch(/\| input \(f32\) \| 906240 \|/);
      expect(stdout).toMatch(/backend (wasm|reference)/);
      const tinyCalib = join(dir, 'tinycalib.txt');
      writeFileSync(tinyCalib, 'Once upon a time.');
      await userError(
        ['compress', model(), '--method', 'rtn', '--calib', tinyCalib, '--out', join(dir, 'x.safetensors')],
        EXIT.badInput,
        /--calib '.*tinycalib\.txt' has \d+ tokens; one calibration window needs 256/,
        { inputs: [model()], out: join(dir, 'x.safetensors') },
      );
      rmSync(tinyCalib);
    } finally {
      rmSync(join(dir, 'short.txt'));
      rmSync(join(dir, 'r.safetensors'), { force: true });
    }
  });

  it('--eval-text / --calib-text choose the evaluation and calibration texts separately (compress, eval); --text still works for eval', async () => {
    const full = join(dataDir(), 'tinystories', 'tinystories_val.txt');
    const other = join(dir, 'other.txt'); // 4000 characters from the middle of the text: a few windows, not windows 0..
    writeFileSync(other, readFileSync(full, 'utf8').slice(200000, 204000));
    const out = join(dir, 'c.safetensors');
    try {
      expect(await main(['compress', model(), '--method', 'rtn', '--calib-text', full, '--eval', '--eval-text', other, '--out', out])).toBe(EXIT.ok);
      expect(stdout).toMatch(/quick eval \(\d windows of other\.txt\): ppl \d/);
      expect(stderr).toMatch(/--eval-text '.*other\.txt' holds \d windows of 256 tokens; evaluating \d/);
      rmSync(out);
      await userError(
        ['compress', model(), '--method', 'rtn', '--calib-text', other, '--out', out],
        EXIT.badInput,
        /--calib-text '.*other\.txt' holds \d+ windows of 256 tokens; calibration takes windows 200\.\.231/,
        { inputs: [model()], out },
      );
      await userError(
        ['compress', model(), '--method', 'rtn', '--calib-text', full, '--calib', other, '--out', out],
        EXIT.usage,
        /give --calib-text FILE .* or --calib FILE .*, not both/,
        { inputs: [model()], out },
      );
      await userError(['compress', model(), '--method', 'rtn', '--eval-text', other, '--out', out], EXIT.usage, /--eval-text needs --eval/, {
        inputs: [model()],
        out,
      });
      await userError(['eval', model(), '--eval-text', join(dir, 'nope.txt')], EXIT.badInput, /--eval-text '.*nope\.txt' does not exist/);
      await userError(['eval', model(), '--eval-text', other, '--text', other], EXIT.usage, /--text is the old name of --eval-text/);
      const pplOf = async (argv: string[]) => {
        stdout = '';
        expect(await main(['eval', model(), '--windows', '2', '--json', ...argv])).toBe(EXIT.ok);
        return JSON.parse(stdout.trim().split('\n').pop()!).ppl as number;
      };
      const dflt = await pplOf([]),
        heldOut = await pplOf(['--eval-text', other]),
        old = await pplOf(['--text', other]);
      expect(heldOut).not.toBe(dflt); // the windows came from the other text
      expect(old).toBe(heldOut); // the old flag names the same text
      stdout = '';
      expect(await main(['compress', '--help'])).toBe(EXIT.ok);
      for (const f of ['--calib-text', '--eval-text', '--calib']) expect(stdout).toContain(f);
      stdout = '';
      expect(await main(['eval', '--help'])).toBe(EXIT.ok);
      expect(stdout).toContain('--eval-text');
    } finally {
      rmSync(other, { force: true });
      rmSync(out, { force: true });
    }
  });

  it("kv-eval defaults to the KV table's best row, and reaches the table's other rows", async () => {
    expect(await main(['kv-eval', model(), '--windows', '1', '--len', '128'])).toBe(EXIT.ok);
    expect(stdout).toMatch(/\| svdq 2 bits flat prefill centered \| 1 × 128 \|/);
    stdout = '';
    expect(
      await main([
        'kv-eval',
        model(),
        '--windows',
        '1',
        '--len',
        '128',
        '--keys',
        'svdq',
        '--bits',
        '1.25',
        '--allocation',
        'preset',
        '--basis',
        'calib',
        '--calib-windows',
        '1',
        '--keep',
        '0.125',
        '--one-bit',
        'means',
      ]),
    ).toBe(EXIT.ok);
    expect(stdout).toMatch(/\| svdq 1.25 bits preset calib centered 1-bit means keep 0.125 \|/);
  });

  it('an output larger than a bf16 input is refused without --force (nothing written), then written with a warning; bf16 shows 16 bits', async () => {
    const hf = join(dir, 'hf16'),
      out = join(dir, 'svd.safetensors');
    try {
      expect(await main(['synth', 'tiny', '--out', hf, '--layers', '1', '--dtype', 'bf16'])).toBe(EXIT.ok);
      // plain SVD keeps f32 factors: 20% fewer parameters at 32 bits is more than the bf16 input's 16 bits
      await userError(
        ['compress', hf, '--method', 'svd', '--ratio', '0.2', '--out', out, '--backend', 'reference'],
        EXIT.refused,
        /would store the linears in \d+ B, more than the input's \d+ B \(BF16\); nothing written/,
        { inputs: [join(hf, 'model.safetensors')], out },
      );
      stdout = '';
      stderr = '';
      expect(await main(['compress', hf, '--method', 'svd', '--ratio', '0.2', '--out', out, '--force', '--backend', 'reference'])).toBe(EXIT.ok);
      expect(stdout).toMatch(/\| input \(BF16\) \| \d+ \| \d+ \| 16\.00 \| 1\.00× \|/);
      expect(stderr).toMatch(/warning: the output's linears .* are larger than the input's/);
    } finally {
      rmSync(hf, { recursive: true, force: true });
      rmSync(out, { force: true });
    }
  });

  it('compress --stream --method rtn on a synthetic Hugging Face folder', async () => {
    const hf = join(dir, 'hf'),
      out = join(dir, 'hf-rtn.safetensors');
    try {
      expect(await main(['synth', 'tiny', '--out', hf, '--layers', '2'])).toBe(EXIT.ok);
      expect(await main(['compress', hf, '--stream', '--method', 'rtn', '--out', out, '--backend', 'reference'])).toBe(EXIT.ok);
      expect(stdout).toMatch(/backend reference/);
      expect(existsSync(out)).toBe(true);
      stdout = '';
      expect(await main(['inspect', out])).toBe(EXIT.ok);
      expect(stdout).toMatch(/llmpress compressed model/);
    } finally {
      rmSync(hf, { recursive: true, force: true });
      rmSync(out, { force: true });
    }
  });

  it('a GGUF written by llmpress export (shipped data): eval uses its own tokenizer, compress shows its real bits and refuses to re-quantize', async () => {
    const g = join(dir, 'own.gguf'),
      out = join(dir, 'own.safetensors');
    try {
      expect(await main(['export', model(), '--format', 'gguf', '--type', 'q8_0', '--out', g])).toBe(EXIT.ok);
      stdout = '';
      expect(await main(['eval', g, '--windows', '1', '--json'])).toBe(EXIT.ok);
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(r.ppl).toBeGreaterThan(1);
      expect(r.ppl).toBeLessThan(20);
      await userError(['compress', g, '--method', 'rtn', '--out', out], EXIT.refused, /already quantized \(Q8_0.*, \d+\.\d\d bits\/weight\)/, {
        inputs: [g],
        out,
      });
    } finally {
      rmSync(g, { force: true });
    }
  });

  it.skipIf(!hasFormats())(
    `eval uses a GGUF's own tokenizer; a Q4_0 GGUF shows its real bits${hasFormats() ? '' : ` — skipped: ${formatsSkipReason()}`}`,
    async () => {
      const g = join(formatsDir(), 'gguf-stories260K-requantized', 'stories260K-q4_0-f16.gguf');
      expect(await main(['eval', g, '--windows', '1', '--json'])).toBe(EXIT.ok);
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(r.ppl).toBeGreaterThan(1);
      expect(r.ppl).toBeLessThan(20);
      const out = join(dir, 'g.safetensors');
      await userError(['compress', g, '--method', 'rtn', '--out', out], EXIT.refused, /already quantized \(Q4_0.*, \d+\.\d\d bits\/weight\)/, {
        inputs: [g],
        out,
      });
      stdout = '';
      expect(await main(['inspect', g])).toBe(EXIT.ok);
      expect(stdout).toMatch(/config: \{"dim":64/);
    },
  );
});
