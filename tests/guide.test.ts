/**
 * docs/guide.md runs in CI: every ```bash and ```ts block is executed as written, in order, from the
 * repository root — bash blocks with `bash -e`, ts blocks through tsx (the workspace tsconfig maps
 * @llmpress/* to the sources). A block whose info string says `skip-ci: <reason>` is reported as
 * skipped with that reason. Outputs named by `--out` are removed first, so the CLI's refusal to
 * overwrite an existing output does not trip a second run.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const guide = readFileSync(join(root, 'docs', 'guide.md'), 'utf8');

interface Block { lang: string; skip?: string; code: string; section: string }
const blocks: Block[] = [];
{
  let section = '(top)';
  const lines = guide.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const h = /^#+\s+(.*)$/.exec(lines[i]!);
    if (h) { section = h[1]!; continue; }
    const open = /^```(\w+)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    const skip = /^skip-ci:\s*(.+)$/.exec(open[2]!.trim())?.[1];
    blocks.push({ lang: open[1]!, skip, code: body.join('\n'), section });
  }
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
    it.skipIf(Boolean(b.skip))(name, () => {
      let r;
      if (b.lang === 'bash') {
        r = spawnSync('bash', ['-e', '-c', b.code], { cwd: root, encoding: 'utf8', timeout: 900_000 });
      } else {
        const dir = join(root, '.tmp');
        mkdirSync(dir, { recursive: true });
        const file = join(dir, `guide-block-${k + 1}.ts`);
        writeFileSync(file, b.code);
        r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [file], { cwd: root, encoding: 'utf8', timeout: 900_000 });
        rmSync(file, { force: true });
      }
      if (r.status !== 0) console.error(`--- ${name}\n${r.stdout}\n${r.stderr}`);
      expect(r.status).toBe(0);
    }, 1_000_000);
  });
});
