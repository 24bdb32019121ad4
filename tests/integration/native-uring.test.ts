// The per-reactor io_uring of the native addon (host/native/src/uring.c) over a real shared Wasm memory and
// real files, in both modes: data round trips, O_DIRECT, vectors, syncs, fallocate, bad descriptors, growth,
// bounded queues, thread ownership (LESSONS 4), teardown, and a verified random-I/O loop.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNative, type NativeAddon } from '../../host/native/index.js';
import { skipIfMissing } from '../helpers/skip.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const addonPath = path.join(root, 'host', 'native', 'build', 'Release', 'wstor_native.node');
const loaded = loadNative();
assert.ok(loaded, `the native addon is built (${addonPath}); run npm run build:native`);
const addon: NativeAddon = loaded;

// Wire formats (host/native/src/uring.h).
const Op = { READ: 0, WRITE: 1, FSYNC: 2, FDATASYNC: 3, PUNCH_HOLE: 4, ZERO_RANGE: 5, READV: 6, WRITEV: 7 } as const;
const DESC_BYTES = 32;
const CQE_BYTES = 8;
const IOVEC_BYTES = 8;
const { EFAULT, EINVAL, EOPNOTSUPP } = os.constants.errno;

// Where this test keeps things in Wasm memory (4 MiB at start).
const DESC_AT = 0; // up to 2048 descriptors
const CQE_AT = 64 << 10; // up to 8192 completions
const IOV_AT = 128 << 10; // iovec pair arrays
const BUF_AT = 1 << 20; // data buffers, 4 KiB-aligned
const BLOCK = 4096;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-uring-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let fileCount = 0;
function tempFile(bytes = 0, flags: number = fs.constants.O_RDWR | fs.constants.O_CREAT): number {
  const fd = fs.openSync(path.join(tmp, `f${fileCount++}`), flags, 0o600);
  if (bytes > 0) fs.ftruncateSync(fd, bytes);
  return fd;
}

// io_uring is expected wherever the kernel allows it (seccomp aside, which the failure message would show).
const uringExpected = (() => {
  try {
    return fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() === '0';
  } catch {
    return true; // kernels before 6.6 have no such switch
  }
})();

function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = os.release().split('.').map((x) => parseInt(x, 10));
  return a > major || (a === major && b >= minor);
}

interface Desc {
  op: number;
  userData: number;
  fd?: number;
  buf?: number;
  len?: number;
  offset?: bigint;
  iovcnt?: number;
  flags?: number;
}

/** One ring over its own shared memory, with the helpers a test needs. */
class TestRing {
  readonly memory = new WebAssembly.Memory({ initial: 64, maximum: 1024, shared: true });
  u8 = new Uint8Array(this.memory.buffer);
  view = new DataView(this.memory.buffer);
  readonly handle: number;

  constructor(forceFallback: boolean, entries = 32) {
    this.handle = addon.uringCreate(this.u8, entries, { forceFallback });
  }

  grow(pages: number): void {
    this.memory.grow(pages);
    this.u8 = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  writeDesc(at: number, d: Desc): void {
    const v = this.view;
    v.setUint8(at, d.op);
    v.setUint8(at + 1, d.flags ?? 0);
    v.setUint16(at + 2, d.iovcnt ?? 0, true);
    v.setInt32(at + 4, d.fd ?? -1, true);
    v.setUint32(at + 8, d.buf ?? 0, true);
    v.setUint32(at + 12, d.len ?? 0, true);
    v.setBigUint64(at + 16, d.offset ?? 0n, true);
    v.setUint32(at + 24, d.userData, true);
    v.setUint32(at + 28, 0, true);
  }

  writeIovecs(at: number, pairs: [number, number][]): void {
    pairs.forEach(([buf, len], i) => {
      this.view.setUint32(at + i * IOVEC_BYTES, buf, true);
      this.view.setUint32(at + i * IOVEC_BYTES + 4, len, true);
    });
  }

  submit(descs: Desc[]): number {
    descs.forEach((d, i) => this.writeDesc(DESC_AT + i * DESC_BYTES, d));
    return addon.uringSubmit(this.handle, DESC_AT, descs.length);
  }

  /** Busy-reaps until `count` completions arrived: user_data -> res. */
  wait(count: number, timeoutMs = 10_000): Map<number, number> {
    const results = new Map<number, number>();
    const deadline = Date.now() + timeoutMs;
    while (results.size < count) {
      const n = addon.uringReap(this.handle, CQE_AT, 256);
      for (let i = 0; i < n; i++) {
        const at = CQE_AT + i * CQE_BYTES;
        const userData = this.view.getUint32(at, true);
        assert.ok(!results.has(userData), `one completion per descriptor (user_data ${userData} came twice)`);
        results.set(userData, this.view.getInt32(at + 4, true));
      }
      if (n === 0 && Date.now() > deadline) assert.fail(`only ${results.size} of ${count} completions in ${timeoutMs} ms`);
    }
    return results;
  }

  /** Submits every descriptor (all must be accepted) and waits for all of them. */
  run(descs: Desc[]): Map<number, number> {
    assert.equal(this.submit(descs), descs.length, 'every descriptor accepted');
    return this.wait(descs.length);
  }

  destroy(): void {
    addon.uringDestroy(this.handle);
  }
}

function fillPattern(u8: Uint8Array, at: number, bytes: number, seed: number): void {
  for (let i = 0; i < bytes; i++) u8[at + i] = (seed + i * 31 + (i >> 8)) & 0xff;
}

function withRing(forceFallback: boolean, body: (r: TestRing) => void, entries = 32): void {
  const r = new TestRing(forceFallback, entries);
  try {
    body(r);
  } finally {
    r.destroy();
  }
}

for (const mode of ['io_uring', 'fallback'] as const) {
  const force = mode === 'fallback';
  describe(`uring, ${mode} mode`, () => {
    test('reports its mode, its size and why it falls back', () => withRing(force, (r) => {
      const info = addon.uringInfo(r.handle);
      if (force) {
        assert.deepEqual(info, {
          mode: 'fallback', entries: 32, reason: 'forceFallback was requested', inFlight: 0, submitCalls: 0, deferredTaskrun: false, sleeps: 0,
        });
      } else if (uringExpected) {
        assert.equal(info.mode, 'io_uring', `io_uring is enabled here, yet: ${info.reason}`);
        // DEFER_TASKRUN is in every kernel since 6.1; fio's io_uring engine sets it too.
        assert.deepEqual(info, { mode: 'io_uring', entries: 32, inFlight: 0, submitCalls: 0, deferredTaskrun: kernelAtLeast(6, 1), sleeps: 0 });
      }
      withRing(force, (r5) => assert.equal(addon.uringInfo(r5.handle).entries, 8, 'rounded up to a power of two'), 5);
    }));

    test('write then read back lands in Wasm memory', () => withRing(force, (r) => {
      const fd = tempFile();
      fillPattern(r.u8, BUF_AT, 3 * BLOCK, 7);
      const wrote = r.run([{ op: Op.WRITE, fd, buf: BUF_AT, len: 3 * BLOCK, offset: 5000n, userData: 1 }]);
      assert.deepEqual([...wrote], [[1, 3 * BLOCK]]);
      assert.deepEqual(fs.readFileSync(fd).subarray(5000), Buffer.from(r.u8.subarray(BUF_AT, BUF_AT + 3 * BLOCK)));
      const read = r.run([{ op: Op.READ, fd, buf: BUF_AT + 4 * BLOCK, len: 3 * BLOCK, offset: 5000n, userData: 2 }]);
      assert.deepEqual([...read], [[2, 3 * BLOCK]]);
      assert.deepEqual(r.u8.subarray(BUF_AT + 4 * BLOCK, BUF_AT + 7 * BLOCK), r.u8.subarray(BUF_AT, BUF_AT + 3 * BLOCK));
      const short = r.run([{ op: Op.READ, fd, buf: BUF_AT, len: BLOCK, offset: 5000n + BigInt(3 * BLOCK) - 100n, userData: 3 }]);
      assert.equal(short.get(3), 100, 'a read across end of file is short, as the kernel reports it');
      fs.closeSync(fd);
    }));

    test('O_DIRECT with 4 KiB-aligned buffers and offsets', (t) => withRing(force, (r) => {
      let fd: number;
      try {
        fd = tempFile(0, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_DIRECT);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        skipIfMissing(t, true, `${os.tmpdir()} refuses O_DIRECT`);
        return;
      }
      fillPattern(r.u8, BUF_AT, 4 * BLOCK, 99);
      const writes = [0, 1, 2, 3].map((i) => ({
        op: Op.WRITE, fd, buf: BUF_AT + i * BLOCK, len: BLOCK, offset: BigInt(i * 2 * BLOCK), userData: 10 + i,
      }));
      for (const [, res] of r.run(writes)) assert.equal(res, BLOCK);
      const reads = [0, 1, 2, 3].map((i) => ({
        op: Op.READ, fd, buf: BUF_AT + (8 + i) * BLOCK, len: BLOCK, offset: BigInt(i * 2 * BLOCK), userData: 20 + i,
      }));
      for (const [, res] of r.run(reads)) assert.equal(res, BLOCK);
      assert.deepEqual(r.u8.subarray(BUF_AT + 8 * BLOCK, BUF_AT + 12 * BLOCK), r.u8.subarray(BUF_AT, BUF_AT + 4 * BLOCK));
      const misaligned = r.run([{ op: Op.READ, fd, buf: BUF_AT + 1, len: BLOCK, offset: 0n, userData: 30 }]);
      assert.equal(misaligned.get(30), -EINVAL, 'the I/O really was direct: a misaligned buffer is refused');
      fs.closeSync(fd);
    }));

    test('SUBMIT_NOW hands each flagged descriptor to the kernel at once; unflagged ones go in one call', () => withRing(force, (r) => {
      const fd = tempFile(8 * BLOCK);
      const reads = (flags: number, first: number) => [0, 1, 2, 3].map((i) => ({
        op: Op.READ, fd, buf: BUF_AT + i * BLOCK, len: BLOCK, offset: BigInt(i * BLOCK), userData: first + i, flags,
      }));
      const calls = () => addon.uringInfo(r.handle).submitCalls;
      const before = calls();
      for (const [, res] of r.run(reads(0, 1))) assert.equal(res, BLOCK);
      const batched = calls() - before;
      for (const [, res] of r.run(reads(1, 11))) assert.equal(res, BLOCK);
      const eager = calls() - before - batched;
      if (force) {
        assert.deepEqual([batched, eager], [0, 0], 'the fallback runs each descriptor in place: no ring to submit to');
      } else {
        assert.equal(batched, 1, 'four unflagged descriptors: one io_uring_enter');
        assert.equal(eager, 4, 'four flagged descriptors: one io_uring_enter each');
      }
      fs.closeSync(fd);
    }));

    test('writev and readv with 3 iovecs', () => withRing(force, (r) => {
      const fd = tempFile();
      const parts: [number, number][] = [[BUF_AT, 1000], [BUF_AT + 2 * BLOCK + 8, 3000], [BUF_AT + 5 * BLOCK, 96]];
      for (const [buf, len] of parts) fillPattern(r.u8, buf, len, buf);
      r.writeIovecs(IOV_AT, parts);
      const wrote = r.run([{ op: Op.WRITEV, fd, buf: IOV_AT, iovcnt: 3, offset: 8192n, userData: 1 }]);
      assert.equal(wrote.get(1), 4096);
      const expected = Buffer.concat(parts.map(([buf, len]) => r.u8.subarray(buf, buf + len)));
      assert.deepEqual(fs.readFileSync(fd).subarray(8192), expected);
      const into: [number, number][] = [[BUF_AT + 8 * BLOCK, 2048], [BUF_AT + 10 * BLOCK, 48], [BUF_AT + 12 * BLOCK, 2000]];
      r.writeIovecs(IOV_AT + 512, into);
      const read = r.run([{ op: Op.READV, fd, buf: IOV_AT + 512, iovcnt: 3, offset: 8192n, userData: 2 }]);
      assert.equal(read.get(2), 4096);
      assert.deepEqual(Buffer.concat(into.map(([buf, len]) => r.u8.subarray(buf, buf + len))), expected);
      fs.closeSync(fd);
    }));

    test('fsync and fdatasync complete with 0', () => withRing(force, (r) => {
      const fd = tempFile(BLOCK);
      const res = r.run([{ op: Op.FSYNC, fd, userData: 1 }, { op: Op.FDATASYNC, fd, userData: 2 }]);
      assert.deepEqual([...res].sort(), [[1, 0], [2, 0]]);
      const bad = r.run([{ op: Op.FSYNC, fd: 1 << 30, userData: 3 }]);
      assert.equal(bad.get(3), -os.constants.errno.EBADF, 'a bad fd is the kernel\'s answer, not a throw');
      fs.closeSync(fd);
    }));

    for (const [name, op] of [['punch hole', Op.PUNCH_HOLE], ['zero range', Op.ZERO_RANGE]] as const) {
      test(`${name} reads back as zeroes and keeps the size`, (t) => withRing(force, (r) => {
        const fd = tempFile();
        fs.writeSync(fd, Buffer.alloc(4 * BLOCK, 0xff), 0, 4 * BLOCK, 0);
        const res = r.run([{ op, fd, len: 2 * BLOCK, offset: BigInt(BLOCK), userData: 1 }]);
        if (res.get(1) === -EOPNOTSUPP) {
          skipIfMissing(t, true, `${os.tmpdir()} does not support ${name}`);
          return;
        }
        assert.equal(res.get(1), 0);
        assert.equal(fs.fstatSync(fd).size, 4 * BLOCK, 'KEEP_SIZE');
        r.u8.fill(0x11, BUF_AT, BUF_AT + 4 * BLOCK);
        assert.equal(r.run([{ op: Op.READ, fd, buf: BUF_AT, len: 4 * BLOCK, offset: 0n, userData: 2 }]).get(2), 4 * BLOCK);
        const back = r.u8.subarray(BUF_AT, BUF_AT + 4 * BLOCK);
        assert.ok(back.subarray(0, BLOCK).every((b) => b === 0xff));
        assert.ok(back.subarray(BLOCK, 3 * BLOCK).every((b) => b === 0), 'the range reads as zeroes');
        assert.ok(back.subarray(3 * BLOCK).every((b) => b === 0xff));
        fs.closeSync(fd);
      }));
    }

    test('a descriptor array or completion area outside the memory is refused, naming the range', () => withRing(force, (r) => {
      const end = r.u8.length;
      assert.throws(() => addon.uringSubmit(r.handle, end - 8, 1), /uringSubmit: descriptors \[\d+, \d+\) are not inside the memory/);
      assert.throws(() => addon.uringReap(r.handle, end, 4), /uringReap: completions \[\d+, \d+\) are not inside the memory/);
      assert.equal(addon.uringReap(r.handle, 0, 0), 0, 'an empty area anywhere inside is fine');
    }));

    test('a descriptor outside the memory completes with -EFAULT and touches nothing', () => withRing(force, (r) => {
      const fd = tempFile();
      fs.writeSync(fd, Buffer.alloc(2 * BLOCK, 0xee), 0, 2 * BLOCK, 0);
      const end = r.u8.length;
      r.u8.fill(0x5a, end - 10, end);
      r.u8.fill(0x5a, BUF_AT, BUF_AT + 2 * BLOCK);
      r.writeIovecs(IOV_AT, [[BUF_AT, 100], [end - 50, 100]]); // second entry runs past the end
      const res = r.run([
        { op: Op.READ, fd, buf: end - 10, len: BLOCK, offset: 0n, userData: 1 },
        { op: Op.WRITE, fd, buf: end - 10, len: BLOCK, offset: 2n * BigInt(BLOCK), userData: 2 },
        { op: Op.READ, fd, buf: 0xfffffff0, len: 0x20, offset: 0n, userData: 3 }, // wraps in 32 bits
        { op: Op.READ, fd, buf: end, len: 1, offset: 0n, userData: 4 },
        { op: Op.READV, fd, buf: IOV_AT, iovcnt: 2, offset: 0n, userData: 5 },
        { op: Op.READV, fd, buf: end - 8, iovcnt: 2, offset: 0n, userData: 6 }, // the pairs themselves outside
        { op: Op.READ, fd, buf: BUF_AT + BLOCK, len: BLOCK, offset: 0n, userData: 7 }, // a good one after them
      ]);
      assert.deepEqual([1, 2, 3, 4, 5, 6].map((u) => res.get(u)), Array(6).fill(-EFAULT));
      assert.equal(res.get(7), BLOCK, 'submission goes on after a bad descriptor');
      assert.ok(r.u8.subarray(end - 10).every((b) => b === 0x5a), 'no partial read at the end of memory');
      assert.ok(r.u8.subarray(BUF_AT, BUF_AT + 100).every((b) => b === 0x5a), 'the good iovec of a bad readv untouched');
      assert.equal(fs.fstatSync(fd).size, 2 * BLOCK, 'nothing written from outside the memory');
      assert.equal(addon.uringInfo(r.handle).inFlight, 0);
      fs.closeSync(fd);
    }));

    test('a malformed descriptor completes with -EINVAL', () => withRing(force, (r) => {
      const fd = tempFile(BLOCK);
      r.writeIovecs(IOV_AT, Array.from({ length: 65 }, (): [number, number] => [BUF_AT, 16]));
      const res = r.run([
        { op: 8, fd, buf: BUF_AT, len: 16, userData: 1 },
        { op: 255, fd, buf: BUF_AT, len: 16, userData: 2 },
        { op: Op.READV, fd, buf: IOV_AT, iovcnt: 0, userData: 3 },
        { op: Op.READV, fd, buf: IOV_AT, iovcnt: 65, userData: 4 },
        { op: Op.READ, fd, buf: BUF_AT, len: 16, iovcnt: 1, userData: 5 },
        { op: Op.READ, fd, buf: BUF_AT, len: 16, flags: 2, userData: 6 },   // no such flag
        { op: Op.READV, fd, buf: IOV_AT, iovcnt: 64, userData: 7 }, // 64 is allowed
      ]);
      assert.deepEqual([1, 2, 3, 4, 5, 6].map((u) => res.get(u)), Array(6).fill(-EINVAL));
      assert.equal(res.get(7), 64 * 16, '64 iovecs (the maximum) of 16 bytes each');
      fs.closeSync(fd);
    }));

    test('after memory.grow, uringSetMemory makes the grown region usable', () => withRing(force, (r) => {
      const fd = tempFile();
      const grownAt = r.u8.length;
      r.grow(2);
      fillPattern(r.u8, grownAt + BLOCK, BLOCK, 3);
      const before = r.run([{ op: Op.WRITE, fd, buf: grownAt + BLOCK, len: BLOCK, offset: 0n, userData: 1 }]);
      assert.equal(before.get(1), -EFAULT, 'the ring still knows the old length');
      addon.uringSetMemory(r.handle, r.u8);
      const res = r.run([
        { op: Op.WRITE, fd, buf: grownAt + BLOCK, len: BLOCK, offset: 0n, userData: 2 },
      ]);
      assert.equal(res.get(2), BLOCK);
      assert.equal(r.run([{ op: Op.READ, fd, buf: grownAt + 3 * BLOCK, len: BLOCK, offset: 0n, userData: 3 }]).get(3), BLOCK);
      assert.deepEqual(r.u8.subarray(grownAt + 3 * BLOCK, grownAt + 4 * BLOCK), r.u8.subarray(grownAt + BLOCK, grownAt + 2 * BLOCK));
      const other = new WebAssembly.Memory({ initial: 64, maximum: 1024, shared: true });
      assert.throws(() => addon.uringSetMemory(r.handle, new Uint8Array(other.buffer)), { code: 'EINVAL', message: /another address/ });
      assert.throws(() => addon.uringSetMemory(r.handle, new Uint8Array(r.memory.buffer, 0, BLOCK)), { code: 'EINVAL', message: /shrank/ });
      assert.throws(() => addon.uringSetMemory(r.handle, new Uint8Array(r.memory.buffer, BLOCK)), { code: 'EINVAL', message: /from byte 0/ });
      fs.closeSync(fd);
    }));

    test('accepts no more than the completion queue can hold, and never blocks', () => withRing(force, (r) => {
      const fd = tempFile(BLOCK);
      const descs = Array.from({ length: 20 }, (_, i) => ({ op: Op.FDATASYNC, fd, userData: i }));
      let accepted = 0;
      for (let call = 0; call < 10; call++) {
        const n = r.submit(descs.slice(accepted));
        if (!force) assert.ok(n <= 4, 'never more than the SQ holds in one call');
        accepted += n;
      }
      assert.equal(accepted, 8, 'CQ size = 2 * entries');
      assert.equal(addon.uringInfo(r.handle).inFlight, 8);
      const bad = { op: 99, userData: 100 };
      assert.equal(r.submit([bad]), 0, 'even an error completion needs room');
      assert.equal(r.wait(8).size, 8);
      assert.equal(addon.uringInfo(r.handle).inFlight, 0);
      assert.ok(r.submit(descs) > 0, 'room again once reaped');
      r.wait(addon.uringInfo(r.handle).inFlight);
      fs.closeSync(fd);
    }, 4));

    test('uringReap takes at most max, the rest waits', () => withRing(force, (r) => {
      const res = r.submit(Array.from({ length: 5 }, (_, i) => ({ op: 77, userData: i })));
      assert.equal(res, 5);
      assert.equal(addon.uringReap(r.handle, CQE_AT, 2), 2);
      assert.equal(addon.uringReap(r.handle, CQE_AT, 0), 0);
      assert.equal(addon.uringReap(r.handle, CQE_AT, 10), 3);
    }));

    test('100k random 4 KiB reads and writes at queue depth 32, verified', () => withRing(force, (r) => {
      randomVerifiedIo(r, 100_000);
    }));

    test('bad arguments throw with an errno code', () => withRing(force, (r) => {
      const end = r.u8.length;
      assert.throws(() => addon.uringSubmit(r.handle, end - DESC_BYTES, 2), { code: 'EFAULT', message: /descriptors/ });
      assert.throws(() => addon.uringReap(r.handle, end - CQE_BYTES, 2), { code: 'EFAULT', message: /completions/ });
      assert.throws(() => addon.uringSubmit(r.handle, -1, 1), { code: 'EINVAL', message: /descOffset/ });
      assert.throws(() => addon.uringSubmit(r.handle, 1.5, 1), { code: 'EINVAL' });
      assert.throws(() => addon.uringReap(r.handle, 0, 2 ** 32), { code: 'EINVAL', message: /max/ });
      assert.equal(addon.uringSubmit(r.handle, end - DESC_BYTES, 0), 0);
    }));
  });
}

/** Random 4 KiB reads and writes over 256 blocks, 32 in flight, each block never in two I/Os at once. A
 * write stores a pattern of (block, generation); a read must see the block's latest generation. */
function randomVerifiedIo(r: TestRing, ops: number): void {
  const QD = 32;
  const BLOCKS = 256;
  const fd = tempFile(BLOCKS * BLOCK);
  const words = new Uint32Array(r.memory.buffer);
  const view = r.view;
  const generation = new Uint32Array(BLOCKS); // 0: never written, reads as zeroes
  const busy = new Uint8Array(BLOCKS);
  const slotBlock = new Int32Array(QD);
  const slotWrite = new Uint8Array(QD);
  const slotGeneration = new Uint32Array(QD);
  const free = Array.from({ length: QD }, (_, i) => i);
  const batch: number[] = [];
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const word = (block: number, gen: number, i: number) =>
    gen === 0 ? 0 : (Math.imul(block + 1, 0x9e3779b1) ^ Math.imul(gen, 0x85ebca6b) ^ i) >>> 0;

  let issued = 0;
  let completed = 0;
  let reads = 0;
  let lastProgress = Date.now();
  while (completed < ops) {
    batch.length = 0;
    while (free.length > 0 && issued + batch.length < ops) {
      const slot = free.pop()!;
      let block = random() % BLOCKS;
      while (busy[block]) block = random() % BLOCKS; // 32 busy of 256: ends quickly
      busy[block] = 1;
      const write = (random() & 1) === 1;
      const buf = BUF_AT + slot * BLOCK;
      slotBlock[slot] = block;
      slotWrite[slot] = write ? 1 : 0;
      if (write) {
        const gen = generation[block] + 1;
        slotGeneration[slot] = gen;
        for (let i = 0, w = buf >> 2; i < BLOCK / 4; i++) words[w + i] = word(block, gen, i);
      }
      const at = DESC_AT + batch.length * DESC_BYTES;
      view.setUint32(at, write ? Op.WRITE : Op.READ, true); // op, reserved, iovcnt = 0
      view.setInt32(at + 4, fd, true);
      view.setUint32(at + 8, buf, true);
      view.setUint32(at + 12, BLOCK, true);
      view.setBigUint64(at + 16, BigInt(block * BLOCK), true);
      view.setUint32(at + 24, slot, true);
      view.setUint32(at + 28, 0, true);
      batch.push(slot);
    }
    if (batch.length > 0) {
      const accepted = addon.uringSubmit(r.handle, DESC_AT, batch.length);
      for (const slot of batch.slice(accepted)) {
        busy[slotBlock[slot]] = 0;
        free.push(slot);
      }
      issued += accepted;
    }
    const n = addon.uringReap(r.handle, CQE_AT, 64);
    for (let c = 0; c < n; c++) {
      const slot = view.getUint32(CQE_AT + c * CQE_BYTES, true);
      const res = view.getInt32(CQE_AT + c * CQE_BYTES + 4, true);
      const block = slotBlock[slot];
      if (res !== BLOCK) assert.fail(`I/O on block ${block} returned ${res}`);
      if (slotWrite[slot]) {
        generation[block] = slotGeneration[slot];
      } else {
        reads++;
        const gen = generation[block];
        for (let i = 0, w = (BUF_AT + slot * BLOCK) >> 2; i < BLOCK / 4; i++) {
          if (words[w + i] !== word(block, gen, i)) {
            assert.fail(`block ${block} word ${i}: read ${words[w + i]}, expected generation ${gen}'s ${word(block, gen, i)}`);
          }
        }
      }
      busy[block] = 0;
      free.push(slot);
    }
    completed += n;
    if (n > 0) lastProgress = Date.now();
    else if (Date.now() - lastProgress > 10_000) assert.fail(`stalled at ${completed} of ${ops} completions`);
  }
  assert.equal(addon.uringInfo(r.handle).inFlight, 0);
  assert.ok(reads > ops / 3 && reads < (2 * ops) / 3, `a mix of reads (${reads}) and writes`);
  // The file as a whole, read outside the ring, holds every block's last generation.
  const file = new Uint32Array(new Uint8Array(fs.readFileSync(fd)).buffer);
  for (let block = 0; block < BLOCKS; block++) {
    for (let i = 0; i < BLOCK / 4; i++) {
      if (file[(block * BLOCK) / 4 + i] !== word(block, generation[block], i)) assert.fail(`file block ${block} word ${i}`);
    }
  }
  fs.closeSync(fd);
}

describe('uring handles and threads', () => {
  test('unknown and destroyed handles throw EBADF', () => {
    const r = new TestRing(false);
    r.destroy();
    for (const h of [r.handle, 12345, 2 ** 31, -1, 0.5]) {
      assert.throws(() => addon.uringInfo(h), { code: 'EBADF' }, String(h));
    }
    assert.throws(() => addon.uringSubmit(r.handle, 0, 0), { code: 'EBADF', message: /not open/ });
    assert.throws(() => addon.uringReap(r.handle, 0, 0), { code: 'EBADF' });
    assert.throws(() => addon.uringDestroy(r.handle), { code: 'EBADF' });
    assert.throws(() => addon.uringSetMemory(r.handle, r.u8), { code: 'EBADF' });
    assert.throws(() => addon.uringInfo('1' as unknown as number), { code: 'EINVAL' });
    const again = new TestRing(false);
    assert.notEqual(again.handle, r.handle, 'a reused slot gets a new handle, so the old one stays invalid');
    assert.throws(() => addon.uringInfo(r.handle), { code: 'EBADF' });
    again.destroy();
  });

  test('uringCreate refuses what it cannot use safely', () => {
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
    const plain = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    assert.throws(() => addon.uringCreate(new Uint8Array(plain.buffer), 8), { code: 'EINVAL', message: /SharedArrayBuffer/ });
    assert.throws(() => addon.uringCreate(new Uint16Array(shared.buffer) as unknown as Uint8Array, 8), { code: 'EINVAL' });
    assert.throws(() => addon.uringCreate(new Uint8Array(shared.buffer, 16), 8), { code: 'EINVAL', message: /from byte 0/ });
    for (const entries of [0, 4097, -1, 2.5]) {
      assert.throws(() => addon.uringCreate(new Uint8Array(shared.buffer), entries), { code: 'EINVAL' }, String(entries));
    }
    assert.throws(() => addon.uringCreate(new Uint8Array(shared.buffer), 8, { forceFallback: 1 as unknown as boolean }), { code: 'EINVAL' });
  });

  test('a ring used from another worker thread throws EPERM; that worker may have its own', async () => {
    const r = new TestRing(false);
    try {
      const worker = new Worker(`
        const { workerData, parentPort } = require('node:worker_threads');
        const addon = require(workerData.addonPath);
        const h = workerData.handle;
        const calls = {
          uringSubmit: () => addon.uringSubmit(h, 0, 0),
          uringReap: () => addon.uringReap(h, 0, 0),
          uringInfo: () => addon.uringInfo(h),
          uringSetMemory: () => addon.uringSetMemory(h, new Uint8Array(workerData.buffer)),
          uringDestroy: () => addon.uringDestroy(h),
        };
        const errors = {};
        for (const [name, call] of Object.entries(calls)) {
          try { call(); errors[name] = null; } catch (e) { errors[name] = { code: e.code, message: e.message }; }
        }
        const own = addon.uringCreate(new Uint8Array(workerData.buffer), 4);
        const ownInfo = addon.uringInfo(own);
        addon.uringDestroy(own);
        parentPort.postMessage({ errors, ownInfo });
      `, { eval: true, workerData: { addonPath, handle: r.handle, buffer: r.memory.buffer } });
      const [message] = await Promise.all([
        new Promise<{ errors: Record<string, { code: string; message: string } | null>; ownInfo: { inFlight: number } }>(
          (resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); }),
        new Promise((resolve) => worker.once('exit', resolve)),
      ]);
      for (const [name, error] of Object.entries(message.errors)) {
        assert.ok(error, `${name} from another thread threw`);
        assert.equal(error.code, 'EPERM', `${name} from another thread`);
        assert.match(error.message, /rings are per reactor thread/);
      }
      assert.equal(message.ownInfo.inFlight, 0, 'the worker created, used and destroyed its own ring');
      const fd = tempFile();
      assert.equal(r.run([{ op: Op.FSYNC, fd, userData: 1 }]).get(1), 0, 'the owner still uses its ring');
      fs.closeSync(fd);
    } finally {
      r.destroy();
    }
  });

  test('a worker that ends without uringDestroy gives its ring back', async () => {
    const fifo = path.join(tmp, 'ended.fifo');
    execFileSync('mkfifo', [fifo]);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR);
    const buffer = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true }).buffer;
    const worker = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      const addon = require(workerData.addonPath);
      const u8 = new Uint8Array(workerData.buffer);
      const h = addon.uringCreate(u8, 4);
      const v = new DataView(workerData.buffer);
      v.setUint8(0, 0); v.setInt32(4, workerData.fd, true); v.setUint32(8, 4096, true); v.setUint32(12, 16, true);
      v.setBigUint64(16, 0xffffffffffffffffn, true); // the file position: a pipe has no offsets
      addon.uringSubmit(h, 0, 1); // a read of a pipe nobody writes: in flight when the worker goes
      parentPort.postMessage({ handle: h, inFlight: addon.uringInfo(h).inFlight });
    `, { eval: true, workerData: { addonPath, buffer, fd } });
    const message = await new Promise<{ handle: number; inFlight: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.equal(message.inFlight, 1);
    await worker.terminate();
    assert.throws(() => addon.uringInfo(message.handle), { code: 'EBADF' }, 'the env cleanup closed it');
    fs.closeSync(fd);
  });

  test('uringDestroy waits for in-flight I/O; EBUSY if it does not end, and the ring stays usable', () => {
    const r = new TestRing(false);
    const file = tempFile();
    fillPattern(r.u8, BUF_AT, 16 * BLOCK, 5);
    const writes = Array.from({ length: 16 }, (_, i) => ({
      op: Op.WRITE, fd: file, buf: BUF_AT + i * BLOCK, len: BLOCK, offset: BigInt(i * BLOCK), userData: i,
    }));
    assert.equal(r.submit(writes), 16);
    r.destroy(); // waits for the 16 writes, drops their completions
    assert.deepEqual(fs.readFileSync(file), Buffer.from(r.u8.subarray(BUF_AT, BUF_AT + 16 * BLOCK)));
    fs.closeSync(file);

    const stuck = new TestRing(false);
    if (addon.uringInfo(stuck.handle).mode !== 'io_uring') return stuck.destroy(); // the fallback has nothing in flight
    const fifo = path.join(tmp, 'stuck.fifo');
    execFileSync('mkfifo', [fifo]);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR);
    assert.equal(stuck.submit([{ op: Op.READ, fd, buf: BUF_AT, len: 16, offset: 0xffffffffffffffffn, userData: 9 }]), 1);
    const started = Date.now();
    assert.throws(() => stuck.destroy(), { code: 'EBUSY', message: /still in flight/ });
    assert.ok(Date.now() - started >= 900, 'it waited (about 1 s) before giving up');
    fs.writeSync(fd, Buffer.alloc(16, 0x42));
    assert.equal(stuck.wait(1).get(9), 16, 'the ring still works and the read completes');
    assert.ok(stuck.u8.subarray(BUF_AT, BUF_AT + 16).every((b) => b === 0x42));
    stuck.destroy();
    fs.closeSync(fd);
  });

  test('when io_uring_setup fails the ring falls back and says why', () => {
    // A process out of file descriptors: io_uring_setup gets EMFILE, a real failure of the kernel path.
    const code = `
      const addon = require(${JSON.stringify(addonPath)});
      const fs = require('node:fs');
      const u8 = new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer);
      const fillers = [];
      try { for (;;) fillers.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
      const h = addon.uringCreate(u8, 8);
      for (const fd of fillers) fs.closeSync(fd);
      const info = addon.uringInfo(h);
      const fd = fs.openSync('/dev/null', 'w');
      const v = new DataView(u8.buffer);
      v.setUint8(0, 1); v.setInt32(4, fd, true); v.setUint32(8, 1024, true); v.setUint32(12, 100, true);
      const accepted = addon.uringSubmit(h, 0, 1);
      const reaped = addon.uringReap(h, 512, 1);
      addon.uringDestroy(h);
      console.log(JSON.stringify({ info, accepted, reaped, res: v.getInt32(516, true) }));
    `;
    const child = spawnSync('sh', ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, code], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const out = JSON.parse(child.stdout.trim());
    assert.deepEqual(out, {
      info: { mode: 'fallback', entries: 8, reason: 'io_uring_setup: Too many open files', inFlight: 0, submitCalls: 0, deferredTaskrun: false, sleeps: 0 },
      accepted: 1, reaped: 1, res: 100,
    });
  });
});
