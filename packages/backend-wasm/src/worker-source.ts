/**
 * The body every kernel worker runs (plain JS, as a string, so it needs no bundler or file URL).
 * The worker instantiates the compiled module on the shared memory, posts 'ready', then loops:
 * Atomics.wait on its control word, run the job whose parameters sit in the shared memory,
 * publish completion with Atomics.store + Atomics.notify. Control block at `base` (Int32):
 * [0] job sequence (written by the main thread), [1] completed sequence, [2] error flag;
 * parameters: Float64Array at base + 64: [op, argc, ...args]; op names a kernel export (NAMES), < 0 quits.
 */
export const WORKER_CORE = String.raw`
var NAMES = { 1: 'sgemm', 2: 'dgemm', 3: 'sgemv', 4: 'dgemv', 5: 'int4Gemv', 6: 'w4a8Gemv', 7: 'w4a4Gemm', 8: 'sgemmRows', 9: 'dgemmRows', 10: 'sattention' };
function llmpressWasmWorkerStart(data, post) {
  var inst = new WebAssembly.Instance(data.module, { env: { memory: data.memory } });
  var ex = inst.exports;
  var ctl = new Int32Array(data.memory.buffer, data.base, 16);
  var p = new Float64Array(data.memory.buffer, data.base + 64, 24);
  post('ready');
  var seq = 0;
  for (;;) {
    Atomics.wait(ctl, 0, seq);
    var s = Atomics.load(ctl, 0);
    if (s === seq) continue;
    seq = s;
    var op = p[0];
    if (op < 0) { Atomics.store(ctl, 1, seq); Atomics.notify(ctl, 1); return; }
    try {
      var argc = p[1], args = [];
      for (var i = 0; i < argc; i++) args.push(p[2 + i]);
      ex[NAMES[op]].apply(null, args);
      ctl[2] = 0;
    } catch (e) {
      ctl[2] = 1;
    }
    Atomics.store(ctl, 1, seq);
    Atomics.notify(ctl, 1);
  }
}
`;

/** Web Worker wrapper (browsers, Deno). */
export const WEB_WORKER_SOURCE =
  WORKER_CORE +
  `
self.onmessage = function (e) { self.onmessage = null; llmpressWasmWorkerStart(e.data, function (m) { self.postMessage(m); }); };
`;

/**
 * Node worker_threads wrapper: an ES module started from a data: URL (not `eval: true`, whose
 * CommonJS-or-ESM mode follows the parent's `--input-type`, and `require` is missing in ESM).
 */
export const NODE_WORKER_SOURCE =
  WORKER_CORE +
  `
import { parentPort } from 'node:worker_threads';
parentPort.once('message', function (d) { llmpressWasmWorkerStart(d, function (m) { parentPort.postMessage(m); }); });
`;
