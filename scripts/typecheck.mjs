#!/usr/bin/env node
// `pnpm typecheck` (and the first step of `pnpm test`): `tsc --noEmit` over every package's sources,
// tests, benches, evals and examples (root tsconfig.json), then the browser demo (its own DOM/Vite
// types). Prints what it checked; exits non-zero on any type error.
import { spawnSync } from 'node:child_process';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const tsc = join(root, 'node_modules', '.bin', 'tsc');
let failed = 0;
for (const project of ['tsconfig.json', 'examples/browser-demo/tsconfig.json']) {
  const t0 = Date.now();
  const r = spawnSync(tsc, ['-p', project, '--noEmit', '--listFiles', '--pretty', 'false'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  const lines = r.stdout.split('\n').filter(Boolean);
  const errors = lines.filter((l) => /error TS\d+/.test(l) || (!l.startsWith('/') && l.trim()));
  const ours = lines.filter((l) => l.startsWith('/') && !l.includes('/node_modules/') && l.startsWith(root)).map((l) => relative(root, l));
  if (r.status !== 0 || errors.length) {
    failed++;
    console.error(errors.join('\n') || r.stderr);
    console.error(`typecheck: ${project}: FAILED (${errors.filter((l) => /error TS/.test(l)).length} errors)`);
  } else console.log(`typecheck: ${project}: 0 errors in ${ours.length} project files (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
process.exit(failed ? 1 : 0);
