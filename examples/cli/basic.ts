// The CLI as a library: inspect a checkpoint and compress it with SVD-LLM, then evaluate the saved file.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { main, EXIT } from '@llmpress/cli';
import { dataDir } from '@llmpress/models/node';
import { check } from '../check.js';

const model = join(dataDir(), 'stories260K', 'stories260K.bin');
check((await main(['inspect', model])) === EXIT.ok, 'llmpress inspect stories260K.bin');
const dir = mkdtempSync(join(tmpdir(), 'llmpress-example-'));
try {
  const out = join(dir, 'svd-llm.safetensors');
  check((await main(['compress', model, '--method', 'svd-llm', '--ratio', '0.2', '--out', out])) === EXIT.ok, 'llmpress compress --method svd-llm --ratio 0.2');
  check((await main(['compress', model, '--method', 'svd', '--out', model])) === EXIT.refused, 'compress refuses to overwrite its input');
  check((await main(['eval', out, '--windows', '2', '--reference', model])) === EXIT.ok, 'llmpress eval on the saved compressed model');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
