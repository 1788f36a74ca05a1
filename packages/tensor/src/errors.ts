/**
 * Typed errors. Every error carries a `Symbol.for` brand so `X.isInstance(e)` works even when two
 * copies of this package are installed side by side (instanceof would not).
 */
const ROOT_BRAND = Symbol.for('llmpress.error');

function brandOf(name: string): symbol {
  return Symbol.for(`llmpress.error.${name}`);
}

export class LlmpressError extends Error {
  /** Stable machine-readable code, e.g. `E_SHAPE`. */
  readonly code: string;
  /** The public function that raised the error, e.g. `matmul`. */
  readonly fn: string;
  constructor(fn: string, message: string, code = 'E_LLMPRESS', options?: { cause?: unknown }) {
    super(`${fn}: ${message}`, options);
    this.fn = fn;
    this.code = code;
    this.name = new.target.name;
    // brand the instance with every class in its prototype chain
    let proto: any = new.target;
    while (proto && proto !== Error) {
      if (typeof proto.name === 'string') (this as any)[brandOf(proto.name)] = true;
      proto = Object.getPrototypeOf(proto);
    }
    (this as any)[ROOT_BRAND] = true;
  }
  /** Brand-based `instanceof` that survives duplicate installs. */
  static isInstance(e: unknown): boolean {
    return typeof e === 'object' && e !== null && (e as any)[brandOf(this.name)] === true;
  }
}

/** Describes a value for error messages without dumping huge arrays. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (Array.isArray(value)) return value.length <= 8 ? `[${value.map(describe).join(', ')}]` : `array(length ${value.length})`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(length ${(value as any).length})`;
  if (typeof value === 'object' && 'shape' in (value as any) && 'dtype' in (value as any)) {
    const t = value as any;
    return `tensor(shape [${t.shape.join(', ')}], dtype ${t.dtype})`;
  }
  return typeof value;
}

export class ShapeError extends LlmpressError {
  constructor(fn: string, message: string) {
    super(fn, message, 'E_SHAPE');
  }
}
export class DTypeError extends LlmpressError {
  constructor(fn: string, message: string) {
    super(fn, message, 'E_DTYPE');
  }
}
export class ArgumentError extends LlmpressError {
  readonly argument: string;
  readonly value: unknown;
  constructor(fn: string, argument: string, value: unknown, expected: string) {
    super(fn, `argument '${argument}' ${expected}, got ${describe(value)}`, 'E_ARGUMENT');
    this.argument = argument;
    this.value = value;
  }
}
/** Raised when a routine forbids non-finite values and finds one. */
export class NonFiniteError extends LlmpressError {
  readonly argument: string;
  readonly index: number;
  readonly value: number;
  constructor(fn: string, argument: string, index: number, value: number) {
    super(fn, `argument '${argument}' must be finite, found ${describe(value)} at flat index ${index}`, 'E_NONFINITE');
    this.argument = argument;
    this.index = index;
    this.value = value;
  }
}
export class NotPositiveDefiniteError extends LlmpressError {
  readonly pivot: number;
  readonly diagonal: number;
  constructor(fn: string, pivot: number, diagonal: number) {
    super(
      fn,
      `matrix is not positive definite: pivot ${pivot} has value ${describe(diagonal)} (use the eigendecomposition route or opt in to jitter)`,
      'E_NOT_PD',
    );
    this.pivot = pivot;
    this.diagonal = diagonal;
  }
}
export class NoConvergenceError extends LlmpressError {
  readonly iterations: number;
  readonly residual: number;
  constructor(fn: string, iterations: number, residual: number) {
    super(fn, `did not converge after ${iterations} iterations (residual ${residual.toExponential(3)})`, 'E_NO_CONVERGENCE');
    this.iterations = iterations;
    this.residual = residual;
  }
}
export class UnsupportedError extends LlmpressError {
  constructor(fn: string, message: string) {
    super(fn, message, 'E_UNSUPPORTED');
  }
}
