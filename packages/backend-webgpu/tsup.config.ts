import { defineConfig } from 'tsup';
import { preset } from '../../tsup.preset.ts';
export default defineConfig(
  preset(
    { index: 'src/index.ts', node: 'src/node.ts', 'gpu-thread.node': 'src/gpu-thread.node.ts' },
    { external: [/^@llmpress\//, /^node:/, 'webgpu', 'esbuild'] },
  ),
);
