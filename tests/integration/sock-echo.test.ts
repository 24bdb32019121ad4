// The socket layer (assembly/sock) on real reactors and real loopback sockets: an echo server in the
// core (tests/core/sock-hooks.ts) on each reactor, Node's net as the peers. Many connections at once,
// transfers much larger than one recv or one send, peers that vanish mid-transfer, connections shut
// with a recv waiting in the kernel, and a stop that cancels the accept: every cancel is called back
// only after the ops of its fd, and everything the server held is freed. In io_uring and fallback mode.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { withTestEngine } from '../helpers/engine.js';
import { loadNative } from '../../host/native/index.js';

const STAT = { accepted: 0, closed: 1, stopped: 2, violations: 3, peers: 4, echoed: 5, cancelled: 6 } as const;

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Send `bytes` and read back as many; resolves with the sha256 of what came back. */
function echoRound(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const h = createHash('sha256');
    let got = 0;
    s.on('data', (d) => {
      h.update(d);
      got += d.length;
      if (got === bytes.length) { s.end(); resolve(h.digest('hex')); }
    });
    s.on('error', reject);
    s.on('connect', () => s.write(bytes));
  });
}

for (const fallback of [false, true]) {
  test(`sock: echo on both reactors, many peers, big transfers, vanishing peers, shut and stop (${fallback ? 'fallback' : 'io_uring'})`, async () => {
    if (fallback) process.env.WSTOR_URING_FORCE_FALLBACK = '1';
    try {
      await withTestEngine(async (t) => {
        delete process.env.WSTOR_URING_FORCE_FALLBACK;
        const native = loadNative()!;
        const list: { ptr: number; port: number }[] = [];
        for (const reactor of [0, 1]) {
          let fd = -1, port = 0;
          for (let tries = 0; fd < 0 && tries < 20; tries++) {
            port = 20000 + Math.floor(Math.random() * 30000);
            try { fd = native.tcpListen('127.0.0.1', port, 128); } catch { fd = -1; }
          }
          assert.ok(fd >= 0, 'a free port');
          list.push({ ptr: t.core.hs_echo_start(t.core.t_thread_create(reactor), fd), port });
        }
        // 32 peers at once, each sending 1 MiB (many recvs, and sends the kernel takes in parts).
        const payloads = Array.from({ length: 32 }, (_, i) => randomBytes((1 << 20) + i * 4093));
        const sums = await Promise.all(payloads.map((p, i) => echoRound(list[i % 2].port, p)));
        sums.forEach((s, i) => assert.equal(s, createHash('sha256').update(payloads[i]).digest('hex'), `peer ${i} got its bytes back`));
        // Peers that vanish mid-transfer: the server's recv or send fails, it cancels and closes.
        for (let i = 0; i < 16; i++) {
          const s = net.connect(list[i % 2].port, '127.0.0.1');
          s.on('error', () => undefined);
          await new Promise<void>((r) => s.on('connect', () => r()));
          s.write(randomBytes(4 << 20));
          await new Promise((r) => setTimeout(r, 5));
          s.resetAndDestroy();
        }
        // Idle peers: their recvs wait in the kernel when the server shuts them.
        const idle = await Promise.all(Array.from({ length: 8 }, (_, i) => new Promise<net.Socket>((resolve) => {
          const s = net.connect(list[i % 2].port, '127.0.0.1', () => resolve(s));
          s.on('error', () => undefined);
        })));
        const accepted = () => list.reduce((n, s) => n + t.core.hs_echo_stat(s.ptr, STAT.accepted), 0);
        const closed = () => list.reduce((n, s) => n + t.core.hs_echo_stat(s.ptr, STAT.closed), 0);
        await until('every idle peer accepted', () => accepted() === 32 + 16 + 8);
        const closedBefore = closed();
        for (const s of list) t.core.hs_echo_kick(s.ptr);
        await Promise.all(idle.map((s) => new Promise((r) => { if (s.closed) r(null); else s.on('close', r); })));
        await until('every connection closed', () => closed() === accepted());
        assert.ok(closed() - closedBefore >= 8, 'the idle ones were shut with their recv in the kernel');
        for (const s of list) t.core.hs_echo_stop(s.ptr);
        await until('both servers stopped', () => list.every((s) => t.core.hs_echo_stat(s.ptr, STAT.stopped) === 1));
        for (const s of list) {
          assert.equal(t.core.hs_echo_stat(s.ptr, STAT.violations), 0, 'no cancel was called back before an op of its fd');
          assert.ok(t.core.hs_echo_stat(s.ptr, STAT.cancelled) >= 1, 'the accept (at least) ended as cancelled');
          assert.equal(t.core.hs_echo_stat(s.ptr, STAT.peers), t.core.hs_echo_stat(s.ptr, STAT.accepted), 'every peer named');
        }
        const total = payloads.reduce((n, p) => n + p.length, 0);
        assert.ok(list.reduce((n, s) => n + t.core.hs_echo_stat(s.ptr, STAT.echoed), 0) >= total);
        // Nothing of the listener is left: connecting now is refused.
        await assert.rejects(echoRound(list[0].port, Buffer.from('x')));
        for (const s of list) t.core.hs_echo_free(s.ptr);
      });
    } finally {
      delete process.env.WSTOR_URING_FORCE_FALLBACK;
    }
  });
}
