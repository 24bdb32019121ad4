// MPSC ring, SPSC ring and object pool, single instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness } from '../helpers/core.js';

const ENOMEM = -12;
const EINVAL = -22;

test('MPSC ring: FIFO, full is -ENOMEM (never an overwrite), wraps many laps', async () => {
  const h = await newHarness();
  const ring = h.core.h_ring_create(8);
  for (let i = 0; i < 8; i++) assert.equal(h.core.h_ring_enqueue(ring, i, i * 10), 0);
  assert.equal(h.core.h_ring_enqueue(ring, 99, 99), ENOMEM, 'a full ring refuses');
  assert.equal(h.core.h_ring_count(ring), 8);
  for (let i = 0; i < 8; i++) {
    assert.equal(h.core.h_ring_dequeue(ring), 1);
    assert.equal(h.core.h_ring_out_a(), i, 'the oldest entry survived the refused enqueue');
    assert.equal(h.core.h_ring_out_b(), i * 10);
  }
  assert.equal(h.core.h_ring_dequeue(ring), 0, 'empty');
  for (let lap = 0; lap < 1000; lap++) {
    assert.equal(h.core.h_ring_enqueue(ring, lap, 0), 0);
    assert.equal(h.core.h_ring_dequeue(ring), 1);
    assert.equal(h.core.h_ring_out_a(), lap);
  }
  h.core.h_ring_destroy(ring);
});

test('MPSC ring batch enqueue: all or none, in order', async () => {
  const h = await newHarness();
  const ring = h.core.h_ring_create(8);
  const values = h.scratch(4 * 8);
  for (let i = 0; i < 8; i++) h.setU32(values, 100 + i, i);
  assert.equal(h.core.h_ring_enqueue(ring, 1, 1), 0);
  assert.equal(h.core.h_ring_enqueue_batch(ring, 7, values, 8), ENOMEM, '8 do not fit behind 1');
  assert.equal(h.core.h_ring_count(ring), 1, 'nothing of a refused batch was enqueued');
  assert.equal(h.core.h_ring_enqueue_batch(ring, 7, values, 7), 0);
  assert.equal(h.core.h_ring_enqueue_batch(ring, 7, values, 9), EINVAL, 'more than the capacity');
  assert.equal(h.core.h_ring_dequeue(ring), 1);
  for (let i = 0; i < 7; i++) {
    assert.equal(h.core.h_ring_dequeue(ring), 1);
    assert.equal(h.core.h_ring_out_a(), 7);
    assert.equal(h.core.h_ring_out_b(), 100 + i);
  }
  assert.equal(h.core.h_ring_dequeue(ring), 0);
});

test('SPSC ring: FIFO, refuses when full', async () => {
  const h = await newHarness();
  const ring = h.core.h_spsc_create(4);
  for (let i = 0; i < 4; i++) assert.equal(h.core.h_spsc_enqueue(ring, i, i), 1);
  assert.equal(h.core.h_spsc_enqueue(ring, 9, 9), 0);
  for (let i = 0; i < 4; i++) {
    assert.equal(h.core.h_spsc_dequeue(ring), 1);
    assert.equal(h.core.h_spsc_out_a(), i);
  }
  assert.equal(h.core.h_spsc_dequeue(ring), 0);
});

test('pool: every object handed out once, empty returns 0, cache spills and refills', async () => {
  const h = await newHarness();
  const pool = h.core.h_pool_create(40, 100, 16);
  const got = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const obj = h.core.h_pool_get(pool);
    assert.notEqual(obj, 0, `object ${i}`);
    assert.equal(obj % 16, 0);
    assert.ok(!got.has(obj), 'an object was handed out twice');
    got.add(obj);
  }
  assert.equal(h.core.h_pool_get(pool), 0, 'an empty pool returns 0');
  for (const obj of got) h.core.h_pool_put(pool, obj);
  assert.ok(h.core.h_pool_cached_here(pool) <= 16, 'the cache is bounded');
  assert.equal(h.core.h_pool_shared_free(pool) + h.core.h_pool_cached_here(pool), 100);
  h.core.h_pool_flush(pool);
  assert.equal(h.core.h_pool_shared_free(pool), 100);
  h.core.h_pool_destroy(pool);
});

test('pool without a cache works the same', async () => {
  const h = await newHarness();
  const pool = h.core.h_pool_create(8, 3, 0);
  const a = [h.core.h_pool_get(pool), h.core.h_pool_get(pool), h.core.h_pool_get(pool)];
  assert.equal(h.core.h_pool_get(pool), 0);
  a.forEach((o) => h.core.h_pool_put(pool, o));
  assert.equal(h.core.h_pool_shared_free(pool), 3);
});
