/**
 * The WASM backend's worker pool: kernel workers on the shared linear memory (started once), jobs
 * posted through a control block per worker and waited for with Atomics (with a deadline, so a dead
 * worker cannot hang the caller), and `runSplit`, which splits one kernel call over the threads.
 */
import { UnsupportedError } from '@llmpress/tensor';
import type { Kernels, Platform, WorkerHandle } from './core.js';
import type { LinearAllocator } from './allocator.js';

/** Kernel exports a worker can run, by job code (the worker source maps the codes back to names). */
export const OPS: Record<string, number> = {
  sgemm: 1,
  dgemm: 2,
  sgemv: 3,
  dgemv: 4,
  int4Gemv: 5,
  w4a8Gemv: 6,
  w4a4Gemm: 7,
  sgemmRows: 8,
  dgemmRows: 9,
  sattention: 10,
};

export interface WorkerPool {
  /** Threads that run kernels (the calling thread counts as one). */
  readonly threads: number;
  /** Why fewer threads run than were asked for (undefined when all started). */
  readonly note: string | undefined;
  runSplit(name: string, total: number, unit: number, work: number, mk: (lo: number, hi: number) => number[]): void;
  runParallel(op: number, jobs: number[][], local: (args: number[]) => void, work: number): void;
  /** Counts a call that ran on one thread. */
  single(): void;
  stats(): { singleThreadCalls: number; parallelCalls: number };
  dispose(): void;
}

/**
 * Starts `wanted − 1` workers (the caller is the first thread). On any failure it falls back to one
 * thread (the backend still works) and says why in `note`.
 */
export async function startWorkerPool(o: {
  fn: string;
  platform: Platform;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  alloc: LinearAllocator;
  buf(): ArrayBufferLike;
  K: Kernels;
  wanted: number;
  note: string | undefined;
  minParallelWork: number;
}): Promise<WorkerPool> {
  const { fn, platform, module, memory, alloc, buf, K, minParallelWork } = o;
  let nThreads = o.wanted,
    threadsNote = o.note;
  const workers: { handle: WorkerHandle; base: number; seq: number }[] = [];
  if (nThreads > 1) {
    try {
      for (let t = 1; t < nThreads; t++) {
        const handle = platform.spawnWorker!();
        if (!handle) throw new UnsupportedError(fn, 'worker could not be started');
        const base = alloc.alloc(256, fn);
        new Int32Array(buf(), base, 16).fill(0);
        const ready = handle.firstMessage();
        handle.postMessage({ module, memory, base });
        workers.push({ handle, base, seq: 0 });
        const msg = await ready;
        if (msg !== 'ready') throw new UnsupportedError(fn, `worker ${t} failed to start: ${String(msg)}`);
      }
    } catch (e) {
      // fall back to one thread rather than failing: the caller still gets a working backend
      for (const w of workers) w.handle.terminate();
      workers.length = 0;
      threadsNote = `worker threads failed to start (${String((e as Error)?.message ?? e)}); running single-threaded`;
      nThreads = 1;
    }
  }
  // ---- dispatching jobs to workers
  // A worker that died (out of memory, killed) would leave its job unfinished: never wait forever.
  // The deadline is generous (30 s plus 10 ns per unit of work) and only guards against hangs.
  const waitDone = (w: { base: number; seq: number }, deadline: number) => {
    const ctl = new Int32Array(buf(), w.base, 16);
    for (let cur = Atomics.load(ctl, 1); cur !== w.seq; cur = Atomics.load(ctl, 1)) {
      if (platform.canBlock) Atomics.wait(ctl, 1, cur, 200);
      if (performance.now() > deadline)
        throw new UnsupportedError(
          'wasm worker',
          `a worker thread did not finish its job (sequence ${w.seq}) before the deadline; it may have died — dispose this backend`,
        );
    }
    if (ctl[2] !== 0) throw new UnsupportedError('wasm worker', 'a kernel trapped in a worker thread');
  };
  const post = (w: { base: number; seq: number }, params: number[]) => {
    const b = buf();
    new Float64Array(b, w.base + 64, 24).set([params[0]!, params.length - 1, ...params.slice(1)]);
    const ctl = new Int32Array(b, w.base, 16);
    w.seq = (w.seq + 1) | 0;
    Atomics.store(ctl, 0, w.seq);
    Atomics.notify(ctl, 0);
  };
  /**
   * Splits [0, total) into per-thread ranges (multiples of `unit`) when `work` is large enough and
   * runs kernel `name` with the arguments `mk(lo, hi)` on each: the first range here, the rest on workers.
   */
  const runSplit = (name: string, total: number, unit: number, work: number, mk: (lo: number, hi: number) => number[]) => {
    const T = work >= minParallelWork ? nThreads : 1;
    const parts = Math.min(T, Math.max(1, Math.floor(total / unit)));
    const kern = K[name] as (...a: number[]) => void;
    if (parts <= 1) {
      singleThreadCalls++;
      kern(...mk(0, total));
      return;
    }
    const chunk = Math.ceil(total / parts / unit) * unit;
    const jobs: number[][] = [];
    for (let t = 0; t < parts; t++) {
      const lo = t * chunk,
        hi = Math.min(total, lo + chunk);
      if (lo < hi) jobs.push(mk(lo, hi));
    }
    runParallel(OPS[name]!, jobs, (j) => kern(...j), work);
  };
  /** Runs jobs[0] here and jobs[1..] on workers, waiting for all. */
  let parallelCalls = 0,
    singleThreadCalls = 0;
  const runParallel = (op: number, jobs: number[][], local: (args: number[]) => void, work: number) => {
    parallelCalls++;
    for (let t = 1; t < jobs.length; t++) post(workers[t - 1]!, [op, ...jobs[t]!]);
    let err: unknown;
    try {
      local(jobs[0]!);
    } catch (e) {
      err = e;
    }
    const deadline = performance.now() + 30_000 + work * 1e-5;
    for (let t = 1; t < jobs.length; t++) waitDone(workers[t - 1]!, deadline);
    if (err) throw err;
  };

  return {
    threads: nThreads,
    note: threadsNote,
    runSplit,
    runParallel,
    single: () => {
      singleThreadCalls++;
    },
    stats: () => ({ singleThreadCalls, parallelCalls }),
    dispose() {
      for (const w of workers) {
        try {
          post(w, [-1]);
        } catch {
          /* ignore */
        }
        w.handle.terminate();
      }
      workers.length = 0;
    },
  };
}
