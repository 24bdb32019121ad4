// `wstor rpc` (SPDK's rpc.py): call one method of a running wstor server over JSON-RPC. The methods and their
// params come from the server itself (rpc_get_method_params), so this file knows none of them.
import { WstorError } from '../errors.js';
import { RpcClient, RPC_CLIENT_TIMEOUT_MS, RPC_DEFAULT_SOCKET, type RpcTarget } from '../rpc/client.js';
import { METHOD_NOT_FOUND, RpcError } from '../rpc/errors.js';
import { UsageError, parseFlags, usageText, type FlagSpec } from './args.js';
import { formatResult } from './rpc-format.js';
import { MethodUsageError, checkMethodTable, methodHelp, parseMethodArgs, type MethodSpec } from './rpc-params.js';

/** The method a server describes its methods with; params {} for all, { method } for one. */
const DESCRIBE_METHOD = 'rpc_get_method_params';
/** --timeout at most a day: a longer wait is a hang, not a slow call. */
const TIMEOUT_MAX_SECONDS = 86_400;

const SPECS: FlagSpec[] = [
  { name: 'socket', short: 's', kind: 'string', help: 'the server\'s unix socket, or HOST:PORT for TCP', default: RPC_DEFAULT_SOCKET },
  { name: 'timeout', short: 't', kind: 'string', help: 'seconds to wait for the answer', default: String(RPC_CLIENT_TIMEOUT_MS / 1000) },
  { name: 'help', short: 'h', kind: 'boolean', help: 'show this help and the server\'s methods' },
];

export const rpcUsage = usageText('rpc [-s SOCK] [--timeout SECONDS] METHOD [--PARAM VALUE ...] [--json [PARAMS]]',
  'Calls METHOD on a running wstor server (wstor serve) over JSON-RPC 2.0, as SPDK\'s rpc.py does.\n' +
  'Params are given as --NAME VALUE (names with - or _; a boolean also as a bare --NAME), or all at once\n' +
  'as --json \'{"name": value}\'. A bare --json prints the result as JSON instead of a table.\n' +
  'Options of wstor rpc itself go before METHOD. "wstor rpc METHOD --help" shows METHOD\'s params.\n\n' +
  'Examples: wstor rpc --help\n' +
  '          wstor rpc bdev_get_bdevs --json\n' +
  '          wstor rpc -s /tmp/w.sock bdev_malloc_create --name m0 --num-blocks 1024 --block-size 4096', SPECS);

/** -s: a unix socket path, or HOST:PORT ([::1]:PORT for IPv6) when it has no slash and ends in a port. */
export function parseTarget(text: string): RpcTarget {
  const m = /^(\[[^\]]+\]|[^/:]+):(\d+)$/.exec(text);
  if (!m) return { socket: text };
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new UsageError(`-s ${text}: the port must be 1 to 65535`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

function parseTimeoutMs(text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > TIMEOUT_MAX_SECONDS) {
    throw new UsageError(`--timeout takes seconds, more than 0 and at most ${TIMEOUT_MAX_SECONDS} (got "${text}")`);
  }
  return Math.ceil(seconds * 1000);
}

/** An error response from `method`, as the user sees it. */
function reportFailure(method: string, err: RpcError): number {
  process.stderr.write(`wstor rpc: ${method} failed: ${err.message} (code ${err.code})\n`);
  return 1;
}

/** `wstor rpc --help`: the usage, then the server's methods (an error, after the usage, if there is no server). */
async function listMethods(target: RpcTarget, timeoutMs: number): Promise<number> {
  process.stdout.write(rpcUsage);
  const client = await RpcClient.connect(target, { timeoutMs });
  try {
    const methods = checkMethodTable(await client.call(DESCRIBE_METHOD, {}));
    const where = 'socket' in target ? target.socket : `${target.host}:${target.port}`;
    const width = Math.max(0, ...methods.map((m) => m.name.length));
    const rows = methods.map((m) => `  ${m.name.padEnd(width)}  ${m.description}\n`).join('');
    process.stdout.write(`\nmethods of the wstor server at ${where}:\n${rows}`);
    return 0;
  } catch (err) {
    if (err instanceof RpcError) return reportFailure(DESCRIBE_METHOD, err);
    throw err;
  } finally {
    client.close();
  }
}

/** METHOD's description from the server; null when the server does not describe its methods. */
async function describe(client: RpcClient, method: string): Promise<MethodSpec | null> {
  let table: MethodSpec[];
  try {
    table = checkMethodTable(await client.call(DESCRIBE_METHOD, { method }));
  } catch (err) {
    // Either rpc_get_method_params or METHOD is unknown; calling METHOD without a table tells which.
    if (err instanceof RpcError && err.code === METHOD_NOT_FOUND) return null;
    throw err;
  }
  const spec = table.find((m) => m.name === method);
  if (!spec) throw new UsageError(`the server has no method ${method} ("wstor rpc --help" lists them)`);
  return spec;
}

async function callMethod(client: RpcClient, method: string, argv: string[]): Promise<number> {
  let spec: MethodSpec | null;
  try {
    spec = await describe(client, method);
  } catch (err) {
    if (err instanceof RpcError) return reportFailure(DESCRIBE_METHOD, err);
    throw err;
  }
  const args = parseMethodArgs(method, spec, argv);
  if (args.help) {
    if (!spec) throw new WstorError('ENOTSUP', `the server does not describe its methods (no ${DESCRIBE_METHOD}), so there is no help for ${method}`);
    process.stdout.write(methodHelp(spec));
    return 0;
  }
  let result: unknown;
  try {
    result = await client.call(method, args.params);
  } catch (err) {
    if (err instanceof RpcError) return reportFailure(method, err);
    throw err;
  }
  process.stdout.write(args.rawOutput ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result));
  return 0;
}

export async function rpcCommand(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, SPECS, { stopAtFirstPositional: true });
  const [method, ...methodArgv] = rest;
  const target = parseTarget(String(flags.socket));
  const timeoutMs = parseTimeoutMs(String(flags.timeout));
  if (flags.help) return listMethods(target, timeoutMs);
  if (method === undefined) throw new UsageError('name a METHOD to call ("wstor rpc --help" lists the server\'s methods)');
  const client = await RpcClient.connect(target, { timeoutMs });
  try {
    return await callMethod(client, method, methodArgv);
  } catch (err) {
    // A mistake in METHOD's arguments: show METHOD's params, not wstor rpc's own usage.
    if (!(err instanceof MethodUsageError)) throw err;
    process.stderr.write(`wstor rpc: ${err.message}\n\n${err.help}`);
    return 2;
  } finally {
    client.close();
  }
}
