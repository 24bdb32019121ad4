// `wstor rpc METHOD ...`: the method table the server describes itself with (rpc_get_method_params), turning
// `--name value` arguments into typed params by it, and the help text for one method.
import { WstorError } from '../errors.js';
import { UsageError } from './args.js';

export type ParamType = 'string' | 'boolean' | 'int32' | 'uint32' | 'uint64' | 'int64' | 'uint8' | 'number' | 'uuid' | 'enum' | 'array' | 'object';

export interface ParamSpec {
  name: string;
  /** A ParamType; a type this CLI does not know is passed on as a string. */
  type: string;
  required?: boolean;
  description?: string;
  /** For 'enum': the accepted values. */
  values?: string[];
}

export interface MethodSpec {
  name: string;
  description: string;
  params: ParamSpec[];
}

/** A mistake in a method's arguments; `help` is that method's parameters, shown with the message. */
export class MethodUsageError extends UsageError {
  constructor(message: string, readonly help: string) { super(message); }
}

export interface MethodArgs {
  help: boolean;
  /** --json with no value: print the raw result as JSON. */
  rawOutput: boolean;
  /** undefined when the call has no params. */
  params?: Record<string, unknown> | unknown[];
}

const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  uint8: [0n, 255n], int32: [-(2n ** 31n), 2n ** 31n - 1n], uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n],
};
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Check the server's answer to rpc_get_method_params: it drives parsing, so a malformed one is reported, not guessed at. */
export function checkMethodTable(table: unknown): MethodSpec[] {
  const bad = (why: string) => new WstorError('EPROTO', `the server's rpc_get_method_params answer is malformed: ${why}`);
  if (!Array.isArray(table)) throw bad('not an array');
  for (const m of table) {
    if (!isPlainObject(m) || typeof m.name !== 'string' || !Array.isArray(m.params)) throw bad('a method without a name or params');
    for (const p of m.params) {
      if (!isPlainObject(p) || typeof p.name !== 'string' || typeof p.type !== 'string') throw bad(`a param of ${m.name} without a name or type`);
    }
  }
  return table as MethodSpec[];
}

/** How a param is written on the command line: dashes, as the help shows it (underscores work too). */
export function flagName(param: string): string { return `--${param.replace(/_/g, '-')}`; }
const sameParam = (a: string, b: string) => a.replace(/-/g, '_') === b.replace(/-/g, '_');

function integer(p: ParamSpec, text: string): number {
  const what = `${flagName(p.name)} takes ${p.type === 'int32' || p.type === 'int64' ? 'an' : 'a'} ${p.type}`;
  if (!/^-?\d+$/.test(text) && !/^0x[0-9a-f]+$/i.test(text)) throw new UsageError(`${what}, a whole number (got "${text}")`);
  const value = text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text);
  const [min, max] = INTEGER_RANGES[p.type];
  if (value < min || value > max) throw new UsageError(`${what}: ${text} is outside ${min} to ${max}`);
  if (value > SAFE_MAX || value < -SAFE_MAX) throw new UsageError(`${what}: ${text} is beyond ±(2^53-1), which JSON numbers carry exactly`);
  return Number(value);
}

function jsonArg(p: ParamSpec, text: string, want: 'array' | 'object'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flagName(p.name)} takes JSON (${(err as Error).message})`);
  }
  if (want === 'array' ? !Array.isArray(value) : !isPlainObject(value)) throw new UsageError(`${flagName(p.name)} takes a JSON ${want}`);
  return value;
}

/** The value of `--name text`, as the param's declared type. */
export function coerce(p: ParamSpec, text: string): unknown {
  switch (p.type) {
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw new UsageError(`${flagName(p.name)} takes true or false (got "${text}")`);
      return text === 'true';
    case 'int32': case 'uint32': case 'uint8': case 'int64': case 'uint64':
      return integer(p, text);
    case 'number': {
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`${flagName(p.name)} takes a number (got "${text}")`);
      return value;
    }
    case 'uuid':
      if (!UUID.test(text)) throw new UsageError(`${flagName(p.name)} takes a UUID like 8c3e8b5e-0d0c-4e8f-9a55-2b7e3c1d9f00 (got "${text}")`);
      return text;
    case 'enum':
      if (p.values && !p.values.includes(text)) throw new UsageError(`${flagName(p.name)} takes one of ${p.values.join(', ')} (got "${text}")`);
      return text;
    case 'array':
      if (text.trim().startsWith('[')) return jsonArg(p, text, 'array');
      return text === '' ? [] : text.split(',').map((s) => s.trim());
    case 'object':
      return jsonArg(p, text, 'object');
    default:
      return text;
  }
}

/** One method's usage and parameters, for METHOD --help and after a mistake in its arguments. */
export function methodHelp(m: MethodSpec): string {
  const synopsis = m.params.map((p) => {
    const flag = p.type === 'boolean' ? flagName(p.name) : `${flagName(p.name)} ${p.type.toUpperCase()}`;
    return p.required ? flag : `[${flag}]`;
  }).join(' ');
  const head = `usage: wstor rpc [-s SOCK] ${m.name}${synopsis ? ` ${synopsis}` : ''} [--json]\n${m.description}\n`;
  if (m.params.length === 0) return `${head}\n${m.name} takes no parameters.\n`;
  const rows = m.params.map((p) => {
    const values = p.values?.length ? ` (one of: ${p.values.join(', ')})` : '';
    return `  ${flagName(p.name).padEnd(24)} ${p.type.padEnd(8)} ${(p.required ? 'required' : 'optional').padEnd(10)}${p.description ?? ''}${values}`;
  });
  return `${head}\nparameters (write - or _ in their names):\n${rows.join('\n')}\n`;
}

/** The value of --json: a params object or array, or null when --json means "print the result as JSON". */
function jsonParams(argv: string[], i: number, inline: string | undefined): { params: Record<string, unknown> | unknown[] | null; used: number } {
  const text = inline ?? argv[i + 1];
  if (inline === undefined && !/^\s*[[{]/.test(text ?? '')) return { params: null, used: 0 };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--json takes the params as a JSON object or array (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null) throw new UsageError('--json takes the params as a JSON object or array');
  return { params: value as Record<string, unknown> | unknown[], used: inline === undefined ? 1 : 0 };
}

/**
 * The arguments after METHOD: --help, --json [PARAMS], and --NAME VALUE for the method's params (a boolean
 * also as a bare flag). `spec` null: the server does not describe its methods, so only --json params work.
 */
export function parseMethodArgs(method: string, spec: MethodSpec | null, argv: string[]): MethodArgs {
  const out: MethodArgs = { help: false, rawOutput: false };
  const given: Record<string, unknown> = {};
  let json: Record<string, unknown> | unknown[] | null = null;
  const fail = (message: string): never => {
    if (spec) throw new MethodUsageError(message, methodHelp(spec));
    throw new UsageError(message);
  };
  // Help wins over whatever else is on the line: asking for it is how one finds what is wrong with the rest.
  if (argv.some((arg) => arg === '--help' || arg === '-h')) return { help: true, rawOutput: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) fail(`unexpected argument "${arg}": give ${method}'s params as --NAME VALUE`);
    const [key, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (key === 'json') {
      const taken = jsonParams(argv, i, inline);
      if (taken.params === null) out.rawOutput = true;
      else json = taken.params;
      i += taken.used;
      continue;
    }
    if (!spec) throw new UsageError(`the server does not describe ${method}'s params: give them as --json '{...}'`);
    const p = spec.params.find((q) => sameParam(q.name, key));
    if (!p) fail(`${method} has no parameter --${key}`);
    else {
      if (Object.hasOwn(given, p.name)) fail(`${flagName(p.name)} is given twice`);
      const next = argv[i + 1];
      let text = inline;
      if (text === undefined && p.type === 'boolean') text = next === 'true' || next === 'false' ? argv[++i] : 'true';
      if (text === undefined && (next === undefined || next.startsWith('--'))) fail(`${flagName(p.name)} needs a value (${p.type})`);
      try {
        given[p.name] = coerce(p, text ?? argv[++i]);
      } catch (err) {
        fail((err as Error).message);
      }
    }
  }
  return { ...out, params: mergeParams(json, given, spec, fail) };
}

/** --json params and --NAME params together; required params are checked only when --json gave none. */
function mergeParams(json: Record<string, unknown> | unknown[] | null, given: Record<string, unknown>, spec: MethodSpec | null,
  fail: (message: string) => never): Record<string, unknown> | unknown[] | undefined {
  const names = Object.keys(given);
  if (Array.isArray(json)) {
    if (names.length > 0) fail('give params either as --json \'[...]\' or as --NAME VALUE, not both');
    return json;
  }
  for (const name of names) if (json && Object.hasOwn(json, name)) fail(`${flagName(name)} is given twice (also in --json)`);
  if (json === null && spec) {
    const missing = spec.params.filter((p) => p.required && !Object.hasOwn(given, p.name));
    if (missing.length > 0) fail(`${spec.name} needs ${missing.map((p) => `${flagName(p.name)} (${p.type})`).join(', ')}`);
  }
  if (json === null && names.length === 0) return undefined;
  return { ...json, ...given };
}
