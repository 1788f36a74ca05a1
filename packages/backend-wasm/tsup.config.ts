import { defineConfig } from 'tsup';
import { copyFileSync, readdirSync } from 'node:fs';
import { preset } from '../../tsup.preset.ts';

// The kernels ship twice: inlined (base64, in the JS) and as plain .wasm files in dist/.
export default defineConfig(
  preset(
    { index: 'src/index.ts', node: 'src/node.ts' },
    {
      async onSuccess() {
        for (const f of readdirSync('src/generated')) if (f.endsWith('.wasm')) copyFileSync(`src/generated/${f}`, `dist/${f}`);
      },
    },
  ),
);
