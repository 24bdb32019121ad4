// Logical volumes with real reactors: lvstores and lvols through the Node API, I/O through the lvol
// bdevs from every reactor (verify runs), snapshots, clones, renames, resize, read-only, inflate,
// decouple, deletes and their refusals, and everything found again by examine after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, WstorError } from '../../host/index.js';
import { runPerf } from '../helpers/perf-run.js';

const MiB = 1 << 20;
const code = (c: string) => (e: WstorError) => e.code === c;

async function engineWithLvs(): Promise<Engine> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'fatal' });
  engine.bdev.createMalloc('m0', { blockCount: (96 * MiB) / 4096 });
  await engine.lvol.createLvstore('m0', 'lvs0', { clusterSize: MiB });
  return engine;
}

test('lvols are bdevs: thick and thin lvols verified from two reactors, then listed with SPDK\'s facts', async () => {
  const engine = await engineWithLvs();
  try {
    const [lvs] = engine.lvol.listLvstores();
    assert.equal(lvs.name, 'lvs0');
    assert.equal(lvs.baseBdev, 'm0');
    assert.equal(lvs.clusterSize, MiB);
    const thick = await engine.lvol.create({ name: 'lvs0' }, 'thick', 8 * MiB);
    const thin = await engine.lvol.create({ uuid: lvs.uuid }, 'thin', 16 * MiB, { thin: true });
    assert.equal(engine.bdev.info('lvs0/thick').name, thick, 'the bdev is named by the uuid and answers to its alias');
    assert.deepEqual(engine.bdev.info(thin).aliases, ['lvs0/thin']);
    assert.equal(engine.bdev.info(thin).blockCount, (16 * MiB) / 4096);
    for (const name of ['lvs0/thick', 'lvs0/thin']) {
      const r = await runPerf(engine, name, { seconds: 1, queueDepth: 8 });
      assert.ok(r.ios > 100, `${name}: I/O flowed (${r.ios})`);
      assert.equal(r.errors, 0, `${name}: no errors`);
      assert.equal(r.mismatches, 0, `${name}: every block read back as written`);
    }
    // Reads without a buffer through an lvol: the bdev layer gives each one a buffer the blob reads into.
    const z = await runPerf(engine, 'lvs0/thick', { seconds: 1, queueDepth: 8, zcopy: true });
    assert.ok(z.ios > 100 && z.errors === 0 && z.mismatches === 0, `lvs0/thick, reads without a buffer: ${JSON.stringify(z)}`);
    const lvols = engine.lvol.list();
    const t = lvols.find((l) => l.name === 'thin')!;
    assert.equal(t.thin, true);
    assert.ok(t.allocatedBytes > 0 && t.allocatedBytes <= 16 * MiB, 'the thin lvol took clusters as it was written');
    assert.equal(engine.lvol.listLvstores()[0].freeClusters, lvs.freeClusters - 8 - t.allocatedBytes / MiB);
    await assert.rejects(engine.lvol.create({ name: 'lvs0' }, 'thin', MiB), code('EEXIST'));
    await assert.rejects(engine.lvol.create({ name: 'nope' }, 'x', MiB), code('ENODEV'));
    await assert.rejects(engine.lvol.create({ name: 'lvs0' }, 'bad/name', MiB), code('EINVAL'));
    await assert.rejects(engine.lvol.create({ name: 'lvs0' }, 'huge', 1024 * MiB), code('ENOSPC'));
    await assert.rejects(engine.lvol.createLvstore('m0', 'again'), code('EPERM'), 'the base bdev is claimed by its lvstore');
  } finally {
    await engine.stop();
  }
});

test('snapshot, clone, rename, resize, read-only, inflate, decouple and delete', async () => {
  const engine = await engineWithLvs();
  try {
    await engine.lvol.create({ name: 'lvs0' }, 'vol', 4 * MiB, { thin: true });
    await runPerf(engine, 'lvs0/vol', { seconds: 1, queueDepth: 4 });
    const snap = await engine.lvol.snapshot('lvs0/vol', 'snap');
    const clone = await engine.lvol.clone('lvs0/snap', 'clone');
    let byName = new Map(engine.lvol.list().map((l) => [l.name, l]));
    assert.equal(byName.get('snap')!.uuid, snap);
    assert.equal(byName.get('snap')!.snapshot, true);
    assert.equal(byName.get('snap')!.readOnly, true);
    assert.deepEqual(byName.get('snap')!.clones.sort(), ['lvs0/clone', 'lvs0/vol']);
    assert.equal(byName.get('clone')!.parent, 'lvs0/snap');
    assert.equal(byName.get('clone')!.clone, true);
    assert.equal(byName.get('clone')!.uuid, clone);
    const w = await runPerf(engine, 'lvs0/snap', { workload: 'randwrite', seconds: 1, queueDepth: 2 });
    assert.equal(w.errors, w.ios, 'every write to a snapshot fails');
    const c = await runPerf(engine, 'lvs0/clone', { seconds: 1, queueDepth: 4 });
    assert.equal(c.errors + c.mismatches, 0, 'a clone takes writes (copy on write) and reads them back');
    await assert.rejects(engine.lvol.clone('lvs0/clone', 'x'), code('EINVAL'), 'only a read-only lvol is cloned');
    await assert.rejects(engine.lvol.delete('lvs0/snap'), code('EBUSY'), 'a snapshot with two clones stays');

    await engine.lvol.rename('lvs0/clone', 'renamed');
    assert.equal(engine.bdev.info('lvs0/renamed').name, clone);
    assert.equal(engine.bdev.exists('lvs0/clone'), false);
    await engine.lvol.renameLvstore('lvs0', 'store');
    assert.equal(engine.bdev.info('store/renamed').name, clone);
    await engine.lvol.resize('store/renamed', 6 * MiB);
    assert.equal(engine.bdev.info('store/renamed').blockCount, (6 * MiB) / 4096);
    await engine.lvol.decoupleParent('store/vol');
    await engine.lvol.inflate('store/renamed');
    byName = new Map(engine.lvol.list().map((l) => [l.name, l]));
    assert.equal(byName.get('renamed')!.parent, undefined, 'inflated: no parent');
    assert.equal(byName.get('renamed')!.thin, false);
    assert.equal(byName.get('vol')!.parent, undefined, 'decoupled from a parent with no parent: none');
    await engine.lvol.setReadOnly('store/renamed');
    assert.equal(engine.lvol.list().find((l) => l.name === 'renamed')!.readOnly, true);
    await assert.rejects(engine.lvol.resize('store/renamed', 8 * MiB), code('EPERM'));
    await engine.lvol.delete('store/snap');
    assert.equal(engine.bdev.exists(snap), false);
    await assert.rejects(engine.lvol.delete('store/snap'), code('ENODEV'));
    await engine.lvol.deleteLvstore({ name: 'store' });
    assert.deepEqual(engine.lvol.listLvstores(), []);
    assert.deepEqual(engine.bdev.list().map((b) => b.name), ['m0'], 'every lvol bdev went with the lvstore');
  } finally {
    await engine.stop();
  }
});

test('snapshots and resizes while both reactors write and verify the lvol: I/O is held, never lost', async () => {
  const engine = await engineWithLvs();
  try {
    await engine.lvol.create({ name: 'lvs0' }, 'busy', 8 * MiB, { thin: true });
    const io = runPerf(engine, 'lvs0/busy', { seconds: 3, queueDepth: 8 });
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await engine.lvol.snapshot('lvs0/busy', `s${i}`);
      if (i % 2 === 1) await engine.lvol.resize('lvs0/busy', (8 + i) * MiB);
    }
    const r = await io;
    assert.ok(r.ios > 1000, `I/O went on (${r.ios})`);
    assert.equal(r.errors, 0, 'no I/O failed');
    assert.equal(r.mismatches, 0, 'every block read back as written, across six snapshots');
    assert.equal(engine.lvol.list().filter((l) => l.snapshot).length, 6);
  } finally {
    await engine.stop();
  }
});

test('an lvol in use is not deleted, and a snapshot folds into its only clone when that clone is unused', async () => {
  const engine = await engineWithLvs();
  try {
    await engine.lvol.create({ name: 'lvs0' }, 'base', 2 * MiB);
    await engine.lvol.create({ name: 'lvs0' }, 'used', 2 * MiB);
    await engine.bdev.createError('err0', 'lvs0/used');    // a pass-through holds the lvol open
    await assert.rejects(engine.lvol.delete('lvs0/used'), code('EBUSY'));
    await assert.rejects(engine.lvol.deleteLvstore({ name: 'lvs0' }), code('EBUSY'));
    await engine.bdev.delete('err0');
    await engine.lvol.snapshot('lvs0/base', 'snap');
    await runPerf(engine, 'lvs0/base', { seconds: 1, queueDepth: 4 });
    await engine.lvol.delete('lvs0/snap');
    const base = engine.lvol.list().find((l) => l.name === 'base')!;
    assert.equal(base.parent, undefined, 'the clone no longer reads through a snapshot');
    const r = await runPerf(engine, 'lvs0/base', { workload: 'randread', seconds: 1, queueDepth: 4 });
    assert.equal(r.errors, 0, 'the clone serves I/O again after the fold');
  } finally {
    await engine.stop();
  }
});

test('lvstores and lvols survive a restart: examine finds them when their bdev appears', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-lvol-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 64 * MiB);
  try {
    let engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
    let uuids: string[];
    try {
      void engine.lvol;                                  // examine from here on
      engine.bdev.createFile('f0', { path: file });
      await engine.bdev.waitForExamine();
      const lvs = await engine.lvol.createLvstore('f0', 'disk', { clusterSize: MiB });
      uuids = [await engine.lvol.create({ uuid: lvs }, 'a', 4 * MiB, { thin: true }), await engine.lvol.create({ uuid: lvs }, 'b', 2 * MiB)];
      await runPerf(engine, 'disk/a', { seconds: 1, queueDepth: 4 });
      uuids.push(await engine.lvol.snapshot('disk/a', 'a-snap'));
      await engine.lvol.unloadAll();
    } finally {
      await engine.stop();
    }
    engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
    try {
      void engine.lvol;
      engine.bdev.createFile('f0', { path: file });
      await engine.bdev.waitForExamine();
      const lvols = engine.lvol.list();
      assert.deepEqual(lvols.map((l) => l.alias).sort(), ['disk/a', 'disk/a-snap', 'disk/b']);
      assert.deepEqual(lvols.map((l) => l.uuid).sort(), [...uuids].sort(), 'the same uuids');
      assert.equal(lvols.find((l) => l.name === 'a')!.parent, 'disk/a-snap');
      const r = await runPerf(engine, 'disk/a', { seconds: 1, queueDepth: 4 });
      assert.equal(r.errors + r.mismatches, 0);
      await engine.lvol.unloadAll();
    } finally {
      await engine.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
