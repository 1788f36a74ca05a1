/**
 * A first-fit allocator over a WebAssembly linear memory. Blocks are 64-byte aligned; freed blocks
 * coalesce; the top grows the memory when nothing fits. The JS side owns all allocation: the
 * kernels are stateless and take byte addresses.
 */
import { ArgumentError, UnsupportedError } from '@llmpress/tensor';

const ALIGN = 64;
const PAGE = 65536;

export class LinearAllocator {
  private free: { start: number; size: number }[] = [];
  private sizes = new Map<number, number>();
  private top: number;

  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
    private readonly maxBytes: number,
  ) {
    this.top = Math.ceil(base / ALIGN) * ALIGN;
  }

  /** Bytes currently handed out. */
  get inUse(): number {
    let s = 0;
    for (const v of this.sizes.values()) s += v;
    return s;
  }

  alloc(bytes: number, fn = 'allocate'): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new ArgumentError(fn, 'bytes', bytes, 'must be a non-negative integer');
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i]!;
      if (f.size >= size) {
        const ptr = f.start;
        if (f.size === size) this.free.splice(i, 1);
        else {
          f.start += size;
          f.size -= size;
        }
        this.sizes.set(ptr, size);
        return ptr;
      }
    }
    const ptr = this.top;
    const end = ptr + size;
    if (end > this.maxBytes) throw new UnsupportedError(fn, `WebAssembly memory exhausted: need ${end} bytes, the memory holds at most ${this.maxBytes}`);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(pages);
      } catch (e) {
        throw new UnsupportedError(fn, `cannot grow WebAssembly memory by ${pages} pages (${String((e as Error)?.message ?? e)})`);
      }
    }
    this.top = end;
    this.sizes.set(ptr, size);
    return ptr;
  }

  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new ArgumentError('release', 'pointer', ptr, 'must be a block returned by this allocator and not yet released');
    this.sizes.delete(ptr);
    // insert sorted, coalesce neighbours
    let i = 0;
    while (i < this.free.length && this.free[i]!.start < ptr) i++;
    this.free.splice(i, 0, { start: ptr, size });
    if (i + 1 < this.free.length && ptr + size === this.free[i + 1]!.start) {
      this.free[i]!.size += this.free[i + 1]!.size;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1]!.start + this.free[i - 1]!.size === this.free[i]!.start) {
      this.free[i - 1]!.size += this.free[i]!.size;
      this.free.splice(i, 1);
      i--;
    }
    const last = this.free[this.free.length - 1];
    if (last && last.start + last.size === this.top) {
      this.top = last.start;
      this.free.pop();
    }
  }

  has(ptr: number): boolean {
    return this.sizes.has(ptr);
  }
}
