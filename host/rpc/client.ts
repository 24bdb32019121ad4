// A JSON-RPC 2.0 client for wstor's RPC server (or SPDK's framing anywhere): several calls in flight on one
// connection, matched to their answers by id, each bounded by a timeout.
import net from 'node:net';
import { WstorError } from '../errors.js';
import { RpcError } from './errors.js';
import { JsonSplitter } from './json-stream.js';

/** rpc.py waits 60 s for an answer by default; so do we. */
export const RPC_CLIENT_TIMEOUT_MS = 60_000;
/** Responses can list every bdev or blob, so they may be larger than requests. */
export const RPC_RESPONSE_MAX_BYTES = 64 << 20;
/** The socket wstor serve listens on unless told otherwise. */
export const RPC_DEFAULT_SOCKET = '/var/tmp/wstor.sock';

export type RpcTarget = { socket: string } | { host: string; port: number };

export interface RpcClientOptions {
  /** Bound on connecting and on each call. */
  timeoutMs?: number;
  maxResponseBytes?: number;
}

interface Pending {
  method: string;
  resolve(result: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

function describe(target: RpcTarget): string {
  return 'socket' in target ? target.socket : `${target.host}:${target.port}`;
}

/** What a failed connect means for the user, and what to try. */
function connectError(target: RpcTarget, err: NodeJS.ErrnoException): WstorError {
  const where = describe(target);
  const pick = 'socket' in target ? 'use -s to pick the socket' : 'use -s HOST:PORT to pick the address';
  switch (err.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new WstorError(err.code, `no wstor server at ${where} (is \`wstor serve\` running? ${pick})`);
    case 'EACCES':
      return new WstorError('EACCES', `permission denied on ${where}: the RPC socket is for the user that started wstor serve`);
    default:
      return new WstorError(err.code ?? 'EIO', `cannot connect to the wstor server at ${where}: ${err.message}`);
  }
}

export class RpcClient {
  private readonly pending = new Map<number, Pending>();
  private readonly splitter: JsonSplitter;
  private nextId = 1;
  private broken: Error | null = null;

  private constructor(private readonly socket: net.Socket, private readonly where: string, private readonly timeoutMs: number,
    maxResponseBytes: number) {
    this.splitter = new JsonSplitter({ maxValueBytes: maxResponseBytes });
    socket.on('data', (chunk: Buffer) => { this.splitter.push(chunk); this.takeResponses(); });
    socket.on('error', (err) => this.fail(new WstorError('EIO', `connection to the wstor server at ${where} failed: ${err.message}`)));
    socket.on('close', () => this.fail(new WstorError('ECONNRESET', `the wstor server at ${where} closed the connection`)));
  }

  static connect(target: RpcTarget, options: RpcClientOptions = {}): Promise<RpcClient> {
    const timeoutMs = options.timeoutMs ?? RPC_CLIENT_TIMEOUT_MS;
    const maxResponseBytes = options.maxResponseBytes ?? RPC_RESPONSE_MAX_BYTES;
    return new Promise((resolve, reject) => {
      const socket = 'socket' in target ? net.connect(target.socket) : net.connect(target.port, target.host);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new WstorError('ETIMEDOUT', `no answer from ${describe(target)} within ${timeoutMs} ms of connecting (is it a wstor server?)`));
      }, timeoutMs);
      socket.once('error', (err) => { clearTimeout(timer); reject(connectError(target, err)); });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RpcClient(socket, describe(target), timeoutMs, maxResponseBytes));
      });
    });
  }

  /** Call `method`; resolves with its result, rejects with RpcError for an error response, WstorError otherwise. */
  call(method: string, params?: Record<string, unknown> | unknown[]): Promise<unknown> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    const request = params === undefined ? { jsonrpc: '2.0', method, id } : { jsonrpc: '2.0', method, params, id };
    const text = JSON.stringify(request);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new WstorError('ETIMEDOUT', `${method}: no answer from the wstor server at ${this.where} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.socket.write(text);
    });
  }

  /** Close the connection; calls still waiting are rejected. */
  close(): void {
    this.fail(new WstorError('ECANCELED', 'the RPC client was closed'));
    this.socket.destroy();
  }

  private takeResponses(): void {
    for (;;) {
      let value: unknown;
      try {
        value = this.splitter.next();
      } catch (err) {
        this.fail(new WstorError('EPROTO', `the wstor server at ${this.where} sent a bad response: ${(err as Error).message}`));
        this.socket.destroy();
        return;
      }
      if (value === undefined) return;
      this.settle(value);
    }
  }

  private settle(value: unknown): void {
    const response = value as { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } };
    const error = response.error;
    const rpcError = typeof error === 'object' && error !== null
      ? new RpcError(typeof error.code === 'number' && Number.isInteger(error.code) ? error.code : 0, String(error.message ?? 'no message'), error.data)
      : null;
    const pending = typeof response.id === 'number' ? this.pending.get(response.id) : undefined;
    if (!pending) {
      // id null: the server could not tell which request failed (it closes the connection after), so all have.
      if (rpcError && (response.id === null || response.id === undefined)) this.fail(rpcError);
      return; // else the answer to a call that timed out
    }
    this.pending.delete(response.id as number);
    clearTimeout(pending.timer);
    if (rpcError) pending.reject(rpcError);
    else pending.resolve(response.result);
  }

  /** Reject every waiting call with `err`, and every later one. */
  private fail(err: Error): void {
    this.broken ??= err;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }
}
