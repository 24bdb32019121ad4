// Blob I/O through channels on two reactors at once: the store's md thread is on reactor 0; threads on
// both reactors write and read back their own parts of one thin blob, so clusters are claimed from
// both and recorded on the md thread by message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEngine } from '../helpers/engine.js';
import type { BlobStore, BlobHandle } from '../../host/index.js';

test('two reactors write and verify one thin blob concurrently', async () => {
  const t = await startTestEngine({ reactors: 2, memoryBytes: 256 << 20 });
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 16384 });
    const bs: BlobStore = await t.engine.blobstore.init('m0', { clusterSize: 64 << 10 });
    const id = await bs.create({ size: 32 << 20, thin: true });
    const blob: BlobHandle = await bs.open(id);
    const storePtr = (bs as unknown as { ptr: number }).ptr;
    const blobPtr = (blob as unknown as { ptr: number }).ptr;
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
