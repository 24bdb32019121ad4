// io_devices and io_channels by hand, and the for_each walks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, type Harness } from '../helpers/core.js';

// device block: [0] created, [1] destroyed, [2] unregister completions, [3] create fails, [4] ctx bytes
function device(h: Harness, ctxBytes = 16) {
  const dev = h.scratch(32);
  h.setU32(dev, ctxBytes, 4);
  return dev;
}
// channel op ctx: [0] device, [1] channel, [2] result
function op(h: Harness, dev: number) {
  const ctx = h.scratch(16);
  h.setU32(ctx, dev);
  return ctx;
}

test('one channel per thread per device, refcounted; destroyed by message after the last put', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const dev = device(h);
  assert.equal(h.core.h_device_register(dev), 0);
  assert.equal(h.core.h_device_register(dev), -17, 'registered twice');
  assert.match(h.messages('error').at(-1)!, /io_device test_device already registered/);
  const a = op(h, dev), b = op(h, dev);
  h.core.h_send_get_channel(t, a);
  h.core.h_send_get_channel(t, b);
  h.pollAll();
  assert.notEqual(h.u32(a, 1), 0);
  assert.equal(h.u32(a, 1), h.u32(b, 1), 'the same channel for the same thread');
  assert.equal(h.u32(a, 2), 0xc0ffee, 'the context buffer was filled by create');
  assert.equal(h.u32(dev), 1, 'created once');
  h.core.h_send_put_channel(t, a);
  h.pollAll();
  assert.equal(h.u32(dev, 1), 0, 'one reference left');
  h.core.h_send_put_channel(t, b);
  h.pollAll();
  assert.equal(h.u32(dev, 1), 1, 'destroyed after the last put');
});

test('put then get in the same message keeps the channel (deferred destroy)', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const dev = device(h);
  h.core.h_device_register(dev);
  const a = op(h, dev);
  h.core.h_send_get_channel(t, a);
  h.pollAll();
  const first = h.u32(a, 1);
  h.core.h_send_put_get_channel(t, a);
  h.pollAll();
  assert.equal(h.u32(a, 1), first, 'revived, not recreated');
  assert.equal(h.u32(dev), 1);
  assert.equal(h.u32(dev, 1), 0, 'the queued destroy found it referenced again');
});

test('a failing channel constructor gives no channel and no leak', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const dev = device(h);
  h.setU32(dev, 1, 3);
  h.core.h_device_register(dev);
  const a = op(h, dev);
  h.core.h_send_get_channel(t, a);
  h.pollAll();
  assert.equal(h.u32(a, 1), 0);
  assert.match(h.messages('error').at(-1)!, /could not create io_channel for io_device test_device on thread worker_a/);
  const u = op(h, dev);
  h.core.h_send_unregister_device(t, u);
  h.pollAll();
  assert.equal(h.i32(u, 2), 0);
  assert.equal(h.u32(dev, 2), 1, 'no channel counted: unregister completes at once');
});

test('unregister waits for the last channel, then completes on the calling thread', async () => {
  const h = await newHarness();
  const t1 = h.core.h_thread_create(1, -1, 64);
  const t2 = h.core.h_thread_create(2, -1, 64);
  const dev = device(h);
  h.core.h_device_register(dev);
  const c1 = op(h, dev), c2 = op(h, dev);
  h.core.h_send_get_channel(t1, c1);
  h.core.h_send_get_channel(t2, c2);
  h.pollAll(); h.pollAll();
  const u = op(h, dev);
  h.core.h_send_unregister_device(t1, u);
  h.pollAll();
  assert.equal(h.i32(u, 2), 0);
  assert.equal(h.u32(dev, 2), 0, 'channels remain: not yet done');
  const again = op(h, dev);
  h.core.h_send_get_channel(t1, again);
  h.pollAll();
  assert.equal(h.u32(again, 1), 0, 'no new channels while unregistering');
  h.core.h_send_unregister_device(t1, op(h, dev));
  h.pollAll();
  assert.match(h.messages('error').join('\n'), /io_device test_device already has a pending unregister/);
  h.core.h_send_put_channel(t1, c1);
  h.core.h_send_put_channel(t2, c2);
  h.pollAll();
  h.pollAll();
  assert.equal(h.u32(dev, 2), 1, 'completed once');
  assert.equal(h.u32(dev, 1), 2);
});

test('unregistering an unknown device is -ENOENT', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const u = op(h, h.scratch(32));
  h.core.h_send_unregister_device(t, u);
  h.pollAll();
  assert.equal(h.i32(u, 2), -2);
});

// walk ctx: [0] visits, [1] done count, [2] status, [3] device (| 0x80000000 = stop after first), [4..] thread ids
test('for_each_thread visits every thread once, in creation order, then completes on the caller', async () => {
  const h = await newHarness();
  const threads = [0, 1, 2].map((i) => h.core.h_thread_create(i, -1, 64));
  const ctx = h.scratch(64);
  h.core.h_send_for_each_thread(threads[1], ctx);
  h.pollAll();
  assert.equal(h.u32(ctx), 3);
  assert.equal(h.u32(ctx, 1), 1, 'done once');
  assert.deepEqual([h.u32(ctx, 4), h.u32(ctx, 5), h.u32(ctx, 6)], threads.map((t) => h.core.h_thread_id(t)));
});

test('for_each_channel visits only threads with a channel; a non-zero status ends the walk', async () => {
  const h = await newHarness();
  const threads = [0, 1, 2].map((i) => h.core.h_thread_create(i, -1, 64));
  const dev = device(h);
  h.core.h_device_register(dev);
  for (const t of [threads[0], threads[2]]) { h.core.h_send_get_channel(t, op(h, dev)); h.pollAll(); }
  const ctx = h.scratch(64);
  h.setU32(ctx, dev, 3);
  h.core.h_send_for_each_channel(threads[1], ctx);
  h.pollAll();
  assert.equal(h.u32(ctx), 2);
  assert.deepEqual([h.u32(ctx, 4), h.u32(ctx, 5)], [threads[0], threads[2]].map((t) => h.core.h_thread_id(t)));
  assert.equal(h.u32(ctx, 1), 1);
  assert.equal(h.i32(ctx, 2), 0);

  const stop = h.scratch(64);
  h.setU32(stop, (dev | 0x80000000) >>> 0, 3);
  h.core.h_send_for_each_channel(threads[1], stop);
  h.pollAll();
  assert.equal(h.u32(stop), 1, 'stopped after the first visit');
  assert.equal(h.i32(stop, 2), -125, 'the status reaches the completion');
  assert.equal(h.u32(stop, 1), 1);
});

test('a device with a for_each_channel outstanding cannot be unregistered', async () => {
  const h = await newHarness();
  const t = h.core.h_thread_create(1, -1, 64);
  const dev = device(h);
  h.core.h_device_register(dev);
  h.core.h_send_get_channel(t, op(h, dev));
  h.pollAll();
  const walk = h.scratch(64);
  h.setU32(walk, dev, 3);
  h.core.h_send_for_each_channel(t, walk);
  const u = op(h, dev);
  h.core.h_send_unregister_device(t, u);
  h.core.h_poll(t, 1);      // starts the walk only
  h.core.h_poll(t, 1);      // the unregister, while the walk is outstanding
  assert.equal(h.i32(u, 2), -16);
  assert.match(h.messages('error').at(-1)!, /io_device test_device has 1 for_each calls outstanding/);
  h.pollAll();
  assert.equal(h.u32(walk, 1), 1);
});

test('a thread that unregistered a device waits for the unregister before it exits; the callback runs there', async () => {
  const h = await newHarness();
  const EXITING = 1, EXITED = 2;
  const t1 = h.core.h_thread_create(1, -1, 64);
  const t2 = h.core.h_thread_create(2, -1, 64);
  const dev = device(h);
  h.core.h_device_register(dev);
  const c2 = op(h, dev);
  h.core.h_send_get_channel(t2, c2);
  h.pollAll();
  h.core.h_send_unregister_device(t1, op(h, dev));
  const exit = h.scratch(4);
  h.core.h_send_exit(t1, exit);
  h.pollAll(); h.pollAll();
  assert.equal(h.i32(exit), 0);
  assert.equal(h.core.h_thread_state(t1), EXITING, 'the unregister is not done: the thread waits (a send to it would trap once exited)');
  h.core.h_send_put_channel(t2, c2);
  h.pollAll(); h.pollAll(); h.pollAll();
  assert.equal(h.u32(dev, 2), 1, 'the unregister completed, on the exiting thread');
  assert.equal(h.core.h_thread_state(t1), EXITED);
  assert.deepEqual(h.messages('error'), []);
});
