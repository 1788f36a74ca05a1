/**
 * docs/guide.md runs in CI: every ```bash and ```ts block is executed as written, in order, from the
 * repository root — bash blocks with `bash -e`, ts blocks through tsx (the workspace tsconfig maps
 * @llmpress/* to the sources). A block whose info string says `skip-ci: <reason>` is reported as
 * skipped with that reason. Outputs named by `--out` are removed first, so the CLI's refusal to
 * overwrite an existing output does not trip a second run.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const guide = readFileSync(join(root, 'docs', 'guide.md'), 'utf8');

interface Block {
  lang: string;
  skip?: string;
  code: string;
  section: string;
}
const blocks: Block[] = [];
{
  let section = '(top)';
  const lines = guide.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const h = /^#+\s+(.*)$/.exec(lines[i]!);
    if (h) {
      section = h[1]!;
      continue;
    }
    const open = /^```(\w+)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    const skip = /^skip-ci:\s*(.+)$/.exec(open[2]!.trim())?.[1];
    blocks.push({ lang: open[1]!, skip, code: body.join('\n'), section });
  }
}

/** Runs a command without blocking the worker (long runs would starve vitest's RPC otherwise). */
function run(cmd: string, args: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((done) => {
    const p = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d) => {
      output += d;
    });
    p.stderr.on('data', (d) => {
      output += d;
    });
    p.on('error', (e) => done({ status: null, output: output + String(e) }));
    p.on('close', (status) => done({ status, output }));
  });
}

describe('docs/guide.md: every snippet runs', () => {
  beforeAll(() => {
    for (const b of blocks) if (!b.skip) for (const m of b.code.matchAll(/--out\s+(\S+)/g)) rmSync(join(root, m[1]!), { recursive: true, force: true });
  });

  it('has runnable bash and ts blocks, and every skipped block says why', () => {
    expect(blocks.filter((b) => !b.skip && b.lang === 'bash').length).toBeGreaterThanOrEqual(3);
    expect(blocks.filter((b) => !b.skip && b.lang === 'ts').length).toBeGreaterThanOrEqual(1);
    for (const b of blocks) expect(['bash', 'ts']).toContain(b.lang);
  });

  blocks.forEach((b, k) => {
    const name = `${b.section}: ${b.lang} block ${k + 1}${b.skip ? ` — skipped: ${b.skip}` : ''}`;
    it.skipIf(Boolean(b.skip))(
      name,
      async () => {
        let r;
        if (b.lang === 'bash') {
          r = await run('bash', ['-e', '-c', b.code]);
        } else {
          const dir = join(root, '.tmp');
          mkdirSync(dir, { recursive: true });
          const file = join(dir, `guide-block-${k + 1}.ts`);
          writeFileSync(file, b.code);
          r = await run(join(root, 'node_modules', '.bin', 'tsx'), [file]);
          rmSync(file, { force: true });
        }
        if (r.status !== 0) console.error(`--- ${name}\n${r.output}`);
        expect(r.status).toBe(0);
      },
      1_000_000,
    );
  });
});
