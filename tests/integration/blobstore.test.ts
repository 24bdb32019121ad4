// The Blobstore's Node API with real reactors: persistence across engine processes, many operations
// in flight at once, and errors a user can act on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, WstorError } from '../../host/index.js';
import { skipIfMissing } from '../helpers/skip.js';

const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'index.js');

function child(body: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', `
    import { Engine } from ${JSON.stringify(index)};
    const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'error' });
    try { ${body} } finally { await engine.stop(); }
  `], { encoding: 'utf8' }).trim();
}

test('a blob written and unloaded by one process reads back in another', () => {
  const file = path.join(os.tmpdir(), `wstor-bs-persist-${process.pid}.img`);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 32 << 20);
  try {
    const id = child(`
      engine.bdev.createFile('f0', { path: ${JSON.stringify(file)} });
      const bs = await engine.blobstore.init('f0', { clusterSize: 1 << 20 });
      const id = await bs.create({ size: 3 << 20, thin: true, xattrs: { name: 'first', owner: 'test' } });
      const blob = await bs.open(id);
      const data = new Uint8Array(2 << 20).map((_, i) => (i * 31) & 0xff);
      await blob.write(1 << 19, data);
      await blob.close();
      await bs.unload();
      await engine.bdev.delete('f0');
      console.log(String(id));
    `);
    const out = child(`
      engine.bdev.createFile('f0', { path: ${JSON.stringify(file)} });
      const bs = await engine.blobstore.load('f0');
      const blob = await bs.open(${id}n);
      const back = await blob.read(1 << 19, 2 << 20);
      const ok = back.every((v, i) => v === ((i * 31) & 0xff));
      const name = new TextDecoder().decode(await blob.getXattr('name'));
      const head = await blob.read(0, 4096);
      const size = blob.size;
      await blob.close();
      await bs.unload();
      await engine.bdev.delete('f0');
      console.log(JSON.stringify({ ok, name, headZero: head.every((v) => v === 0), size }));
    `);
    const r = JSON.parse(out.split('\n').at(-1)!);
    assert.equal(r.ok, true, 'every byte read back');
    assert.equal(r.name, 'first');
    assert.equal(r.headZero, true, 'the unwritten start of the first cluster reads as zeroes');
    assert.equal(r.size, 3 << 20);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('a blobstore on an O_DIRECT file: its metadata and data buffers are not block-aligned, and it still works', async (t) => {
  // Under /var/tmp: /tmp may be tmpfs, which refuses O_DIRECT.
  const file = path.join('/var/tmp', `wstor-bs-direct-${process.pid}.img`);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 16 << 20);
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'error' });
  try {
    if (!engine.bdev.createFile('d0', { path: file, direct: true }).direct) { skipIfMissing(t, true, '/var/tmp refuses O_DIRECT'); return; }
    let bs = await engine.blobstore.init('d0', { clusterSize: 1 << 20 });
    const unit = bs.ioUnitSize;
    const id = await bs.create({ size: 3 << 20 });
    // 1 MiB from three io units before the end of the first cluster: the write spans two clusters.
    const offset = (1 << 20) - 3 * unit;
    const data = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 131 + (i >> 12)) & 0xff);
    let blob = await bs.open(id);
    await blob.write(offset, data);
    assert.ok(Buffer.from(await blob.read(offset, data.length)).equals(data), 'read back before unload');
    await blob.close();
    await bs.unload();
    bs = await engine.blobstore.load('d0');
    blob = await bs.open(id);
    assert.ok(Buffer.from(await blob.read(offset, data.length)).equals(data), 'read back after unload and load');
    assert.ok((await blob.read(offset - unit, unit)).every((v) => v === 0), 'the io unit before it was never written');
    await blob.close();
    await bs.unload();
    await engine.bdev.delete('d0');
  } finally {
    await engine.stop();
    fs.rmSync(file, { force: true });
  }
});

test('many operations in flight at once: one promise each, none serialised behind another', async () => {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'error' });
  try {
    engine.bdev.createMalloc('m0', { blockCount: 16384 });
    const bs = await engine.blobstore.init('m0', { clusterSize: 1 << 20 });
    const ids = await Promise.all(Array.from({ length: 16 }, () => bs.create({ size: 1 << 20, thin: true })));
    assert.equal(new Set(ids.map(String)).size, 16, 'every create got its own id');
    const blobs = await Promise.all(ids.map((id) => bs.open(id)));
    await Promise.all(blobs.map((b, k) => b.write(0, new Uint8Array(65536).fill(k + 1))));
    const back = await Promise.all(blobs.map((b) => b.read(0, 65536)));
    back.forEach((d, k) => assert.ok(d.every((v) => v === k + 1), `blob ${k} holds its own data`));
    await Promise.all(blobs.map((b) => b.close()));
    const listed = await bs.list();
    assert.deepEqual(listed.map((b) => String(b.id)).sort(), ids.map(String).sort(), 'list names every blob');
    assert.ok(listed.every((b) => b.thin && b.size === 1 << 20 && b.allocatedBytes === 1 << 20));
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('errors say what was wrong', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('m1', { blockCount: 4096 });
    await assert.rejects(engine.blobstore.load('m1'), (e: WstorError) =>
      e.code === 'EINVAL' && /holds no wstor blobstore \(no signature in block 0\): init one first/.test(e.message));
    await assert.rejects(engine.blobstore.init('m1', { clusterSize: 3000 }), /clusterSize 3000 must be a power of two/);
    await assert.rejects(engine.blobstore.init('nope'), /no bdev named nope/);
    const bs = await engine.blobstore.init('m1');
    const id = await bs.create({ size: 1 << 20 });
    const blob = await bs.open(id);
    await assert.rejects(blob.read(100, 4096), /must be non-negative multiples of the io unit \(4096 bytes\)/);
    await assert.rejects(blob.read(1 << 20, 4096), (e: WstorError) => e.code === 'EINVAL', 'past the end');
    await assert.rejects(bs.create({ size: 1 << 30 }), (e: WstorError) => e.code === 'ENOSPC');
    const before = (await bs.list()).length;
    await assert.rejects(bs.create({ size: 1 << 20, xattrs: { ok: 'fine', big: new Uint8Array(4000) } }), (e: WstorError) => e.code === 'EINVAL');
    assert.equal((await bs.list()).length, before, 'a create whose xattrs were refused leaves no blob behind');
    // Sizes no blob may have, and maps the memory cannot hold: errors, and the reactor goes on (a
    // 2^52-byte thin blob used to wrap its map's byte count and trap the reactor).
    const tooBig = (e: WstorError) => e.code === 'EINVAL' && /more than one blob may have/.test(e.message);
    await assert.rejects(bs.create({ size: 2 ** 52, thin: true }), tooBig);
    await assert.rejects(blob.resize(2 ** 52), tooBig);
    await assert.rejects(bs.create({ size: 2 ** 46, thin: true }), (e: WstorError) =>
      e.code === 'ENOMEM' && /no memory for the .*cluster map .*more memoryBytes/.test(e.message));
    await assert.rejects(blob.resize(Number.NaN), (e: WstorError) => e.code === 'EINVAL' && /size NaN must be a non-negative integer/.test(e.message));
    assert.equal(blob.size, 1 << 20, 'a refused resize changed nothing');
    const thinBig = await bs.open(await bs.create({ size: 2 ** 40, thin: true }));   // 1 TiB thin on a 16 MiB device: allowed
    assert.equal(thinBig.size, 2 ** 40);
    await thinBig.close();
    await assert.rejects(bs.unload(), (e: WstorError) => e.code === 'EBUSY', 'a blob is still open');
    await blob.close();
    await assert.rejects(blob.read(0, 4096), /blob .* is closed/);
    await assert.rejects(bs.open(12345n), (e: WstorError) => e.code === 'ENOENT');
    await bs.unload();
    assert.throws(() => bs.freeClusters, /was unloaded/);
  } finally {
    await engine.stop();
  }
});

test('unmap and write_zeroes read back as zeroes; the super blob survives unload and load', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('m2', { blockCount: 8192 });
    let bs = await engine.blobstore.init('m2');
    const id = await bs.create({ size: 2 << 20 });
    const blob = await bs.open(id);
    await blob.write(0, new Uint8Array(3 * 4096).fill(9));
    await blob.unmap(0, 4096);
    await blob.writeZeroes(8192, 4096);
    const back = await blob.read(0, 3 * 4096);
    assert.ok(back.subarray(0, 4096).every((v) => v === 0), 'unmapped');
    assert.ok(back.subarray(4096, 8192).every((v) => v === 9), 'untouched between them');
    assert.ok(back.subarray(8192).every((v) => v === 0), 'zeroed');
    await blob.close();
    assert.equal(bs.superBlob, undefined);
    await bs.setSuperBlob(id);
    await assert.rejects(bs.setSuperBlob(77n), (e: WstorError) => e.code === 'ENOENT');
    await bs.unload();
    bs = await engine.blobstore.load('m2');
    assert.equal(bs.superBlob, id, 'the super blob id is in the super block');
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('readv and writev through the Node API: buffers of any length that together make whole io units', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('mv', { blockCount: 4096 });
    const bs = await engine.blobstore.init('mv');
    const blob = await bs.open(await bs.create({ size: 4 << 20, thin: true }));
    const parts = [new Uint8Array(100).fill(1), new Uint8Array(8000).fill(2), new Uint8Array(92).fill(3)];
    await blob.writev(4096, parts);
    const back = await blob.read(4096, 8192);
    assert.deepEqual([back[0], back[99], back[100], back[8099], back[8100], back[8191]], [1, 1, 2, 2, 3, 3]);
    const into = [new Uint8Array(5000), new Uint8Array(3192)];
    await blob.readv(4096, into);
    assert.equal(into[0][99], 1); assert.equal(into[0][4999], 2); assert.equal(into[1][3191], 3);
    await assert.rejects(blob.writev(0, [new Uint8Array(100)]), (e: WstorError) => e.code === 'EINVAL');
    await assert.rejects(blob.readv(0, []), (e: WstorError) => e.code === 'EINVAL');
    await blob.close();
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('snapshot and clone through the Node API', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('m3', { blockCount: 8192 });
    const bs = await engine.blobstore.init('m3');
    const blob = await bs.open(await bs.create({ size: 1 << 20, xattrs: { a: '1', b: '2' } }));
    await blob.removeXattr('a');
    await blob.setXattr('c', '3');
    assert.deepEqual((await blob.xattrNames()).sort(), ['b', 'c'], 'user xattrs only, as they are now');
    await blob.write(0, new Uint8Array(8192).fill(1));
    const snapId = await blob.snapshot();
    await blob.write(0, new Uint8Array(4096).fill(2));
    const snap = await bs.open(snapId);
    assert.equal(snap.isSnapshot, true);
    assert.deepEqual(await snap.xattrNames(), [], 'its internal mark is never listed');
    assert.ok((await snap.read(0, 8192)).every((v) => v === 1), 'the snapshot kept the data as it was');
    await assert.rejects(snap.write(0, new Uint8Array(4096)), (e: WstorError) => e.code === 'EPERM');
    const after = await blob.read(0, 8192);
    assert.ok(after.subarray(0, 4096).every((v) => v === 2) && after.subarray(4096).every((v) => v === 1));
    assert.equal(blob.parent, snapId);
    const cloneId = await bs.clone(snapId);
    const clone = await bs.open(cloneId);
    assert.ok((await clone.read(0, 8192)).every((v) => v === 1));
    await assert.rejects(bs.clone(blob.id), (e: WstorError) => e.code === 'EINVAL', 'clones come from snapshots');
    await assert.rejects(bs.delete(snapId), (e: WstorError) => e.code === 'EBUSY', 'an open snapshot cannot be deleted');
    await Promise.all([snap.close(), clone.close(), blob.close()]);
    await assert.rejects(bs.delete(snapId), /is a snapshot with 2 clones: delete or inflate all but one of them first/);
    await bs.delete(cloneId);
    await bs.delete(snapId);                        // one clone left (the blob): it takes the snapshot's clusters
    const back = await bs.open(blob.id);
    assert.equal(back.parent, undefined);
    const data = await back.read(0, 8192);
    assert.ok(data.subarray(0, 4096).every((v) => v === 2) && data.subarray(4096).every((v) => v === 1));
    await back.close();
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('decouple and inflate keep the data and drop the ancestors, durably', async () => {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  const MiB = 1 << 20;
  try {
    engine.bdev.createMalloc('m4', { blockCount: 8192 });
    let bs = await engine.blobstore.init('m4');
    const origin = await bs.open(await bs.create({ size: 4 * MiB }));
    const expected = new Uint8Array(4 * MiB);
    for (let i = 0; i < expected.length; i += 4096) expected.fill((i >> 12) & 0xff, i, i + 4096);
    await origin.write(0, expected);
    const older = await origin.snapshot();                       // older: all four clusters
    await origin.write(MiB, new Uint8Array(8192).fill(0xee));
    expected.fill(0xee, MiB, MiB + 8192);
    const newer = await origin.snapshot();                       // newer: cluster 1 only, parent older
    const clone = await bs.open(await bs.clone(newer));
    const olderHandle = await bs.open(older);
    await assert.rejects(olderHandle.inflate(), (e: WstorError) => e.code === 'EPERM', 'a snapshot is read-only: it cannot be inflated');
    await olderHandle.close();
    const before = bs.freeClusters;
    await clone.decouple();
    assert.equal(clone.parent, older, 'the clone now reads through the older snapshot');
    assert.equal(clone.allocatedBytes, MiB, 'it copied the one cluster the newer snapshot held');
    assert.equal(bs.freeClusters, before - 1);
    assert.deepEqual(await clone.read(0, 4 * MiB), expected);
    await clone.inflate();
    assert.equal(clone.parent, undefined);
    assert.equal(clone.thin, false);
    assert.equal(clone.allocatedBytes, 4 * MiB);
    assert.deepEqual(await clone.read(0, 4 * MiB), expected);
    await assert.rejects(clone.decouple(), (e: WstorError) => e.code === 'EINVAL', 'no parent to decouple from');
    await clone.write(0, new Uint8Array(4096).fill(7));
    await Promise.all([clone.close(), origin.close()]);
    for (const id of [older, newer]) { const b = await bs.open(id); await b.close(); }
    await bs.unload();
    bs = await engine.blobstore.load('m4');
    const back = await bs.open(clone.id);
    expected.fill(7, 0, 4096);
    assert.equal(back.parent, undefined, 'the new parent is durable');
    assert.deepEqual(await back.read(0, 4 * MiB), expected);
    await back.close();
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('grow: a store on a file that grew takes in the new clusters, durably', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-grow-'));
  const file = path.join(dir, 'store.img');
  const MiB = 1 << 20;
  fs.writeFileSync(file, '');
  fs.truncateSync(file, 32 * MiB);
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createFile('g0', { path: file });
    let bs = await engine.blobstore.init('g0', { clusterSize: MiB });
    const total = bs.totalClusters;
    assert.equal(await bs.grow(), 0, 'the device did not grow: nothing to add');
    await assert.rejects(bs.create({ size: 40 * MiB }), (e: WstorError) => e.code === 'ENOSPC');
    await bs.unload();
    await engine.bdev.delete('g0');
    fs.truncateSync(file, 64 * MiB);
    engine.bdev.createFile('g0', { path: file });
    bs = await engine.blobstore.load('g0');
    assert.equal(bs.totalClusters, total, 'load alone does not grow the store');
    const free = bs.freeClusters;
    assert.equal(await bs.grow(), 32);
    assert.equal(bs.freeClusters, free + 32);
    const id = await bs.create({ size: 40 * MiB });               // thick: needs the new clusters
    const blob = await bs.open(id);
    await blob.write(39 * MiB, new Uint8Array(4096).fill(9));
    await blob.close();
    await bs.unload();
    bs = await engine.blobstore.load('g0');
    assert.equal(bs.totalClusters, total + 32, 'the new size is in the super block');
    const back = await bs.open(id);
    assert.ok((await back.read(39 * MiB, 4096)).every((v) => v === 9));
    await back.close();
    await bs.unload();
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a snapshot delete racing opens of the snapshot and its clone: never both, the data always whole', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('r0', { blockCount: 4096 });
    const bs = await engine.blobstore.init('r0', { clusterSize: 64 << 10 });
    const outcomes = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const origin = await bs.open(await bs.create({ size: 256 << 10 }));
      await origin.write(0, new Uint8Array(256 << 10).fill(i + 1));
      const snapId = await origin.snapshot();                  // one child: the origin
      await origin.close();
      // Post the delete and the opens back to back; the md thread serves them in order, each async.
      const opens = i % 2 === 0 ? [bs.open(snapId)] : [bs.open(origin.id)];
      const [del, ...opened] = await Promise.allSettled([bs.delete(snapId), ...opens]);
      const openedOk = opened[0].status === 'fulfilled';
      outcomes.add(`${del.status}/${opened[0].status}${del.status === "rejected" ? ` (${(del.reason as Error).message})` : ""}`);
      if (del.status === 'fulfilled' && i % 2 === 0) assert.ok(!openedOk, 'a deleted snapshot was not handed out');
      if (openedOk) await (opened[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof bs.open>>>).value.close();
      const back = await bs.open(origin.id);
      assert.ok((await back.read(0, 256 << 10)).every((v) => v === i + 1), `round ${i}: the origin reads its data`);
      assert.equal(back.parent, del.status === 'fulfilled' ? undefined : snapId);
      await back.close();
      if (del.status === 'rejected') { await bs.delete(snapId); }
      await bs.delete(origin.id);
    }
    assert.equal((await bs.list()).length, 0);
    await bs.unload();
    console.log(`# outcomes: ${[...outcomes].join(', ')}`);
  } finally {
    await engine.stop();
  }
});

test('two opens of the same closed blob in flight at once share one blob (one md, one reference count)', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('d0', { blockCount: 4096 });
    // Slow reads keep both opens in flight at once (each reads md pages, then opens the parent).
    await engine.bdev.createDelay('slow0', 'd0', { avgReadUs: 2000, p99ReadUs: 4000, avgWriteUs: 10, p99WriteUs: 20 });
    const bs = await engine.blobstore.init('slow0', { clusterSize: 64 << 10 });
    const origin = await bs.open(await bs.create({ size: 128 << 10 }));
    const snapId = await origin.snapshot();                   // so the opens also open a parent
    await origin.close();
    const [a, b] = await Promise.all([bs.open(origin.id), bs.open(origin.id)]);
    const ptr = (h: unknown) => (h as { ptr: number }).ptr;
    assert.equal(ptr(a), ptr(b), 'one in-memory blob');
    await a.resize(256 << 10);                                // md change through one handle...
    assert.equal(b.size, 256 << 10, '...is the other handle\'s');
    await a.close();
    await b.write(0, new Uint8Array(4096).fill(3));           // still open through b
    await b.close();
    await bs.delete(snapId);                                   // no reference left over: it goes, into the origin
    const back = await bs.open(origin.id);
    assert.ok((await back.read(0, 4096)).every((v) => v === 3));
    await back.close();
    await bs.delete(origin.id);
    assert.equal((await bs.list()).length, 0);
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('an xattr set or a blob open that finds the memory full gets ENOMEM (the old value kept), and works once memory is back', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 96 << 20, logLevel: 'fatal' });
  const core = engine.core as unknown as { wstor_alloc(n: number): number; wstor_free(p: number): void };
  const held: number[] = [];
  const noMemory = (pattern: RegExp) => (e: WstorError) => e.code === 'ENOMEM' && pattern.test(e.message);
  try {
    engine.bdev.createMalloc('mx', { blockCount: 4096 });
    const bs = await engine.blobstore.init('mx');
    const big = new Uint8Array(3000).fill(7);
    const other = await bs.create({ size: 1 << 20, thin: true, xattrs: { big } });
    const blob = await bs.open(await bs.create({ size: 1 << 20, thin: true }));
    await blob.setXattr('k', 'old');
    // Every free page of the memory taken, so no new slab can be made: what is left of each size is
    // what the arenas hold already. The host's own buffers of the value's size come from a block it
    // used (and freed) just before.
    await blob.setXattr('warm', big);
    await blob.removeXattr('warm');
    for (const size of [128 << 10, 16 << 10]) for (let p = core.wstor_alloc(size); p !== 0; p = core.wstor_alloc(size)) held.push(p);
    // Then xattrs of that size use up the md thread's blocks of it, until one finds none.
    let filled = 0;
    let refused: unknown;
    for (; filled < 1000 && refused === undefined; filled++) await blob.setXattr(`fill${filled}`, big).catch((e) => { refused = e; });
    assert.ok(refused !== undefined, 'the memory ran out');
    assert.ok(noMemory(/no memory for a .*-byte xattr/)(refused as WstorError), `ENOMEM that says why, not ${String(refused)}`);
    await assert.rejects(blob.setXattr('k', big), noMemory(/its old value, if any, is kept/));
    assert.equal(new TextDecoder().decode(await blob.getXattr('k')), 'old', 'a refused set changed nothing');
    await assert.rejects(bs.open(other), noMemory(/no memory to read its md page/));
    for (const p of held.splice(0)) core.wstor_free(p);
    await blob.setXattr('k', big);
    for (let i = 0; i < filled - 1; i++) await blob.removeXattr(`fill${i}`);
    const o = await bs.open(other);
    assert.deepEqual(await o.getXattr('big'), big);
    await o.close();
    await blob.close();
    await bs.unload();
    const again = await engine.blobstore.load('mx');
    const back = await again.open(blob.id);
    assert.deepEqual(await back.getXattr('k'), big, 'the set that worked is durable');
    assert.deepEqual(await back.xattrNames(), ['k']);
    await back.close();
    await again.unload();
  } finally {
    for (const p of held) core.wstor_free(p);
    await engine.stop();
  }
});

test('a sync that finds the shared memory exhausted fails with ENOMEM, and works once memory is back', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 96 << 20, logLevel: 'fatal' });
  const core = engine.core as unknown as { wstor_alloc(n: number): number; wstor_free(p: number): void };
  const held: number[] = [];
  try {
    engine.bdev.createMalloc('mm', { blockCount: 4096 });
    const bs = await engine.blobstore.init('mm');
    const blob = await bs.open(await bs.create({ size: 1 << 20, thin: true }));
    await blob.setXattr('k', 'v');
    // Take every large block the memory has (a sync's encoding scratch is a quarter MiB): small
    // allocations, such as the request itself, still find room in their slabs.
    for (let p = core.wstor_alloc(128 << 10); p !== 0; p = core.wstor_alloc(128 << 10)) held.push(p);
    await assert.rejects(blob.sync(), (e: WstorError) => e.code === 'ENOMEM');
    for (const p of held.splice(0)) core.wstor_free(p);
    await blob.sync();
    await blob.close();
    await bs.unload();
  } finally {
    for (const p of held) core.wstor_free(p);
    await engine.stop();
  }
});
