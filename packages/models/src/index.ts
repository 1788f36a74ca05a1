export * from './config.js';
export * from './errors.js';
export * from './model.js';
export * from './llama2c.js';
export * from './tokenizer.js';
export * from './generate.js';
export * from './eval.js';
export * from './calibration.js';
