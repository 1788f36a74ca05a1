import { LlmpressError } from '@llmpress/tensor';

/** The journal beside the output belongs to another input or other options: refusing to mix them. */
export class JournalMismatchError extends LlmpressError {
  readonly field: string;
  constructor(fn: string, journal: string, field: string, was: string, now: string) {
    super(
      fn,
      `journal '${journal}' was written for ${field} ${was}, but this run has ${now}; delete the journal folder to start over, or rerun with the original input and options`,
      'E_JOURNAL_MISMATCH',
    );
    this.field = field;
  }
}

/** Writing the output failed (disk full, permissions, an injected fault); the journal keeps finished blocks for a resume. */
export class OutputWriteError extends LlmpressError {
  constructor(fn: string, path: string, cause: unknown) {
    super(
      fn,
      `writing '${path}' failed: ${(cause as Error)?.message ?? cause} (the input is untouched; finished blocks are kept in the journal, rerun to resume)`,
      'E_OUTPUT_WRITE',
      { cause },
    );
  }
}
