// vhost-user's OS seam in the native addon (host/native/src/vhost.c) and its wrapper (host/vhost-host.ts), on
// real kernel objects: unix sockets carrying fds, hostile peers (python3 plays one), guest memory (memfds)
// mapped into a shared Wasm memory and seen by JS, Wasm code and another thread, across memory.grow, and
// eventfds. Every test closes what it opens; the last one checks that the whole file leaked no fd.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, VHOST_RECV, VHOST_FD_KIND, type NativeAddon } from '../../host/native/index.js';
import { VhostNative, decodeRecv } from '../../host/vhost-host.js';
import { WstorError } from '../../host/errors.js';
import { skipIfMissing } from '../helpers/skip.js';

const loaded = loadNative();
assert.ok(loaded, 'the native addon is built; run npm run build:native');
const addon: NativeAddon = loaded;
const E = os.constants.errno;
const PAGE = addon.hostPageSize();
const WASM_PAGE = 65536;

// Where the tests keep things in Wasm memory.
const MSG_AT = 0x1000;
const FDS_AT = 0x2000;
const PEER_AT = 0x3000;   // the sending side's buffer
const MAP_AT = 0x10000;   // page-aligned block reserved for guest memory

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-'));
let socketCount = 0;
const socketPath = (): string => path.join(tmp, `s${socketCount++}.sock`);
const openFdCount = (): number => fs.readdirSync('/proc/self/fd').length;
const fdFlags = (fd: number): number => parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
const fdTarget = (fd: number): string => fs.readlinkSync(`/proc/self/fd/${fd}`);

function newMemory(initialPages = 16, maximumPages = 2048): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: maximumPages, shared: true });
}

/** A value returned as an fd: asserts it is one. */
function fdOf(rc: number, what: string): number {
  assert.ok(rc >= 0, `${what}: got ${rc}`);
  return rc;
}

function closeAll(...fds: number[]): void {
  for (const fd of fds) assert.equal(addon.closeFd(fd), 0, `close ${fd}`);
}

/** A listening socket, a client and the accepted server end. */
function socketPair(): { listener: number; client: number; server: number; path: string } {
  const p = socketPath();
  const listener = fdOf(addon.unixListen(p), 'listen');
  const client = fdOf(addon.unixConnect(p), 'connect');
  const server = fdOf(addon.unixAccept(listener), 'accept');
  return { listener, client, server, path: p };
}

function writeText(memory: WebAssembly.Memory, at: number, text: string): number {
  const bytes = Buffer.from(text);
  new Uint8Array(memory.buffer).set(bytes, at);
  return bytes.length;
}

function readText(memory: WebAssembly.Memory, at: number, bytes: number): string {
  return Buffer.from(new Uint8Array(memory.buffer, at, bytes)).toString();
}

function fdsAt(memory: WebAssembly.Memory, count: number): number[] {
  const view = new DataView(memory.buffer);
  return Array.from({ length: count }, (_, i) => view.getInt32(FDS_AT + 4 * i, true));
}

/** Runs python3 as a peer that connects to `socket` and sends as the mode says (what vhost.c refuses to). */
function pythonPeer(socket: string, mode: 'many-fds' | 'sealed-memfd', count = 0): void {
  const script = `
import array, fcntl, os, socket, sys
path, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
if mode == 'many-fds':
    null = os.open('/dev/null', os.O_RDONLY)
    fds = [null] * count
    data = b'hostile-peer'
else:
    fd = os.memfd_create('sealed', os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, 65536)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
    fds = [fd]
    data = b'sealed'
s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))])
s.close()
`;
  const r = spawnSync('python3', ['-c', script, socket, mode, String(count)], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `python3 peer failed: ${r.stderr}`);
}
const havePython = spawnSync('python3', ['-c', 'import os; os.memfd_create'], { stdio: 'ignore' }).status === 0;

// A hand-assembled module on the shared memory: load(addr) -> i32.load8_u, store(addr, value) -> i32.store8,
// so the Wasm side of the claim (the core reads guest memory in place) is tested, not only JS views.
const PROBE_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x0b, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00,           // types
  0x02, 0x12, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79,     // import env.memory
  0x02, 0x03, 0x01, 0x80, 0x80, 0x04,                                                     //   shared, 1..65536 pages
  0x03, 0x03, 0x02, 0x00, 0x01,                                                           // functions
  0x07, 0x10, 0x02, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x00,                             // export load
  0x05, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x00, 0x01,                                         // export store
  0x0a, 0x13, 0x02, 0x07, 0x00, 0x20, 0x00, 0x2d, 0x00, 0x00, 0x0b,                       // load body
  0x09, 0x00, 0x20, 0x00, 0x20, 0x01, 0x3a, 0x00, 0x00, 0x0b,                             // store body
]);
interface Probe { load(addr: number): number; store(addr: number, value: number): void }
function probeOn(memory: WebAssembly.Memory): Probe {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(PROBE_WASM), { env: { memory } });
  return instance.exports as unknown as Probe;
}

/** The lines of /proc/self/maps that map the memfd called `name`. */
function mapsOf(name: string): string[] {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(`/memfd:${name} `));
}

let fdsAtStart = 0;
before(() => { fdsAtStart = openFdCount(); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('unix sockets', () => {
  test('listen, connect, accept: nonblocking, CLOEXEC; accept says -EAGAIN when nobody waits', () => {
    const p = socketPath();
    const listener = fdOf(addon.unixListen(p), 'listen');
    assert.equal(addon.unixAccept(listener), -E.EAGAIN);
    const client = fdOf(addon.unixConnect(p), 'connect');
    const server = fdOf(addon.unixAccept(listener), 'accept');
    for (const fd of [listener, client, server]) {
      assert.match(fdTarget(fd), /^socket:/);
      assert.equal(fdFlags(fd) & (O_NONBLOCK | O_CLOEXEC), O_NONBLOCK | O_CLOEXEC, `fd ${fd} flags`);
    }
    assert.equal(addon.unixAccept(listener), -E.EAGAIN);
    closeAll(listener, client, server);
  });

  test('a socket someone answers on is not taken over (-EADDRINUSE); a stale one is replaced', () => {
    const p = socketPath();
    const first = fdOf(addon.unixListen(p), 'first listen');
    assert.equal(addon.unixListen(p), -E.EADDRINUSE);
    // The probe connected once; nothing else came of it.
    const probe = fdOf(addon.unixAccept(first), 'the probe connection');
    closeAll(probe, first);
    assert.ok(fs.statSync(p).isSocket(), 'closing a listener leaves its socket file: stale');
    assert.equal(addon.unixConnect(p), -E.ECONNREFUSED);
    const second = fdOf(addon.unixListen(p), 'listen over a stale socket');
    const client = fdOf(addon.unixConnect(p), 'connect to the new listener');
    closeAll(client, second);
  });

  test('paths that cannot be listened on', () => {
    const file = path.join(tmp, 'not-a-socket');
    fs.writeFileSync(file, 'keep me');
    assert.equal(addon.unixListen(file), -E.EEXIST);
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep me', 'a regular file is never replaced');
    assert.equal(addon.unixListen(path.join(tmp, 'x'.repeat(120))), -E.ENAMETOOLONG);
    assert.equal(addon.unixListen(''), -E.EINVAL);
    assert.equal(addon.unixListen(`${tmp}/a\0b`), -E.EINVAL);
    assert.equal(addon.unixListen(path.join(tmp, 'no-such-dir', 's.sock')), -E.ENOENT);
    assert.equal(addon.unixConnect(path.join(tmp, 'nothing-here.sock')), -E.ENOENT);
    assert.equal(addon.unixAccept(-1), -E.EBADF);
    assert.throws(() => addon.unixListen(42 as unknown as string), { code: 'EINVAL', message: /path must be a string/ });
    assert.equal(addon.unixListen(socketPath(), 0o1000), -E.EINVAL, 'a mode past 0777');
    assert.equal(addon.unixListen(socketPath(), -1), -E.EINVAL);
    assert.throws(() => addon.unixListen(socketPath(), 1.5), { code: 'EINVAL', message: /mode must be an integer/ });
  });

  test('the socket file has exactly the mode asked for (0600 by default), whatever the umask', () => {
    const umask = process.umask(0o077);
    try {
      for (const [mode, want] of [[undefined, 0o600], [0o660, 0o660], [0o600, 0o600], [0, 0]] as const) {
        const p = socketPath();
        const listener = fdOf(addon.unixListen(p, mode), `listen with mode ${mode}`);
        assert.equal(fs.statSync(p).mode & 0o777, want, `mode ${mode?.toString(8)} under umask 077`);
        closeAll(listener);
      }
    } finally { process.umask(umask); }
  });
});

describe('messages with fds', () => {
  for (const count of [0, 1, 8]) {
    test(`sendMsg/recvMsg round trip with ${count} fds`, () => {
      const memory = newMemory();
      const { listener, client, server } = socketPair();
      const sent = Array.from({ length: count }, (_, i) => fdOf(addon.memfdCreate(`rt${i}`, (i + 1) * PAGE), 'memfd'));
      const len = writeText(memory, PEER_AT, `vhost-user message with ${count} fds`);
      assert.equal(addon.sendMsg(client, memory, PEER_AT, len, sent), len);
      const got = decodeRecv(addon.recvMsg(server, memory, MSG_AT, 256, FDS_AT, 8));
      assert.deepEqual(got, { bytes: len, fds: count, fdsRefused: false, dataTruncated: false });
      assert.equal(readText(memory, MSG_AT, len), `vhost-user message with ${count} fds`);
      const received = fdsAt(memory, count);
      received.forEach((fd, i) => {
        assert.ok(!sent.includes(fd), 'a new fd number in this process');
        assert.equal(addon.fdSize(fd), (i + 1) * PAGE, 'the same memfd, in order');
        assert.ok((fdFlags(fd) & O_CLOEXEC) !== 0, 'received fds are CLOEXEC (MSG_CMSG_CLOEXEC)');
      });
      assert.equal(addon.recvMsg(server, memory, MSG_AT, 256, FDS_AT, 8), -E.EAGAIN, 'one message, then nothing');
      closeAll(...sent, ...received, listener, client, server);
    });
  }

  test('every fd received is made nonblocking (a guest\'s pipe or file never makes a reader or writer wait); fdKind tells them apart', () => {
    const memory = newMemory();
    const { listener, client, server } = socketPair();
    const fifo = path.join(tmp, 'kind.fifo');
    spawnSync('mkfifo', [fifo]);
    const file = path.join(tmp, 'kind.file');
    fs.writeFileSync(file, 'x');
    const sent = [fs.openSync(fifo, 'r+'), fs.openSync(file, 'r+'), fdOf(addon.eventfdCreate(), 'eventfd'), listener,
      fs.openSync('/dev/null', 'r+'), fdOf(addon.memfdCreate('kind', PAGE), 'memfd')];
    assert.equal(fdFlags(sent[0]) & O_NONBLOCK, 0, 'the sender\'s FIFO starts blocking');
    const len = writeText(memory, PEER_AT, 'fds of every kind');
    assert.equal(addon.sendMsg(client, memory, PEER_AT, len, sent), len);
    const got = decodeRecv(addon.recvMsg(server, memory, MSG_AT, 256, FDS_AT, 8));
    assert.equal(got.fds, sent.length);
    const received = fdsAt(memory, sent.length);
    for (const fd of received) assert.equal(fdFlags(fd) & O_NONBLOCK, O_NONBLOCK, `received fd ${fd} (${fdTarget(fd)}) is nonblocking`);
    const K = VHOST_FD_KIND;
    assert.deepEqual(received.map((fd) => addon.fdKind(fd)), [K.PIPE, K.FILE, K.EVENTFD, K.SOCKET, K.OTHER, K.FILE]);
    assert.equal(addon.eventfdRead(received[2]), -E.EAGAIN, 'telling an eventfd changed nothing in it');
    assert.equal(addon.fdKind(-1), -E.EBADF);
    for (const fd of [sent[0], sent[1], sent[4]]) fs.closeSync(fd);
    closeAll(sent[2], sent[5], ...received, listener, client, server);
  });

  test('a message with more fds than maxFds: data delivered, every fd closed, FDS_REFUSED', () => {
    const memory = newMemory();
    const { listener, client, server } = socketPair();
    const sent = Array.from({ length: 8 }, () => fdOf(addon.eventfdCreate(), 'eventfd'));
    const before = openFdCount();
    assert.equal(addon.sendMsg(client, memory, PEER_AT, 4, sent), 4);
    const rc = addon.recvMsg(server, memory, MSG_AT, 64, FDS_AT, 2);
    assert.deepEqual(decodeRecv(rc), { bytes: 4, fds: 0, fdsRefused: true, dataTruncated: false });
    assert.equal(openFdCount(), before, 'the 8 received fds were closed');
    closeAll(...sent, listener, client, server);
  });

  for (const count of [9, 200]) {
    test(`a peer that sends ${count} fds (MSG_CTRUNC): every fd closed, data delivered, FDS_REFUSED`, (t) => {
      if (skipIfMissing(t, !havePython, 'python3 (with os.memfd_create) is not installed')) return;
      const memory = newMemory();
      const p = socketPath();
      const listener = fdOf(addon.unixListen(p), 'listen');
      pythonPeer(p, 'many-fds', count);
      const server = fdOf(addon.unixAccept(listener), 'accept');
      const before = openFdCount();
      const got = decodeRecv(addon.recvMsg(server, memory, MSG_AT, 64, FDS_AT, 8));
      assert.deepEqual(got, { bytes: 12, fds: 0, fdsRefused: true, dataTruncated: false });
      assert.equal(readText(memory, MSG_AT, 12), 'hostile-peer');
      assert.equal(openFdCount(), before, 'no fd of the peer\'s stayed open');
      assert.equal(addon.recvMsg(server, memory, MSG_AT, 64, FDS_AT, 8), 0, 'then the peer\'s close');
      closeAll(listener, server);
    });
  }

  test('ranges outside the memory, cap 0, maxFds > 8 and overlapping ranges are refused and consume nothing', () => {
    const memory = newMemory(1, 16);
    const { listener, client, server } = socketPair();
    const memfd = fdOf(addon.memfdCreate('kept', PAGE), 'memfd');
    assert.equal(addon.sendMsg(client, memory, PEER_AT, 5, [memfd]), 5);
    const size = memory.buffer.byteLength;
    assert.equal(addon.recvMsg(server, memory, size - 4, 5, FDS_AT, 8), -E.EFAULT);
    assert.equal(addon.recvMsg(server, memory, 2 ** 32 - 1, 2, FDS_AT, 8), -E.EFAULT);
    assert.equal(addon.recvMsg(server, memory, MSG_AT, 64, size - 8, 8), -E.EFAULT);
    assert.equal(addon.recvMsg(server, memory, MSG_AT, 0, FDS_AT, 8), -E.EINVAL);
    assert.equal(addon.recvMsg(server, memory, MSG_AT, 64, FDS_AT, 9), -E.EINVAL);
    assert.equal(addon.recvMsg(server, memory, MSG_AT, 64, MSG_AT + 60, 8), -E.EINVAL);
    assert.equal(addon.recvMsg(-1, memory, MSG_AT, 64, FDS_AT, 8), -E.EBADF);
    const got = decodeRecv(addon.recvMsg(server, memory, MSG_AT, 64, FDS_AT, 1));
    assert.deepEqual(got, { bytes: 5, fds: 1, fdsRefused: false, dataTruncated: false }, 'the message is still there');
    closeAll(...fdsAt(memory, 1), memfd, listener, client, server);
  });

  test('the memory must be a shared Wasm memory (or its buffer, or a whole view of it)', () => {
    const memory = newMemory();
    const { listener, client, server } = socketPair();
    for (const m of [memory.buffer, new Uint8Array(memory.buffer)]) {
      assert.equal(addon.sendMsg(client, m, PEER_AT, 1, []), 1);
      assert.equal(decodeRecv(addon.recvMsg(server, m, MSG_AT, 8, FDS_AT, 0)).bytes, 1);
    }
    const plain = new WebAssembly.Memory({ initial: 1 });
    assert.throws(() => addon.recvMsg(server, plain, MSG_AT, 8, FDS_AT, 0), { code: 'EINVAL', message: /SharedArrayBuffer/ });
    assert.throws(() => addon.recvMsg(server, new Uint8Array(memory.buffer, 16), MSG_AT, 8, FDS_AT, 0), { code: 'EINVAL', message: /from byte 0/ });
    assert.throws(() => addon.recvMsg(server, {} as unknown as WebAssembly.Memory, MSG_AT, 8, FDS_AT, 0), { code: 'EINVAL' });
    assert.throws(() => addon.recvMsg('3' as unknown as number, memory, MSG_AT, 8, FDS_AT, 0), { code: 'EINVAL', message: /fd must be an integer/ });
    assert.throws(() => addon.sendMsg(client, memory, PEER_AT, 1, 7 as unknown as number[]), { code: 'EINVAL', message: /fds must be an array/ });
    closeAll(listener, client, server);
  });

  test('sendMsg refuses bad arguments; a closed peer is -EPIPE, not SIGPIPE; its close reads as 0', () => {
    const memory = newMemory();
    const { listener, client, server } = socketPair();
    const ev = fdOf(addon.eventfdCreate(), 'eventfd');
    assert.equal(addon.sendMsg(client, memory, PEER_AT, 1, Array(9).fill(ev)), -E.EINVAL);
    assert.equal(addon.sendMsg(client, memory, PEER_AT, 0, []), -E.EINVAL);
    assert.equal(addon.sendMsg(client, memory, memory.buffer.byteLength - 1, 2, []), -E.EFAULT);
    assert.equal(addon.sendMsg(client, memory, PEER_AT, 1, [-1]), -E.EBADF);
    closeAll(ev);
    assert.equal(addon.sendMsg(client, memory, PEER_AT, 1, [ev]), -E.EBADF, 'a closed fd in the list');
    assert.equal(addon.recvMsg(server, memory, MSG_AT, 8, FDS_AT, 8), -E.EAGAIN, 'nothing was sent');
    closeAll(client);
    assert.equal(addon.recvMsg(server, memory, MSG_AT, 8, FDS_AT, 8), 0, 'peer closed');
    assert.equal(addon.sendMsg(server, memory, PEER_AT, 1, []), -E.EPIPE);
    closeAll(listener, server);
  });

  test('closeFd: twice is -EBADF; stdio is never closed', () => {
    const ev = fdOf(addon.eventfdCreate(), 'eventfd');
    assert.equal(addon.closeFd(ev), 0);
    assert.equal(addon.closeFd(ev), -E.EBADF);
    for (const fd of [0, 1, 2, -1]) assert.equal(addon.closeFd(fd), -E.EBADF);
  });
});

describe('guest memory mapped into the Wasm memory', () => {
  test('bytes written through the fd show in Wasm memory and the other way round; neighbours untouched', () => {
    const memory = newMemory();
    const u8 = new Uint8Array(memory.buffer);
    u8.fill(0xee, MAP_AT - PAGE, MAP_AT);
    u8.fill(0xdd, MAP_AT + 2 * PAGE, MAP_AT + 3 * PAGE);
    const fd = fdOf(addon.memfdCreate('guest-rw', 4 * PAGE), 'memfd');
    fs.writeSync(fd, Buffer.from('from the guest'), 0, 14, PAGE);
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, 2 * PAGE, fd, PAGE), 0);
    assert.equal(readText(memory, MAP_AT, 14), 'from the guest', 'fd offset PAGE is at Wasm MAP_AT');
    const probe = probeOn(memory);
    assert.equal(probe.load(MAP_AT), 'f'.charCodeAt(0), 'Wasm code reads it too');
    writeText(memory, MAP_AT + PAGE, 'from the core');
    probe.store(MAP_AT + PAGE + 13, '!'.charCodeAt(0));
    const back = Buffer.alloc(14);
    fs.readSync(fd, back, 0, 14, 2 * PAGE);
    assert.equal(back.toString(), 'from the core!');
    assert.ok(u8.subarray(MAP_AT - PAGE, MAP_AT).every((b) => b === 0xee), 'the page before is untouched');
    assert.ok(u8.subarray(MAP_AT + 2 * PAGE, MAP_AT + 3 * PAGE).every((b) => b === 0xdd), 'the page after is untouched');
    assert.equal(mapsOf('guest-rw').length, 1);
    assert.match(mapsOf('guest-rw')[0], / rw-s /, 'shared and read-write');
    assert.equal(addon.unmapFromMemory(memory, MAP_AT, 2 * PAGE), 0);
    closeAll(fd);
  });

  test('V8 keeps the backing store in place: the mapping survives memory.grow, at the same address, for every view and thread', async () => {
    const memory = newMemory(4, 4096);
    const fd = fdOf(addon.memfdCreate('guest-grow', 16 * PAGE), 'memfd');
    fs.writeSync(fd, Buffer.from('before grow'), 0, 11, 0);
    const oldView = new Uint8Array(memory.buffer);
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, 16 * PAGE, fd, 0), 0);
    const [where] = mapsOf('guest-grow');
    assert.ok(where, 'mapped');
    for (const pages of [1, 60, 1000, 2000]) memory.grow(pages);   // 4 -> 3065 pages, ~190 MiB
    assert.equal(memory.buffer.byteLength, 3065 * WASM_PAGE);
    assert.deepEqual(mapsOf('guest-grow'), [where], 'the same address range after growing ~750 times');
    assert.equal(readText(memory, MAP_AT, 11), 'before grow', 'a new memory.buffer view sees it');
    fs.writeSync(fd, Buffer.from('after grow!'), 0, 11, 0);
    assert.equal(Buffer.from(oldView.subarray(MAP_AT, MAP_AT + 11)).toString(), 'after grow!', 'so does the view from before the grow');
    assert.equal(probeOn(memory).load(MAP_AT), 'a'.charCodeAt(0), 'and Wasm code instantiated after it');
    // Another isolate (a reactor is a worker thread) on the same memory sees the same pages.
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const view = new Uint8Array(workerData.memory.buffer, workerData.at, 11);
      parentPort.postMessage(Buffer.from(view).toString());
      view[0] = 'A'.charCodeAt(0);`, { eval: true, workerData: { memory, at: MAP_AT } });
    // Listen for the exit first: a worker that ends at once has its message delivered while Node
    // handles its exit, and 'exit' follows in the same turn, before an await could listen for it.
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const seen = await new Promise<string>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    await exited;
    assert.equal(seen, 'after grow!');
    const back = Buffer.alloc(1);
    fs.readSync(fd, back, 0, 1, 0);
    assert.equal(back.toString(), 'A', 'the worker\'s write reached the fd');
    assert.equal(addon.unmapFromMemory(memory, MAP_AT, 16 * PAGE), 0);
    closeAll(fd);
  });

  test('unmap puts zero pages back: the memory stays usable and the guest no longer sees it', () => {
    const memory = newMemory();
    const fd = fdOf(addon.memfdCreate('guest-unmap', 2 * PAGE), 'memfd');
    fs.writeSync(fd, Buffer.alloc(2 * PAGE, 0x77), 0, 2 * PAGE, 0);
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, 2 * PAGE, fd, 0), 0);
    assert.equal(new Uint8Array(memory.buffer)[MAP_AT + 5], 0x77);
    assert.equal(addon.unmapFromMemory(memory, MAP_AT, 2 * PAGE), 0);
    assert.deepEqual(mapsOf('guest-unmap'), []);
    const u8 = new Uint8Array(memory.buffer, MAP_AT, 2 * PAGE);
    assert.ok(u8.every((b) => b === 0), 'zeroes');
    u8.fill(0x11);
    probeOn(memory).store(MAP_AT, 0x22);
    assert.equal(u8[0], 0x22, 'writable by JS and Wasm');
    const back = Buffer.alloc(2 * PAGE);
    fs.readSync(fd, back, 0, 2 * PAGE, 0);
    assert.ok(back.every((b) => b === 0x77), 'the guest memory kept its bytes and saw none of ours');
    closeAll(fd);
  });

  test('a regular file maps too; remapping over a mapped range replaces it', () => {
    const memory = newMemory();
    const file = path.join(tmp, 'region.bin');
    fs.writeFileSync(file, Buffer.alloc(PAGE, 0x31));
    const fileFd = fs.openSync(file, 'r+');
    const memfd = fdOf(addon.memfdCreate('guest-replace', PAGE), 'memfd');
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, PAGE, fileFd, 0), 0);
    assert.equal(new Uint8Array(memory.buffer)[MAP_AT], 0x31);
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, PAGE, memfd, 0), 0);
    assert.equal(new Uint8Array(memory.buffer)[MAP_AT], 0, 'now the memfd');
    assert.equal(addon.unmapFromMemory(memory, MAP_AT, PAGE), 0);
    fs.closeSync(fileFd);
    closeAll(memfd);
  });

  test('misaligned, out-of-range, past-EOF, non-mappable and read-only fds are refused before mmap', () => {
    const memory = newMemory(2, 16);
    const size = memory.buffer.byteLength;
    const fd = fdOf(addon.memfdCreate('guest-refused', 4 * PAGE), 'memfd');
    const { listener, client, server } = socketPair();
    const ev = fdOf(addon.eventfdCreate(), 'eventfd');
    const readOnly = fs.openSync(`/proc/self/fd/${fd}`, 'r');
    const cases: [number, number, number, number, number, string][] = [
      [MAP_AT + 1, PAGE, fd, 0, -E.EINVAL, 'misaligned offset'],
      [MAP_AT, PAGE + 1, fd, 0, -E.EINVAL, 'misaligned length'],
      [MAP_AT, 0, fd, 0, -E.EINVAL, 'length 0'],
      [MAP_AT, PAGE, fd, 512, -E.EINVAL, 'misaligned fdOffset'],
      [size - PAGE, 2 * PAGE, fd, 0, -E.EFAULT, 'past the end of the memory'],
      [size, PAGE, fd, 0, -E.EFAULT, 'at the end of the memory'],
      [2 ** 40, PAGE, fd, 0, -E.EFAULT, 'far outside the memory'],
      [MAP_AT, 2 * PAGE, fd, 3 * PAGE, -E.ENXIO, 'past the end of the fd'],
      [MAP_AT, PAGE, ev, 0, -E.ENODEV, 'an eventfd'],
      [MAP_AT, PAGE, server, 0, -E.ENODEV, 'a socket'],
      [MAP_AT, PAGE, readOnly, 0, -E.EACCES, 'an O_RDONLY fd'],
      [MAP_AT, PAGE, -1, 0, -E.EBADF, 'a negative fd'],
      [MAP_AT, PAGE, 1 << 30, 0, -E.EBADF, 'an fd that is not open'],
    ];
    const u8 = new Uint8Array(memory.buffer);
    u8.fill(0x5c, MAP_AT, MAP_AT + 2 * PAGE);
    for (const [offset, length, mapFd, fdOffset, rc, what] of cases) {
      assert.equal(addon.mapIntoMemory(memory, offset, length, mapFd, fdOffset), rc, what);
    }
    assert.ok(u8.subarray(MAP_AT, MAP_AT + 2 * PAGE).every((b) => b === 0x5c), 'nothing was mapped');
    assert.equal(addon.unmapFromMemory(memory, MAP_AT + 1, PAGE), -E.EINVAL);
    assert.equal(addon.unmapFromMemory(memory, MAP_AT, 0), -E.EINVAL);
    assert.equal(addon.unmapFromMemory(memory, size, PAGE), -E.EFAULT);
    assert.throws(() => addon.mapIntoMemory(memory, -PAGE, PAGE, fd, 0), { code: 'EINVAL', message: /offset must not be negative/ });
    assert.throws(() => addon.mapIntoMemory(memory, 0.5, PAGE, fd, 0), { code: 'EINVAL', message: /offset must be an integer/ });
    fs.closeSync(readOnly);
    closeAll(fd, ev, listener, client, server);
  });

  test('an mmap that fails after the checks (a write-sealed memfd: -EPERM) leaves zero pages, not a hole', (t) => {
    if (skipIfMissing(t, !havePython, 'python3 (with os.memfd_create) is not installed')) return;
    const memory = newMemory();
    const p = socketPath();
    const listener = fdOf(addon.unixListen(p), 'listen');
    pythonPeer(p, 'sealed-memfd');
    const server = fdOf(addon.unixAccept(listener), 'accept');
    assert.deepEqual(decodeRecv(addon.recvMsg(server, memory, MSG_AT, 64, FDS_AT, 1)).fds, 1);
    const [sealed] = fdsAt(memory, 1);
    const u8 = new Uint8Array(memory.buffer);
    u8.fill(0x42, MAP_AT, MAP_AT + 2 * PAGE);
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, 2 * PAGE, sealed, 0), -E.EPERM);
    assert.ok(u8.subarray(MAP_AT, MAP_AT + 2 * PAGE).every((b) => b === 0), 'zero pages');
    u8[MAP_AT] = 1;
    assert.equal(probeOn(memory).load(MAP_AT), 1, 'usable by JS and Wasm');
    closeAll(sealed, listener, server);
  });
});

describe('guarded guest memory: a file that shrinks under its mapping', () => {
  const addonPath = fileURLToPath(new URL('../../../host/native/build/Release/wstor_native.node', import.meta.url));
  /**
   * A child process maps a file over Wasm memory (guarded or not), writes through it, shrinks the file
   * to nothing and reads again from `reader` (the main thread, or a worker's Wasm); it prints what it saw.
   */
  const shrinkScript = (guard: boolean, reader: 'main' | 'wasm') => `
    const fs = require('node:fs');
    const { Worker } = require('node:worker_threads');
    const addon = require(${JSON.stringify(addonPath)});
    const PAGE = addon.hostPageSize(), MAP_AT = 0x10000, GUARD_AT = 0x100;
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 64, shared: true });
    const file = ${JSON.stringify(path.join(tmp, 'shrinks'))} + process.pid;
    const fd = fs.openSync(file, 'w+');
    fs.ftruncateSync(fd, 4 * PAGE);
    const rc = ${guard} ? addon.mapIntoMemory(memory, MAP_AT, 4 * PAGE, fd, 0, GUARD_AT, 7) : addon.mapIntoMemory(memory, MAP_AT, 4 * PAGE, fd, 0);
    if (rc !== 0) throw new Error('map ' + rc);
    const u8 = new Uint8Array(memory.buffer);
    u8[MAP_AT + PAGE] = 0x5a;
    fs.ftruncateSync(fd, 0);
    const done = (seen) => {
      const guardWord = new Uint32Array(memory.buffer)[GUARD_AT / 4];
      const stats = addon.guardStats();
      addon.unmapFromMemory(memory, MAP_AT, 4 * PAGE);
      console.log(JSON.stringify({ seen, guardWord, repairs: stats.repairs, armedBefore: stats.armed, armedAfter: addon.guardStats().armed }));
      fs.closeSync(fd); fs.unlinkSync(file);
    };
    if (${JSON.stringify(reader)} === 'main') done(u8[MAP_AT + PAGE]);
    else {
      // A worker loads the byte in Wasm (i32.load8_u from the shared memory), as a reactor would.
      const w = new Worker(\`
        const { parentPort, workerData } = require('node:worker_threads');
        const probe = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(workerData.probe)), { env: { memory: workerData.memory } });
        parentPort.postMessage(probe.exports.load(workerData.at));
      \`, { eval: true, workerData: { memory, probe: ${JSON.stringify([...PROBE_WASM])}, at: MAP_AT + PAGE } });
      w.on('message', (v) => { done(v); w.terminate(); });
    }
  `;
  const run = (guard: boolean, reader: 'main' | 'wasm') => spawnSync(process.execPath, ['-e', shrinkScript(guard, reader)], { encoding: 'utf8', timeout: 30_000 });

  test('unguarded, the next access is a SIGBUS that ends the process (as it did for every guest before)', () => {
    const r = run(false, 'main');
    assert.equal(r.signal, 'SIGBUS', `the child died of SIGBUS (status ${r.status}, stderr ${r.stderr})`);
  });

  for (const reader of ['main', 'wasm'] as const) {
    test(`guarded, the SIGBUS (${reader === 'main' ? 'JavaScript on the main thread' : 'Wasm on a worker'}) is repaired: zero pages, the guard word set, the process lives`, () => {
      const r = run(true, reader);
      assert.equal(r.status, 0, `the child lived (signal ${r.signal}, stderr ${r.stderr})`);
      assert.deepEqual(JSON.parse(r.stdout), { seen: 0, guardWord: 7, repairs: 1, armedBefore: 1, armedAfter: 0 },
        'the access read a zero page; the guard word got its value; one repair; unmapping disarmed it');
      assert.match(r.stderr, /SIGBUS in a guest's memory .*zero pages put in its place/);
    });
  }

  test('a SIGBUS outside every guarded mapping still goes to the handler that was there before', () => {
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      process.on('SIGBUS', () => { console.log('the earlier handler ran'); process.exit(0); });
      const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
      const fd = addon.memfdCreate('chain', addon.hostPageSize());
      if (addon.mapIntoMemory(memory, 0x10000, addon.hostPageSize(), fd, 0, 0x100, 1) !== 0) throw new Error('map');
      process.kill(process.pid, 'SIGBUS');
      setTimeout(() => process.exit(3), 5000);
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal} stderr ${r.stderr}`);
    assert.match(r.stdout, /the earlier handler ran/);
  });

  test('the guard\'s arguments are checked', () => {
    const memory = newMemory();
    const fd = fdOf(addon.memfdCreate('guard-args', PAGE), 'memfd');
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, PAGE, fd, 0, 0x102, 1), -E.EINVAL, 'a guard word not aligned');
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, PAGE, fd, 0, 0x100, 0), -E.EINVAL, 'a guard value of 0');
    assert.equal(addon.mapIntoMemory(memory, MAP_AT, PAGE, fd, 0, memory.buffer.byteLength, 1), -E.EFAULT, 'a guard word outside the memory');
    assert.throws(() => addon.mapIntoMemory(memory, MAP_AT, PAGE, fd, 0, 0x100), { code: 'EINVAL', message: /guardValue/ });
    closeAll(fd);
  });
});

describe('memfds and eventfds', () => {
  test('memfdCreate: the size, sealed against shrinking and growing; fdSize', () => {
    const fd = fdOf(addon.memfdCreate('inflight', 3 * PAGE), 'memfd');
    assert.equal(addon.fdSize(fd), 3 * PAGE);
    assert.match(fdTarget(fd), /^\/memfd:inflight/);
    assert.ok((fdFlags(fd) & O_CLOEXEC) !== 0);
    assert.throws(() => fs.ftruncateSync(fd, PAGE), { code: 'EPERM' });
    assert.throws(() => fs.ftruncateSync(fd, 4 * PAGE), { code: 'EPERM' });
    assert.equal(addon.memfdCreate('n'.repeat(250), PAGE), -E.ENAMETOOLONG);
    assert.equal(addon.memfdCreate('a\0b', PAGE), -E.EINVAL);
    const ev = fdOf(addon.eventfdCreate(), 'eventfd');
    assert.equal(addon.fdSize(ev), -E.ENODEV);
    closeAll(fd, ev);
    assert.equal(addon.fdSize(fd), -E.EBADF);
  });

  test('eventfd: nonblocking, values add up, a read resets, -EAGAIN when empty or full', () => {
    const fd = fdOf(addon.eventfdCreate(), 'eventfd');
    assert.equal(fdFlags(fd) & (O_NONBLOCK | O_CLOEXEC), O_NONBLOCK | O_CLOEXEC);
    assert.equal(addon.eventfdRead(fd), -E.EAGAIN);
    assert.equal(addon.eventfdWrite(fd, 1), 0);
    assert.equal(addon.eventfdWrite(fd, 2), 0);
    assert.equal(addon.eventfdRead(fd), 3);
    assert.equal(addon.eventfdRead(fd), -E.EAGAIN);
    assert.equal(addon.eventfdWrite(fd, 0), -E.EINVAL);
    assert.equal(addon.eventfdWrite(-1, 1), -E.EBADF);
    let writes = 0;
    while (addon.eventfdWrite(fd, Number.MAX_SAFE_INTEGER) === 0) assert.ok(++writes < 4096, 'the counter fills');
    assert.equal(addon.eventfdWrite(fd, Number.MAX_SAFE_INTEGER), -E.EAGAIN);
    assert.equal(writes, 2048, 'floor((2^64 - 2) / (2^53 - 1)) writes fit');
    assert.ok(addon.eventfdRead(fd) > 2 ** 63, 'a huge counter comes back rounded');
    const empty = fs.openSync(path.join(tmp, 'empty'), 'w+');
    assert.equal(addon.eventfdRead(empty), -E.EINVAL, 'not an eventfd: a short read');
    fs.closeSync(empty);
    assert.throws(() => addon.eventfdWrite(fd, 1.5), { code: 'EINVAL', message: /value must be an integer/ });
    closeAll(fd);
  });
});

describe('the typed wrapper (host/vhost-host.ts)', () => {
  const vhost = VhostNative.load();

  test('EAGAIN is null, errors are WstorErrors that say what to do', () => {
    const memory = newMemory();
    const p = socketPath();
    const listener = vhost.listen(p);
    assert.equal(vhost.accept(listener), null);
    assert.throws(() => vhost.listen(p), (e: unknown) => e instanceof WstorError && e.code === 'EADDRINUSE' &&
      e.errno === -E.EADDRINUSE && /another process is listening there/.test(e.message));
    vhost.close(vhost.accept(listener)!); // the probe
    const client = vhost.connect(p);
    const server = vhost.accept(listener)!;
    assert.equal(vhost.recv(server, memory, MSG_AT, 16, FDS_AT, 8), null);
    const ev = vhost.eventfd();
    assert.equal(vhost.send(client, memory, PEER_AT, 3, [ev]), 3);
    const got = vhost.recv(server, memory, MSG_AT, 16, FDS_AT, 8);
    assert.deepEqual(got, { bytes: 3, fds: 1, fdsRefused: false, dataTruncated: false });
    const [received] = fdsAt(memory, 1);
    assert.equal(vhost.signal(ev), true);
    assert.equal(vhost.drain(received), 1, 'the same eventfd');
    assert.equal(vhost.drain(received), null);
    assert.throws(() => vhost.recv(server, memory, memory.buffer.byteLength, 16, FDS_AT, 8),
      { code: 'EFAULT', message: /outside the Wasm memory/ });
    assert.throws(() => vhost.map(memory, MAP_AT + 1, vhost.pageBytes, ev, 0),
      { code: 'EINVAL', message: /multiples of the page size/ });
    assert.throws(() => vhost.map(memory, MAP_AT, vhost.pageBytes, ev, 0),
      { code: 'ENODEV', message: /not a regular file or memfd/ });
    assert.throws(() => vhost.connect(path.join(tmp, 'none.sock')), { code: 'ENOENT', message: /is the target running/ });
    assert.throws(() => vhost.listen(path.join(tmp, 'y'.repeat(110))), { code: 'ENAMETOOLONG', message: /at most 107 bytes/ });
    const memfd = vhost.memfd('wrapped', 2 * vhost.pageBytes);
    assert.equal(vhost.fdSize(memfd), 2 * vhost.pageBytes);
    vhost.map(memory, MAP_AT, 2 * vhost.pageBytes, memfd, 0);
    vhost.unmap(memory, MAP_AT, 2 * vhost.pageBytes);
    for (const fd of [memfd, ev, received, client, server, listener]) vhost.close(fd);
    assert.throws(() => vhost.close(ev), { code: 'EBADF', message: /closed twice/ });
  });

  test('decodeRecv takes the packing apart', () => {
    const packed = 1234 + 5 * VHOST_RECV.FDS_SCALE + (VHOST_RECV.FDS_REFUSED | VHOST_RECV.DATA_TRUNCATED) * VHOST_RECV.FLAGS_SCALE;
    assert.deepEqual(decodeRecv(packed), { bytes: 1234, fds: 5, fdsRefused: true, dataTruncated: true });
    assert.deepEqual(decodeRecv(2 ** 32 - 1), { bytes: 2 ** 32 - 1, fds: 0, fdsRefused: false, dataTruncated: false });
    assert.throws(() => decodeRecv(-11), RangeError);
  });
});

test('no fd leaked by anything above', () => {
  assert.equal(openFdCount(), fdsAtStart);
});
