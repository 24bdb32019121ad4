// RPC test helpers: a fake dispatcher with a few methods (echo, failures, slow and gated calls), a server on a
// temp unix socket, and a raw socket client that reads JSON values as the server writes them.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WstorError } from '../../host/errors.js';
import { INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, RpcServer, JsonSplitter } from '../../host/rpc/index.js';
import type { RpcConnectionInfo, RpcDispatcher, RpcLogLevel, RpcServerOptions } from '../../host/rpc/index.js';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A call held until the test releases it. */
export interface Gate { method: string; params: unknown; release(result?: unknown): void }

/** 'x' repeated `count` times; the same string each time it is asked for (big answers without big memory). */
const fillers = new Map<number, string>();
function filler(count: number): string {
  let text = fillers.get(count);
  if (text === undefined) { text = 'x'.repeat(count); fillers.set(count, text); }
  return text;
}

export class FakeDispatcher implements RpcDispatcher {
  readonly calls: { method: string; params: unknown; conn: RpcConnectionInfo }[] = [];
  readonly gates: Gate[] = [];
  running = 0;
  runningMax = 0;
  private gateWaiters: (() => void)[] = [];

  async call(method: string, params: unknown, conn: RpcConnectionInfo): Promise<unknown> {
    this.calls.push({ method, params, conn });
    this.running++;
    this.runningMax = Math.max(this.runningMax, this.running);
    try {
      return await this.run(method, params);
    } finally {
      this.running--;
    }
  }

  /** Resolves once `count` gated calls are waiting. */
  async gated(count: number): Promise<Gate[]> {
    while (this.gates.length < count) await new Promise<void>((resolve) => this.gateWaiters.push(resolve));
    return this.gates.slice(0, count);
  }

  private async run(method: string, params: unknown): Promise<unknown> {
    const p = (params ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'echo': return params;
      case 'nothing': return undefined;
      case 'sleep': await new Promise((r) => setTimeout(r, Number(p.ms))); return p.ms;
      case 'bytes': return filler(Number(p.count));
      case 'gate': return new Promise((resolve) => {
        this.gates.push({ method, params, release: (result?: unknown) => resolve(result ?? 'released') });
        for (const w of this.gateWaiters.splice(0)) w();
      });
      case 'fail_wstor': throw new WstorError('EINVAL', 'size must be a multiple of 4096');
      case 'fail_errno': throw WstorError.fromErrno(-28, 'create blob');
      case 'fail_params': throw new RpcError(INVALID_PARAMS, 'missing "name"', { param: 'name' });
      case 'fail_type': throw new TypeError('cannot read properties of undefined');
      case 'fail_string': throw 'a string';
      case 'big_int': return { small: 5n, huge: 2n ** 64n - 1n };
      case 'circular': { const o: Record<string, unknown> = {}; o.self = o; return o; }
      case 'list': return Array.from({ length: Number(p.count) }, (_, i) => ({ i, pad: 'y'.repeat(Number(p.pad ?? 0)) }));
      case 'bad_json': return { toJSON() { throw new TypeError('this value has no JSON form'); } };
      default: throw new RpcError(METHOD_NOT_FOUND, `Method not found: ${method}`);
    }
  }
}

export interface LogLine { level: RpcLogLevel; message: string }

export async function startServer(dir: string, options: RpcServerOptions = {}, name = 'wstor.sock') {
  const dispatcher = new FakeDispatcher();
  const logs: LogLine[] = [];
  const server = new RpcServer(dispatcher, { log: (level, message) => logs.push({ level, message }), ...options });
  const socketPath = path.join(dir, name);
  await server.listenUnix(socketPath);
  return { server, dispatcher, logs, socketPath };
}

/** A plain socket that collects the JSON values the server sends, and notes when it closes. */
export class RawClient {
  readonly values: unknown[] = [];
  readonly closed: Promise<void>;
  private readonly splitter = new JsonSplitter({ maxValueBytes: 64 << 20 });
  private waiters: (() => void)[] = [];

  constructor(readonly socket: net.Socket) {
    socket.on('error', () => { /* resets are part of some tests; 'close' follows */ });
    socket.on('data', (chunk: Buffer) => {
      this.splitter.push(chunk);
      for (let v = this.splitter.next(); v !== undefined; v = this.splitter.next()) this.values.push(v);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => { for (const w of this.waiters.splice(0)) w(); resolve(); }));
  }

  static connect(target: string | number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = typeof target === 'string' ? net.connect(target) : net.connect(target, '127.0.0.1');
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(value: unknown): void { this.socket.write(typeof value === 'string' ? value : JSON.stringify(value)); }

  /** Resolves with the first `count` values once they have arrived; rejects if the socket closes first. */
  async take(count: number, timeoutMs = 5000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.values.length < count) {
      if (this.socket.destroyed) throw new Error(`closed after ${this.values.length} of ${count} values: ${JSON.stringify(this.values)}`);
      if (Date.now() > deadline) throw new Error(`${this.values.length} of ${count} values within ${timeoutMs} ms: ${JSON.stringify(this.values)}`);
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 50); });
    }
    return this.values.splice(0, count);
  }

  async call(method: string, params?: unknown, id: number | string | null = 1): Promise<unknown> {
    this.send({ jsonrpc: '2.0', method, params, id });
    return (await this.take(1))[0];
  }
}

export function request(method: string, id?: unknown, params?: unknown): Record<string, unknown> {
  const r: Record<string, unknown> = { jsonrpc: '2.0', method };
  if (params !== undefined) r.params = params;
  if (id !== undefined) r.id = id;
  return r;
}

/** Resolves when `check` is true, polling; rejects after timeoutMs. */
export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
