#!/usr/bin/env node
// The one test command (`pnpm test`): generate build-time artifacts the sources need (WASM
// kernels), run every vitest suite against the TypeScript sources, then build, pack and import
// every package on its own (tests/pack). Exit code is non-zero if anything fails.
import { spawnSync } from 'node:child_process';

function run(cmd, args, opts = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', shell: false, ...opts });
  if (r.status !== 0) { console.error(`\n✗ ${cmd} ${args.join(' ')} failed (exit ${r.status})`); process.exit(r.status ?? 1); }
}

run('pnpm', ['-r', '--if-present', 'run', 'prepare:test']);
run('pnpm', ['exec', 'vitest', 'run', ...process.argv.slice(2)]);
if (!process.argv.slice(2).length) run('node', ['scripts/pack-test.mjs']);
