// Stream a synthetic 4-block HF checkpoint through SVD-LLM block by block, kill-safe, and load the result.
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Rng } from '@llmpress/tensor';
import { loadCompressedModel } from '@llmpress/models';
import { LowRankLinear } from '@llmpress/low-rank';
import { writeSyntheticCheckpoint, compressCheckpointStreaming } from '@llmpress/streaming/node';
import { check } from '../check.js';

const dir = mkdtempSync(join(tmpdir(), 'llmpress-stream-example-'));
try {
  const ckpt = writeSyntheticCheckpoint(join(dir, 'tiny'), 'tiny', { dtype: 'bf16' });
  const rng = new Rng(1);
  const calibration = [Array.from({ length: 64 }, () => rng.int(256))];
  const out = join(dir, 'tiny-svdllm.safetensors');
  const r = await compressCheckpointStreaming(ckpt, out, {
    method: 'svd-llm',
    ratio: 0.3,
    calibration,
    onBlock: (b, i) => console.log(`block ${b} journaled (rss ${(i.rss / 2 ** 20).toFixed(0)} MB)`),
  });
  console.log(`${r.inputBytes} → ${r.bytes} bytes in ${r.seconds.toFixed(1)} s, peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MB`);
  const m = loadCompressedModel(new Uint8Array(readFileSync(out)), { kinds: { 'low-rank': LowRankLinear.deserialize } });
  check(
    m.linears().every((e) => e.layer.kind === 'low-rank'),
    'every linear of the streamed output is low-rank',
  );
  check(m.forward([1, 2, 3]).shape[1] === 256, 'the streamed model runs');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
