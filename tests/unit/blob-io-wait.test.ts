// Blob I/O out of bdev_ios or buffers waits and goes on, never fails (assembly/blob/io.ts with
// bdev/io-wait.ts and bdev/scratch.ts), through the deterministic harness: copy on write with the heap
// exhausted, more requests than the channel has bdev_ios, vectored I/O in windows, and the waiting
// requests of a hot-removed bdev or a released channel failing instead of being left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, exhaustHeap, exhaustSmallBlocks, type Harness } from '../helpers/core.js';
import { writeCoreString } from '../../host/core-abi.js';
import { BlobOp as OP } from '../helpers/opcodes.js';

const MiB = 1 << 20;
const UNIT = 4096;
const ENOMEM = -12, ENODEV = -19;

/** A md thread (also the I/O thread unless `io` says otherwise), a store on a malloc bdev, an open thin blob and a channel; ctx words as blob-hooks.ts. */
interface Fx { h: Harness; t: number; io: number; bdev: number; store: number; blob: number; channel: number; clockUs: number }

/** A ctx for one op (make them before exhausting the heap: they are heap blocks too). */
function newCtx(f: Fx, code: number, args: number[] = []): number {
  const ctx = f.h.core.hbs_ctx_new();
  assert.notEqual(ctx, 0, 'no memory for a ctx: make it before exhausting the heap');
  f.h.setU32(ctx, code, 0);
  f.h.setU32(ctx, f.store, 3);
  f.h.setU32(ctx, f.blob, 4);
  f.h.setU32(ctx, f.channel, 13);
  args.forEach((v, i) => f.h.setU32(ctx, v >>> 0, 7 + i));
  return ctx;
}
const completed = (f: Fx, ctx: number) => f.h.u32(ctx, 2) !== 0;
const rcOf = (f: Fx, ctx: number) => f.h.i32(ctx, 1);
/** Poll the thread `rounds` times, the clock 1 ms on each time (the retry pollers are timed). */
function poll(f: Fx, rounds: number): void {
  for (let i = 0; i < rounds; i++) {
    f.clockUs += 1000;
    f.h.core.h_clock_set(f.clockUs);
    f.h.core.h_poll(f.t, 0);
    if (f.io !== f.t) f.h.core.h_poll(f.io, 0);
  }
}
function pollUntil(f: Fx, done: () => boolean, what: string): void {
  for (let i = 0; i < 10_000 && !done(); i++) poll(f, 1);
  assert.ok(done(), `${what}: never completed; ${f.h.messages('error').join('; ')}`);
}
/** Run an op to completion; its rc. */
function run(f: Fx, code: number, args: number[] = []): number {
  const ctx = newCtx(f, code, args);
  f.h.core.hbs_send(f.t, ctx);
  pollUntil(f, () => completed(f, ctx), `op ${code}`);
  return rcOf(f, ctx);
}
function ok(f: Fx, code: number, args: number[] = []): bigint {
  const ctx = newCtx(f, code, args);
  f.h.core.hbs_send(f.t, ctx);
  pollUntil(f, () => completed(f, ctx), `op ${code}`);
  assert.equal(rcOf(f, ctx), 0, `op ${code} (${args.join(',')}): ${f.h.messages('error').join('; ')}`);
  return BigInt(f.h.u32(ctx, 11)) | (BigInt(f.h.u32(ctx, 12)) << 32n);
}
/** Start an op without waiting for it (in `ctx`, made earlier, or a new one). */
function start(f: Fx, code: number, args: number[] = [], ctx = newCtx(f, code, args)): number {
  f.h.setU32(ctx, code, 0);
  args.forEach((v, i) => f.h.setU32(ctx, v >>> 0, 7 + i));
  f.h.core.hbs_send(f.io, ctx);
  return ctx;
}
const pattern = (unit: number, seed: number) => (i: number) => (unit * 31 + i * 7 + seed) & 0xff;
function fillUnits(h: Harness, ptr: number, firstUnit: number, units: number, seed: number): void {
  for (let u = 0; u < units; u++) { const p = pattern(firstUnit + u, seed); new Uint8Array(h.memory.buffer, ptr + u * UNIT, UNIT).forEach((_, i, a) => { a[i] = p(i); }); }
}
function holdsUnits(h: Harness, ptr: number, firstUnit: number, units: number, seed: number): boolean {
  for (let u = 0; u < units; u++) {
    const p = pattern(firstUnit + u, seed);
    if (!new Uint8Array(h.memory.buffer, ptr + u * UNIT, UNIT).every((v, i) => v === p(i))) return false;
  }
  return true;
}

/**
 * A blob of `clusters` clusters of `clusterBytes`, every unit written with seed 1, then snapshotted:
 * the blob reads through the snapshot, and its first write into a cluster copies that cluster.
 */
async function setupSnapshotted(clusters = 8, clusterBytes = MiB): Promise<Fx> {
  const h = await newHarness();
  const t = h.core.h_thread_create(0, -1, 8192);
  h.core.hb_set_app_thread(t);
  const f: Fx = { h, t, io: t, bdev: h.core.hb_malloc_create(UNIT, 16384), store: 0, blob: 0, channel: 0, clockUs: 1_000_000 };
  f.store = Number(ok(f, OP.init, [f.bdev, clusterBytes, 0]));
  const id = ok(f, OP.create, [clusters, 1]);
  const open = newCtx(f, OP.open);
  h.setU32(open, Number(id & 0xffffffffn), 5);
  h.setU32(open, Number(id >> 32n), 6);
  h.core.hbs_send(t, open);
  pollUntil(f, () => completed(f, open), 'open');
  f.blob = h.u32(open, 11);
  const ch = newCtx(f, OP.channel);
  h.core.hbs_send(t, ch);
  pollUntil(f, () => completed(f, ch), 'channel');
  f.channel = h.u32(ch, 13);
  const units = clusters * clusterBytes / UNIT;
  const buf = h.scratch(clusterBytes);
  for (let c = 0; c < clusters; c++) {
    const first = c * clusterBytes / UNIT;
    fillUnits(h, buf, first, clusterBytes / UNIT, 1);
    ok(f, OP.write, [buf, first, clusterBytes / UNIT]);
  }
  ok(f, OP.snapshot);
  assert.equal(h.core.hbs_blob_allocated(f.blob), 0, 'the blob owns no cluster after its snapshot');
  void units;
  return f;
}

/** Whether cluster `c` of the blob reads as seed 1 except unit `unit` (seed `seed`). */
function clusterHolds(f: Fx, c: number, unit: number, seed: number, clusterBytes = MiB): boolean {
  const per = clusterBytes / UNIT;
  const buf = f.h.scratch(clusterBytes);
  ok(f, OP.read, [buf, c * per, per]);
  const at = unit - c * per;
  return holdsUnits(f.h, buf, c * per, at, 1) && holdsUnits(f.h, buf + at * UNIT, unit, 1, seed) &&
    holdsUnits(f.h, buf + (at + 1) * UNIT, unit + 1, per - at - 1, 1);
}

test('copy on write with the heap exhausted waits for a scratch buffer, then completes with the data right', async () => {
  const f = await setupSnapshotted();
  const per = MiB / UNIT;
  const bufs = [0, 1, 2].map((k) => { const b = f.h.scratch(UNIT); fillUnits(f.h, b, k * per + 5, 1, 50 + k); return b; });
  const refill = exhaustHeap(f.h);
  let writes: number[];
  try {
    // Three first writes into three clusters: each must copy its cluster from the snapshot.
    writes = [0, 1, 2].map((k) => start(f, OP.write, [bufs[k], k * per + 5, 1]));
    poll(f, 50);
    for (const [k, ctx] of writes.entries()) {
      assert.ok(!completed(f, ctx), `write ${k} waits for memory (completed with ${rcOf(f, ctx)}; ENOMEM is ${ENOMEM})`);
    }
  } finally {
    refill();
  }
  pollUntil(f, () => writes.every((ctx) => completed(f, ctx)), 'the waiting writes');
  for (const [k, ctx] of writes.entries()) assert.equal(rcOf(f, ctx), 0, `write ${k}`);
  assert.equal(f.h.core.hbs_blob_allocated(f.blob), 3, 'each write claimed its cluster');
  for (let k = 0; k < 3; k++) assert.ok(clusterHolds(f, k, k * per + 5, 50 + k), `cluster ${k}: the write, the rest copied`);
  // The pool keeps what it allocated: later copies need no heap at all.
  const spare = newCtx(f, OP.write);
  const refillAgain = exhaustHeap(f.h);
  const refillSmall = exhaustSmallBlocks(f.h);
  try {
    fillUnits(f.h, bufs[0], 3 * per + 9, 1, 77);
    const again = start(f, OP.write, [bufs[0], 3 * per + 9, 1], spare);
    pollUntil(f, () => completed(f, again), 'a copy with the heap and the small blocks exhausted');
    assert.equal(rcOf(f, again), 0);
  } finally {
    refillSmall();
    refillAgain();
  }
  assert.ok(clusterHolds(f, 3, 3 * per + 9, 77), 'cluster 3 copied from a kept buffer');
});

test('more blob I/Os than the channel has bdev_ios: the rest wait in line, copy on write too, and all complete', async () => {
  const f = await setupSnapshotted();
  const per = MiB / UNIT;
  const readBuf = f.h.scratch(UNIT);
  const writeBuf = f.h.scratch(UNIT);
  fillUnits(f.h, writeBuf, 4 * per + 3, 1, 90);
  // All in one message: the malloc bdev completes from its poller, so none completes before all are
  // submitted. 512 reads take every bdev_io of the channel; the write's copy and 600 more reads (more
  // than the pool holds) wait in line.
  const ctxOf = (code: number, args: number[]) => newCtx(f, code, args);
  const first = Array.from({ length: 512 }, () => ctxOf(OP.read, [readBuf, 7, 1]));
  const write = ctxOf(OP.write, [writeBuf, 4 * per + 3, 1]);
  const more = Array.from({ length: 600 }, () => ctxOf(OP.read, [readBuf, 7, 1]));
  const all = [...first, write, ...more];
  const list = f.h.scratch(all.length * 4);
  all.forEach((ctx, i) => f.h.setU32(list, ctx, i));
  assert.equal(f.h.core.hbs_send_burst(f.t, list, all.length), 0);
  pollUntil(f, () => all.every((ctx) => completed(f, ctx)), 'every I/O');
  for (const [i, ctx] of first.entries()) assert.equal(rcOf(f, ctx), 0, `read ${i}`);
  assert.equal(rcOf(f, write), 0, 'the copy on write waited for bdev_ios');
  for (const [i, ctx] of more.entries()) assert.equal(rcOf(f, ctx), 0, `waiting read ${i}`);
  assert.ok(holdsUnits(f.h, readBuf, 7, 1, 1));
  assert.ok(clusterHolds(f, 4, 4 * per + 3, 90), 'the write and its copied cluster');
});

test('vectored I/O over many clusters with no heap at all: its slices go through the request\'s own table, in windows', async () => {
  const clusterBytes = 64 << 10;
  const f = await setupSnapshotted(32, clusterBytes);
  const per = clusterBytes / UNIT;
  const units = 24 * per;                                   // 24 clusters, 16 buffers: ~40 slices in all
  const data = f.h.scratch(units * UNIT);
  fillUnits(f.h, data, 0, units, 33);
  const iovs = f.h.scratch(16 * 8);
  const setIovs = (base: number, total: number) => {
    const len = Math.floor(total / 16 / 512) * 512 + 100;     // buffers that end inside io units
    for (let i = 0; i < 16; i++) {
      const l = i < 15 ? len : total - 15 * len;
      f.h.setU32(iovs, base + i * len, i * 2);
      f.h.setU32(iovs, l, i * 2 + 1);
    }
  };
  // Warm: a first vectored write claims (and copies) the clusters; the requests are kept for later.
  setIovs(data, units * UNIT);
  ok(f, OP.writev, [iovs, 0, units, 16]);
  const out = f.h.scratch(units * UNIT);
  const [wCtx, rCtx] = [newCtx(f, OP.writev), newCtx(f, OP.readv)];
  const refillPages = exhaustHeap(f.h);
  const refillSmall = exhaustSmallBlocks(f.h);
  try {
    fillUnits(f.h, data, 0, units, 44);
    setIovs(data, units * UNIT);
    const w = start(f, OP.writev, [iovs, 0, units, 16], wCtx);
    pollUntil(f, () => completed(f, w), 'writev');
    assert.equal(rcOf(f, w), 0, 'writev with no heap');
    new Uint8Array(f.h.memory.buffer, out, units * UNIT).fill(0xee);
    setIovs(out, units * UNIT);
    const r = start(f, OP.readv, [iovs, 0, units, 16], rCtx);
    pollUntil(f, () => completed(f, r), 'readv');
    assert.equal(rcOf(f, r), 0, 'readv with no heap');
  } finally {
    refillSmall();
    refillPages();
  }
  assert.ok(holdsUnits(f.h, out, 0, units, 44), 'what writev wrote comes back through readv, every slice in place');
});

test('hot remove completes the requests waiting for a scratch buffer or a bdev_io with an error', async () => {
  const f = await setupSnapshotted();
  const per = MiB / UNIT;
  const buf = f.h.scratch(UNIT);
  const refill = exhaustHeap(f.h, 8);           // room for small blocks (the reads' requests), none for a cluster copy
  let cows: number[] = [];
  let reads: number[] = [];
  try {
    cows = [0, 1].map((k) => start(f, OP.write, [buf, k * per, 1]));
    poll(f, 20);
    for (const ctx of cows) assert.ok(!completed(f, ctx), `the copy waits for memory (completed with ${rcOf(f, ctx)})`);
    // And reads waiting for a bdev_io: 512 take the pool, 8 wait, all in one message, the removal next.
    reads = Array.from({ length: 520 }, () => newCtx(f, OP.read, [buf, 9, 1]));
    const list = f.h.scratch(reads.length * 4);
    reads.forEach((ctx, i) => f.h.setU32(list, ctx, i));
    assert.equal(f.h.core.hbs_send_burst(f.t, list, reads.length), 0);
    f.h.core.hbs_remove_bdev(f.t, f.bdev);
    pollUntil(f, () => [...cows, ...reads].every((ctx) => completed(f, ctx)), 'the requests of the removed bdev');
  } finally {
    refill();
  }
  for (const ctx of cows) assert.equal(rcOf(f, ctx), ENODEV, 'a copy that waited for a buffer fails: its bdev is gone');
  for (const ctx of reads.slice(512)) assert.equal(rcOf(f, ctx), ENODEV, 'a read that waited for a bdev_io fails: its bdev is gone');
  assert.equal(f.h.core.hbs_blob_allocated(f.blob), 0, 'no cluster joined the blob');
});

test('releasing a channel completes the copies waiting there for a scratch buffer with an error', async () => {
  const f = await setupSnapshotted();
  const per = MiB / UNIT;
  const buf = f.h.scratch(UNIT);
  // I/O from a second thread, through a channel of its own (the md thread keeps one of its own).
  f.io = f.h.core.h_thread_create(1, -1, 1024);
  const ch = start(f, OP.channel);
  pollUntil(f, () => completed(f, ch), 'channel');
  f.channel = f.h.u32(ch, 13);
  const refill = exhaustHeap(f.h);
  let cow = 0;
  try {
    cow = start(f, OP.write, [buf, 2 * per, 1]);
    poll(f, 20);
    assert.ok(!completed(f, cow), `the copy waits for memory (completed with ${rcOf(f, cow)})`);
    f.h.core.hbs_put_channel(f.io, f.channel);
    pollUntil(f, () => completed(f, cow), 'the copy on the released channel');
  } finally {
    refill();
  }
  assert.equal(rcOf(f, cow), ENODEV);
  assert.ok(f.h.messages('error').some((m) => /channel released with 1 requests waiting for a scratch buffer/.test(m)), 'said so');
  assert.equal(f.h.core.hbs_blob_allocated(f.blob), 0);
});

test('an lvol bdev whose I/O finds no memory for its blob request waits and submits it again, never fails it', async () => {
  const f = await setupSnapshotted(4);
  const { h } = f;
  const hook = h.scratch(16);
  h.core.hbs_lvol_create(f.blob, writeCoreString(h.core, h.memory, 'lvol0'), hook);
  pollUntil(f, () => h.u32(hook, 3) === 1, 'lvol create');
  const lvol = h.u32(hook, 2);
  assert.notEqual(lvol, 0, `lvol bdev: ${h.messages('error').join('; ')}`);
  // bdev-hooks ctx words: 0 op, 1 bdev id, 2 desc, 3 channel, 4 rc, 5 completions, 6 successes, 7 failures, 10 buf, 13 flag.
  const ctx = h.core.hb_ctx_new();
  const bdevOp = (code: number) => { h.setU32(ctx, code, 0); h.core.hb_send_op(f.t, ctx); poll(f, 3); assert.equal(h.i32(ctx, 4), 0, `bdev op ${code}`); };
  h.setU32(ctx, lvol, 1);
  h.setU32(ctx, 0, 13);
  bdevOp(1);                                                 // open, read-only
  bdevOp(3);                                                 // this thread's channel
  h.setU32(ctx, h.scratch(UNIT), 10);
  const reads = 300;
  const refillPages = exhaustHeap(h);
  const refillSmall = exhaustSmallBlocks(h);
  try {
    // 300 reads of the lvol in one message: the blob layer has requests for the few its reactor kept.
    h.setU32(ctx, reads, 13);
    h.setU32(ctx, 13, 0);                                    // read many
    h.core.hb_send_op(f.t, ctx);
    pollUntil(f, () => h.u32(ctx, 5) === reads, 'every read of the lvol');
  } finally {
    refillSmall();
    refillPages();
  }
  assert.equal(h.u32(ctx, 7), 0, 'no read failed');
  assert.equal(h.u32(ctx, 6), reads);
  assert.ok(holdsUnits(h, h.u32(ctx, 10), 0, 1, 1), 'the reads read the blob');
});

test('a new store on the same bdev channel with another cluster size gets scratch buffers of its size', async () => {
  const f = await setupSnapshotted(4);
  const per = MiB / UNIT;
  const buf = f.h.scratch(UNIT);
  fillUnits(f.h, buf, per + 2, 1, 61);
  ok(f, OP.write, [buf, per + 2, 1]);                       // a copy: the channel keeps a 1 MiB buffer
  ok(f, 6);                                                 // close
  ok(f, 3);                                                 // unload; the test's channel on the bdev stays
  const small = 64 << 10;
  f.store = Number(ok(f, OP.init, [f.bdev, small, 0]));
  const id = ok(f, OP.create, [4, 0]);
  const open = newCtx(f, OP.open);
  f.h.setU32(open, Number(id & 0xffffffffn), 5);
  f.h.setU32(open, Number(id >> 32n), 6);
  f.h.core.hbs_send(f.t, open);
  pollUntil(f, () => completed(f, open), 'open');
  f.blob = f.h.u32(open, 11);
  const data = f.h.scratch(small);
  fillUnits(f.h, data, 0, small / UNIT, 1);
  ok(f, OP.write, [data, 0, small / UNIT]);
  ok(f, OP.snapshot);
  fillUnits(f.h, buf, 3, 1, 62);
  ok(f, OP.write, [buf, 3, 1]);                             // a copy of a 64 KiB cluster
  assert.ok(clusterHolds(f, 0, 3, 62, small), 'the write and the rest of its 64 KiB cluster, copied');
});
