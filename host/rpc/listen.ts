// Where the RPC server may listen: a unix socket path that is free or stale, a loopback TCP address unless
// told otherwise, and listening on them with errors that say what to do.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { WstorError } from '../errors.js';

/** How long a connect to an existing socket file may take before we take it as a live server. */
export const UNIX_PROBE_TIMEOUT_MS = 1000;
/**
 * The longest unix socket path, in bytes: the kernel's sun_path holds 108 with the NUL. libuv binds
 * a longer path cut short, so a server would listen somewhere else than asked: refused before that.
 */
export const UNIX_PATH_MAX_BYTES = 107;

/** Is anything accepting connections on the unix socket at `socketPath`? */
function probeUnix(socketPath: string): Promise<'live' | 'stale'> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    const done = (answer: 'live' | 'stale') => { probe.destroy(); resolve(answer); };
    probe.setTimeout(UNIX_PROBE_TIMEOUT_MS, () => done('live'));
    probe.once('connect', () => done('live'));
    // ECONNREFUSED: a file no one listens on (a server that died); ENOENT: it vanished meanwhile.
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'stale' : 'live'));
  });
}

/** A path the kernel can bind as given, in a directory that exists; else an error saying which. */
function checkUnixPath(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes === 0) throw new WstorError('EINVAL', 'the RPC socket path is empty: give a path such as /var/tmp/wstor.sock');
  if (bytes > UNIX_PATH_MAX_BYTES) {
    throw new WstorError('ENAMETOOLONG', `RPC socket path ${socketPath} is ${bytes} bytes; a unix socket path is at most ` +
      `${UNIX_PATH_MAX_BYTES} bytes: pick a shorter path (a shorter directory, or a path relative to the working directory)`);
  }
  const dir = path.dirname(socketPath);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir, { throwIfNoEntry: false });
  } catch (err) {
    throw new WstorError('EACCES', `cannot listen for RPC on ${socketPath}: cannot look at directory ${dir}: ${(err as Error).message}`);
  }
  if (stat === undefined) {
    throw new WstorError('ENOENT', `cannot listen for RPC on ${socketPath}: directory ${dir} does not exist (create it, or pick another RPC socket path)`);
  }
  if (!stat.isDirectory()) throw new WstorError('ENOTDIR', `cannot listen for RPC on ${socketPath}: ${dir} is not a directory`);
}

/** Make `socketPath` free to bind: remove a stale socket file, refuse a live one or anything else. */
export async function prepareUnixPath(socketPath: string): Promise<void> {
  checkUnixPath(socketPath);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new WstorError('EACCES', `cannot check RPC socket path ${socketPath}: ${(err as Error).message}`);
  }
  if (!stat.isSocket()) {
    throw new WstorError('EEXIST', `${socketPath} exists and is not a socket: remove it or pick another RPC socket path`);
  }
  if (await probeUnix(socketPath) === 'live') {
    throw new WstorError('EADDRINUSE', `another server is listening on ${socketPath}: stop it or pick another RPC socket path`);
  }
  fs.rmSync(socketPath, { force: true });
}

/** Loopback addresses: 127.0.0.0/8, ::1 (and 127.x mapped into IPv6), and the name localhost. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** Refuse a non-loopback address unless the user asked for it: the RPC server has no authentication. */
export function checkTcpHost(host: string, allowAny: boolean): void {
  if (allowAny || isLoopback(host)) return;
  throw new WstorError('EACCES', `refusing to listen for RPC on ${host}: the RPC server has no authentication, so anyone who ` +
    'can reach that address could control wstor. Listen on 127.0.0.1 or ::1, or add --rpc-listen-any if you mean it');
}

/**
 * Listen and wait until listening. For a unix socket, the umask is narrowed around the bind so the file never
 * exists with looser permissions than `mode` (the caller still chmods: a umask only takes bits away).
 */
export function listenOn(server: net.Server, where: { path: string; mode: number } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const label = 'path' in where ? where.path : `${where.host}:${where.port}`;
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EADDRINUSE' ? ': something else is using it; stop it or pick another address'
        : err.code === 'EACCES' ? ': permission denied; pick an address this user may use' : '';
      reject(new WstorError(err.code ?? 'EIO', `cannot listen for RPC on ${label}: ${err.message}${hint}`));
    };
    server.once('error', onError);
    server.once('listening', () => { server.off('error', onError); resolve(); });
    if ('host' in where) {
      server.listen(where.port, where.host);
      return;
    }
    // process.umask() cannot be set in a worker thread; there the chmod that follows has to do.
    const oldMask = isMainThread ? process.umask(0o777 & ~where.mode) : null;
    try {
      server.listen(where.path);
    } finally {
      if (oldMask !== null) process.umask(oldMask);
    }
  });
}
