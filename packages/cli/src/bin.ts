#!/usr/bin/env node
// Source entry (tsx): `pnpm llmpress <command>` from the repository root.
import { main } from './main.js';
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e?.stack ?? e);
    process.exit(1);
  },
);
