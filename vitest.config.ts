import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { readdirSync, existsSync } from 'node:fs';

// Tests run against the TypeScript sources: `@llmpress/<pkg>` resolves to packages/<pkg>/src.
const pkgs = readdirSync(new URL('./packages', import.meta.url)).filter((d) => existsSync(new URL(`./packages/${d}/src/index.ts`, import.meta.url)));
const alias = [
  { find: '@llmpress/tensor/testing', replacement: fileURLToPath(new URL('./packages/tensor/src/testing/index.ts', import.meta.url)) },
  ...pkgs.map((p) => ({ find: new RegExp(`^@llmpress/${p}$`), replacement: fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url)) })),
  // subpath entries: @llmpress/<pkg>/<sub> -> packages/<pkg>/src/<sub>.ts (e.g. @llmpress/models/node)
  ...pkgs.map((p) => ({
    find: new RegExp(`^@llmpress/${p}/([a-z0-9-]+)$`),
    replacement: fileURLToPath(new URL(`./packages/${p}/src/`, import.meta.url)) + '$1.ts',
  })),
];

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/**/*.test.ts', 'tests/**/*.test.ts'],
    // one event-loop turn around each test, so workers read their RPC replies on a loaded machine (see the file)
    setupFiles: ['./tests/setup/yield-between-tests.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
