/** Placement: a copy of a model whose dense weights live in a backend's own memory. */
import { DenseLinear, Tensor, resolveBackend, type Backend, type LinearLayer } from '@llmpress/tensor';
import { LlamaModel } from './model.js';

/**
 * A copy of the model whose dense weights (every DenseLinear, and the embedding, hence a tied head)
 * live in the backend's own memory (`backend.allocate`), so GEMMs skip the per-call copy-in. Other
 * layer kinds are kept as they are. Returns the model and a `release()` that frees those arrays.
 * Without `backend.allocate` the model is returned unchanged.
 */
export function placeOnBackend(model: LlamaModel, backend: Backend): { model: LlamaModel; release(): void } {
  const b = resolveBackend('placeOnBackend', backend);
  if (typeof b.allocate !== 'function') return { model, release() {} };
  const owned: Float32Array[] = [];
  const resident = (t: Tensor<'f32'>): Tensor<'f32'> => {
    const c = t.contiguous();
    const a = b.allocate!('f32', c.size) as Float32Array;
    a.set(c.data as Float32Array);
    owned.push(a);
    return new Tensor('f32', a, c.shape);
  };
  const tied = model.headIsTied();
  const embedding = resident(model.embedding);
  const seen = new Map<LinearLayer, LinearLayer>(); // layers shared between blocks are placed once
  const place = (L: LinearLayer): LinearLayer => {
    if (!(L instanceof DenseLinear)) return L;
    let r = seen.get(L);
    if (!r) {
      r = new DenseLinear(resident(L.weight));
      seen.set(L, r);
    }
    return r;
  };
  const blocks = model.blocks.map((blk) => ({
    ...blk,
    attnNorm: blk.attnNorm.slice(),
    ffnNorm: blk.ffnNorm.slice(),
    q: place(blk.q),
    k: place(blk.k),
    v: place(blk.v),
    o: place(blk.o),
    gate: place(blk.gate),
    up: place(blk.up),
    down: place(blk.down),
  }));
  const m = new LlamaModel(model.config, { embedding, blocks, finalNorm: model.finalNorm.slice(), lmHead: tied ? undefined : place(model.lmHead) });
  return {
    model: m,
    release() {
      for (const a of owned.splice(0)) b.release?.(a);
    },
  };
}
