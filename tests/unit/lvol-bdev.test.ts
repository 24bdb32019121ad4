// The lvol bdev (assembly/lvol/bdev.ts) through the deterministic harness: a store on a malloc bdev,
// a thin blob, an lvol bdev over it and a client on an I/O thread. I/O through the bdev layer, and the
// flush path step by step: the device flush, the md sync it joins on the md thread, and its answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, client, request, name, bytes, OP, W, IO, type Env } from '../helpers/bdev-env.js';
import { EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import { BlobOp as BS } from '../helpers/opcodes.js';

const BLOCK = 4096, CLUSTER = 64 << 10, UNITS_PER_CLUSTER = CLUSTER / BLOCK, CLUSTERS = 8;
const ENODEV = -19;
// blob-hooks' ctx: words 0 op, 1 rc, 2 completions, 3 store, 4 blob, 5/6 id, 7.. args, 11/12 value

interface Lvol { e: Env; base: number; blob: number; bs: number; id: number }

/** Run blob op `code` on the md (app) thread until it completes; returns its value (low word). */
function bsOp(e: Env, ctx: number, code: number, args: number[] = []): number {
  e.h.setU32(ctx, code, 0);
  args.forEach((v, i) => e.h.setU32(ctx, v >>> 0, 7 + i));
  const before = e.h.u32(ctx, 2);
  e.h.core.hbs_send(e.app, ctx);
  e.h.pollUntil(`blob op ${code}`, () => e.h.u32(ctx, 2) !== before);
  assert.equal(e.h.i32(ctx, 1), 0, `blob op ${code}: ${e.h.messages('error').join('; ')}`);
  return e.h.u32(ctx, 11);
}

/** A store on a malloc bdev, a thin blob of CLUSTERS clusters, and an lvol bdev over it. */
async function lvol(): Promise<Lvol> {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 1024);
  const bs = e.h.core.hbs_ctx_new();
  e.h.setU32(bs, bsOp(e, bs, BS.init, [base, CLUSTER, 0]), 3);
  bsOp(e, bs, BS.create, [CLUSTERS, 1]);
  e.h.setU32(bs, e.h.u32(bs, 11), 5);           // the new blob's id (both words) for the open
  e.h.setU32(bs, e.h.u32(bs, 12), 6);
  const blob = bsOp(e, bs, BS.open);
  e.h.setU32(bs, blob, 4);
  const id = request(e, (r) => e.h.core.bdev_lvol_create(r, name(e, 'lvs/lvol0'), blob));
  return { e, base, blob, bs, id };
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

/** Completed ops of `type` on bdev `id` (its statistics). */
function ops(e: Env, id: number, type: number): number {
  const out = e.h.scratch(e.h.core.bdev_stats_bytes());
  assert.equal(e.h.core.bdev_stats(id, out), 0);
  return Number(new DataView(e.h.memory.buffer).getBigUint64(out + 8 * type, true));
}

test('reads, writes, unmap and write_zeroes through the bdev layer reach the blob', async () => {
  const { e, id, blob } = await lvol();
  const c = client(e, id);
  const buf = e.h.scratch(2 * BLOCK);
  bytes(e.h, buf, 2 * BLOCK).fill(0xcc);
  assert.equal(c.run(OP.read, { buf, off: 3 * CLUSTER, len: 2 * BLOCK }), 0);
  assert.ok(c.lastOk() && bytes(e.h, buf, 2 * BLOCK).every((x) => x === 0), 'an unwritten thin cluster reads as zeroes');
  // Two blocks across a cluster boundary: two clusters claimed by one write.
  const data = pattern(2 * BLOCK, 1);
  bytes(e.h, buf, 2 * BLOCK).set(data);
  assert.equal(c.run(OP.write, { buf, off: 2 * CLUSTER - BLOCK, len: 2 * BLOCK }), 0);
  assert.ok(c.lastOk(), 'the write succeeded');
  assert.equal(e.h.core.hbs_blob_allocated(blob), 2, 'two clusters claimed');
  bytes(e.h, buf, 2 * BLOCK).fill(0);
  assert.equal(c.run(OP.read, { buf, off: 2 * CLUSTER - BLOCK, len: 2 * BLOCK }), 0);
  assert.deepEqual(bytes(e.h, buf, 2 * BLOCK), data, 'read back');
  for (const op of [OP.writeZeroes, OP.unmap]) {
    bytes(e.h, buf, 2 * BLOCK).set(data);
    assert.equal(c.run(OP.write, { buf, off: 2 * CLUSTER - BLOCK, len: 2 * BLOCK }), 0);
    assert.equal(c.run(op, { off: 2 * CLUSTER, len: BLOCK }), 0);
    assert.ok(c.lastOk());
    assert.equal(c.run(OP.read, { buf, off: 2 * CLUSTER - BLOCK, len: 2 * BLOCK }), 0);
    assert.deepEqual(bytes(e.h, buf, BLOCK), data.subarray(0, BLOCK), 'the block before is kept');
    assert.ok(bytes(e.h, buf + BLOCK, BLOCK).every((x) => x === 0), `op ${op} zeroed its block`);
  }
  assert.equal(c.run(OP.read, { buf, off: CLUSTERS * CLUSTER, len: BLOCK }), -22, 'past the end: refused by the bdev layer');
  assert.deepEqual(e.h.messages('error'), []);
});

/** Write one block at the start of cluster `cluster` (a claim when it is new), waiting for it. */
function writeCluster(l: Lvol, c: ReturnType<typeof client>, cluster: number): void {
  const buf = l.e.h.scratch(BLOCK);
  bytes(l.e.h, buf, BLOCK).set(pattern(BLOCK, cluster));
  assert.equal(c.run(OP.write, { buf, off: cluster * CLUSTER, len: BLOCK }), 0);
  assert.ok(c.lastOk(), `the write to cluster ${cluster} succeeded`);
}

/** Poll only the client's thread (never the md thread), bounded; whether its op completed. */
function pollIoThreadOnly(l: Lvol, c: ReturnType<typeof client>, before: number): boolean {
  for (let i = 0; i < 100 && l.e.h.u32(c.ctx, W.done) === before; i++) l.e.h.core.h_poll(l.e.thread, 0);
  return l.e.h.u32(c.ctx, W.done) !== before;
}

/** How many writes to the store's device one md sync of the blob takes (a flush after one claim). */
function writesPerSync(l: Lvol, c: ReturnType<typeof client>, cluster: number): number {
  writeCluster(l, c, cluster);
  const before = ops(l.e, l.base, IO.write);
  assert.equal(c.run(OP.flush), 0);
  assert.ok(c.lastOk());
  const n = ops(l.e, l.base, IO.write) - before;
  assert.ok(n > 0, 'the flush synced the md');
  return n;
}

test('a flush with no claim since the last sync is answered on its own thread; one after a claim waits for the md sync', async () => {
  const l = await lvol();
  const c = client(l.e, l.id);
  writeCluster(l, c, 0);
  assert.equal(l.e.h.core.hbs_blob_dirty(l.blob), 1, 'the claim made the blob dirty');
  assert.equal(c.run(OP.flush), 0);
  assert.ok(c.lastOk());
  assert.equal(l.e.h.core.hbs_blob_dirty(l.blob), 0, 'the flush synced the claim');

  writeCluster(l, c, 0);                         // an allocated cluster: no claim
  let before = l.e.h.u32(c.ctx, W.done);
  const writes = ops(l.e, l.base, IO.write);
  assert.equal(c.run(OP.flush, {}, false), 0);
  assert.ok(pollIoThreadOnly(l, c, before), 'answered without the md thread');
  assert.ok(c.lastOk());
  assert.equal(l.e.h.core.h_thread_pending(l.e.app), 0, 'nothing was sent to the md thread');
  assert.equal(ops(l.e, l.base, IO.write), writes, 'no md written');
  assert.equal(ops(l.e, l.base, IO.flush) > 0, true, 'the device was flushed');

  writeCluster(l, c, 1);                         // a claim
  before = l.e.h.u32(c.ctx, W.done);
  assert.equal(c.run(OP.flush, {}, false), 0);
  assert.ok(!pollIoThreadOnly(l, c, before), 'a flush after a claim is not answered before the md sync');
  assert.equal(l.e.h.core.h_thread_pending(l.e.app), 1, 'it waits for the md thread');
  l.e.h.pollAll();
  assert.ok(l.e.h.u32(c.ctx, W.done) !== before && c.lastOk(), 'answered once the md thread synced');
  assert.equal(l.e.h.core.hbs_blob_dirty(l.blob), 0);
});

// Flushes that reach the md thread while no sync runs start one at once; those that come while it
// runs wait (their claims may be after its pages were encoded) and share the next.
test('flushes arriving while a sync runs wait for the next sync, and share it', async () => {
  const l = await lvol();
  const c1 = client(l.e, l.id);
  const c2 = client(l.e, l.id);
  const c3 = client({ ...l.e, thread: l.e.h.core.h_thread_create(2, -1, 1024) }, l.id);
  const single = writesPerSync(l, c1, 0);
  writeCluster(l, c1, 1);
  const writes = ops(l.e, l.base, IO.write);
  const before = [c1, c2, c3].map((c) => l.e.h.u32(c.ctx, W.done));
  assert.equal(c1.run(OP.flush, {}, false), 0);
  l.e.h.pollUntil('the first flush\'s sync to start', () => l.e.h.core.hbs_blob_syncing(l.blob) === 1);
  assert.equal(c2.run(OP.flush, {}, false), 0);
  assert.equal(c3.run(OP.flush, {}, false), 0);
  l.e.h.pollAll();
  assert.deepEqual([c1, c2, c3].map((c) => l.e.h.u32(c.ctx, W.done)), before.map((n) => n + 1), 'every flush answered once');
  assert.ok([c1, c2, c3].every((c) => c.lastOk()), 'and succeeded');
  assert.equal(ops(l.e, l.base, IO.write) - writes, 2 * single,
    'two syncs: the one running when the later flushes came did not answer them, and one answered both');
  assert.equal(l.e.h.core.hbs_blob_dirty(l.blob), 0);
});

test('a flush that finds another sync of the blob running follows it, and succeeds', async () => {
  const l = await lvol();
  const c = client(l.e, l.id);
  writeCluster(l, c, 0);
  // Someone else's sync (an xattr change's): started on the md thread, its md write not yet done.
  l.e.h.setU32(l.bs, BS.sync, 0);
  const syncs = l.e.h.u32(l.bs, 2);
  l.e.h.core.hbs_send(l.e.app, l.bs);
  l.e.h.core.h_poll(l.e.app, 1);
  assert.equal(l.e.h.core.hbs_blob_syncing(l.blob), 1, 'the other sync is running');
  const before = l.e.h.u32(c.ctx, W.done);
  assert.equal(c.run(OP.flush, {}, false), 0);
  l.e.h.pollAll();
  assert.equal(l.e.h.u32(l.bs, 2), syncs + 1, 'the other sync completed');
  assert.equal(l.e.h.i32(l.bs, 1), 0);
  assert.ok(l.e.h.u32(c.ctx, W.done) === before + 1 && c.lastOk(), 'the flush succeeded after it');
  assert.deepEqual(l.e.h.messages('error'), []);
});

test('a removed lvol: the I/O in flight completes, new I/O is refused, it goes once closed and leaves nothing behind', async () => {
  const l = await lvol();
  const { e } = l;
  const lvolName = name(e, 'lvs/again');        // one name for every cycle: each bdev is gone before the next
  const buf = e.h.scratch(BLOCK);
  const cycle = (id: number) => {
    const c = client(e, id);
    bytes(e.h, buf, BLOCK).set(pattern(BLOCK, 4));
    const before = e.h.u32(c.ctx, W.done);
    assert.equal(c.run(OP.write, { buf, off: 0, len: BLOCK }, false), 0, 'a write in flight');
    const req = 1000 + e.h.events.length;
    assert.equal(e.h.core.bdev_delete(req, id), 0);
    e.h.pollAll();
    assert.ok(e.h.u32(c.ctx, W.done) === before + 1 && c.lastOk(), 'the write in flight completed');
    assert.equal(e.h.u32(c.ctx, W.removeEvents), 1, 'the descriptor got a REMOVE event');
    assert.equal(c.run(OP.read, { buf, off: 0, len: BLOCK }), ENODEV, 'new I/O refused');
    assert.equal(c.run(OP.flush), ENODEV, 'a flush too');
    assert.equal(e.h.core.hb_exists(id), 1, 'still there while open');
    c.run(OP.putChannel);
    assert.equal(c.run(OP.close), 0);
    e.h.pollAll();
    assert.ok(e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req && x.b === 0), 'the delete completed');
    assert.equal(e.h.core.hb_exists(id), 0);
    e.h.core.wstor_free(c.ctx);
  };
  cycle(l.id);
  cycle(request(e, (r) => e.h.core.bdev_lvol_create(r, lvolName, l.blob)));
  const live = e.h.core.heap_live_blocks();
  cycle(request(e, (r) => e.h.core.bdev_lvol_create(r, lvolName, l.blob)));
  assert.equal(e.h.core.heap_live_blocks(), live, 'a create-remove cycle keeps no block (the lvol, its channels, its io_device)');
  assert.deepEqual(e.h.messages('error'), [], 'no io_device or channel left registered');
});
