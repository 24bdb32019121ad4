// Lightweight threads by hand: messages, exit and destroy in SPDK's order, leak reports, ownership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, expectFatal } from '../helpers/core.js';
import type { Harness } from '../helpers/core.js';

const RUNNING = 0, EXITING = 1, EXITED = 2;

test('messages run in order on the thread they were sent to, in bounded batches', async () => {
  const h = await newHarness();
  const a = h.core.h_thread_create(1, -1, 64);
  const b = h.core.h_thread_create(2, -1, 64);
  const cell = h.scratch(8);
  for (let i = 0; i < 20; i++) h.core.h_send_incr(a, cell);
  assert.equal(h.core.h_poll(b, 0), 0, 'b has no messages');
  assert.equal(h.core.h_poll(a, 0), 8, 'one poll runs at most MSG_BATCH (8) messages');
  assert.equal(h.u32(cell), 8);
  assert.equal(h.core.h_poll(a, 100), 12);
  assert.equal(h.u32(cell), 20);
  const who = h.scratch(8);
  h.core.h_send_who(b, who);
  h.pollAll();
  assert.equal(h.u32(who), h.core.h_thread_id(b), 'the message ran with b as the current thread');
});

/** n records {log, value} for h_send_append, values first..first+n-1; their addresses in `addrs`. */
function records(h: Harness, log: number, first: number, n: number) {
  const base = h.scratch(8 * n);
  const addrs = h.scratch(4 * n);
  for (let i = 0; i < n; i++) {
    h.setU32(base + 8 * i, log);
    h.setU32(base + 8 * i + 4, first + i);
    h.setU32(addrs, base + 8 * i, i);
  }
  return { at: (i: number) => base + 8 * i, addrs };
}
const logged = (h: Harness, log: number) => Array.from({ length: h.u32(log) }, (_, i) => h.u32(log + 4, i));
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

test('a full message ring overflows: every message runs once, in the order it was sent, and the ring reopens', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 16);
  const log = h.scratch(4 + 4 * 200);
  const r = records(h, log, 0, 150);
  for (let i = 0; i < 100; i++) h.core.h_send_append(t, r.at(i));
  assert.ok(h.core.h_thread_overflowing(t), '100 messages do not fit 16 slots');
  assert.equal(h.core.h_thread_pending(t), 100, 'the overflow counts as pending (the reactor must not sleep on it)');
  h.core.h_poll(t, 5);
  for (let i = 100; i < 150; i++) h.core.h_send_append(t, r.at(i));   // while the overflow drains
  h.pollAll();
  assert.deepEqual(logged(h, log), upTo(150));
  assert.equal(h.core.h_thread_pending(t), 0);
  assert.ok(!h.core.h_thread_overflowing(t), 'drained: the ring is open again');
  // Back on the ring: no heap for a message that fits.
  const blocks = h.core.h_live_blocks();
  h.core.h_send_append(t, r.at(0));
  assert.equal(h.core.h_live_blocks(), blocks, 'a message that fits the ring takes no heap block');
  h.pollAll();
  assert.equal(h.u32(log), 151);
});

test('a batch that does not fit overflows in order behind the messages before it', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 16);
  const log = h.scratch(4 + 4 * 64);
  const r = records(h, log, 0, 40);
  for (let i = 0; i < 10; i++) h.core.h_send_append(t, r.at(i));
  h.core.h_send_append_batch(t, r.addrs + 4 * 10, 10);     // 10 more do not fit behind 10 in 16
  h.core.h_send_append_batch(t, r.addrs + 4 * 20, 19);     // more than the whole ring
  h.core.h_send_append(t, r.at(39));
  h.pollAll();
  assert.deepEqual(logged(h, log), upTo(40));
});

test('MPSC ring post: a plain enqueue is refused while the ring is closed (older entries wait in the overflow)', async () => {
  const h = await newHarness();
  const ring = h.core.h_ring_create(4);
  for (let i = 0; i < 6; i++) h.core.h_ring_post(ring, i, 0);
  assert.ok(h.core.h_ring_overflowing(ring));
  assert.equal(h.core.h_ring_dequeue(ring), 1);
  assert.equal(h.core.h_ring_enqueue(ring, 99, 0), -12, 'a slot is free, but entries 4 and 5 are older');
  const got: number[] = [];
  while (h.core.h_ring_dequeue(ring)) got.push(h.core.h_ring_out_a());
  assert.deepEqual(got, [1, 2, 3, 4, 5]);
  assert.equal(h.core.h_ring_enqueue(ring, 6, 0), 0, 'open again');
  h.core.h_ring_post(ring, 7, 0);
  assert.equal(h.core.h_ring_count(ring), 2);
  h.core.h_ring_destroy(ring);
});

test('batched sends run every message once', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const cell = h.scratch(8);
  const ctxs = h.scratch(4 * 10);
  for (let i = 0; i < 10; i++) h.setU32(ctxs, cell, i);
  h.core.h_send_incr_batch(t, ctxs, 10);
  h.pollAll();
  assert.equal(h.u32(cell), 10);
});

test('exit, then destroy; a send to an exited thread stops the engine with its name', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const result = h.scratch(8);
  assert.equal(h.core.h_thread_destroy(t), -16, 'a running thread cannot be destroyed');
  assert.match(h.messages('error').at(-1)!, /destroyed before it exited/);
  h.core.h_send_exit(t, result);
  h.core.h_poll(t, 0);
  assert.equal(h.i32(result), 0);
  assert.equal(h.core.h_thread_state(t), EXITED, 'nothing held: exited on the same poll');
  const fatal = expectFatal(h, () => h.core.h_send_incr(t, result));
  assert.match(fatal.message, /thread worker_a is marked as exited \(a message to it would be lost\)/);
});

test('a send to thread 0 (a pointer read before it was set) stops the engine instead of writing low memory', async () => {
  const h = await newHarness();
  const cell = h.scratch(8);
  assert.match(expectFatal(h, () => h.core.h_send_incr(0, cell)).message, /send_msg: no thread/);
  assert.match(expectFatal(h, () => h.core.h_send_incr_batch(0, cell, 1)).message, /send_msg: no thread/);
});

test('an exiting thread with a message still queued (even in the overflow) does not exit before running it', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 4);
  const cell = h.scratch(8);
  h.core.h_send_exit(t, h.scratch(8));
  for (let i = 0; i < 6; i++) h.core.h_send_incr(t, cell);
  h.core.h_poll(t, 1);
  assert.equal(h.core.h_thread_state(t), EXITING);
  h.pollAll();
  assert.equal(h.u32(cell), 6, 'every message ran');
  assert.equal(h.core.h_thread_state(t), EXITED);
  assert.equal(h.core.h_thread_destroy(t), 0);
});

test('a thread with a poller stays exiting; unregistering lets it exit', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const poller = h.scratch(32);
  h.core.h_send_register_poller(t, poller);
  h.core.h_poll(t, 0);
  h.core.h_send_exit(t, h.scratch(8));
  h.core.h_poll(t, 0);
  assert.equal(h.core.h_thread_state(t), EXITING);
  h.core.h_send_unregister_poller(t, poller);
  h.core.h_poll(t, 0);
  assert.equal(h.core.h_thread_state(t), EXITED);
  assert.equal(h.core.h_thread_destroy(t), 0);
  assert.deepEqual(h.messages('error').filter((m) => /still registered/.test(m)), []);
});

test('exit timeout: pollers and channels still registered are named, then the thread is forced out', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  h.core.h_thread_set_exit_timeout(t, 1000);
  const poller = h.scratch(32);
  h.core.h_send_register_poller(t, poller);
  const dev = h.scratch(32);
  h.setU32(dev, 16, 4);
  assert.equal(h.core.h_device_register(dev), 0);
  const ch = h.scratch(16);
  h.setU32(ch, dev);
  h.core.h_send_get_channel(t, ch);
  h.core.h_send_exit(t, h.scratch(8));
  h.pollAll();
  assert.equal(h.core.h_thread_state(t), EXITING);
  h.core.h_clock_set(1_000_000 + 2000);
  h.core.h_poll(t, 0);
  assert.equal(h.core.h_thread_state(t), EXITED);
  const errors = h.messages('error');
  assert.ok(errors.some((m) => /thread worker_a got timeout, and move it to the exited state forcefully/.test(m)), errors.join('\n'));
  assert.ok(errors.some((m) => /active poller test_poller still registered at exit of thread worker_a/.test(m)));
  assert.ok(errors.some((m) => /thread worker_a still has channel for io_device test_device/.test(m)));
  assert.equal(h.core.h_thread_destroy(t), 0);
  assert.equal(h.u32(dev, 1), 0, 'a leaked channel is reported and left alone: no destructor runs off its thread');
});

test('polling a thread another reactor owns is refused with a clear error (LESSONS 3)', async () => {
  const h = await newHarness({ reactor: 0 });
  const mine = h.core.h_thread_create(0, 0, 64);
  const theirs = h.core.h_thread_create(1, 1, 64);
  assert.equal(h.core.h_poll(mine, 0), 0);
  assert.equal(h.core.h_poll(theirs, 0), -1);
  assert.match(h.messages('error').at(-1)!,
    /thread worker_a belongs to another reactor: reactor 0 may not poll it \(send it a message instead; owner is reactor 1\)/);
});

test('thread state starts running', async () => {
  const h = await newHarness();
  assert.equal(h.core.h_thread_state(h.core.h_thread_create(0, -1, 64)), RUNNING);
});
