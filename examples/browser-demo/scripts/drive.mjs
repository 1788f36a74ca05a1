/**
 * Drives the demo page in headless chromium with any checkpoint / method (how the README's extra
 * rows were measured). Serves ../dist (run `pnpm --filter @llmpress/browser-demo build` first), or
 * the page at $URL (e.g. the dev server). 4 eval windows, 8 calibration windows, 24 tokens.
 *
 *   node scripts/drive.mjs <method> <ratio% | bits> <tokenizer file | -> <screenshot name> <checkpoint files...>
 *   node scripts/drive.mjs gptq 4 - gguf-gptq ../../../shared/data/formats/gguf-stories260K/stories260K.gguf
 */
import { createServer } from 'node:http';
import { existsSync, readFileSync, statSync, mkdtempSync } from 'node:fs';
import { join, normalize, extname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
const [, , method, setting, tokFile, shotName, ...modelFiles] = process.argv;
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const text =
  process.env.TEXT ??
  join(process.env.LLMPRESS_DATA ?? fileURLToPath(new URL('../../../../shared/data/', import.meta.url)), 'tinystories', 'tinystories_val.txt');
const T = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const server = createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const p = normalize(join(dist, u.pathname === '/' ? '/index.html' : u.pathname));
  if (!existsSync(p) || !statSync(p).isFile()) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, {
    'content-type': T[extname(p)] ?? 'application/octet-stream',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
  });
  res.end(readFileSync(p));
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const port = server.address().port;
const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'prof-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless=new',
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    '--enable-unsafe-webgpu',
  ],
  viewport: { width: 1200, height: 1000 },
});
const page = ctx.pages()[0];
page.on('pageerror', (e) => console.log('pageerror', e.message));
await page.goto(process.env.URL ?? `http://localhost:${port}/`);
await page.setInputFiles('#model-file', modelFiles);
if (tokFile !== '-') await page.setInputFiles('#tokenizer-file', tokFile);
await page.setInputFiles('#text-file', text);
await page.waitForFunction(() => document.getElementById('text').value.length > 1000);
await page.selectOption('#method', method);
if (method.includes('svd')) await page.fill('#ratio', setting);
else await page.selectOption('#bits', setting);
await page.fill('#eval-windows', '4');
await page.fill('#calib-windows', '8');
await page.fill('#gen-tokens', '24');
await page.click('#run');
await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), undefined, { timeout: 150000 });
await page.screenshot({ path: join(tmpdir(), `${shotName}.png`), fullPage: true });
console.log(await page.evaluate(() => document.body.dataset.state), await page.textContent('#error'));
console.log(await page.textContent('#stage'), '|', await page.textContent('#backend-info'));
console.log(await page.textContent('#metrics'));
console.log('dense:', await page.textContent('#gen-dense'));
console.log('comp :', await page.textContent('#gen-compressed'));
await ctx.close();
server.close();
