#!/usr/bin/env node
// Publishing shape: build every package with tsup, `pnpm pack` it, install the tarballs into an
// empty temp project (workspace siblings come from their tarballs via overrides, everything else
// from the registry) and import each package from plain Node ESM; run the `llmpress` bin the way
// `npx llmpress` does; run the backend conformance suite from `@llmpress/tensor/testing` (with the
// vitest and fast-check the workspace uses) against the reference backend, as a third-party backend
// would. Then, when the `deno` runtime is installed (root devDependency), import the same built
// packages from Deno.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const root = resolve(new URL('..', import.meta.url).pathname);
const sh = (cmd, args, cwd = root) => {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}`);
  }
  return r.stdout;
};

const pkgs = readdirSync(join(root, 'packages'))
  .filter((d) => existsSync(join(root, 'packages', d, 'package.json')))
  .map((d) => ({ dir: join(root, 'packages', d), json: JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')) }))
  .filter((p) => !p.json.private);

console.log(`pack-test: building ${pkgs.length} packages`);
sh('pnpm', ['-r', '--filter', './packages/**', 'run', 'build']);
const tmp = mkdtempSync(join(tmpdir(), 'llmpress-pack-'));
const tarballs = {};
for (const p of pkgs) {
  const out = sh('pnpm', ['pack', '--pack-destination', tmp], p.dir).trim().split('\n').pop().trim();
  tarballs[p.json.name] = out.startsWith('/') ? out : join(tmp, out.split('/').pop());
}
const app = join(tmp, 'app');
sh('mkdir', ['-p', app]);
const deps = Object.fromEntries(Object.entries(tarballs).map(([n, t]) => [n, `file:${t}`]));
// the test runner a third-party backend would bring (same versions as the workspace's)
const rootVersion = (name) => JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
const devDeps = { vitest: rootVersion('vitest'), 'fast-check': rootVersion('fast-check') };
writeFileSync(
  join(app, 'package.json'),
  JSON.stringify({ name: 'pack-test-app', private: true, type: 'module', dependencies: deps, devDependencies: devDeps, overrides: deps }, null, 2),
);
sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);

let passed = 0,
  failed = 0;
for (const p of pkgs) {
  const name = p.json.name;
  const check = `const m = await import(${JSON.stringify(name)}); const keys = Object.keys(m); if (keys.length === 0) throw new Error('no exports'); console.log(${JSON.stringify(name)}, keys.length, 'exports');`;
  const r = spawnSync('node', ['--input-type=module', '-e', check], { cwd: app, encoding: 'utf8' });
  if (r.status === 0) {
    passed++;
    process.stdout.write(`  ok   node import ${r.stdout}`);
  } else {
    failed++;
    console.error(`  FAIL node import ${name}\n${r.stderr}`);
  }
}
// the CLI's bin, as `npx llmpress` runs it from the installed tarball (dist/, no sources)
if (tarballs['@llmpress/cli']) {
  const model = join(root, 'data', 'stories260K', 'stories260K.bin');
  const help = spawnSync('npx', ['--no-install', 'llmpress', '--help'], { cwd: app, encoding: 'utf8' });
  const insp = existsSync(model) ? spawnSync('npx', ['--no-install', 'llmpress', 'inspect', model], { cwd: app, encoding: 'utf8' }) : undefined;
  if (help.status === 0 && /usage: llmpress/.test(help.stdout) && (!insp || (insp.status === 0 && /260,032 parameters/.test(insp.stdout)))) {
    passed++;
    console.log(`  ok   npx llmpress --help${insp ? ' and npx llmpress inspect data/stories260K/stories260K.bin' : ''} (bin from the tarball)`);
  } else {
    failed++;
    console.error(`  FAIL npx llmpress\n${help.stdout}${help.stderr}${insp ? insp.stdout + insp.stderr : ''}`);
  }
}
// the backend conformance suite, imported from the tarball as @llmpress/tensor/testing
if (tarballs['@llmpress/tensor']) {
  writeFileSync(
    join(app, 'conformance.test.mjs'),
    [
      "import { describeBackendConformance } from '@llmpress/tensor/testing';",
      "import { referenceBackend } from '@llmpress/tensor';",
      "describeBackendConformance('reference backend from the packed tarball', () => referenceBackend, { numRuns: 5, maxDim: 40 });",
    ].join('\n') + '\n',
  );
  const r = spawnSync(join(app, 'node_modules', '.bin', 'vitest'), ['run', '--reporter=dot', 'conformance.test.mjs'], { cwd: app, encoding: 'utf8' });
  const summary = (r.stdout.match(/Tests\s+[^\n]*/) ?? ['(no summary)'])[0].replace(/\x1b\[[0-9;]*m/g, '');
  if (r.status === 0 && /passed/.test(summary)) {
    passed++;
    console.log(`  ok   @llmpress/tensor/testing conformance suite from the tarball: ${summary.trim()}`);
  } else {
    failed++;
    console.error(`  FAIL @llmpress/tensor/testing conformance suite\n${r.stdout}${r.stderr}`);
  }
}
const deno = join(root, 'node_modules', '.bin', 'deno');
if (existsSync(deno)) {
  for (const p of pkgs) {
    const entry = join(app, 'node_modules', ...p.json.name.split('/'), 'dist', 'index.js');
    const code = `const m = await import(${JSON.stringify('file://' + entry)}); if (!Object.keys(m).length) throw new Error('no exports'); console.log('deno', ${JSON.stringify(p.json.name)}, Object.keys(m).length, 'exports');`;
    const r = spawnSync(deno, ['eval', '--node-modules-dir=manual', code], { cwd: app, encoding: 'utf8', env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' } });
    if (r.status === 0) {
      passed++;
      process.stdout.write(`  ok   ${r.stdout}`);
    } else {
      failed++;
      console.error(`  FAIL deno import ${p.json.name}\n${r.stderr}`);
    }
  }
} else console.log('  skip deno imports: the deno runtime is not installed');
rmSync(tmp, { recursive: true, force: true });
console.log(`pack-test: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
