/**
 * A pool of GPU buffers keyed by (usage, size class). Size classes step by a quarter octave above
 * 256 bytes (at most ~19% waste); a buffer goes back to the pool only after the submission that
 * used it completed (the backend releases after readback), so reuse never races the GPU.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes));
  const p = 2 ** Math.floor(Math.log2(b));
  if (p === b) return b;
  const step = Math.max(256, p / 4);
  return Math.ceil(b / step) * step;
}

export interface PoolStats {
  hits: number;
  misses: number;
  pooledBytes: number;
  liveBuffers: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pooledBytes = 0;
  private live = 0;
  hits = 0;
  misses = 0;
  constructor(
    private readonly device: GPUDevice,
    private readonly maxPooledBytes = 512 * 2 ** 20,
  ) {}

  acquire(bytes: number, usage: number, label = 'llmpress'): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const hit = list?.pop();
    if (hit) {
      this.hits++;
      this.pooledBytes -= size;
      return hit;
    }
    this.misses++;
    this.live++;
    return this.device.createBuffer({ size, usage, label });
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      this.live--;
      buffer.destroy();
      return;
    }
    const key = `${buffer.usage}:${size}`;
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    list.push(buffer);
    this.pooledBytes += size;
  }

  /** Destroys a buffer instead of pooling it (used after errors). */
  discard(buffer: GPUBuffer): void {
    this.live--;
    buffer.destroy();
  }

  clear(): void {
    for (const list of this.free.values())
      for (const b of list) {
        this.live--;
        b.destroy();
      }
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats(): PoolStats {
    return { hits: this.hits, misses: this.misses, pooledBytes: this.pooledBytes, liveBuffers: this.live };
  }
}
