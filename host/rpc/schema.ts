// Method descriptions and their parameter checks. A method's table entry is the one place its
// parameters are declared: the dispatcher checks requests against it, `rpc_get_method_params` shows it
// to clients (`wstor rpc METHOD --help`), and the tests hold it against SPDK's schema.
import { RpcError, INVALID_PARAMS } from './errors.js';
import { shown } from '../size.js';

/** SPDK's code for a value wstor does not support (-ENOTSUP). */
const ENOTSUP = -95;

export type ParamType = 'string' | 'boolean' | 'int32' | 'uint32' | 'uint64' | 'int64' | 'uint8' | 'uint16' | 'number' | 'uuid' | 'enum' | 'array' | 'object' | 'bitmask';

export interface ParamSpec {
  name: string;
  type: ParamType;
  required?: boolean;
  description: string;
  /** enum: the accepted values. */
  values?: string[];
  /**
   * A parameter of SPDK's for a feature wstor lacks: only these values (SPDK's defaults, which SPDK's
   * own rpc.py sends unasked) are accepted; any other is refused with ENOTSUP and `lacking`.
   */
  only?: { values: readonly (number | boolean | string)[]; lacking: string };
}

/** What `rpc_get_method_params` returns for a method. */
export interface MethodSchema { name: string; description: string; params: ParamSpec[] }

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RANGES: Partial<Record<ParamType, [number, number]>> = {
  uint8: [0, 255], uint16: [0, 65535], int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1],
  uint64: [0, Number.MAX_SAFE_INTEGER], int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function invalid(method: string, message: string): RpcError {
  return new RpcError(INVALID_PARAMS, `${method}: ${message}`);
}

function checkValue(method: string, p: ParamSpec, v: unknown): void {
  const bad = (what: string) => invalid(method, `parameter "${p.name}" must be ${what} (got ${shown(v)})`);
  switch (p.type) {
    case 'string': if (typeof v !== 'string') throw bad('a string'); return;
    case 'boolean': if (typeof v !== 'boolean') throw bad('true or false'); return;
    case 'number': if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('a number'); return;
    case 'uuid': if (typeof v !== 'string' || !UUID_RE.test(v)) throw bad('a UUID like 01234567-89ab-cdef-0123-456789abcdef'); return;
    case 'enum': if (typeof v !== 'string' || !p.values!.includes(v)) throw bad(`one of ${p.values!.join(', ')}`); return;
    case 'array': if (!Array.isArray(v)) throw bad('an array'); return;
    case 'object': if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('an object'); return;
    // SPDK's bitmask parameters: a number of bits, or the bits' names.
    case 'bitmask':
      if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0) && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) throw bad('a bit mask (a whole number, or a list of names)');
      return;
    default: {
      const [lo, hi] = RANGES[p.type]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(`a whole number from ${lo} to ${hi}`);
    }
  }
}

/**
 * Check a request's params against a method's table: an object (or nothing, when nothing is
 * required), no unknown names, every required one present, each of its declared type. Returns the
 * params as a record; throws INVALID_PARAMS naming the field.
 */
export function checkParams(schema: MethodSchema, params: unknown): Record<string, unknown> {
  const { name: method } = schema;
  if (params === undefined || params === null) params = {};
  if (typeof params !== 'object' || Array.isArray(params)) {
    throw invalid(method, 'params must be an object of named parameters');
  }
  const given = params as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!schema.params.some((p) => p.name === key)) {
      const known = schema.params.map((p) => p.name);
      throw invalid(method, `unknown parameter "${key}" (${known.length ? `it takes ${known.join(', ')}` : 'it takes none'})`);
    }
  }
  for (const p of schema.params) {
    const v = given[p.name];
    if (v === undefined) {
      if (p.required) throw invalid(method, `missing required parameter "${p.name}" (${p.type}): ${p.description}`);
      continue;
    }
    checkValue(method, p, v);
    if (p.only && !p.only.values.includes(v as number | boolean | string)) {
      const accepted = p.only.values.map((x) => JSON.stringify(x)).join(' or ');
      throw new RpcError(ENOTSUP, `${method}: ${p.name} ${JSON.stringify(v)}: ${p.only.lacking} (omit it${accepted ? ` or send ${accepted}` : ''})`);
    }
  }
  return given;
}
