// Inflate and decouple (SPDK's spdk_bs_inflate_blob and spdk_bs_blob_decouple_parent), md thread only.
//
// Both first copy clusters up into the blob through the I/O path (io.ts: claim, fill from the ancestor,
// record on the md thread), then sync the metadata with the new parent in the same first-page write.
// Crash safety comes from that order: a cut before the sync leaves the claimed clusters referenced by
// nothing on disk (recovery frees them) and the blob still reading through its old parent, which still
// holds the same data. The old parent is let go only after every thread has run a message since the
// switch: an I/O on another reactor may be walking the ancestor chain (io.ts ancestorCluster) right now,
// and walks never span a message boundary.

import { EBUSY, EINVAL, ENOMEM, EPERM } from "../runtime";
import { threadWalkAlloc, forEachThreadWith } from "../thread";
import * as F from "./format";
import { BlobMd } from "./md";
import { Store, Blob, BsOpCb } from "./types";
import { BlobOp, opNew, opFinish, onMdThread, syncStart, releaseRef, refuseIfMdBusy } from "./blob";
import { blobOp, BLOB_INFLATE, BLOB_DECOUPLE } from "./io";
import { cloneIndexSetParent } from "./clone-index";

/** Give the blob every cluster (copied from its ancestors, or zeroed): thick, no parent. cb(ctx, rc, 0). */
export function blobInflate(blob: Blob, cb: BsOpCb, ctx: usize): void {
  copyUp(blob, BLOB_INFLATE, cb, ctx);
}

/**
 * Copy the clusters the blob's parent holds into the blob, which then reads through the parent's
 * parent (or nothing). -EINVAL if the blob has no parent. cb(ctx, rc, 0).
 */
export function blobDecouple(blob: Blob, cb: BsOpCb, ctx: usize): void {
  copyUp(blob, BLOB_DECOUPLE, cb, ctx);
}

function copyUp(blob: Blob, kind: u32, cb: BsOpCb, ctx: usize): void {
  const s = changetype<Store>(blob.store);
  const md = changetype<BlobMd>(blob.md);
  if (!onMdThread(s) || blob.readOnly != 0 || s.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  if (blob.syncing != 0 || refuseIfMdBusy(blob) != 0) { cb(ctx, -EBUSY, 0); return; }
  if (kind == BLOB_DECOUPLE && blob.parent == 0) { cb(ctx, -EINVAL, 0); return; }
  const op = opNew(s, changetype<usize>(blob), cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  // Letting go of the old parent waits for every thread, after the md is durable: no failing then.
  op.walk = threadWalkAlloc();
  if (op.walk == 0) { opFinish(op, -ENOMEM, 0); return; }
  op.kind = kind;
  blob.mdBusy = 1;                             // until copyUpFinish
  if (md.numClusters == 0) { copiedUp(changetype<usize>(op), 0); return; }
  const rc = blobOp(blob, s.mdChannel, kind, 0, 0, md.numClusters * <u64>s.unitsPerCluster, copiedUp, changetype<usize>(op));
  if (rc != 0) copyUpFinish(op, rc);
}

function copyUpFinish(op: BlobOp, rc: i32): void {
  changetype<Blob>(op.blob).mdBusy = 0;
  opFinish(op, rc, 0);
}

/** Every cluster needed is the blob's own now (in memory): make the new parent durable with them. */
function copiedUp(opPtr: usize, rc: i32): void {
  const op = changetype<BlobOp>(opPtr);
  // A failed copy-up keeps the clusters it did claim: they hold the ancestor's data, so reads are the same.
  if (rc != 0) { copyUpFinish(op, rc); return; }
  const blob = changetype<Blob>(op.blob);
  const md = changetype<BlobMd>(blob.md);
  const parent = blob.parent;
  op.newParent = op.kind == BLOB_DECOUPLE ? changetype<Blob>(parent).parent : 0;
  if (op.newParent != 0) changetype<Blob>(op.newParent).openRef++;     // the blob's own reference to it
  op.savedParent = md.parentId;
  op.savedFlags = md.flagsInvalid;
  md.parentId = op.newParent == 0 ? 0 : changetype<Blob>(op.newParent).id;
  if (op.kind == BLOB_INFLATE) md.flagsInvalid &= ~F.BLOB_FLAG_THIN;
  syncStart(op, parentSwitched);
}

function parentSwitched(op: BlobOp, rc: i32): void {
  const blob = changetype<Blob>(op.blob);
  const md = changetype<BlobMd>(blob.md);
  if (rc != 0) {
    md.parentId = op.savedParent;
    md.flagsInvalid = op.savedFlags;
    if (op.newParent != 0) releaseRef(changetype<Blob>(op.newParent));
    copyUpFinish(op, rc);
    return;
  }
  cloneIndexSetParent(changetype<Store>(op.store), blob.id, md.parentId);   // durable now
  const old = blob.parent;
  blob.parent = op.newParent;
  if (old == 0) { copyUpFinish(op, 0); return; }
  // The op ends only once the old parent is let go: deleting it right after must not find it held.
  op.origin = old;
  const walk = op.walk;
  op.walk = 0;
  forEachThreadWith(walk, passedBy, changetype<usize>(op), oldParentPassed);
}

/** On each thread: nothing; reaching it means any chain walk that thread was in has ended. */
function passedBy(_opPtr: usize): void {}

function oldParentPassed(opPtr: usize): void {
  const op = changetype<BlobOp>(opPtr);
  releaseRef(changetype<Blob>(op.origin));
  op.origin = 0;
  copyUpFinish(op, 0);
}
