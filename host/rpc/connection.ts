// One client connection of the RPC server: reads requests with backpressure, runs them concurrently through
// the dispatcher, writes each response as it completes, bounds the bytes it holds for its client (batches
// included), and closes a connection that is idle or stuck.
import type net from 'node:net';
import { EMSGSIZE, INTERNAL_ERROR, INVALID_REQUEST, RpcError, toRpcError } from './errors.js';
import { encodeWithin, type ByteBudget, type Encoded } from './encode.js';
import { JsonSplitter } from './json-stream.js';
import { checkRequest, encodeResponse, errorResponse, resultResponse, type RpcRequest, type RpcResponse } from './protocol.js';
import type { RpcConnectionInfo, RpcDispatcher, RpcLog } from './server.js';

/** The most requests one batch may hold; a batch's requests run at once, so this bounds them too. */
export const RPC_BATCH_MAX = 64;

export interface ConnectionLimits {
  /** Stop reading once this many calls are running; a batch counts each of its requests. */
  maxInFlight: number;
  maxRequestBytes: number;
  /** Close after this long without a complete request while nothing runs, or with output the client does not read. */
  idleTimeoutMs: number;
  /**
   * The most response bytes the connection may hold for its client: written and unread, plus produced for
   * a batch not yet complete. Also the most one answer may be.
   */
  maxOutputBytes: number;
  /** After a bad request closes the stream, how long calls already running may take to answer. */
  closeGraceMs: number;
}

export interface ConnectionHooks {
  log: RpcLog;
  /** Called for every request, a batch's each counted. */
  onRequest(): void;
  /** The bytes this connection holds for its client just grew to `bytes`. */
  onQueued(bytes: number): void;
  onClose(connection: RpcConnection): void;
}

type State = 'open' | 'draining' | 'closed';

/** A response to send, and the request's method (for messages about it). */
interface Answer { response: RpcResponse; method?: string }
/** An answer as UTF-8 chunks and the bytes reserved for it in the connection's budget. */
interface Produced { chunks: Buffer[]; bytes: number }

export class RpcConnection {
  private readonly splitter: JsonSplitter;
  private state: State = 'open';
  private inFlight = 0;
  private peerEnded = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  /** Bytes of answers produced and not yet handed to the socket (a batch's, until its last member is done). */
  private reservedBytes = 0;
  readonly closed: Promise<void>;

  /** What the connection holds for its client: bytes the socket has not sent yet, and answers not yet written. */
  get queuedBytes(): number { return this.socket.writableLength + this.reservedBytes; }

  private readonly budget: ByteBudget = {
    reserve: (bytes) => {
      const queued = this.queuedBytes + bytes;
      if (queued > this.limits.maxOutputBytes) return false;
      this.reservedBytes += bytes;
      this.hooks.onQueued(queued);
      return true;
    },
    release: (bytes) => {
      this.reservedBytes -= bytes;
      if (this.reservedBytes < 0) throw new Error(`${this.name}: released more answer bytes than were reserved`);
    },
  };

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
    this.sendSmall(errorResponse(null, err));
    void this.drain(this.limits.closeGraceMs);
  }

  private run(value: unknown): void {
    if (!Array.isArray(value)) {
      this.inFlight++;
      this.answerOne(value).catch((err) => this.lost(err));
      return;
    }
    if (value.length === 0 || value.length > RPC_BATCH_MAX) {
      this.hooks.onRequest();
      const why = value.length === 0 ? 'an empty batch' : `a batch of ${value.length} requests; the most one batch may hold is ${RPC_BATCH_MAX}`;
      this.sendSmall(errorResponse(null, new RpcError(INVALID_REQUEST, `invalid request: ${why}`)));
      return;
    }
    this.inFlight += value.length;
    this.answerBatch(value).catch((err) => this.lost(err));
  }

  private async answerOne(value: unknown): Promise<void> {
    try {
      const answer = await this.respond(value);
      const produced = answer && await this.produce(answer, false);
      if (produced) this.send([produced], false);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }

  /** A batch is answered as one array once every member is done; each member's bytes are counted as it is produced. */
  private async answerBatch(values: unknown[]): Promise<void> {
    // One byte for the closing bracket; each member takes one more for the bracket or comma before it.
    const closing = this.budget.reserve(1) ? 1 : 0;
    if (closing === 0) this.destroy(this.unreadReason());
    try {
      const produced = await Promise.all(values.map(async (v) => {
        const answer = await this.respond(v);
        return answer && this.produce(answer, true);
      }));
      const answered = produced.filter((p): p is Produced => p !== null);
      if (answered.length > 0) this.send(answered, true);
    } finally {
      this.budget.release(closing);
      this.inFlight -= values.length;
      this.pump();
    }
  }

  /** respond() and produce() catch what handlers and encoding do; reaching this is a bug in this file, not a client's doing. */
  private lost(err: unknown): void {
    this.hooks.log('error', `${this.name}: a response was lost: ${(err as Error).stack ?? String(err)}`);
    this.destroy('internal error in the RPC server');
  }

  /** The response to one request, or null for a notification. Never rejects. */
  private async respond(value: unknown): Promise<Answer | null> {
    this.hooks.onRequest();
    const checked = checkRequest(value);
    if ('invalid' in checked) return { response: checked.invalid };
    const { request } = checked;
    let response: RpcResponse;
    try {
      const result = await this.dispatcher.call(request.method, request.params, this.info);
      response = resultResponse(request.id ?? null, result);
    } catch (err) {
      const rpcErr = toRpcError(err);
      this.logFailure(request, rpcErr, err);
      response = errorResponse(request.id ?? null, rpcErr);
    }
    return request.id === undefined ? null : { response, method: request.method };
  }

  /**
   * The answer as text with its bytes reserved, counted as they are produced. An answer that can never be
   * sent (larger than the output limit), or a batch member past what the connection may hold, becomes an
   * error answer saying so; a single answer that would fit but for unread ones ends the connection (the
   * client does not read). Null when nothing is to be sent.
   */
  private async produce(answer: Answer, inBatch: boolean): Promise<Produced | null> {
    const max = this.limits.maxOutputBytes;
    let encoded: Encoded;
    try {
      encoded = await encodeWithin(answer.response, max - (inBatch ? 1 : 0), this.budget);
    } catch (err) {
      const why = new RpcError(INTERNAL_ERROR, `the result could not be written as JSON: ${(err as Error).message}`);
      return this.produceSmall(errorResponse(answer.response.id, why), inBatch);
    }
    if (!('stopped' in encoded)) return this.withSeparator(encoded, inBatch);
    if (encoded.stopped === 'queue' && !inBatch) { this.destroy(this.unreadReason()); return null; }
    const what = answer.method ?? 'the request';
    const why = encoded.stopped === 'answer'
      ? `the answer to ${what} is larger than ${max} bytes, the most one answer may be: ask for less (bdev_get_bdevs takes a name, for one bdev)`
      : `the answers queued on this connection (unread, and this batch's so far) would pass its limit of ${max} bytes: ` +
        'read the answers before sending more, or put fewer requests in a batch';
    this.hooks.log('info', `${this.name}: ${what}: ${why}`);
    return this.produceSmall(errorResponse(answer.response.id, new RpcError(EMSGSIZE, why)), inBatch);
  }

  private produceSmall(response: RpcResponse, inBatch: boolean): Produced | null {
    const chunk = Buffer.from(encodeResponse(response));
    if (!this.budget.reserve(chunk.length)) { this.destroy(this.unreadReason()); return null; }
    return this.withSeparator({ chunks: [chunk], bytes: chunk.length }, inBatch);
  }

  /** A batch member also takes the byte of the bracket or comma written before it. */
  private withSeparator(p: Produced, inBatch: boolean): Produced | null {
    if (!inBatch) return p;
    if (this.budget.reserve(1)) return { chunks: p.chunks, bytes: p.bytes + 1 };
    this.budget.release(p.bytes);
    this.destroy(this.unreadReason());
    return null;
  }

  private unreadReason(): string { return `the client left more than ${this.limits.maxOutputBytes} bytes of responses unread`; }

  private logFailure(request: RpcRequest, rpcErr: RpcError, err: unknown): void {
    const unexpected = rpcErr.code === INTERNAL_ERROR && err instanceof Error && !(err instanceof RpcError);
    const detail = unexpected ? (err.stack ?? rpcErr.message) : `${rpcErr.message} (code ${rpcErr.code})`;
    this.hooks.log(unexpected ? 'warn' : 'debug', `${this.name}: ${request.method} failed: ${detail}`);
  }

  /**
   * Write produced answers (a batch as one array, its closing bracket reserved by the caller); their reserved
   * bytes become the socket's queued ones.
   */
  private send(parts: Produced[], batch: boolean): void {
    const bytes = parts.reduce((sum, p) => sum + p.bytes, 0);
    if (this.state === 'closed' || this.socket.writableEnded) {
      this.budget.release(bytes);
      this.hooks.log('debug', `${this.name}: a response was dropped: the connection is closed`);
      return;
    }
    this.socket.cork();
    parts.forEach((p, i) => {
      if (batch) this.socket.write(i === 0 ? '[' : ',');
      for (const chunk of p.chunks) this.socket.write(chunk);
    });
    if (batch) this.socket.write(']');
    // The socket counts them now; release after the write so the queue is never seen smaller than it is.
    this.budget.release(bytes);
    process.nextTick(() => this.socket.uncork());
  }

  /** A short answer of the server's own (a refused batch, a parse error); a client with no room for it is closed. */
  private sendSmall(response: RpcResponse): void {
    if (this.state === 'closed' || this.socket.writableEnded) return;
    const produced = this.produceSmall(response, false);
    if (produced) this.send([produced], false);
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
