#!/usr/bin/env node
// The one test command (`pnpm test`): generate build-time artifacts the sources need (WASM kernels),
// static checks (the type checker over every package, example and bench; Biome's lint + format
// check), then every vitest suite against the TypeScript sources (unit, property,
// conformance, real-data, examples, the guide's snippets), then build, pack and import every package
// on its own (scripts/pack-test.mjs). Exit code is non-zero if anything fails.
// `pnpm test <vitest filters>` runs the static checks and only the matching suites (no pack step).
import { spawnSync } from 'node:child_process';

function run(cmd, args, opts = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', shell: false, ...opts });
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

run('pnpm', ['-r', '--if-present', 'run', 'prepare:test']); // generated kernel modules the type checker also needs
run('node', ['scripts/typecheck.mjs']);
run('pnpm', ['exec', 'biome', 'check', '.']); // lint + format check (biome.jsonc; docs/decisions/0008-lint-and-format.md)
const filters = process.argv.slice(2);
// The two whole-method WebGPU suites (software Vulkan / SwiftShader, minutes each) run on their own, one file at a
// time, after the rest: run beside the other suites on a loaded 2-core machine they gave a wrong GPU result
// intermittently (2 of 3 full runs on 2026-12-07, never when run alone, even beside two CPU burners; cause not
// found yet, see packages/backend-webgpu/README.md "Known issues").
const GPU_SUITES = ['tests/webgpu-methods.test.ts', 'examples/browser-demo/webgpu.e2e.test.ts'];
if (filters.length) run('pnpm', ['exec', 'vitest', 'run', ...filters]);
else {
  run('pnpm', ['exec', 'vitest', 'run', ...GPU_SUITES.flatMap((f) => ['--exclude', f])]);
  run('pnpm', ['exec', 'vitest', 'run', '--no-file-parallelism', ...GPU_SUITES]);
  run('node', ['scripts/pack-test.mjs']);
}
