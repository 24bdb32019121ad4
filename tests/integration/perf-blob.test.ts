// wstor perf's jobs on a blob (perf_start_blob): the same job code that measures a bdev, going
// through blob I/O on every reactor. Verify runs prove the data path, including the paths a plain
// read or write leaves its short path for: more I/O in flight than a channel has bdev_ios (they
// wait for one), and a thin blob's first writes (each claims a cluster).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTestEngine, type TestEngine } from '../helpers/engine.js';
import type { BlobHandle, BlobStore } from '../../host/index.js';
import { runPerf } from '../helpers/perf-run.js';

const EINVAL = -22;
const CLUSTER = 64 << 10;

/**
 * A store on a 16 MiB malloc bdev whose clusters but `free` are taken by an open thick blob (the
 * filler), and an open 1 MiB thin blob on it, on one reactor.
 */
async function withThinOnFullStore(free: number, body: (thin: BlobHandle, bs: BlobStore, filler: BlobHandle, t: TestEngine) => Promise<void>) {
  await withTestEngine(async (t) => {
    t.engine.bdev.createMalloc('m0', { blockCount: 4096 });
    const bs = await t.engine.blobstore.init('m0', { clusterSize: CLUSTER });
    const filler = await bs.open(await bs.create({ size: (bs.freeClusters - free) * CLUSTER }));
    assert.equal(bs.freeClusters, free);
    const thin = await bs.open(await bs.create({ size: 1 << 20, thin: true }));
    await body(thin, bs, filler, t);
    await thin.close();
    await filler.close();
    await bs.unload();
  }, { reactors: 1, memoryBytes: 128 << 20 });
}

test('perf on a blob: verify on 2 reactors, thick and thin, 600 in flight per job against a pool of 512', async () => {
  await withTestEngine(async (t) => {
    t.engine.bdev.createMalloc('m0', { blockCount: 16384 });           // 64 MiB
    const bs = await t.engine.blobstore.init('m0', { clusterSize: CLUSTER });
    for (const thin of [false, true]) {
      const blob = await bs.open(await bs.create({ size: 16 << 20, thin }));
      const totals = await runPerf(t.engine, blob, { workload: 'verify', queueDepth: 600, seconds: 1 });
      assert.ok(totals.ios > 10_000, `${thin ? 'thin' : 'thick'}: ${totals.ios} I/Os`);
      assert.equal(totals.errors, 0, `${thin ? 'thin' : 'thick'}: errors`);
      assert.equal(totals.mismatches, 0, `${thin ? 'thin' : 'thick'}: mismatches`);
      if (thin) assert.ok((await bs.list()).find((b) => b.id === blob.id)!.allocatedBytes > 0, 'first writes claimed clusters');
      await blob.close();
    }
    await bs.unload();
  }, { reactors: 2, memoryBytes: 256 << 20 });
});

test('perf on a blob refuses what it cannot run: an I/O size off the io unit, a queue the blob cannot hold', async () => {
  await withTestEngine(async (t) => {
    t.engine.bdev.createMalloc('m0', { blockCount: 4096 });
    const bs = await t.engine.blobstore.init('m0', { clusterSize: CLUSTER });
    const blob = await bs.open(await bs.create({ size: 1 << 20 }));
    const core = t.engine.core as unknown as Record<string, (...a: number[]) => number>;
    const ptr = (blob as unknown as { ptr: number }).ptr;
    assert.equal(core.perf_start_blob(ptr, 1, 0, 0, 8, 1000, 100, 1), EINVAL, '1000 bytes is not a whole number of 4 KiB units');
    assert.equal(core.perf_start_blob(ptr, 1, 0, 0, 512, 4096, 100, 1), EINVAL, '256 units cannot hold 512 in flight');
    await blob.close();
    await bs.unload();
  }, { reactors: 1, memoryBytes: 128 << 20 });
});

test('a blob I/O that fails inside blobIo() calls back later, not from inside the call: a job whose every write fails runs its time out', async () => {
  await withThinOnFullStore(0, async (thin, _bs, filler, t) => {
    // Each write claims a cluster, finds none (ENOSPC) inside the call, and the job starts the next
    // from its callback: called back from inside the call, that recursed until the reactor trapped.
    const totals = await runPerf(t.engine, thin, { workload: 'randwrite', queueDepth: 8, seconds: 1 });
    assert.ok(totals.errors > 1000 && totals.errors === totals.ios, `${totals.errors} errors of ${totals.ios}`);
    const data = new Uint8Array(4096).fill(3);
    await filler.write(0, data);                                      // the reactor is alive and well
    assert.deepEqual(await filler.read(0, 4096), data);
  });
});

test('first writes into one cluster from one thread claim one cluster: 16 at once fit in the last free cluster', async () => {
  await withThinOnFullStore(1, async (thin, bs) => {
    const block = (i: number) => new Uint8Array(4096).fill(i + 1);
    // One reactor: the Node API's writes all run on its one I/O thread. Each claimed a cluster of its
    // own before (15 of them failed with ENOSPC); now they wait for the first one's.
    await Promise.all(Array.from({ length: 16 }, (_, i) => thin.write(i * 4096, block(i))));
    assert.equal(bs.freeClusters, 0);
    for (let i = 0; i < 16; i++) assert.deepEqual(await thin.read(i * 4096, 4096), block(i), `block ${i}`);
  });
});

/**
 * Perf verify on 2 reactors over an 8 MiB thick blob (64 KiB clusters, 128 MiB bdev) for 3 s, while
 * `change(blob, bs, running)` works on its md until running() is false; it is called once the jobs have
 * started (they keep to the blob's first 8 MiB) and returns how many changes it made (at least `least`).
 * Then: no error, no mismatch, and the blob's 128 clusters are all that is used (none leaked).
 */
async function verifyWhileMdChanges(least: number, change: (blob: BlobHandle, bs: BlobStore, running: () => boolean) => Promise<number>) {
  await withTestEngine(async (t) => {
    t.engine.bdev.createMalloc('m0', { blockCount: 32768 });
    const bs = await t.engine.blobstore.init('m0', { clusterSize: CLUSTER });
    const free = bs.freeClusters;
    const blob = await bs.open(await bs.create({ size: 8 << 20 }));
    let stop = false;
    const perf = runPerf(t.engine, blob, { workload: 'verify', queueDepth: 64, seconds: 3 });   // started before its first await
    const changes = change(blob, bs, () => !stop);
    const totals = await perf;
    stop = true;
    const n = await changes;
    assert.ok(n >= least, `${n} metadata changes during the run`);
    assert.ok(totals.ios > 10_000, `${totals.ios} I/Os`);
    assert.equal(totals.errors, 0);
    assert.equal(totals.mismatches, 0);
    assert.equal(free - bs.freeClusters, 128, 'the blob\'s 128 clusters are all that is used: none leaked');
    await blob.close();
    await bs.unload();
  }, { reactors: 2, memoryBytes: 512 << 20 });
}

test('stress: perf verify on 2 reactors keeps its data, and no cluster leaks, while the md thread snapshots the blob, deletes the last snapshot, inflates and decouples', async () => {
  // Each snapshot freezes the blob and moves its clusters to the snapshot: the jobs' next writes into
  // them copy up; each delete merges the snapshot back into the blob while its I/O is frozen. Before
  // the origin was frozen across a snapshot, writes in flight were lost (~700 mismatches per job) and
  // the clusters they had claimed leaked.
  await verifyWhileMdChanges(10, async (blob, bs, running) => {
    let previous: bigint | null = null;
    let round = 0;
    for (; running(); round++) {
      const snap = await blob.snapshot();
      if (previous !== null) await bs.delete(previous);
      previous = snap;
      if (round % 4 === 3) { await blob.decouple(); await bs.delete(previous); previous = null; }
      if (round % 8 === 7) await blob.inflate();
    }
    if (previous !== null) { await blob.inflate(); await bs.delete(previous); }
    return round;
  });
});

test('stress: perf verify on 2 reactors keeps its data while the md thread grows and shrinks the blob past the jobs\' range', async () => {
  // Growing moves the cluster map the jobs' I/O reads on both reactors; shrinking frees the clusters
  // past 8 MiB.
  await verifyWhileMdChanges(20, async (blob, _bs, running) => {
    let resizes = 0;
    for (let round = 0; running(); round++) {
      await blob.resize((9 + (round % 24)) << 20);
      await blob.resize(8 << 20);
      resizes += 2;
    }
    return resizes;
  });
});
