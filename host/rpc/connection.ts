// One client connection of the RPC server: reads requests with backpressure, runs them concurrently through
// the dispatcher, writes each response as it completes, and closes a connection that is idle or stuck.
import type net from 'node:net';
import { INTERNAL_ERROR, INVALID_REQUEST, RpcError, toRpcError } from './errors.js';
import { JsonSplitter } from './json-stream.js';
import { checkRequest, encodeResponse, errorResponse, resultResponse, type RpcRequest } from './protocol.js';
import type { RpcConnectionInfo, RpcDispatcher, RpcLog } from './server.js';

/** The most requests one batch may hold; a batch's requests run at once, so this bounds them too. */
export const RPC_BATCH_MAX = 64;

export interface ConnectionLimits {
  /** Stop reading once this many calls are running; a batch counts each of its requests. */
  maxInFlight: number;
  maxRequestBytes: number;
  /** Close after this long without a complete request while nothing runs, or with output the client does not read. */
  idleTimeoutMs: number;
  /** Close a client that leaves more than this many bytes of responses unread. */
  maxOutputBytes: number;
  /** After a bad request closes the stream, how long calls already running may take to answer. */
  closeGraceMs: number;
}

export interface ConnectionHooks {
  log: RpcLog;
  /** Called for every request, a batch's each counted. */
  onRequest(): void;
  onClose(connection: RpcConnection): void;
}

type State = 'open' | 'draining' | 'closed';

export class RpcConnection {
  private readonly splitter: JsonSplitter;
  private state: State = 'open';
  private inFlight = 0;
  private peerEnded = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  readonly closed: Promise<void>;

  constructor(private readonly socket: net.Socket, readonly info: RpcConnectionInfo, private readonly dispatcher: RpcDispatcher,
    private readonly limits: ConnectionLimits, private readonly hooks: ConnectionHooks) {
    this.splitter = new JsonSplitter({ maxValueBytes: limits.maxRequestBytes });
    this.closed = new Promise((resolve) => socket.once('close', () => { this.onClosed(); resolve(); }));
    socket.on('data', (chunk: Buffer) => { this.splitter.push(chunk); this.pump(); });
    socket.on('end', () => { this.peerEnded = true; this.pump(); });
    socket.on('drain', () => { this.touch(); this.pump(); });
    // ECONNRESET, EPIPE and the like are what clients do; the socket is destroyed after 'error' and 'close' follows.
    socket.on('error', (err: NodeJS.ErrnoException) => this.hooks.log('debug', `${this.name}: ${err.code ?? err.message}`));
    this.touch();
  }

  private get name(): string { return `rpc connection ${this.info.id} (${this.info.remote})`; }

  /** Stop reading, let running calls answer for up to graceMs, then close. Resolves once closed. */
  drain(graceMs: number): Promise<void> {
    if (this.state === 'open') {
      this.state = 'draining';
      this.socket.pause();
      this.graceTimer = setTimeout(() => this.destroy(`calls still running ${graceMs} ms after the connection began closing`), graceMs);
      this.graceTimer.unref();
      this.pump();
    }
    return this.closed;
  }

  destroy(why: string): void {
    if (this.state === 'closed') return;
    this.hooks.log('info', `${this.name}: closing: ${why}`);
    this.socket.destroy();
    this.state = 'closed'; // 'close' follows on a later tick; write nothing more meanwhile
  }

  /** Take requests while under the limits; read more only when every buffered byte is used and there is room. */
  private pump(): void {
    if (this.state === 'closed') return;
    let exhausted = false;
    while (this.state === 'open' && this.inFlight < this.limits.maxInFlight && !this.socket.writableNeedDrain) {
      let value: unknown;
      try {
        value = this.splitter.next();
      } catch (err) {
        this.fail(toRpcError(err));
        return;
      }
      if (value === undefined) { exhausted = true; break; }
      this.touch();
      this.run(value);
    }
    if (this.state === 'draining' || this.peerEnded) {
      if (this.inFlight === 0 && (this.state === 'draining' || exhausted)) this.finish();
      return;
    }
    if (exhausted && this.inFlight < this.limits.maxInFlight && !this.socket.writableNeedDrain) this.socket.resume();
    else this.socket.pause();
  }

  /** Nothing more will be read or run: send what is written, then the end of the stream. */
  private finish(): void {
    if (this.peerEnded && this.splitter.midValue) this.hooks.log('debug', `${this.name}: the client ended in the middle of a request`);
    if (!this.socket.writableEnded) this.socket.end();
  }

  /** The stream cannot be read on (bad JSON, too large): say why, answer what runs, then close. */
  private fail(err: RpcError): void {
    this.hooks.log('info', `${this.name}: ${err.message}; closing it`);
    this.write(encodeResponse(errorResponse(null, err)));
    void this.drain(this.limits.closeGraceMs);
  }

  private run(value: unknown): void {
    if (!Array.isArray(value)) {
      this.inFlight++;
      this.respond(value).then((text) => this.completed(1, text), (err) => this.lost(err));
      return;
    }
    if (value.length === 0 || value.length > RPC_BATCH_MAX) {
      this.hooks.onRequest();
      const why = value.length === 0 ? 'an empty batch' : `a batch of ${value.length} requests; the most one batch may hold is ${RPC_BATCH_MAX}`;
      this.write(encodeResponse(errorResponse(null, new RpcError(INVALID_REQUEST, `invalid request: ${why}`))));
      return;
    }
    this.inFlight += value.length;
    Promise.all(value.map((v) => this.respond(v))).then((texts) => {
      const answered = texts.filter((t): t is string => t !== null);
      this.completed(value.length, answered.length > 0 ? `[${answered.join(',')}]` : null);
    }, (err) => this.lost(err));
  }

  private completed(calls: number, text: string | null): void {
    this.inFlight -= calls;
    if (text !== null) this.write(text);
    this.pump();
  }

  /** respond() catches everything a handler does; reaching this is a bug in this file, not a client's doing. */
  private lost(err: unknown): void {
    this.hooks.log('error', `${this.name}: a response was lost: ${(err as Error).stack ?? String(err)}`);
    this.destroy('internal error in the RPC server');
  }

  /** The response text for one request, or null for a notification. Never rejects. */
  private async respond(value: unknown): Promise<string | null> {
    this.hooks.onRequest();
    const checked = checkRequest(value);
    if ('invalid' in checked) return encodeResponse(checked.invalid);
    const { request } = checked;
    try {
      const result = await this.dispatcher.call(request.method, request.params, this.info);
      return request.id === undefined ? null : encodeResponse(resultResponse(request.id, result));
    } catch (err) {
      const rpcErr = toRpcError(err);
      this.logFailure(request, rpcErr, err);
      return request.id === undefined ? null : encodeResponse(errorResponse(request.id, rpcErr));
    }
  }

  private logFailure(request: RpcRequest, rpcErr: RpcError, err: unknown): void {
    const unexpected = rpcErr.code === INTERNAL_ERROR && err instanceof Error && !(err instanceof RpcError);
    const detail = unexpected ? (err.stack ?? rpcErr.message) : `${rpcErr.message} (code ${rpcErr.code})`;
    this.hooks.log(unexpected ? 'warn' : 'debug', `${this.name}: ${request.method} failed: ${detail}`);
  }

  private write(text: string): void {
    if (this.state === 'closed' || this.socket.writableEnded) {
      this.hooks.log('debug', `${this.name}: a response was dropped: the connection is closed`);
      return;
    }
    // One response always goes out; beyond that the client must read what it was sent.
    const pending = this.socket.writableLength;
    if (pending > 0 && pending + text.length > this.limits.maxOutputBytes) {
      this.destroy(`the client left more than ${this.limits.maxOutputBytes} bytes of responses unread`);
      return;
    }
    this.socket.write(text);
  }

  /** Restart the idle clock: a complete request came, or the client read what was pending. */
  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.idle(), this.limits.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private idle(): void {
    const ms = this.limits.idleTimeoutMs;
    if (this.socket.writableLength > 0) this.destroy(`the client read none of its responses for ${ms} ms`);
    else if (this.inFlight > 0) this.touch(); // waiting on our handlers, not on the client
    else this.destroy(`no complete request for ${ms} ms`);
  }

  private onClosed(): void {
    this.state = 'closed';
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.hooks.onClose(this);
  }
}
