/**
 * Browser page: runs the shared conformance suite on `navigator.gpu` (in headless Chromium that is
 * SwiftShader) and publishes the counts on `window.__conformance` for the driving test.
 */
import { describeBackendConformance } from '../../../tensor/src/testing/conformance.js';
import { createWebGpuBackend } from '../../src/index.js';
import { runAll, type TestResult } from './vitest-shim.js';

declare global {
  interface Window {
    __conformance?: unknown;
  }
}

const params = new URLSearchParams(location.search);
const numRuns = Number(params.get('numRuns') ?? 6);
const maxDim = Number(params.get('maxDim') ?? 48);
const out = document.getElementById('log')!;
const line = (text: string, cls = '') => {
  const d = document.createElement('div');
  d.textContent = text;
  d.className = cls;
  out.appendChild(d);
};

async function main() {
  let reason = '';
  const probe = await createWebGpuBackend({
    onUnavailable: (r) => {
      reason = r;
    },
  });
  if (!probe) {
    window.__conformance = { unavailable: reason };
    line(`WebGPU unavailable: ${reason}`, 'fail');
    return;
  }
  const adapter = probe.adapter,
    kernel = probe.gemmKernel,
    features = probe.capabilities.features;
  await probe.dispose();
  line(`adapter: ${adapter.vendor} / ${adapter.architecture} (software: ${adapter.software}); gemm kernel ${kernel}; features ${features.join(', ')}`);
  describeBackendConformance('webgpu (browser)', () => createWebGpuBackend(), {
    async: true,
    numRuns,
    maxDim,
    skip: {
      f64: 'WebGPU computes in f32 only (WGSL has no f64)',
      matmul: 'the tensor-API matmul is synchronous and WebGPU has only async routines (sync calls fall back to the reference backend)',
    },
  });
  const results = await runAll((r: TestResult) => {
    line(`${r.status === 'passed' ? '✓' : r.status === 'failed' ? '✗' : '-'} ${r.name} ${r.ms ? `(${r.ms.toFixed(0)} ms)` : ''}`, r.status);
    if (r.error) line(r.error, 'fail');
    console.log(`[conformance] ${r.status} ${r.name}${r.error ? `\n${r.error}` : ''}`);
  });
  const count = (s: string) => results.filter((r) => r.status === s).length;
  const summary = { adapter, kernel, passed: count('passed'), failed: count('failed'), skipped: count('skipped'), results };
  line(`passed ${summary.passed}, failed ${summary.failed}, skipped ${summary.skipped}`, summary.failed ? 'fail' : 'passed');
  window.__conformance = summary;
}
main().catch((e) => {
  window.__conformance = { error: String((e as Error)?.stack ?? e) };
  line(String(e), 'fail');
});
