// SPDK's spinlock checks: each misuse stops with a report naming the lock and the thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, expectFatal } from '../helpers/core.js';

const CASES = {
  ok: 0, deadlock: 1, wrongThread: 2, destroyHeld: 3, holdOffCpu: 4, afterDestroy: 5, notInitialized: 6,
} as const;

async function runCase(which: number) {
  const h = await newHarness();
  const thread = h.core.h_thread_create(1, -1, 64);
  const ctx = h.scratch(64);
  h.setU32(ctx, which);
  h.core.h_send_spin_case(thread, ctx);
  return { h, thread, ctx };
}

test('correct use: lock and unlock within one message', async () => {
  const { h, thread, ctx } = await runCase(CASES.ok);
  assert.equal(h.core.h_poll(thread, 0), 1);
  assert.equal(h.u32(ctx, 1), 1, 'spinHeld was true while held');
  assert.deepEqual(h.messages('error'), []);
});

test('relock by the holder is a deadlock error', async () => {
  const { h, thread } = await runCase(CASES.deadlock);
  const fatal = expectFatal(h, () => h.core.h_poll(thread, 0));
  assert.equal(fatal.code, 2);
  assert.match(fatal.message, /spinlock test_lock: deadlock, thread worker_a locks it again/);
});

test('unlock by a thread that does not hold it', async () => {
  const { h, thread } = await runCase(CASES.wrongThread);
  const fatal = expectFatal(h, () => h.core.h_poll(thread, 0));
  assert.equal(fatal.code, 3);
  assert.match(fatal.message, /spinlock test_lock: unlock on wrong thread worker_a/);
});

test('destroying a held lock', async () => {
  const { h, thread } = await runCase(CASES.destroyHeld);
  const fatal = expectFatal(h, () => h.core.h_poll(thread, 0));
  assert.equal(fatal.code, 5);
  assert.match(fatal.message, /spinlock test_lock: destroying a held spinlock/);
});

test('a lock held when the message returns: held while going off CPU', async () => {
  const { h, thread } = await runCase(CASES.holdOffCpu);
  const fatal = expectFatal(h, () => h.core.h_poll(thread, 0));
  assert.equal(fatal.code, 7);
  assert.match(fatal.message, /Lock\(s\) held while SPDK thread going off CPU: lock test_lock held by thread worker_a/);
});

test('use after destroy', async () => {
  const { h, thread } = await runCase(CASES.afterDestroy);
  const fatal = expectFatal(h, () => h.core.h_poll(thread, 0));
  assert.equal(fatal.code, 8);
  assert.match(fatal.message, /spinlock test_lock: lock after destroy/);
});

test('use before init', async () => {
  const { h, thread } = await runCase(CASES.notInitialized);
  const fatal = expectFatal(h, () => h.core.h_poll(thread, 0));
  assert.equal(fatal.code, 9);
  assert.match(fatal.message, /lock before spinInit/);
});

test('use outside any lightweight thread', async () => {
  const h = await newHarness();
  const ctx = h.scratch(64);
  const fatal = expectFatal(h, () => h.core.h_spin_outside_thread(ctx));
  assert.equal(fatal.code, 1);
  assert.match(fatal.message, /spinlock test_lock: lock outside a lightweight thread \(not an SPDK thread\)/);
});
