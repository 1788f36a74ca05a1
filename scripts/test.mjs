#!/usr/bin/env node
// The one test command (`pnpm test`): generate build-time artifacts the sources need (WASM kernels),
// static checks (the type checker over every package, example and bench; Biome's lint + format
// check), then every vitest suite against the TypeScript sources (unit, property,
// conformance, real-data, examples, the guide's snippets), then build, pack and import every package
// on its own (scripts/pack-test.mjs). Exit code is non-zero if anything fails.
// `pnpm test <vitest filters>` runs the static checks and only the matching suites (no pack step).
import { spawnSync } from 'node:child_process';

// Biome's check becomes a failing step once the tree has had its one `pnpm format` pass
// (docs/decisions/0008-lint-and-format.md). Until then it runs and reports, without failing.
const ENFORCE_LINT = false;

function run(cmd, args, opts = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', shell: false, ...opts });
  if (r.status !== 0) { console.error(`\n✗ ${cmd} ${args.join(' ')} failed (exit ${r.status})`); process.exit(r.status ?? 1); }
}

run('pnpm', ['-r', '--if-present', 'run', 'prepare:test']); // generated kernel modules the type checker also needs
run('node', ['scripts/typecheck.mjs']);
if (ENFORCE_LINT) run('pnpm', ['exec', 'biome', 'check', '.']);
else {
  console.log('\n$ pnpm exec biome check . (reported, not enforced until the one formatting pass)');
  const r = spawnSync('pnpm', ['exec', 'biome', 'check', '.', '--reporter=summary', '--max-diagnostics=0'], { encoding: 'utf8' });
  const out = `${r.stdout}\n${r.stderr}`;
  const lines = out.split('\n').filter((l) => /^(Checked|Found) /.test(l.trim()));
  console.log(lines.length ? lines.map((l) => `  ${l.trim()}`).join('\n') : out.trim().split('\n').slice(-5).join('\n'));
}
run('pnpm', ['exec', 'vitest', 'run', ...process.argv.slice(2)]);
if (!process.argv.slice(2).length) run('node', ['scripts/pack-test.mjs']);
