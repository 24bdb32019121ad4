// An lvstore whose md was forged so that a snapshot reads through its own clone (issue 14, item 7):
// examine serves the lvols outside the loop, says which blobs it refused, and the engine goes on
// answering (before, the open recursed until the reactor trapped, and nothing else worked after).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import type { Report } from '../../host/core-abi.js';
import { SB, blobIdOf, blobsInFile, editFilePage, setParentDescriptor } from '../helpers/blob-image.js';

const MiB = 1 << 20;

test('examine of an lvstore with a parent loop serves the other lvols and refuses the loop by id; the engine keeps working; a looping super blob loads no lvstore', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-lvol-forged-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 64 * MiB);
  try {
    let engine = await Engine.start({ reactors: 1, memoryBytes: 128 << 20, logLevel: 'fatal' });
    try {
      void engine.lvol;
      engine.bdev.createFile('f0', { path: file });
      await engine.bdev.waitForExamine();
      const lvs = await engine.lvol.createLvstore('f0', 'disk', { clusterSize: MiB });
      await engine.lvol.create({ uuid: lvs }, 'a', 4 * MiB);
      await engine.lvol.create({ uuid: lvs }, 'b', 2 * MiB, { thin: true });
      await engine.lvol.snapshot('disk/a', 'a-snap');
      await engine.lvol.clone('disk/a-snap', 'a-clone');
      await engine.lvol.unloadAll();
    } finally {
      await engine.stop();
    }
    // The snapshot is the blob others read through; make it read through one of them.
    const blobs = blobsInFile(file);
    const snap = blobs.find((b) => blobs.some((o) => o.parent === blobIdOf(b.index)))!;
    const reader = blobs.find((b) => b.parent === blobIdOf(snap.index))!;
    editFilePage(file, snap.index, (page) => setParentDescriptor(page, blobIdOf(reader.index)));

    const reports: Report[] = [];
    engine = await Engine.start({ reactors: 1, memoryBytes: 128 << 20, logLevel: 'error', onReport: (r) => reports.push(r) });
    try {
      void engine.lvol;
      engine.bdev.createFile('f0', { path: file });
      await engine.bdev.waitForExamine();
      assert.equal(engine.error, null, 'no reactor trapped');
      const said = reports.map((r) => r.message).join('\n');
      assert.match(said, new RegExp(`blob ${blobIdOf(snap.index)} is refused: its parent blob ${blobIdOf(reader.index)} reads back through it`));
      assert.match(said, /examine f0: lvstore disk: blob \d+ is not served: .*was refused when the store loaded/);
      assert.deepEqual(engine.lvol.list().map((l) => l.alias), ['disk/b'], 'the lvol outside the loop is served');
      engine.bdev.createMalloc('m1', { blockCount: 256 });
      assert.equal(engine.bdev.info('m1').blockCount, 256, 'the engine answers what has nothing to do with the lvstore');
      await engine.lvol.unloadAll();
    } finally {
      await engine.stop();
    }
    // Now the lvstore's own super blob names itself as its parent: the lvstore is not loaded, said so,
    // and its bdev is let go.
    const superBlob = fs.readFileSync(file).readBigUInt64LE(SB.superBlob);
    editFilePage(file, Number(superBlob & 0xffffffffn), (page) => setParentDescriptor(page, superBlob));
    reports.length = 0;
    engine = await Engine.start({ reactors: 1, memoryBytes: 128 << 20, logLevel: 'error', onReport: (r) => reports.push(r) });
    try {
      void engine.lvol;
      engine.bdev.createFile('f0', { path: file });
      await engine.bdev.waitForExamine();
      assert.equal(engine.error, null);
      assert.match(reports.map((r) => r.message).join('\n'), /examine f0: the lvstore's super blob cannot be opened \(.*names itself as its parent|examine f0: the lvstore's super blob cannot be opened \(.*was refused when the store loaded/);
      assert.deepEqual(engine.lvol.listLvstores(), []);
      assert.equal(engine.bdev.info('f0').claimed, false, 'the bdev is not held by a store that did not load');
    } finally {
      await engine.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
