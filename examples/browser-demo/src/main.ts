/** The page: collects the dropped files, text and settings, runs the worker, renders what it sends back. */
import type { BackendInfo, MethodsCheckMessage, RunMessage, WorkerMessage, PageResult } from './protocol.js';
import { DEMO_METHODS, METHOD_LABELS, isLowRank, methodKnob, type DemoMethod } from './pipeline-meta.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const files: { model: File[]; tokenizer?: File; text?: File } = { model: [] };
let downloadUrl: string | undefined;

function describeFiles(): void {
  const parts = [...files.model.map((f) => `checkpoint: ${f.name} (${f.size.toLocaleString('en')} B)`)];
  if (files.tokenizer) parts.push(`tokenizer: ${files.tokenizer.name}`);
  if (files.text) parts.push(`text: ${files.text.name}`);
  $('files').textContent = parts.length ? parts.join(' · ') : 'no files yet';
  // Compress needs a tokenizer: a separate file, or one inside the checkpoint (a .gguf carries its own)
  const hasTokenizer = Boolean(files.tokenizer) || files.model.some((f) => f.name.toLowerCase().endsWith('.gguf'));
  $<HTMLButtonElement>('run').disabled = files.model.length === 0 || !hasTokenizer;
  $<HTMLButtonElement>('run').title =
    files.model.length === 0 ? 'pick a checkpoint first' : hasTokenizer ? '' : 'pick its tokenizer (tok*.bin or tokenizer.json) first';
}

/** Sorts files by what they look like: text → text, tok*.bin / tokenizer.json → tokenizer, the rest → checkpoint. */
function addFiles(list: Iterable<File>): void {
  for (const f of list) {
    const n = f.name.toLowerCase();
    if (n.endsWith('.txt')) files.text = f;
    else if (/^tok.*\.bin$/.test(n) || n === 'tokenizer.json' || n.endsWith('.tokenizer.bin')) files.tokenizer = f;
    else {
      files.model = files.model.filter((x) => x.name !== f.name && !sameKind(x, f));
      files.model.push(f);
    }
  }
  describeFiles();
}
const sameKind = (a: File, b: File) => !a.name.endsWith('.json') && !b.name.endsWith('.json');

$<HTMLInputElement>('model-file').addEventListener('change', (e) => {
  const l = (e.target as HTMLInputElement).files;
  if (l) {
    files.model = [];
    for (const f of l) {
      if (f.name.toLowerCase().endsWith('.json') && f.name.toLowerCase() !== 'config.json' && f.name.toLowerCase() !== 'tokenizer.json') continue;
      addFiles([f]);
    }
  }
});
$<HTMLInputElement>('tokenizer-file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  files.tokenizer = f;
  describeFiles();
});
$<HTMLInputElement>('text-file').addEventListener('change', async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  files.text = f;
  if (f) $<HTMLTextAreaElement>('text').value = await f.text();
  describeFiles();
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const l = e.dataTransfer?.files;
  if (!l) return;
  addFiles(l);
  if (files.text) $<HTMLTextAreaElement>('text').value = await files.text.text();
});

const methodSel = $<HTMLSelectElement>('method');
// every method the CLI offers (pipeline-meta.ts; pipeline.test.ts checks the list against the CLI's)
methodSel.replaceChildren(
  ...DEMO_METHODS.map((m) => {
    const o = document.createElement('option');
    o.value = m;
    o.textContent = METHOD_LABELS[m];
    return o;
  }),
);
methodSel.addEventListener('change', () => {
  const m = methodSel.value as DemoMethod;
  const low = isLowRank(m);
  $('ratio-label').hidden = !low;
  $('bits-label').hidden = low;
  $('ratio-what').textContent = methodKnob(m) === 'size' ? 'Size removed' : 'Params removed';
});

const fmt = (v: number, d = 4) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
const bytesStr = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

function showBackend(info: BackendInfo): void {
  const fb = Object.entries(info.fallbacks)
    .map(([k, v]) => `${k}×${v}`)
    .join(', ');
  $('backend-info').innerHTML = '';
  const lines = [`backend used: ${info.used} — ${info.detail}`, `WebGPU: ${info.webgpu}`];
  if (fb) lines.push(`routines that fell back to the reference backend: ${fb}`);
  for (const l of lines) {
    const d = document.createElement('div');
    d.textContent = l;
    $('backend-info').appendChild(d);
  }
  $('backend-info').dataset.used = info.used;
}

function showResult(r: PageResult, saved: Uint8Array): void {
  $('results').hidden = false;
  $('setting').textContent = `${r.label}, ${r.setting} · compress ${r.seconds.compress.toFixed(1)} s, total ${r.seconds.total.toFixed(1)} s`;
  $('dense-ppl').textContent = fmt(r.dense.ppl);
  $('comp-ppl').textContent = fmt(r.compressed.ppl);
  $('comp-kl').textContent = fmt(r.compressed.kl);
  $('comp-top1').textContent = `${(100 * r.compressed.top1).toFixed(1)}%`;
  $('dense-bytes').textContent = bytesStr(r.dense.linearBytes);
  $('comp-bytes').textContent = `${bytesStr(r.compressed.linearBytes)} (${(r.dense.linearBytes / r.compressed.linearBytes).toFixed(2)}× smaller)`;
  $('dense-bpw').textContent = r.dense.bitsPerWeight.toFixed(2);
  $('comp-bpw').textContent = r.compressed.bitsPerWeight.toFixed(2);
  $('windows').textContent =
    `${r.windows.eval} held-out evaluation windows × ${r.windows.len} tokens (${r.dense.tokens} scored tokens); ${r.windows.calibration} calibration windows starting at window ${r.windows.calibStart}.`;
  $('gen-dense').textContent = r.generations.dense;
  $('gen-compressed').textContent = r.generations.compressed;
  // the report is a full HTML document of our own making (escaped text + SVG); show its body here
  const doc = new DOMParser().parseFromString(r.reportHtml, 'text/html');
  doc.querySelectorAll('script').forEach((s) => s.remove());
  $('report').replaceChildren(...Array.from(doc.body.childNodes).map((n) => document.importNode(n, true)));
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([saved as BlobPart], { type: 'application/octet-stream' }));
  const a = $<HTMLAnchorElement>('download');
  a.href = downloadUrl;
  a.download = `${(files.model.find((f) => !f.name.endsWith('.json'))?.name ?? 'model').replace(/\.[^.]+$/, '')}-${r.label.toLowerCase()}.safetensors`;
  $('download-size').textContent = `(${bytesStr(saved.length)}; reload with loadCompressedModel)`;
}

function fail(message: string): void {
  const e = $('error');
  e.hidden = false;
  e.textContent = message;
  $('stage').textContent = 'failed';
  document.body.dataset.state = 'error';
}

$('run').addEventListener('click', async () => {
  const btn = $<HTMLButtonElement>('run');
  $('error').hidden = true;
  $('results').hidden = true;
  document.body.dataset.state = 'running';
  const text = $<HTMLTextAreaElement>('text').value;
  const method = methodSel.value as DemoMethod;
  if (!(DEMO_METHODS as readonly string[]).includes(method)) return fail(`unknown method ${method}`);
  const ratioPct = Number($<HTMLInputElement>('ratio').value);
  if (isLowRank(method) && !(ratioPct > 0 && ratioPct < 100)) return fail(`the ratio must be between 0 and 100 %, got ${ratioPct}`);
  if (!text.trim()) return fail('paste a text or pick a .txt file first (it gives the calibration and evaluation windows)');
  btn.disabled = true;
  const read = async (f: File) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) });
  const msg: RunMessage = {
    type: 'run',
    files: await Promise.all(files.model.map(read)),
    tokenizer: files.tokenizer ? await read(files.tokenizer) : undefined,
    text,
    method,
    ratio: ratioPct / 100,
    bits: Number($<HTMLSelectElement>('bits').value),
    evalWindows: Number($<HTMLInputElement>('eval-windows').value),
    calibWindows: Number($<HTMLInputElement>('calib-windows').value),
    genTokens: Number($<HTMLInputElement>('gen-tokens').value),
    prompt: $<HTMLInputElement>('prompt').value,
    backend: $<HTMLSelectElement>('backend').value as RunMessage['backend'],
  };
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const bar = $<HTMLProgressElement>('progress');
  $('stage').textContent = 'starting the worker…';
  worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
    const m = ev.data;
    if (m.type === 'progress') {
      bar.max = Math.max(1, m.total);
      bar.value = m.done;
      $('stage').textContent = `${m.stage}: ${m.done}/${m.total} · ${m.elapsed.toFixed(1)} s`;
    } else if (m.type === 'backend') showBackend(m.info);
    else if (m.type === 'loaded') $('stage').textContent = `loaded ${m.name} (${m.format}, ${m.params.toLocaleString('en')} linear params)`;
    else if (m.type === 'result') {
      showBackend(m.info);
      showResult(m.result, m.saved);
      bar.max = 1;
      bar.value = 1;
      $('stage').textContent = `done in ${m.result.seconds.total.toFixed(1)} s`;
      document.body.dataset.state = 'done';
      btn.disabled = false;
      worker.terminate();
    } else if (m.type === 'error') {
      fail(`${m.name}: ${m.message}`);
      btn.disabled = false;
      worker.terminate();
    }
  };
  worker.onerror = (e) => {
    fail(`worker error: ${e.message}`);
    btn.disabled = false;
    worker.terminate();
  };
  worker.postMessage(msg, [...msg.files.map((f) => f.bytes.buffer), ...(msg.tokenizer ? [msg.tokenizer.bytes.buffer] : [])] as Transferable[]);
});
describeFiles();

/**
 * Test hook (webgpu.e2e.test.ts): runs issue 20's methods check in the demo's own compression worker
 * (every method on WASM and on WebGPU, then a device loss mid-run) and resolves with its result.
 */
(window as any).__llmpressMethodsCheck = (msg: Omit<MethodsCheckMessage, 'type'>) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      const m = ev.data;
      if (m.type === 'methods-check-result') {
        worker.terminate();
        resolve(m);
      } else if (m.type === 'error') {
        worker.terminate();
        reject(new Error(`${m.name}: ${m.message}`));
      } else if (m.type === 'progress') console.log(`methods-check: ${m.stage} ${m.done}/${m.total}`);
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`worker error: ${e.message}`));
    };
    worker.postMessage({ type: 'methods-check', ...msg } satisfies MethodsCheckMessage);
  });
