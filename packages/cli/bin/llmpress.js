#!/usr/bin/env node
// The `llmpress` command. Installed from the package it runs the built dist/main.js. Inside the
// llmpress workspace (`pnpm exec llmpress`, where src/ is present and nothing needs to be built
// first) it runs the TypeScript sources through tsx, with the workspace tsconfig's paths mapping
// @llmpress/* to each package's src/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const src = here('../src/main.ts'),
  tsconfig = here('../../../tsconfig.json');
let main;
if (existsSync(src) && existsSync(tsconfig) && existsSync(here('../../../pnpm-workspace.yaml'))) {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig });
  ({ main } = await import(new URL('../src/main.ts', import.meta.url).href));
} else {
  ({ main } = await import('../dist/main.js'));
}
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e?.stack ?? e);
    process.exit(1);
  },
);
