// Deleting the bdev under an lvstore, from a raw RPC client (SPDK's hot remove of an lvstore's base): the
// delete answers, the lvol bdevs are gone, the store was unloaded cleanly, and the base bdev made again
// over the same file brings the lvstore back, clean, with its data. With no lvols, with lvols, and with an
// lvol kept open by a user of the Node API that never closes it (a blobstore on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTarget, type TestTarget } from '../helpers/target.js';
import type { RawClient } from '../helpers/rpc.js';

const MiB = 1 << 20;
interface Answer { result?: unknown; error?: { code: number; message: string } }

async function ok(raw: RawClient, method: string, params: unknown): Promise<unknown> {
  const a = (await raw.call(method, params)) as Answer;
  assert.equal(a.error, undefined, `${method}: ${JSON.stringify(a.error)}`);
  return a.result;
}

/** A target with file bdev "disk" carrying lvstore "vg" (1 MiB clusters) and `lvols` 4 MiB lvols. */
async function setUp(lvols: number): Promise<{ t: TestTarget; raw: RawClient; file: string; uuids: string[] }> {
  const t = await startTarget({ engine: { reactors: 2, memoryBytes: 256 << 20 } });
  const file = path.join(t.dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 64 * MiB);
  const raw = await t.connect();
  await ok(raw, 'bdev_aio_create', { name: 'disk', filename: file });
  await ok(raw, 'bdev_lvol_create_lvstore', { bdev_name: 'disk', lvs_name: 'vg', cluster_sz: MiB });
  const uuids: string[] = [];
  for (let i = 0; i < lvols; i++) uuids.push((await ok(raw, 'bdev_lvol_create', { lvs_name: 'vg', lvol_name: `v${i}`, size_in_mib: 4 })) as string);
  return { t, raw, file, uuids };
}

/** Delete the base and check it answers, then what is left; then make it again and check the store came back clean. */
async function deleteAndReturn(t: TestTarget, raw: RawClient, file: string, lvols: string[]): Promise<void> {
  const started = Date.now();
  assert.equal((await raw.call('bdev_aio_delete', { name: 'disk' }, 'del') as Answer).result, true);
  assert.ok(Date.now() - started < 5000, 'the delete answered promptly');
  assert.deepEqual(await ok(raw, 'bdev_lvol_get_lvstores', {}), []);
  assert.deepEqual(await ok(raw, 'bdev_get_bdevs', {}), [], 'the lvol bdevs are gone with it');
  const logged = t.logs.length;
  await ok(raw, 'bdev_aio_create', { name: 'disk', filename: file });
  await ok(raw, 'bdev_wait_for_examine', {});
  const stores = (await ok(raw, 'bdev_lvol_get_lvstores', {})) as { name: string }[];
  assert.deepEqual(stores.map((s) => s.name), ['vg'], 'the lvstore is found again');
  const back = ((await ok(raw, 'bdev_lvol_get_lvols', {})) as { uuid: string }[]).map((l) => l.uuid).sort();
  assert.deepEqual(back, [...lvols].sort(), 'with its lvols');
  const since = t.logs.slice(logged).map((l) => l.message);
  assert.ok(!since.some((m) => /bdev disk: blobstore was not unloaded cleanly/.test(m)), `it loads clean (${since.join('; ')})`);
}

test('deleting the bdev under an empty lvstore answers, unloads the store cleanly, and the store comes back', async () => {
  const { t, raw, file } = await setUp(0);
  try {
    await deleteAndReturn(t, raw, file, []);
  } finally {
    raw.socket.destroy();
    await t.stop();
  }
});

test('deleting the bdev under an lvstore removes its lvol bdevs, even one a Node API user keeps open, and the data comes back', async () => {
  const { t, raw, file, uuids } = await setUp(2);
  try {
    // A blobstore on lvol v0 keeps its bdev open (claimed, no remove handling) for as long as it is loaded.
    const inner = await t.engine.blobstore.init('vg/v0', { clusterSize: MiB });
    const blobId = await inner.create({ size: MiB });
    const blob = await inner.open(blobId);
    const data = Buffer.alloc(64 << 10, 0x5a);
    await blob.write(0, data);
    await blob.sync();
    assert.equal(t.engine.bdev.info('vg/v0').openDescriptors, 1);
    await deleteAndReturn(t, raw, file, uuids);
    // The user that ignored the removal finds its I/O refused; the bdev it held is no longer listed.
    await assert.rejects(blob.read(0, 4096));
    await inner.unload().catch(() => undefined);
    const again = await t.engine.blobstore.load('vg/v0');
    const reopened = await again.open(blobId);
    assert.deepEqual(Buffer.from(await reopened.read(0, data.length)), data, 'what was written through the lvol is there');
    await reopened.close();
    await again.unload();
  } finally {
    raw.socket.destroy();
    await t.stop();
  }
});

test('deleting a bdev under a pass-through that carries an lvstore unloads that store first, then everything on it goes', async () => {
  const t = await startTarget({ engine: { reactors: 1, memoryBytes: 256 << 20 } });
  const raw = await t.connect();
  try {
    await ok(raw, 'bdev_malloc_create', { name: 'm', num_blocks: 4096, block_size: 4096 });
    await ok(raw, 'bdev_error_create', { base_name: 'm' });
    await ok(raw, 'bdev_lvol_create_lvstore', { bdev_name: 'EE_m', lvs_name: 'vg', cluster_sz: MiB });
    await ok(raw, 'bdev_lvol_create', { lvs_name: 'vg', lvol_name: 'v', size_in_mib: 4 });
    assert.equal((await raw.call('bdev_malloc_delete', { name: 'm' }, 'del') as Answer).result, true);
    assert.deepEqual(await ok(raw, 'bdev_lvol_get_lvstores', {}), []);
    assert.deepEqual(await ok(raw, 'bdev_get_bdevs', {}), []);
    assert.ok(t.logs.some((l) => /lvstore vg .*: its bdev EE_m is being deleted: removing its 1 lvols, unloading it/.test(l.message)));
  } finally {
    raw.socket.destroy();
    await t.stop();
  }
});
