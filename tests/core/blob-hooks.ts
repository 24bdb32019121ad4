// Test hooks for the Blobstore (tests/unit/blobstore.test.ts): one message runs an operation
// described by a context block on a harness thread (the md thread); results land in the block.
import { heapAllocZeroed } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import { bdevById, Bdev } from "../../assembly/bdev";
import {
  Store, Blob, storeInit, storeLoad, storeUnload, storeAbandon, storeGetChannel, storeFreeClusters, blobCreate, blobOpen,
  blobClose, blobSync, blobResize, blobDelete, blobSetXattr, blobGetXattr, blobRemoveXattr, blobClusters,
  blobAllocatedClusters, xattrValueBytes, blobIo, blobOpv, blobSnapshot, blobClone, blobInflate, blobDecouple,
  blobFreeze, blobUnfreeze, cloneIndexCount, cloneIndexParent, cloneIndexVerify,
} from "../../assembly/blob";

// ctx words: 0 op, 1 rc, 2 completions, 3 store, 4 blob, 5 id lo, 6 id hi, 7..10 args, 11 value lo,
// 12 value hi, 13 channel, 14 a bdev id to watch (0: none), 15 whether that bdev was claimed when the
// op completed
// The operations are declared with the tests' (tests/helpers/opcodes.ts).
import { BlobOp as Op } from "../helpers/opcodes";

function w(ctx: usize, i: u32): u32 { return load<u32>(ctx + (<usize>i << 2)); }
function set(ctx: usize, i: u32, v: u32): void { store<u32>(ctx + (<usize>i << 2), v); }
function id(ctx: usize): u64 { return (<u64>w(ctx, 6) << 32) | <u64>w(ctx, 5); }

function done(ctx: usize, rc: i32, value: u64): void {
  const watched: usize = w(ctx, 14) == 0 ? <usize>0 : bdevById(w(ctx, 14));
  if (watched != 0) set(ctx, 15, changetype<Bdev>(watched).claimed != 0 ? 1 : 0);
  set(ctx, 1, <u32>rc);
  set(ctx, 11, <u32>value);
  set(ctx, 12, <u32>(value >> 32));
  set(ctx, 2, w(ctx, 2) + 1);
}
function ioDone(ctx: usize, rc: i32): void { done(ctx, rc, 0); }

function opMsg(ctx: usize): void {
  const s = changetype<Store>(<usize>w(ctx, 3));
  const b = changetype<Blob>(<usize>w(ctx, 4));
  let rc: i32 = 0;
  const op = <i32>w(ctx, 0);
  switch (op) {
    case Op.init: storeInit(w(ctx, 7), w(ctx, 8), w(ctx, 9), done, ctx); return;
    case Op.load: storeLoad(w(ctx, 7), done, ctx); return;
    case Op.loadReadOnly: storeLoad(w(ctx, 7), done, ctx, false, true); return;
    case Op.unload: storeUnload(s, done, ctx); return;
    case Op.create: blobCreate(s, <u64>w(ctx, 7), w(ctx, 8) != 0, done, ctx); return;
    case Op.open: blobOpen(s, id(ctx), done, ctx); return;
    case Op.close: blobClose(b, done, ctx); return;
    case Op.sync: blobSync(b, done, ctx); return;
    case Op.deleteBlob: blobDelete(s, id(ctx), done, ctx); return;
    case Op.snapshot: blobSnapshot(b, done, ctx); return;
    case Op.clone: blobClone(s, id(ctx), done, ctx); return;
    case Op.inflate: blobInflate(b, done, ctx); return;
    case Op.decouple: blobDecouple(b, done, ctx); return;
    case Op.freeze: blobFreeze(b, done, ctx); return;
    case Op.unfreeze: blobUnfreeze(b); break;
    case Op.verifyIndex: cloneIndexVerify(s, done, ctx); return;     // value: differences found
    case Op.resize: blobResize(b, <u64>w(ctx, 7), done, ctx); return;
    case Op.setXattr: rc = blobSetXattr(b, w(ctx, 7), w(ctx, 8), w(ctx, 9), w(ctx, 10), false); break;
    case Op.removeXattr: rc = blobRemoveXattr(b, w(ctx, 7), w(ctx, 8), false); break;
    case Op.getXattr: {
      const v = blobGetXattr(b, w(ctx, 7), w(ctx, 8), false);
      done(ctx, v == 0 ? -2 : 0, v == 0 ? 0 : (<u64>xattrValueBytes << 32) | <u64>v);
      return;
    }
    case Op.channel: set(ctx, 13, <u32>storeGetChannel(s)); break;
    case Op.putChannel: putIoChannel(<usize>w(ctx, 13)); set(ctx, 13, 0); break;
    case Op.read:
    case Op.write: {
      rc = blobIo(b, <usize>w(ctx, 13), op == Op.write, w(ctx, 7), <u64>w(ctx, 8), <u64>w(ctx, 9), ioDone, ctx);
      if (rc == 0) return;
      break;
    }
    case Op.readv:
    case Op.writev: {                       // 7 iovs, 8 offset, 9 units, 10 iovcnt
      rc = blobOpv(b, <usize>w(ctx, 13), op == Op.writev, w(ctx, 7), w(ctx, 10), <u64>w(ctx, 8), <u64>w(ctx, 9), ioDone, ctx);
      if (rc == 0) return;
      break;
    }
    case Op.abandon: storeAbandon(s); break;
    default: rc = -22;
  }
  done(ctx, rc, 0);
}

export function hbs_send(thread: usize, ctx: usize): void { sendMsg(thread, opMsg, ctx); }
export function hbs_ctx_new(): usize { return heapAllocZeroed(64); }
export function hbs_free_clusters(store: usize): f64 { return <f64>storeFreeClusters(changetype<Store>(store)); }
export function hbs_blob_clusters(blob: usize): f64 { return <f64>blobClusters(changetype<Blob>(blob)); }
export function hbs_blob_allocated(blob: usize): f64 { return <f64>blobAllocatedClusters(changetype<Blob>(blob)); }

export function hbs_used_clusters(store: usize): f64 { const s = changetype<Store>(store); return <f64>(s.totalClusters - s.freeClusters); }
/** The clone index: blobs reading through blob (hi:lo), and the blob it reads through (0: none). */
export function hbs_clone_count(store: usize, lo: u32, hi: u32): u32 { return cloneIndexCount(changetype<Store>(store), (<u64>hi << 32) | <u64>lo); }
export function hbs_clone_parent(store: usize, lo: u32, hi: u32): f64 { return <f64>cloneIndexParent(changetype<Store>(store), (<u64>hi << 32) | <u64>lo); }
export function hbs_first_data_cluster(store: usize): f64 { return <f64>changetype<Store>(store).firstDataCluster; }
/** A malloc bdev's bytes (its module state is the data): tests forge and corrupt images in place. */
export function hbs_bdev_data(bdevId: u32): usize { return changetype<Bdev>(bdevById(bdevId)).ctx; }

// ---- blob I/O from threads on real reactors (tests/integration/blobstore-reactors.test.ts) ----
import { threadCreateOn, threadExit, putIoChannel } from "../../assembly/thread";
import { host_event, heapAlloc, heapFree } from "../../assembly/runtime";
import { EVENT_TEST } from "../../assembly/runtime";

@unmanaged class BlobWorker {
  store: usize; blob: usize; channel: usize; buf: usize;
  start: u32; units: u32; next: u32; phase: u32; errors: u32; seed: u32; tag: u32;
  passes: u32;          // write-then-verify passes left after this one
}

function pattern(w: BlobWorker, unit: u32): u32 { return (unit * 2654435761) ^ w.seed; }

function workerStep(ctx: usize): void {
  const w = changetype<BlobWorker>(ctx);
  if (w.next == w.units) {
    if (w.phase == 0) { w.phase = 1; w.next = 0; }
    else if (w.passes > 0) { w.passes--; w.phase = 0; w.next = 0; w.seed += 0x9e3779b9; }
    else {
      putIoChannel(w.channel);
      heapFree(w.buf);
      host_event(EVENT_TEST, <f64>w.tag, <f64>w.errors, <f64>w.units);
      heapFree(ctx);
      threadExit();
      return;
    }
  }
  const unit = w.start + w.next;
  if (w.phase == 0) {
    for (let i: u32 = 0; i < 1024; i++) store<u32>(w.buf + (<usize>i << 2), pattern(w, unit) + i);
  } else {
    memory.fill(w.buf, 0, 4096);
  }
  const rc = blobIo(changetype<Blob>(w.blob), w.channel, w.phase == 0, w.buf, <u64>unit, 1, workerDone, ctx);
  if (rc != 0) { w.errors++; w.next++; workerStep(ctx); }
}

function workerDone(ctx: usize, rc: i32): void {
  const w = changetype<BlobWorker>(ctx);
  if (rc != 0) w.errors++;
  else if (w.phase == 1) {
    const unit = w.start + w.next;
    for (let i: u32 = 0; i < 1024; i++) if (load<u32>(w.buf + (<usize>i << 2)) != pattern(w, unit) + i) { w.errors++; break; }
  }
  w.next++;
  workerStep(ctx);
}

function workerStart(ctx: usize): void {
  const w = changetype<BlobWorker>(ctx);
  w.channel = storeGetChannel(changetype<Store>(w.store));
  workerStep(ctx);
}

/**
 * On reactor `reactor`: write then verify units [start, start + units) of an open blob (4 KiB units),
 * `passes` times (a new pattern each pass; 0 counts as 1).
 */
export function t_blob_worker(store: usize, blob: usize, reactor: i32, start: u32, units: u32, seed: u32, tag: u32, passes: u32): i32 {
  const w = changetype<BlobWorker>(heapAllocZeroed(offsetof<BlobWorker>()));
  w.store = store; w.blob = blob; w.start = start; w.units = units; w.seed = seed; w.tag = tag; w.passes = passes > 0 ? passes - 1 : 0;
  w.buf = heapAlloc(4096);
  const t = threadCreateOn(reactor, "blob_worker");
  if (t == 0) return -12;
  sendMsg(t, workerStart, changetype<usize>(w));
  return 0;
}
/** Open blobs of a store and their references, as id:ref pairs summed into a checksum-free count. */
export function hbs_open_blobs(store: usize): u32 {
  let n: u32 = 0;
  for (let b = changetype<Store>(store).openBlobs; b != 0; b = changetype<Blob>(b).next) n++;
  return n;
}

// ---- a snapshot left marked as in the making (the cut between its last two syncs), made on purpose ----
import { xattrSet, xattrFind, BlobMd } from "../../assembly/blob/md";
import { XATTR_SNAPSHOT_OF, XATTR_SNAPSHOT_OF_BYTES } from "../../assembly/blob/format";

/** Put the in-the-making mark naming `origin` on an open snapshot; its close then writes it out. */
export function hbs_mark_snapshot(blob: usize, origin: f64): void {
  const b = changetype<Blob>(blob);
  const v = heapAlloc(8);
  store<u64>(v, <u64>origin);
  xattrSet(changetype<BlobMd>(b.md), XATTR_SNAPSHOT_OF, XATTR_SNAPSHOT_OF_BYTES, v, 8, true);
  heapFree(v);
  b.readOnly = 0;
  b.dirty = 1;
}

export function hbs_snapshot_marked(blob: usize): u32 {
  return xattrFind(changetype<BlobMd>(changetype<Blob>(blob).md), XATTR_SNAPSHOT_OF, XATTR_SNAPSHOT_OF_BYTES, true) != 0 ? 1 : 0;
}

// ---- the blob I/O freeze (tests/unit/blob-freeze.test.ts, tests/integration/blobstore-reactors.test.ts) ----

/** I/Os admitted on the blob and not completed / held back by a freeze. */
export function hbs_blob_inflight(blob: usize): u32 { return atomic.load<u32>(blob + offsetof<Blob>("ioInflight")); }
export function hbs_blob_queued(blob: usize): u32 { return atomic.load<u32>(blob + offsetof<Blob>("queueCount")); }
/** Whether the blob's md changed since its last sync began / a sync of it is running (lvol flush tests). */
export function hbs_blob_dirty(blob: usize): u32 { return atomic.load<u32>(blob + offsetof<Blob>("dirty")); }
export function hbs_blob_syncing(blob: usize): u32 { return atomic.load<u32>(blob + offsetof<Blob>("syncing")); }

@unmanaged class FreezeHook { blob: usize; tag: u32; }

function freezeHookDone(ctx: usize, rc: i32, _v: u64): void {
  const f = changetype<FreezeHook>(ctx);
  // What the freeze saw when it completed: nothing of the blob's I/O may be in flight.
  host_event(EVENT_TEST, <f64>f.tag, <f64>rc, <f64>hbs_blob_inflight(f.blob));
  heapFree(ctx);
}
function freezeHookMsg(ctx: usize): void { blobFreeze(changetype<Blob>(changetype<FreezeHook>(ctx).blob), freezeHookDone, ctx); }
function unfreezeHookMsg(ctx: usize): void {
  const f = changetype<FreezeHook>(ctx);
  const queued = hbs_blob_queued(f.blob);
  blobUnfreeze(changetype<Blob>(f.blob));
  host_event(EVENT_TEST, <f64>f.tag, 0, <f64>queued);
  heapFree(ctx);
}
function sendFreezeHook(blob: usize, tag: u32, fn: (ctx: usize) => void): i32 {
  const f = changetype<FreezeHook>(heapAlloc(offsetof<FreezeHook>()));
  f.blob = blob; f.tag = tag;
  sendMsg(changetype<Store>(changetype<Blob>(blob).store).mdThread, fn, changetype<usize>(f));
  return 0;
}
/** On the store's md thread: freeze the blob; EVENT_TEST(tag, rc, I/Os in flight then) once it holds. */
export function t_blob_freeze(blob: usize, tag: u32): i32 { return sendFreezeHook(blob, tag, freezeHookMsg); }
/** On the store's md thread: lift one freeze; EVENT_TEST(tag, 0, I/Os it held back). */
export function t_blob_unfreeze(blob: usize, tag: u32): i32 { return sendFreezeHook(blob, tag, unfreezeHookMsg); }

// ---- blob md allocations refused on demand (tests/unit/blobstore.test.ts) ----
import { mdUseAllocator } from "../../assembly/blob/md";

/** md.ts allocations that still succeed before it is refused (-1: all); per instance, as the seam. */
let mdAllocsLeft: i32 = -1;
let mdAllocsRefused: u32 = 0;

function mdAllocLimited(bytes: usize): usize {
  if (mdAllocsLeft == 0) { mdAllocsRefused++; return 0; }
  if (mdAllocsLeft > 0) mdAllocsLeft--;
  return heapAlloc(bytes);
}

/**
 * Let `n` more md.ts allocations of this instance succeed, then refuse them (-1: never refuse). The
 * engine heap is still behind it, so the other allocations of an operation go on as usual.
 */
export function hbs_md_allocs_allow(n: i32): void {
  mdAllocsLeft = n;
  mdAllocsRefused = 0;
  mdUseAllocator(mdAllocLimited, heapFree);
}
/** md.ts allocations refused since the last hbs_md_allocs_allow. */
export function hbs_md_allocs_refused(): u32 { return mdAllocsRefused; }

// ---- blob I/O that waits for bdev_ios and scratch buffers (tests/unit/blob-io-wait.test.ts) ----
import { bdevUnregister } from "../../assembly/bdev";

function putChannelMsg(channel: usize): void { putIoChannel(channel); }
/** On `thread`: put back an io channel (its last reference: the channel is released). */
export function hbs_put_channel(thread: usize, channel: usize): void { sendMsg(thread, putChannelMsg, channel); }
function removeBdevMsg(bdev: usize): void { bdevUnregister(bdev, null, 0); }
/** On `thread`: hot remove bdev `id` (SPDK's spdk_bdev_unregister). */
export function hbs_remove_bdev(thread: usize, id: u32): void { sendMsg(thread, removeBdevMsg, bdevById(id)); }

@unmanaged class OpBurst { ctxs: usize; count: u32; }
function burstMsg(p: usize): void {
  const b = changetype<OpBurst>(p);
  for (let i: u32 = 0; i < b.count; i++) opMsg(load<u32>(b.ctxs + (<usize>i << 2)));
  heapFree(p);
}
/**
 * On `thread`, in one message: run the ops of the `count` ctx blocks listed at `ctxs` (u32 each), so
 * that none of their I/Os completes before the last one is submitted (completions come by poller).
 */
export function hbs_send_burst(thread: usize, ctxs: usize, count: u32): i32 {
  const b = changetype<OpBurst>(heapAlloc(offsetof<OpBurst>()));
  if (changetype<usize>(b) == 0) return -12;
  b.ctxs = ctxs; b.count = count;
  sendMsg(thread, burstMsg, changetype<usize>(b));
  return 0;
}

// ---- an lvol bdev over an open blob, for bdev-hooks' ops (tests/unit/blob-io-wait.test.ts) ----
import { lvolBdevCreate } from "../../assembly/lvol/bdev";

@unmanaged class LvolHook { blob: usize; name: usize; id: u32; done: u32; }
function lvolCreateMsg(p: usize): void {
  const h = changetype<LvolHook>(p);
  const bdev = lvolBdevCreate(h.name, changetype<Blob>(h.blob));
  h.id = bdev == 0 ? 0 : changetype<Bdev>(bdev).id;
  h.done = 1;
}
/** On the store's md thread: an lvol bdev named by the string at `name` over open blob `blob`; `out` is a LvolHook-sized block whose word 2 gets its bdev id (0: failed), word 3 becomes 1. */
export function hbs_lvol_create(blob: usize, name: usize, out: usize): void {
  const h = changetype<LvolHook>(out);
  h.blob = blob; h.name = name; h.id = 0; h.done = 0;
  sendMsg(changetype<Store>(changetype<Blob>(blob).store).mdThread, lvolCreateMsg, out);
}
