/**
 * Vite config for the browser demo. Workspace packages resolve to their TypeScript sources (no
 * package build needed), the page and its module worker are served with COOP/COEP so the page is
 * cross-origin isolated (SharedArrayBuffer → WASM backend threads), and @stdlib's BLAS entry that
 * probes for a Node addon is swapped for its pure-JS main.
 */
import { defineConfig, type Plugin } from 'vite';
import { fileURLToPath } from 'node:url';
import { readdirSync, existsSync } from 'node:fs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkgs = readdirSync(`${root}packages`).filter((d) => existsSync(`${root}packages/${d}/src/index.ts`));
const alias = [
  { find: /^@llmpress\/cli\/report$/, replacement: `${root}packages/cli/src/report/index.ts` },
  ...pkgs.map((p) => ({ find: new RegExp(`^@llmpress/${p}$`), replacement: `${root}packages/${p}/src/index.ts` })),
];

const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/** @stdlib/blas/base/<x>/lib/index.js requires a native addon loader; in a page take lib/main.js. */
function stdlibBrowser(): Plugin {
  return {
    name: 'llmpress-stdlib-blas-browser',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (!/@stdlib\/blas\/base\/[a-z0-9]+\/lib\/index\.js$/.test(source)) return null;
      const r = await this.resolve(source, importer, { ...options, skipSelf: true });
      return r ? { ...r, id: r.id.replace(/index\.js$/, 'main.js') } : null;
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [stdlibBrowser()],
  resolve: { alias },
  define: { 'process.env.NODE_ENV': '"production"' },
  worker: { format: 'es', plugins: () => [stdlibBrowser()] },
  server: { headers: isolation },
  preview: { headers: isolation },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 4000 },
});
