// error, delay, crash and file bdevs each do what they say (deterministic harness; real files), and
// the layer's bounce buffers for misaligned I/O on O_DIRECT files.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exhaustHeap, type Harness } from '../helpers/core.js';
import { EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import { OP, W, IO, env, request, name, client, bytes, aligned, type Env } from '../helpers/bdev-env.js';
import { skipIfMissing } from '../helpers/skip.js';


test('error bdev: fails the next N reads, holds a write until reset, corrupts a read', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(4096, 64);
  const id = request(e, (r) => e.h.core.bdev_error_create(r, name(e, 'err0'), base));
  const c = client(e, id);
  const buf = e.h.scratch(4096);
  bytes(e.h, buf, 4096).fill(7);
  c.run(OP.write, { buf, off: 0, len: 4096 });
  assert.ok(c.lastOk());
  assert.equal(e.h.core.bdev_error_inject(id, IO.read, 1, 2), 0);
  const results: boolean[] = [];
  for (let i = 0; i < 3; i++) { c.run(OP.read, { buf, off: 0, len: 4096 }); results.push(c.lastOk()); }
  assert.deepEqual(results, [false, false, true], 'two failures, then reads work again');
  assert.equal(e.h.core.bdev_error_inject(id, IO.write, 2, 1), 0);
  const done = e.h.u32(c.ctx, W.done);
  c.run(OP.write, { buf, off: 4096, len: 4096 }, false);
  e.h.pollAll();
  assert.equal(e.h.u32(c.ctx, W.done), done, 'the held write has not completed');
  c.run(OP.reset);
  e.h.pollAll();
  assert.equal(e.h.u32(c.ctx, W.done), done + 2, 'reset aborted the held write, then completed');
  assert.equal(e.h.u32(c.ctx, W.failed), 3, 'the aborted write counts as failed (with the two injected reads)');
  assert.equal(e.h.core.bdev_error_inject(id, IO.read, 3, 1), 0);
  c.run(OP.read, { buf, off: 0, len: 4096 });
  assert.ok(c.lastOk());
  assert.equal(bytes(e.h, buf, 4096)[0], 0xf8, 'first byte flipped (~7)');
  assert.equal(bytes(e.h, buf, 4096)[1], 7);
  assert.equal(e.h.core.bdev_error_inject(base, IO.read, 1, 1), -19, 'only error bdevs take injections');
  assert.equal(e.h.core.bdev_error_inject(id, 9, 1, 1), -22, 'unknown io type');
});

test('pass-throughs created and deleted over and over leave nothing behind (their io_device goes with them)', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(4096, 64);
  const errName = name(e, 'err');            // one name for every cycle: each bdev is gone before the next
  const cycle = (i: number) => {
    const id = request(e, (r) => e.h.core.bdev_error_create(r, errName, base));
    const c = client(e, id);                 // a channel, so the device has one to release
    c.run(OP.putChannel);
    c.run(OP.close);
    const req = 1000 + e.h.events.length;
    assert.equal(e.h.core.bdev_delete(req, id), 0);
    e.h.pollAll();
    assert.ok(e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req && x.b === 0), `err${i} deleted`);
    e.h.core.wstor_free(c.ctx);
  };
  cycle(0);
  const live = e.h.core.heap_live_blocks();
  for (let i = 1; i <= 50; i++) cycle(i);
  assert.equal(e.h.core.heap_live_blocks(), live, 'no block per cycle stays allocated');
  assert.deepEqual(e.h.messages('error'), [], 'no io_device was found still registered');
});

test('delay bdev: completions wait for the configured latency', async () => {
  const e = await env();
  e.h.core.h_clock_set(1_000_000);
  const base = e.h.core.hb_malloc_create(4096, 64);
  const id = request(e, (r) => e.h.core.bdev_delay_create(r, name(e, 'delay0'), base, 1000, 1000, 3000, 3000));
  const c = client(e, id);
  const buf = e.h.scratch(4096);
  const done = () => e.h.u32(c.ctx, W.done);
  c.run(OP.read, { buf, off: 0, len: 4096 }, false);
  e.h.pollAll();
  assert.equal(done(), 0, 'not before 1000 us');
  e.h.core.h_clock_set(1_000_999);
  e.h.core.h_poll(e.thread, 0);
  assert.equal(done(), 0, '1 us early');
  e.h.core.h_clock_set(1_001_000);
  e.h.core.h_poll(e.thread, 0);
  assert.equal(done(), 1, 'read completed at its deadline');
  c.run(OP.write, { buf, off: 0, len: 4096 }, false);
  e.h.core.h_clock_set(1_003_500);
  e.h.core.h_poll(e.thread, 0);
  assert.equal(done(), 1, 'write latency is its own (3000 us)');
  e.h.core.h_clock_set(1_004_000);
  e.h.core.h_poll(e.thread, 0);
  assert.equal(done(), 2);
  assert.equal(e.h.core.bdev_delay_update_latency(id, 0, 0), 0);
  c.run(OP.read, { buf, off: 0, len: 4096 });
  assert.equal(done(), 3, 'latency 0 after the update');
});

test('crash bdev: unflushed writes live in the cache; a cut drops them; a flush makes them durable', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(4096, 64);
  const id = request(e, (r) => e.h.core.bdev_crash_create(r, name(e, 'crash0'), base, 16));
  const c = client(e, id);
  const baseReader = client(e, base, false);
  const buf = e.h.scratch(4096);
  const readBack = (cl: typeof c, off: number) => { bytes(e.h, buf, 4096).fill(0xee); cl.run(OP.read, { buf, off, len: 4096 }); return bytes(e.h, buf, 4096)[0]; };
  bytes(e.h, buf, 4096).fill(1);
  c.run(OP.write, { buf, off: 0, len: 4096 });
  c.run(OP.flush);
  assert.ok(c.lastOk());
  bytes(e.h, buf, 4096).fill(2);
  c.run(OP.write, { buf, off: 4096, len: 4096 });
  assert.equal(readBack(c, 4096), 2, 'the crash bdev reads its cache');
  assert.equal(readBack(baseReader, 4096), 0, 'the base has not seen the unflushed write');
  assert.equal(readBack(baseReader, 0), 1, 'the flushed write is on the base');
  const v = request(e, (r) => e.h.core.bdev_crash_cut(r, id, 0, 1));
  assert.equal(v % 65536, 0, 'nothing kept');
  assert.equal(Math.floor(v / 65536) % 65536, 1, 'one write dropped');
  assert.equal(readBack(c, 4096), 0, 'after the cut the write is gone');
  assert.equal(readBack(c, 0), 1, 'the flushed write survived');
});

test('crash bdev: a random cut tears a write to a prefix of sectors, and replays exactly from its seed', async () => {
  const outcome = async (seed: number) => {
    const e = await env();
    const base = e.h.core.hb_malloc_create(512, 256);
    const id = request(e, (r) => e.h.core.bdev_crash_create(r, name(e, 'crash1'), base, 16));
    const c = client(e, id);
    const buf = e.h.scratch(4096);
    for (let w = 0; w < 8; w++) {
      bytes(e.h, buf, 4096).fill(w + 1);
      c.run(OP.write, { buf, off: w * 4096, len: 4096 });
    }
    const v = request(e, (r) => e.h.core.bdev_crash_cut(r, id, 2, seed));
    const sectors: number[][] = [];
    for (let w = 0; w < 8; w++) {
      c.run(OP.read, { buf, off: w * 4096, len: 4096 });
      sectors.push(Array.from({ length: 8 }, (_, s) => bytes(e.h, buf, 4096)[s * 512]));
    }
    return { v, sectors };
  };
  const a = await outcome(42);
  a.sectors.forEach((s, w) => {
    const k = s.findIndex((x) => x !== w + 1);
    const prefix = k === -1 ? 8 : k;
    assert.ok(s.slice(prefix).every((x) => x === 0), `write ${w}: ${prefix} new sectors then only old ones (${s})`);
  });
  const torn = Math.floor(a.v / 4294967296);
  assert.ok(torn + (a.v % 65536) + Math.floor(a.v / 65536) % 65536 === 8, 'every write was kept, dropped or torn');
  const b = await outcome(42);
  assert.deepEqual(b, a, 'the same seed gives the same cut');
});

test('file bdev: buffered and O_DIRECT reads and writes, flush, unmap and write_zeroes on a real file', async () => {
  for (const direct of [false, true]) {
    const e = await env();
    const file = path.join(os.tmpdir(), `wstor-file-bdev-${process.pid}-${direct}.img`);
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, 4 << 20);
    let fd: number;
    let isDirect = direct;
    try { fd = fs.openSync(file, fs.constants.O_RDWR | (direct ? fs.constants.O_DIRECT : 0)); } catch { isDirect = false; fd = fs.openSync(file, fs.constants.O_RDWR); }
    try {
      const id = e.h.core.bdev_uring_create(name(e, 'file0'), fd, 4096, 1024, isDirect ? 1 : 0, 0);
      assert.ok(id > 0);
      const c = client(e, id);
      const buf = aligned(e.h, 8192);
      bytes(e.h, buf, 8192).forEach((_, i, a) => { a[i] = (i * 13) & 0xff; });
      assert.equal(c.run(OP.write, { buf, off: 8192, len: 8192 }), 0);
      assert.ok(c.lastOk(), 'write completed');
      c.run(OP.flush);
      assert.ok(c.lastOk(), 'flush (fdatasync) completed');
      const onDisk = Buffer.alloc(8192);
      fs.readSync(fs.openSync(file, 'r'), onDisk, 0, 8192, 8192);
      assert.ok(onDisk.every((v, i) => v === ((i * 13) & 0xff)), 'the file holds what was written');
      bytes(e.h, buf, 8192).fill(0);
      c.run(OP.read, { buf, off: 8192, len: 8192 });
      assert.ok(bytes(e.h, buf, 8192).every((v, i) => v === ((i * 13) & 0xff)), 'read back through io_uring');
      c.run(OP.unmap, { off: 8192, len: 4096 });
      assert.ok(c.lastOk());
      c.run(OP.writeZeroes, { off: 12288, len: 4096 });
      assert.ok(c.lastOk());
      c.run(OP.read, { buf, off: 8192, len: 8192 });
      assert.ok(bytes(e.h, buf, 8192).every((v) => v === 0), 'unmapped and zeroed ranges read as zeroes');
      if (isDirect) {
        assert.equal(c.run(OP.read, { buf: buf + 16, off: 8192, len: 4096 }), 0, 'O_DIRECT: a misaligned buffer is bounced, not refused');
        assert.ok(c.lastOk());
      }
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    }
  }
});

test('file bdev: two threads on one reactor share its ring; each I/O completes on the thread that submitted it', async () => {
  let hold = false;
  const e = await env({ holdUringReaps: () => hold });
  const file = path.join(os.tmpdir(), `wstor-file-2threads-${process.pid}.img`);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 1 << 20);
  const fd = fs.openSync(file, fs.constants.O_RDWR);
  try {
    const id = e.h.core.bdev_uring_create(name(e, 'file2'), fd, 4096, 256, 0, 0);
    const other: Env = { ...e, thread: e.h.core.h_thread_create(1, -1, 1024) };
    const c1 = client(e, id), c2 = client(other, id);
    const b1 = aligned(e.h, 4096), b2 = aligned(e.h, 4096);
    const done2 = e.h.u32(c2.ctx, W.done);
    hold = true;                                             // thread 2's reap finds nothing: its completion stays in the ring
    assert.equal(c2.run(OP.read, { buf: b2, off: 0, len: 4096 }, false), 0, 'thread 2 submits and does not poll again');
    hold = false;
    c1.run(OP.read, { buf: b1, off: 4096, len: 4096 });    // thread 1 polls until its own read is done
    for (let i = 0; i < 1000; i++) e.h.core.h_poll(e.thread, 0);
    assert.ok(c1.lastOk(), 'thread 1\'s read completed');
    assert.equal(e.h.u32(c2.ctx, W.done), done2, 'thread 2\'s read, reaped by thread 1, waits for thread 2');
    assert.deepEqual(e.h.messages('error'), [], 'no completion on the wrong thread');
    e.h.pollUntil('thread 2\'s read', () => e.h.u32(c2.ctx, W.done) !== done2);
    assert.equal(e.h.u32(c2.ctx, W.done), done2 + 1, 'thread 2 completes it when it polls');
    assert.ok(c2.lastOk());
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
});

test('file bdev: O_DIRECT descriptors ask to reach the device at once, page-cache ones are batched', async (t) => {
  const DESC_BYTES = 32, FLAGS_OFF = 1, SUBMIT_NOW = 1;
  for (const direct of [false, true]) {
    const flags: number[] = [];
    const e = await env({
      onUringSubmit: (memory, descs, count) => {
        const u8 = new Uint8Array(memory.buffer);
        for (let i = 0; i < count; i++) flags.push(u8[descs + i * DESC_BYTES + FLAGS_OFF]);
      },
    });
    const file = path.join(os.tmpdir(), `wstor-file-flags-${process.pid}-${direct}.img`);
    fs.writeFileSync(file, Buffer.alloc(1 << 20));
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | (direct ? fs.constants.O_DIRECT : 0));
    } catch {
      fs.rmSync(file, { force: true });
      skipIfMissing(t, true, `${os.tmpdir()} refuses O_DIRECT`);
      return;
    }
    try {
      const id = e.h.core.bdev_uring_create(name(e, 'file0'), fd, 4096, 256, direct ? 1 : 0, 0);
      const c = client(e, id);
      const buf = aligned(e.h, 4096);
      c.run(OP.write, { buf, off: 0, len: 4096 });
      c.run(OP.read, { buf, off: 4096, len: 4096 });
      c.run(OP.flush);
      assert.equal(flags.length, 3, 'write, read and flush each went to the ring');
      assert.deepEqual(flags, Array(3).fill(direct ? SUBMIT_NOW : 0), direct ? 'O_DIRECT: SUBMIT_NOW' : 'buffered: no flag');
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    }
  }
});

/** A sparse file of `bytes` under /var/tmp opened with O_DIRECT (/tmp may be tmpfs, which refuses it); undefined and the test skipped if the file system refuses it. */
function directFile(t: TestContext, label: string, bytes: number): { file: string; fd: number } | undefined {
  const file = path.join('/var/tmp', `wstor-${label}-${process.pid}.img`);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, bytes);
  try {
    return { file, fd: fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_DIRECT) };
  } catch {
    fs.rmSync(file, { force: true });
    skipIfMissing(t, true, '/var/tmp refuses O_DIRECT');
    return undefined;
  }
}

/** Bytes [offset, offset + length) of a file, read through the page cache. */
function fileBytes(file: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try { fs.readSync(fd, out, 0, length, offset); } finally { fs.closeSync(fd); }
  return out;
}

function pattern(length: number, seed: number): Uint8Array { return Uint8Array.from({ length }, (_, i) => (i * 31 + seed + (i >> 12)) & 0xff); }

/** Buffers of `lengths` at odd addresses, with an iovec array naming them. */
function oddPieces(h: Harness, lengths: number[]) {
  const pieces = lengths.map((n, k) => aligned(h, n + 64) + 2 * k + 1);
  const iovs = h.scratch(8 * lengths.length);
  lengths.forEach((n, k) => { h.setU32(iovs, pieces[k], 2 * k); h.setU32(iovs, n, 2 * k + 1); });
  const total = lengths.reduce((a, b) => a + b, 0);
  return {
    iovs,
    fill(data: Uint8Array) { let at = 0; pieces.forEach((p, k) => { bytes(h, p, lengths[k]).set(data.subarray(at, at + lengths[k])); at += lengths[k]; }); },
    joined(): Buffer { return Buffer.concat(pieces.map((p, k) => bytes(h, p, lengths[k]))); },
    total,
  };
}

const URING_DESC_BYTES = 32, URING_BUF_OFF = 8, URING_OP_READ = 0, URING_OP_WRITE = 1;

test('file bdev with O_DIRECT: misaligned buffers and iovecs go to the ring as one aligned copy; aligned ones go as they are', async (t) => {
  const ring: { op: number; buf: number }[] = [];
  const e = await env({
    onUringSubmit: (memory, descs, count) => {
      const v = new DataView(memory.buffer);
      for (let i = 0; i < count; i++) {
        const d = descs + i * URING_DESC_BYTES;
        ring.push({ op: v.getUint8(d), buf: v.getUint32(d + URING_BUF_OFF, true) });
      }
    },
  });
  const f = directFile(t, 'bounce', 4 << 20);
  if (!f) return;
  try {
    const id = e.h.core.bdev_uring_create(name(e, 'file0'), f.fd, 4096, 1024, 1, 0);
    const c = client(e, id);
    const one = aligned(e.h, 12288 + 64) + 16;              // the heap's own alignment, not the block's
    const vec = oddPieces(e.h, [1000, 5000, 3000, 3288]);  // none a multiple of 4096; 12288 in all
    const straight = aligned(e.h, 8192);
    const live = e.h.core.heap_live_blocks();
    const sentAsCopy = (op: number, callerBuf: number, what: string) => {
      const d = ring.at(-1)!;
      assert.equal(d.op, op, `${what}: one buffer for the ring`);
      assert.equal(d.buf % 4096, 0, `${what}: the ring's buffer is aligned`);
      assert.notEqual(d.buf, callerBuf, `${what}: the ring's buffer is a copy`);
    };

    const a = pattern(12288, 1);
    bytes(e.h, one, 12288).set(a);
    assert.equal(c.run(OP.write, { buf: one, off: 16384, len: 12288 }), 0);
    assert.ok(c.lastOk(), 'misaligned write completed');
    sentAsCopy(URING_OP_WRITE, one, 'misaligned write');
    assert.ok(fileBytes(f.file, 16384, 12288).equals(a), 'the file holds what the misaligned buffer held');
    bytes(e.h, one, 12288).fill(0);
    assert.equal(c.run(OP.read, { buf: one, off: 16384, len: 12288 }), 0);
    assert.ok(c.lastOk(), 'misaligned read completed');
    sentAsCopy(URING_OP_READ, one, 'misaligned read');
    assert.ok(Buffer.from(bytes(e.h, one, 12288)).equals(a), 'the misaligned buffer got the data back');

    const b = pattern(vec.total, 2);
    vec.fill(b);
    assert.equal(c.run(OP.writev, { buf: vec.iovs, flag: 4, off: 32768, len: vec.total }), 0);
    assert.ok(c.lastOk(), 'misaligned writev completed');
    sentAsCopy(URING_OP_WRITE, vec.iovs, 'misaligned writev');
    assert.ok(fileBytes(f.file, 32768, vec.total).equals(b), 'the file holds the pieces back to back');
    vec.fill(new Uint8Array(vec.total));
    assert.equal(c.run(OP.readv, { buf: vec.iovs, flag: 4, off: 32768, len: vec.total }), 0);
    assert.ok(c.lastOk(), 'misaligned readv completed');
    sentAsCopy(URING_OP_READ, vec.iovs, 'misaligned readv');
    assert.ok(vec.joined().equals(b), 'each piece got its part of the data');

    const s = pattern(8192, 3);
    bytes(e.h, straight, 8192).set(s);
    assert.equal(c.run(OP.write, { buf: straight, off: 65536, len: 8192 }), 0);
    assert.ok(c.lastOk());
    assert.deepEqual(ring.at(-1), { op: URING_OP_WRITE, buf: straight }, 'an aligned write goes to the ring from the caller\'s buffer');
    bytes(e.h, straight, 8192).fill(0);
    assert.equal(c.run(OP.read, { buf: straight, off: 65536, len: 8192 }), 0);
    assert.deepEqual(ring.at(-1), { op: URING_OP_READ, buf: straight }, 'an aligned read goes to the ring into the caller\'s buffer');
    assert.ok(Buffer.from(bytes(e.h, straight, 8192)).equals(s));

    assert.equal(e.h.core.heap_live_blocks(), live, 'every bounce buffer was freed at completion');
    assert.equal(c.run(OP.read, { buf: 0xfffff000, off: 0, len: 8192 }), -22, 'a buffer outside the memory is still refused');
    assert.equal(c.run(OP.read, { buf: 65536 + 16, off: 0, len: 4096 }), -22, 'a misaligned buffer over the static data is still refused');
    assert.equal(c.run(OP.read, { buf: one, off: 0, len: 4096 + 16 }), -22, 'a length that is not whole blocks is still refused');
  } finally {
    fs.closeSync(f.fd);
    fs.rmSync(f.file, { force: true });
  }
});

test('file bdev with O_DIRECT: a bounced I/O frees its copy however it ends (failure, reset, removal); a copy that can never fit is -ENOMEM', async (t) => {
  const e = await env();
  const f = directFile(t, 'bounce-faults', 128 << 20);
  if (!f) return;
  try {
    const fileId = e.h.core.bdev_uring_create(name(e, 'file0'), f.fd, 4096, 32768, 1, 0);
    const errName = name(e, 'err0');
    const buf = aligned(e.h, 4096 + 64) + 16;
    type Client = ReturnType<typeof client>;
    /**
     * An error bdev over the file (a pass-through takes its base's alignment) and a client of it: `use`
     * runs, the bdev is removed, `removed` runs while the client still holds it open, then it goes.
     */
    const errorBdevCycle = (use: (c: Client, errId: number) => void, removed: (c: Client) => void = () => {}) => {
      const errId = request(e, (r) => e.h.core.bdev_error_create(r, errName, fileId));
      const c = client(e, errId);
      use(c, errId);
      const req = 1000 + e.h.events.length;
      assert.equal(e.h.core.bdev_delete(req, errId), 0);
      e.h.pollAll();
      removed(c);
      c.run(OP.putChannel);
      c.run(OP.close);
      e.h.pollAll();
      assert.ok(e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req && x.b === 0), 'the error bdev is gone');
      e.h.core.wstor_free(c.ctx);
    };
    /** Submit a misaligned write that the error bdev holds until a reset or a removal aborts it. */
    const holdWrite = (c: Client, errId: number) => {
      const live = e.h.core.heap_live_blocks();
      assert.equal(e.h.core.bdev_error_inject(errId, IO.write, 2, 1), 0);
      const before = e.h.u32(c.ctx, W.done);
      assert.equal(c.run(OP.write, { buf, off: 0, len: 4096 }, false), 0);
      e.h.pollAll();
      assert.equal(e.h.u32(c.ctx, W.done), before, 'the write is held');
      assert.equal(e.h.core.heap_live_blocks(), live + 1, 'the held write holds its copy');
    };

    errorBdevCycle((c, errId) => {
      const live = e.h.core.heap_live_blocks();
      bytes(e.h, buf, 4096).fill(0xee);
      assert.equal(e.h.core.bdev_error_inject(errId, IO.read, 1, 1), 0);
      assert.equal(c.run(OP.read, { buf, off: 0, len: 4096 }), 0);
      assert.ok(!c.lastOk(), 'the injected failure reached the caller');
      assert.ok(bytes(e.h, buf, 4096).every((v) => v === 0xee), 'a failed read leaves the caller\'s buffer as it was');
      assert.equal(e.h.core.heap_live_blocks(), live, 'failure: the copy was freed');
      holdWrite(c, errId);
      const before = e.h.u32(c.ctx, W.done);
      c.run(OP.reset);
      e.h.pollAll();
      assert.equal(e.h.u32(c.ctx, W.done), before + 2, 'reset aborted the held write, then completed');
      assert.equal(e.h.core.heap_live_blocks(), live, 'abort by reset: the copy was freed');
    });
    // A removal holds blocks of its own until it ends: compare whole create-remove cycles instead.
    const live = e.h.core.heap_live_blocks();
    let held = 0;
    errorBdevCycle((c, errId) => { holdWrite(c, errId); held = e.h.u32(c.ctx, W.done); }, (c) => {
      assert.equal(e.h.u32(c.ctx, W.done), held + 1, 'removal aborted the held write');
      assert.ok(!c.lastOk());
    });
    assert.equal(e.h.core.heap_live_blocks(), live, 'abort by removal: the copy was freed');

    // 128 MiB from a buffer of 128 MiB: with the harness's 256 MiB at most, the copy and the buffer can
    // never both be in the heap. No wait would help: -ENOMEM at once, with a report saying why.
    const direct = client(e, fileId);
    const whole = 128 << 20;
    const hold = e.h.core.h_alloc(whole + 4096);
    assert.ok(hold > 0);
    const liveHeld = e.h.core.heap_live_blocks();
    assert.equal(direct.run(OP.read, { buf: hold + 16, off: 0, len: whole }), -12, 'a copy that can never fit: -ENOMEM at once');
    assert.ok(e.h.messages('error').some((m) => /can never hold/.test(m)), 'the report says the copy can never fit');
    assert.equal(e.h.core.heap_live_blocks(), liveHeld);
    e.h.core.h_free(hold);
    assert.equal(direct.run(OP.read, { buf, off: 0, len: 4096 }), 0, 'the io went back to the pool: the next request is served');
    assert.ok(direct.lastOk());
    direct.run(OP.putChannel);
    assert.deepEqual(e.h.messages('error').filter((m) => /not completed and freed/.test(m)), [], 'the channel was released with every io back');
  } finally {
    fs.closeSync(f.fd);
    fs.rmSync(f.file, { force: true });
  }
});

/** Run `use` on a fresh O_DIRECT file (skipped where /var/tmp refuses O_DIRECT), removed afterwards. */
async function withDirectFile(t: TestContext, label: string, size: number, use: (f: { file: string; fd: number }) => void | Promise<void>) {
  const f = directFile(t, label, size);
  if (!f) return;
  try {
    await use(f);
  } finally {
    fs.closeSync(f.fd);
    fs.rmSync(f.file, { force: true });
  }
}

test('file bdev with O_DIRECT: a misaligned request with no memory for its copy waits in the layer, in order, and completes once memory is back', async (t) => {
  const ops: number[] = [];
  const e = await env({
    onUringSubmit: (memory, descs, count) => {
      for (let i = 0; i < count; i++) ops.push(new DataView(memory.buffer).getUint8(descs + i * URING_DESC_BYTES));
    },
  });
  await withDirectFile(t, 'bounce-wait', 8 << 20, (f) => {
    const id = e.h.core.bdev_uring_create(name(e, 'file0'), f.fd, 4096, 2048, 1, 0);
    const writer = client(e, id);
    const reader = client(e, id);               // the same thread and bdev: the same channel
    const len = 1 << 20;
    const wbuf = aligned(e.h, len + 64) + 16;
    const rbuf = aligned(e.h, len + 64) + 48;
    const data = pattern(len, 9);
    bytes(e.h, wbuf, len).set(data);
    // The read covers other blocks (the kernel may run the two at once), written beforehand.
    const old = pattern(len, 5);
    const fd = fs.openSync(f.file, 'r+');
    try { fs.writeSync(fd, old, 0, len, 2 << 20); } finally { fs.closeSync(fd); }
    const live = e.h.core.heap_live_blocks();
    const wDone = e.h.u32(writer.ctx, W.done);
    const rDone = e.h.u32(reader.ctx, W.done);
    const refill = exhaustHeap(e.h);
    assert.equal(writer.run(OP.write, { buf: wbuf, off: 65536, len }, false), 0, 'the write is accepted, not refused with -ENOMEM');
    assert.equal(reader.run(OP.read, { buf: rbuf, off: 2 << 20, len }, false), 0, 'the read is accepted and waits behind the write');
    let clock = 1_000_000;
    const pollFor = (us: number) => {
      for (let i = 0; i < 20; i++) { clock += us / 20; e.h.core.h_clock_set(clock); e.h.core.h_poll(e.thread, 0); }
    };
    const sent = ops.length;
    pollFor(10_000);
    assert.equal(ops.length, sent, 'nothing reached the file while memory was short');
    assert.equal(e.h.u32(writer.ctx, W.done), wDone, 'no memory yet: the write still waits');
    assert.equal(e.h.u32(reader.ctx, W.done), rDone, 'no memory yet: the read still waits');
    refill();
    // The file's completions arrive from the kernel in real time: poll until both are in (bounded).
    const bothDone = () => e.h.u32(writer.ctx, W.done) !== wDone && e.h.u32(reader.ctx, W.done) !== rDone;
    for (let i = 0; i < 5000 && !bothDone(); i++) pollFor(1000);
    assert.equal(e.h.u32(writer.ctx, W.done), wDone + 1, 'the write completed once memory was back');
    assert.ok(writer.lastOk(), 'the write succeeded');
    assert.deepEqual(ops.slice(sent), [URING_OP_WRITE, URING_OP_READ], 'retried in the order submitted');
    assert.equal(e.h.u32(reader.ctx, W.done), rDone + 1, 'the read completed once memory was back');
    assert.ok(reader.lastOk(), 'the read succeeded');
    assert.ok(fileBytes(f.file, 65536, len).equals(data), 'the file holds what the write carried');
    assert.ok(Buffer.from(bytes(e.h, rbuf, len)).equals(old), 'the read returned the file\'s data');
    assert.equal(e.h.core.heap_live_blocks(), live, 'both copies were freed');
    writer.run(OP.putChannel);
    reader.run(OP.putChannel);
    assert.deepEqual(e.h.messages('error'), [], 'nothing reported');
  });
});

test('file bdev with O_DIRECT: a request waiting for bounce memory fails on reset, hot remove and channel release', async (t) => {
  const e = await env();
  await withDirectFile(t, 'bounce-wait-abort', 8 << 20, (f) => {
    const fileId = e.h.core.bdev_uring_create(name(e, 'file0'), f.fd, 4096, 2048, 1, 0);
    const len = 1 << 20;
    const buf = aligned(e.h, len + 64) + 16;
    type Client = ReturnType<typeof client>;
    /** A misaligned write that waits for memory: returns the client's done count before it. */
    const waitingWrite = (c: Client) => {
        const before = e.h.u32(c.ctx, W.done);
      assert.equal(c.run(OP.write, { buf, off: 0, len }, false), 0);
      e.h.pollAll();
      assert.equal(e.h.u32(c.ctx, W.done), before, 'the write waits for memory');
      return before;
    };
    const settle = () => { e.h.pollAll(); };

    // Reset: the waiting write fails, then the reset completes.
    const c = client(e, fileId);
    let refill = exhaustHeap(e.h, 4);
    let before = waitingWrite(c);
    c.run(OP.reset);
    settle();
    assert.equal(e.h.u32(c.ctx, W.done), before + 2, 'reset aborted the waiting write, then completed');
    refill();

    // Channel release: the owner gave the channel back with a write waiting; it fails, with a report.
    refill = exhaustHeap(e.h, 4);
    before = waitingWrite(c);
    c.run(OP.putChannel);
    settle();
    assert.equal(e.h.u32(c.ctx, W.done), before + 1, 'release failed the waiting write');
    assert.ok(!c.lastOk());
    assert.ok(e.h.messages('error').some((m) => /waiting for bounce memory/.test(m)), 'the release is reported');
    refill();
    c.run(OP.close);

    // Hot remove of an error bdev over the file (it takes the file's alignment): the waiting write fails.
    const errId = request(e, (r) => e.h.core.bdev_error_create(r, name(e, 'err0'), fileId));
    const d = client(e, errId);
    refill = exhaustHeap(e.h, 4);
    before = waitingWrite(d);
    const req = 1000 + e.h.events.length;
    assert.equal(e.h.core.bdev_delete(req, errId), 0);
    settle();
    assert.equal(e.h.u32(d.ctx, W.done), before + 1, 'removal aborted the waiting write');
    assert.ok(!d.lastOk());
    refill();
    d.run(OP.putChannel);
    d.run(OP.close);
    settle();
    assert.ok(e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req && x.b === 0), 'the error bdev is gone');
    assert.deepEqual(e.h.messages('error').filter((m) => /not completed and freed/.test(m)), [], 'no io was left behind');
  });
});
