// Lightweight threads by hand: messages, exit and destroy in SPDK's order, leak reports, ownership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness } from '../helpers/core.js';

const RUNNING = 0, EXITING = 1, EXITED = 2;

test('messages run in order on the thread they were sent to, in bounded batches', async () => {
  const h = await newHarness();
  const a = h.core.h_thread_create(1, -1, 64);
  const b = h.core.h_thread_create(2, -1, 64);
  const cell = h.scratch(8);
  for (let i = 0; i < 20; i++) assert.equal(h.core.h_send_incr(a, cell), 0);
  assert.equal(h.core.h_poll(b, 0), 0, 'b has no messages');
  assert.equal(h.core.h_poll(a, 0), 8, 'one poll runs at most MSG_BATCH (8) messages');
  assert.equal(h.u32(cell), 8);
  assert.equal(h.core.h_poll(a, 100), 12);
  assert.equal(h.u32(cell), 20);
  const who = h.scratch(8);
  h.core.h_send_who(b, who);
  h.drain(b);
  assert.equal(h.u32(who), h.core.h_thread_id(b), 'the message ran with b as the current thread');
});

test('a full message ring is -ENOMEM to the sender; nothing is overwritten', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 16);
  const cell = h.scratch(8);
  for (let i = 0; i < 16; i++) assert.equal(h.core.h_send_incr(t, cell), 0);
  assert.equal(h.core.h_send_incr(t, cell), -12);
  h.drain(t);
  assert.equal(h.u32(cell), 16);
});

test('batched sends run every message once', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const cell = h.scratch(8);
  const ctxs = h.scratch(4 * 10);
  for (let i = 0; i < 10; i++) h.setU32(ctxs, cell, i);
  assert.equal(h.core.h_send_incr_batch(t, ctxs, 10), 0);
  h.drain(t);
  assert.equal(h.u32(cell), 10);
});

test('exit, then destroy; sends to an exited thread fail with -EIO', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const result = h.scratch(8);
  assert.equal(h.core.h_thread_destroy(t), -16, 'a running thread cannot be destroyed');
  assert.match(h.messages('error').at(-1)!, /destroyed before it exited/);
  h.core.h_send_exit(t, result);
  h.core.h_poll(t, 0);
  assert.equal(h.i32(result), 0);
  assert.equal(h.core.h_thread_state(t), EXITED, 'nothing held: exited on the same poll');
  assert.equal(h.core.h_send_incr(t, result), -5);
  assert.match(h.messages('error').at(-1)!, /thread worker_a is marked as exited/);
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
  h.drain(t);
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
