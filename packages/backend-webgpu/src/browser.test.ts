/**
 * The conformance suite in headless Chromium (WebGPU on SwiftShader), driven by playwright-core.
 * Skips with the reason when chromium is not installed.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromiumPath, runBrowserConformance } from './browser.node.js';

const exe = chromiumPath();
const outDir = fileURLToPath(new URL('../.test-output/', import.meta.url));

describe('backend conformance: webgpu (headless chromium)', () => {
  if (!exe) {
    it.skip("skipped: chromium not found (/usr/bin/chromium or $CHROMIUM_PATH); install Debian's chromium", () => {});
    return;
  }
  it('passes the shared conformance suite on navigator.gpu and reports its counts', async () => {
    mkdirSync(outDir, { recursive: true });
    const run = await runBrowserConformance({ numRuns: 12, maxDim: 64, timeoutMs: 200_000, screenshot: `${outDir}browser-conformance.png` });
    const s = run.summary;
    if (s.unavailable || s.error) throw new Error(`browser page: ${s.unavailable ?? s.error}\n${run.consoleLines.slice(-20).join('\n')}`);
    const failures = (s.results as any[]).filter((r) => r.status === 'failed').map((r) => `${r.name}: ${r.error}`);
    expect(failures, failures.join('\n')).toEqual([]);
    expect(s.failed).toBe(0);
    // f32: factory, gemm ×2, gemv, binary, unary, reduce = 7, integer routines 10 (5 shapes × 2), attention 1, errors 1 = 19 passing;
    // f64 and tensor-API matmul are skipped with reasons
    expect(s.passed).toBe(19);
    expect(s.skipped).toBe(2);
    expect(s.adapter.vendor.length + s.adapter.architecture.length).toBeGreaterThan(0);
  }, 240_000);
});
