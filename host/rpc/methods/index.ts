// The target's method table: every method `wstor serve` answers, looked up by name, its parameters
// checked against its schema, run against the target. It is the RpcDispatcher the server calls, and
// the config replay calls it the same way, so a config entry and an RPC are checked alike.
import { RpcError, METHOD_NOT_FOUND, toRpcError } from '../errors.js';
import { checkParams, type MethodSchema } from '../schema.js';
import type { Target } from '../../serve/target.js';
import type { Method } from './types.js';
import { frameworkMethods } from './framework.js';
import { bdevMethods } from './bdev.js';
import { lvolMethods } from './lvol.js';
import { vhostMethods } from './vhost.js';
import { nvmfMethods } from './nvmf.js';
import { pluginMethods } from './plugin.js';
import { bdevNvmeMethods } from './bdev-nvme.js';

/** SPDK's code for a method that exists but is not callable in the current state (before framework_start_init). */
export const INVALID_STATE = -1;

export class MethodTable {
  private readonly methods = new Map<string, Method>();

  constructor(private readonly target: Target, extra: Method[] = []) {
    const own: Method[] = [
      {
        name: 'rpc_get_methods', description: 'The names of the methods this target answers', startup: true,
        params: [
          { name: 'current', type: 'boolean', description: 'only those callable in the current state' },
          { name: 'include_aliases', type: 'boolean', description: 'accepted for SPDK compatibility (wstor has no deprecated aliases)' },
        ],
        run: (p) => [...this.methods.values()].filter((m) => !p.current || this.callable(m)).map((m) => m.name),
      },
      {
        name: 'rpc_get_method_params', description: 'wstor: each method\'s description and parameters (what `wstor rpc --help` shows)', startup: true,
        params: [{ name: 'method', type: 'string', description: 'one method (default: all)' }],
        run: (p) => (p.method === undefined ? [...this.methods.values()] : [this.lookup(p.method)]).map(schemaOf),
      },
    ];
    for (const m of [...own, ...frameworkMethods, ...bdevMethods, ...lvolMethods, ...vhostMethods, ...nvmfMethods, ...pluginMethods, ...bdevNvmeMethods, ...extra]) {
      if (this.methods.has(m.name)) throw new Error(`method ${m.name} is declared twice`);
      this.methods.set(m.name, m);
    }
  }

  private callable(m: Method): boolean { return this.target.state !== 'waiting' || m.startup === true; }

  private lookup(name: string): Method {
    const m = this.methods.get(name);
    if (!m) throw new RpcError(METHOD_NOT_FOUND, `Method not found: ${name} (rpc_get_methods lists them)`);
    return m;
  }

  /** The schemas of every method (for help and tests). */
  schemas(): MethodSchema[] { return [...this.methods.values()].map(schemaOf); }

  async call(method: string, params: unknown): Promise<unknown> {
    const m = this.lookup(method);
    if (!this.callable(m)) {
      throw new RpcError(INVALID_STATE, `${method} may only be called after the framework is initialised: call framework_start_init first`);
    }
    const checked = checkParams(m, params);
    try {
      return await m.run(checked, this.target);
    } catch (err) {
      throw toRpcError(err);          // one error shape for RPC clients and config replay alike
    }
  }
}

function schemaOf(m: Method): MethodSchema {
  return { name: m.name, description: m.description, params: m.params.map((p) => ({ ...p })) };
}
