/**
 * End to end: `vite build` the demo, serve dist on localhost (with COOP/COEP), drive headless
 * Chromium (playwright-core, Debian's /usr/bin/chromium) through the whole flow on the real model:
 * upload stories260K.bin + tok512.bin + the TinyStories text, pick SVD-LLM at 20 %, compress, wait,
 * screenshot, and check what the page shows. Skips with the reason when chromium or the data is absent.
 */
import { describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
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
  ? `skipped: ${CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)`
  : missing.length
    ? `skipped: data files missing (${missing.join(', ')}); set LLMPRESS_DATA`
    : undefined;

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

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

describe('browser demo (vite build + headless chromium)', () => {
  if (skipReason) {
    it.skip(skipReason, () => {});
    return;
  }

  it('compresses stories260K with SVD-LLM 20% in the page and shows metrics, generations and the report', async () => {
    await execFileAsync(process.execPath, [join(here, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], {
      cwd: here,
      timeout: 60_000,
    });
    const dist = resolve(here, 'dist');
    expect(existsSync(join(dist, 'index.html'))).toBe(true);
    // the page must not embed the shared data
    const built = (readdirSync(dist, { recursive: true }) as string[]).join('\n');
    expect(built).not.toMatch(/stories260K|tok512|tinystories/);

    const { server, port } = await serve(dist);
    const profile = mkdtempSync(join(tmpdir(), 'llmpress-demo-chromium-'));
    const shots = mkdtempSync(join(tmpdir(), 'llmpress-demo-shot-'));
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1200, height: 1000 },
    });
    const log: string[] = [];
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      page.on('console', (m) => log.push(m.text()));
      page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
      const failed: string[] = [];
      page.on('response', (r) => {
        if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
      });
      // offline: anything but our own server is refused
      await page.route(
        (u) => !u.href.startsWith(`http://localhost:${port}/`) && !u.href.startsWith('blob:') && !u.href.startsWith('data:'),
        (r) => {
          log.push(`blocked ${r.request().url()}`);
          return r.abort();
        },
      );
      await page.goto(`http://localhost:${port}/`);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      await page.setInputFiles('#model-file', files.model);
      await page.setInputFiles('#text-file', files.text);
      await page.waitForFunction(() => (document.getElementById('text') as HTMLTextAreaElement).value.length > 100_000);
      // without the tokenizer Compress stays disabled and says why (the typed error is tested in pipeline.test.ts)
      await page.fill('#eval-windows', '4');
      expect(await page.isDisabled('#run')).toBe(true);
      expect(await page.getAttribute('#run', 'title')).toMatch(/tokenizer/);
      await page.setInputFiles('#tokenizer-file', files.tokenizer);
      expect(await page.isDisabled('#run')).toBe(false);
      // every method the CLI offers is in the list
      expect((await page.$$eval('#method option', (os) => os.map((o) => (o as HTMLOptionElement).value))).length).toBe(13);
      await page.selectOption('#method', 'svd-llm');
      await page.fill('#ratio', '20');
      await page.fill('#eval-windows', '4');
      await page.fill('#calib-windows', '8');
      await page.fill('#gen-tokens', '32');
      // record every progress line the page shows while it works
      await page.evaluate(() => {
        const seen: string[] = ((window as any).__stages = []);
        new MutationObserver(() =>
          seen.push(
            `${document.getElementById('stage')!.textContent} @${(document.getElementById('progress') as HTMLProgressElement).value}/${(document.getElementById('progress') as HTMLProgressElement).max}`,
          ),
        ).observe(document.getElementById('stage')!, { childList: true, characterData: true, subtree: true });
      });
      const tClick = Date.now();
      await page.click('#run');
      await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', undefined, {
        timeout: 75_000,
        polling: 250,
      });
      const shot = join(shots, 'browser-demo.png');
      await page.screenshot({ path: shot, fullPage: true });
      process.stderr.write(`browser-demo screenshot: ${shot} (page work ${((Date.now() - tClick) / 1000).toFixed(1)} s)\n`);
      const state = await page.evaluate(() => document.body.dataset.state);
      if (state !== 'done') throw new Error(`page ended in '${state}': ${await page.textContent('#error')}\n${log.slice(-20).join('\n')}`);

      const num = async (sel: string) => Number(await page.textContent(sel));
      const densePpl = await num('#dense-ppl'),
        compPpl = await num('#comp-ppl');
      expect(Number.isFinite(densePpl) && densePpl > 1).toBe(true);
      expect(Number.isFinite(compPpl)).toBe(true);
      expect(compPpl).toBeGreaterThan(densePpl);
      expect(await num('#comp-kl')).toBeGreaterThan(0);
      const gens = [await page.textContent('#gen-dense'), await page.textContent('#gen-compressed')];
      for (const g of gens) expect(g!.startsWith('Once upon a time') && g!.length > 'Once upon a time'.length + 10).toBe(true);
      expect(await page.locator('#report svg').count()).toBeGreaterThan(0);
      const stages: string[] = await page.evaluate(() => (window as any).__stages);
      for (const s of [
        'tokenize',
        'dense evaluation',
        'svd-llm: calibrate blocks.',
        'svd-llm: compress blocks.',
        'compressed evaluation',
        'generation',
        'done in',
      ]) {
        // the driver's events: calibration per group, then each layer
        expect(
          stages.some((x) => x.startsWith(s)),
          `progress never showed '${s}': ${stages.slice(0, 8).join(' | ')}`,
        ).toBe(true);
      }
      expect(await page.textContent('#report')).toContain('SVD-LLM');
      const backend = await page.textContent('#backend-info');
      // auto = WebGPU (synchronous facade: large GEMMs on the GPU, the rest on WASM) where the page has it, else WASM
      expect(backend).toMatch(/backend used: (webgpu — WebGPU .* through the synchronous facade.* calls on the GPU .* 0 fallbacks|wasm|reference)/);
      // WebGPU computes the report's per-layer errors when the browser has it (SwiftShader here); CI's chromium may not
      expect(backend).toMatch(
        /WebGPU: (unavailable|available .* used for the report's per-layer errors \(35 layers, max relative difference to CPU f64 [0-9.e+-]+\))/,
      );
      expect(await page.textContent('#windows')).toMatch(/^4 held-out evaluation windows × 256 tokens .* 8 calibration windows starting at window 200/);
      // the download link holds a reloadable llmpress safetensors file
      const href = await page.getAttribute('#download', 'href');
      expect(href).toMatch(/^blob:/);
      const head = await page.evaluate(async (u) => {
        const b = new Uint8Array(await (await fetch(u!)).arrayBuffer());
        return { size: b.length, header: new TextDecoder().decode(b.subarray(8, 8 + 4000)) };
      }, href);
      expect(head.header).toContain('llmpress-model/1');
      expect(head.size).toBeGreaterThan(100_000);
      expect(log.filter((l) => l.startsWith('blocked') || l.startsWith('pageerror'))).toEqual([]);
      expect(failed).toEqual([]); // no 404s (favicon included)
    } finally {
      await ctx.close().catch(() => {});
      server.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 150_000);
});
