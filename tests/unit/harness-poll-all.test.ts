// The harness's pollAll and pollUntil: every registered thread is polled until nothing is left to do,
// and a thread that never goes quiet is named when the bound is hit instead of hanging the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness } from '../helpers/core.js';

test('pollAll runs the messages of every thread, over many rounds, and returns their work', async () => {
  const h = await newHarness();
  const a = h.core.h_thread_create(1, -1, 256);
  const b = h.core.h_thread_create(2, -1, 256);
  const cell = h.scratch(8);
  for (let i = 0; i < 40; i++) { h.core.h_send_incr(a, cell); h.core.h_send_incr(b, cell + 4); }
  // One poll runs 8 messages per thread: finishing needs 5 rounds over both threads.
  assert.equal(h.pollAll(), 80);
  assert.deepEqual([h.u32(cell), h.u32(cell, 1)], [40, 40]);
  assert.equal(h.pollAll(), 0, 'a quiet harness does no work');
});

test('pollAll names the threads still busy when its bound is hit', async () => {
  const h = await newHarness();
  const quiet = h.core.h_thread_create(1, -1, 64);
  const spinning = h.core.h_thread_create(2, -1, 64);
  const poller = h.scratch(32);               // the test poller's ctx: [1] = 1 reports busy on every run
  h.setU32(poller, 1, 1);
  h.core.h_send_register_poller(spinning, poller);
  h.core.h_send_incr(quiet, h.scratch(4));
  assert.throws(() => h.pollAll(20), (err: Error) => {
    assert.match(err.message, /after 20 rounds still busy: worker_b#\d+ \(1 units of work in the last round\)$/);
    assert.doesNotMatch(err.message, /worker_a/);
    return true;
  });
  h.setU32(poller, 0, 1);                      // the poller goes idle: now the harness settles
  assert.equal(h.pollAll(20), 0);
});

test('pollUntil names what it waited for; a destroyed thread is no longer polled', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  assert.throws(() => h.pollUntil('the cell to reach 1', () => false, 10),
    /pollUntil: the cell to reach 1 did not happen in 10 rounds \(every thread idle\)/);
  const cell = h.scratch(4);
  h.core.h_send_incr(t, cell);
  h.pollUntil('the increment', () => h.u32(cell) === 1, 10);
  const rc = h.scratch(4);
  h.core.h_send_exit(t, rc);
  h.pollAll();
  assert.equal(h.core.h_thread_destroy(t), 0);
  assert.equal(h.pollAll(), 0, 'the destroyed thread is not polled (polling freed memory would trap or report)');
  assert.deepEqual(h.messages('error'), []);
});
