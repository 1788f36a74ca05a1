/**
 * Issue 20 in the browser: `vite build` the demo, serve it cross-origin isolated (COOP/COEP), and in
 * headless Chromium (Debian's /usr/bin/chromium through playwright-core, `--enable-unsafe-webgpu`,
 * SwiftShader) run the demo's own compression worker: every method compresses stories260K on the
 * WASM backend and on the WebGPU synchronous facade (GPU thread = a nested worker; every GEMM forced
 * onto the GPU), perplexity within 1%, no fallbacks; then a device loss in the middle of an SVD-LLM
 * run finishes on WASM with a warning and the same perplexity. Small windows (software WebGPU is slow).
 */
import { describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataDir } from '@llmpress/tensor/testing';

// `vite build` runs asynchronously: execFileSync would block this vitest worker (and its RPC) for the whole build
// on a loaded machine ('Timeout calling "onTaskUpdate"', issue 21 item 9).
const execFileAsync = promisify(execFile);

const here = fileURLToPath(new URL('.', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
];
const data = dataDir();
const files = {
  model: join(data, 'stories260K', 'stories260K.bin'),
  tokenizer: join(data, 'stories260K', 'tok512.bin'),
  text: join(data, 'tinystories', 'tinystories_val.txt'),
};
const missing = Object.values(files).filter((f) => !existsSync(f));
const skipReason = !existsSync(CHROMIUM)
  ? `skipped: ${CHROMIUM} not found`
  : missing.length
    ? `skipped: data files missing (${missing.join(', ')})`
    : undefined;
const METHODS = ['svd-llm', 'svd-llm-update', 'gptq', 'rtn', 'q2n-gptq', 'saten', 'quad'];
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

function serve(dir: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = normalize(join(dir, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
    if (!p.startsWith(dir) || !existsSync(p) || !statSync(p).isFile()) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(p)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    res.end(readFileSync(p));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, port: (server.address() as any).port })));
}

describe('browser demo worker: every method on WebGPU (headless chromium, SwiftShader)', () => {
  if (skipReason) {
    it.skip(skipReason, () => {});
    return;
  }
  it('perplexity within 1% of WASM with zero fallbacks; a device loss mid-run falls back cleanly', async () => {
    const dist = mkdtempSync(join(tmpdir(), 'llmpress-demo-webgpu-'));
    await execFileAsync(
      process.execPath,
      [join(here, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn', '--outDir', dist, '--emptyOutDir'],
      {
        cwd: here,
        timeout: 120_000,
      },
    );
    const { server, port } = await serve(dist);
    const profile = mkdtempSync(join(tmpdir(), 'llmpress-demo-chromium-'));
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    const log: string[] = [];
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      page.on('console', (m) => log.push(m.text()));
      page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
      await page.goto(`http://localhost:${port}/`);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      const b64 = (f: string) => readFileSync(f).toString('base64');
      const payload = {
        model: b64(files.model),
        tokenizer: b64(files.tokenizer),
        text: readFileSync(files.text, 'utf8').slice(0, 400_000),
        methods: METHODS,
        calib: 2,
        evals: 2,
        len: 128,
      };
      const r: any = await page.evaluate(async (p) => {
        const bytes = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
        return (window as any).__llmpressMethodsCheck({
          files: [{ name: 'stories260K.bin', bytes: bytes(p.model) }],
          tokenizer: { name: 'tok512.bin', bytes: bytes(p.tokenizer) },
          text: p.text,
          methods: p.methods,
          calib: p.calib,
          evals: p.evals,
          len: p.len,
        });
      }, payload);
      console.log(JSON.stringify(r, null, 1));
      expect(r.unavailable, r.unavailable).toBeUndefined();
      expect(r.adapter.software).toBe(true); // SwiftShader
      expect(r.rows.map((x: any) => x.method)).toEqual(METHODS);
      for (const row of r.rows) {
        expect(Math.abs(row.pplWebgpu / row.pplWasm - 1), row.method).toBeLessThan(0.01);
        expect(row.gpu.gemm, row.method).toBeGreaterThan(100);
        expect(row.fallbacks, row.method).toEqual({});
      }
      // device loss in the middle of the run: warned once, finished on WASM, same result
      expect(r.loss.lost).toBe(true);
      expect(r.loss.gpu.gemm).toBeGreaterThanOrEqual(1);
      expect(r.loss.fallbacks['gemm:device-lost']).toBeGreaterThan(10);
      expect(r.loss.warnings.filter((w: string) => /WebGPU stopped/.test(w))).toHaveLength(1);
      expect(Math.abs(r.loss.pplWebgpu / r.loss.pplWasm - 1)).toBeLessThan(0.01);
    } finally {
      if (log.length) console.log(log.slice(-20).join('\n'));
      await ctx.close().catch(() => {});
      server.close();
      rmSync(profile, { recursive: true, force: true });
      rmSync(dist, { recursive: true, force: true });
    }
  }, 900_000);
});
