// Every example runs in CI and asserts its own output (each exits non-zero on a failed check).
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataDir } from '@llmpress/tensor/testing';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const hasData = existsSync(join(dataDir(), 'stories260K', 'stories260K.bin')); // the repository's data/ (shipped), $LLMPRESS_DATA or ../shared/data
const examples = readdirSync(here)
  .filter((d) => statSync(join(here, d)).isDirectory() && d !== 'node_modules')
  .flatMap((d) =>
    readdirSync(join(here, d))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => `${d}/${f}`),
  );

/**
 * Runs a child process WITHOUT blocking this worker (spawnSync would stall the vitest worker's RPC for
 * the whole run, and on a loaded machine vitest then fails with 'Timeout calling "onTaskUpdate"').
 */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('examples', () => {
  for (const ex of examples) {
    it.skipIf(!hasData)(
      `${ex} runs and its checks pass${hasData ? '' : ` (skipped: no stories260K under ${dataDir()})`}`,
      async () => {
        const r = await run(tsx, [join(here, ex)], root, 240_000);
        if (r.status !== 0) console.error(r.stdout, r.stderr);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/✓/);
        expect(r.stdout).not.toMatch(/✗/);
      },
      250_000,
    );
  }
});
