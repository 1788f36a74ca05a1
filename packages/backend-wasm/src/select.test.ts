import { describe, it, expect } from 'vitest';
import { getReferenceBackend, ArgumentError, UnsupportedError } from '@llmpress/tensor';
import { selectBackend, selectBackendWith } from './node.js';

describe('selectBackend', () => {
  it('reference is the reference backend, with no fallbacks', async () => {
    const s = await selectBackend('reference');
    expect(s.backend).toBe(getReferenceBackend());
    expect(s.name).toBe('reference');
    expect(s.describe()).toMatch(/^backend reference, 0 routine fallbacks/);
  });
  it('auto runs WASM where it runs and names it', async () => {
    const s = await selectBackend('auto', { threads: 1 });
    try {
      expect(s.name).toBe('wasm');
      expect(s.describe()).toMatch(/backend wasm/);
    } finally {
      await s.dispose();
    }
  });
  it('auto falls back to reference with a note when WASM cannot start; wasm then throws', async () => {
    const s = await selectBackendWith('auto', async () => null);
    expect(s.name).toBe('reference');
    expect(s.note).toMatch(/auto:/);
    await expect(selectBackendWith('wasm', async () => null)).rejects.toBeInstanceOf(UnsupportedError);
    await expect(selectBackendWith('webgpu', async () => null)).rejects.toBeInstanceOf(UnsupportedError);
  });
  it('rejects an unknown kind naming the argument', async () => {
    await expect(selectBackend('cuda')).rejects.toBeInstanceOf(ArgumentError);
  });
});
