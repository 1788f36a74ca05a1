// One tsup preset for every package: ESM only, type declarations, no bundling of
// workspace siblings (they are real dependencies), explicit `.js` in emitted imports.
import type { Options } from 'tsup';

export function preset(entry: Record<string, string> | string[], extra: Partial<Options> = {}): Options {
  return {
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    platform: 'neutral',
    splitting: false,
    treeshake: true,
    external: [/^@llmpress\//, /^node:/],
    ...extra,
  };
}
