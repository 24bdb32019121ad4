// Deleting a snapshot whose one clone is open, through the Node API, while I/O runs on the clone from
// both reactors (the Node API spreads blob I/O over them). The clone is frozen while its cluster map
// and parent change (assembly/blob/snapshot-delete.ts); every read must return what was last written,
// or what the snapshot held, before, during and after the delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEngine } from '../helpers/engine.js';
import { WstorError } from '../../host/index.js';
import type { BlobStore, BlobHandle } from '../../host/index.js';

const UNIT = 4096;
const CLUSTER = 64 << 10;
const UNITS = 256;                                 // 1 MiB: 16 clusters of 16 units

/** A unit's content: its index and a version, so a stale or misplaced read shows. */
function unitData(unit: number, version: number): Uint8Array {
  const b = new Uint8Array(UNIT);
  const v = new DataView(b.buffer);
  for (let i = 0; i < UNIT; i += 8) { v.setUint32(i, unit, true); v.setUint32(i + 4, version, true); }
  return b;
}
const versionOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(4, true);
const unitOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(0, true);

/**
 * `workers` loops of I/O on the blob until `stop()`: each worker owns the units u with u % workers == k,
 * writes a new version of one of them or reads one back and checks it against `expected`.
 */
function ioLoad(blob: BlobHandle, expected: number[], workers: number) {
  let stopping = false;
  let ops = 0;
  const errors: string[] = [];
  const loops = Array.from({ length: workers }, async (_, k) => {
    let x = 12345 + k * 7919;
    while (!stopping) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const unit = k + workers * (x % Math.floor(UNITS / workers));
      if (x % 3 === 0) {
        const version = expected[unit] + 1;
        await blob.write(unit * UNIT, unitData(unit, version));
        expected[unit] = version;
      } else {
        const got = await blob.read(unit * UNIT, UNIT);
        if (unitOf(got) !== unit || versionOf(got) !== expected[unit]) {
          errors.push(`unit ${unit}: read unit ${unitOf(got)} version ${versionOf(got)}, expected version ${expected[unit]}`);
        }
      }
      ops++;
    }
  });
  return { async stop() { stopping = true; await Promise.all(loops); return { ops, errors }; } };
}

async function verifyAll(blob: BlobHandle, expected: number[]): Promise<void> {
  const all = await blob.read(0, UNITS * UNIT);
  for (let u = 0; u < UNITS; u++) {
    const b = all.subarray(u * UNIT, (u + 1) * UNIT);
    assert.equal(unitOf(b), u, `unit ${u} holds another unit's data`);
    assert.equal(versionOf(b), expected[u], `unit ${u}: version`);
  }
}

test('deleting snapshots whose one clone is open and busy on two reactors: the clone keeps its data, reads and writes', async () => {
  const t = await startTestEngine({ reactors: 2, memoryBytes: 256 << 20 });
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 8192 });
    const bs: BlobStore = await t.engine.blobstore.init('m0', { clusterSize: CLUSTER });
    const id = await bs.create({ size: UNITS * UNIT, thin: true });
    const blob = await bs.open(id);
    const expected = new Array<number>(UNITS).fill(1);
    for (let u = 0; u < UNITS; u++) await blob.write(u * UNIT, unitData(u, 1));
    // A chain: older <- newer <- blob. The blob writes some units between the snapshots, so each of
    // the three holds clusters of its own.
    const older = await blob.snapshot();
    for (let u = 0; u < UNITS; u += 5) { expected[u]++; await blob.write(u * UNIT, unitData(u, expected[u])); }
    const newer = await blob.snapshot();
    for (let u = 0; u < UNITS; u += 7) { expected[u]++; await blob.write(u * UNIT, unitData(u, expected[u])); }
    assert.equal(blob.parent, newer);
    const free0 = bs.freeClusters;

    // 1. The older snapshot: its one clone is the newer snapshot, open because the blob reads through it.
    let load = ioLoad(blob, expected, 8);
    await bs.delete(older);
    let r = await load.stop();
    assert.deepEqual(r.errors, [], 'reads during the first delete');
    assert.ok(r.ops > 0);
    assert.equal(blob.parent, newer, 'the blob still reads through the newer snapshot');
    const newerHandle = await bs.open(newer);
    assert.equal(newerHandle.parent, undefined, 'which took the older one\'s place: it has no parent now');
    await newerHandle.close();
    await assert.rejects(bs.open(older), (e: WstorError) => e.code === 'ENOENT', 'the older snapshot is gone');

    // 2. The newer snapshot: its one clone is the blob itself, open, with I/O running on it.
    load = ioLoad(blob, expected, 8);
    await bs.delete(newer);
    r = await load.stop();
    assert.deepEqual(r.errors, [], 'reads during the second delete');
    assert.equal(blob.parent, undefined, 'the blob has no parent left');
    await assert.rejects(bs.open(newer), (e: WstorError) => e.code === 'ENOENT');
    await verifyAll(blob, expected);
    assert.ok(bs.freeClusters >= free0, 'the clusters no one reads any more were freed');

    // The handle keeps working: writes, reads, and it all survives a reload.
    for (let u = 3; u < UNITS; u += 11) { expected[u]++; await blob.write(u * UNIT, unitData(u, expected[u])); }
    await verifyAll(blob, expected);
    await blob.close();
    await bs.unload();
    const again = await t.engine.blobstore.load('m0');
    const reopened = await again.open(id);
    await verifyAll(reopened, expected);
    assert.equal(reopened.parent, undefined);
    await reopened.close();
    await again.unload();
  } finally {
    await t.engine.stop().catch(() => undefined);
  }
});

test('a snapshot with two clones stays while one of them is open, and so does one a handle holds open', async () => {
  const t = await startTestEngine({ reactors: 2, memoryBytes: 128 << 20 });
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 4096 });
    const bs = await t.engine.blobstore.init('m0', { clusterSize: CLUSTER });
    const id = await bs.create({ size: CLUSTER * 4, thin: true });
    const blob = await bs.open(id);
    await blob.write(0, unitData(0, 1));
    const snap = await blob.snapshot();
    const second = await bs.clone(snap);
    await assert.rejects(bs.delete(snap), (e: WstorError) => e.code === 'EBUSY' && /snapshot with 2 clones: delete or inflate all but one/.test(e.message));
    await bs.delete(second);
    const held = await bs.open(snap);
    await assert.rejects(bs.delete(snap), (e: WstorError) => e.code === 'EBUSY' && /is open, or a blob that reads through it is: close them first/.test(e.message));
    await held.close();
    assert.deepEqual(await blob.read(0, UNIT), unitData(0, 1), 'the refused deletes changed nothing');
    await bs.delete(snap);
    assert.deepEqual(await blob.read(0, UNIT), unitData(0, 1));
    await blob.close();
    await bs.unload();
  } finally {
    await t.engine.stop().catch(() => undefined);
  }
});
