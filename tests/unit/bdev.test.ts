// The bdev layer on malloc and null, through the deterministic harness: each operation, each error
// case, queue-when-empty, reset, hot remove during I/O, statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, expectFatal, type Harness } from '../helpers/core.js';
import { BdevOp as OP, BdevWord as W } from '../helpers/opcodes.js';

const EINVAL = -22, EBADF = -9, ENODEV = -19, EPERM = -1, ENOMEM = -12;

interface Client { h: Harness; thread: number; ctx: number }

async function setup(kind: 'malloc' | 'null', blocks = 256): Promise<Client & { bdev: number }> {
  const h = await newHarness();
  const bdev = kind === 'malloc' ? h.core.hb_malloc_create(4096, blocks) : h.core.hb_null_create(4096, blocks);
  assert.ok(bdev > 0, `created ${kind} bdev`);
  const thread = h.core.h_thread_create(1, -1, 1024);
  const ctx = h.core.hb_ctx_new();
  h.setU32(ctx, bdev, W.bdev);
  return { h, thread, ctx, bdev };
}

/** Run one op on the client's thread and poll until it is done and its completions have run. */
function run(c: Client, op: number, fields: Partial<Record<keyof typeof W, number>> = {}): number {
  const { h } = c;
  h.setU32(c.ctx, op, W.op);
  for (const [k, v] of Object.entries(fields)) h.setU32(c.ctx, v!, W[k as keyof typeof W]);
  h.core.hb_send_op(c.thread, c.ctx);
  h.pollAll();
  return h.i32(c.ctx, W.rc);
}

function openWithChannel(c: Client, write = true) {
  assert.equal(run(c, OP.open, { flag: write ? 1 : 0 }), 0);
  assert.ok(c.h.u32(c.ctx, W.desc) > 0);
  assert.equal(run(c, OP.getChannel), 0);
}

test('malloc: write, read back, unmap and write_zeroes read as zeroes, flush succeeds', async () => {
  const c = await setup('malloc');
  openWithChannel(c);
  const buf = c.h.scratch(8192);
  const bytes = () => new Uint8Array(c.h.memory.buffer, buf, 8192);
  bytes().forEach((_, i, a) => { a[i] = (i * 7 + 3) & 0xff; });
  assert.equal(run(c, OP.write, { buf, off: 4096 * 10, len: 8192 }), 0);
  bytes().fill(0);
  assert.equal(run(c, OP.read, { buf, off: 4096 * 10, len: 8192 }), 0);
  assert.ok(bytes().every((v, i) => v === ((i * 7 + 3) & 0xff)), 'read back what was written');
  assert.equal(run(c, OP.unmap, { off: 4096 * 10, len: 4096 }), 0);
  assert.equal(run(c, OP.writeZeroes, { off: 4096 * 11, len: 4096 }), 0);
  assert.equal(run(c, OP.read, { buf, off: 4096 * 10, len: 8192 }), 0);
  assert.ok(bytes().every((v) => v === 0));
  assert.equal(run(c, OP.flush), 0);
  assert.equal(c.h.u32(c.ctx, W.failed), 0);
  assert.equal(c.h.u32(c.ctx, W.ok), 6);
});

test('malloc: the data starts on a 4 KiB boundary (no block straddles two of the OS\'s pages) and its pages go back on removal', async () => {
  const h = await newHarness();
  const pagesBefore = h.core.h_pages_in_use();
  const bdev = h.core.hb_malloc_create(4096, 300);          // 1.2 MiB: whole 64 KiB runtime pages, rounded up
  assert.ok(bdev > 0);
  assert.equal(h.core.hb_malloc_data(bdev) % 4096, 0, `data at ${h.core.hb_malloc_data(bdev)}`);
  assert.equal(h.core.h_pages_in_use() - pagesBefore >= 19, true, 'the data took its pages');
  const c: Client = { h, thread: h.core.h_thread_create(1, -1, 1024), ctx: h.core.hb_ctx_new() };
  h.setU32(c.ctx, bdev, W.bdev);
  const pagesWithThread = h.core.h_pages_in_use();
  assert.equal(run(c, OP.unregister), 0);
  h.pollAll();
  assert.equal(h.core.hb_exists(bdev), 0);
  assert.ok(pagesWithThread - h.core.h_pages_in_use() >= 19, 'the data\'s 19 pages were freed');
});

test('readv gathers into several buffers', async () => {
  const c = await setup('malloc');
  openWithChannel(c);
  const src = c.h.scratch(12288);
  new Uint8Array(c.h.memory.buffer, src, 12288).forEach((_, i, a) => { a[i] = i % 251; });
  assert.equal(run(c, OP.write, { buf: src, off: 0, len: 12288 }), 0);
  const parts = [c.h.scratch(4096), c.h.scratch(8192)];
  const iovs = c.h.scratch(16);
  c.h.setU32(iovs, parts[0], 0); c.h.setU32(iovs, 4096, 1); c.h.setU32(iovs, parts[1], 2); c.h.setU32(iovs, 8192, 3);
  assert.equal(run(c, OP.readv, { buf: iovs, flag: 2, off: 0, len: 12288 }), 0);
  const got = [...new Uint8Array(c.h.memory.buffer, parts[0], 4096), ...new Uint8Array(c.h.memory.buffer, parts[1], 8192)];
  assert.ok(got.every((v, i) => v === i % 251));
});

test('null: reads return zeroes, writes are dropped', async () => {
  const c = await setup('null');
  openWithChannel(c);
  const buf = c.h.scratch(4096);
  new Uint8Array(c.h.memory.buffer, buf, 4096).fill(0xab);
  assert.equal(run(c, OP.write, { buf, off: 0, len: 4096 }), 0);
  assert.equal(run(c, OP.read, { buf, off: 0, len: 4096 }), 0);
  assert.ok(new Uint8Array(c.h.memory.buffer, buf, 4096).every((v) => v === 0));
});

test('bad requests get an errno and never reach the module', async () => {
  const c = await setup('malloc', 16);
  openWithChannel(c);
  const buf = c.h.scratch(8192);
  assert.equal(run(c, OP.read, { buf, off: 4096 * 16, len: 4096 }), EINVAL, 'past the end');
  assert.equal(run(c, OP.read, { buf, off: 4096 * 15, len: 8192 }), EINVAL, 'straddles the end');
  assert.equal(run(c, OP.read, { buf, off: 100, len: 4096 }), EINVAL, 'misaligned offset');
  assert.equal(run(c, OP.read, { buf, off: 0, len: 1000 }), EINVAL, 'misaligned length');
  assert.equal(run(c, OP.read, { buf, off: 0, len: 0 }), EINVAL, 'zero length');
  assert.equal(run(c, OP.read, { buf: 0xfffff000, off: 0, len: 8192 }), EINVAL, 'buffer outside memory');
  assert.equal(run(c, OP.read, { buf: 0, off: 0, len: 4096 }), EINVAL, 'buffer over the runtime\'s roots');
  assert.equal(run(c, OP.read, { buf: 65536, off: 0, len: 4096 }), EINVAL, 'buffer over the static data');
  assert.equal(c.h.u32(c.ctx, W.done), 0, 'no callback for a refused request');
  const desc = c.h.u32(c.ctx, W.desc);
  assert.equal(run(c, OP.close), 0);
  assert.equal(run(c, OP.read, { buf, off: 0, len: 4096, desc }), EBADF, 'closed descriptor');
  assert.equal(run(c, OP.close, { desc }), EBADF, 'closing twice');
  assert.equal(run(c, OP.read, { buf, off: 0, len: 4096, desc: 12345 }), EBADF, 'made-up descriptor');
});

test('a read-only descriptor cannot write; the exclusive claim keeps other writers out', async () => {
  const c = await setup('malloc', 16);
  openWithChannel(c, false);
  const buf = c.h.scratch(4096);
  assert.equal(run(c, OP.write, { buf, off: 0, len: 4096 }), EBADF);
  assert.equal(run(c, OP.read, { buf, off: 0, len: 4096 }), 0);
  const ro = c.h.u32(c.ctx, W.desc);
  assert.equal(run(c, OP.open, { flag: 1 }), 0);
  assert.equal(run(c, OP.claim), 0, 'the only writer may claim');
  const claimed = c.h.u32(c.ctx, W.desc);
  assert.equal(run(c, OP.open, { flag: 1 }), EPERM, 'no second writer while claimed');
  assert.match(c.h.messages('error').at(-1)!, /bdev test_malloc is claimed for exclusive write/);
  assert.equal(run(c, OP.open, { flag: 0 }), 0, 'readers are still welcome');
  assert.equal(run(c, OP.close, { desc: claimed }), 0);
  assert.equal(run(c, OP.open, { flag: 1 }), 0, 'writers again after the claim is gone');
  assert.equal(run(c, OP.close, { desc: ro }), 0);
});

test('an empty pool is -ENOMEM; queue_io_wait calls back when an io is freed', async () => {
  const c = await setup('null', 16);
  openWithChannel(c);
  c.h.setU32(c.ctx, c.h.scratch(4096), W.buf);
  // 600 reads against a pool of 512: 512 go out, the rest wait and are retried from the callback.
  c.h.setU32(c.ctx, OP.readMany, W.op);
  c.h.setU32(c.ctx, 600, W.flag);
  c.h.core.hb_send_op(c.thread, c.ctx);
  c.h.core.h_poll(c.thread, 1);
  // That poll ran the submitting message (512 out, then -ENOMEM and a wait entry) and the completion
  // poller: 512 completions; each free called the waiter back, which sent one more and waited again.
  assert.equal(c.h.u32(c.ctx, W.done), 512, 'the pool held 512');
  assert.equal(c.h.u32(c.ctx, W.waitCallbacks), 88, 'one callback per freed io while reads were pending');
  assert.equal(c.h.u32(c.ctx, W.retries), 0);
  assert.equal(c.h.u32(c.ctx, W.inflight), 88);
  c.h.pollAll();
  assert.equal(c.h.u32(c.ctx, W.done), 600, 'every read completed');
  assert.equal(c.h.u32(c.ctx, W.failed), 0);
});

test('reset completes after every earlier I/O on every channel', async () => {
  const c = await setup('malloc', 16);
  openWithChannel(c);
  const other: Client = { h: c.h, thread: c.h.core.h_thread_create(2, -1, 1024), ctx: c.h.core.hb_ctx_new() };
  c.h.setU32(other.ctx, c.h.u32(c.ctx, W.bdev), W.bdev);
  openWithChannel(other);
  const buf = c.h.scratch(4096);
  // I/O submitted on the other thread but not yet completed (its poller has not run).
  c.h.setU32(other.ctx, OP.write, W.op);
  c.h.setU32(other.ctx, buf, W.buf); c.h.setU32(other.ctx, 0, W.off); c.h.setU32(other.ctx, 4096, W.len);
  c.h.core.hb_send_op(other.thread, other.ctx);
  c.h.core.h_poll(other.thread, 1);             // runs the submit message only... and the poller
  c.h.setU32(c.ctx, OP.reset, W.op);
  c.h.core.hb_send_op(c.thread, c.ctx);
  c.h.pollAll();
  assert.equal(c.h.u32(c.ctx, W.ok), 1, 'reset completed');
  assert.equal(c.h.u32(other.ctx, W.done), 1, 'the earlier write completed too');
});

test('hot remove: descriptors are told, new I/O and opens are refused, the bdev goes once closed', async () => {
  const c = await setup('malloc', 16);
  openWithChannel(c);
  const buf = c.h.scratch(4096);
  // One write in flight when the remove starts.
  c.h.setU32(c.ctx, OP.write, W.op);
  c.h.setU32(c.ctx, buf, W.buf); c.h.setU32(c.ctx, 0, W.off); c.h.setU32(c.ctx, 4096, W.len);
  c.h.core.hb_send_op(c.thread, c.ctx);
  c.h.core.h_poll(c.thread, 1);
  const remover: Client = { h: c.h, thread: c.h.core.h_thread_create(2, -1, 1024), ctx: c.h.core.hb_ctx_new() };
  c.h.setU32(remover.ctx, c.h.u32(c.ctx, W.bdev), W.bdev);
  assert.equal(run(remover, OP.unregister), 0);
  c.h.pollAll();
  assert.equal(c.h.u32(c.ctx, W.removeEvents), 1, 'the open descriptor got a REMOVE event');
  assert.equal(c.h.u32(c.ctx, W.done), 1, 'the in-flight write completed');
  assert.equal(run(c, OP.read, { buf, off: 0, len: 4096 }), ENODEV, 'new I/O refused');
  assert.equal(run(remover, OP.open, { flag: 0 }), ENODEV, 'new opens refused');
  assert.equal(c.h.core.hb_exists(c.h.u32(c.ctx, W.bdev)), 1, 'still there while open');
  run(c, OP.putChannel);
  assert.equal(run(c, OP.close), 0);
  c.h.pollAll();
  assert.equal(c.h.u32(remover.ctx, W.unregistered), 1, 'unregister completed on the remover thread');
  assert.equal(c.h.core.hb_exists(c.h.u32(c.ctx, W.bdev)), 0);
});

test('statistics count operations, bytes, errors and latency', async () => {
  const c = await setup('malloc', 64);
  openWithChannel(c);
  const buf = c.h.scratch(8192);
  for (let i = 0; i < 5; i++) run(c, OP.write, { buf, off: 4096 * i, len: 8192 });
  for (let i = 0; i < 3; i++) run(c, OP.read, { buf, off: 0, len: 4096 });
  const out = c.h.scratch(c.h.core.bdev_stats_bytes());
  assert.equal(c.h.core.bdev_stats(c.h.u32(c.ctx, W.bdev), out), 0);
  const v = new BigUint64Array(c.h.memory.buffer, out, 24);
  assert.equal(v[0], 3n, 'reads');
  assert.equal(v[1], 5n, 'writes');
  assert.equal(v[6], 3n * 4096n, 'bytes read');
  assert.equal(v[7], 5n * 8192n, 'bytes written');
  assert.equal(c.h.core.bdev_stats(9999, out), ENODEV);
});

test('an I/O submitted from a thread other than its channel\'s stops with the bdev named (completion is checked the same way)', async () => {
  const c = await setup('malloc');
  openWithChannel(c);
  const other = c.h.core.h_thread_create(2, -1, 64);
  const buf = c.h.scratch(4096);
  c.h.setU32(c.ctx, OP.read, W.op);
  c.h.setU32(c.ctx, buf, W.buf);
  c.h.setU32(c.ctx, 0, W.off);
  c.h.setU32(c.ctx, 4096, W.len);
  c.h.core.hb_send_op(other, c.ctx);        // the channel in ctx is the first thread's
  const fatal = expectFatal(c.h, () => c.h.core.h_poll(other, 0));
  assert.match(fatal.message, /bdev .*: I\/O submitted from a thread other than the one that owns the channel/);
});
