/**
 * Option tables for every `llmpress` command: parsing, up-front validation (exit 2 naming the
 * option) and the generated help, so every flag is in the help with its default.
 */
import { parseArgs } from 'node:util';

/** A user error found before any work: exit 2 (usage), 3 (bad input file) or 4 (refused). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: 2 | 3 | 4,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

export interface OptSpec {
  type: 'string' | 'boolean';
  /** Shown in the help as `--name <arg>`. */
  arg?: string;
  help: string;
  /** Default as shown in the help (the code applies it). */
  default?: string;
}

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  options: Record<string, OptSpec>;
  /** Extra help lines after the options. */
  notes?: string[];
}

export const BACKEND_OPT: OptSpec = {
  type: 'string',
  arg: 'auto|wasm|webgpu|reference',
  default: 'auto',
  help: 'compute backend: auto = WASM with threads where it runs, else reference; webgpu = WebGPU (large GEMMs) over WASM',
};
export const CHECK_WEIGHTS_OPT: OptSpec = { type: 'boolean', help: 'check every weight is finite on load (names the tensor holding NaN/Inf)' };

export function helpFor(c: CommandSpec): string {
  const rows = Object.entries(c.options).map(([k, o]) => {
    const flag = `--${k}${o.type === 'string' ? ` <${o.arg ?? 'value'}>` : ''}`;
    return `  ${flag.padEnd(38)} ${o.help}${o.default !== undefined ? ` (default: ${o.default})` : ''}`;
  });
  rows.push(`  ${'-h, --help'.padEnd(38)} this help`);
  return [`llmpress ${c.name} — ${c.summary}`, '', `usage: ${c.usage}`, '', 'options:', ...rows, ...(c.notes?.length ? ['', ...c.notes] : [])].join('\n');
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  help: boolean;
}

/** parseArgs over the spec; unknown options and missing values become a UsageError naming the option. */
export function parseCommand(c: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, o] of Object.entries(c.options)) options[k] = { type: o.type };
  try {
    const r = parseArgs({ args: argv, allowPositionals: true, options, strict: true });
    const values = r.values as Record<string, string | boolean | undefined>;
    return { values, positionals: r.positionals, help: Boolean(values.help) };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS'))
      throw new UsageError(`${c.name}: ${(e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '')}`);
    throw e;
  }
}

type V = string | boolean | undefined;

/** A number option: finite, optionally an integer, in [min, max] (or an open end). Undefined when absent. */
export function numberOpt(
  cmd: string,
  name: string,
  v: V,
  o: { int?: boolean; min?: number; max?: number; minOpen?: boolean; maxOpen?: boolean; what?: string } = {},
): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  const x = s === '' ? NaN : Number(s);
  const lo = o.min === undefined ? '' : `${o.minOpen ? '(' : '['}${o.min}`,
    hi = o.max === undefined ? '' : `${o.max}${o.maxOpen ? ')' : ']'}`;
  const range =
    o.what ??
    (o.min !== undefined && o.max !== undefined
      ? `${o.int ? 'an integer' : 'a number'} in ${lo}, ${hi}`
      : o.min !== undefined
        ? `${o.int ? 'an integer' : 'a number'} ${o.minOpen ? '>' : '≥'} ${o.min}`
        : o.int
          ? 'an integer'
          : 'a number');
  const bad =
    !Number.isFinite(x) ||
    (o.int && !Number.isInteger(x)) ||
    (o.min !== undefined && (o.minOpen ? x <= o.min : x < o.min)) ||
    (o.max !== undefined && (o.maxOpen ? x >= o.max : x > o.max));
  if (bad) throw new UsageError(`${cmd}: --${name} must be ${range}, got '${s}'`);
  return x;
}

export function choiceOpt<T extends string>(cmd: string, name: string, v: V, choices: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(String(v))) throw new UsageError(`${cmd}: --${name} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}
