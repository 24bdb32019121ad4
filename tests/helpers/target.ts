// A real target behind an in-process RPC server on a temp unix socket (what `wstor serve` runs, without the
// child process): the engine, the method table and the server, for raw socket clients to drive.
import fs from 'node:fs';
import path from 'node:path';
import { Engine, type EngineOptions } from '../../host/index.js';
import { Target } from '../../host/serve/target.js';
import { MethodTable } from '../../host/rpc/methods/index.js';
import type { Method } from '../../host/rpc/methods/types.js';
import { RpcServer, type RpcServerOptions } from '../../host/rpc/index.js';
import { RawClient, tempDir, type LogLine } from './rpc.js';

export interface TestTarget {
  engine: Engine; target: Target; methods: MethodTable; server: RpcServer; socketPath: string; dir: string;
  /** What the engine and the server logged (the engine's reports at info and above). */
  logs: LogLine[];
  connect(): Promise<RawClient>;
  stop(): Promise<void>;
}

export async function startTarget(opts: { engine?: EngineOptions; server?: RpcServerOptions; methods?: Method[] } = {}): Promise<TestTarget> {
  const dir = tempDir('wstor-target-');
  const logs: LogLine[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'info', stopTimeoutMs: 5000,
    onReport: (r) => logs.push({ level: r.level === 'fatal' || r.level === 'error' ? 'error' : r.level === 'warn' ? 'warn' : 'info', message: r.message }),
    ...opts.engine });
  const target = new Target(engine);
  const methods = new MethodTable(target, opts.methods);
  const server = new RpcServer({ call: (m, p) => methods.call(m, p) }, { log: (level, message) => logs.push({ level, message }), ...opts.server });
  const socketPath = path.join(dir, 'rpc.sock');
  await server.listenUnix(socketPath);
  return {
    engine, target, methods, server, socketPath, dir, logs,
    connect: () => RawClient.connect(socketPath),
    async stop() {
      try {
        await server.close();
        await engine.lvol.unloadAll();
      } finally {
        await engine.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
