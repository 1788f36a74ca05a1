export * from './errors.js';
export * from './ggml.js';
export * from './gguf-writer.js';
export * from './tokenizer-kv.js';
export * from './gguf-export.js';
export * from './gptq.js';
export * from './hf-export.js';
export * from './hf-tokenizer-json.js';
