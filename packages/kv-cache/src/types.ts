/**
 * The cache contract the Llama forward pass drives and the cache shape: the ones of @llmpress/tensor
 * (kv-cache.ts), shared with @llmpress/models (one contract).
 */
export type { KVCacheLike, CacheShape } from '@llmpress/tensor';
