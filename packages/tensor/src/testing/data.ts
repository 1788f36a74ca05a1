/** Test helper: where `../shared/data` lives (env `LLMPRESS_DATA` overrides). Node-only, test-only. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export function dataDir(): string {
  const env = process.env.LLMPRESS_DATA;
  if (env) return resolve(env);
  return resolve(fileURLToPath(new URL('../../../../../shared/data', import.meta.url)));
}

/** True when the real-model data is present (stories260K + text). */
export function hasData(): boolean {
  return existsSync(resolve(dataDir(), 'stories260K', 'stories260K.bin'));
}
