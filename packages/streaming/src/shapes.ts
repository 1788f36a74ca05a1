/** Real model shapes for synthetic checkpoints (Hugging Face LlamaConfig fields). */
export interface ShapePreset {
  name: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  max_position_embeddings: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
}

export const SHAPES = {
  'llama-2-7b': {
    name: 'llama-2-7b',
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 32,
    vocab_size: 32000,
    max_position_embeddings: 4096,
    rope_theta: 10000,
    tie_word_embeddings: false,
  },
  'llama-3.2-1b': {
    name: 'llama-3.2-1b',
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rope_theta: 500000,
    tie_word_embeddings: true,
  },
  /** A 4-block toy with the same structure, for tests. */
  tiny: {
    name: 'tiny',
    hidden_size: 64,
    intermediate_size: 160,
    num_hidden_layers: 4,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    vocab_size: 256,
    max_position_embeddings: 256,
    rope_theta: 10000,
    tie_word_embeddings: true,
  },
} satisfies Record<string, ShapePreset>;

export type ShapeName = keyof typeof SHAPES;

/** HF tensor names and [out, in] shapes of one block. */
export function blockTensors(p: ShapePreset, b: number): Array<{ name: string; shape: [number, number] | [number] }> {
  const d = p.hidden_size,
    h = p.intermediate_size,
    hd = d / p.num_attention_heads,
    kv = p.num_key_value_heads * hd;
  const pre = `model.layers.${b}.`;
  return [
    { name: pre + 'input_layernorm.weight', shape: [d] },
    { name: pre + 'self_attn.q_proj.weight', shape: [d, d] },
    { name: pre + 'self_attn.k_proj.weight', shape: [kv, d] },
    { name: pre + 'self_attn.v_proj.weight', shape: [kv, d] },
    { name: pre + 'self_attn.o_proj.weight', shape: [d, d] },
    { name: pre + 'post_attention_layernorm.weight', shape: [d] },
    { name: pre + 'mlp.gate_proj.weight', shape: [h, d] },
    { name: pre + 'mlp.up_proj.weight', shape: [h, d] },
    { name: pre + 'mlp.down_proj.weight', shape: [d, h] },
  ];
}
