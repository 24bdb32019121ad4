// Deleting a snapshot (md thread). As in SPDK, a snapshot with more than one clone cannot go (-EBUSY:
// each would need its own copy of its clusters; delete or inflate all but one first). With no clone it
// goes like any blob. With one, the clone takes over each snapshot cluster it has none of its own for,
// and reads through the snapshot's parent from then on. Three durable steps, using the mark recovery
// already knows from making snapshots (store.ts, third pass: a marked snapshot is kept only if the blob
// its mark names still reads through it):
//   1. the snapshot, marked with the clone's id;
//   2. the clone, with the merged clusters and the new parent: from here on recovery would discard the
//      snapshot, and the clone owns the merged clusters;
//   3. the snapshot's chain head zeroed (blob.ts deleteBlobHead), its other clusters and pages freed.
//
// The clone may be open, with I/O in flight on any thread (SPDK allows it too). Its I/O is frozen
// (freeze.ts) from before its map takes the snapshot's clusters until it reads through the new parent:
// had a write claimed a cluster meanwhile, putting the map back after a failed sync would lose it.
// While the delete works on the clone it owns the clone's md (Blob.mdBusy): no snapshot, inflate,
// decouple or resize of it can interleave. Blobs that read through the clone (when it is a snapshot
// itself) walk its map without the freeze; they see each cell before or after the merge, the same
// cluster either way, and the snapshot is let go only after every thread has passed a message.
//
// Clones of the snapshot are found in the store's clone index (clone-index.ts), which follows the
// parents on disk: a blob's parent changes only by a sync of it, which the ops owning its md (mdBusy)
// do and record in the index once durable; the one found is checked in memory once open.

import { heapAlloc, heapAllocZeroed, heapFree, report, LEVEL_ERROR, EBUSY, ENOMEM } from "../runtime";
import { sendMsg, threadWalkAlloc, forEachThreadWith } from "../thread";
import * as F from "./format";
import { BlobMd, mdCluster, mdSetCluster, xattrSet } from "./md";
import { Store, Blob } from "./types";
import { BlobOp, opFinish, syncStart, releaseRef, releaseSyncBuffers, deleteBlobHead, blobOpen, blobClose } from "./blob";
import { blobFreeze, blobUnfreeze } from "./freeze";
import { cloneIndexCount, cloneIndexFirstClone, cloneIndexSetParent } from "./clone-index";

// What the delete holds of the clone (BlobOp.kind), to give back on every way out.
const HOLDS_MD: u32 = 1;            // clone.mdBusy is this delete's
const HOLDS_FREEZE: u32 = 2;        // one freeze of the clone's I/O is this delete's

/** op.blob is the snapshot, open (the delete's own reference). Ends in deleteBlobHead or opFinish. */
export function snapshotDeleteStart(op: BlobOp): void {
  const s = changetype<Store>(op.store);
  const snap = changetype<Blob>(op.blob);
  op.used = cloneIndexCount(s, snap.id);          // clones on disk
  op.id = op.used == 1 ? cloneIndexFirstClone(s, snap.id) : 0;
  assert(op.used != 1 || op.id != snap.id, "snapshot delete: a snapshot that is its own clone");
  clonesFound(op);
}

function fail(op: BlobOp, rc: i32): void {
  changetype<Blob>(op.blob).deleting = 0;          // it stays: others may open it again
  releaseRef(changetype<Blob>(op.blob));
  opFinish(op, rc, 0);
}

function clonesFound(op: BlobOp): void {
  const snap = changetype<Blob>(op.blob);
  if (op.used == 0) {
    // No clone on disk, so nothing should read through it: a reference beyond the delete's is a blob
    // whose md names it only in memory (an op on it under way).
    if (snap.openRef != 1) {
      report(LEVEL_ERROR, -EBUSY, "snapshot %d is read through by a blob being changed: retry the delete when that ends", 0, 0, <f64>snap.id);
      fail(op, -EBUSY);
      return;
    }
    deleteBlobHead(op);
    return;
  }
  if (op.used > 1) {
    report(LEVEL_ERROR, -EBUSY, "blob %d is a snapshot with %d clones: delete or inflate all but one of them first", 0, 0, <f64>snap.id, <f64>op.used);
    fail(op, -EBUSY);
    return;
  }
  // Step 3 waits for every thread after step 2 is durable: its walk is taken now, so it cannot fail then.
  op.walk = threadWalkAlloc();
  if (op.walk == 0) { fail(op, -ENOMEM); return; }
  // The clone's open opens its ancestors, this snapshot among them: let that one through. Whoever
  // else opens the snapshot meanwhile is caught in cloneOpened.
  snap.deleting = 0;
  blobOpen(changetype<Store>(op.store), op.id, cloneOpened, changetype<usize>(op));
}

// ---- step 1: the snapshot names its clone ----

function cloneOpened(opPtr: usize, rc: i32, clonePtr: u64): void {
  const op = changetype<BlobOp>(opPtr);
  if (rc != 0) { fail(op, rc); return; }
  op.origin = <usize>clonePtr;                     // the clone, open; op.blob stays the snapshot
  op.kind = 0;
  const snap = changetype<Blob>(op.blob);
  const clone = changetype<Blob>(op.origin);
  snap.deleting = 1;
  // The snapshot is held by this delete and its clone only: a user's handle on it, taken while the
  // clone was being opened, would see its clusters go. The clone may be open: it is frozen below.
  if (snap.openRef != 2 || clone.parent != changetype<usize>(snap) || changetype<BlobMd>(clone.md).parentId != snap.id) {
    report(LEVEL_ERROR, -EBUSY, "snapshot %d was opened, or its clone %d changed parent, while the snapshot was being deleted: close it, then retry",
      0, 0, <f64>snap.id, <f64>clone.id);
    cloneFailed(op, -EBUSY);
    return;
  }
  if (clone.mdBusy != 0) {
    report(LEVEL_ERROR, -EBUSY, "blob %d, the clone of snapshot %d, is busy with a snapshot, inflate or decouple: retry the delete when that ends",
      0, 0, <f64>clone.id, <f64>snap.id);
    cloneFailed(op, -EBUSY);
    return;
  }
  clone.mdBusy = 1;
  op.kind |= HOLDS_MD;
  const mark = heapAlloc(8);
  if (mark != 0) store<u64>(mark, clone.id);
  // A refused mark leaves the snapshot's md as it was (xattrSet replaces only once it has the memory).
  const setRc = mark == 0 ? -ENOMEM : xattrSet(changetype<BlobMd>(snap.md), F.XATTR_SNAPSHOT_OF, F.XATTR_SNAPSHOT_OF_BYTES, mark, 8, true);
  heapFree(mark);
  if (setRc != 0) {
    report(LEVEL_ERROR, setRc, "deleting snapshot %d: no memory to mark it with its clone %d: not deleted", 0, 0, <f64>snap.id, <f64>clone.id);
    cloneFailed(op, setRc);
    return;
  }
  syncStart(op, snapshotMarked);
}

/** Give back what the delete holds of the clone, then the snapshot; finish with rc (the snapshot is still whole on disk). */
function cloneFailed(op: BlobOp, rc: i32): void {
  const clone = changetype<Blob>(op.origin);
  op.rc = rc;
  if ((op.kind & HOLDS_FREEZE) != 0) blobUnfreeze(clone);
  if ((op.kind & HOLDS_MD) != 0) clone.mdBusy = 0;
  op.kind = 0;
  blobClose(clone, cloneClosedAfterFailure, changetype<usize>(op));
}

function cloneClosedAfterFailure(opPtr: usize, _rc: i32, _v: u64): void {
  const op = changetype<BlobOp>(opPtr);
  fail(op, op.rc);
}

// ---- step 2: the clone, frozen, takes the clusters and the snapshot's parent ----

function snapshotMarked(op: BlobOp, rc: i32): void {
  releaseSyncBuffers(op);
  // A failed mark sync leaves the snapshot kept at any later load (its clone still points at it).
  if (rc != 0) { cloneFailed(op, rc); return; }
  blobFreeze(changetype<Blob>(op.origin), cloneFrozen, changetype<usize>(op));
}

/** No I/O of the clone is in flight, new I/O waits: its map may change and, on failure, go back exactly. */
function cloneFrozen(opPtr: usize, rc: i32, _v: u64): void {
  const op = changetype<BlobOp>(opPtr);
  if (rc != 0) { cloneFailed(op, rc); return; }
  op.kind |= HOLDS_FREEZE;
  mergeWhenIdle(opPtr);
}

/** The merge and its sync, once no other sync of the clone (a flush's, an xattr's) is writing its md. */
function mergeWhenIdle(opPtr: usize): void {
  const op = changetype<BlobOp>(opPtr);
  const snap = changetype<Blob>(op.blob);
  const clone = changetype<Blob>(op.origin);
  if (clone.syncing != 0) {
    // Come back after the messages queued behind this one (the other sync's completions among them).
    sendMsg(changetype<Store>(op.store).mdThread, mergeWhenIdle, opPtr);
    return;
  }
  const sm = changetype<BlobMd>(snap.md), cm = changetype<BlobMd>(clone.md);
  op.saved = heapAllocZeroed((<usize>cm.numClusters << 2) + 4);
  if (op.saved == 0) { cloneFailed(op, -ENOMEM); return; }
  memory.copy(op.saved, cm.clusters, <usize>cm.numClusters << 2);
  op.savedParent = cm.parentId;
  const shared = min(sm.numClusters, cm.numClusters);
  for (let i: u64 = 0; i < shared; i++) {
    if (mdCluster(cm, i) == 0) mdSetCluster(cm, i, mdCluster(sm, i));
  }
  cm.parentId = sm.parentId;
  op.blob = op.origin;                             // syncStart syncs op.blob
  op.origin = changetype<usize>(snap);
  syncStart(op, cloneMoved);
}

function cloneMoved(op: BlobOp, rc: i32): void {
  releaseSyncBuffers(op);
  const clone = changetype<Blob>(op.blob);
  const snap = changetype<Blob>(op.origin);
  const cm = changetype<BlobMd>(clone.md);
  op.blob = op.origin;
  op.origin = changetype<usize>(clone);
  if (rc != 0) {
    // Back as it was in memory (frozen: no claim landed meanwhile); on disk the clone holds either
    // version, and recovery resolves both.
    memory.copy(cm.clusters, op.saved, <usize>cm.numClusters << 2);
    cm.parentId = op.savedParent;
    cloneFailed(op, rc);
    return;
  }
  cloneIndexSetParent(changetype<Store>(op.store), clone.id, cm.parentId);   // durable: the snapshot lost its clone
  // The clone reads through the snapshot's parent now, with the merged map: its I/O may flow again.
  if (snap.parent != 0) changetype<Blob>(snap.parent).openRef++;
  clone.parent = snap.parent;
  blobUnfreeze(clone);
  op.kind &= ~HOLDS_FREEZE;
  // A blob reading through the clone may be walking into the snapshot on another thread right now;
  // walks never span a message boundary, so once every thread has run one, none is left.
  const walk = op.walk;
  op.walk = 0;
  forEachThreadWith(walk, passedBy, changetype<usize>(op), snapshotUnreachable);
}

/** On each thread: nothing; reaching it means any chain walk that thread was in has ended. */
function passedBy(_opPtr: usize): void {}

// ---- step 3: the snapshot goes ----

/** Nothing reads through the snapshot: it keeps only what the clone did not take, and goes. */
function snapshotUnreachable(opPtr: usize): void {
  const op = changetype<BlobOp>(opPtr);
  const snap = changetype<Blob>(op.blob);
  const clone = changetype<Blob>(op.origin);
  const sm = changetype<BlobMd>(snap.md), cm = changetype<BlobMd>(clone.md);
  releaseRef(snap);                                // the clone's reference (the delete's own remains)
  const shared = min(sm.numClusters, cm.numClusters);
  for (let i: u64 = 0; i < shared; i++) {
    if (mdCluster(cm, i) == mdCluster(sm, i)) mdSetCluster(sm, i, 0);
  }
  clone.mdBusy = 0;
  op.kind = 0;
  blobClose(clone, cloneClosed, opPtr);
}

function cloneClosed(opPtr: usize, rc: i32, _v: u64): void {
  const op = changetype<BlobOp>(opPtr);
  // The clone's md is durable already (step 2); a failed close flush changes nothing about that.
  if (rc != 0) report(LEVEL_ERROR, rc, "deleting snapshot %d: closing its clone %d failed", 0, 0, <f64>changetype<Blob>(op.blob).id, <f64>changetype<Blob>(op.origin).id);
  deleteBlobHead(op);
}
