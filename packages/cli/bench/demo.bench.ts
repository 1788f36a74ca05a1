/**
 * `pnpm bench demo [--windows 16] [--methods m,m,…] [--kinds reference,auto]`
 * Runs `llmpress demo` (the demo's methods on the real stories260K, evaluated on the standard protocol's
 * first N windows) once per backend kind — by default `--backend reference` then `--backend auto` — in
 * the same run, each as its own process with its own scratch output directory, and prints the wall
 * time of each and the ratio (reference / auto). Writes bench/results/demo.json. The machine is shared:
 * the load average is printed with the numbers.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '@llmpress/models/node';
import { flag } from '../../../scripts/backend-arg.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const windows = flag('windows') ?? '16';
const methods = flag('methods');
const kinds = (flag('kinds') ?? 'reference,auto').split(',');
const tsx = join(root, 'node_modules', '.bin', 'tsx'),
  bin = join(root, 'packages/cli/src/bin.ts');

interface Row {
  backend: string;
  seconds: number;
  described: string;
  rows: number;
  loadBefore: number[];
  loadAfter: number[];
}
const rows: Row[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'llmpress-bench-demo-'));
try {
  for (const kind of kinds) {
    const out = join(scratch, kind);
    const args = [bin, 'demo', '--backend', kind, '--windows', windows, '--out-dir', out, ...(methods ? ['--methods', methods] : [])];
    const loadBefore = loadavg().map((x) => +x.toFixed(2));
    process.stderr.write(`llmpress demo --backend ${kind} --windows ${windows}${methods ? ` --methods ${methods}` : ''} (load ${loadBefore.join(', ')}) ...\n`);
    const t0 = performance.now();
    const r = spawnSync(tsx, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 0) {
      process.stderr.write(r.stdout + r.stderr);
      throw new Error(`demo --backend ${kind} exited with ${r.status}`);
    }
    const text = r.stdout + r.stderr;
    const described = /backend [^\n]*routine fallback[^\n]*/.exec(text)?.[0] ?? `backend ${kind}`;
    let n = 0;
    try {
      n = (JSON.parse(readFileSync(join(out, 'demo.json'), 'utf8')).rows ?? []).length;
    } catch {
      /* demo.json layout unknown: count stays 0 */
    }
    rows.push({ backend: kind, seconds, described, rows: n, loadBefore, loadAfter: loadavg().map((x) => +x.toFixed(2)) });
    process.stderr.write(`  ${seconds.toFixed(1)} s — ${described}\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const ref = rows.find((r) => r.backend === 'reference'),
  auto = rows.find((r) => r.backend === 'auto');
const ratio = ref && auto ? ref.seconds / auto.seconds : null;
console.log(`\n| backend | demo wall time (s) | method rows | load average before → after | what ran |`);
console.log('| --- | ---: | ---: | --- | --- |');
for (const r of rows) console.log(`| ${r.backend} | ${r.seconds.toFixed(1)} | ${r.rows} | ${r.loadBefore[0]} → ${r.loadAfter[0]} | ${r.described} |`);
if (ratio !== null)
  console.log(
    `\n**--backend auto is ${ratio.toFixed(2)}× faster than --backend reference** (${windows} evaluation windows, ${methods ?? 'every method of the demo'}; target ≥ 3×).`,
  );
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(
  join(root, 'bench', 'results', 'demo.json'),
  new TextEncoder().encode(
    JSON.stringify({ date: new Date().toISOString(), windows: Number(windows), methods: methods ?? 'all', rows, ratio }, null, 2) + '\n',
  ),
);
