/**
 * Node-only helpers for the browser conformance run: bundle the page (esbuild), serve it on
 * localhost, drive Debian's chromium through playwright-core (SwiftShader WebGPU) and collect the
 * counts. Used by `browser.test.ts` and reachable from nowhere in the published entries.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function chromiumPath(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean) as string[];
  return candidates.find((p) => existsSync(p)) ?? null;
}

const pkgRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Bundles test/browser/entry.ts with `vitest` aliased to the shim; returns the JS text. */
export async function bundleConformancePage(): Promise<string> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    entryPoints: [join(pkgRoot, 'test', 'browser', 'entry.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    alias: { vitest: join(pkgRoot, 'test', 'browser', 'vitest-shim.ts') },
    define: { 'process.env.NODE_ENV': '"production"' },
    // @llmpress/tensor imports @stdlib/blas/base/*/lib/index.js, which probes for a native addon
    // with require('path'); in a page take the pure-JS main.js it falls back to anyway.
    plugins: [
      {
        name: 'stdlib-blas-browser',
        setup(b) {
          b.onResolve({ filter: /@stdlib\/blas\/base\/[a-z0-9]+\/lib\/index\.js$/ }, async (args) => {
            if (args.pluginData === 'skip') return undefined;
            const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'skip' });
            return { path: r.path.replace(/index\.js$/, 'main.js') };
          });
        },
      },
    ],
    logLevel: 'silent',
  });
  return r.outputFiles[0]!.text;
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>llmpress WebGPU conformance</title>
<style>body{font:13px monospace;margin:12px} .passed{color:#070} .failed,.fail{color:#b00;white-space:pre-wrap} .skipped{color:#888}</style>
</head><body><h3>llmpress WebGPU conformance (navigator.gpu)</h3><div id="log"></div><script type="module" src="/bundle.js"></script></body></html>`;

export interface BrowserRun {
  summary: any;
  consoleLines: string[];
  screenshot: string;
}

/** Serves the page, runs it in headless chromium, waits for the results (or the timeout). */
export async function runBrowserConformance(opts: {
  numRuns?: number;
  maxDim?: number;
  timeoutMs?: number;
  screenshot: string;
  onConsole?: (line: string) => void;
}): Promise<BrowserRun> {
  const exe = chromiumPath();
  if (!exe) throw new Error('chromium not found');
  const js = await bundleConformancePage();
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/bundle.js')) {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(js);
      return;
    }
    if (req.url === '/' || req.url?.startsWith('/?')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as any).port as number;
  const profile = mkdtempSync(join(tmpdir(), 'llmpress-chromium-'));
  const { chromium } = await import('playwright-core');
  const consoleLines: string[] = [];
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: exe,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1100, height: 900 },
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const log = (t: string) => {
      consoleLines.push(t);
      opts.onConsole?.(t);
    };
    page.on('console', (m) => log(m.text()));
    page.on('pageerror', (e) => log(`pageerror: ${e.message}`));
    await page.goto(`http://localhost:${port}/?numRuns=${opts.numRuns ?? 6}&maxDim=${opts.maxDim ?? 48}`);
    await page.waitForFunction(() => (window as any).__conformance !== undefined, undefined, { timeout: opts.timeoutMs ?? 240_000, polling: 500 });
    const summary = await page.evaluate(() => (window as any).__conformance);
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    return { summary, consoleLines, screenshot: opts.screenshot };
  } finally {
    await ctx.close().catch(() => {});
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
