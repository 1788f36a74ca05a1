#!/usr/bin/env node
// `pnpm demo`: every method on the real stories260K (shipped in the repository's data/; $LLMPRESS_DATA
// and ../shared/data are fallbacks), evaluated against the dense model on the standard protocol's 64
// windows, then an HTML report at llmpress-demo/report.html. `pnpm demo --generated` uses a generated model.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
const root = new URL('..', import.meta.url).pathname;
// the WASM kernels are generated (git-ignored); `pnpm install` makes them (root "prepare"), this covers an install that skipped it
if (!existsSync(join(root, 'packages/backend-wasm/src/generated/kernels.ts'))) {
  const g = spawnSync('pnpm', ['-r', '--if-present', 'run', 'prepare:test'], { stdio: 'inherit', cwd: root });
  if (g.status !== 0) process.exit(g.status ?? 1);
}
const r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'packages/cli/src/bin.ts'), 'demo', ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
