// `wstor serve`: a long-running target like SPDK's spdk_tgt. It starts the engine, replays a JSON
// config (or the embedded default), answers JSON-RPC on a unix socket (and TCP on request), logs to
// stderr, and on SIGINT/SIGTERM stops taking RPCs, lets running calls answer, unloads every lvstore
// cleanly and exits 0 (after an internal error nothing caught: the same stop, then exit 70).
import fs from 'node:fs';
import '../platform-node.js';        // Node is the default platform of the engine it starts
import { Engine } from '../engine.js';
import type { Report, LevelName } from '../core-abi.js';
import { WstorError } from '../errors.js';
import { RpcServer } from '../rpc/server.js';
import { RPC_DEFAULT_SOCKET } from '../rpc/client.js';
import { MethodTable } from '../rpc/methods/index.js';
import { SUBSYSTEMS } from '../rpc/methods/framework.js';
import { Target } from '../serve/target.js';
import { parseConfig, replayConfig, type JsonConfig } from '../serve/config.js';
import { UsageError, parseFlags, parseSize, usageText, type FlagSpec } from './args.js';

const SPECS: FlagSpec[] = [
  { name: 'config', short: 'c', kind: 'string', help: 'JSON config to replay at start (SPDK\'s format); default: the embedded demo config' },
  { name: 'no-config', kind: 'boolean', help: 'start empty (no config at all)' },
  { name: 'rpc-socket', short: 'r', kind: 'string', help: 'unix socket for JSON-RPC', default: RPC_DEFAULT_SOCKET },
  { name: 'rpc-listen', kind: 'string', help: 'also answer JSON-RPC on TCP HOST:PORT (loopback only unless --rpc-listen-any)' },
  { name: 'rpc-listen-any', kind: 'boolean', help: 'allow --rpc-listen on a non-loopback address (anyone who reaches it controls the target)' },
  { name: 'cpumask', short: 'm', kind: 'string', help: 'reactor CPUs: a core mask (0x3) or list ([0-1]); default: every CPU allowed' },
  { name: 'mem', kind: 'string', help: 'shared memory size, e.g. 512MiB', default: '256MiB' },
  { name: 'vhost-socket-dir', short: 'S', kind: 'string', help: 'directory for vhost-user controller sockets (default: the working directory)' },
  { name: 'vhost-socket-mode', kind: 'string', help: 'permissions of vhost-user sockets, octal, whatever the umask (whoever may connect is trusted with a disk)', default: '0600' },
  { name: 'wait-for-rpc', kind: 'boolean', help: 'wait for framework_start_init before loading the config' },
  { name: 'log-level', short: 'L', kind: 'string', help: 'lowest level logged: error, warn, notice, info, debug', default: 'notice' },
  { name: 'sleep', kind: 'string', help: 'where idle reactors sleep: kernel (in io_uring: I/O and vhost kicks wake them) or doorbell (they poll)', default: 'kernel' },
  { name: 'idle-spin-us', kind: 'integer', help: 'µs a reactor with nothing to do polls before it sleeps (then a guest kick or a completion wakes it)', default: 10 },
];

export const serveUsage = usageText('serve [options]', 'Run a storage target that answers SPDK\'s JSON-RPC (stop it with Ctrl-C or SIGTERM).', SPECS);

/** The embedded default: a malloc bdev carrying an lvstore with one lvol (what `npm start` serves). */
export const DEFAULT_CONFIG: JsonConfig = {
  subsystems: [{
    subsystem: 'bdev',
    config: [
      { method: 'bdev_malloc_create', params: { name: 'Malloc0', num_blocks: 16384, block_size: 4096 } },
      { method: 'bdev_lvol_create_lvstore', params: { bdev_name: 'Malloc0', lvs_name: 'lvs0' } },
      { method: 'bdev_lvol_create', params: { lvs_name: 'lvs0', lvol_name: 'lvol0', size_in_mib: 32, thin_provision: true } },
      { method: 'bdev_wait_for_examine', params: {} },
    ],
  }],
};

export interface ServeOptions {
  configFile?: string; noConfig: boolean; socket: string; listen?: { host: string; port: number }; listenAny: boolean;
  cpus?: string; memoryBytes: number; waitForRpc: boolean; logLevel: LevelName; vhostSocketDir?: string; vhostSocketMode: number;
  sleep: 'kernel' | 'doorbell'; idleSpinUs: number;
}

const LEVELS: LevelName[] = ['error', 'warn', 'notice', 'info', 'debug'];

export function parseServeArgs(argv: string[]): ServeOptions | null {
  if (argv.includes('--help') || argv.includes('-h')) return null;
  const { flags, rest } = parseFlags(argv, SPECS);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (flags.config !== undefined && flags['no-config']) throw new UsageError('give --config or --no-config, not both');
  const logLevel = flags['log-level'] as LevelName;
  if (!LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')} (got "${logLevel}")`);
  const sleep = flags.sleep as string;
  if (sleep !== 'kernel' && sleep !== 'doorbell') throw new UsageError(`--sleep must be kernel or doorbell (got "${sleep}")`);
  const idleSpinUs = flags['idle-spin-us'] as number;
  if (idleSpinUs > 1_000_000) throw new UsageError(`--idle-spin-us must be from 0 to 1000000 (got ${idleSpinUs})`);
  const mode = flags['vhost-socket-mode'] as string;
  if (!/^0?[0-7]{3}$/.test(mode)) throw new UsageError(`--vhost-socket-mode must be an octal mode from 0000 to 0777, e.g. 0660 (got "${mode}")`);
  let listen: ServeOptions['listen'];
  if (flags['rpc-listen'] !== undefined) {
    const m = /^(.+):(\d{1,5})$/.exec(flags['rpc-listen'] as string);
    if (!m || Number(m[2]) > 65535) throw new UsageError(`--rpc-listen takes HOST:PORT, e.g. 127.0.0.1:5260 (got "${flags['rpc-listen']}")`);
    listen = { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
  }
  return {
    configFile: flags.config as string | undefined, noConfig: flags['no-config'] === true, socket: flags['rpc-socket'] as string, listen,
    listenAny: flags['rpc-listen-any'] === true, cpus: flags.cpumask as string | undefined,
    memoryBytes: parseSize(flags.mem as string, '--mem'), waitForRpc: flags['wait-for-rpc'] === true, logLevel,
    vhostSocketDir: flags['vhost-socket-dir'] as string | undefined, vhostSocketMode: parseInt(mode, 8), sleep, idleSpinUs,
  };
}

function stderrLine(r: Report): void {
  const who = r.source === 'control' ? 'host' : `reactor ${r.source}`;
  process.stderr.write(`[${new Date().toISOString()}] ${r.level.padEnd(6)} ${who}: ${r.message}\n`);
}

/** Load the config the options name (the default one when none). */
function configOf(opts: ServeOptions): { config: JsonConfig; source: string } | null {
  if (opts.noConfig) return null;
  if (opts.configFile === undefined) return { config: DEFAULT_CONFIG, source: '(embedded default)' };
  let text: string;
  try { text = fs.readFileSync(opts.configFile, 'utf8'); } catch (err) {
    throw new WstorError('ENOENT', `cannot read config ${opts.configFile}: ${(err as Error).message}`);
  }
  return { config: parseConfig(text, opts.configFile), source: opts.configFile };
}

/** A running `wstor serve`: for the CLI and for tests that run it in-process. */
export class Serve {
  private stopped: Promise<void> | null = null;

  private constructor(readonly engine: Engine, readonly target: Target, readonly methods: MethodTable, readonly server: RpcServer) {}

  static async start(opts: ServeOptions): Promise<Serve> {
    const loaded = configOf(opts);                     // a bad file fails before anything starts
    const engine = await Engine.start({ cpus: opts.cpus, memoryBytes: opts.memoryBytes, logLevel: opts.logLevel, onReport: stderrLine,
      sleep: opts.sleep, idleSpinUs: opts.idleSpinUs });
    if (opts.vhostSocketDir !== undefined) {
      if (!fs.existsSync(opts.vhostSocketDir) || !fs.statSync(opts.vhostSocketDir).isDirectory()) {
        await engine.stop();
        throw new WstorError('ENOENT', `-S ${opts.vhostSocketDir}: not a directory (create it first)`);
      }
      engine.vhost.socketDir = opts.vhostSocketDir;
    }
    engine.vhost.socketMode = opts.vhostSocketMode;
    const target = new Target(engine, { waitForRpc: opts.waitForRpc });
    const methods = new MethodTable(target);
    const server = new RpcServer({ call: (m, p) => methods.call(m, p) }, {
      log: (level, message) => engine.log(level === 'warn' ? 'warn' : level, `rpc: ${message}`),
    });
    const serve = new Serve(engine, target, methods, server);
    try {
      await server.listenUnix(opts.socket);
      if (opts.listen) await server.listenTcp(opts.listen.host, opts.listen.port, { allowAny: opts.listenAny });
      if (loaded) {
        await target.waitInit();
        const t0 = performance.now();
        const n = await replayConfig(loaded.config, loaded.source, SUBSYSTEMS.map((s) => s.subsystem),
          (m, p) => methods.call(m, p), (msg) => engine.log('notice', msg));
        engine.log('notice', `config ${loaded.source}: ${n} entries in ${(performance.now() - t0).toFixed(0)} ms`);
      }
    } catch (err) {
      await serve.stop().catch(() => undefined);
      throw err;
    }
    return serve;
  }

  /** Stop taking RPCs, answer those running, unload every lvstore cleanly, stop the engine. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.server.stopAccepting();
      this.target.beginStop();
      await this.server.close();
      try {
        await this.engine.vhost.deleteAll();          // guests disconnected: their bdevs close
        await this.engine.lvol.unloadAll();
      } finally { await this.engine.stop(); }
    })();
    return this.stopped;
  }
}

/** Exit status after the last-resort handler ran (sysexits' EX_SOFTWARE: an internal error). */
export const SERVE_INTERNAL_ERROR_EXIT = 70;
/** How long the last-resort handler lets the stop (RPCs answered, lvstores unloaded) take before it exits anyway. */
export const LAST_RESORT_STOP_MS = 30_000;

/**
 * The last resort for an exception nothing caught (a bug: a failing request is an error answer and never
 * gets here): log it, stop taking RPCs, unload every lvstore cleanly, stop the engine and exit with
 * SERVE_INTERNAL_ERROR_EXIT, rather than die mid-write with stores left dirty. A second one while stopping
 * is logged and the stop carries on; the stop is bounded by LAST_RESORT_STOP_MS. Returns the uninstaller.
 */
export function installLastResort(serve: Serve, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  let stopping = false;
  const handler = (err: unknown, origin: string) => {
    const what = err instanceof Error ? (err.stack ?? err.message) : String(err);
    serve.engine.log('error', `wstor serve: ${origin}: ${what}`);
    if (stopping) return;
    stopping = true;
    serve.engine.log('error', `wstor serve: stopping after an internal error: RPCs refused, lvstores unloaded, exit ${SERVE_INTERNAL_ERROR_EXIT}`);
    const timer = setTimeout(() => {
      serve.engine.log('error', `wstor serve: the stop took over ${LAST_RESORT_STOP_MS} ms; exiting without it`);
      exit(SERVE_INTERNAL_ERROR_EXIT);
    }, LAST_RESORT_STOP_MS);
    serve.stop()
      .then(() => serve.engine.log('notice', 'wstor serve: lvstores unloaded after the internal error'))
      .catch((stopErr: Error) => serve.engine.log('error', `wstor serve: stopping after the internal error: ${stopErr.message}`))
      .finally(() => { clearTimeout(timer); exit(SERVE_INTERNAL_ERROR_EXIT); });
  };
  const onException = (err: Error) => handler(err, 'uncaught exception');
  const onRejection = (reason: unknown) => handler(reason, 'unhandled promise rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => { process.off('uncaughtException', onException); process.off('unhandledRejection', onRejection); };
}

export async function serveCommand(argv: string[]): Promise<number> {
  const opts = parseServeArgs(argv);
  if (opts === null) { process.stdout.write(serveUsage); return 0; }
  const serve = await Serve.start(opts);
  const uninstall = installLastResort(serve);
  const where = opts.socket === RPC_DEFAULT_SOCKET ? '' : ` -s ${opts.socket}`;
  serve.engine.log('notice', `wstor serve: ready on ${opts.socket}${opts.listen ? ` and ${opts.listen.host}:${opts.listen.port}` : ''}; ` +
    `try: wstor rpc${where} bdev_get_bdevs (Ctrl-C stops)`);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      serve.engine.log('notice', `${sig}: stopping (RPCs refused, lvstores unloaded cleanly)`);
      process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await serve.stop();
  uninstall();
  serve.engine.log('notice', 'wstor serve: stopped cleanly');
  return 0;
}
