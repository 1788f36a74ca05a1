/**
 * Buffers in, passes submitted, results read back: uploads (pooled temps or pinned resident copies),
 * uniforms, one command encoder per call with validation / out-of-memory error scopes, staging
 * readback, and the timed submissions of `timeGemm` / `timeGemv`.
 */
import { ArgumentError, DTypeError, type FloatArray } from '@llmpress/tensor';
import { WebGpuError } from './errors.js';
import { BufferPool } from './pool.js';
import type { GpuDevice } from './device.js';

// GPUBufferUsage / GPUMapMode values (spelled out: Node has no such globals unless installed).
export const U = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ = 0x1;
export const STORAGE_IN = U.STORAGE | U.COPY_DST;
export const STORAGE_OUT = U.STORAGE | U.COPY_SRC | U.COPY_DST;

export interface Binding {
  buffer: GPUBuffer;
  size: number;
}
export interface Pass {
  pipeline: GPUComputePipeline;
  bindings: Binding[];
  groups: readonly [number, number, number];
}

export interface KernelTiming {
  /** Median GPU time of one kernel run in ms (timestamp queries) or wall time per run when unavailable. */
  ms: number;
  method: 'timestamp-query' | 'wall-clock';
  runs: number;
}

export class Submitter {
  readonly pool: BufferPool;
  private readonly pinned = new WeakMap<FloatArray, GPUBuffer>();
  private readonly pinnedBuffers = new Set<GPUBuffer>();

  constructor(private readonly gpu: GpuDevice) {
    this.pool = new BufferPool(gpu.device);
  }

  pin(array: Float32Array): void {
    const fn = 'WebGpuBackend.pin';
    const gpu = this.gpu;
    gpu.checkUsable(fn);
    if (!(array instanceof Float32Array))
      throw new DTypeError(
        fn,
        `argument 'array' must be a Float32Array, got ${array === null ? 'null' : typeof array === 'object' ? (array as object).constructor?.name : typeof array}`,
      );
    if (!gpu.fits(array.length * 4))
      throw new ArgumentError(fn, 'array', array, `must fit one storage binding (${gpu.limits.maxStorageBufferBindingSize} bytes)`);
    this.unpin(array);
    const buf = gpu.device.createBuffer({ size: Math.max(4, array.length * 4), usage: STORAGE_IN, label: 'llmpress-pinned' });
    if (array.length) gpu.device.queue.writeBuffer(buf, 0, array as Float32Array<ArrayBuffer>, 0, array.length);
    gpu.counters.uploadedBytes += array.length * 4;
    this.pinned.set(array, buf);
    this.pinnedBuffers.add(buf);
  }

  unpin(array: Float32Array): void {
    const buf = this.pinned.get(array);
    if (!buf) return;
    this.pinned.delete(array);
    this.pinnedBuffers.delete(buf);
    try {
      buf.destroy();
    } catch {
      /* device gone */
    }
  }

  /** A storage binding for `count` elements of `data` from `offset`: the pinned copy, or a fresh upload (a temp). */
  operand(data: Float32Array, offset: number, count: number): { buffer: GPUBuffer; size: number; off: number; temp: GPUBuffer | null } {
    const res = this.pinned.get(data);
    if (res) return { buffer: res, size: Math.max(4, data.length * 4), off: offset, temp: null };
    const buf = this.upload(data, offset, count);
    return { buffer: buf, size: count * 4, off: 0, temp: buf };
  }

  upload(data: Float32Array, offset: number, count: number): GPUBuffer {
    const buf = this.pool.acquire(Math.max(4, count * 4), STORAGE_IN, 'llmpress-in');
    if (count > 0) this.gpu.device.queue.writeBuffer(buf, 0, data as Float32Array<ArrayBuffer>, offset, count);
    this.gpu.counters.uploadedBytes += count * 4;
    return buf;
  }

  uploadBytes(data: Uint8Array, count: number): GPUBuffer {
    const padded = Math.max(4, Math.ceil(count / 4) * 4);
    const buf = this.pool.acquire(padded, STORAGE_IN, 'llmpress-in-u8');
    let src = data.subarray(0, count);
    if (padded !== count || src.byteOffset % 4 !== 0) {
      const t = new Uint8Array(padded);
      t.set(src);
      src = t;
    }
    this.gpu.device.queue.writeBuffer(buf, 0, src as Uint8Array<ArrayBuffer>, 0, padded);
    this.gpu.counters.uploadedBytes += padded;
    return buf;
  }

  uniform(values: readonly ['u32' | 'f32', number][], bytes: number): GPUBuffer {
    const ab = new ArrayBuffer(bytes);
    const u = new Uint32Array(ab),
      f = new Float32Array(ab);
    values.forEach(([t, v], i) => {
      if (t === 'u32') u[i] = v;
      else f[i] = v;
    });
    const buf = this.pool.acquire(bytes, U.UNIFORM | U.COPY_DST, 'llmpress-uniform');
    this.gpu.device.queue.writeBuffer(buf, 0, ab);
    return buf;
  }

  /** An output storage buffer from the pool. */
  output(bytes: number, label = 'llmpress-out'): GPUBuffer {
    return this.pool.acquire(bytes, STORAGE_OUT, label);
  }

  /**
   * Encodes the passes, copies `read` into a staging buffer, submits, waits for the readback and
   * returns a copy of it. Validation and out-of-memory errors of the whole submission are caught
   * with error scopes; every temporary buffer goes back to the pool (or is destroyed on error).
   */
  async run(fn: string, passes: Pass[], temps: GPUBuffer[], read: Binding): Promise<Float32Array> {
    return new Float32Array((await this.runMulti(fn, passes, temps, [read]))[0]!);
  }

  async runMulti(fn: string, passes: Pass[], temps: GPUBuffer[], reads: Binding[]): Promise<ArrayBuffer[]> {
    const gpu = this.gpu,
      device = gpu.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const stagings = reads.map((r) => this.pool.acquire(r.size, U.MAP_READ | U.COPY_DST, 'llmpress-staging'));
    const enc = device.createCommandEncoder({ label: fn });
    for (const p of passes) {
      const pass = enc.beginComputePass({ label: fn });
      this.encodePass(pass, p);
      pass.end();
      gpu.counters.dispatches++;
    }
    reads.forEach((r, i) => enc.copyBufferToBuffer(r.buffer, 0, stagings[i]!, 0, r.size));
    device.queue.submit([enc.finish()]);
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    let ok = false;
    try {
      const [v, o] = await gpu.guard(Promise.all([validation, oom]));
      if (v) throw new WebGpuError(fn, 'validation', v.message);
      if (o) throw new WebGpuError(fn, 'out-of-memory', o.message);
      await gpu.guard(Promise.all(stagings.map((st, i) => st.mapAsync(MAP_READ, 0, reads[i]!.size))));
      const out = stagings.map((st, i) => {
        const copy = st.getMappedRange(0, reads[i]!.size).slice(0);
        st.unmap();
        gpu.counters.downloadedBytes += reads[i]!.size;
        return copy;
      });
      ok = true;
      return out;
    } finally {
      for (const b of [...temps, ...stagings]) {
        if (ok) this.pool.release(b);
        else {
          try {
            this.pool.discard(b);
          } catch {
            /* device gone */
          }
        }
      }
    }
  }

  encodePass(pass: GPUComputePassEncoder, p: Pass): void {
    const bg = this.gpu.device.createBindGroup({
      layout: p.pipeline.getBindGroupLayout(0),
      entries: p.bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buffer, offset: 0, size: Math.max(4, Math.ceil(b.size / 4) * 4) } })),
    });
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(p.groups[0], p.groups[1], p.groups[2]);
  }

  /** Uniform random f32 data in [-1, 1) uploaded to a pooled buffer (for timing). */
  randomBuffer(count: number, seed: number): GPUBuffer {
    const data = new Float32Array(count);
    let s = seed >>> 0 || 1;
    for (let i = 0; i < count; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = (s / 4294967296) * 2 - 1;
    }
    return this.upload(data, 0, count);
  }

  /** Median time of `runs` submissions of `passes` (timestamp queries when the device has them, else wall clock). */
  async timePasses(fn: string, passes: Pass[], temps: GPUBuffer[], runs: number): Promise<KernelTiming> {
    const gpu = this.gpu,
      device = gpu.device;
    const ts = gpu.deviceFeatures.includes('timestamp-query');
    // warm-up (compiles lazily on some drivers)
    {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (const p of passes.slice(0, 1)) this.encodePass(pass, p);
      pass.end();
      device.queue.submit([enc.finish()]);
      await gpu.guard(device.queue.onSubmittedWorkDone());
    }
    const times: number[] = [];
    if (ts) {
      const qs = device.createQuerySet({ type: 'timestamp', count: 2 * runs });
      const resolve = device.createBuffer({ size: 16 * runs, usage: U.QUERY_RESOLVE | U.COPY_SRC });
      const read = device.createBuffer({ size: 16 * runs, usage: U.MAP_READ | U.COPY_DST });
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder();
      for (let r = 0; r < runs; r++) {
        const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 } });
        for (const p of passes) this.encodePass(pass, p);
        pass.end();
      }
      enc.resolveQuerySet(qs, 0, 2 * runs, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * runs);
      device.queue.submit([enc.finish()]);
      const err = await gpu.guard(device.popErrorScope());
      if (err) throw new WebGpuError(fn, 'validation', err.message);
      await gpu.guard(read.mapAsync(MAP_READ));
      const t = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      for (let r = 0; r < runs; r++) times.push(Number(t[2 * r + 1]! - t[2 * r]!) / 1e6);
      qs.destroy();
      resolve.destroy();
      read.destroy();
    }
    let method: KernelTiming['method'] = 'timestamp-query';
    if (!ts || times.some((x) => !(x > 0))) {
      times.length = 0;
      method = 'wall-clock';
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const p of passes) this.encodePass(pass, p);
        pass.end();
        device.queue.submit([enc.finish()]);
        await gpu.guard(device.queue.onSubmittedWorkDone());
        times.push(performance.now() - t0);
      }
    }
    for (const b of temps) this.pool.release(b);
    times.sort((x, y) => x - y);
    return { ms: times[Math.floor(times.length / 2)]!, method, runs };
  }

  /** Frees the pool and every pinned buffer. */
  clear(): void {
    try {
      this.pool.clear();
    } catch {
      /* device may be gone */
    }
    for (const b of this.pinnedBuffers) {
      try {
        b.destroy();
      } catch {
        /* device gone */
      }
    }
    this.pinnedBuffers.clear();
  }
}
