// Params for the JSON-RPC fuzzer (rpc-fuzz.ts), made from each method's own schema: mostly values of
// the declared type on its edges, sometimes the wrong type, a required param left out or one nobody
// declared, so every method's checks and handler meet what a careless or hostile client sends.
// Names of things the target made earlier (bdevs, lvstores, subsystems) are reused, so calls reach
// past "not found" into the handlers. Paths and addresses stay inside a scratch directory and
// loopback: a fuzzed call never opens a real device nor listens beyond this machine.
import type { ParamSpec, MethodSchema } from '../rpc/schema.js';
import type { FuzzRng } from './rng.js';

export interface RpcCall { method: string; params: Record<string, unknown> }

/** What the calls so far made, for later calls to name. */
export class RpcNames {
  readonly seen = new Set<string>(['Malloc0', 'Nvme0n1', 'lvs0', 'nqn.2016-06.io.spdk:cnode1']);

  /** Remember the strings a result holds that look like names (bdevs, lvols, uuids, NQNs). */
  learn(result: unknown, depth = 0): void {
    if (depth > 4 || this.seen.size > 256) return;
    if (typeof result === 'string' && result.length > 0 && result.length < 128) this.seen.add(result);
    else if (Array.isArray(result)) result.slice(0, 16).forEach((r) => this.learn(r, depth + 1));
    else if (result && typeof result === 'object') {
      for (const [k, v] of Object.entries(result).slice(0, 32)) if (/name|uuid|nqn|alias/.test(k)) this.learn(v, depth + 1);
    }
  }
}

const INT_EDGES = [0, 1, -1, 2, 7, 8, 255, 256, 511, 512, 4095, 4096, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53)];
const ODD_STRINGS = ['', ' ', 'a', '-1', '0x10', 'null', 'Malloc', '..', '../x', 'é', '\u0000', '%s%n', 'x'.repeat(300), 'nqn.', 'nqn.2014-08.org.nvmexpress.discovery'];
const WRONG_TYPES: unknown[] = [null, true, 0, -1, 1.5, '', '1', [], [1], {}, { a: 1 }];

function pick<T>(rng: FuzzRng, xs: readonly T[]): T { return xs[rng.int(xs.length)]; }

function stringFor(spec: ParamSpec, rng: FuzzRng, names: RpcNames, scratch: string): string {
  if (/file|path|socket|dir/i.test(spec.name)) {
    return pick(rng, [`${scratch}/f${rng.int(4)}`, `${scratch}/s${rng.int(4)}.sock`, `${scratch}/`, `${scratch}/no/such/dir/x`, '', 'relative', `${scratch}/${'d'.repeat(120)}`]);
  }
  if (spec.name === 'traddr') return pick(rng, ['127.0.0.1', '::1', 'localhost', '0.0.0.0', '256.1.1.1', '', '127.0.0.1:4420']);
  if (spec.name === 'trsvcid') return pick(rng, [String(20000 + rng.int(20000)), '0', '65536', '-1', 'http', '']);
  if (spec.name === 'trtype') return pick(rng, ['tcp', 'TCP', 'rdma', 'pcie', '']);
  if (spec.name === 'adrfam') return pick(rng, ['ipv4', 'IPv6', 'ib', '']);
  if (spec.type === 'uuid') return rng.oneIn(3) ? pick(rng, ODD_STRINGS) : '00000000-0000-4000-8000-00000000000' + rng.int(10);
  if (!rng.oneIn(3)) return pick(rng, [...names.seen]);
  return rng.oneIn(2) ? pick(rng, ODD_STRINGS) : `fz${rng.int(8)}`;
}

function intFor(spec: ParamSpec, rng: FuzzRng): number {
  // A wait the method honours (bdev_get_bdevs' timeout, a retry delay) stays short: a long one is the
  // method doing what it was asked, not a hang, and would only slow the fuzzer down.
  if (/timeout|delay|_ms$|_sec$|_us$/.test(spec.name)) return pick(rng, [0, 1, 10, 100, 1000]);
  const bits = spec.type === 'uint8' ? 8 : spec.type === 'uint16' ? 16 : spec.type === 'int32' || spec.type === 'uint32' ? 32 : 53;
  const v = rng.oneIn(2) ? pick(rng, INT_EDGES) : rng.int(2 ** Math.min(bits, 30));
  return rng.oneIn(8) ? v + pick(rng, [-1, 1]) : v;
}

/** One value for `spec`: of its type most of the time, now and then anything. */
export function paramValue(spec: ParamSpec, rng: FuzzRng, names: RpcNames, scratch: string): unknown {
  if (rng.oneIn(10)) return pick(rng, WRONG_TYPES);
  if (spec.only && rng.oneIn(2)) return pick(rng, spec.only.values);
  switch (spec.type) {
    case 'boolean': return rng.oneIn(2);
    case 'enum': return rng.oneIn(5) ? pick(rng, ODD_STRINGS) : pick(rng, spec.values ?? ['']);
    case 'number': return rng.oneIn(4) ? pick(rng, [0.5, -0.5, 1e308, -1e-308]) : intFor(spec, rng);
    case 'array': return Array.from({ length: rng.int(4) }, () => (rng.oneIn(2) ? pick(rng, [...names.seen]) : pick(rng, WRONG_TYPES)));
    case 'object': return rng.oneIn(2) ? {} : { name: pick(rng, [...names.seen]), [`k${rng.int(4)}`]: pick(rng, WRONG_TYPES) };
    case 'string': case 'uuid': return stringFor(spec, rng, names, scratch);
    default: return intFor(spec, rng);      // the integer types and bitmask
  }
}

/** A call of `schema`: each declared param present most of the time (required ones nearly always), sometimes an undeclared one. */
export function rpcCall(schema: MethodSchema, rng: FuzzRng, names: RpcNames, scratch: string): RpcCall {
  const params: Record<string, unknown> = {};
  for (const spec of schema.params) {
    if (rng.oneIn(spec.required ? 20 : 2)) continue;
    params[spec.name] = paramValue(spec, rng, names, scratch);
  }
  // An own property even for __proto__, as JSON.parse makes it from a client's bytes.
  if (rng.oneIn(20)) Object.defineProperty(params, pick(rng, ['x', 'name ', 'NAME', '__proto__', 'constructor']), { value: pick(rng, WRONG_TYPES), enumerable: true, writable: true, configurable: true });
  return { method: schema.name, params };
}
