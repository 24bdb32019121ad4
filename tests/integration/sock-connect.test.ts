// The socket layer's connect (assembly/sock sockTcpSocket + sockConnect) on real reactors: clients in the
// core (tests/core/sock-connect-hooks.ts) connect to Node echo servers over IPv4 and IPv6 loopback and
// check every byte that comes back; a port nobody listens on is refused; a name that is no IP literal is
// refused before any socket exists; a connect that cannot end (the listener's queue is full) ends as
// cancelled when the client gives up. In io_uring and fallback mode.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { withTestEngine, type TestEngine } from '../helpers/engine.js';
import { loadNative } from '../../host/native/index.js';
import { until } from '../helpers/rpc.js';

const STAT = { done: 0, socket: 1, connect: 2, received: 3, mismatches: 4, violations: 5, close: 6 } as const;
const ECONNREFUSED = -111, EINVAL = -22, ECANCELED = -125;

/** An echo server on `host`; resolves with it listening on a free port. */
function echoServer(host: string, backlog = 128): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
    server.on('error', reject);
    server.listen({ host, port: 0, backlog }, () => resolve({ server, port: (server.address() as net.AddressInfo).port }));
  });
}

/** `text` NUL-terminated in engine memory (the test's to free). */
function cString(t: TestEngine, text: string): number {
  const bytes = Buffer.from(`${text}\0`);
  const ptr = t.core.h_alloc(bytes.length);
  new Uint8Array(t.engine.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

interface Client { ptr: number; stat(which: number): number }

function startClient(t: TestEngine, reactor: number, addr: number, port: number, payloadBytes: number): Client {
  const ptr = t.core.hs_connect_start(t.core.t_thread_create(reactor), addr, port, payloadBytes);
  return { ptr, stat: (which) => t.core.hs_connect_stat(ptr, which) };
}

for (const fallback of [false, true]) {
  const mode = fallback ? 'fallback' : 'io_uring';

  test(`sock connect: IPv4 and IPv6 peers on both reactors echo every byte back (${mode})`, async () => {
    if (fallback) process.env.WSTOR_URING_FORCE_FALLBACK = '1';
    try {
      await withTestEngine(async (t) => {
        delete process.env.WSTOR_URING_FORCE_FALLBACK;
        const v4 = await echoServer('127.0.0.1');
        const v6 = await echoServer('::1');
        const addr4 = cString(t, '127.0.0.1');
        const addr6 = cString(t, '::1');
        try {
          const clients: Client[] = [];
          for (let i = 0; i < 8; i++) {
            const six = i % 4 >= 2;
            clients.push(startClient(t, i % 2, six ? addr6 : addr4, six ? v6.port : v4.port, (1 << 20) + i * 4093));
          }
          await until(() => clients.every((c) => c.stat(STAT.done) === 1), 'every client done', 30_000);
          clients.forEach((c, i) => {
            assert.ok(c.stat(STAT.socket) >= 0, `client ${i} got a socket`);
            assert.equal(c.stat(STAT.connect), 0, `client ${i} connected`);
            assert.equal(c.stat(STAT.received), (1 << 20) + i * 4093, `client ${i} got all its bytes back`);
            assert.equal(c.stat(STAT.mismatches), 0, `client ${i}: every byte as sent`);
            assert.equal(c.stat(STAT.violations), 0, `client ${i}: the cancel came after every op of its fd`);
            assert.equal(c.stat(STAT.close), 0, `client ${i} closed its socket`);
            t.core.hs_connect_free(c.ptr);
          });
        } finally {
          t.core.h_free(addr4);
          t.core.h_free(addr6);
          v4.server.close();
          v6.server.close();
        }
      });
    } finally {
      delete process.env.WSTOR_URING_FORCE_FALLBACK;
    }
  });

  test(`sock connect: refused port, a name that is no IP literal, a bad port, and a cancel mid-connect (${mode})`, async () => {
    if (fallback) process.env.WSTOR_URING_FORCE_FALLBACK = '1';
    try {
      await withTestEngine(async (t) => {
        delete process.env.WSTOR_URING_FORCE_FALLBACK;
        // A port that was just free: nobody listens there.
        const gone = await echoServer('127.0.0.1');
        await new Promise((r) => gone.server.close(r));
        const addr4 = cString(t, '127.0.0.1');
        const name = cString(t, 'localhost');
        const refused = startClient(t, 0, addr4, gone.port, 0);
        const named = startClient(t, 1, name, gone.port, 0);
        const portZero = startClient(t, 1, addr4, 0, 0);
        await until(() => [refused, named, portZero].every((c) => c.stat(STAT.done) === 1), 'the refused ones done', 10_000);
        assert.equal(refused.stat(STAT.connect), ECONNREFUSED, 'nobody listening: ECONNREFUSED');
        assert.equal(refused.stat(STAT.close), 0, 'and its socket closed');
        assert.equal(named.stat(STAT.socket), EINVAL, 'a host name is refused (no lookup on a reactor)');
        assert.equal(named.stat(STAT.connect), 1, 'and nothing was connected');
        assert.equal(portZero.stat(STAT.socket), EINVAL, 'port 0 is refused');

        // A listener whose accept queue is full drops further SYNs: a connect to it stays under way.
        const fullQueue = await fullListener();
        try {
          const stuck = startClient(t, 0, addr4, fullQueue.port, 0);
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(stuck.stat(STAT.done), 0, 'the connect is still under way');
          t.core.hs_connect_cancel(stuck.ptr);
          await until(() => stuck.stat(STAT.done) === 1, 'the cancelled client done', 10_000);
          assert.equal(stuck.stat(STAT.connect), ECANCELED, 'the connect ended as cancelled');
          assert.equal(stuck.stat(STAT.violations), 0, 'the cancel came after the connect');
          assert.equal(stuck.stat(STAT.close), 0, 'and its socket closed');
          t.core.hs_connect_free(stuck.ptr);
        } finally {
          fullQueue.close();
        }
        for (const c of [refused, named, portZero]) t.core.hs_connect_free(c.ptr);
        t.core.h_free(addr4);
        t.core.h_free(name);
      });
    } finally {
      delete process.env.WSTOR_URING_FORCE_FALLBACK;
    }
  });
}

/**
 * A listening socket (from the addon, backlog 1) that never accepts, with its accept queue filled by
 * connections from Node: the kernel drops any further SYN, so a connect to it neither succeeds nor fails.
 */
async function fullListener(): Promise<{ port: number; close(): void }> {
  const native = loadNative()!;
  let fd = -1, port = 0;
  for (let tries = 0; fd < 0 && tries < 20; tries++) {
    port = 20000 + Math.floor(Math.random() * 30000);
    try { fd = native.tcpListen('127.0.0.1', port, 1); } catch { fd = -1; }
  }
  assert.ok(fd >= 0, 'a free port');
  const fillers: net.Socket[] = [];
  // Backlog 1 holds two established connections; a third one's SYN is dropped (it stays pending).
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 200));
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      native.closeFd(fd);
    },
  };
}
