/** Node entry: files, journal, synthetic checkpoints. */
export { compressCheckpointStreaming, type StreamCompressOptions, type StreamCompressResult, type StreamMethod } from './stream-compress.node.js';
export { writeSyntheticCheckpoint, type SyntheticOptions } from './synthetic.node.js';
export { fileSource } from './file-source.node.js';
export { JournalMismatchError, OutputWriteError } from './errors.js';
export * from './index.js';
