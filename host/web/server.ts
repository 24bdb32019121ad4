// A small static file server for the browser build: one directory, cross-origin isolated (COOP/COEP,
// which shared memory in workers needs), loopback unless told otherwise, no dependencies. Reused by
// `wstor web` and the browser tests.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { WstorError } from '../errors.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
};

/** Headers every answer carries: the page and its workers are cross-origin isolated. */
export const ISOLATION_HEADERS: Record<string, string> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

export interface StaticServerOptions {
  /** The directory served at /. */
  root: string;
  /** Port (default 0: any free one). */
  port?: number;
  /** Address to listen on (default 127.0.0.1: loopback). */
  host?: string;
  /** What / answers with (a path under root; default index.html). */
  index?: string;
  /** Answers kept in memory, by request path ("/": the page), looked at before the directory. */
  files?: Record<string, { contentType: string; body: string | Buffer }>;
}

export interface StaticServer {
  /** http://host:port/ */
  readonly url: string;
  close(): Promise<void>;
}

/** The file under `root` that a request path names, or null when it leaves root. */
export function resolveUnder(root: string, requestPath: string): string | null {
  let decoded: string;
  try { decoded = decodeURIComponent(requestPath); } catch { return null; }
  if (decoded.includes('\0')) return null;
  const file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

async function answer(root: string, index: string, files: NonNullable<StaticServerOptions['files']>, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const send = (status: number, body: string) => {
    res.writeHead(status, { ...ISOLATION_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') { send(405, 'only GET and HEAD\n'); return; }
  const pathname = new URL(req.url ?? '/', 'http://x').pathname;
  const inMemory = Object.hasOwn(files, pathname) ? files[pathname] : undefined;
  if (inMemory) {
    res.writeHead(200, { ...ISOLATION_HEADERS, 'content-type': inMemory.contentType, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : inMemory.body);
    return;
  }
  const file = resolveUnder(root, pathname === '/' ? '/' + index : pathname);
  if (!file) { send(403, 'outside the served directory\n'); return; }
  let body: Buffer;
  try {
    body = await fs.readFile(file);
  } catch {
    send(404, `not found: ${pathname}\n`);
    return;
  }
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Serve `root`; resolves once listening. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const root = path.resolve(options.root);
  const index = options.index ?? 'index.html';
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    answer(root, index, options.files ?? {}, req, res).catch((err: Error) => { res.destroy(err); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new WstorError(err.code ?? 'EIO', `cannot listen on ${host}:${options.port ?? 0}: ${err.message}` +
        (err.code === 'EADDRINUSE' ? ': choose another --port' : '')));
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
