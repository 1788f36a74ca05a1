/**
 * Vite config for the browser demo. Workspace packages resolve to their TypeScript sources (no
 * package build needed), the page and its module worker are served with COOP/COEP so the page is
 * cross-origin isolated (SharedArrayBuffer → WASM backend threads), and @stdlib's BLAS entry that
 * probes for a Node addon is swapped for its pure-JS main (in the build and in the dev server).
 */
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';
import { readdirSync, existsSync } from 'node:fs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkgs = readdirSync(`${root}packages`).filter((d) => existsSync(`${root}packages/${d}/src/index.ts`));
const alias = [
  // @stdlib/blas/base/<x>/lib/index.js requires a Node addon loader (uses __dirname); in a page take
  // its pure-JS lib/main.js. An alias (not a resolve hook) so the dev server's dependency optimizer sees it too.
  // (@llmpress/tensor now imports lib/ndarray.js, which needs nothing; this keeps older sources working.)
  { find: /^@stdlib\/blas\/base\/([a-z0-9]+)\/lib\/index\.js$/, replacement: '@stdlib/blas/base/$1/lib/main.js' },
  { find: /^@llmpress\/cli\/report$/, replacement: `${root}packages/cli/src/report/index.ts` },
  ...pkgs.map((p) => ({ find: new RegExp(`^@llmpress/${p}$`), replacement: `${root}packages/${p}/src/index.ts` })),
];

const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  base: './',
  resolve: { alias },
  define: { 'process.env.NODE_ENV': '"production"' },
  worker: { format: 'es' },
  server: { headers: isolation },
  preview: { headers: isolation },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 4000 },
});
