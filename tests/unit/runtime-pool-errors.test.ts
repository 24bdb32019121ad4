// Pool misuse is fatal with a message naming the pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, expectFatal } from '../helpers/core.js';

test('putting a foreign pointer into a pool is fatal', async () => {
  const h = await newHarness();
  const pool = h.core.h_pool_create(32, 4, 2);
  const fatal = expectFatal(h, () => h.core.h_pool_put(pool, 16));
  assert.match(fatal.message, /pool test_pool: put of 16, which is not one of its objects/);
});

test('destroying a pool with objects still out reports the leak', async () => {
  const h = await newHarness();
  const pool = h.core.h_pool_create(32, 4, 2);
  h.core.h_pool_get(pool);
  const fatal = expectFatal(h, () => h.core.h_pool_destroy(pool));
  assert.match(fatal.message, /pool test_pool destroyed with 1 objects still in use/);
});
