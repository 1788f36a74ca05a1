#!/usr/bin/env node
// `pnpm bench <name> [args]` runs packages/*/bench/<name>.bench.ts with tsx (sources, no build).
// `pnpm bench` alone lists the benchmarks.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const benches = {};
for (const p of readdirSync(join(root, 'packages'))) {
  const dir = join(root, 'packages', p, 'bench');
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir)) if (f.endsWith('.bench.ts')) benches[f.replace(/\.bench\.ts$/, '')] = join(dir, f);
}
const [name, ...rest] = process.argv.slice(2);
if (!name || !benches[name]) {
  console.log(`usage: pnpm bench <name>\navailable: ${Object.keys(benches).sort().join(', ') || '(none yet)'}`);
  process.exit(name ? 1 : 0);
}
const r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [benches[name], ...rest], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
