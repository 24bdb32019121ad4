// The shared-memory heap, single instance: sizes, alignment, reuse, zeroing, large blocks, misuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, expectFatal } from '../helpers/core.js';

test('blocks are 16-byte aligned, at least the size asked, and reused after free', async () => {
  const h = await newHarness();
  const base = h.core.h_live_blocks();
  const sizes = [0, 1, 15, 16, 17, 100, 128, 129, 255, 256, 1000, 4096, 8192];
  const ptrs = sizes.map((s) => h.core.h_alloc(s));
  ptrs.forEach((p, i) => {
    assert.notEqual(p, 0);
    assert.equal(p % 16, 0, `size ${sizes[i]} not aligned`);
    assert.ok(h.core.h_block_bytes(p) >= sizes[i], `size ${sizes[i]} got ${h.core.h_block_bytes(p)}`);
  });
  assert.equal(new Set(ptrs).size, ptrs.length, 'two live blocks share an address');
  assert.equal(h.core.h_live_blocks(), base + sizes.length);
  const p = ptrs[5];
  h.core.h_free(p);
  assert.equal(h.core.h_alloc(100), p, 'a freed block of the same class is reused first');
  ptrs.forEach((q) => h.core.h_free(q));
  assert.equal(h.core.h_live_blocks(), base);
});

test('blocks never overlap under random allocation and free (tagged, verified)', async () => {
  const h = await newHarness();
  const live = new Map<number, { size: number; tag: number }>();
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  const bytes = () => new Uint8Array(h.memory.buffer);
  for (let i = 0; i < 20000; i++) {
    if (live.size > 0 && rand() % 3 === 0) {
      const [ptr, { size, tag }] = [...live.entries()][rand() % live.size];
      const b = bytes();
      for (let j = 0; j < size; j++) assert.equal(b[ptr + j], tag, `block ${ptr} corrupted at ${j}`);
      h.core.h_free(ptr);
      live.delete(ptr);
    } else {
      const size = rand() % 12 === 0 ? 9000 + (rand() % 70000) : 1 + (rand() % 600);
      const ptr = h.core.h_alloc(size);
      assert.notEqual(ptr, 0);
      const tag = (i % 251) + 1;
      bytes().fill(tag, ptr, ptr + size);
      live.set(ptr, { size, tag });
    }
  }
  for (const ptr of live.keys()) h.core.h_free(ptr);
});

test('large blocks come from page runs and are returned to the page allocator', async () => {
  const h = await newHarness();
  const before = h.core.h_pages_in_use();
  const p = h.core.h_alloc(200_000);
  assert.notEqual(p, 0);
  assert.ok(h.core.h_pages_in_use() >= before + 4);
  h.core.h_free(p);
  assert.equal(h.core.h_pages_in_use(), before);
  assert.equal(h.core.h_alloc(200_000), p, 'the freed run is found again (first fit)');
});

test('__new returns zeroed memory even for a reused block', async () => {
  const h = await newHarness();
  for (let i = 0; i < 5; i++) assert.equal(h.core.h_new_array_sum(64), 0);
});

test('exhausting the memory returns 0 (no trap) from the heap', async () => {
  const h = await newHarness();
  // The harness memory's maximum is 256 MiB: a 1 GiB request cannot be met.
  assert.equal(h.core.h_alloc(1 << 30), 0);
  assert.notEqual(h.core.h_alloc(64), 0, 'the heap still works afterwards');
});

test('double free is a fatal error naming the block', async () => {
  const h = await newHarness();
  const p = h.core.h_alloc(64);
  h.core.h_free(p);
  const fatal = expectFatal(h, () => h.core.h_free(p));
  assert.match(fatal.message, /double free/);
  assert.match(fatal.message, new RegExp(String(p)));
});

test('freeing a pointer that is not a heap block is a fatal error', async () => {
  const h = await newHarness();
  const fatal = expectFatal(h, () => h.core.h_free(12345));
  assert.match(fatal.message, /not a heap block/);
});
