import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import type { ByteSource } from '@llmpress/models';

/** A synchronous ByteSource over a file descriptor: reads only the byte ranges asked for. */
export function fileSource(path: string): ByteSource & { close(): void } {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    name: path,
    read(offset: number, length: number): Uint8Array {
      const b = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, b, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return got === length ? b : b.subarray(0, got);
    },
    close() {
      closeSync(fd);
    },
  };
}
