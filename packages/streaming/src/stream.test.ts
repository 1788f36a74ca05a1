import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeSync, mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ArgumentError, Rng, DenseLinear } from '@llmpress/tensor';
import { loadCompressedModel, FormatError, parseHfModel } from '@llmpress/models';
import { LowRankLinear, svdLlmModel } from '@llmpress/low-rank';
import { QuantizedLinear } from '@llmpress/quantizers';
import { compressCheckpointStreaming, writeSyntheticCheckpoint, JournalMismatchError, OutputWriteError } from './node.js';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

const child = fileURLToPath(new URL('./testing/kill-child.ts', import.meta.url));

/**
 * Runs a child Node process WITHOUT blocking this vitest worker (spawnSync would stall the worker's RPC
 * on a loaded machine: 'Timeout calling "onTaskUpdate"', issue 21 item 9). On `timeoutMs` the child gets
 * SIGTERM, as spawnSync's `timeout` did, so a timeout never looks like a SIGKILL the child sent itself.
 */
function runNode(args: string[], timeoutMs: number): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => p.kill('SIGTERM'), timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

describe('streaming compression: 4-block synthetic checkpoint', () => {
  let dir: string, ckpt: string, inputHash: string, reference: string;
  const rng = new Rng(3);
  const calibration = [0, 1].map(() => Array.from({ length: 48 }, () => rng.int(256)));
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmpress-stream-'));
    ckpt = writeSyntheticCheckpoint(join(dir, 'ckpt'), 'tiny', { dtype: 'bf16', seed: 5 });
    inputHash = sha(join(ckpt, 'model.safetensors'));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a HF checkpoint that loads and runs through the forward pass', () => {
    const m = parseHfModel(readFileSync(join(ckpt, 'config.json'), 'utf8'), new Uint8Array(readFileSync(join(ckpt, 'model.safetensors'))));
    expect(m.config.nLayers).toBe(4);
    expect(m.config.nKvHeads).toBe(4);
    const logits = m.forward([1, 2, 3]);
    expect(logits.shape).toEqual([3, 256]);
  });

  it('an uninterrupted SVD-LLM run produces a loadable compressed model with real savings', async () => {
    reference = join(dir, 'ref.safetensors');
    const blocks: number[] = [];
    const r = await compressCheckpointStreaming(ckpt, reference, { method: 'svd-llm', ratio: 0.3, calibration, onBlock: (b) => blocks.push(b) });
    expect(blocks).toEqual([0, 1, 2, 3]);
    expect(r.resumedFrom).toBe(0);
    expect(existsSync(`${reference}.journal`)).toBe(false);
    const m = loadCompressedModel(new Uint8Array(readFileSync(reference)), {
      kinds: { 'low-rank': LowRankLinear.deserialize, dense: DenseLinear.deserialize },
    });
    expect(m.linears().every((e) => e.layer.kind === 'low-rank')).toBe(true);
    expect(m.linearBytes()).toBeLessThan(0.75 * m.denseParams() * 4);
    expect(m.forward([5, 6, 7]).shape).toEqual([3, 256]);
    expect(sha(join(ckpt, 'model.safetensors'))).toBe(inputHash);
  });

  it('stores low-rank factors in the input dtype (bf16 here) by default; f32 on request is a larger file with near-equal outputs', async () => {
    const read = (p: string) => {
      const bytes = new Uint8Array(readFileSync(p));
      const header = JSON.parse(
        Buffer.from(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))).toString('utf8'),
      );
      return { bytes, header };
    };
    const bf = read(reference);
    expect(bf.header['blocks.0.q.wu'].dtype).toBe('BF16');
    expect(bf.header['blocks.3.down.wv'].dtype).toBe('BF16');
    expect(bf.header['final_norm'].dtype).toBe('F32');
    const out = join(dir, 'f32.safetensors');
    await compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 0.3, calibration, factorDtype: 'f32' });
    const f = read(out);
    expect(f.header['blocks.0.q.wu'].dtype).toBe('F32');
    expect(bf.bytes.length).toBeLessThan(0.75 * f.bytes.length);
    const kinds = { kinds: { 'low-rank': LowRankLinear.deserialize, dense: DenseLinear.deserialize } };
    const a = loadCompressedModel(bf.bytes, kinds).forward([5, 6, 7]).data,
      b = loadCompressedModel(f.bytes, kinds).forward([5, 6, 7]).data;
    let d = 0,
      mx = 0;
    for (let i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i]! - b[i]!));
      mx = Math.max(mx, Math.abs(b[i]!));
    }
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.05 * mx);
    await expect(
      compressCheckpointStreaming(ckpt, join(dir, 'x.safetensors'), { method: 'svd-llm', ratio: 0.3, calibration, factorDtype: 'f8' as any }),
    ).rejects.toThrow(/options.factorDtype/);
  });

  it('the per-layer work is svdLlmLayer under the driver schedule: f32 output = svdLlmModel(whitenWith working) per schedule', async () => {
    const dense = parseHfModel(readFileSync(join(ckpt, 'config.json'), 'utf8'), new Uint8Array(readFileSync(join(ckpt, 'model.safetensors'))));
    const kinds = { kinds: { 'low-rank': LowRankLinear.deserialize, dense: DenseLinear.deserialize } };
    const probe = [5, 6, 7, 8, 9];
    const rel = (a: Float32Array, b: Float32Array) => {
      let d = 0,
        m = 0;
      for (let i = 0; i < a.length; i++) {
        d = Math.max(d, Math.abs(a[i]! - b[i]!));
        m = Math.max(m, Math.abs(b[i]!));
      }
      return d / m;
    };
    const streamed: Record<string, Float32Array> = {};
    for (const schedule of ['sequential', 'per-block'] as const) {
      const out = join(dir, `sched-${schedule}.safetensors`);
      await compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 0.3, calibration, factorDtype: 'f32', schedule });
      const s = loadCompressedModel(new Uint8Array(readFileSync(out)), kinds).forward(probe).data;
      const whole = await svdLlmModel(dense, { calibration, ratio: 0.3, schedule, whitenWith: 'working', route: 'gram', allowRankDeficient: true });
      expect(rel(s, whole.model.forward(probe).data)).toBeLessThan(1e-3);
      streamed[schedule] = s;
    }
    expect(rel(streamed.sequential!, streamed['per-block']!)).toBeGreaterThan(1e-3);
    await expect(compressCheckpointStreaming(ckpt, join(dir, 'y.safetensors'), { method: 'svd-llm', calibration, schedule: 'dense' as never })).rejects.toThrow(
      /options.schedule/,
    );
  });

  it('killed (SIGKILL) after block 2 and rerun: resumes at block 3 and the output is byte-identical', async () => {
    const out = join(dir, 'killed.safetensors');
    const r = await runNode(['--import', 'tsx', child, ckpt, out, '2', JSON.stringify(calibration)], 120_000);
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(out)).toBe(false); // no half-written output under the final name
    expect(existsSync(join(`${out}.journal`, 'journal.json'))).toBe(true);
    const res = await compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 0.3, calibration });
    expect(res.resumedFrom).toBe(3);
    expect(sha(out)).toBe(sha(reference));
    expect(sha(join(ckpt, 'model.safetensors'))).toBe(inputHash);
  }, 120_000);

  it('refuses a journal written for other options, and an output equal to the input', async () => {
    const out = join(dir, 'mismatch.safetensors');
    await runNode(['--import', 'tsx', child, ckpt, out, '0', JSON.stringify(calibration)], 120_000);
    await expect(compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 0.5, calibration })).rejects.toThrow(JournalMismatchError);
    await expect(compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 0.5, calibration })).rejects.toThrow(/journal .* was written for options/);
    await expect(compressCheckpointStreaming(ckpt, join(ckpt, 'model.safetensors'), { method: 'svd', calibration, overwrite: true })).rejects.toThrow(
      ArgumentError,
    );
    await expect(compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 1.5, calibration })).rejects.toThrow(/options.ratio/);
  }, 120_000);

  it('a full disk (injected write error) leaves no output, the input untouched, and the run resumable', async () => {
    const out = join(dir, 'full.safetensors');
    let written = 0;
    const enospc = (fd: number, b: Uint8Array, pos: number) => {
      if (written + b.length > 300_000) {
        const e: any = new Error('ENOSPC: no space left on device, write');
        e.code = 'ENOSPC';
        throw e;
      }
      written += b.length;
      return writeSync(fd, b, 0, b.length, pos);
    };
    await expect(compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 0.3, calibration, write: enospc })).rejects.toThrow(OutputWriteError);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(sha(join(ckpt, 'model.safetensors'))).toBe(inputHash);
    const res = await compressCheckpointStreaming(ckpt, out, { method: 'svd-llm', ratio: 0.3, calibration });
    expect(res.resumedFrom).toBeGreaterThan(0);
    expect(sha(out)).toBe(sha(reference));
  }, 120_000);

  it('an untied checkpoint (lm_head.weight, as Llama-2-7B) streams and keeps its head', async () => {
    const { SHAPES } = await import('./shapes.js');
    const c2 = writeSyntheticCheckpoint(join(dir, 'untied'), { ...SHAPES.tiny, num_hidden_layers: 2, tie_word_embeddings: false }, { dtype: 'bf16', seed: 6 });
    const out = join(dir, 'untied.safetensors');
    await compressCheckpointStreaming(c2, out, { method: 'svd-llm', ratio: 0.3, calibration });
    const m = loadCompressedModel(new Uint8Array(readFileSync(out)), { kinds: { 'low-rank': LowRankLinear.deserialize, dense: DenseLinear.deserialize } });
    expect(m.config.tiedEmbeddings).toBe(false);
    expect(m.forward([1, 2]).shape).toEqual([2, 256]);
  });

  it('a truncated checkpoint is a FormatError naming the file', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    copyFileSync(join(ckpt, 'config.json'), join(bad, 'config.json'));
    const bytes = readFileSync(join(ckpt, 'model.safetensors'));
    writeFileSync(join(bad, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    await expect(compressCheckpointStreaming(bad, join(dir, 'x.safetensors'), { method: 'svd', calibration })).rejects.toThrow(FormatError);
    await expect(compressCheckpointStreaming(bad, join(dir, 'x.safetensors'), { method: 'svd', calibration })).rejects.toThrow(/model\.safetensors/);
  });

  it('GPTQ W4 streams too and loads as quantized layers', async () => {
    const out = join(dir, 'gptq.safetensors');
    await compressCheckpointStreaming(ckpt, out, { method: 'gptq', bits: 4, groupSize: 32, calibration });
    const m = loadCompressedModel(new Uint8Array(readFileSync(out)), { kinds: { quantized: QuantizedLinear.deserialize } });
    expect(m.linears().every((e) => e.layer.kind === 'quantized')).toBe(true);
    expect(m.effectiveBitsPerWeight()).toBeLessThan(5);
  });
});
