// Reads without a buffer (bdevReadLent, SPDK's read with a NULL buffer): malloc lends its blocks, null a
// shared region of zeroes, every other bdev reads into a buffer of the layer's that goes with the io.
// The hook copies the data out at completion, before freeing the io, and records where it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exhaustHeap, exhaustSmallBlocks } from '../helpers/core.js';
import { OP, W, IO, env, request, name, client, bytes, aligned, type Env } from '../helpers/bdev-env.js';

const EINVAL = -22, ENOMEM = -12;
const pattern = (i: number) => (i * 29 + 5) & 0xff;
type Client = ReturnType<typeof client>;

/** Write pattern() at `off`, then clear `buf`: what a read puts there can only have come from the bdev. */
function writePattern(e: Env, c: Client, buf: number, off: number, len: number): void {
  bytes(e.h, buf, len).forEach((_, i, a) => { a[i] = pattern(i); });
  assert.equal(c.run(OP.write, { buf, off, len }), 0);
  assert.ok(c.lastOk(), 'the pattern was written');
  bytes(e.h, buf, len).fill(0);
}

/** A successful read without a buffer of `len` at `off`: where its data was (the hook copied it to `buf`). */
function readLent(e: Env, c: Client, buf: number, off: number, len: number): number {
  assert.equal(c.run(OP.readLent, { buf, off, len }), 0);
  assert.ok(c.lastOk(), `read without a buffer: ${e.h.messages('error').join('; ')}`);
  return e.h.u32(c.ctx, W.lentAt);
}

test('malloc lends its own blocks: no copy, no allocation, the data is what was written', async () => {
  const e = await env();
  const id = e.h.core.hb_malloc_create(4096, 64);
  const c = client(e, id);
  const buf = e.h.scratch(8192);
  writePattern(e, c, buf, 4096 * 5, 8192);
  const live = e.h.core.heap_live_blocks();
  assert.equal(readLent(e, c, buf, 4096 * 5, 8192), e.h.core.hb_malloc_data(id) + 4096 * 5, 'the data is the bdev\'s own blocks');
  assert.ok(bytes(e.h, buf, 8192).every((v, i) => v === pattern(i)), 'what was written');
  assert.equal(e.h.core.heap_live_blocks(), live, 'nothing was allocated for it');
});

test('null lends one shared region of zeroes; a read longer than it gets a zero-filled buffer of the layer\'s', async () => {
  const e = await env();
  const id = e.h.core.hb_null_create(4096, 1024);
  const c = client(e, id);
  const buf = e.h.scratch(256 << 10);
  const live = e.h.core.heap_live_blocks();
  const lentAt: number[] = [];
  for (const off of [0, 4096 * 100]) {
    bytes(e.h, buf, 4096).fill(0x5a);
    lentAt.push(readLent(e, c, buf, off, 4096));
    assert.ok(bytes(e.h, buf, 4096).every((v) => v === 0), 'zeroes');
  }
  assert.equal(lentAt[0], lentAt[1], 'both reads were lent the same zeroes');
  assert.equal(e.h.core.heap_live_blocks(), live, 'nothing was allocated for them');
  bytes(e.h, buf, 256 << 10).fill(0x5a);
  assert.notEqual(readLent(e, c, buf, 0, 256 << 10), lentAt[0], 'longer than the shared zeroes: a buffer of its own');
  assert.ok(bytes(e.h, buf, 256 << 10).every((v) => v === 0), 'which the null bdev zero-filled');
  assert.equal(e.h.core.heap_live_blocks(), live, 'and which went with the io');
});

test('a pass-through (error bdev) reads into a buffer of the layer\'s, freed with the io, on success and on failure', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(4096, 64);
  const id = request(e, (r) => e.h.core.bdev_error_create(r, name(e, 'err_lent'), base));
  const c = client(e, id);
  const buf = e.h.scratch(4096);
  writePattern(e, c, buf, 4096 * 3, 4096);
  const live = e.h.core.heap_live_blocks();
  const at = readLent(e, c, buf, 4096 * 3, 4096);
  assert.ok(at !== 0 && at !== e.h.core.hb_malloc_data(base) + 4096 * 3, 'not the base bdev\'s blocks: a copy');
  assert.ok(bytes(e.h, buf, 4096).every((v, i) => v === pattern(i)), 'holding what was written');
  assert.equal(e.h.core.heap_live_blocks(), live, 'the buffer went with the io');
  assert.equal(e.h.core.bdev_error_inject(id, IO.read, 1, 1), 0);
  assert.equal(c.run(OP.readLent, { buf, off: 0, len: 4096 }), 0);
  assert.equal(c.lastOk(), false, 'the injected failure');
  assert.equal(e.h.core.heap_live_blocks(), live, 'a failed read\'s buffer went with the io too');
});

test('bad reads without a buffer are refused as reads with one are; no memory for the layer\'s buffer is -ENOMEM', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(4096, 64);
  const id = request(e, (r) => e.h.core.bdev_error_create(r, name(e, 'err_nomem'), base));
  const c = client(e, id);
  const onMalloc = client(e, base, false);     // read-only: the error bdev holds its write claim
  const buf = e.h.scratch(4096);
  assert.equal(c.run(OP.readLent, { buf, off: 4096 * 64, len: 4096 }), EINVAL, 'past the end');
  assert.equal(c.run(OP.readLent, { buf, off: 100, len: 4096 }), EINVAL, 'misaligned offset');
  assert.equal(c.run(OP.readLent, { buf, off: 0, len: 0 }), EINVAL, 'zero length');
  const releaseLarge = exhaustHeap(e.h);
  const releaseSmall = exhaustSmallBlocks(e.h);
  try {
    // More refusals than the channel has bdev_ios: each must give its io back (the read after shows it).
    for (let i = 0; i < 600; i++) assert.equal(c.run(OP.readLent, { buf, off: 0, len: 4096 }), ENOMEM, 'no memory for a buffer of the layer\'s');
    assert.equal(onMalloc.run(OP.readLent, { buf, off: 0, len: 4096 }), 0, 'a lending bdev needs no memory');
    assert.ok(onMalloc.lastOk());
  } finally {
    releaseSmall();
    releaseLarge();
  }
  assert.equal(c.run(OP.readLent, { buf, off: 0, len: 4096 }), 0, 'with memory back, it reads: no refused read kept its io');
  assert.ok(c.lastOk());
});

test('bdevIoData is 0 for a read that brought its own buffers: their data is where the caller put it', async () => {
  const e = await env();
  const c = client(e, e.h.core.hb_malloc_create(4096, 64));
  const bufs = e.h.scratch(8192);
  const iovs = e.h.scratch(16);
  e.h.setU32(iovs, bufs, 0); e.h.setU32(iovs, 4096, 1); e.h.setU32(iovs, bufs + 4096, 2); e.h.setU32(iovs, 4096, 3);
  // A read without a buffer first: the pool hands the same bdev_io out again, its inline pair still set.
  assert.equal(c.run(OP.readLent, { buf: bufs, off: 0, len: 4096 }), 0);
  assert.notEqual(e.h.u32(c.ctx, W.lentAt), 0, 'a read without a buffer has its data somewhere');
  assert.equal(c.run(OP.readv, { buf: iovs, flag: 2, off: 0, len: 8192 }), 0);
  assert.ok(c.lastOk());
  assert.equal(e.h.u32(c.ctx, W.lentAt), 0);
});

test('O_DIRECT file: the layer\'s buffer is aligned as the bdev requires, and holds what the file holds', async () => {
  const e = await env();
  const file = path.join(os.tmpdir(), `wstor-lent-${process.pid}.img`);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 1 << 20);
  let fd: number;
  let direct = true;
  try { fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_DIRECT); } catch { direct = false; fd = fs.openSync(file, fs.constants.O_RDWR); }
  try {
    const id = e.h.core.bdev_uring_create(name(e, 'file_lent'), fd, 4096, 256, direct ? 1 : 0, 0);
    assert.ok(id > 0);
    const c = client(e, id);
    const buf = aligned(e.h, 8192);
    writePattern(e, c, buf, 8192, 8192);
    const at = readLent(e, c, buf, 8192, 8192);
    if (direct) assert.equal(at % 4096, 0, 'aligned for O_DIRECT');
    assert.ok(bytes(e.h, buf, 8192).every((v, i) => v === pattern(i)), 'the file\'s data');
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
});
