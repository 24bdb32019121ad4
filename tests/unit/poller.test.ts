// Pollers by hand, with the harness clock: period 0 runs every poll, timed ones when due.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness } from '../helpers/core.js';

// poller ctx: [0] runs, [1] busy flag, [2] poller ptr, [3] unregister-self, [4..5] period (u64), [6] name index
function pollerCtx(h: Awaited<ReturnType<typeof newHarness>>, periodUs: number, busy: boolean) {
  const ctx = h.scratch(32);
  h.setU32(ctx, busy ? 1 : 0, 1);
  h.setU32(ctx, periodUs, 4);
  h.setU32(ctx, periodUs === 0 ? 0 : 1, 6);
  return ctx;
}

test('a period-0 poller runs on every poll; busy/idle is reported as work', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const idle = pollerCtx(h, 0, false);
  const busy = pollerCtx(h, 0, true);
  h.core.h_send_register_poller(t, idle);
  h.core.h_send_register_poller(t, busy);
  h.core.h_poll(t, 0);                       // runs the two registrations (and the new pollers)
  const runsBefore = h.u32(idle);
  assert.equal(h.core.h_poll(t, 0), 1, 'one busy poller = 1 unit of work');
  assert.equal(h.u32(idle), runsBefore + 1);
  h.setU32(busy, 0, 1);
  assert.equal(h.core.h_poll(t, 0), 0, 'all idle');
});

test('a timed poller runs only when its period has passed, once per poll', async () => {
  const h = await newHarness({ clockUs: 1_000_000 });
  const t = h.core.h_thread_create(1, -1, 64);
  const timed = pollerCtx(h, 500, true);
  h.core.h_send_register_poller(t, timed);
  h.core.h_poll(t, 0);
  assert.equal(h.u32(timed), 0, 'not due at registration');
  h.core.h_clock_set(1_000_499);
  h.core.h_poll(t, 0);
  assert.equal(h.u32(timed), 0, 'not due 1 us early');
  h.core.h_clock_set(1_000_500);
  assert.equal(h.core.h_poll(t, 0), 1);
  assert.equal(h.u32(timed), 1);
  h.core.h_poll(t, 0);
  assert.equal(h.u32(timed), 1, 'rescheduled one period later');
  h.core.h_clock_set(1_010_000);
  h.core.h_poll(t, 0);
  assert.equal(h.u32(timed), 2, 'a long gap runs it once, not once per missed period');
});

test('timed pollers run in deadline order and can be unregistered', async () => {
  const h = await newHarness({ clockUs: 0 });
  const t = h.core.h_thread_create(1, -1, 64);
  const slow = pollerCtx(h, 300, false);
  const fast = pollerCtx(h, 100, false);
  h.core.h_send_register_poller(t, slow);
  h.core.h_send_register_poller(t, fast);
  h.core.h_poll(t, 0);
  for (let now = 100; now <= 600; now += 100) { h.core.h_clock_set(now); h.core.h_poll(t, 0); }
  assert.equal(h.u32(fast), 6);
  assert.equal(h.u32(slow), 2);
  h.core.h_send_unregister_poller(t, fast);
  h.core.h_poll(t, 0);
  h.core.h_clock_set(2000);
  h.core.h_poll(t, 0);
  assert.equal(h.u32(fast), 6, 'unregistered: never runs again');
  assert.equal(h.u32(slow), 3);
});

test('a poller may unregister itself while running', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const p = pollerCtx(h, 0, true);
  const other = pollerCtx(h, 0, false);
  h.core.h_send_register_poller(t, p);
  h.core.h_send_register_poller(t, other);
  h.core.h_poll(t, 0);
  h.setU32(p, 1, 3);
  h.core.h_poll(t, 0);
  const runs = h.u32(p);
  const otherRuns = h.u32(other);
  h.core.h_poll(t, 0);
  h.core.h_poll(t, 0);
  assert.equal(h.u32(p), runs, 'gone after unregistering itself');
  assert.equal(h.u32(other), otherRuns + 2, 'the next poller in the list still runs');
});

test('an unregistered timed poller is freed at the next poll, not at its own far deadline', async () => {
  // A controller's keep-alive timer runs every KATO/4: a host that connects with a KATO of days and
  // drops the connection, in a loop, must not leave a block per connection until each deadline.
  const h = await newHarness({ clockUs: 0 });
  const t = h.core.h_thread_create(1, -1, 64);
  const near = pollerCtx(h, 100, false);
  h.core.h_send_register_poller(t, near);
  h.core.h_poll(t, 0);
  const far = pollerCtx(h, 4_000_000_000, false);
  const live = h.core.heap_live_blocks();
  h.core.h_send_register_poller(t, far);
  h.core.h_poll(t, 0);
  assert.equal(h.core.heap_live_blocks(), live + 1, 'the far poller holds one block');
  h.core.h_send_unregister_poller(t, far);
  h.core.h_poll(t, 0);
  h.core.h_clock_set(200);
  h.core.h_poll(t, 0);
  assert.equal(h.core.heap_live_blocks(), live, 'freed at the next poll');
  assert.equal(h.u32(far), 0, 'it never ran');
  assert.ok(h.u32(near) >= 1, 'the live poller still runs');
});
