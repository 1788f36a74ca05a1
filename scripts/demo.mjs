#!/usr/bin/env node
// `pnpm demo`: every method on the real model (../shared/data or $LLMPRESS_DATA; a generated model
// otherwise), evaluated against the dense model, then an HTML report at llmpress-demo/report.html.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
const root = new URL('..', import.meta.url).pathname;
const r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'packages/cli/src/bin.ts'), 'demo', ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
