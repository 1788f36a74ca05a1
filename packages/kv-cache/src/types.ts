/**
 * The cache contract the Llama forward pass (`@llmpress/models`) drives. Structurally identical to
 * `KVCacheLike` in `@llmpress/models`; kept local so this package does not depend upwards on models.
 */
export interface KVCacheLike {
  /** Tokens already cached in `layer`. */
  length(layer: number): number;
  /** Post-RoPE keys and values of `t` new tokens, each `[t, nKvHeads*headDim]` row-major. */
  append(layer: number, k: Float32Array, v: Float32Array, t: number): void;
  /**
   * `t` new queries (post-RoPE, `[t, nHeads*headDim]`) after their own keys were appended: query i sits at
   * position `length-t+i` and attends causally to `0..length-t+i`. Returns `[t, nHeads*headDim]`;
   * GQA: head h uses kv head `floor(h / (nHeads/nKvHeads))`.
   */
  attend(layer: number, q: Float32Array, t: number): Float32Array;
}

/** Shape of the model a cache serves (the subset of `LlamaConfig` a cache needs). */
export interface CacheShape {
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}
