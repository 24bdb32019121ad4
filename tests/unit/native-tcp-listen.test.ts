// The addon's tcpListen (host/native/src/tcp.c): a real listening socket on loopback, IPv4 and IPv6,
// nonblocking, and errors that name the address and port and say what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { loadNative, type NativeAddon } from '../../host/native/index.js';

const loaded = loadNative();
assert.ok(loaded, 'the native addon is built; run npm run build:native');
const addon: NativeAddon = loaded;

/** A port the kernel just handed out (then freed): free for the test, as far as anything can be. */
async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try { fn(); } catch (err) { return err as Error & { code?: string }; }
  assert.fail('expected an exception');
}

for (const host of ['127.0.0.1', '::1']) {
  test(`tcpListen on ${host}: a nonblocking listener that takes connections`, async () => {
    const port = await freePort(host);
    const fd = addon.tcpListen(host, port, 16);
    try {
      assert.ok(fd >= 0);
      assert.equal(addon.unixAccept(fd), -11, 'nothing waiting: -EAGAIN at once, not a blocked thread');
      assert.ok(await connects(host, port), 'a client connects');
      const conn = addon.unixAccept(fd);
      assert.ok(conn >= 0, `the connection is accepted (${conn})`);
      addon.closeFd(conn);
    } finally {
      addon.closeFd(fd);
    }
  });
}

test('tcpListen: a port already taken is EADDRINUSE naming the address and port', async () => {
  const port = await freePort('127.0.0.1');
  const fd = addon.tcpListen('127.0.0.1', port, 4);
  try {
    const err = thrown(() => addon.tcpListen('127.0.0.1', port, 4));
    assert.equal(err.code, 'EADDRINUSE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1 port ${port}.*another listener`));
  } finally {
    addon.closeFd(fd);
  }
});

test('tcpListen: an address of no interface here is EADDRNOTAVAIL', () => {
  const err = thrown(() => addon.tcpListen('192.0.2.1', 4420, 4));   // TEST-NET-1: never local
  assert.equal(err.code, 'EADDRNOTAVAIL');
  assert.match(err.message, /192\.0\.2\.1 port 4420.*no interface/);
});

test('tcpListen: bad arguments are EINVAL saying what is wrong', () => {
  assert.match(thrown(() => addon.tcpListen('localhost', 4420, 4)).message, /not an IPv4 or IPv6 address literal/);
  assert.match(thrown(() => addon.tcpListen('127.0.0.1', 0, 4)).message, /port 0 must be 1\.\.65535/);
  assert.match(thrown(() => addon.tcpListen('127.0.0.1', 70000, 4)).message, /port 70000 must be 1\.\.65535/);
  assert.match(thrown(() => addon.tcpListen('127.0.0.1', 4420, 0)).message, /backlog 0 must be/);
  assert.match(thrown(() => addon.tcpListen('1'.repeat(100), 4420, 4)).message, /too long/);
  for (const e of ['localhost', '1'.repeat(100)]) assert.equal(thrown(() => addon.tcpListen(e, 4420, 4)).code, 'EINVAL');
});

test('tcpListen on :: takes IPv6 only: an IPv4 listener on the same port still binds', async () => {
  const port = await freePort('::');
  const v6 = addon.tcpListen('::', port, 4);
  try {
    const v4 = addon.tcpListen('0.0.0.0', port, 4);   // EADDRINUSE if the IPv6 socket also held IPv4
    addon.closeFd(v4);
  } finally {
    addon.closeFd(v6);
  }
});
