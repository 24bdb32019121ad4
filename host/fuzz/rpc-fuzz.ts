// `wstor fuzz rpc`: every JSON-RPC method called with params made from its own schema (rpc-params.ts)
// against a real engine and target, in process. No coverage guides it (the methods are host code,
// outside the instrumented core): it is random fuzzing in the manner of SPDK's nvme_fuzz, over the
// whole method table. Findings, in libFuzzer's shape: a crash is a handler that threw something no
// handler means to throw (a TypeError: "bad input gets a clear error" broken) or a reactor that
// trapped; a timeout is a call that did not answer within -timeout. Calls change the target's state,
// so an input is the sequence of calls since the engine started (a JSON array of {method, params}),
// and the engine starts afresh every CALLS_PER_ENGINE calls and after every finding.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../index.js';
import { Target } from '../serve/target.js';
import { MethodTable } from '../rpc/methods/index.js';
import type { Method } from '../rpc/methods/types.js';
import { RpcError } from '../rpc/errors.js';
import type { FuzzOptions } from './options.js';
import { Findings, baseStats, type FuzzStats, type FindingKind } from './runner.js';
import { Progress } from './progress.js';
import { RPC_TARGET } from './targets.js';
import { FuzzRng } from './rng.js';
import { rpcCall, RpcNames, type RpcCall } from './rpc-params.js';

const CALLS_PER_ENGINE = 200;
/** Methods a fuzzed call must not reach: none today (wstor has no spdk_kill_instance); kept as the one place to say so. */
const EXCLUDED = new Set<string>();

interface Io { err: { write(s: string): unknown; isTTY?: boolean } }
type CallOutcome = { kind: 'ok' } | { kind: FindingKind; message: string };

/** A started engine with its target and method table, and the first fatal report it made. */
class Live {
  private constructor(readonly engine: Engine, readonly methods: MethodTable, private readonly reported: { fatal: string | null }) {}

  get fatal(): string | null { return this.reported.fatal; }

  static async start(extra: Method[]): Promise<Live> {
    const reported: { fatal: string | null } = { fatal: null };
    const engine = await Engine.start({
      reactors: 2, memoryBytes: 256 << 20, logLevel: 'fatal', stopTimeoutMs: 5000,
      onReport: (r) => { if (r.level === 'fatal') reported.fatal ??= r.message; },
    });
    return new Live(engine, new MethodTable(new Target(engine), extra), reported);
  }

  async stop(): Promise<void> {
    try { await this.engine.lvol.unloadAll(); } catch { /* the engine may be the thing that failed */ }
    try { await this.engine.stop(); } catch { /* a trapped reactor: reported as the finding already */ }
  }
}

async function runCall(live: Live, call: RpcCall, timeoutMs: number, names: RpcNames | null): Promise<CallOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
  try {
    const result = await Promise.race([live.methods.call(call.method, call.params), timeout]);
    if (result === 'timeout') return { kind: 'timeout', message: `${call.method} did not answer within ${timeoutMs / 1000} s` };
    names?.learn(result);
  } catch (err) {
    if (!(err instanceof RpcError)) return { kind: 'crash', message: `${call.method} rejected with a ${(err as Error)?.name ?? typeof err}, not an RpcError: ${String(err)}` };
    if (err.unexpected) return { kind: 'crash', message: `${call.method}: an unexpected exception reached the client as "internal error": ${err.stack ?? err.message}` };
  } finally {
    clearTimeout(timer);
  }
  const trapped = live.engine.error?.message ?? live.fatal;
  if (trapped) return { kind: 'crash', message: `${call.method}: the engine failed: ${trapped}` };
  return { kind: 'ok' };
}

const encode = (calls: RpcCall[]) => new TextEncoder().encode(JSON.stringify(calls, null, 1));

/** Fuzz (directories or none) or replay (files: each a JSON array of calls, run from a fresh engine). */
export async function fuzzRpc(o: FuzzOptions, io: Io, extra: Method[] = []): Promise<FuzzStats> {
  const replay = o.paths.filter((p) => fs.existsSync(p) && fs.statSync(p).isFile());
  const seed = o.seed || (Date.now() % 0xffffffff) >>> 0 || 1;
  const stats = baseStats(o, replay.length > 0 ? 'replay' : 'fuzz', seed);
  const progress = new Progress(io.err);
  const findings = new Findings(replay.length > 0 ? null : o.artifactPrefix, progress, RPC_TARGET.name);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-fuzz-rpc-'));
  const t0 = performance.now();
  const timeoutMs = o.timeoutS * 1000;
  const report = () => ({ execs: stats.execs, edges: 0, features: 0, inputs: 0, bytes: 0, findings: findings.list.length, seconds: (performance.now() - t0) / 1000 });
  try {
    if (replay.length > 0) {
      for (const file of replay) {
        const calls = JSON.parse(fs.readFileSync(file, 'utf8')) as RpcCall[];
        const live = await Live.start(extra);
        let outcome: CallOutcome = { kind: 'ok' };
        for (const call of calls) { stats.execs++; outcome = await runCall(live, call, timeoutMs, null); if (outcome.kind !== 'ok') break; }
        await live.stop();
        if (outcome.kind !== 'ok') findings.add(outcome.kind, fs.readFileSync(file), outcome.message);
        else io.err.write(`Executed ${file}: ${calls.length} calls, all answered cleanly\n`);
      }
    } else {
      const rng = new FuzzRng(seed);
      const deadline = o.maxTotalTimeS > 0 ? Date.now() + o.maxTotalTimeS * 1000 : Infinity;
      const runs = o.runs < 0 ? Infinity : o.runs;
      let live = await Live.start(extra);
      const schemas = live.methods.schemas().filter((s) => !EXCLUDED.has(s.name));
      let names = new RpcNames();
      let history: RpcCall[] = [];
      progress.event('INITED', report());
      while (stats.execs < runs && Date.now() < deadline) {
        const call = rpcCall(schemas[rng.int(schemas.length)], rng, names, scratch);
        history.push(call);
        stats.execs++;
        const outcome = await runCall(live, call, timeoutMs, names);
        const restart = outcome.kind !== 'ok' || history.length >= CALLS_PER_ENGINE;
        if (outcome.kind !== 'ok' && findings.add(outcome.kind, encode(history), outcome.message) && !(outcome.kind === 'timeout' ? o.ignoreTimeouts : o.ignoreCrashes)) break;
        if (restart) {
          await live.stop();
          fs.rmSync(scratch, { recursive: true, force: true });
          fs.mkdirSync(scratch, { recursive: true });
          live = await Live.start(extra);
          names = new RpcNames();
          history = [];
        }
        progress.tick(report());
      }
      await live.stop();
      progress.event('DONE', report());
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  stats.seconds = (performance.now() - t0) / 1000;
  stats.execsPerSec = Math.round(stats.execs / Math.max(stats.seconds, 1e-3));
  stats.findings = findings.list;
  stats.exitCode = findings.exitCode();
  return stats;
}
