// Socket ops of the addon's per-reactor io_uring (host/native/src/uring.c: ACCEPT, RECV, SENDMSG, CANCEL_FD,
// CLOSE) and tcpPeerName (tcp.c), over real loopback sockets with Node's net as the peer, in both modes.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { setImmediate as turn } from 'node:timers/promises';
import { loadNative, type NativeAddon } from '../../host/native/index.js';

const loaded = loadNative();
assert.ok(loaded, 'the native addon is built; run npm run build:native');
const addon: NativeAddon = loaded;

// Wire formats (host/native/src/uring.h).
const Op = { ACCEPT: 8, RECV: 9, SENDMSG: 10, CANCEL_FD: 11, CLOSE: 12 } as const;
const DESC_BYTES = 32;
const CQE_BYTES = 8;
const { EAGAIN, EFAULT, EINVAL, ECANCELED, ENOSPC, ENOTCONN, EBADF } = os.constants.errno;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

// Where the test keeps things in the ring's memory (32 MiB).
const DESC_AT = 0;
const CQE_AT = 16 << 10;
const IOV_AT = 32 << 10;
const BUF_AT = 1 << 20;

interface Desc { op: number; userData: number; fd: number; buf?: number; len?: number; iovcnt?: number; offset?: bigint }

/** A ring on its own shared memory, submitting socket descriptors and reaping while Node's loop turns. */
class SockRing {
  readonly memory = new WebAssembly.Memory({ initial: 512, maximum: 1024, shared: true });
  readonly u8 = new Uint8Array(this.memory.buffer);
  readonly view = new DataView(this.memory.buffer);
  readonly handle: number;
  /** Completions reaped and not yet taken by a test: user_data -> res. */
  readonly done = new Map<number, number>();

  constructor(readonly fallback: boolean) {
    this.handle = addon.uringCreate(this.u8, 32, { forceFallback: fallback });
  }

  submit(descs: Desc[]): void {
    descs.forEach((d, i) => {
      const at = DESC_AT + i * DESC_BYTES;
      this.u8.fill(0, at, at + DESC_BYTES);
      this.view.setUint8(at, d.op);
      this.view.setUint16(at + 2, d.iovcnt ?? 0, true);
      this.view.setInt32(at + 4, d.fd, true);
      this.view.setUint32(at + 8, d.buf ?? 0, true);
      this.view.setUint32(at + 12, d.len ?? 0, true);
      this.view.setBigUint64(at + 16, d.offset ?? 0n, true);
      this.view.setUint32(at + 24, d.userData, true);
    });
    assert.equal(addon.uringSubmit(this.handle, DESC_AT, descs.length), descs.length, 'every descriptor accepted');
  }

  iovecs(pairs: [number, number][]): number {
    pairs.forEach(([base, len], i) => {
      this.view.setUint32(IOV_AT + i * 8, base, true);
      this.view.setUint32(IOV_AT + i * 8 + 4, len, true);
    });
    return IOV_AT;
  }

  reap(): void {
    const n = addon.uringReap(this.handle, CQE_AT, 256);
    for (let i = 0; i < n; i++) {
      const userData = this.view.getUint32(CQE_AT + i * CQE_BYTES, true);
      assert.ok(!this.done.has(userData), `one completion per descriptor (user_data ${userData} came twice)`);
      this.done.set(userData, this.view.getInt32(CQE_AT + i * CQE_BYTES + 4, true));
    }
  }

  /** The result of `userData`, reaping (and letting Node's loop run the peer) until it comes. */
  async result(userData: number, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.reap();
      const res = this.done.get(userData);
      if (res !== undefined) { this.done.delete(userData); return res; }
      if (Date.now() > deadline) assert.fail(`no completion for user_data ${userData} in ${timeoutMs} ms`);
      await turn();
    }
  }

  /** Runs one descriptor to its result. */
  async run(d: Desc): Promise<number> {
    this.submit([d]);
    return this.result(d.userData);
  }

  /** Nothing completes for a while (the op waits in the kernel, or nothing was submitted). */
  async quiet(ms = 50): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) { this.reap(); await turn(); }
    assert.deepEqual([...this.done], [], 'no completion yet');
  }

  /** Like run, but in fallback mode retries -EAGAIN (as the core's socket layer does) until the op goes through. */
  async runRetrying(d: Desc, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.run(d);
      if (res !== -EAGAIN) return res;
      assert.ok(this.fallback, 'io_uring never hands -EAGAIN back for a socket op: it waits in the kernel');
      if (Date.now() > deadline) assert.fail(`still -EAGAIN after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  destroy(): void {
    addon.uringDestroy(this.handle);
  }
}

function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const m = /^flags:\s+([0-7]+)$/m.exec(info);
  assert.ok(m, `fdinfo of ${fd} has flags`);
  return parseInt(m[1], 8);
}

function fdOpen(fd: number): boolean {
  return fs.existsSync(`/proc/self/fd/${fd}`);
}

const listeners: number[] = [];
after(() => { for (const fd of listeners) addon.closeFd(fd); });

/** A listening socket of the addon on loopback and its port. */
async function listen(host = '127.0.0.1'): Promise<{ fd: number; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    try {
      const fd = addon.tcpListen(host, port, 64);
      listeners.push(fd);
      return { fd, port };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt > 20) throw err;
    }
  }
}

/** A connected pair: the ring's accepted fd and Node's client socket (everything it receives collected). */
async function connected(r: SockRing, userData = 1): Promise<{ fd: number; peer: net.Socket; received: Buffer[]; listener: { fd: number; port: number } }> {
  const listener = await listen();
  const peer = net.connect({ host: '127.0.0.1', port: listener.port });
  const received: Buffer[] = [];
  peer.on('data', (b: Buffer) => received.push(b));
  peer.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => { peer.once('connect', () => resolve()); peer.once('error', reject); });
  const fd = await r.runRetrying({ op: Op.ACCEPT, fd: listener.fd, userData });
  assert.ok(fd >= 0, `accept gave an fd, not ${fd}`);
  return { fd, peer, received, listener };
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (seed + i * 7 + (i >> 10)) & 0xff;
  return b;
}

async function withRing(fallback: boolean, body: (r: SockRing) => Promise<void>): Promise<void> {
  const r = new SockRing(fallback);
  try { await body(r); } finally { r.destroy(); }
}

for (const mode of ['io_uring', 'fallback'] as const) {
  const fallback = mode === 'fallback';
  describe(`socket ops, ${mode} mode`, () => {
    test('accept gives a CLOEXEC, nonblocking fd; in the kernel it waits for a peer, the fallback says -EAGAIN', () => withRing(fallback, async (r) => {
      const listener = await listen();
      r.submit([{ op: Op.ACCEPT, fd: listener.fd, userData: 7 }]);
      if (fallback) {
        assert.equal(await r.result(7), -EAGAIN, 'nobody waiting: -EAGAIN at once, not a blocked thread');
      } else {
        await r.quiet();
      }
      const peer = net.connect({ host: '127.0.0.1', port: listener.port });
      peer.on('error', () => undefined);
      const fd = fallback ? await r.runRetrying({ op: Op.ACCEPT, fd: listener.fd, userData: 8 }) : await r.result(7);
      assert.ok(fd > 2, `a new fd, not ${fd}`);
      const flags = fdFlags(fd);
      assert.equal(flags & O_NONBLOCK, O_NONBLOCK, 'nonblocking');
      assert.equal(flags & O_CLOEXEC, O_CLOEXEC, 'close-on-exec');
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 9 }), 0);
      assert.ok(!fdOpen(fd), 'CLOSE closed it');
      peer.destroy();
    }));

    test('recv lands in Wasm memory; 0 once the peer closed', () => withRing(fallback, async (r) => {
      const { fd, peer } = await connected(r);
      if (!fallback) {
        r.submit([{ op: Op.RECV, fd, buf: BUF_AT, len: 4096, userData: 2 }]);
        await r.quiet();                                   // waits in the kernel for bytes
        peer.write('hello, wstor');
        assert.equal(await r.result(2), 12);
      } else {
        assert.equal(await r.run({ op: Op.RECV, fd, buf: BUF_AT, len: 4096, userData: 2 }), -EAGAIN, 'no bytes yet: -EAGAIN');
        peer.write('hello, wstor');
        assert.equal(await r.runRetrying({ op: Op.RECV, fd, buf: BUF_AT, len: 4096, userData: 2 }), 12);
      }
      assert.equal(Buffer.from(r.u8.subarray(BUF_AT, BUF_AT + 12)).toString(), 'hello, wstor');
      peer.end();
      assert.equal(await r.runRetrying({ op: Op.RECV, fd, buf: BUF_AT, len: 4096, userData: 3 }), 0, 'the peer closed');
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 4 }), 0);
    }));

    test('sendmsg gathers {base, len} pairs from Wasm memory into one stream', () => withRing(fallback, async (r) => {
      const { fd, peer, received } = await connected(r);
      const parts = [pattern(100, 1), pattern(5000, 2), pattern(1, 3)];
      let at = BUF_AT;
      const pairs: [number, number][] = parts.map((p) => { r.u8.set(p, at); const pair: [number, number] = [at, p.length]; at += p.length + 64; return pair; });
      const iovs = r.iovecs(pairs);
      assert.equal(await r.runRetrying({ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 3, userData: 5 }), 5101);
      await until('5101 bytes at the peer', () => Buffer.concat(received).length === 5101);
      assert.deepEqual(Buffer.concat(received), Buffer.concat(parts));
      peer.destroy();
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 6 }), 0);
    }));

    test('a send larger than the socket takes comes back short; the rest goes after, in order', () => withRing(fallback, async (r) => {
      const { fd, peer, received } = await connected(r);
      peer.pause();                                        // the peer reads nothing yet: the socket fills
      const TOTAL = 24 << 20;
      const data = pattern(TOTAL, 9);
      r.u8.set(data, BUF_AT);
      let sent = 0;
      let shortSends = 0;
      let resumed = false;
      for (let round = 0; sent < TOTAL; round++) {
        assert.ok(round < 100_000, 'bounded');
        const iovs = r.iovecs([[BUF_AT + sent, TOTAL - sent]]);
        const res = await r.runRetrying({ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 1, userData: 10 });
        assert.ok(res > 0, `a send makes progress, not ${res}`);
        if (res < TOTAL - sent) shortSends++;
        sent += res;
        if (!resumed) { resumed = true; peer.resume(); }  // after the first (short) send, the peer reads
      }
      assert.ok(shortSends >= 1, 'the first send was short: the caller continues');
      await until('every byte at the peer', () => received.reduce((n, b) => n + b.length, 0) === TOTAL);
      assert.ok(Buffer.concat(received).equals(data), 'the bytes arrived in order');
      peer.destroy();
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 11 }), 0);
    }));

    test('a peer gone mid-send: the send ends (short or an error), no signal, nothing stuck', () => withRing(fallback, async (r) => {
      const { fd, peer } = await connected(r);
      peer.pause();
      const TOTAL = 24 << 20;
      const iovs = r.iovecs([[BUF_AT, TOTAL]]);
      const first = await r.runRetrying({ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 1, userData: 12 });
      assert.ok(first > 0 && first < TOTAL, `the first send is short (${first})`);
      r.submit([{ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 1, userData: 13 }]);
      peer.resetAndDestroy();
      let res = await r.result(13);
      for (let i = 0; res === -EAGAIN || res > 0; i++) {       // the fallback (or a short send) may need more turns
        assert.ok(i < 10_000, 'bounded');
        await new Promise((resolve) => setTimeout(resolve, 1));
        res = await r.run({ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 1, userData: 13 });
      }
      assert.ok([-os.constants.errno.ECONNRESET, -os.constants.errno.EPIPE].includes(res), `the peer is gone: ${res}`);
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 14 }), 0);
    }));

    test('cancel on an fd completes every op of it, leaves other fds alone', () => withRing(fallback, async (r) => {
      const { fd, peer, listener } = await connected(r);
      if (!fallback) {
        r.submit([
          { op: Op.RECV, fd, buf: BUF_AT, len: 100, userData: 20 },
          { op: Op.RECV, fd, buf: BUF_AT + 100, len: 100, userData: 21 },
          { op: Op.ACCEPT, fd: listener.fd, userData: 22 },
        ]);
        await r.quiet();
        r.submit([{ op: Op.CANCEL_FD, fd, userData: 23 }]);
        assert.equal(await r.result(20), -ECANCELED);
        assert.equal(await r.result(21), -ECANCELED);
        assert.equal(await r.result(23), 2, 'two ops cancelled');
        await r.quiet();                                   // the accept on the listener still waits
        assert.equal(await r.run({ op: Op.CANCEL_FD, fd: listener.fd, userData: 24 }), 1);
        assert.equal(await r.result(22), -ECANCELED);
      }
      // Nothing left to cancel (always so in the fallback, where nothing waits in the kernel).
      assert.equal(await r.run({ op: Op.CANCEL_FD, fd, userData: 25 }), 0, 'none cancelled');
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 26 }), 0);
      assert.equal(await r.run({ op: Op.CANCEL_FD, fd, userData: 27 }), -EBADF, 'a closed fd');
      peer.destroy();
    }));

    test('buffers outside the memory are -EFAULT, malformed descriptors -EINVAL, nothing reaches the kernel', () => withRing(fallback, async (r) => {
      const { fd, peer, received } = await connected(r);
      const size = r.u8.length;
      assert.equal(await r.run({ op: Op.RECV, fd, buf: size - 10, len: 11, userData: 30 }), -EFAULT);
      assert.equal(await r.run({ op: Op.RECV, fd, buf: 0xffffff00, len: 0x1000, userData: 31 }), -EFAULT);
      assert.equal(await r.run({ op: Op.SENDMSG, fd, buf: size - 8, iovcnt: 2, userData: 32 }), -EFAULT, 'the pairs themselves');
      const iovs = r.iovecs([[BUF_AT, 10], [size - 4, 5]]);
      assert.equal(await r.run({ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 2, userData: 33 }), -EFAULT, 'one pair outside');
      assert.equal(await r.run({ op: Op.RECV, fd, buf: BUF_AT, len: 0, userData: 34 }), -EINVAL, 'a recv of 0 bytes');
      assert.equal(await r.run({ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 0, userData: 35 }), -EINVAL, 'no pairs');
      assert.equal(await r.run({ op: Op.SENDMSG, fd, buf: iovs, iovcnt: 65, userData: 36 }), -EINVAL, 'more than 64 pairs');
      assert.equal(await r.run({ op: Op.ACCEPT, fd, offset: 1n, userData: 37 }), -EINVAL, 'an offset on a socket');
      assert.equal(await r.run({ op: Op.CLOSE, fd, buf: BUF_AT, userData: 38 }), -EINVAL, 'a buffer on CLOSE');
      assert.equal(await r.run({ op: Op.CANCEL_FD, fd, len: 4, userData: 39 }), -EINVAL, 'a length on CANCEL_FD');
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(received.length, 0, 'nothing was sent');
      assert.ok(fdOpen(fd), 'the refused CLOSE left the fd open');
      peer.destroy();
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 40 }), 0);
    }));

    test('tcpPeerName: the peer\'s numeric address and port, or -errno', () => withRing(fallback, async (r) => {
      const { fd, peer, listener } = await connected(r);
      const port = addon.tcpPeerName(fd, r.memory, BUF_AT, 64);
      assert.equal(port, peer.localPort);
      assert.equal(Buffer.from(r.u8.subarray(BUF_AT, BUF_AT + 10)).toString('latin1'), '127.0.0.1\0');
      assert.equal(addon.tcpPeerName(fd, r.memory, BUF_AT, 9), -ENOSPC, 'no room for the NUL');
      assert.equal(addon.tcpPeerName(fd, r.memory, r.u8.length - 8, 64), -EFAULT);
      assert.equal(addon.tcpPeerName(listener.fd, r.memory, BUF_AT, 64), -ENOTCONN, 'a listener has no peer');
      assert.equal(addon.tcpPeerName(1 << 20, r.memory, BUF_AT, 64), -EBADF);
      peer.destroy();
      assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 41 }), 0);
    }));
  });
}

test('tcpPeerName over IPv6 loopback', () => withRing(false, async (r) => {
  const listener = await listen('::1');
  const peer = net.connect({ host: '::1', port: listener.port });
  peer.on('error', () => undefined);
  await new Promise<void>((resolve) => peer.once('connect', () => resolve()));
  const fd = await r.run({ op: Op.ACCEPT, fd: listener.fd, userData: 1 });
  assert.ok(fd >= 0);
  assert.equal(addon.tcpPeerName(fd, r.memory, BUF_AT, 64), peer.localPort);
  assert.equal(Buffer.from(r.u8.subarray(BUF_AT, BUF_AT + 4)).toString('latin1'), '::1\0');
  peer.destroy();
  assert.equal(await r.run({ op: Op.CLOSE, fd, userData: 2 }), 0);
}));
