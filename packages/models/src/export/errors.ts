import { LlmpressError } from '@llmpress/tensor';

/** The export cannot be written without loss although `lossless` was asked for (names the tensor and why). */
export class LossyExportError extends LlmpressError {
  readonly tensor: string;
  constructor(fn: string, tensor: string, reason: string) {
    super(fn, `tensor '${tensor}' cannot be written without loss: ${reason}`, 'E_LOSSY');
    this.tensor = tensor;
  }
}

/** A self-contained export needs a tokenizer and none was given / found, or it cannot be embedded. */
export class MissingTokenizerError extends LlmpressError {
  constructor(fn: string, message: string) {
    super(fn, message, 'E_NO_TOKENIZER');
  }
}

/** The output path exists or is the input: nothing was written. */
export class OutputRefusedError extends LlmpressError {
  readonly path: string;
  constructor(fn: string, path: string, reason: string) {
    super(fn, `refusing to write '${path}': ${reason}`, 'E_REFUSED');
    this.path = path;
  }
}
