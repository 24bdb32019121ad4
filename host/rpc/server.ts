// The JSON-RPC 2.0 server (SPDK's framing: JSON values back to back on a unix socket or loopback TCP): owns
// the listeners, the bound on connections, and an orderly close; each connection is an RpcConnection.
import fs from 'node:fs';
import net from 'node:net';
import { WstorError } from '../errors.js';
import { RpcConnection, type ConnectionLimits } from './connection.js';
import { encodeResponse, errorResponse } from './protocol.js';
import { RpcError } from './errors.js';
import { JSON_VALUE_MAX_BYTES } from './json-stream.js';
import { checkTcpHost, listenOn, prepareUnixPath } from './listen.js';

/** Open connections at most; one more is told so in an error response (code -EBUSY) and closed. */
export const RPC_CONNECTIONS_MAX = 1024;
/** Calls running at once on one connection before the server stops reading from it. */
export const RPC_IN_FLIGHT_MAX = 64;
/** A connection with no complete request (and nothing running) for this long is closed. */
export const RPC_IDLE_TIMEOUT_MS = 5 * 60_000;
/**
 * Response bytes one connection may hold for its client: sent and unread, plus produced for a batch not yet
 * complete (the same as the client's RPC_RESPONSE_MAX_BYTES). An answer larger than this is an error answer
 * (-EMSGSIZE), as is a batch member that would pass it; a client whose unread answers would pass it is
 * disconnected, with the reason logged.
 */
export const RPC_OUTPUT_MAX_BYTES = 64 << 20;
/** How long close() lets running calls answer before it drops their connections. */
export const RPC_CLOSE_GRACE_MS = 10_000;
/** How long a refused (over the limit) connection is given to read why before it is dropped. */
const REFUSED_LINGER_MS = 1000;
const EBUSY = -16;

export type RpcLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type RpcLog = (level: RpcLogLevel, message: string) => void;

export interface RpcConnectionInfo {
  /** Unique within this server, from 1. */
  id: number;
  transport: 'unix' | 'tcp';
  /** The peer as text: host:port for TCP, the socket path for unix. */
  remote: string;
}

/** Runs methods. Throws RpcError (METHOD_NOT_FOUND, INVALID_PARAMS, …), WstorError or any Error to answer with an error. */
export interface RpcDispatcher {
  call(method: string, params: unknown, conn: RpcConnectionInfo): Promise<unknown>;
}

export interface RpcServerOptions {
  log?: RpcLog;
  maxConnections?: number;
  maxInFlightPerConnection?: number;
  maxRequestBytes?: number;
  idleTimeoutMs?: number;
  maxOutputBytes?: number;
  closeGraceMs?: number;
}

export interface RpcServerStats {
  connectionsOpen: number;
  connectionsAccepted: number;
  /** Turned away because RPC_CONNECTIONS_MAX (or maxConnections) were open. */
  connectionsRefused: number;
  /** Requests received, valid or not; each request of a batch counts. */
  requests: number;
  /** Response bytes held for clients now, summed over the open connections (see RPC_OUTPUT_MAX_BYTES). */
  queuedBytes: number;
  /** The most one connection has held at once since the server started: never above maxOutputBytes. */
  queuedBytesPeak: number;
}

function positive(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`RpcServer: ${what} must be a whole number of at least 1 (got ${value})`);
  return v;
}

/** Warnings and errors go to stderr unless the caller logs otherwise. */
const stderrLog: RpcLog = (level, message) => {
  if (level === 'warn' || level === 'error') process.stderr.write(`wstor rpc ${level}: ${message}\n`);
};

export class RpcServer {
  private readonly log: RpcLog;
  private readonly limits: ConnectionLimits;
  private readonly maxConnections: number;
  private readonly connections = new Set<RpcConnection>();
  private readonly listeners: net.Server[] = [];
  /** Settle when the listeners stopped by stopAccepting() have closed (Node removes a unix socket file then). */
  private readonly listenersClosed: Promise<void>[] = [];
  private unix: { path: string; ino: number } | null = null;
  private tcp: { host: string; port: number } | null = null;
  private accepting = true;
  private nextId = 1;
  private counts = { connectionsAccepted: 0, connectionsRefused: 0, requests: 0, queuedBytesPeak: 0 };

  constructor(private readonly dispatcher: RpcDispatcher, options: RpcServerOptions = {}) {
    this.log = options.log ?? stderrLog;
    this.maxConnections = positive(options.maxConnections, RPC_CONNECTIONS_MAX, 'maxConnections');
    this.limits = {
      maxInFlight: positive(options.maxInFlightPerConnection, RPC_IN_FLIGHT_MAX, 'maxInFlightPerConnection'),
      maxRequestBytes: positive(options.maxRequestBytes, JSON_VALUE_MAX_BYTES, 'maxRequestBytes'),
      idleTimeoutMs: positive(options.idleTimeoutMs, RPC_IDLE_TIMEOUT_MS, 'idleTimeoutMs'),
      maxOutputBytes: positive(options.maxOutputBytes, RPC_OUTPUT_MAX_BYTES, 'maxOutputBytes'),
      closeGraceMs: positive(options.closeGraceMs, RPC_CLOSE_GRACE_MS, 'closeGraceMs'),
    };
  }

  get socketPath(): string | null { return this.unix?.path ?? null; }
  get tcpAddress(): { host: string; port: number } | null { return this.tcp ? { ...this.tcp } : null; }
  get stats(): RpcServerStats {
    let queuedBytes = 0;
    for (const c of this.connections) queuedBytes += c.queuedBytes;
    return { connectionsOpen: this.connections.size, queuedBytes, ...this.counts };
  }

  /** Listen on a unix socket made with `mode` (0600: only this user). A stale socket file is replaced. */
  async listenUnix(socketPath: string, options: { mode?: number } = {}): Promise<void> {
    const mode = options.mode ?? 0o600;
    this.checkCanListen(this.unix !== null, 'a unix socket');
    await prepareUnixPath(socketPath);
    const server = this.newListener('unix');
    await listenOn(server, { path: socketPath, mode });
    try {
      fs.chmodSync(socketPath, mode);
      this.unix = { path: socketPath, ino: fs.statSync(socketPath).ino };
    } catch (err) {
      // The file went (or was never where asked): stop listening rather than serve a socket no one can find.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw new WstorError('EIO', `listening for RPC on ${socketPath}, the socket file could not be set up: ${(err as Error).message}`);
    }
    this.log('info', `listening for RPC on ${socketPath}`);
  }

  /** Listen on TCP; only loopback addresses unless allowAny (the server has no authentication). Port 0 picks one. */
  async listenTcp(host: string, port: number, options: { allowAny?: boolean } = {}): Promise<void> {
    this.checkCanListen(this.tcp !== null, 'TCP');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new WstorError('EINVAL', `RPC port must be 0 to 65535 (got ${port})`);
    checkTcpHost(host, options.allowAny ?? false);
    const server = this.newListener('tcp');
    await listenOn(server, { host, port });
    const bound = server.address() as net.AddressInfo;
    this.tcp = { host: bound.address, port: bound.port };
    this.log('info', `listening for RPC on ${bound.address}:${bound.port}`);
  }

  /** Accept no more connections; those open carry on. */
  stopAccepting(): void {
    this.accepting = false;
    for (const listener of this.listeners) {
      if (listener.listening) this.listenersClosed.push(new Promise((resolve) => listener.close(() => resolve())));
    }
  }

  /** Stop accepting, let running calls answer (up to closeGraceMs), close every connection, remove the socket file. */
  async close(): Promise<void> {
    this.stopAccepting();
    await Promise.all([...this.connections].map((c) => c.drain(this.limits.closeGraceMs)));
    await Promise.all(this.listenersClosed);
    if (this.unix) {
      // Node removes the file itself; remove it only if it is still the one we made.
      const stat = fs.statSync(this.unix.path, { throwIfNoEntry: false });
      if (stat?.ino === this.unix.ino) fs.rmSync(this.unix.path, { force: true });
    }
    this.unix = null;
    this.tcp = null;
  }

  private checkCanListen(already: boolean, what: string): void {
    if (!this.accepting) throw new WstorError('EINVAL', 'this RPC server was stopped: make a new one to listen again');
    if (already) throw new WstorError('EINVAL', `this RPC server already listens on ${what}`);
  }

  private newListener(transport: 'unix' | 'tcp'): net.Server {
    // allowHalfOpen: a client may send its requests and shut down its side, and still get the answers.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket, transport));
    server.on('error', (err) => this.log('error', `RPC listener: ${err.message}`));
    this.listeners.push(server);
    return server;
  }

  private accept(socket: net.Socket, transport: 'unix' | 'tcp'): void {
    if (!this.accepting) { socket.destroy(); return; }
    if (this.connections.size >= this.maxConnections) { this.refuse(socket); return; }
    const id = this.nextId++;
    const remote = transport === 'tcp' ? `${socket.remoteAddress}:${socket.remotePort}` : (this.unix?.path ?? 'unix socket');
    this.counts.connectionsAccepted++;
    const connection = new RpcConnection(socket, { id, transport, remote }, this.dispatcher, this.limits, {
      log: this.log,
      onRequest: () => { this.counts.requests++; },
      onQueued: (bytes) => { this.counts.queuedBytesPeak = Math.max(this.counts.queuedBytesPeak, bytes); },
      onClose: (c) => { this.connections.delete(c); },
    });
    this.connections.add(connection);
  }

  /** Over the limit: tell the client why (an error response with id null) rather than drop it silently. */
  private refuse(socket: net.Socket): void {
    this.counts.connectionsRefused++;
    this.log('warn', `refused an RPC connection: ${this.maxConnections} are open, the limit`);
    const why = new RpcError(EBUSY, `the wstor server has ${this.maxConnections} RPC connections open, its limit: close some or try again later`);
    socket.on('error', () => { /* the client may be gone already; nothing to tell it */ });
    socket.resume(); // discard what it sends, so closing does not reset the connection before it reads why
    socket.end(encodeResponse(errorResponse(null, why)));
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  }
}
