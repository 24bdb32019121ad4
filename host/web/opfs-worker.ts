// The OPFS worker: owns every FileSystemSyncAccessHandle of one engine (a file has one open handle at a
// time, so one owner) and runs the reactors' file-bdev requests on them. Its synchronous reads and
// writes block only this worker, never a reactor: reactors hand it descriptors through their rings
// (opfs-ring.ts) and keep polling. Control (open, close, stop) comes by postMessage, answered by id,
// taken at the turns of the event loop the serving loop yields.

import { RingBell, RingConsumer, type RingRequest } from './opfs-ring.js';
import type { OpfsReply, OpfsRequest } from './opfs-protocol.js';

// Ops of the wire (assembly/bdev/uring/wire.ts).
const OP_READ = 0, OP_WRITE = 1, OP_FSYNC = 2, OP_FDATASYNC = 3, OP_PUNCH_HOLE = 4, OP_ZERO_RANGE = 5, OP_READV = 6, OP_WRITEV = 7;
const IOV_MAX = 64;
const EBADF = -9, EFAULT = -14, EINVAL = -22, ENOSPC = -28, EIO = -5;

/** Requests taken from one ring before the next ring's turn (fairness between reactors). */
const BATCH_PER_RING = 32;
/** Polling this long without work before sleeping on the bell. */
const IDLE_SPIN_MS = 0.05;
/**
 * A sleep's bound: it blocks the worker's event loop, so control messages (open, close) wait at most
 * this long; it also bounds what a lost wake-up could cost (none is expected).
 */
const SLEEP_MS = 2;
/** Busy serving this long without a turn of the event loop: yield, so control messages get in. */
const YIELD_EVERY_MS = 2;
/** Error reports per ring per second; the rest are counted and said in the next one. */
const REPORTS_PER_SECOND = 10;
const ZERO_CHUNK = new Uint8Array(1 << 16);

interface SyncHandle {
  read(buffer: ArrayBufferView, options: { at: number }): number;
  write(buffer: ArrayBufferView, options: { at: number }): number;
  flush(): void; getSize(): number; truncate(size: number): void; close(): void;
}
interface FileHandle { createSyncAccessHandle(): Promise<SyncHandle> }
interface Directory { getFileHandle(name: string, options: { create: boolean }): Promise<FileHandle>; removeEntry(name: string): Promise<void> }
interface Scope {
  onmessage: ((e: MessageEvent<OpfsRequest>) => void) | null;
  postMessage(m: OpfsReply): void;
  close(): void;
  navigator: { storage: { getDirectory(): Promise<Directory>; estimate(): Promise<{ usage?: number; quota?: number }> } };
}
const scope = globalThis as unknown as Scope;

interface Ring { consumer: RingConsumer; reactor: number; reports: number; suppressed: number; windowStart: number }

let memory: WebAssembly.Memory | null = null;
let view = new Uint8Array(0);
let bell: RingBell | null = null;
const rings: Ring[] = [];
const files = new Map<number, { name: string; handle: SyncHandle }>();
let nextFd = 3;
let stopping = false;

/** The memory's bytes at [ptr, ptr + len), or null when that leaves it (refreshed after growth). */
function bytes(ptr: number, len: number): Uint8Array | null {
  if (ptr + len > view.byteLength) view = new Uint8Array(memory!.buffer);
  return ptr + len <= view.byteLength ? view.subarray(ptr, ptr + len) : null;
}

function errnoOf(err: unknown): number {
  const name = (err as { name?: string }).name;
  if (name === 'QuotaExceededError') return ENOSPC;
  if (name === 'InvalidStateError') return EBADF;
  return EIO;
}

function transfer(handle: SyncHandle, write: boolean, buf: number, len: number, at: number): number {
  const target = bytes(buf, len);
  if (!target) return EFAULT;
  return write ? handle.write(target, { at }) : handle.read(target, { at });
}

function zeroRange(handle: SyncHandle, at: number, len: number): number {
  for (let done = 0; done < len;) {
    const n = Math.min(ZERO_CHUNK.length, len - done);
    const written = handle.write(ZERO_CHUNK.subarray(0, n), { at: at + done });
    if (written !== n) return ENOSPC;
    done += n;
  }
  return 0;
}

function vectored(handle: SyncHandle, write: boolean, r: RingRequest): number {
  if (r.iovcnt < 1 || r.iovcnt > IOV_MAX) return EINVAL;
  const pairs = bytes(r.buf, r.iovcnt * 8);
  if (!pairs) return EFAULT;
  const iov = new DataView(pairs.buffer, pairs.byteOffset, pairs.byteLength);
  let total = 0;
  for (let i = 0; i < r.iovcnt; i++) {
    const len = iov.getUint32(i * 8 + 4, true);
    const n = transfer(handle, write, iov.getUint32(i * 8, true), len, r.offset + total);
    if (n < 0) return n;
    total += n;
    if (n < len) break;                  // short: the core reports it
  }
  return total;
}

/** Run one request on its file: bytes moved, 0, or -errno. */
function perform(r: RingRequest): number {
  const file = files.get(r.fd);
  if (!file) return EBADF;
  const h = file.handle;
  switch (r.op) {
    case OP_READ: return transfer(h, false, r.buf, r.len, r.offset);
    case OP_WRITE: return transfer(h, true, r.buf, r.len, r.offset);
    case OP_READV: return vectored(h, false, r);
    case OP_WRITEV: return vectored(h, true, r);
    case OP_FSYNC: case OP_FDATASYNC: h.flush(); return 0;
    // OPFS has no holes: an unmapped range is written with zeroes (the bdev promises it reads so).
    case OP_PUNCH_HOLE: case OP_ZERO_RANGE: return zeroRange(h, r.offset, r.len);
    default: return EINVAL;
  }
}

function report(ring: Ring, code: number, message: string): void {
  const now = performance.now();
  if (now - ring.windowStart > 1000) { ring.windowStart = now; ring.reports = 0; }
  if (ring.reports >= REPORTS_PER_SECOND) { ring.suppressed++; return; }
  ring.reports++;
  const more = ring.suppressed > 0 ? ` (${ring.suppressed} more not shown)` : '';
  ring.suppressed = 0;
  scope.postMessage({ type: 'report', reactor: ring.reactor, code, message: message + more });
}

function serveRing(ring: Ring): number {
  const n = Math.min(ring.consumer.waiting(), BATCH_PER_RING);
  for (let i = 0; i < n; i++) {
    const r = ring.consumer.take();
    let res: number;
    try {
      res = perform(r);
    } catch (err) {
      res = errnoOf(err);
      const file = files.get(r.fd)?.name ?? `fd ${r.fd}`;
      const why = res === ENOSPC ? ': the origin\'s storage quota is full (free space in this origin, or use a smaller bdev)' : '';
      report(ring, res, `OPFS ${file}: op ${r.op} at byte ${r.offset} (${r.len} bytes) failed: ${(err as Error).name}: ${(err as Error).message}${why}`);
    }
    ring.consumer.complete(r.user, res);
  }
  return n;
}

const yieldTurn = (() => {
  const channel = new MessageChannel();
  return () => new Promise<void>((resolve) => { channel.port1.onmessage = () => resolve(); channel.port2.postMessage(0); });
})();

async function serve(): Promise<void> {
  let lastWork = performance.now();
  let lastYield = lastWork;
  while (!stopping) {
    let work = 0;
    for (const ring of rings) work += serveRing(ring);
    const now = performance.now();
    if (work > 0) lastWork = now;
    if (now - lastYield > YIELD_EVERY_MS) { await yieldTurn(); lastYield = performance.now(); continue; }
    if (work > 0 || now - lastWork < IDLE_SPIN_MS) continue;
    const value = bell!.announce();
    if (rings.some((r) => r.consumer.waiting() > 0)) { bell!.wake(); continue; }
    bell!.sleep(value, SLEEP_MS);
    await yieldTurn();
    lastYield = lastWork = performance.now();
  }
}

async function open(name: string, sizeBytes: number | null, create: boolean): Promise<{ fd: number; bytes: number }> {
  const dir = await scope.navigator.storage.getDirectory();
  const fileHandle = await dir.getFileHandle(name, { create });
  const handle = await fileHandle.createSyncAccessHandle();
  try {
    const size = handle.getSize();
    if (sizeBytes !== null && size > sizeBytes) {
      throw named('EINVAL', `OPFS file ${name} holds ${size} bytes, more than the ${sizeBytes} asked for: give at least ${size}, or none to take its size`);
    }
    if (sizeBytes !== null && size < sizeBytes) {
      const { usage = 0, quota = Infinity } = await scope.navigator.storage.estimate();
      if (sizeBytes - size > quota - usage) {
        throw named('ENOSPC', `OPFS file ${name} cannot grow to ${sizeBytes} bytes: this origin uses ${usage} of its ${quota}-byte quota; ask for less, or free space`);
      }
      handle.truncate(sizeBytes);
    }
    const fd = nextFd++;
    files.set(fd, { name, handle });
    return { fd, bytes: handle.getSize() };
  } catch (err) {
    handle.close();
    throw err;
  }
}

function named(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The WstorError code for what the browser threw while opening `name`. */
function openFailure(err: unknown, name: string): { code: string; message: string } {
  const e = err as { name?: string; message?: string; code?: string };
  if (typeof e.code === 'string') return { code: e.code, message: e.message ?? '' };
  switch (e.name) {
    case 'NotFoundError': return { code: 'ENOENT', message: `no OPFS file named ${name} (create it by giving sizeBytes)` };
    case 'NoModificationAllowedError':
      return { code: 'EBUSY', message: `OPFS file ${name} is open elsewhere (another engine or tab holds its access handle): close that first` };
    case 'QuotaExceededError': return { code: 'ENOSPC', message: `OPFS file ${name}: the origin's storage quota is full: ask for less, or free space` };
    case 'TypeError': return { code: 'EINVAL', message: `"${name}" is not a valid OPFS file name: ${e.message}` };
    default: return { code: 'EIO', message: `opening OPFS file ${name}: ${e.name}: ${e.message}` };
  }
}

async function handle(m: OpfsRequest): Promise<OpfsReply> {
  switch (m.type) {
    case 'attach': {
      memory = m.memory;
      view = new Uint8Array(memory.buffer);
      bell = new RingBell(m.bell);
      m.rings.forEach((ring, reactor) => rings.push({ consumer: new RingConsumer(ring), reactor, reports: 0, suppressed: 0, windowStart: 0 }));
      void serve();
      return { type: 'done', id: m.id };
    }
    case 'open':
      try {
        const { fd, bytes: size } = await open(m.name, m.sizeBytes, m.create);
        return { type: 'opened', id: m.id, fd, bytes: size };
      } catch (err) {
        return { type: 'failed', id: m.id, ...openFailure(err, m.name) };
      }
    case 'close': {
      const file = files.get(m.fd);
      files.delete(m.fd);
      try { file?.handle.flush(); file?.handle.close(); } catch (err) {
        return { type: 'failed', id: m.id, code: 'EIO', message: `closing OPFS file ${file?.name}: ${(err as Error).message}` };
      }
      return { type: 'done', id: m.id };
    }
    case 'remove':
      try {
        await (await scope.navigator.storage.getDirectory()).removeEntry(m.name);
        return { type: 'done', id: m.id };
      } catch (err) {
        return { type: 'failed', id: m.id, ...openFailure(err, m.name) };
      }
    case 'stop': {
      stopping = true;
      for (const file of files.values()) { try { file.handle.flush(); file.handle.close(); } catch { /* gone with the worker */ } }
      files.clear();
      return { type: 'done', id: m.id };
    }
  }
}

scope.onmessage = (e) => { void handle(e.data).then((reply) => scope.postMessage(reply)); };
