// The limit on reports a guest can cause (assembly/vhost/loglimit.ts), with the times given by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness } from '../helpers/core.js';

const PER_WINDOW = 10, WINDOW_US = 1_000_000;

test('at most ten reports a second per limit; the next one let through says how many were left out', async () => {
  const h = await newHarness();
  const noisy = h.core.hv_loglimit_new(), quiet = h.core.hv_loglimit_new();
  const start = 5 * WINDOW_US;
  const taken = Array.from({ length: 25 }, (_, i) => h.core.hv_loglimit_take(noisy, start + i));
  assert.deepEqual(taken.slice(0, PER_WINDOW), new Array(PER_WINDOW).fill(0), 'the first ten go out, none left out before them');
  assert.deepEqual(taken.slice(PER_WINDOW), new Array(15).fill(-1), 'the rest of that second is left out');
  assert.equal(h.core.hv_loglimit_take(quiet, start + 30), 0, 'another controller\'s limit is its own');
  assert.equal(h.core.hv_loglimit_take(noisy, start + WINDOW_US - 1), -1, 'still the same second');
  assert.equal(h.core.hv_loglimit_take(noisy, start + WINDOW_US), 16, 'the next second: one goes out, naming the 16 left out');
  assert.equal(h.core.hv_loglimit_take(noisy, start + WINDOW_US + 1), 0, 'and the count starts again');
  assert.equal(h.core.hv_loglimit_take(noisy, start + 10 * WINDOW_US), 0, 'after a quiet spell nothing was left out');
});
