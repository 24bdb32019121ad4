// The blob I/O freeze with real reactors: threads on both reactors write and verify one thin blob while
// the md thread (reactor 0) freezes it. The freeze must hold only once no I/O is in flight, no I/O may
// start while it holds, and every held I/O must run after the unfreeze, with the data intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEngine, sleep } from '../helpers/engine.js';
import type { BlobStore, BlobHandle } from '../../host/index.js';

test('a freeze on two reactors waits for I/O in flight, holds new I/O, and the held I/O completes after unfreeze', async () => {
  const t = await startTestEngine({ reactors: 2, memoryBytes: 256 << 20 });
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 16384 });
    const bs: BlobStore = await t.engine.blobstore.init('m0', { clusterSize: 64 << 10 });
    const id = await bs.create({ size: 32 << 20, thin: true });
    const blob: BlobHandle = await bs.open(id);
    const storePtr = (bs as unknown as { ptr: number }).ptr;
    const blobPtr = (blob as unknown as { ptr: number }).ptr;
    // 4 workers, 2 per reactor, each with one I/O at a time over its own 8 MiB region.
    for (let k = 0; k < 4; k++) assert.equal(t.core.t_blob_worker(storePtr, blobPtr, k % 2, k * 2048, 2048, 91 + k, k, 50), 0);
    await sleep(20);
    for (let round = 0; round < 5; round++) {
      assert.equal(t.core.t_blob_freeze(blobPtr, 100), 0);
      const [frozen] = await t.nextEvents(1, (e) => e.a === 100, 20_000);
      assert.equal(frozen.b, 0, 'the freeze held');
      assert.equal(frozen.c, 0, 'no I/O of the blob was in flight when it did');
      await sleep(30);
      assert.equal(t.core.hbs_blob_inflight(blobPtr), 0, 'none started while frozen');
      assert.ok(t.core.hbs_blob_queued(blobPtr) > 0, 'the workers\' next I/Os wait in the queue');
      assert.equal(t.core.t_blob_unfreeze(blobPtr, 101), 0);
      const [thawed] = await t.nextEvents(1, (e) => e.a === 101, 20_000);
      assert.ok(thawed.c > 0 && thawed.c <= 4, `the unfreeze restarted the held I/O (${thawed.c})`);
      await sleep(10);
    }
    const done = await t.nextEvents(4, (e) => e.a < 4, 120_000);
    for (const e of done) assert.equal(e.b, 0, `worker ${e.a}: ${e.b} errors`);
    assert.equal(t.core.hbs_blob_inflight(blobPtr), 0);
    await blob.close();
    await bs.unload();
  } finally {
    await t.engine.stop().catch(() => undefined);
  }
});
