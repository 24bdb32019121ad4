// The Blobstore through the deterministic harness, on a malloc bdev (or a crash bdev over one):
// init, load (clean and after a crash), blobs, thin provisioning, xattrs, resize, delete, damage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, exhaustHeap, exhaustSmallBlocks, type Harness } from '../helpers/core.js';
import { writeCoreString, EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import { BlobOp as OP, BdevOp, BdevWord as W } from '../helpers/opcodes.js';

const MiB = 1 << 20;

interface Bs { h: Harness; t: number; ctx: number; bdev: number }

async function setup(blocks = 16384, blockSize = 4096): Promise<Bs> {
  const h = await newHarness();
  const t = h.core.h_thread_create(0, -1, 1024);
  h.core.hb_set_app_thread(t);
  return { h, t, ctx: h.core.hbs_ctx_new(), bdev: h.core.hb_malloc_create(blockSize, blocks) };
}

/** Run an op on the md thread; poll until it completes. Returns rc; value in lastValue. */
function op(b: Bs, code: number, args: number[] = [], idOf?: bigint): number {
  const { h, ctx } = b;
  h.setU32(ctx, code, 0);
  args.forEach((v, i) => h.setU32(ctx, v >>> 0, 7 + i));
  if (idOf !== undefined) { h.setU32(ctx, Number(idOf & 0xffffffffn), 5); h.setU32(ctx, Number(idOf >> 32n), 6); }
  const before = h.u32(ctx, 2);
  h.core.hbs_send(b.t, ctx);
  h.pollUntil(`op ${code} to complete`, () => h.u32(ctx, 2) !== before);
  return h.i32(ctx, 1);
}
const value = (b: Bs) => BigInt(b.h.u32(b.ctx, 11)) | (BigInt(b.h.u32(b.ctx, 12)) << 32n);
const ok = (b: Bs, code: number, args: number[] = [], id?: bigint) => {
  const rc = op(b, code, args, id);
  assert.equal(rc, 0, `op ${code} (${args.join(',')}) failed with ${rc}: ${b.h.messages('error').join('; ')}`);
  return value(b);
};

function initStore(b: Bs, cluster = MiB) { b.h.setU32(b.ctx, Number(ok(b, OP.init, [b.bdev, cluster, 0])), 3); }
function loadStore(b: Bs, bdev = b.bdev) { const rc = op(b, OP.load, [bdev]); if (rc === 0) b.h.setU32(b.ctx, Number(value(b)), 3); return rc; }
function openBlob(b: Bs, id: bigint) { b.h.setU32(b.ctx, Number(ok(b, OP.open, [], id)), 4); return b.h.u32(b.ctx, 4); }
function channel(b: Bs) { ok(b, OP.channel); }
function fill(h: Harness, ptr: number, n: number, seed: number) { new Uint8Array(h.memory.buffer, ptr, n).forEach((_, i, a) => { a[i] = (i * 7 + seed) & 0xff; }); }
function same(h: Harness, ptr: number, n: number, seed: number) { return new Uint8Array(h.memory.buffer, ptr, n).every((v, i) => v === ((i * 7 + seed) & 0xff)); }
const zeroes = (h: Harness, ptr: number, n: number) => new Uint8Array(h.memory.buffer, ptr, n).every((v) => v === 0);

/** Open blob `id`, read its first io unit into `buf`, check it holds pattern `seed`, close it. */
function firstUnitIs(b: Bs, id: bigint, buf: number, seed: number, what: string) {
  openBlob(b, id);
  channel(b);
  ok(b, OP.read, [buf, 0, 1]);
  assert.ok(same(b.h, buf, 4096, seed), what);
  ok(b, OP.close);
}

/** A new store with one open thin blob of `clusters` clusters and a channel to do I/O through. */
async function openThinBlob(clusters: number): Promise<{ b: Bs; id: bigint }> {
  const b = await setup();
  initStore(b);
  const id = ok(b, OP.create, [clusters, 1]);
  openBlob(b, id);
  channel(b);
  return { b, id };
}

test('a failed load and an unload let go of the bdev\'s claim before they complete', async () => {
  // Completing first let a writer that opened the bdev right after (an lvol's first I/O after
  // examine found no store on it) find it still claimed, now and then, on another reactor.
  const b = await setup();
  b.h.setU32(b.ctx, b.bdev, 14);                       // done() records the claim at completion
  assert.notEqual(loadStore(b), 0, 'an empty bdev holds no store');
  assert.equal(b.h.u32(b.ctx, 15), 0, 'the failed load released its claim before completing');
  initStore(b);
  assert.equal(b.h.u32(b.ctx, 15), 1, 'a loaded store holds the claim');
  ok(b, OP.unload);
  assert.equal(b.h.u32(b.ctx, 15), 0, 'the unload released its claim before completing');
});

/** A new store with an open thick blob of `clusters` clusters, io unit `unit` written with pattern `seed` from `buf`. */
async function openBlobWithUnit(clusters: number, unit: number, seed: number): Promise<{ b: Bs; id: bigint; buf: number }> {
  const b = await setup();
  initStore(b);
  const id = ok(b, OP.create, [clusters, 0]);
  openBlob(b, id);
  channel(b);
  const buf = b.h.scratch(4096);
  fill(b.h, buf, 4096, seed);
  ok(b, OP.write, [buf, unit, 1]);
  return { b, id, buf };
}

test('init, a thick blob written across a cluster boundary, unload, load clean, read back', async () => {
  const b = await setup();
  initStore(b);
  const store = b.h.u32(b.ctx, 3);
  const free0 = b.h.core.hbs_free_clusters(store);
  const id = ok(b, OP.create, [4, 0]);
  assert.equal(id >> 32n, 1n, 'ids carry the high bit');
  assert.equal(b.h.core.hbs_free_clusters(store), free0 - 4, 'a thick blob takes its clusters at once');
  openBlob(b, id);
  channel(b);
  const buf = b.h.scratch(3 * 4096);
  fill(b.h, buf, 3 * 4096, 1);
  assert.equal(ok(b, OP.write, [buf, 255, 3]), 0n, 'blocks 255..257 span clusters 0 and 1');
  new Uint8Array(b.h.memory.buffer, buf, 3 * 4096).fill(0);
  ok(b, OP.read, [buf, 255, 3]);
  assert.ok(same(b.h, buf, 3 * 4096, 1));
  assert.equal(op(b, OP.read, [buf, 1023, 2]), -22, 'past the end of the blob');
  ok(b, OP.close);
  ok(b, OP.unload);
  assert.equal(loadStore(b), 0);
  assert.equal(b.h.core.hbs_free_clusters(b.h.u32(b.ctx, 3)), free0 - 4, 'the clean load read the masks');
  openBlob(b, id);
  channel(b);
  new Uint8Array(b.h.memory.buffer, buf, 3 * 4096).fill(0);
  ok(b, OP.read, [buf, 255, 3]);
  assert.ok(same(b.h, buf, 3 * 4096, 1), 'data survived unload and load');
  ok(b, OP.close);
  ok(b, OP.unload);
});

test('blob I/O goes on with the heap full: a finished request waits on its reactor for the next I/O', async () => {
  const { b, buf } = await openBlobWithUnit(4, 7, 5);    // the write's request is kept for the next I/O
  const refillPages = exhaustHeap(b.h);
  const refillSmall = exhaustSmallBlocks(b.h);
  try {
    for (let i = 0; i < 100; i++) {
      new Uint8Array(b.h.memory.buffer, buf, 4096).fill(0);
      ok(b, OP.read, [buf, 7, 1]);
      assert.ok(same(b.h, buf, 4096, 5), `read ${i}`);
    }
    ok(b, OP.write, [buf, 8, 1]);
  } finally {
    refillSmall();
    refillPages();
  }
  ok(b, OP.close);
  ok(b, OP.unload);
});

test('thin blobs: clusters are taken on first write, the rest of a new cluster and unwritten clusters read as zeroes', async () => {
  const b = await setup();
  initStore(b);
  const store = b.h.u32(b.ctx, 3);
  const free0 = b.h.core.hbs_free_clusters(store);
  const id = ok(b, OP.create, [10, 1]);
  assert.equal(b.h.core.hbs_free_clusters(store), free0, 'a thin blob takes nothing at create');
  const blob = openBlob(b, id);
  channel(b);
  const buf = b.h.scratch(8192);
  fill(b.h, buf, 4096, 9);
  ok(b, OP.write, [buf, 3 * 256 + 10, 1]);
  assert.equal(b.h.core.hbs_blob_allocated(blob), 1);
  assert.equal(b.h.core.hbs_free_clusters(store), free0 - 1);
  ok(b, OP.read, [buf, 3 * 256 + 9, 2]);
  assert.ok(zeroes(b.h, buf, 4096), 'the new cluster was zeroed before the write');
  assert.ok(same(b.h, buf + 4096, 4096, 9));
  fill(b.h, buf, 8192, 5);
  ok(b, OP.read, [buf, 0, 2]);
  assert.ok(zeroes(b.h, buf, 8192), 'an unallocated cluster reads as zeroes');
  ok(b, OP.close);
  ok(b, OP.unload);
  assert.equal(loadStore(b), 0);
  const again = openBlob(b, id);
  assert.equal(b.h.core.hbs_blob_allocated(again), 1, 'the thin allocation was recorded at close');
  ok(b, OP.close);
});

test('a thin claim recorded while a sync is writing its pages stays dirty, and the next sync persists it', async () => {
  const { b, id } = await openThinBlob(4);
  // A second context runs the write beside the first one's sync, both started in one poll.
  const { h } = b;
  const w = h.core.hbs_ctx_new();
  for (const word of [3, 4, 13]) h.setU32(w, h.u32(b.ctx, word), word);
  const buf = h.scratch(4096);
  fill(h, buf, 4096, 4);
  h.setU32(w, OP.write, 0);
  [buf, 2 * 256, 1].forEach((v, i) => h.setU32(w, v, 7 + i));
  h.setU32(b.ctx, OP.sync, 0);
  h.core.hbs_send(b.t, b.ctx);
  h.core.hbs_send(b.t, w);
  h.pollUntil('the sync and the write', () => h.u32(b.ctx, 2) !== 0 && h.u32(w, 2) !== 0);
  assert.equal(h.i32(b.ctx, 1), 0, 'the sync completed');
  assert.equal(h.i32(w, 1), 0, 'the write completed');
  ok(b, OP.close);                   // syncs only a dirty blob
  ok(b, OP.abandon);                 // a crash: nothing more is written
  assert.equal(loadStore(b), 0);
  const again = openBlob(b, id);
  assert.equal(h.core.hbs_blob_allocated(again), 1, 'the cluster claimed during the sync was persisted by the close');
  channel(b);
  new Uint8Array(h.memory.buffer, buf, 4096).fill(0);
  ok(b, OP.read, [buf, 2 * 256, 1]);
  assert.ok(same(h, buf, 4096, 4));
  ok(b, OP.close);
});

test('readv and writev: buffers that end inside an io unit, across a cluster boundary and over unallocated clusters', async () => {
  const { b, id } = await openThinBlob(4);
  const { h } = b;
  const iovs = h.scratch(17 * 8);
  const setIovs = (pairs: [number, number][]) => pairs.forEach(([base, len], i) => { h.setU32(iovs, base, i * 2); h.setU32(iovs, len, i * 2 + 1); });
  // Write units 255..257 (clusters 0 and 1) from three buffers split at 1000 and 6000 bytes.
  const data = h.scratch(3 * 4096);
  fill(h, data, 3 * 4096, 6);
  setIovs([[data, 1000], [data + 1000, 5000], [data + 6000, 3 * 4096 - 6000]]);
  ok(b, OP.writev, [iovs, 255, 3, 3]);
  const flat = h.scratch(3 * 4096);
  ok(b, OP.read, [flat, 255, 3]);
  assert.ok(same(h, flat, 3 * 4096, 6), 'what writev wrote reads back contiguously');
  // Read units 254..258 into four buffers: unit 254 and 258 read as zeroes (258: the unwritten rest of cluster 1).
  const out = h.scratch(5 * 4096);
  new Uint8Array(h.memory.buffer, out, 5 * 4096).fill(0xee);
  setIovs([[out, 4096 + 10], [out + 4106, 7], [out + 4113, 2 * 4096 - 17], [out + 3 * 4096, 2 * 4096]]);
  ok(b, OP.readv, [iovs, 254, 5, 4]);
  assert.ok(zeroes(h, out, 4096), 'unit 254 (never written) reads as zeroes');
  assert.ok(same(h, out + 4096, 3 * 4096, 6), 'units 255..257 come back in order across the buffers');
  assert.ok(zeroes(h, out + 4 * 4096, 4096), 'the rest of the claimed cluster reads as zeroes');
  // Errors: no buffers, too many, lengths that do not add up.
  assert.equal(op(b, OP.readv, [iovs, 0, 1, 0]), -22);
  assert.equal(op(b, OP.readv, [iovs, 0, 1, 17]), -22);
  setIovs([[out, 4096], [out + 4096, 100]]);
  assert.equal(op(b, OP.readv, [iovs, 0, 1, 2]), -22, 'the buffers hold more than the io units asked for');
  ok(b, OP.close);
});

test('xattrs, resize and delete; their limits are errors', async () => {
  const b = await setup();
  initStore(b);
  const store = b.h.u32(b.ctx, 3);
  const free0 = b.h.core.hbs_free_clusters(store);
  const id = ok(b, OP.create, [2, 0]);
  const blob = openBlob(b, id);
  const name = b.h.scratch(16), val = b.h.scratch(64);
  new TextEncoder().encodeInto('owner', new Uint8Array(b.h.memory.buffer, name, 16));
  new TextEncoder().encodeInto('wstor-test', new Uint8Array(b.h.memory.buffer, val, 64));
  assert.equal(op(b, OP.setXattr, [name, 5, val, 10]), 0);
  assert.equal(op(b, OP.setXattr, [name, 300, val, 10]), -22, 'a name over 255 bytes');
  const big = b.h.scratch(4096);
  assert.equal(op(b, OP.setXattr, [name, 5, big, 4000]), -22, 'a value over 3 KiB');
  assert.equal(op(b, OP.resize, [5]), 0);
  assert.equal(b.h.core.hbs_free_clusters(store), free0 - 5);
  assert.equal(op(b, OP.resize, [1]), 0);
  assert.equal(b.h.core.hbs_free_clusters(store), free0 - 1, 'shrinking gives clusters back');
  assert.equal(op(b, OP.resize, [1_000_000]), -28, 'ENOSPC');
  assert.equal(b.h.core.hbs_blob_clusters(blob), 1, 'a failed resize changes nothing');
  ok(b, OP.sync);
  ok(b, OP.close);
  ok(b, OP.unload);
  assert.equal(loadStore(b), 0);
  openBlob(b, id);
  const got = ok(b, OP.getXattr, [name, 5]);
  const len = Number(got >> 32n), ptr = Number(got & 0xffffffffn);
  assert.equal(new TextDecoder().decode(new Uint8Array(b.h.memory.buffer, ptr, len).slice()), 'wstor-test');
  assert.equal(op(b, OP.removeXattr, [name, 5]), 0);
  assert.equal(op(b, OP.getXattr, [name, 5]), -2);
  assert.equal(op(b, OP.deleteBlob, [], id), -16, 'an open blob cannot be deleted');
  ok(b, OP.close);
  ok(b, OP.deleteBlob, [], id);
  assert.equal(b.h.core.hbs_free_clusters(b.h.u32(b.ctx, 3)), free0, 'every cluster back');
  assert.equal(op(b, OP.open, [], id), -2, 'a deleted blob is gone');
  ok(b, OP.unload);
});

test('after a crash (no unload), load rebuilds the masks from the md pages', async () => {
  const b = await setup();
  initStore(b);
  const ids: bigint[] = [];
  for (let i = 0; i < 5; i++) ids.push(ok(b, OP.create, [i + 1, i % 2]));
  const blob = openBlob(b, ids[1]);
  channel(b);
  const buf = b.h.scratch(4096);
  fill(b.h, buf, 4096, 3);
  ok(b, OP.write, [buf, 100, 1]);
  ok(b, OP.sync);
  void blob;
  const freeBefore = b.h.core.hbs_free_clusters(b.h.u32(b.ctx, 3));
  ok(b, OP.abandon);
  assert.equal(loadStore(b), 0);
  assert.match(b.h.messages('notice').join('\n'), /not unloaded cleanly: recovering/);
  assert.match(b.h.messages('notice').join('\n'), /5 blobs recovered, 0 refused or damaged/);
  assert.equal(b.h.core.hbs_free_clusters(b.h.u32(b.ctx, 3)), freeBefore, 'the same clusters are used');
  openBlob(b, ids[1]);
  channel(b);
  new Uint8Array(b.h.memory.buffer, buf, 4096).fill(0);
  ok(b, OP.read, [buf, 100, 1]);
  assert.ok(same(b.h, buf, 4096, 3), 'the synced thin write is there');
  ok(b, OP.close);
  ok(b, OP.unload);
});

test('damage: a corrupt super block fails the load and says so; a corrupt md page costs only its blob', async () => {
  const b = await setup();
  initStore(b);
  const a = ok(b, OP.create, [1, 0]);
  const c = ok(b, OP.create, [1, 0]);
  const store = b.h.u32(b.ctx, 3);
  void store;
  ok(b, OP.abandon);
  // Corrupt blob a's md page through the bdev layer's raw write path: the md region starts after the
  // masks; the harness reads the geometry back from the super block.
  const sb = b.h.scratch(4096);
  const raw = b.h.core.hb_ctx_new();
  b.h.setU32(raw, b.bdev, W.bdev);
  /** One bdev-hooks op on the raw descriptor of the store's bdev, run to its end. */
  const rawOp = (code: number, fields: Partial<Record<keyof typeof W, number>> = {}) => {
    b.h.setU32(raw, code, W.op);
    for (const [k, v] of Object.entries(fields)) b.h.setU32(raw, v!, W[k as keyof typeof W]);
    b.h.core.hb_send_op(b.t, raw);
    b.h.pollAll();
  };
  const rawIo = (code: number, buf: number, off: number) => rawOp(code, { buf, off, len: 4096 });
  const rawOpen = () => { rawOp(BdevOp.open, { flag: 1 }); rawOp(BdevOp.getChannel); };
  const rawClose = () => { rawOp(BdevOp.putChannel); rawOp(BdevOp.close); };
  rawOpen();
  rawIo(BdevOp.read, sb, 0);
  const mdStart = new DataView(b.h.memory.buffer).getUint32(sb + 56, true);
  const page = b.h.scratch(4096);
  rawIo(BdevOp.read, page, (mdStart + Number(a & 0xffffffffn)) * 4096);
  new Uint8Array(b.h.memory.buffer, page + 40, 1)[0] ^= 0xff;
  rawIo(BdevOp.write, page, (mdStart + Number(a & 0xffffffffn)) * 4096);
  rawClose();
  assert.equal(loadStore(b), 0);
  assert.match(b.h.messages('error').join('\n'), new RegExp(`md page ${Number(a & 0xffffffffn)} is damaged \\(bad CRC\\)`));
  assert.match(b.h.messages('notice').join('\n'), /1 blobs recovered, 1 refused or damaged/);
  assert.equal(op(b, OP.open, [], a), -2, 'the damaged blob is not there');
  openBlob(b, c);
  ok(b, OP.close);
  ok(b, OP.abandon);
  // Now the super block: flip a byte, and the load refuses with a clear message.
  rawOpen();
  rawIo(BdevOp.read, sb, 0);
  new Uint8Array(b.h.memory.buffer, sb + 100, 1)[0] ^= 0xff;
  rawIo(BdevOp.write, sb, 0);
  rawClose();
  assert.equal(loadStore(b), -5);
  assert.match(b.h.messages('error').at(-1)!, /blobstore super block fails its CRC \(damaged\); not loaded/);
});

test('a bdev with no blobstore is refused with a message that says to init one', async () => {
  const b = await setup();
  assert.equal(loadStore(b), -22);
  assert.match(b.h.messages('error').at(-1)!, /holds no wstor blobstore \(no signature in block 0\): init one first/);
  void writeCoreString; void EVENT_REQUEST_DONE;
});

test('snapshots and clones: the origin reads through its snapshot, writes copy on write, clones share the snapshot', async () => {
  const b = await setup();
  initStore(b, 64 << 10);
  const store = b.h.u32(b.ctx, 3);
  const id = ok(b, OP.create, [4, 0]);
  const blob = openBlob(b, id);
  channel(b);
  const buf = b.h.scratch(4096 * 2);
  fill(b.h, buf, 8192, 11);
  ok(b, OP.write, [buf, 0, 2]);
  const used0 = b.h.core.hbs_used_clusters(store);
  const snap = ok(b, 17);                                    // snapshot
  assert.equal(b.h.core.hbs_used_clusters(store), used0, 'a snapshot takes over clusters, it copies none');
  assert.equal(b.h.core.hbs_blob_allocated(blob), 0, 'the origin owns nothing now');
  new Uint8Array(b.h.memory.buffer, buf, 8192).fill(0);
  ok(b, OP.read, [buf, 0, 2]);
  assert.ok(same(b.h, buf, 8192, 11), 'the origin reads its old data through the snapshot');
  fill(b.h, buf, 4096, 22);
  ok(b, OP.write, [buf, 0, 1]);                              // copy on write of cluster 0
  assert.equal(b.h.core.hbs_blob_allocated(blob), 1);
  ok(b, OP.read, [buf, 0, 2]);
  assert.ok(same(b.h, buf, 4096, 22), 'the new write');
  assert.ok(new Uint8Array(b.h.memory.buffer, buf + 4096, 4096).every((v, i) => v === (((i + 4096) * 7 + 11) & 0xff)),
    'the rest of the cluster was copied from the snapshot');
  ok(b, OP.close);
  // The snapshot still holds the data as it was.
  const s = openBlob(b, snap);
  channel(b);
  ok(b, OP.read, [buf, 0, 2]);
  assert.ok(same(b.h, buf, 8192, 11), 'the snapshot did not change');
  assert.equal(op(b, OP.write, [buf, 0, 1]), -1, 'a snapshot is read-only');
  void s;
  ok(b, OP.close);
  // A clone of the snapshot reads its data and writes its own.
  const clone = ok(b, 18, [], snap);
  openBlob(b, clone);
  channel(b);
  ok(b, OP.read, [buf, 0, 2]);
  assert.ok(same(b.h, buf, 8192, 11), 'the clone reads the snapshot');
  fill(b.h, buf, 4096, 33);
  ok(b, OP.write, [buf, 1, 1]);
  ok(b, OP.read, [buf, 1, 1]);
  assert.ok(same(b.h, buf, 4096, 33));
  ok(b, OP.close);
  assert.equal(op(b, OP.clone, [], id), -22, 'clones are made of snapshots only');
  assert.equal(op(b, OP.deleteBlob, [], snap), -16, 'a snapshot with two blobs reading through it stays');
  assert.match(b.h.messages('error').at(-1) ?? '', /is a snapshot with 2 clones: delete or inflate all but one/);
  ok(b, OP.unload);
  assert.equal(loadStore(b), 0);
  firstUnitIs(b, clone, buf, 11, 'after unload and load, the clone still reads through the snapshot');
  // With one clone left, the snapshot can go: the clone takes the clusters it had none of.
  ok(b, OP.deleteBlob, [], id);
  const storeNow = b.h.u32(b.ctx, 3);
  const usedBefore = b.h.core.hbs_used_clusters(storeNow);
  ok(b, OP.deleteBlob, [], snap);
  assert.equal(b.h.core.hbs_used_clusters(storeNow), usedBefore - 1, 'only the cluster the clone had of its own is freed');
  assert.equal(op(b, OP.open, [], snap), -2, 'the snapshot is gone');
  const c = openBlob(b, clone);
  assert.equal(b.h.core.hbs_blob_allocated(c), 4, 'the clone owns every cluster now');
  channel(b);
  ok(b, OP.read, [buf, 0, 2]);
  assert.ok(same(b.h, buf, 4096, 11) && same(b.h, buf + 4096, 4096, 33), 'and reads what it read before');
  ok(b, OP.close);
  ok(b, OP.abandon);
  assert.equal(loadStore(b), 0);
  assert.match(b.h.messages('notice').join('\n'), /1 blobs recovered, 0 refused/);
  assert.equal(b.h.core.hbs_used_clusters(b.h.u32(b.ctx, 3)), usedBefore - 1, 'recovery counts the same clusters used');
  openBlob(b, clone);
  channel(b);
  ok(b, OP.read, [buf, 0, 2]);
  assert.ok(same(b.h, buf, 4096, 11) && same(b.h, buf + 4096, 4096, 33), 'the same after a crash');
  ok(b, OP.close);
});

test('recovery keeps a snapshot caught between its last two syncs and finishes it, so it survives later changes to its origin', async () => {
  const b = await setup();
  initStore(b);
  const origin = ok(b, OP.create, [2, 0]);
  openBlob(b, origin);
  const snap = ok(b, 17);                                    // snapshot: origin now reads through it
  ok(b, OP.close);
  // As if the cut fell after the origin moved to the snapshot but before the snapshot lost its mark.
  const s = openBlob(b, snap);
  b.h.core.hbs_mark_snapshot(s, Number(origin));
  ok(b, OP.close);
  ok(b, OP.abandon);
  assert.equal(loadStore(b), 0);
  assert.doesNotMatch(b.h.messages('notice').join('\n'), /was interrupted/, 'its origin points at it: kept');
  assert.equal(b.h.core.hbs_snapshot_marked(openBlob(b, snap)), 0, 'recovery dropped the mark');
  ok(b, OP.close);
  // The origin goes; a later dirty load must not judge the snapshot against it again.
  const clone = ok(b, 18, [], snap);
  ok(b, OP.deleteBlob, [], origin);
  ok(b, OP.abandon);
  assert.equal(loadStore(b), 0);
  assert.doesNotMatch(b.h.messages('notice').join('\n'), /was interrupted/);
  openBlob(b, clone);
  ok(b, OP.close);
  openBlob(b, snap);
  ok(b, OP.close);
  ok(b, OP.unload);
});

test('a snapshot left marked (its unmarking sync failed) that a clone reads through survives its origin\'s delete and a crash', async () => {
  const { b, id: origin, buf } = await openBlobWithUnit(2, 0, 21);
  const snap = ok(b, OP.snapshot);
  ok(b, OP.close);
  const clone = ok(b, OP.clone, [], snap);
  ok(b, OP.deleteBlob, [], origin);
  // As if the snapshot's unmarking sync had failed and nothing synced it since: the mark names an
  // origin that no longer reads through it, but the clone does.
  b.h.core.hbs_mark_snapshot(openBlob(b, snap), Number(origin));
  ok(b, OP.close);
  ok(b, OP.abandon);
  assert.equal(loadStore(b), 0);
  assert.doesNotMatch(b.h.messages('notice').join('\n'), /was interrupted/, 'kept: the clone reads through it');
  firstUnitIs(b, clone, buf, 21, 'the clone still reads the snapshot\'s data');
  ok(b, OP.unload);
});

// ---- the clone index (assembly/blob/clone-index.ts): parent -> clones, in memory, exact against the disk ----

/** What the store's clone index says: blob -> [parent (0n: none), blobs reading through it]. */
function indexOf(b: Bs, ids: bigint[]): Record<string, [bigint, number]> {
  const store = b.h.u32(b.ctx, 3);
  const lo = (id: bigint) => Number(id & 0xffffffffn), hi = (id: bigint) => Number(id >> 32n);
  return Object.fromEntries(ids.map((id) => [String(id),
    [BigInt(b.h.core.hbs_clone_parent(store, lo(id), hi(id))), b.h.core.hbs_clone_count(store, lo(id), hi(id))]]));
}

/** The index is what every md page on disk says (rebuilt from disk and compared, in the core). */
function indexMatchesDisk(b: Bs, when: string) {
  const rc = op(b, OP.verifyIndex);
  assert.equal(rc, 0, `${when}: the clone index differs from the disk in ${value(b)} places: ${b.h.messages('error').slice(-4).join('; ')}`);
}

test('clone index: exact after snapshot, clone, decouple, inflate and delete, after a clean load and after recovery', async () => {
  const b = await setup();
  initStore(b);
  const a = ok(b, OP.create, [4, 1]);
  const plain = ok(b, OP.create, [1, 0]);
  openBlob(b, a);
  const s1 = ok(b, OP.snapshot);
  const all = [a, plain, s1];
  assert.deepEqual(indexOf(b, all), { [String(a)]: [s1, 0], [String(plain)]: [0n, 0], [String(s1)]: [0n, 1] }, 'snapshot: the origin reads through it');
  indexMatchesDisk(b, 'after a snapshot');
  const s2 = ok(b, OP.snapshot);
  all.push(s2);
  assert.deepEqual(indexOf(b, [a, s1, s2]), { [String(a)]: [s2, 0], [String(s1)]: [0n, 1], [String(s2)]: [s1, 1] },
    'a second snapshot takes the origin\'s old parent, the origin reads through it');
  const c = ok(b, OP.clone, [], s2);
  all.push(c);
  assert.deepEqual(indexOf(b, [c, s2]), { [String(c)]: [s2, 0], [String(s2)]: [s1, 2] }, 'clone: one more reads through the snapshot');
  indexMatchesDisk(b, 'after a clone');
  ok(b, OP.decouple);
  assert.deepEqual(indexOf(b, [a, s1, s2]), { [String(a)]: [s1, 0], [String(s1)]: [0n, 2], [String(s2)]: [s1, 1] }, 'decouple: the origin skips its parent');
  ok(b, OP.inflate);
  assert.deepEqual(indexOf(b, [a, s1]), { [String(a)]: [0n, 0], [String(s1)]: [0n, 1] }, 'inflate: the origin reads through nothing');
  indexMatchesDisk(b, 'after decouple and inflate');
  ok(b, OP.close);
  const before = indexOf(b, all);
  ok(b, OP.unload);
  assert.equal(loadStore(b), 0);
  assert.deepEqual(indexOf(b, all), before, 'a clean load rebuilds the same index');
  indexMatchesDisk(b, 'after a clean load');

  ok(b, OP.deleteBlob, [], s2);
  assert.deepEqual(indexOf(b, [c, s1, s2]), { [String(c)]: [s1, 0], [String(s1)]: [0n, 1], [String(s2)]: [0n, 0] },
    'snapshot delete: its clone reads through its parent, it is gone');
  indexMatchesDisk(b, 'after a snapshot delete');
  ok(b, OP.deleteBlob, [], plain);
  const c2 = ok(b, OP.clone, [], s1);
  all.push(c2);
  assert.equal(indexOf(b, [s1])[String(s1)][1], 2);
  assert.equal(op(b, OP.deleteBlob, [], s1), -16, 'two clones: EBUSY');
  assert.match(b.h.messages('error').join('\n'), /is a snapshot with 2 clones: delete or inflate all but one of them first/);
  ok(b, OP.deleteBlob, [], c2);
  assert.equal(indexOf(b, [s1])[String(s1)][1], 1, 'a deleted clone no longer reads through its snapshot');
  const crashed = indexOf(b, all);
  ok(b, OP.abandon);
  assert.equal(loadStore(b), 0);
  assert.match(b.h.messages('notice').join('\n'), /not unloaded cleanly: recovering/);
  assert.deepEqual(indexOf(b, all), crashed, 'recovery rebuilds the same index');
  indexMatchesDisk(b, 'after recovery');
  ok(b, OP.deleteBlob, [], s1);
  assert.deepEqual(indexOf(b, [c, s1]), { [String(c)]: [0n, 0], [String(s1)]: [0n, 0] }, 'the last snapshot went into its clone');
  indexMatchesDisk(b, 'at the end');
  ok(b, OP.unload);
});

test('clone index: deleting a snapshot finds its clone in memory, without reading every md page', async () => {
  const b = await setup();
  initStore(b, 64 << 10);                                     // 1,024 md pages
  const origin = ok(b, OP.create, [2, 1]);
  openBlob(b, origin);
  const snap = ok(b, OP.snapshot);
  ok(b, OP.close);
  for (let i = 0; i < 64; i++) ok(b, OP.create, [0, 1]);       // blobs a scan would have had to read
  const stats = b.h.scratch(b.h.core.bdev_stats_bytes());
  const readBytes = () => { b.h.core.bdev_stats(b.bdev, stats); return Number(new DataView(b.h.memory.buffer).getBigUint64(stats + 6 * 8, true)); };
  const before = readBytes();
  ok(b, OP.deleteBlob, [], snap);
  const read = readBytes() - before;
  assert.ok(read <= 8 * 4096, `the delete read ${read / 4096} md pages (its clone's, not all 66 blobs')`);
  assert.deepEqual(indexOf(b, [origin, snap]), { [String(origin)]: [0n, 0], [String(snap)]: [0n, 0] });
  indexMatchesDisk(b, 'after the delete');
  ok(b, OP.unload);
});

// ---- blob md allocations refused (assembly/blob/md.ts's allocator seam, hbs_md_allocs_allow) ----

const ENOMEM = -12;

/**
 * Run `run` with md.ts allowed 0, 1, 2... allocations until it succeeds. Each refusal must be ENOMEM
 * and leave the heap and the store's clusters as they were. Returns the md allocations it needed.
 */
function refusedAtEachMdAllocation(b: Bs, what: string, run: () => number, check: (n: number) => void = () => {}): number {
  const store = () => b.h.u32(b.ctx, 3);
  const settle = () => b.h.pollAll();   // deferred releases (io channels) run
  for (let n = 0; n < 200; n++) {
    settle();
    const live = b.h.core.heap_live_blocks();
    const freeClusters = store() === 0 ? 0 : b.h.core.hbs_free_clusters(store());
    b.h.core.hbs_md_allocs_allow(n);
    const rc = run();
    const refused = b.h.core.hbs_md_allocs_refused();
    b.h.core.hbs_md_allocs_allow(-1);
    if (rc === 0 && refused === 0) return n;
    settle();
    assert.equal(rc, ENOMEM, `${what}, md allocation ${n} refused: ENOMEM, not ${rc} (${b.h.messages('error').slice(-2).join('; ')})`);
    assert.equal(b.h.core.heap_live_blocks(), live, `${what}, md allocation ${n} refused: every block given back`);
    if (store() !== 0) assert.equal(b.h.core.hbs_free_clusters(store()), freeClusters, `${what}, md allocation ${n} refused: no cluster kept`);
    check(n);
  }
  assert.fail(`${what} never succeeded`);
}

function encodeInto(b: Bs, text: string, bytes = text.length): number {
  const p = b.h.scratch(bytes);
  new TextEncoder().encodeInto(text, new Uint8Array(b.h.memory.buffer, p, bytes));
  return p;
}

test('blob md without memory: create, open, xattr set, snapshot and clone fail with ENOMEM at each md allocation, give back all they took, then work', async () => {
  const b = await setup();
  initStore(b);
  const name = encodeInto(b, 'owner'), val = encodeInto(b, 'wstor-test'), other = encodeInto(b, 'a longer replacement');
  const id = ok(b, OP.create, [2, 0]);
  openBlob(b, id);
  channel(b);
  const buf = b.h.scratch(4096);
  fill(b.h, buf, 4096, 7);
  ok(b, OP.write, [buf, 0, 1]);
  ok(b, OP.setXattr, [name, 5, val, 10]);
  ok(b, OP.close);
  // Each md.ts entry point: mdNew, its map, then two blocks an xattr.
  assert.equal(refusedAtEachMdAllocation(b, 'create', () => op(b, OP.create, [3, 0])), 2);
  const opened = refusedAtEachMdAllocation(b, 'open', () => op(b, OP.open, [], id), (n) => {
    if (n === 0) assert.match(b.h.messages('error').at(-1)!, /blob \d+: no memory to open it/);
    if (n >= 2) assert.match(b.h.messages('error').at(-1)!, /no memory to read its md page .*no memory for its cluster map or xattrs/);
  });
  assert.equal(opened, 4, 'the md, its map, its xattr');
  b.h.setU32(b.ctx, Number(value(b)), 4);
  channel(b);
  for (const n of [0, 1]) {
    b.h.core.hbs_md_allocs_allow(n);
    assert.equal(op(b, OP.setXattr, [name, 5, other, 20]), ENOMEM);
    b.h.core.hbs_md_allocs_allow(-1);
    assert.match(b.h.messages('error').at(-1)!, /no memory for a 25-byte xattr \(its old value, if any, is kept\)/);
    const got = ok(b, OP.getXattr, [name, 5]);
    assert.equal(new TextDecoder().decode(new Uint8Array(b.h.memory.buffer, Number(got & 0xffffffffn), Number(got >> 32n)).slice()), 'wstor-test');
  }
  assert.equal(refusedAtEachMdAllocation(b, 'snapshot', () => op(b, OP.snapshot)), 4, 'the md, its map, its mark');
  const snap = value(b);
  new Uint8Array(b.h.memory.buffer, buf, 4096).fill(0);
  ok(b, OP.read, [buf, 0, 1]);
  assert.ok(same(b.h, buf, 4096, 7), 'the origin reads its data through the snapshot');
  assert.equal(refusedAtEachMdAllocation(b, 'clone', () => op(b, OP.clone, [], snap)), 2);
  const clone = value(b);
  ok(b, OP.close);
  indexMatchesDisk(b, 'after refused and done snapshots and clones');
  ok(b, OP.unload);
  assert.equal(loadStore(b), 0);
  assert.deepEqual(indexOf(b, [id, snap, clone]), { [String(id)]: [snap, 0], [String(snap)]: [0n, 2], [String(clone)]: [snap, 0] });
  firstUnitIs(b, clone, buf, 7, 'the clone reads the snapshot');
  // A snapshot with one clone left goes into it: its open, the clone's, the mark.
  ok(b, OP.deleteBlob, [], clone);
  assert.ok(refusedAtEachMdAllocation(b, 'snapshot delete', () => op(b, OP.deleteBlob, [], snap)) >= 6);
  assert.ok(b.h.messages('error').some((m) => /deleting snapshot .* no memory to mark it with its clone/.test(m)), 'the mark was refused too');
  assert.deepEqual(indexOf(b, [id, snap]), { [String(id)]: [0n, 0], [String(snap)]: [0n, 0] });
  firstUnitIs(b, id, buf, 7, 'the origin took its data back from the deleted snapshot');
  indexMatchesDisk(b, 'after refused and done snapshot deletes');
  ok(b, OP.unload);
});

test('load without memory for blob md: ENOMEM (not a damaged blob) at each md allocation, clean or recovering; then every blob is there', async () => {
  const b = await setup();
  initStore(b);
  const name = encodeInto(b, 'big'), big = b.h.scratch(3000);
  const single = ok(b, OP.create, [1, 0]);
  const chained = ok(b, OP.create, [2, 1]);
  openBlob(b, chained);
  for (let i = 0; i < 3; i++) {
    new Uint8Array(b.h.memory.buffer, name + 3, 1)[0] = 48 + i;     // big0, big1, big2: one md page each
    ok(b, OP.setXattr, [name, 4, big, 3000]);
  }
  const snap = ok(b, OP.snapshot);                                   // the chained blob reads through it
  ok(b, OP.close);
  const origin = ok(b, OP.create, [1, 0]);
  openBlob(b, origin);
  const caught = ok(b, OP.snapshot);                                 // to be caught mid-creation below
  ok(b, OP.close);
  const used = b.h.core.hbs_used_clusters(b.h.u32(b.ctx, 3));
  ok(b, OP.unload);
  const forget = () => b.h.setU32(b.ctx, 0, 3);                    // no store until a load succeeds
  const loads = (what: string) => refusedAtEachMdAllocation(b, what, () => loadStore(b), () => {
    const errors = b.h.messages('error');
    assert.ok(errors.some((m) => /no memory/.test(m)), `${what}: said why`);
    assert.ok(!errors.some((m) => /damaged|skipped/.test(m)), `${what}: no blob called damaged or skipped`);
  });
  forget();
  assert.ok(loads('clean load') > 0, 'the clone index reads each first md page');
  assert.equal(b.h.core.hbs_used_clusters(b.h.u32(b.ctx, 3)), used);
  // As if the cut fell between a snapshot's last two syncs: recovery keeps its md for a third pass,
  // in a list of its own (the chained blob's head waits in another, for the second).
  b.h.core.hbs_mark_snapshot(openBlob(b, caught), Number(origin));
  ok(b, OP.close);
  ok(b, OP.abandon);
  forget();
  assert.ok(loads('recovery') > 0);
  assert.match(b.h.messages('notice').join('\n'), /5 blobs recovered, 0 refused or damaged/);
  assert.equal(b.h.core.hbs_used_clusters(b.h.u32(b.ctx, 3)), used, 'recovery claimed the same clusters');
  assert.deepEqual(indexOf(b, [single, chained, snap, origin, caught]), { [String(single)]: [0n, 0], [String(chained)]: [snap, 0],
    [String(snap)]: [0n, 1], [String(origin)]: [caught, 0], [String(caught)]: [0n, 1] });
  assert.equal(b.h.core.hbs_snapshot_marked(openBlob(b, caught)), 0, 'recovery finished the snapshot');
  ok(b, OP.close);
  indexMatchesDisk(b, 'after recovery');
  ok(b, OP.unload);
});
