// Blob I/O through channels on two reactors at once: the store's md thread is on reactor 0; threads on
// both reactors write and read back their own parts of one thin blob, so clusters are claimed from
// both and recorded on the md thread by message. The md thread also freezes the blob's I/O meanwhile
// (assembly/blob/freeze.ts): a freeze must hold only once no I/O is in flight, no I/O may start while
// it holds, and every held I/O must run after the unfreeze, with the data intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEngine, sleep } from '../helpers/engine.js';
import type { BlobStore, BlobHandle } from '../../host/index.js';

/** An engine on 2 reactors with one open 32 MiB thin blob (64 KiB clusters), and the core's pointers. */
async function thinBlobOnTwoReactors() {
  const t = await startTestEngine({ reactors: 2, memoryBytes: 256 << 20 });
  t.engine.bdev.createMalloc('m0', { blockCount: 16384 });
  const bs: BlobStore = await t.engine.blobstore.init('m0', { clusterSize: 64 << 10 });
  const blob: BlobHandle = await bs.open(await bs.create({ size: 32 << 20, thin: true }));
  const storePtr = (bs as unknown as { ptr: number }).ptr;
  const blobPtr = (blob as unknown as { ptr: number }).ptr;
  return { t, bs, blob, storePtr, blobPtr };
}

test('two reactors write and verify one thin blob concurrently', async () => {
  const { t, bs, blob, storePtr, blobPtr } = await thinBlobOnTwoReactors();
  try {
    const free0 = bs.freeClusters;
    // 4 workers, 2 per reactor, interleaved 1 MiB regions: 2048 units each, 8192 in all (32 MiB).
    for (let k = 0; k < 4; k++) assert.equal(t.core.t_blob_worker(storePtr, blobPtr, k % 2, k * 2048, 2048, 77 + k, k), 0);
    const done = await t.nextEvents(4, () => true, 60_000);
    for (const e of done) assert.equal(e.b, 0, `worker ${e.a}: ${e.b} errors`);
    assert.equal(free0 - bs.freeClusters, 512, 'every 64 KiB cluster of the 32 MiB was claimed exactly once');
    const sample = await blob.read(5 * 4096, 4096);
    assert.ok(sample.some((v) => v !== 0), 'data visible through the Node API too');
    await blob.close();
    await bs.unload();
  } finally {
    await t.engine.stop().catch(() => undefined);
  }
});

test('a freeze on two reactors waits for I/O in flight, holds new I/O, and the held I/O completes after unfreeze', async () => {
  const { t, bs, blob, storePtr, blobPtr } = await thinBlobOnTwoReactors();
  try {
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
