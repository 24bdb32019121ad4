// Blob lifecycle on the md thread: create, open, close, resize, delete, sync_md and xattrs. A sync
// writes the chain's later pages to fresh md pages first, flushes, then rewrites the first page in
// place and flushes again: a crash leaves either the old chain or the new one, never a mix.

import { heapAlloc, heapAllocZeroed, heapFree, spinInit, spinLock, spinUnlock, report, LEVEL_ERROR, EINVAL, ENOMEM, ENOSPC, EBUSY, EPERM, ENOENT, EIO } from "../runtime";
import { threadGet, sendMsg, threadWalkFree } from "../thread";
import * as F from "./format";
import { bitSet, bitTest, bitFindClear, bitClear } from "./bitmap";
import {
  BlobMd, mdNew, mdFree, mdResize, mdGrowBytes, MD_MAX_CLUSTERS, mdCluster, mdSetCluster, mdEncode, mdDecodePage, mdNextPage, mdPagesNeeded,
  xattrSet, xattrRemove, xattrFind, Xattr, MD_OK, MD_NO_MEMORY, mdDecodeError,
} from "./md";
import { Store, Blob, BsOpCb, storeLock, blobFreezeLock } from "./types";
import { pageIo, storeFlush } from "./store";
import { snapshotDeleteStart } from "./snapshot-delete";
import { cloneIndexSetParent, cloneIndexDrop, cloneIndexParent, cloneIndexCount } from "./clone-index";
import { blobFreeze, blobUnfreeze } from "./freeze";
import { planted, PLANT_OPEN_LEAK } from "../runtime/planted";

const MAX_CHAIN: u32 = F.MAX_CHAIN_PAGES;

/** One metadata operation in flight (exported for the blob package's own files, e.g. inflate.ts). */
@unmanaged export class BlobOp {
  store: usize;
  blob: usize;
  cb: usize;
  ctx: usize;
  pages: usize;        // encode buffer (MAX_CHAIN pages)
  indexes: usize;      // md page index of each encoded page
  used: u32;
  oldChain: usize;     // pages to free once the new chain is durable
  oldLen: u32;
  readPage: u32;       // open: chain position; sync: next page to write
  id: u64;
  syncDone: usize;     // SyncDone: what to run when this op's sync ends
  origin: usize;       // snapshot: the blob being snapshotted (open); inflate.ts: the old parent until let go
  snap: usize;         // snapshot: the new snapshot's in-memory Blob
  saved: usize;        // snapshot: the origin's cluster map before, to restore if its sync fails
  savedParent: u64;
  savedFlags: u64;
  kind: u32;           // inflate.ts: BLOB_INFLATE or BLOB_DECOUPLE; snapshot-delete.ts: what it holds of the clone
  newParent: usize;    // inflate.ts: the open Blob read through once the md is durable (0: none)
  clusters: u64;       // resize: the new size
  rc: i32;             // a result held while the op finishes something else (unmark: the sync's)
  walk: usize;         // a thread walk taken ahead for a step that must not fail (inflate, snapshot delete)
  depth: u32;          // open: blobs of the chain read so far (the one asked for and its ancestors)
  childId: u64;        // open: the blob that reads through the one being read (0 for the one asked for)
}

export function opNew(s: Store, blob: usize, cb: BsOpCb, ctx: usize): BlobOp {
  const op = changetype<BlobOp>(heapAllocZeroed(offsetof<BlobOp>()));
  if (changetype<usize>(op) != 0) { op.store = changetype<usize>(s); op.blob = blob; op.cb = changetype<usize>(cb); op.ctx = ctx; }
  return op;
}

export function opFinish(op: BlobOp, rc: i32, value: u64): void {
  const cb = op.cb, ctx = op.ctx;
  heapFree(op.pages); heapFree(op.indexes); heapFree(op.oldChain); heapFree(op.saved);
  if (op.walk != 0) threadWalkFree(op.walk);
  heapFree(changetype<usize>(op));
  changetype<BsOpCb>(cb)(ctx, rc, value);
}

/** Start an operation on blob `id`: a new op, the blob opened, then next(op, rc, blob); cb only on ENOMEM. */
function openForOp(s: Store, id: u64, cb: BsOpCb, ctx: usize, next: BsOpCb): void {
  const op = opNew(s, 0, cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  op.id = id;
  blobOpen(s, id, next, changetype<usize>(op));
}

export function onMdThread(s: Store): bool { return threadGet() == s.mdThread; }

/**
 * -EBUSY (reported) while a multi-step md op owns the blob's md (Blob.mdBusy: a snapshot of it, an
 * inflate or decouple, a snapshot delete moving clusters into it), else 0. Such an op keeps a copy of
 * the map to put back if its sync fails, and changes it in steps: a resize or another such op between
 * two steps would be lost or torn.
 */
export function refuseIfMdBusy(blob: Blob): i32 {
  if (blob.mdBusy == 0) return 0;
  report(LEVEL_ERROR, -EBUSY, "blob %d is busy with a snapshot, inflate, decouple or snapshot delete: retry when that ends", 0, 0, <f64>blob.id);
  return -EBUSY;
}

/**
 * Give `md` a map of `clusters` entries: 0, -EINVAL past the most a blob may have, -ENOMEM (both
 * reported; `md` unchanged).
 */
function resizeMap(md: BlobMd, clusters: u64): i32 {
  const rc = mdResize(md, clusters);
  if (rc == -EINVAL) {
    report(LEVEL_ERROR, -EINVAL, "a blob of %d clusters is more than one blob may have (%d clusters: its map must fit the memory)",
      0, 0, <f64>clusters, <f64>MD_MAX_CLUSTERS);
  } else if (rc == -ENOMEM) {
    report(LEVEL_ERROR, -ENOMEM, "no memory for the %d-byte cluster map of a %d-cluster blob (start the engine with more memoryBytes)",
      0, 0, <f64>mdGrowBytes(md, clusters), <f64>clusters);
  }
  return rc;
}

/** A new md for blob `id` sized to `clusters`, or null (as 0; reported) with why in mdSizedError: -EINVAL or -ENOMEM. */
function mdSized(id: u64, clusters: u64): BlobMd {
  const md = mdNew(id);
  if (changetype<usize>(md) == 0) {
    report(LEVEL_ERROR, -ENOMEM, "no memory for the metadata of blob %d (start the engine with more memoryBytes)", 0, 0, <f64>id);
    mdSizedError = -ENOMEM;
    return md;
  }
  const sized = resizeMap(md, clusters);
  if (sized != 0) { mdFree(md); mdSizedError = sized; return changetype<BlobMd>(0); }
  return md;
}
/** Why the last mdSized returned 0. */
let mdSizedError: i32 = 0;

/** Shrink `md`'s map to `clusters` entries: never allocates, so never fails. */
function shrinkMap(md: BlobMd, clusters: u64): void {
  assert(clusters <= md.numClusters);
  const rc = mdResize(md, clusters);
  assert(rc == 0, "shrinking a cluster map failed");
}

// ---- clusters ----

/** Take `count` free clusters for blob clusters [from, from + count) of md. All or none (-ENOSPC). */
function allocClusters(s: Store, md: BlobMd, from: u64, count: u64): i32 {
  spinLock(storeLock(s));
  if (s.freeClusters < count) { spinUnlock(storeLock(s)); return -ENOSPC; }
  let hint: u64 = s.firstDataCluster;
  for (let i: u64 = 0; i < count; i++) {
    const c = bitFindClear(s.usedClusters, hint, s.totalClusters);
    assert(c >= 0, "free cluster count disagrees with the mask");
    bitSet(s.usedClusters, <u64>c);
    mdSetCluster(md, from + i, <u32>c);
    hint = <u64>c + 1;
  }
  s.freeClusters -= count;
  spinUnlock(storeLock(s));
  return 0;
}

/** Give back the clusters of blob clusters [from, to). */
function releaseClusters(s: Store, md: BlobMd, from: u64, to: u64): void {
  spinLock(storeLock(s));
  for (let i = from; i < to; i++) {
    const c = mdCluster(md, i);
    if (c == 0) continue;
    bitClear(s.usedClusters, <u64>c);
    s.freeClusters++;
    mdSetCluster(md, i, 0);
  }
  spinUnlock(storeLock(s));
}

// ---- create ----

/**
 * Create a blob of `clusters` clusters (thin: allocated on first write; thick: now). Its md is written
 * and made durable before cb(ctx, 0, id). -ENOSPC when the store is full (nothing allocated stays).
 */
export function blobCreate(s: Store, clusters: u64, thin: bool, cb: BsOpCb, ctx: usize): void {
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (s.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  const page = bitFindClear(s.usedMd, 0, <u64>s.mdLen);
  if (page < 0) { cb(ctx, -ENOSPC, 0); return; }
  const id = F.blobIdOf(<u32>page);
  const md = mdSized(id, clusters);
  if (changetype<usize>(md) == 0) { cb(ctx, mdSizedError, 0); return; }
  if (thin) md.flagsInvalid |= F.BLOB_FLAG_THIN;
  // Everything that can run out of memory first: a failure then gives back all it took.
  const blob = blobNew(s, md, <u32>page);
  if (changetype<usize>(blob) == 0) { mdFree(md); cb(ctx, -ENOMEM, 0); return; }
  const op = opNew(s, changetype<usize>(blob), cb, ctx);
  if (changetype<usize>(op) == 0) { blobDrop(blob); cb(ctx, -ENOMEM, 0); return; }
  if (!thin) {
    const rc = allocClusters(s, md, 0, clusters);
    if (rc != 0) { heapFree(changetype<usize>(op)); blobDrop(blob); cb(ctx, rc, 0); return; }
  }
  bitSet(s.usedMd, <u64>page);
  bitSet(s.usedIds, <u64>page);
  op.id = id;
  syncStart(op, createSynced);
}

function createSynced(op: BlobOp, rc: i32): void {
  const blob = changetype<Blob>(op.blob);
  const s = changetype<Store>(op.store);
  const id = blob.id;
  if (rc != 0) {
    // Undo: nothing of this blob reached the disk in a form recovery would take (no first page).
    releaseClusters(s, changetype<BlobMd>(blob.md), 0, changetype<BlobMd>(blob.md).numClusters);
    bitClear(s.usedMd, <u64>F.mdPageOf(id));
    bitClear(s.usedIds, <u64>F.mdPageOf(id));
  }
  blobDrop(blob);
  opFinish(op, rc, rc == 0 ? id : 0);
}

function blobNew(s: Store, md: BlobMd, page: u32): Blob {
  const b = changetype<Blob>(heapAllocZeroed(offsetof<Blob>()));
  if (changetype<usize>(b) == 0) return b;
  b.store = changetype<usize>(s);
  b.md = changetype<usize>(md);
  b.id = md.id;
  b.chain = heapAlloc(<usize>MAX_CHAIN << 2);
  if (b.chain == 0) { heapFree(changetype<usize>(b)); return changetype<Blob>(0); }   // the caller still owns md
  store<u32>(b.chain, page);
  b.chainLen = 1;
  spinInit(blobFreezeLock(b), "blob_freeze");
  return b;
}

/** Free an in-memory blob that is not (or no longer) on the open list. */
function blobDrop(b: Blob): void {
  // Whoever freezes a blob holds it open, and I/O held back has not completed: neither outlives it.
  assert(b.frozen == 0 && b.queueCount == 0, "blob freed while frozen or with I/O held back");
  mdFree(changetype<BlobMd>(b.md));
  heapFree(b.chain);
  heapFree(changetype<usize>(b));
}

// ---- sync: encode, write later pages, flush, write the first page, flush, free the old pages ----

export type SyncDone = (op: BlobOp, rc: i32) => void;

export function syncStart(op: BlobOp, done: SyncDone): void {
  const s = changetype<Store>(op.store);
  const blob = changetype<Blob>(op.blob);
  const md = changetype<BlobMd>(blob.md);
  const scratch = heapAlloc(<usize>MAX_CHAIN << F.MD_PAGE_SHIFT);
  const scratchIndexes = heapAlloc(<usize>MAX_CHAIN << 2);
  const needed: u32 = scratch == 0 || scratchIndexes == 0 ? 0 : mdPagesNeeded(md, scratch, scratchIndexes, MAX_CHAIN);
  heapFree(scratch);
  heapFree(scratchIndexes);
  if (scratch == 0 || scratchIndexes == 0) { done(op, -ENOMEM); return; }
  if (needed == 0) { done(op, -ENOSPC); return; }     // more than MAX_CHAIN pages of metadata
  op.pages = heapAlloc(<usize>needed << F.MD_PAGE_SHIFT);
  op.indexes = heapAlloc(<usize>needed << 2);
  op.oldChain = heapAlloc(<usize>MAX_CHAIN << 2);
  if (op.pages == 0 || op.indexes == 0 || op.oldChain == 0) { done(op, -ENOMEM); return; }
  // Later pages go to fresh pages; the blob's own first page is rewritten in place.
  store<u32>(op.indexes, F.mdPageOf(blob.id));
  for (let i: u32 = 1; i < needed; i++) {
    const p = bitFindClear(s.usedMd, 0, <u64>s.mdLen);
    if (p < 0) {
      for (let j: u32 = 1; j < i; j++) bitClear(s.usedMd, <u64>load<u32>(op.indexes + (<usize>j << 2)));
      done(op, -ENOSPC);
      return;
    }
    bitSet(s.usedMd, <u64>p);
    store<u32>(op.indexes + (<usize>i << 2), <u32>p);
  }
  op.used = mdEncode(md, op.pages, needed, op.indexes, s.mdTag);
  assert(op.used == needed);
  // What was just encoded is what this sync makes durable. A change recorded while its pages are in
  // flight (an I/O thread's thin claim, a resize) marks the blob dirty again for the next sync.
  blob.dirty = 0;
  memory.copy(op.oldChain, blob.chain, <usize>blob.chainLen << 2);
  op.oldLen = blob.chainLen;
  blob.syncing = 1;
  op.syncDone = changetype<usize>(done);
  op.readPage = 1;
  syncWriteNext(changetype<usize>(op), true);
}

function syncWriteNext(opPtr: usize, ok: bool): void {
  const op = changetype<BlobOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { syncFail(op, -EIO); return; }
  if (op.readPage < op.used) {
    const i = op.readPage++;
    pageIo(s, true, <u64>s.mdStart + <u64>load<u32>(op.indexes + (<usize>i << 2)), 1, op.pages + (<usize>i << F.MD_PAGE_SHIFT), syncWriteNext, opPtr);
    return;
  }
  storeFlush(s, syncLaterFlushed, opPtr);
}

function syncLaterFlushed(opPtr: usize, ok: bool): void {
  const op = changetype<BlobOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { syncFail(op, -EIO); return; }
  pageIo(s, true, <u64>s.mdStart + <u64>load<u32>(op.indexes), 1, op.pages, syncFirstWritten, opPtr);
}

function syncFirstWritten(opPtr: usize, ok: bool): void {
  const op = changetype<BlobOp>(opPtr);
  if (!ok) { syncFail(op, -EIO); return; }
  storeFlush(changetype<Store>(op.store), syncFirstFlushed, opPtr);
}

function syncFirstFlushed(opPtr: usize, ok: bool): void {
  const op = changetype<BlobOp>(opPtr);
  const s = changetype<Store>(op.store);
  const blob = changetype<Blob>(op.blob);
  if (!ok) { syncFail(op, -EIO); return; }
  // The new chain is durable: its pages become the blob's, the old later pages are free again.
  for (let i: u32 = 1; i < op.oldLen; i++) bitClear(s.usedMd, <u64>load<u32>(op.oldChain + (<usize>i << 2)));
  memory.copy(blob.chain, op.indexes, <usize>op.used << 2);
  blob.chainLen = op.used;
  blob.syncing = 0;
  changetype<SyncDone>(op.syncDone)(op, 0);
}

function syncFail(op: BlobOp, rc: i32): void {
  const s = changetype<Store>(op.store);
  const blob = changetype<Blob>(op.blob);
  for (let i: u32 = 1; i < op.used; i++) bitClear(s.usedMd, <u64>load<u32>(op.indexes + (<usize>i << 2)));
  blob.dirty = 1;
  blob.syncing = 0;
  changetype<SyncDone>(op.syncDone)(op, rc);
}

/** Persist a blob's md (size, clusters, xattrs, flags). cb(ctx, rc, 0). */
export function blobSync(blob: Blob, cb: BsOpCb, ctx: usize): void {
  const s = changetype<Store>(blob.store);
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (blob.syncing != 0) { cb(ctx, -EBUSY, 0); return; }
  // A read-only blob's data never changes, but its xattrs may (an lvol snapshot's name): only a
  // read-only store has md that cannot be written.
  if (s.readOnly != 0) { cb(ctx, blob.dirty != 0 ? -EPERM : 0, 0); return; }
  const op = opNew(s, changetype<usize>(blob), cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  syncStart(op, syncedForCaller);
}

function syncedForCaller(op: BlobOp, rc: i32): void { opFinish(op, rc, 0); }

/**
 * Make an open blob read-only for good (SPDK's spdk_blob_set_read_only + sync): the flag is synced
 * first, then writes are refused. cb(ctx, rc, 0); a blob already read-only succeeds at once.
 */
export function blobSetReadOnly(blob: Blob, cb: BsOpCb, ctx: usize): void {
  const s = changetype<Store>(blob.store);
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (blob.readOnly != 0) { cb(ctx, s.readOnly != 0 ? -EPERM : 0, 0); return; }
  if (blob.syncing != 0) { cb(ctx, -EBUSY, 0); return; }
  const op = opNew(s, changetype<usize>(blob), cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  const md = changetype<BlobMd>(blob.md);
  md.flagsDataRo |= F.BLOB_FLAG_SET_READ_ONLY;
  syncStart(op, readOnlySynced);
}

function readOnlySynced(op: BlobOp, rc: i32): void {
  const blob = changetype<Blob>(op.blob);
  if (rc == 0) blob.readOnly = 1;
  else changetype<BlobMd>(blob.md).flagsDataRo &= ~F.BLOB_FLAG_SET_READ_ONLY;
  opFinish(op, rc, 0);
}

// ---- open: read the chain of md pages, then each ancestor's, one after the other ----
// An open reads the blob's md, then its parent's if that is not open yet, and so on up to an open
// ancestor or one with no parent: a loop, not a recursion, so a long chain of snapshots costs no
// stack. The blobs read but not yet handed out ("pending": openRef 0, not on the open list) hang off
// each other by Blob.parent; the last one's parent, if any, is an open blob the open holds a reference
// on. Only once the whole chain is read do they join the open list, in one step (openAttached).
// Bounds: a chain of pages has at most MAX_CHAIN pages; a chain of ancestors at most one blob per md
// page, and none loops (the load refused those, clone-index.ts), which each blob's md must agree with.

const OPEN_NO_MEMORY = "blob %d: no memory to open it (free memory or start the engine with more memoryBytes)";

/** An open that found no memory for the blob or its op: said, then ENOMEM. */
function openNoMemory(id: u64, cb: BsOpCb, ctx: usize): void {
  report(LEVEL_ERROR, -ENOMEM, OPEN_NO_MEMORY, 0, 0, <f64>id);
  cb(ctx, -ENOMEM, 0);
}

/** A blob that is open and not being deleted takes one more reference: 0, or -EBUSY (reported). */
function shareOpen(b: Blob): i32 {
  if (b.deleting != 0) {
    report(LEVEL_ERROR, -EBUSY, "blob %d is being deleted: it cannot be opened", 0, 0, <f64>b.id);
    return -EBUSY;
  }
  b.openRef++;
  return 0;
}

/** Whether blob `id` exists and may be read: 0, -ENOENT, or -EIO for one the load refused (reported). */
function openable(s: Store, id: u64): i32 {
  const page = F.mdPageOf(id);
  if (!F.isBlobId(id) || page >= s.mdLen || !bitTest(s.usedIds, <u64>page)) return -ENOENT;
  if (!bitTest(s.refusedIds, <u64>page)) return 0;
  report(LEVEL_ERROR, -EIO, "blob %d was refused when the store loaded (its parent chain loops: md damaged): it cannot be opened", 0, 0, <f64>id);
  return -EIO;
}

/** Open blob `id` (or share it if already open), with its ancestors. cb(ctx, rc, blob pointer). */
export function blobOpen(s: Store, id: u64, cb: BsOpCb, ctx: usize): void {
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  const open = openBlobById(s, id);
  if (open != 0) { const rc = shareOpen(changetype<Blob>(open)); cb(ctx, rc, rc == 0 ? <u64>open : 0); return; }
  const rc = openable(s, id);
  if (rc != 0) { cb(ctx, rc, 0); return; }
  const op = opNew(s, 0, cb, ctx);
  if (changetype<usize>(op) == 0) { openNoMemory(id, cb, ctx); return; }
  op.id = id;
  op.pages = heapAlloc(F.MD_PAGE_BYTES);
  if (op.pages == 0) { report(LEVEL_ERROR, -ENOMEM, OPEN_NO_MEMORY, 0, 0, <f64>id); opFinish(op, -ENOMEM, 0); return; }
  readNext(op, id);
}

/** Read blob `id` (openable, not open) as the next pending blob of the chain: the top, or the last one's parent. */
function readNext(op: BlobOp, id: u64): void {
  const s = changetype<Store>(op.store);
  const md = mdNew(id);
  const blob = changetype<usize>(md) == 0 ? changetype<Blob>(0) : blobNew(s, md, F.mdPageOf(id));
  if (changetype<usize>(blob) == 0) {
    if (changetype<usize>(md) != 0) mdFree(md);
    report(LEVEL_ERROR, -ENOMEM, OPEN_NO_MEMORY, 0, 0, <f64>op.id);
    openFailed(op, -ENOMEM);
    return;
  }
  if (op.blob == 0) op.blob = changetype<usize>(blob);
  else { op.childId = changetype<Blob>(op.origin).id; changetype<Blob>(op.origin).parent = changetype<usize>(blob); }
  op.origin = changetype<usize>(blob);             // the blob being read
  op.depth++;
  blob.chainLen = 0;
  op.readPage = F.mdPageOf(id);
  pageIo(s, false, <u64>s.mdStart + <u64>op.readPage, 1, op.pages, openPageRead, changetype<usize>(op));
}

function openPageRead(opPtr: usize, ok: bool): void {
  const op = changetype<BlobOp>(opPtr);
  const s = changetype<Store>(op.store);
  const blob = changetype<Blob>(op.origin);
  if (!ok) { openFailed(op, -EIO, blob.id); return; }
  const rc = mdDecodePage(changetype<BlobMd>(blob.md), op.pages, blob.chainLen, s.mdTag);
  if (rc == MD_NO_MEMORY) {
    report(LEVEL_ERROR, -ENOMEM, "blob %d: no memory to read its md page %d (%s): not opened; free memory or start the engine with more memoryBytes",
      changetype<usize>(mdDecodeError(rc)), 0, <f64>blob.id, <f64>op.readPage);
    openFailed(op, -ENOMEM);
    return;
  }
  if (rc != MD_OK) {
    report(LEVEL_ERROR, -EIO, "blob %d: md page %d is damaged (%s): cannot open it", changetype<usize>(mdDecodeError(rc)), 0, <f64>blob.id, <f64>op.readPage);
    openFailed(op, -EIO, blob.id);
    return;
  }
  store<u32>(blob.chain + (<usize>blob.chainLen << 2), op.readPage);
  blob.chainLen++;
  const next = mdNextPage(op.pages);
  if (next != F.MDP_NO_NEXT) {
    if (next >= s.mdLen || blob.chainLen >= MAX_CHAIN) {
      report(LEVEL_ERROR, -EIO, "blob %d: its chain of md pages runs out of the md region or past %d pages (md damaged): cannot open it", 0, 0, <f64>blob.id, <f64>MAX_CHAIN);
      openFailed(op, -EIO, blob.id);
      return;
    }
    op.readPage = next;
    pageIo(s, false, <u64>s.mdStart + <u64>next, 1, op.pages, openPageRead, opPtr);
    return;
  }
  // Opened by another open meanwhile: that one is shared, with the ancestors it holds (openAttached).
  if (openBlobById(s, blob.id) != 0) { openAttached(op); return; }
  // Deleted meanwhile: what was read is gone from the store (its clusters may be free already).
  if (!bitTest(s.usedIds, <u64>F.mdPageOf(blob.id))) { openFailed(op, -ENOENT, blob.id); return; }
  const refused = checkReadBlob(s, blob);
  if (refused != 0) { openFailed(op, refused, blob.id); return; }
  // Only snapshots are read through (a clone is made of one, a snapshot's origin reads through it).
  if (op.childId != 0 && !isSnapshotMd(changetype<BlobMd>(blob.md))) { notSnapshotParent(op.childId, blob.id); openFailed(op, -EIO, op.childId); return; }
  const parentId = changetype<BlobMd>(blob.md).parentId;
  if (parentId == 0) { openAttached(op); return; }
  // A clone (or a snapshot's origin) reads through its parent: the chain goes on until an open blob or the root.
  const open = openBlobById(s, parentId);
  if (open != 0) {
    const shared = shareOpen(changetype<Blob>(open));
    if (shared != 0) { openFailed(op, shared, parentId); return; }
    blob.parent = open;
    if (!isSnapshotMd(changetype<BlobMd>(changetype<Blob>(open).md))) { notSnapshotParent(blob.id, parentId); openFailed(op, -EIO, blob.id); return; }
    openAttached(op);
    return;
  }
  const parentOk = openable(s, parentId);
  if (parentOk != 0) { openFailed(op, parentOk, parentId); return; }
  // Each ancestor is a distinct blob (the load refused loops), so a chain has at most one per md page.
  if (op.depth >= s.mdLen) {
    report(LEVEL_ERROR, -EIO, "blob %d: its chain of ancestors is longer than the store has blobs (%d): md damaged, cannot open it", 0, 0, <f64>op.id, <f64>s.mdLen);
    openFailed(op, -EIO, op.id);
    return;
  }
  readNext(op, parentId);
}

function isSnapshotMd(md: BlobMd): bool { return (md.flagsDataRo & F.BLOB_FLAG_READ_ONLY) != 0; }

function notSnapshotParent(childId: u64, parentId: u64): void {
  report(LEVEL_ERROR, -EIO, "blob %d reads through blob %d, which is not a snapshot (md damaged): cannot open it", 0, 0, <f64>childId, <f64>parentId);
}

/**
 * What a blob read from disk must agree with before anyone reads through it: its flags are known, its
 * parent is the one the load indexed, and every cluster and md page it holds is inside the store and
 * marked used (the load checked the masks against the md pages; this keeps a page changed since from
 * reading another blob's data). 0, or -EINVAL / -EIO (reported).
 */
function checkReadBlob(s: Store, blob: Blob): i32 {
  const md = changetype<BlobMd>(blob.md);
  if ((md.flagsInvalid & ~F.KNOWN_BLOB_FLAGS_INVALID) != 0) {
    report(LEVEL_ERROR, -EINVAL, "blob %d uses a feature this build does not know (invalid flags): not opened", 0, 0, <f64>blob.id);
    return -EINVAL;
  }
  // Any data-read-only bit (a snapshot's, or one this build does not know) opens it read-only.
  blob.readOnly = md.flagsDataRo != 0 || s.readOnly != 0 ? 1 : 0;
  if (md.parentId != 0 && (!F.isBlobId(md.parentId) || F.mdPageOf(md.parentId) >= s.mdLen)) {
    report(LEVEL_ERROR, -EIO, "blob %d: its md names parent %d, which is no blob id of the store (md damaged): cannot open it", 0, 0, <f64>blob.id, <f64>md.parentId);
    return -EIO;
  }
  if (md.parentId != cloneIndexParent(s, blob.id)) {
    report(LEVEL_ERROR, -EIO, "blob %d: its md names parent %d, not the one the store loaded (md changed under the store): cannot open it", 0, 0,
      <f64>blob.id, <f64>md.parentId);
    return -EIO;
  }
  for (let i: u32 = 1; i < blob.chainLen; i++) {
    const p = load<u32>(blob.chain + (<usize>i << 2));
    if (!bitTest(s.usedMd, <u64>p)) {
      report(LEVEL_ERROR, -EIO, "blob %d: its md page %d is marked free in the store (md changed under the store): cannot open it", 0, 0, <f64>blob.id, <f64>p);
      return -EIO;
    }
  }
  for (let i: u64 = 0; i < md.numClusters; i++) {
    const c = <u64>mdCluster(md, i);
    if (c != 0 && (c < s.firstDataCluster || c >= s.totalClusters || !bitTest(s.usedClusters, c))) {
      report(LEVEL_ERROR, -EIO, "blob %d: its cluster %d is metadata, outside the store or marked free (md changed under the store): cannot open it", 0, 0,
        <f64>blob.id, <f64>c);
      return -EIO;
    }
  }
  return 0;
}

/** Drop the pending blobs from `b` down, and the reference on the open ancestor they end at, if any. */
function dropPending(b: usize): void {
  while (b != 0 && changetype<Blob>(b).openRef == 0) {
    const parent = changetype<Blob>(b).parent;
    changetype<Blob>(b).parent = 0;
    blobDrop(changetype<Blob>(b));
    b = parent;
  }
  if (b != 0) releaseRef(changetype<Blob>(b));
}

/**
 * The open fails with rc because of blob `culprit` (0: the open's own lack of memory): everything read
 * is dropped; an ancestor's failure is said again for the blob asked for.
 */
function openFailed(op: BlobOp, rc: i32, culprit: u64 = 0): void {
  if (culprit != 0 && culprit != op.id) {
    report(LEVEL_ERROR, rc, "blob %d: its ancestor blob %d cannot be opened: not opened", 0, 0, <f64>op.id, <f64>culprit);
  }
  if (!planted(PLANT_OPEN_LEAK) || rc != -EIO) dropPending(op.blob);
  opFinish(op, rc, 0);
}

/**
 * The chain is read: hand the blob out. Opens are asynchronous, so another open of a blob of the chain
 * may have finished meanwhile (then this copy, and those below it, go and that one is shared), or a
 * delete may have taken one (then the open fails). Checked for the whole chain first, so that nothing
 * changes unless all of it can go on; only here do blobs join the open list.
 */
function openAttached(op: BlobOp): void {
  const s = changetype<Store>(op.store);
  for (let b = op.blob; b != 0 && changetype<Blob>(b).openRef == 0; b = changetype<Blob>(b).parent) {
    const winner = openBlobById(s, changetype<Blob>(b).id);
    let rc: i32 = 0;
    if (winner == 0 && !bitTest(s.usedIds, <u64>F.mdPageOf(changetype<Blob>(b).id))) rc = -ENOENT;      // deleted meanwhile
    else if (winner != 0 && changetype<Blob>(winner).deleting != 0) rc = -EBUSY;
    if (rc != 0) { openFailed(op, rc, changetype<Blob>(b).id); return; }
    if (winner != 0) break;                        // it and everything below it are open already
  }
  let child: usize = 0, top: usize = 0;
  for (let b = op.blob; b != 0 && changetype<Blob>(b).openRef == 0;) {
    const blob = changetype<Blob>(b);
    const winner = openBlobById(s, blob.id);
    if (winner != 0) {
      changetype<Blob>(winner).openRef++;          // the caller's reference, or the child's
      if (child != 0) changetype<Blob>(child).parent = winner; else top = winner;
      dropPending(b);
      break;
    }
    const parent = blob.parent;
    blob.openRef = 1;                              // the caller's reference, or the child's
    blob.next = s.openBlobs;
    s.openBlobs = b;
    if (top == 0) top = b;
    child = b;
    b = parent;
  }
  op.blob = 0;
  opFinish(op, 0, <u64>top);
}

/** The blob `id` on the open list, or 0. */
function openBlobById(s: Store, id: u64): usize {
  for (let b = s.openBlobs; b != 0; b = changetype<Blob>(b).next) if (changetype<Blob>(b).id == id) return b;
  return 0;
}

// ---- close ----

/**
 * Drop one reference. The last one makes the blob durable: a dirty blob is synced (which flushes),
 * a clean one flushes the device, so every write acknowledged before close survives a power cut.
 * cb(ctx, rc, 0).
 */
export function blobClose(blob: Blob, cb: BsOpCb, ctx: usize): void {
  const s = changetype<Store>(blob.store);
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (blob.openRef > 1) { blob.openRef--; cb(ctx, 0, 0); return; }
  const op = opNew(s, changetype<usize>(blob), cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  if (blob.dirty != 0 && s.readOnly == 0) { syncStart(op, closeSynced); return; }
  if (s.readOnly != 0) { closeSynced(op, 0); return; }
  storeFlush(s, closeFlushed, changetype<usize>(op));
}

function closeFlushed(opPtr: usize, ok: bool): void { closeSynced(changetype<BlobOp>(opPtr), ok ? 0 : -EIO); }

function closeSynced(op: BlobOp, rc: i32): void {
  const blob = changetype<Blob>(op.blob);
  // The last reference stays counted while the close syncs or flushes: an open in the meantime shares
  // this blob (openRef 2), and then the close must not free it.
  if (rc == 0 && --blob.openRef == 0) unlinkAndDrop(blob);
  opFinish(op, rc, 0);
}

/** Off the open list and freed; its parent (0: none), whose reference it held, is the caller's to release. */
function unlinkOne(blob: Blob): usize {
  const s = changetype<Store>(blob.store);
  let link = changetype<usize>(s) + offsetof<Store>("openBlobs");
  while (load<usize>(link) != changetype<usize>(blob)) {
    assert(load<usize>(link) != 0, "a blob to unlink is not on the open list");
    link = load<usize>(link) + offsetof<Blob>("next");
  }
  store<usize>(link, blob.next);
  const parent = blob.parent;
  blobDrop(blob);
  return parent;
}

function unlinkAndDrop(blob: Blob): void {
  const parent = unlinkOne(blob);
  // A parent is only read through its children: dropping the child's reference needs no flush.
  if (parent != 0) releaseRef(changetype<Blob>(parent));
}

/**
 * Give back one reference taken by an internal open (no sync or flush: nothing was changed). The
 * ancestors held only through this blob go too, in a loop: a chain of any length costs no stack.
 */
export function releaseRef(blob: Blob): void {
  let b = changetype<usize>(blob);
  while (b != 0 && --changetype<Blob>(b).openRef == 0) b = unlinkOne(changetype<Blob>(b));
}


// ---- resize, xattrs (in memory until the next sync) ----

/**
 * New size in clusters; a thick blob gets its new clusters now. cb(ctx, rc, 0): -EPERM, -EBUSY (another
 * md op owns the blob), -EINVAL past the most a blob may have, -ENOMEM, -ENOSPC (each leaves it
 * unchanged). The blob's I/O is frozen meanwhile: growing may move its cluster map and shrinking frees
 * clusters, under I/O threads that read the map without a lock.
 */
export function blobResize(blob: Blob, clusters: u64, cb: BsOpCb, ctx: usize): void {
  const s = changetype<Store>(blob.store);
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (blob.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  const busy = refuseIfMdBusy(blob);
  if (busy != 0) { cb(ctx, busy, 0); return; }
  const op = opNew(s, changetype<usize>(blob), cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  op.clusters = clusters;
  blob.mdBusy = 1;
  blobFreeze(blob, resizeFrozen, changetype<usize>(op));
}

function resizeFrozen(opPtr: usize, rc: i32, _v: u64): void {
  const op = changetype<BlobOp>(opPtr);
  const blob = changetype<Blob>(op.blob);
  if (rc == 0) {
    rc = resizeNow(blob, op.clusters);
    blobUnfreeze(blob);
  }
  blob.mdBusy = 0;
  opFinish(op, rc, 0);
}

function resizeNow(blob: Blob, clusters: u64): i32 {
  const s = changetype<Store>(blob.store);
  const md = changetype<BlobMd>(blob.md);
  const old = md.numClusters;
  if (clusters < old) {
    releaseClusters(s, md, clusters, old);
    shrinkMap(md, clusters);
  } else if (clusters > old) {
    const sized = resizeMap(md, clusters);
    if (sized != 0) return sized;
    if ((md.flagsInvalid & F.BLOB_FLAG_THIN) == 0) {
      const rc = allocClusters(s, md, old, clusters - old);
      if (rc != 0) { shrinkMap(md, old); return rc; }
    }
  }
  blob.dirty = 1;
  return 0;
}

/** Set (replace) an xattr in memory: 0, -EINVAL past the limits, -ENOMEM (reported; the old value stays). */
export function blobSetXattr(blob: Blob, name: usize, nameBytes: u32, value: usize, valueBytes: u32, internal: bool): i32 {
  if (!onMdThread(changetype<Store>(blob.store))) return -EPERM;
  if (changetype<Store>(blob.store).readOnly != 0) return -EPERM;
  const rc = xattrSet(changetype<BlobMd>(blob.md), name, nameBytes, value, valueBytes, internal);
  if (rc == 0) blob.dirty = 1;
  if (rc == -ENOMEM) {
    report(LEVEL_ERROR, -ENOMEM, "blob %d: no memory for a %d-byte xattr (its old value, if any, is kept); free memory or start the engine with more memoryBytes",
      0, 0, <f64>blob.id, <f64>(nameBytes + valueBytes));
  }
  return rc;
}

export function blobRemoveXattr(blob: Blob, name: usize, nameBytes: u32, internal: bool): i32 {
  if (!onMdThread(changetype<Store>(blob.store))) return -EPERM;
  if (changetype<Store>(blob.store).readOnly != 0) return -EPERM;
  const rc = xattrRemove(changetype<BlobMd>(blob.md), name, nameBytes, internal);
  if (rc == 0) blob.dirty = 1;
  return rc;
}

/** The xattr's value (pointer, length in xattrValueBytes) or 0 if absent. */
export function blobGetXattr(blob: Blob, name: usize, nameBytes: u32, internal: bool): usize {
  const x = xattrFind(changetype<BlobMd>(blob.md), name, nameBytes, internal);
  if (x == 0) return 0;
  xattrValueBytes = changetype<Xattr>(x).valueBytes;
  return changetype<Xattr>(x).data + changetype<Xattr>(x).nameBytes;
}
export let xattrValueBytes: u32 = 0;

/**
 * The names of the blob's user xattrs, each followed by a 0 byte, in a heap buffer the caller frees;
 * its length in xattrNamesBytes. 0 when out of memory.
 */
export function blobXattrNames(blob: Blob): usize {
  let bytes: u32 = 0;
  for (let x = changetype<BlobMd>(blob.md).xattrs; x != 0; x = changetype<Xattr>(x).next) {
    if (changetype<Xattr>(x).internal == 0) bytes += changetype<Xattr>(x).nameBytes + 1;
  }
  const out = heapAlloc(<usize>bytes + 1);        // + 1: never a zero-byte allocation
  if (out == 0) return 0;
  let at = out;
  for (let x = changetype<BlobMd>(blob.md).xattrs; x != 0; x = changetype<Xattr>(x).next) {
    const a = changetype<Xattr>(x);
    if (a.internal != 0) continue;
    memory.copy(at, a.data, a.nameBytes);
    store<u8>(at + a.nameBytes, 0);
    at += <usize>a.nameBytes + 1;
  }
  xattrNamesBytes = bytes;
  return out;
}
export let xattrNamesBytes: u32 = 0;

export function blobClusters(blob: Blob): u64 { return changetype<BlobMd>(blob.md).numClusters; }
export function blobIsThin(blob: Blob): bool { return (changetype<BlobMd>(blob.md).flagsInvalid & F.BLOB_FLAG_THIN) != 0; }
export function blobAllocatedClusters(blob: Blob): u64 {
  const md = changetype<BlobMd>(blob.md);
  let n: u64 = 0;
  for (let i: u64 = 0; i < md.numClusters; i++) if (mdCluster(md, i) != 0) n++;
  return n;
}

// ---- delete ----

/** How many open blobs read through `blob` directly (each holds one reference on it). */
function openChildren(s: Store, blob: Blob): u32 {
  let n: u32 = 0;
  for (let b = s.openBlobs; b != 0; b = changetype<Blob>(b).next) if (changetype<Blob>(b).parent == changetype<usize>(blob)) n++;
  return n;
}

/**
 * Delete a blob no one holds open: its clusters and md pages are freed, its first page zeroed. A
 * snapshot held open only by the blobs reading through it may go too; its one clone, open or not,
 * takes its clusters (snapshot-delete.ts). cb(ctx, rc, 0).
 */
export function blobDelete(s: Store, id: u64, cb: BsOpCb, ctx: usize): void {
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (s.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  for (let b = s.openBlobs; b != 0; b = changetype<Blob>(b).next) {
    const open = changetype<Blob>(b);
    if (open.id != id) continue;
    if (blobIsSnapshot(open) && open.openRef == openChildren(s, open)) break;
    report(LEVEL_ERROR, -EBUSY, "blob %d is open, or a blob that reads through it is: close them first", 0, 0, <f64>id);
    cb(ctx, -EBUSY, 0);
    return;
  }
  openForOp(s, id, cb, ctx, deleteOpened);
}

function deleteOpened(opPtr: usize, rc: i32, blobPtr: u64): void {
  const op = changetype<BlobOp>(opPtr);
  if (rc != 0) { opFinish(op, rc, 0); return; }
  op.blob = <usize>blobPtr;
  const blob = changetype<Blob>(op.blob);
  // Opened by someone else while this open was reading it (its children's references are expected).
  if (blob.openRef != 1 + openChildren(changetype<Store>(op.store), blob)) {
    report(LEVEL_ERROR, -EBUSY, "blob %d was opened while it was to be deleted: close it first", 0, 0, <f64>blob.id);
    releaseRef(blob);
    opFinish(op, -EBUSY, 0);
    return;
  }
  // Only snapshots have clones; a blob that others read through but is none has md that says otherwise.
  const readers = cloneIndexCount(changetype<Store>(op.store), blob.id);
  if (!blobIsSnapshot(blob) && readers != 0) {
    report(LEVEL_ERROR, -EBUSY, "blob %d is not a snapshot, yet %d blobs read through it (md damaged): not deleted", 0, 0, <f64>blob.id, <f64>readers);
    releaseRef(blob);
    opFinish(op, -EBUSY, 0);
    return;
  }
  blob.deleting = 1;                           // from here no one else opens it
  // A snapshot first hands its clusters to its one clone, if it has one (snapshot-delete.ts).
  if (blobIsSnapshot(changetype<Blob>(op.blob))) { snapshotDeleteStart(op); return; }
  deleteBlobHead(op);
}

/** The last step of every delete: zero the blob's first page (the chain head), flush, free it all. */
export function deleteBlobHead(op: BlobOp): void {
  const blob = changetype<Blob>(op.blob);
  const s = changetype<Store>(op.store);
  // From the moment the zeroed head is on the device, recovery cannot find the blob.
  op.pages = heapAllocZeroed(F.MD_PAGE_BYTES);
  if (op.pages == 0) { releaseRef(blob); opFinish(op, -ENOMEM, 0); return; }
  pageIo(s, true, <u64>s.mdStart + <u64>F.mdPageOf(blob.id), 1, op.pages, deleteHeadZeroed, changetype<usize>(op));
}

function deleteHeadZeroed(opPtr: usize, ok: bool): void {
  const op = changetype<BlobOp>(opPtr);
  if (!ok) { releaseRef(changetype<Blob>(op.blob)); opFinish(op, -EIO, 0); return; }
  storeFlush(changetype<Store>(op.store), deleteFlushed, opPtr);
}

function deleteFlushed(opPtr: usize, ok: bool): void {
  const op = changetype<BlobOp>(opPtr);
  const s = changetype<Store>(op.store);
  const blob = changetype<Blob>(op.blob);
  if (!ok) { releaseRef(blob); opFinish(op, -EIO, 0); return; }
  assert(blob.openRef == 1, "a deleted blob is held by its delete alone");
  const md = changetype<BlobMd>(blob.md);
  releaseClusters(s, md, 0, md.numClusters);
  for (let i: u32 = 0; i < blob.chainLen; i++) bitClear(s.usedMd, <u64>load<u32>(blob.chain + (<usize>i << 2)));
  bitClear(s.usedIds, <u64>F.mdPageOf(blob.id));
  cloneIndexDrop(s, blob.id);                  // its head is zeroed on disk: it reads through nothing now
  unlinkAndDrop(blob);
  opFinish(op, 0, 0);
}


// ---- snapshots and clones ----
// A snapshot takes over the origin's clusters; the origin becomes thin with the snapshot as its parent.
// Three syncs, each durable before the next: (1) the snapshot, marked with the internal xattr
// XATTR_SNAPSHOT_OF = origin id, (2) the origin, now empty with parent = snapshot, (3) the snapshot
// without the mark. A load that finds a marked snapshot keeps it only if its origin already points at
// it (store.ts); otherwise the snapshot never happened and the origin still owns its clusters.

export function releaseSyncBuffers(op: BlobOp): void {
  heapFree(op.pages); heapFree(op.indexes); heapFree(op.oldChain);
  op.pages = 0; op.indexes = 0; op.oldChain = 0;
}

/** Snapshot an open blob; cb(ctx, rc, snapshot id). The origin stays open and reads through it. */
export function blobSnapshot(origin: Blob, cb: BsOpCb, ctx: usize): void {
  const s = changetype<Store>(origin.store);
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (origin.readOnly != 0 || s.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  if (origin.syncing != 0 || refuseIfMdBusy(origin) != 0) { cb(ctx, -EBUSY, 0); return; }
  const op = opNew(s, 0, cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  op.origin = changetype<usize>(origin);
  origin.mdBusy = 1;                           // until snapshotAbandon or snapshotUnmarked
  // A write in flight would land in a cluster the snapshot takes, and a thin claim recorded after the
  // map is copied would belong to neither blob (its data lost, its cluster leaked). So the origin's
  // I/O is frozen, as SPDK freezes it, from before the copy until it reads through the snapshot in
  // memory (snapshotUnmarked, after the third sync).
  blobFreeze(origin, snapshotFrozen, changetype<usize>(op));
}

function snapshotFrozen(opPtr: usize, rc: i32, _v: u64): void {
  const op = changetype<BlobOp>(opPtr);
  if (rc != 0) {
    changetype<Blob>(op.origin).mdBusy = 0;
    opFinish(op, rc, 0);
    return;
  }
  snapshotWhenIdle(opPtr);
}

/** Not frozen any more, nothing taken: the origin as it was. */
function snapshotRefused(op: BlobOp, rc: i32): void {
  const origin = changetype<Blob>(op.origin);
  blobUnfreeze(origin);
  origin.mdBusy = 0;
  opFinish(op, rc, 0);
}

/** The snapshot's md, once no other sync of the origin (a flush's) is writing the origin's md. */
function snapshotWhenIdle(opPtr: usize): void {
  const op = changetype<BlobOp>(opPtr);
  const s = changetype<Store>(op.store);
  const origin = changetype<Blob>(op.origin);
  if (origin.syncing != 0) {
    // Come back after the messages queued behind this one (the other sync's completions among them).
    sendMsg(s.mdThread, snapshotWhenIdle, opPtr);
    return;
  }
  const page = bitFindClear(s.usedMd, 0, <u64>s.mdLen);
  if (page < 0) { snapshotRefused(op, -ENOSPC); return; }
  const om = changetype<BlobMd>(origin.md);
  const sid = F.blobIdOf(<u32>page);
  const sm = mdSized(sid, om.numClusters);
  if (changetype<usize>(sm) == 0) { snapshotRefused(op, mdSizedError); return; }
  memory.copy(sm.clusters, om.clusters, <usize>om.numClusters << 2);
  sm.parentId = om.parentId;
  sm.flagsInvalid = om.flagsInvalid | F.BLOB_FLAG_THIN;
  sm.flagsDataRo = F.BLOB_FLAG_READ_ONLY;
  const originId = heapAlloc(8);
  if (originId != 0) store<u64>(originId, origin.id);
  const marked = originId == 0 ? -ENOMEM : xattrSet(sm, F.XATTR_SNAPSHOT_OF, F.XATTR_SNAPSHOT_OF_BYTES, originId, 8, true);
  heapFree(originId);
  assert(marked == 0 || marked == -ENOMEM, "the snapshot mark is within the xattr limits");
  if (marked != 0) {
    report(LEVEL_ERROR, marked, "blob %d: no memory to mark its new snapshot: not snapshotted", 0, 0, <f64>origin.id);
    mdFree(sm);
    snapshotRefused(op, marked);
    return;
  }
  const snap = blobNew(s, sm, <u32>page);
  if (changetype<usize>(snap) == 0) { mdFree(sm); snapshotRefused(op, -ENOMEM); return; }
  bitSet(s.usedMd, <u64>page);
  bitSet(s.usedIds, <u64>page);
  op.blob = changetype<usize>(snap);
  op.snap = changetype<usize>(snap);
  op.id = sid;
  syncStart(op, snapshotWritten);
}

function snapshotAbandon(op: BlobOp, rc: i32): void {
  const s = changetype<Store>(op.store);
  bitClear(s.usedMd, <u64>F.mdPageOf(op.id));
  bitClear(s.usedIds, <u64>F.mdPageOf(op.id));
  blobDrop(changetype<Blob>(op.snap));
  snapshotRefused(op, rc);
}

function snapshotWritten(op: BlobOp, rc: i32): void {
  if (rc != 0) { snapshotAbandon(op, rc); return; }
  const origin = changetype<Blob>(op.origin);
  const om = changetype<BlobMd>(origin.md);
  // Remember the origin as it was, then hand its clusters to the snapshot.
  op.saved = heapAlloc((<usize>om.numClusters << 2) + 4);
  if (op.saved == 0) {
    // Nothing of the origin changed yet: the marked snapshot is discarded at the next load.
    report(LEVEL_ERROR, -ENOMEM, "blob %d: no memory to keep its cluster map while it is snapshotted: not snapshotted", 0, 0, <f64>origin.id);
    snapshotAbandon(op, -ENOMEM);
    return;
  }
  memory.copy(op.saved, om.clusters, <usize>om.numClusters << 2);
  op.savedParent = om.parentId;
  op.savedFlags = om.flagsInvalid;
  memory.fill(om.clusters, 0, <usize>om.numClusters << 2);
  om.parentId = op.id;
  om.flagsInvalid |= F.BLOB_FLAG_THIN;
  origin.dirty = 1;
  releaseSyncBuffers(op);
  op.blob = op.origin;
  syncStart(op, originRewritten);
}

function originRewritten(op: BlobOp, rc: i32): void {
  const origin = changetype<Blob>(op.origin);
  if (rc != 0) {
    // The origin's new md did not become durable: it keeps its clusters, the marked snapshot is
    // discarded at the next load; in memory, put the origin back.
    const om = changetype<BlobMd>(origin.md);
    memory.copy(om.clusters, op.saved, <usize>om.numClusters << 2);
    om.parentId = op.savedParent;
    om.flagsInvalid = op.savedFlags;
    snapshotAbandon(op, rc);
    return;
  }
  // The origin points at the snapshot on disk: from here recovery keeps it, so the index has both.
  const s = changetype<Store>(op.store);
  cloneIndexSetParent(s, op.id, op.savedParent);
  cloneIndexSetParent(s, origin.id, op.id);
  const sm = changetype<BlobMd>(changetype<Blob>(op.snap).md);
  xattrRemove(sm, F.XATTR_SNAPSHOT_OF, F.XATTR_SNAPSHOT_OF_BYTES, true);
  changetype<Blob>(op.snap).dirty = 1;
  releaseSyncBuffers(op);
  op.blob = op.snap;
  syncStart(op, snapshotUnmarked);
}

/**
 * The origin reads through the snapshot on disk (its I/O still frozen: its map is empty but it reads
 * through its old parent until here): from here nothing may fail, or in memory it would go on reading
 * through its old parent. So the snapshot built in memory is opened as it is (reopening it
 * from disk would need memory), taking over the origin's reference to the old parent; an open of its
 * id that got there first is shared instead.
 */
function snapshotUnmarked(op: BlobOp, _rc: i32): void {
  // Even if this sync failed the snapshot is complete on disk (the origin points at it); the mark
  // only costs the next load a look at the origin, and the snapshot stays dirty for its close.
  const s = changetype<Store>(op.store);
  const origin = changetype<Blob>(op.origin);
  const snap = changetype<Blob>(op.snap);
  const oldParent = origin.parent;
  const shared = openBlobById(s, op.id);
  op.snap = 0;
  if (shared != 0) {
    blobDrop(snap);
    changetype<Blob>(shared).openRef++;
    origin.parent = shared;
    if (oldParent != 0) releaseRef(changetype<Blob>(oldParent));
  } else {
    snap.parent = oldParent;
    snap.readOnly = 1;                         // a snapshot (its md's data-read-only flag)
    snap.openRef = 1;
    snap.next = s.openBlobs;
    s.openBlobs = changetype<usize>(snap);
    origin.parent = changetype<usize>(snap);
  }
  // The origin's empty map and its parent are the snapshot's in memory too: its I/O may flow again.
  blobUnfreeze(origin);
  origin.mdBusy = 0;
  opFinish(op, 0, op.id);
}

/** A thin clone of snapshot `snapshotId` (copy on write); cb(ctx, rc, clone id). */
export function blobClone(s: Store, snapshotId: u64, cb: BsOpCb, ctx: usize): void {
  if (!onMdThread(s)) { cb(ctx, -EPERM, 0); return; }
  if (s.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  openForOp(s, snapshotId, cb, ctx, cloneParentOpened);
}

function cloneParentOpened(opPtr: usize, rc: i32, parentPtr: u64): void {
  const op = changetype<BlobOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (rc != 0) { opFinish(op, rc, 0); return; }
  const parent = changetype<Blob>(<usize>parentPtr);
  const pm = changetype<BlobMd>(parent.md);
  const page = bitFindClear(s.usedMd, 0, <u64>s.mdLen);
  if ((pm.flagsDataRo & F.BLOB_FLAG_READ_ONLY) == 0 || page < 0) {
    releaseRef(parent);
    opFinish(op, page < 0 ? -ENOSPC : -EINVAL, 0);   // clones are made of snapshots (read-only blobs)
    return;
  }
  const md = mdSized(F.blobIdOf(<u32>page), pm.numClusters);
  if (changetype<usize>(md) == 0) { releaseRef(parent); opFinish(op, mdSizedError, 0); return; }
  md.parentId = parent.id;
  md.flagsInvalid = F.BLOB_FLAG_THIN;
  const clone = blobNew(s, md, <u32>page);
  if (changetype<usize>(clone) == 0) { mdFree(md); releaseRef(parent); opFinish(op, -ENOMEM, 0); return; }
  bitSet(s.usedMd, <u64>page);
  bitSet(s.usedIds, <u64>page);
  op.origin = changetype<usize>(parent);
  op.blob = changetype<usize>(clone);
  syncStart(op, cloneWritten);
}

function cloneWritten(op: BlobOp, rc: i32): void {
  const clone = changetype<Blob>(op.blob);
  const s = changetype<Store>(op.store);
  const id = clone.id;
  if (rc != 0) {
    bitClear(s.usedMd, <u64>F.mdPageOf(id));
    bitClear(s.usedIds, <u64>F.mdPageOf(id));
  } else {
    cloneIndexSetParent(s, id, changetype<Blob>(op.origin).id);
  }
  blobDrop(clone);
  releaseRef(changetype<Blob>(op.origin));
  opFinish(op, rc, rc == 0 ? id : 0);
}

/**
 * Recovery kept a snapshot that still carries its in-the-making mark (the cut fell after its origin
 * moved to it but before the unmarking sync): do that last step now. Left marked, the snapshot would
 * be judged again at every dirty load against an origin that may since have been deleted, inflated or
 * decoupled, and discarded under its clones. cb(ctx, rc, 0).
 */
export function blobUnmarkSnapshot(s: Store, id: u64, cb: BsOpCb, ctx: usize): void {
  openForOp(s, id, cb, ctx, unmarkOpened);
}

function unmarkOpened(opPtr: usize, rc: i32, blobPtr: u64): void {
  const op = changetype<BlobOp>(opPtr);
  if (rc != 0) { opFinish(op, rc, 0); return; }
  op.blob = <usize>blobPtr;
  xattrRemove(changetype<BlobMd>(changetype<Blob>(op.blob).md), F.XATTR_SNAPSHOT_OF, F.XATTR_SNAPSHOT_OF_BYTES, true);
  syncStart(op, unmarkSynced);                 // not blobSync: a snapshot is read-only to everyone else
}

function unmarkSynced(op: BlobOp, rc: i32): void {
  op.rc = rc;
  blobClose(changetype<Blob>(op.blob), unmarkClosed, changetype<usize>(op));
}

function unmarkClosed(opPtr: usize, rc: i32, _value: u64): void {
  const op = changetype<BlobOp>(opPtr);
  opFinish(op, op.rc != 0 ? op.rc : rc, 0);
}

export function blobParentId(blob: Blob): u64 { return changetype<BlobMd>(blob.md).parentId; }
/** Writes are refused: a snapshot, a blob made read-only, or a store loaded read-only. */
export function blobIsReadOnly(blob: Blob): bool { return blob.readOnly != 0; }
export function blobIsSnapshot(blob: Blob): bool { return (changetype<BlobMd>(blob.md).flagsDataRo & F.BLOB_FLAG_READ_ONLY) != 0; }
