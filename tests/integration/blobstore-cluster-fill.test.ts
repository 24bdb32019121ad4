// A write that covers a whole unallocated cluster fills the claimed cluster with its own data: no
// zeroes first (thin) and no copy of the ancestor's cluster (clones), and still the cluster joins the
// blob only once it holds that data. Racing writers of the same cluster leave one whole winner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../host/index.js';

const MiB = 1 << 20;
const CLUSTER = 256 << 10;

const fill = (bytes: number, seed: number) => new Uint8Array(bytes).map((_, i) => (i * 13 + seed * 101 + (i >> 9)) & 0xff);

async function withStore(fn: (engine: Engine, bs: Awaited<ReturnType<Engine['blobstore']['init']>>) => Promise<void>): Promise<void> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 * MiB, logLevel: 'error' });
  try {
    engine.bdev.createMalloc('m0', { blockSize: 4096, blockCount: (32 * MiB) / 4096 });
    const bs = await engine.blobstore.init('m0', { clusterSize: CLUSTER });
    await fn(engine, bs);
    await bs.unload();
  } finally {
    await engine.stop();
  }
}

const ops = (engine: Engine) => engine.bdev.stats('m0').ops;

test('a whole-cluster write into a thin blob writes the cluster once, with no zeroes first', async () => {
  await withStore(async (engine, bs) => {
    const blob = await bs.open(await bs.create({ size: 4 * CLUSTER, thin: true }));
    const before = ops(engine);
    const data = fill(CLUSTER, 1);
    await blob.write(CLUSTER, data);
    const after = ops(engine);
    assert.equal(after.write_zeroes - before.write_zeroes, 0, 'no zeroing of the claimed cluster');
    assert.equal(after.write - before.write, 1, 'one data write');
    assert.deepEqual(await blob.read(CLUSTER, CLUSTER), data);
    assert.equal(blob.allocatedBytes, CLUSTER);

    // A partial write still zeroes the rest of its new cluster first.
    const z0 = ops(engine).write_zeroes;
    await blob.write(2 * CLUSTER + 4096, fill(4096, 2));
    assert.equal(ops(engine).write_zeroes - z0, 1);
    const back = await blob.read(2 * CLUSTER, CLUSTER);
    assert.deepEqual(back.subarray(0, 4096), new Uint8Array(4096));
    assert.deepEqual(back.subarray(4096, 8192), fill(4096, 2));

    // A write of two and a half clusters: the two whole ones fill directly, the tail zeroes.
    const z1 = ops(engine).write_zeroes;
    const wide = fill(CLUSTER + CLUSTER / 2, 3);
    await blob.write(0, wide.subarray(0, CLUSTER));
    await blob.write(3 * CLUSTER, wide.subarray(CLUSTER, CLUSTER + CLUSTER / 2 - (CLUSTER / 2 % 4096)));
    assert.equal(ops(engine).write_zeroes - z1, 1);
    await blob.close();
  });
});

test('a whole-cluster write into a clone does not copy the snapshot\'s cluster; a partial one does', async () => {
  await withStore(async (engine, bs) => {
    const origin = await bs.open(await bs.create({ size: 2 * CLUSTER }));
    await origin.write(0, fill(2 * CLUSTER, 4));
    const snap = await origin.snapshot();
    await origin.close();
    const clone = await bs.open(await bs.clone(snap));
    const r0 = ops(engine).read;
    const data = fill(CLUSTER, 5);
    await clone.write(0, data);
    assert.equal(ops(engine).read - r0, 0, 'the snapshot\'s cluster was not read');
    assert.deepEqual(await clone.read(0, CLUSTER), data);
    const r1 = ops(engine).read;
    await clone.write(CLUSTER + 8192, fill(4096, 6));
    assert.equal(ops(engine).read - r1, 1, 'a partial write copies the rest from the snapshot');
    const expect = fill(2 * CLUSTER, 4).subarray(CLUSTER);
    expect.set(fill(4096, 6), 8192);
    assert.deepEqual(await clone.read(CLUSTER, CLUSTER), expect);
    await clone.close();
  });
});

test('whole-cluster writes racing for the same cluster from two reactors: one whole winner, no leaked cluster', async () => {
  await withStore(async (engine, bs) => {
    const clusters = 48;
    const blob = await bs.open(await bs.create({ size: clusters * CLUSTER, thin: true }));
    const free0 = bs.freeClusters;
    const a = fill(CLUSTER, 7), b = fill(CLUSTER, 8);
    for (let c = 0; c < clusters; c++) {
      // Consecutive I/Os go to the two reactors' I/O threads in turn: the two writes race.
      await Promise.all([blob.write(c * CLUSTER, a), blob.write(c * CLUSTER, b)]);
    }
    for (let c = 0; c < clusters; c++) {
      const got = await blob.read(c * CLUSTER, CLUSTER);
      assert.ok(Buffer.from(got).equals(a) || Buffer.from(got).equals(b), `cluster ${c} holds one writer's data whole`);
    }
    assert.equal(blob.allocatedBytes, clusters * CLUSTER);
    assert.equal(free0 - bs.freeClusters, clusters, 'each cluster claimed once; a lost claim went back');
    assert.ok(engine.blobstore.ioPerReactor.every((n) => n > 0), 'both reactors wrote');
    await blob.close();
  });
});
