/**
 * The GPU thread of the synchronous facade: owns the WebGPU device (through the async backend) and
 * serves one request at a time from the thread that runs the algorithm (see `sync-protocol.ts`).
 * Environment-agnostic: the Node entry (`gpu-thread.node.ts`) passes `parentPort` and the `webgpu`
 * package's GPU object; a browser worker passes `self` (and `navigator.gpu` is found by default).
 */
import { createWebGpuBackend, type WebGpuBackend } from './backend.js';
import {
  CTRL_BYTES,
  DEVICE_LOST,
  DONE,
  FAILED,
  LOST,
  OK,
  RESULT_BYTE,
  STATE,
  STATUS,
  writeText,
  type InitMessage,
  type InitReply,
  type Operand,
  type SyncRequest,
} from './sync-protocol.js';

/** Something messages arrive on and go out through: Node's `parentPort` or a worker's `self`. */
export interface GpuThreadScope {
  postMessage(message: unknown): void;
  on?(type: 'message', listener: (data: any) => void): unknown;
  addEventListener?(type: 'message', listener: (ev: any) => void): void;
}

/** Serves facade requests on this thread. `gpu` defaults to `navigator.gpu`. */
export function serveGpuThread(scope: GpuThreadScope, gpu?: GPU | Promise<GPU | null>): void {
  let backend: WebGpuBackend | null = null;
  let ctrl: SharedArrayBuffer | null = null;
  let i32: Int32Array;
  let arena: SharedArrayBuffer | null = null;
  let lost = false;
  const pinned = new Map<number, Float32Array>();
  // private (non-shared) copies of the operands: Dawn refuses views of shared memory in writeBuffer
  const scratch = new Map<string, Float32Array>();
  const priv = (slot: string, len: number): Float32Array => {
    let s = scratch.get(slot);
    if (!s || s.length < len) {
      s = new Float32Array(Math.max(len, Math.ceil((s?.length ?? 0) * 1.5)));
      scratch.set(slot, s);
    }
    return s.subarray(0, len);
  };
  const seg = (slot: string, o: { seg: number; len: number }, copyIn = true): Float32Array => {
    const p = priv(slot, o.len);
    if (copyIn) p.set(new Float32Array(arena!, o.seg, o.len));
    return p;
  };
  const operand = (slot: string, o: Operand): { array: Float32Array; pinned: boolean } => {
    if ('pin' in o) {
      const p = pinned.get(o.pin);
      if (!p) throw new Error(`pinned array ${o.pin} is not resident`);
      return { array: p, pinned: true };
    }
    return { array: seg(slot, o), pinned: false };
  };
  const back = (src: Float32Array, o: { seg: number; len: number }) => new Float32Array(arena!, o.seg, o.len).set(src.subarray(0, o.len));

  const finish = (status: number, text?: string) => {
    if (text !== undefined) writeText(ctrl!, text);
    Atomics.store(i32, STATUS, status);
    Atomics.store(i32, STATE, DONE);
    Atomics.notify(i32, STATE);
  };

  async function init(msg: InitMessage): Promise<void> {
    ctrl = msg.ctrl;
    if (ctrl.byteLength < CTRL_BYTES) throw new Error('control buffer too small');
    i32 = new Int32Array(ctrl);
    let reason = '';
    const g = gpu ? await gpu : undefined;
    if (gpu && !g) {
      scope.postMessage({ type: 'llmpress-gpu-unavailable', reason: 'the WebGPU entry point could not be loaded in the GPU thread' } satisfies InitReply);
      return;
    }
    backend = await createWebGpuBackend({
      gpu: g ?? undefined,
      gemmKernel: msg.options.gemmKernel,
      powerPreference: msg.options.powerPreference,
      onDeviceLost: 'reject',
      onUnavailable: (r) => {
        reason = r;
      },
      onLost: () => {
        lost = true;
        Atomics.store(i32, LOST, 1);
        Atomics.notify(i32, LOST);
      },
    });
    if (!backend) {
      scope.postMessage({ type: 'llmpress-gpu-unavailable', reason } satisfies InitReply);
      return;
    }
    let df32: Extract<InitReply, { type: 'llmpress-gpu-ready' }>['df32'];
    try {
      df32 = await backend.df32Check();
    } catch {
      df32 = undefined;
    }
    scope.postMessage({
      type: 'llmpress-gpu-ready',
      df32,
      adapter: { ...backend.adapter },
      gemmKernel: backend.gemmKernel,
      limits: { ...backend.limits },
      features: [...backend.deviceFeatures],
    } satisfies InitReply);
  }

  async function serve(r: SyncRequest): Promise<void> {
    if (r.arena) arena = r.arena;
    const be = backend!;
    switch (r.op) {
      case 'gemm': {
        const a = operand('a', r.a),
          b = operand('b', r.b);
        const c = seg('c', r.c, r.beta !== 0);
        await be.gemmAsync({
          transA: r.transA,
          transB: r.transB,
          m: r.m,
          n: r.n,
          k: r.k,
          alpha: r.alpha,
          beta: r.beta,
          a: a.array,
          aOffset: r.aOffset,
          lda: r.lda,
          b: b.array,
          bOffset: r.bOffset,
          ldb: r.ldb,
          c,
          cOffset: 0,
          ldc: r.ldc,
        });
        back(c, r.c);
        return;
      }
      case 'gemmDf32': {
        const out = await be.gemmDf32Async({
          transA: r.transA,
          transB: r.transB,
          m: r.m,
          n: r.n,
          k: r.k,
          a: seg('a', r.a),
          lda: r.lda,
          b: seg('b', r.b),
          ldb: r.ldb,
        });
        back(out, r.c);
        return;
      }
      case 'gemv': {
        const a = operand('a', r.a),
          x = seg('x', r.x),
          y = seg('y', r.y, r.beta !== 0);
        await be.gemvAsync({
          trans: r.trans,
          m: r.m,
          n: r.n,
          alpha: r.alpha,
          beta: r.beta,
          a: a.array,
          aOffset: r.aOffset,
          lda: r.lda,
          x,
          xOffset: 0,
          y,
          yOffset: 0,
        });
        back(y, r.y);
        return;
      }
      case 'binary': {
        const a = seg('a', r.a),
          b = typeof r.b === 'number' ? r.b : seg('b', r.b),
          out = seg('c', r.out, false);
        await be.binaryAsync(r.kind as any, a, b, out, r.n);
        back(out, r.out);
        return;
      }
      case 'unary': {
        const a = seg('a', r.a),
          out = seg('c', r.out, false);
        await be.unaryAsync(r.kind as any, a, out, r.n);
        back(out, r.out);
        return;
      }
      case 'reduce': {
        const v = await be.reduceAsync(r.kind as any, seg('a', r.a), 0, r.n);
        new Float64Array(ctrl!, RESULT_BYTE, 1)[0] = v;
        return;
      }
      case 'int4Gemv': {
        if (!('byte' in r.w)) throw new Error('int4Gemv: pinned packed weights are not supported');
        const w = new Uint8Array(r.w.bytes);
        w.set(new Uint8Array(arena!, r.w.byte, r.w.bytes));
        const scales = operand('b', r.scales).array,
          x = seg('x', r.x),
          y = seg('y', r.y, r.beta !== 0);
        await be.int4GemvAsync({ m: r.m, n: r.n, groupSize: r.groupSize, w, scales, x, y, alpha: r.alpha, beta: r.beta });
        back(y, r.y);
        return;
      }
      case 'pin': {
        const copy = new Float32Array(new Float32Array(arena!, r.seg, r.len));
        const old = pinned.get(r.id);
        if (old) be.unpin(old);
        pinned.set(r.id, copy);
        be.pin(copy);
        return;
      }
      case 'unpin': {
        const old = pinned.get(r.id);
        if (old) {
          be.unpin(old);
          pinned.delete(r.id);
        }
        return;
      }
      case 'stats': {
        writeText(ctrl!, JSON.stringify({ ...be.stats(), pinned: pinned.size, lost }));
        return;
      }
      case 'lose': {
        be.simulateDeviceLoss();
        return;
      }
      case 'dispose': {
        await be.dispose();
        backend = null;
        return;
      }
    }
  }

  let chain: Promise<void> = Promise.resolve();
  const onMessage = (data: any) => {
    if (data?.type === 'llmpress-gpu-init') {
      chain = chain
        .then(() => init(data as InitMessage))
        .catch((e) => scope.postMessage({ type: 'llmpress-gpu-unavailable', reason: String((e as Error)?.message ?? e) } satisfies InitReply));
      return;
    }
    const r = data as SyncRequest;
    if (typeof r?.op !== 'string') return;
    // fire-and-forget unpins (from the facade's FinalizationRegistry) do not answer
    const silent = r.op === 'unpin' && (data as any).silent === true;
    chain = chain.then(async () => {
      if (!backend) {
        if (!silent) finish(lost ? DEVICE_LOST : FAILED, 'the GPU thread has no device');
        return;
      }
      try {
        await serve(r);
        if (!silent) finish(OK);
      } catch (e) {
        const name = (e as any)?.code === 'E_DEVICE_LOST' || lost ? DEVICE_LOST : FAILED;
        if (name === DEVICE_LOST) {
          lost = true;
          Atomics.store(i32, LOST, 1);
        }
        if (!silent) finish(name, String((e as Error)?.message ?? e));
      }
    });
  };
  if (typeof scope.on === 'function') scope.on('message', onMessage);
  else scope.addEventListener!('message', (ev: MessageEvent) => onMessage(ev.data));
}
