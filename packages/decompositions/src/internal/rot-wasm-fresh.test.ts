import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROT_WASM_BASE64, ROT_WASM_RELAXED_BASE64 } from './generated/rot-wasm.js';

// The kernel bytes are committed (inlined base64, so the package needs no build step of its own):
// this test fails when assembly/rot.ts changed without `node packages/decompositions/scripts/build-kernels.mjs`.
describe('generated rotation kernel', () => {
  it('matches assembly/rot.ts compiled with the same flags', async () => {
    const asc = (await import('assemblyscript/asc')).default;
    const src = fileURLToPath(new URL('../../assembly/rot.ts', import.meta.url));
    const tmp = mkdtempSync(join(tmpdir(), 'llmpress-rot-check-'));
    try {
      for (const [name, features, want] of [
        ['simd', ['simd'], ROT_WASM_BASE64],
        ['relaxed', ['simd', 'relaxed-simd'], ROT_WASM_RELAXED_BASE64],
      ] as const) {
        const out = join(tmp, `${name}.wasm`);
        const { error, stderr } = await asc.main([
          src,
          '--outFile',
          out,
          '-O3',
          '--runtime',
          'stub',
          '--noAssert',
          '--use',
          'abort=',
          '--importMemory',
          '--initialMemory',
          '1',
          ...features.flatMap((f) => ['--enable', f]),
        ]);
        expect(error, String(stderr)).toBeFalsy();
        expect(readFileSync(out).toString('base64') === want, `${name} build differs from src/internal/generated/rot-wasm.ts: run build-kernels.mjs`).toBe(
          true,
        );
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);
});
