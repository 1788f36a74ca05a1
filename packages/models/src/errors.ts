import { LlmpressError } from '@llmpress/tensor';

/**
 * A malformed or unsupported model/tokenizer file. The message names the file, the tensor (or
 * key) and the field that is wrong, e.g.
 * `parseSafetensors: file 'model.safetensors', tensor 'lm_head.weight', field 'data_offsets': [0, 12] ...`.
 */
export class FormatError extends LlmpressError {
  readonly file: string;
  readonly tensor: string | undefined;
  readonly field: string | undefined;
  constructor(fn: string, file: string, what: { tensor?: string; field?: string }, message: string) {
    const parts = [`file '${file}'`];
    if (what.tensor !== undefined) parts.push(`tensor '${what.tensor}'`);
    if (what.field !== undefined) parts.push(`field '${what.field}'`);
    super(fn, `${parts.join(', ')}: ${message}`, 'E_FORMAT');
    this.file = file;
    this.tensor = what.tensor;
    this.field = what.field;
  }
}

/** Raised when an `AbortSignal` passed to a long-running routine fires. */
export class AbortedError extends LlmpressError {
  readonly reason: unknown;
  constructor(fn: string, reason: unknown) {
    super(fn, `aborted${reason instanceof Error ? ` (${reason.message})` : reason !== undefined ? ` (${String(reason)})` : ''}`, 'E_ABORTED');
    this.reason = reason;
  }
}
