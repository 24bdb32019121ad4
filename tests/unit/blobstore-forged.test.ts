// Forged and damaged Blobstore images (issue 14, items 7-9) through the deterministic harness: parent
// chains that loop, masks that lie (with and without a recomputed checksum), super blocks whose
// fields disagree with each other, an old-format image, and loads that must write nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BlobHarness, OP, PAGE, SB, DESC, MDP, blobIdOf, pageOf, pattern, seal, sealMasks, forgeParent, findDescriptor,
} from '../helpers/blob-harness.js';

const CLUSTER = 64 << 10;                    // 16 io units of 4 KiB
const UNITS = CLUSTER / PAGE;
const EIO = -5, EBUSY = -16, EINVAL = -22, ENOENT = -2;

/** A store on 4 MiB (64 clusters, 64 md pages) with blobs written with pattern(seed = their index). */
async function storeWith(thickClusters: number[]): Promise<{ b: BlobHarness; ids: bigint[] }> {
  const b = await BlobHarness.create(1024);
  b.init(CLUSTER);
  const ids: bigint[] = [];
  for (const [i, clusters] of thickClusters.entries()) {
    const id = b.ok(OP.create, [clusters, 0]);
    ids.push(id);
    if (clusters === 0) continue;
    b.open(id);
    b.channel();
    assert.equal(b.write(0, clusters * UNITS, i), 0);
    b.ok(OP.close);
  }
  return { b, ids };
}

/** Blob `id` opens and reads pattern(seed) over its `clusters` clusters. */
function readsBack(b: BlobHarness, id: bigint, clusters: number, seed: number, what: string): void {
  assert.equal(b.open(id), 0, `${what}: blob ${id} opens (${b.said('error').split('\n').slice(-2).join('; ')})`);
  b.channel();
  assert.deepEqual(b.read(0, clusters * UNITS), pattern(clusters * UNITS * PAGE, seed), `${what}: blob ${id} reads its own data`);
  b.ok(OP.close);
}

/** A new thick blob of `clusters` clusters, written whole with pattern(seed): it takes free clusters only. */
function newBlobWritten(b: BlobHarness, clusters: number, seed: number): bigint {
  const id = b.ok(OP.create, [clusters, 0]);
  b.open(id);
  b.channel();
  assert.equal(b.write(0, clusters * UNITS, seed), 0);
  b.ok(OP.close);
  return id;
}

/** Unload cleanly, or (dirty) drop the store as a crash would. */
function leave(b: BlobHarness, clean: boolean): void { b.ok(clean ? OP.unload : OP.abandon); }

for (const clean of [true, false]) {
  const state = clean ? 'a clean store' : 'a dirty store';

  test(`item 7, ${state}: a blob whose md names itself as its parent is refused by id at load; the rest open; opening it says why`, async () => {
    const { b, ids: [self, other] } = await storeWith([1, 2]);
    leave(b, clean);
    forgeParent(b, pageOf(self), self);
    const from = b.h.reports.length;
    assert.equal(b.load(), 0, `the store loads (${b.said('error', from)})`);
    assert.match(b.said('error', from), new RegExp(`blob ${self} is refused: it names itself as its parent \\(md damaged\\)`));
    const opened = b.h.reports.length;
    assert.equal(b.open(self), EIO, 'the looping blob does not open (and the reactor does not trap)');
    assert.match(b.said('error', opened), new RegExp(`blob ${self} was refused when the store loaded \\(its parent chain loops`));
    readsBack(b, other, 2, 1, 'the other blob');
    assert.equal(b.op(OP.deleteBlob, [], self), EIO, 'nor can it be deleted (deleting opens it)');
    b.ok(OP.unload);
  });

  test(`item 7, ${state}: a two-blob parent loop and a clone of it are refused by id; the rest of the store works`, async () => {
    const { b, ids: [a, c, clone, other] } = await storeWith([1, 1, 1, 2]);
    leave(b, clean);
    forgeParent(b, pageOf(a), c);
    forgeParent(b, pageOf(c), a);
    forgeParent(b, pageOf(clone), a);
    const from = b.h.reports.length;
    assert.equal(b.load(), 0);
    const said = b.said('error', from);
    assert.match(said, new RegExp(`blob ${a} is refused: its parent blob ${c} reads back through it`));
    assert.match(said, new RegExp(`blob ${c} is refused: its parent blob ${a} reads back through it`));
    assert.match(said, new RegExp(`blob ${clone} is refused: it reads through blob ${a}, whose parents loop`));
    for (const id of [a, c, clone]) assert.equal(b.open(id), EIO, `blob ${id} does not open`);
    readsBack(b, other, 2, 3, 'the blob outside the loop');
    // The store goes on working around the refused blobs: their clusters stay theirs.
    newBlobWritten(b, 4, 9);
    readsBack(b, other, 2, 3, 'after a new blob took free clusters');
    b.ok(OP.unload);
    assert.equal(b.load(), 0, 'and it loads again');
    assert.equal(b.open(a), EIO);
    b.ok(OP.unload);
  });
}

test('item 7: a long chain of snapshots opens, reads and closes in loops, not in a recursion as deep as the chain', async () => {
  const DEPTH = 10_000;                            // the recursive open and close ran out of stack before 10,000
  const b = await BlobHarness.create(12288);       // 48 MiB: room for the md pages of that many snapshots
  b.init(CLUSTER, DEPTH + 16);
  const origin = b.ok(OP.create, [1, 0]);
  b.open(origin);
  b.channel();
  assert.equal(b.write(0, UNITS, 5), 0);
  for (let i = 0; i < DEPTH; i++) b.ok(OP.snapshot);
  b.ok(OP.close);
  b.ok(OP.unload);
  assert.equal(b.load(), 0);
  // Opening the origin reads it and every snapshot above it; the data is in the oldest one.
  readsBack(b, origin, 1, 5, `through ${DEPTH} snapshots`);
  assert.equal(b.h.core.hbs_open_blobs(b.store), 0, 'closing the origin let go of every ancestor');
  b.ok(OP.unload);
});

test('item 7: deleting a blob that a forged clone reads through, though it is no snapshot, is refused, not a trap', async () => {
  const { b, ids: [plain, clone] } = await storeWith([2, 1]);
  b.ok(OP.unload);
  forgeParent(b, pageOf(clone), plain);
  assert.equal(b.load(), 0);
  const from = b.h.reports.length;
  assert.equal(b.open(clone), EIO);
  assert.match(b.said('error', from), new RegExp(`blob ${clone} reads through blob ${plain}, which is not a snapshot`));
  assert.equal(b.op(OP.deleteBlob, [], plain), EBUSY);
  assert.match(b.said('error', from), new RegExp(`blob ${plain} is not a snapshot, yet 1 blobs read through it \\(md damaged\\): not deleted`));
  readsBack(b, plain, 2, 0, 'the blob that was not deleted');
  b.ok(OP.unload);
});

test('item 7: a parent descriptor on a later page of a chain is damage (the load reads parents from first pages only): the blob is left out, said so', async () => {
  const { b, ids: [target, chained] } = await storeWith([1, 1]);
  // Two 3000-byte xattrs push the extents to a third md page.
  b.open(chained);
  const name = b.h.scratch(8), value = b.h.scratch(3000);
  for (const n of ['big0', 'big1']) {
    new TextEncoder().encodeInto(n, new Uint8Array(b.h.memory.buffer, name, 8));
    b.ok(OP.setXattr, [name, 4, value, 3000]);
  }
  b.ok(OP.close);
  b.ok(OP.unload);
  let later = b.page(b.mdPageAt(pageOf(chained)));
  for (let hops = 0; findDescriptor(later, DESC.extents) < 0; hops++) {
    assert.ok(hops < 3 && later.getUint32(MDP.next, true) !== 0xffffffff, 'the extents are on a later page');
    later = b.page(b.mdPageAt(later.getUint32(MDP.next, true)));
  }
  assert.notEqual(later.getUint32(MDP.sequence, true), 0, 'the extents are not on the first page');
  const at = findDescriptor(later, DESC.extents);
  assert.ok(at > 0);
  // Put a parent descriptor in front of the extents on the later page (the extents move down).
  const bytes = new Uint8Array(later.buffer, later.byteOffset, PAGE);
  bytes.copyWithin(at + 16, at, MDP.next - 16);
  later.setUint8(at, DESC.parent); later.setUint8(at + 1, 0); later.setUint16(at + 2, 0, true);
  later.setUint32(at + 4, 8, true);
  later.setBigUint64(at + 8, target, true);
  seal(later);
  const from = b.h.reports.length;
  assert.equal(b.load(), 0);
  assert.match(b.said('error', from), new RegExp(`blob at md page ${pageOf(chained)} skipped: one of its md pages is damaged \\(bad CRC or descriptor\\)`));
  assert.equal(b.open(chained), ENOENT, 'not part of the store');
  readsBack(b, target, 1, 0, 'the blob it named');
  b.ok(OP.unload);
});

// ---- item 8: masks and super block fields ----

for (const resealed of [false, true]) {
  test(`item 8: a cluster-mask bit cleared (checksum ${resealed ? 'recomputed' : 'not fixed'}): the load recovers, and a new blob does not take the live blob's cluster`, async () => {
    const { b, ids: [live] } = await storeWith([2]);
    const first = b.h.core.hbs_first_data_cluster(b.store);
    b.ok(OP.unload);
    const clusterMaskPage = b.superBlock().getUint32(SB.maskStart, true) + 1;      // after one page of md mask
    b.image()[clusterMaskPage * PAGE + (first >> 3)] &= ~(1 << (first & 7));
    if (resealed) sealMasks(b);
    const from = b.h.reports.length;
    assert.equal(b.load(), 0);
    assert.match(b.said('notice', from), resealed
      ? new RegExp(`masks disagree with the md pages \\(a cluster in use is marked free: cluster ${first}\\): recovering from every md page`)
      : /blobstore masks fail their checksum \(damaged\): recovering from its md pages/);
    newBlobWritten(b, 1, 77);
    readsBack(b, live, 2, 0, 'after a new blob was written');
    b.ok(OP.unload);
    const again = b.h.reports.length;
    assert.equal(b.load(), 0);
    assert.doesNotMatch(b.said('notice', again), /recovering|disagree/, 'the unload after the recovery wrote masks that hold up');
    b.ok(OP.unload);
  });
}

test('item 8: masks that mark a used md page free, or name a blob that is not there (checksums recomputed), recover', async () => {
  for (const which of ['md page', 'id'] as const) {
    const { b, ids: [kept, other] } = await storeWith([1, 1]);
    b.ok(OP.unload);
    const start = b.superBlock().getUint32(SB.maskStart, true);
    const image = b.image();
    if (which === 'md page') image[start * PAGE] &= ~(1 << pageOf(other));          // md mask: page 0 of the masks
    else image[(start + 2) * PAGE] |= 1 << 5;                                       // id mask: a blob at md page 5
    sealMasks(b);
    const from = b.h.reports.length;
    assert.equal(b.load(), 0);
    assert.match(b.said('notice', from), which === 'md page' ? /an md page in use is marked free: md page 1/ : /the first md page of a blob the masks name is damaged or is not a first page: md page 5/);
    readsBack(b, kept, 1, 0, which);
    readsBack(b, other, 1, 1, which);
    assert.equal(b.open(blobIdOf(5)), ENOENT, 'no blob where the masks said one was');
    b.ok(OP.unload);
  }
});

test('item 8: a super block whose mask_len is 1 or 2 (CRC valid) recovers its blobs, and the next unload writes the right length', async () => {
  for (const maskLen of [1, 2]) {
    const { b, ids } = await storeWith([1, 2]);
    b.ok(OP.unload);
    const sb = b.superBlock();
    const right = sb.getUint32(SB.maskLen, true);
    sb.setUint32(SB.maskLen, maskLen, true);
    seal(sb);
    const from = b.h.reports.length;
    assert.equal(b.load(), 0);
    assert.match(b.said('notice', from), new RegExp(`mask_len ${maskLen} disagrees with its md_len and cluster_mask_bits \\(${right} pages\\)`));
    ids.forEach((id, i) => readsBack(b, id, i + 1, i, `mask_len ${maskLen}`));
    b.ok(OP.unload);
    assert.equal(b.superBlock().getUint32(SB.maskLen, true), right);
    const again = b.h.reports.length;
    assert.equal(b.load(), 0);
    assert.doesNotMatch(b.said('notice', again), /recovering/);
    b.ok(OP.unload);
  }
});

test('item 8: md_len shrunk to 1 (CRC valid) no longer hides the blobs past it: the load is refused, clean or dirty', async () => {
  for (const clean of [true, false]) {
    const { b } = await storeWith([1, 1, 1]);
    b.ok(OP.unload);
    if (!clean) { assert.equal(b.load(), 0); b.ok(OP.abandon); }        // dirty now, the masks of the last unload stay
    const sb = b.superBlock();
    sb.setUint32(SB.mdLen, 1, true);
    seal(sb);
    const from = b.h.reports.length;
    assert.equal(b.load(), EINVAL, clean ? 'clean' : 'dirty');
    assert.match(b.said('error', from), /super block disagrees with its masks: md page 1 is marked used past the store's end \(md_len or total_clusters is damaged\); not loaded/);
  }
});

test('item 8 (corruption loop, seed 547): md_len shrunk (CRC valid) on a store whose masks fail their checksum: its md pages carry another tag, refused', async () => {
  const { b } = await storeWith([1, 1, 1, 1, 1, 1]);
  b.ok(OP.unload);
  const sb = b.superBlock();
  sb.setUint32(SB.mdLen, 4, true);
  sb.setUint32(SB.maskCrc, 3, true);
  seal(sb);
  const from = b.h.reports.length;
  assert.equal(b.load(), EINVAL, 'before, the load recovered md pages 0 to 3 and the blobs past them were gone, unsaid');
  assert.match(b.said('notice', from), /masks fail their checksum/);
  assert.match(b.said('error', from), /super block disagrees with every md page \(md page 0 and 3 more carry another tag\): its cluster size or md region is damaged; not loaded/);
});

test('item 8 (corruption loop): a cluster size halved (CRC valid) would read every blob at the wrong bytes: the md pages\' tag says so, refused', async () => {
  for (const clean of [true, false]) {
    const { b } = await storeWith([1, 2]);
    leave(b, clean);
    const sb = b.superBlock();
    sb.setUint32(SB.cluster, CLUSTER / 2, true);
    seal(sb);
    const from = b.h.reports.length;
    assert.equal(b.load(), EINVAL, clean ? 'clean' : 'dirty');
    assert.match(b.said('error', from), /super block disagrees with every md page/);
    if (clean) assert.match(b.said('notice', from), /a first md page the masks name carries another tag: md page 0/);
  }
});

test('item 8 (corruption loop, seed 1561): md_len shrunk to 1 on a store never unloaded cleanly, its one md page damaged: the pages past md_len give it away', async () => {
  const { b } = await storeWith([1, 1, 1]);
  b.ok(OP.abandon);                                       // never unloaded: no masks to check against
  const sb = b.superBlock();
  sb.setUint32(SB.mdLen, 1, true);
  seal(sb);
  b.image()[b.mdPageAt(0) * PAGE + 100] ^= 0xff;         // its first md page, the only one md_len still covers
  const from = b.h.reports.length;
  assert.equal(b.load(), EINVAL);
  assert.match(b.said('error', from), /has an md page past its md region \(md page 1, md_len 1\): the super block's md_len is damaged; not loaded/);
});

test('item 8: super block fields that disagree with the device or each other are refused by name, not trusted', async () => {
  const cases: [string, (sb: DataView) => void, RegExp][] = [
    ['masks over the super block', (sb) => sb.setUint32(SB.maskStart, 0, true), /its md region \(64 pages from page 4\) is not where the masks end/],
    ['md region over the masks', (sb) => sb.setUint32(SB.mdStart, 2, true), /its md region \(64 pages from page 2\) is not where the masks end/],
    ['md region past the store', (sb) => { sb.setUint32(SB.mdLen, 20000, true); }, /its md region \(20000 pages from page 4\) is not where the masks end, or runs past the store/],
    ['more clusters than the cluster mask holds', (sb) => sb.setUint32(SB.clusterMaskBits, 10, true), /64 clusters do not fit the device, or the cluster mask \(room for 10\) cannot hold them/],
    ['a cluster count that overflows', (sb) => sb.setBigUint64(SB.totalClusters, 1n << 52n, true), /4503599627370496 clusters do not fit the device/],
    ['clusters past the device', (sb) => sb.setBigUint64(SB.totalClusters, 65n, true), /65 clusters do not fit the device/],
    ['a cluster size that is no power of two', (sb) => sb.setUint32(SB.cluster, 65536 + 4096, true), /cluster size 69632 bytes or io unit 4096 bytes is not valid/],
    ['an md page size other than 4096', (sb) => sb.setUint32(SB.mdPage, 8192, true), /md page bytes must be 4096/],
    ['another io unit', (sb) => sb.setUint32(SB.ioUnit, 512, true), /io unit 512 bytes is not valid for this device/],
    ['a newer version', (sb) => sb.setUint32(SB.version, 3, true), /format version 3 is not supported \(this build reads versions 1 to 2\)/],
  ];
  const { b } = await storeWith([1]);
  b.ok(OP.unload);
  const original = b.image().slice(0, PAGE);
  for (const [what, forge, message] of cases) {
    b.image().set(original, 0);
    forge(b.superBlock());
    seal(b.superBlock());
    const from = b.h.reports.length;
    const rc = b.load();
    assert.ok(rc === EINVAL, `${what}: refused with EINVAL (got ${rc})`);
    assert.match(b.said('error', from), message, what);
  }
  b.image().set(original, 0);
  assert.equal(b.load(), 0, 'the untouched super block still loads');
  b.ok(OP.unload);
});

test('item 8: a version 1 image (no mask checksum) loads by recovery, with a notice, and is written back as version 2', async () => {
  const { b, ids: [blob] } = await storeWith([2]);
  b.ok(OP.unload);
  const sb = b.superBlock();
  sb.setUint32(SB.version, 1, true);
  sb.setUint32(SB.maskCrc, 0, true);
  seal(sb);
  const from = b.h.reports.length;
  assert.equal(b.load(), 0);
  assert.match(b.said('notice', from), /blobstore is format version 1, whose masks have no checksum \(the next unload writes version 2\): recovering from its md pages/);
  readsBack(b, blob, 2, 0, 'version 1');
  b.ok(OP.unload);
  assert.equal(b.superBlock().getUint32(SB.version, true), 2);
  const again = b.h.reports.length;
  assert.equal(b.load(), 0);
  assert.doesNotMatch(b.said('notice', again), /recovering/, 'a clean version 2 store loads by its masks');
  b.ok(OP.unload);
});

test('item 8: an md page forged (CRC recomputed) to claim another blob\'s cluster: the clean load recovers, the second claimant is refused', async () => {
  const { b, ids: [owner, thief] } = await storeWith([1, 1]);
  const first = b.h.core.hbs_first_data_cluster(b.store);
  b.ok(OP.unload);
  const page = b.page(b.mdPageAt(pageOf(thief)));
  const at = findDescriptor(page, DESC.extents);
  page.setUint32(at + 16, first, true);                        // its one extent now starts at the owner's cluster
  seal(page);
  const from = b.h.reports.length;
  assert.equal(b.load(), 0);
  assert.match(b.said('notice', from), /masks disagree with the md pages \(it claims a cluster that is metadata, outside the store or another blob's: cluster \d+\)/);
  assert.match(b.said('error', from), new RegExp(`blob at md page ${pageOf(thief)} skipped: it claims a cluster that is metadata, outside the store or another blob's: cluster ${first}`));
  readsBack(b, owner, 1, 0, 'the owner');
  assert.equal(b.open(thief), ENOENT, 'the thief is not part of the store');
  b.ok(OP.unload);
});

test('item 8: a clean load of an untouched store checks its masks against the md pages and finds nothing to recover', async () => {
  const { b, ids } = await storeWith([1, 0, 3]);
  b.open(ids[1]);
  b.ok(OP.snapshot);
  b.ok(OP.close);
  b.ok(OP.unload);
  const from = b.h.reports.length;
  assert.equal(b.load(), 0);
  assert.doesNotMatch(b.said('notice', from), /recovering|disagree/);
  assert.equal(b.said('error', from), '');
  b.ok(OP.unload);
});

// ---- item 9: a read-only load writes nothing ----

test('item 9: a dirty store loaded read-only is recovered in memory only: not a byte of the device changes, blobs refuse writes', async () => {
  const { b, ids: [blob] } = await storeWith([2]);
  b.ok(OP.abandon);
  const before = b.image().slice();
  const from = b.h.reports.length;
  assert.equal(b.load({ readOnly: true }), 0);
  assert.match(b.said('notice', from), /was not unloaded cleanly: recovering from its md pages/);
  assert.match(b.said('notice', from), /loaded read-only: recovered in memory only, nothing written/);
  readsBack(b, blob, 2, 0, 'read-only');
  b.open(blob);
  b.channel();
  assert.equal(b.write(0, 1, 3), -1, 'EPERM: the store is read-only');
  b.ok(OP.close);
  b.ok(OP.unload);
  assert.ok(Buffer.from(b.image()).equals(Buffer.from(before)), 'the image is byte for byte what it was');
  const again = b.h.reports.length;
  assert.equal(b.load(), 0, 'a load for writing then recovers it on disk');
  assert.match(b.said('notice', again), /not unloaded cleanly: recovering/);
  b.ok(OP.unload);
});

test('item 9: a clean store loaded read-only writes nothing either, and leaves the bdev unclaimed', async () => {
  const { b, ids: [blob] } = await storeWith([1]);
  b.ok(OP.unload);
  const before = b.image().slice();
  b.h.setU32(b.ctx, b.bdev, 14);                      // done() records whether the bdev was claimed
  assert.equal(b.load({ readOnly: true }), 0);
  assert.equal(b.h.u32(b.ctx, 15), 0, 'no write claim on the bdev');
  readsBack(b, blob, 1, 0, 'read-only');
  b.ok(OP.unload);
  b.h.setU32(b.ctx, 0, 14);
  assert.ok(Buffer.from(b.image()).equals(Buffer.from(before)));
});

test('item 9: a read-only load of a bdev a loaded store writes is refused (it would read metadata in flux)', async () => {
  const { b } = await storeWith([1]);
  const store = b.store;
  const from = b.h.reports.length;
  assert.equal(b.load({ readOnly: true }), EBUSY);
  assert.match(b.said('error', from), /bdev test_malloc is claimed for writing \(a blobstore is loaded on it, or another module has it\): unload that before loading it read-only/);
  b.store = store;
  b.ok(OP.unload);
  assert.equal(b.load({ readOnly: true }), 0, 'once unloaded, it loads read-only');
  b.ok(OP.unload);
});

void MDP;
