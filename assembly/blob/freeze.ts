// The blob-level I/O freeze (SPDK's frozen_refcnt). While a blob is frozen, I/O started on it from any
// thread waits in the blob's queue instead of reaching the device; a freeze completes once the I/O
// admitted before it has completed. A metadata op that must change what I/O reads without a lock (a
// cluster map cell that may go back, the parent pointer: snapshot-delete.ts) does so frozen. Freezes
// nest; the last unfreeze restarts the queued I/O, in the order it was queued, each on its own thread.
//
// Admission takes no lock on the fast path: an I/O counts itself in flight, then reads `frozen`; a
// freeze writes `frozen`, then reads the count. Wasm atomics are sequentially consistent, so one of
// the two sees the other: the I/O backs off into the queue, or the freeze waits for it.
//
// As everywhere in the blobstore (and SPDK), the submitter orders overlapping I/O: a new I/O started
// while the restarts are on their way to its thread may run before them.
//
// The queue takes no memory and refuses nothing: each I/O held back is linked through an entry in its
// own request (FREEZE_ENTRY_BYTES), in the queue at most once (asserted), so the queue never holds more
// than the requests started on the blob; a freeze lasts one md sync.

import { heapAlloc, heapFree, spinLock, spinUnlock, ENOMEM } from "../runtime";
import { threadGet, sendMsg, pollerRegister, pollerUnregister, POLLER_BUSY, POLLER_IDLE } from "../thread";
import { Store, Blob, BsOpCb, blobFreezeLock } from "./types";

/** Restart a queued I/O; runs on the thread that started it (its channel belongs to that thread). */
export type FrozenResumeFn = (req: usize) => void;

/** One I/O held back, in the blob's queue: an entry in the I/O's own request. */
@unmanaged class QueuedIo {
  next: usize;
  req: usize;
  thread: usize;
  resume: usize;        // FrozenResumeFn
}

/** Bytes a request sets aside for its place in a freeze queue. */
export const FREEZE_ENTRY_BYTES: usize = offsetof<QueuedIo>();

/** One freeze waiting for the I/O in flight to drain (a poller on the md thread). */
@unmanaged class FreezeWait {
  blob: usize;
  cb: usize;
  ctx: usize;
  poller: usize;
}

function inflightAt(blob: Blob): usize { return changetype<usize>(blob) + offsetof<Blob>("ioInflight"); }
function frozenAt(blob: Blob): usize { return changetype<usize>(blob) + offsetof<Blob>("frozen"); }

function assertMdThread(blob: Blob): void {
  assert(threadGet() == changetype<Store>(blob.store).mdThread, "blob freezes are made and lifted on the md thread");
}

/**
 * Freeze the blob's I/O (md thread): from now on I/O started on it waits; cb(ctx, 0, 0) runs on this
 * thread, never before this returns, once every I/O admitted earlier has completed. -ENOMEM: not frozen.
 */
export function blobFreeze(blob: Blob, cb: BsOpCb, ctx: usize): void {
  assertMdThread(blob);
  const w = changetype<FreezeWait>(heapAlloc(offsetof<FreezeWait>()));
  if (changetype<usize>(w) == 0) { cb(ctx, -ENOMEM, 0); return; }
  w.blob = changetype<usize>(blob);
  w.cb = changetype<usize>(cb);
  w.ctx = ctx;
  w.poller = pollerRegister(drainPoll, changetype<usize>(w), 0, "blob_freeze_drain");
  if (w.poller == 0) { heapFree(changetype<usize>(w)); cb(ctx, -ENOMEM, 0); return; }
  // Under the lock: a slow-path admission either counted itself before this, or sees the freeze.
  spinLock(blobFreezeLock(blob));
  atomic.store<u32>(frozenAt(blob), blob.frozen + 1);
  spinUnlock(blobFreezeLock(blob));
}

function drainPoll(wPtr: usize): i32 {
  const w = changetype<FreezeWait>(wPtr);
  if (atomic.load<u32>(inflightAt(changetype<Blob>(w.blob))) != 0) return POLLER_IDLE;
  pollerUnregister(w.poller);
  const cb = w.cb, ctx = w.ctx;
  heapFree(wPtr);
  changetype<BsOpCb>(cb)(ctx, 0, 0);
  return POLLER_BUSY;
}

/** Lift one freeze (md thread); the last one restarts the queued I/O. */
export function blobUnfreeze(blob: Blob): void {
  assertMdThread(blob);
  spinLock(blobFreezeLock(blob));
  assert(blob.frozen > 0, "unfreeze of a blob that is not frozen");
  atomic.store<u32>(frozenAt(blob), blob.frozen - 1);
  spinUnlock(blobFreezeLock(blob));
  if (blob.frozen == 0) restartQueued(blob);
}

export function blobIsFrozen(blob: Blob): bool { return atomic.load<u32>(frozenAt(blob)) != 0; }

/**
 * Send each queued I/O back to its thread, counted in flight from here (a new freeze waits for it).
 * Only the md thread takes entries out of the queue; a freeze that comes back meanwhile keeps the rest.
 */
function restartQueued(blob: Blob): void {
  for (;;) {
    spinLock(blobFreezeLock(blob));
    const q = blob.queueHead;
    if (q == 0 || blob.frozen != 0) { spinUnlock(blobFreezeLock(blob)); return; }
    blob.queueHead = changetype<QueuedIo>(q).next;
    if (blob.queueHead == 0) blob.queueTail = 0;
    blob.queueCount--;
    atomic.add<u32>(inflightAt(blob), 1);
    spinUnlock(blobFreezeLock(blob));
    sendMsg(changetype<QueuedIo>(q).thread, resumeMsg, q);
  }
}

function resumeMsg(qPtr: usize): void {
  const q = changetype<QueuedIo>(qPtr);
  const req = q.req, resume = q.resume;
  q.next = 0;
  changetype<FrozenResumeFn>(resume)(req);
}

/** Admit an I/O if the blob is not frozen (counted in flight: true), else nothing (false). */
export function freezeTryAdmit(blob: Blob): bool {
  // Frozen already: stay off the count. An attempt that adds and takes back would make the count
  // show an I/O in flight that was never admitted (and bounce the count's line between reactors).
  if (atomic.load<u32>(frozenAt(blob)) != 0) return false;
  atomic.add<u32>(inflightAt(blob), 1);
  if (atomic.load<u32>(frozenAt(blob)) == 0) return true;
  atomic.sub<u32>(inflightAt(blob), 1);
  return false;
}

/**
 * Admission of a new I/O on `thread` (io.ts): 1 to issue it now (it is counted in flight until
 * freezeIoDone), or 0 when it was queued through `entry` (FREEZE_ENTRY_BYTES of the request's own
 * memory, free until resume(req) runs on `thread` after the last unfreeze).
 */
export function freezeAdmit(blob: Blob, entry: usize, req: usize, thread: usize, resume: FrozenResumeFn): i32 {
  if (freezeTryAdmit(blob)) return 1;
  const q = changetype<QueuedIo>(entry);
  q.next = 0; q.req = req; q.thread = thread; q.resume = changetype<usize>(resume);
  spinLock(blobFreezeLock(blob));
  if (blob.frozen == 0) {                      // unfrozen meanwhile
    atomic.add<u32>(inflightAt(blob), 1);
    spinUnlock(blobFreezeLock(blob));
    return 1;
  }
  assert(entry != blob.queueTail && entry != blob.queueHead, "blob freeze queue: an I/O held back queued twice");
  if (blob.queueTail == 0) blob.queueHead = entry;
  else changetype<QueuedIo>(blob.queueTail).next = entry;
  blob.queueTail = entry;
  blob.queueCount++;
  spinUnlock(blobFreezeLock(blob));
  return 0;
}

/** An admitted I/O has completed (io.ts, on its thread, before its callback). */
export function freezeIoDone(blob: Blob): void {
  const before = atomic.sub<u32>(inflightAt(blob), 1);
  assert(before > 0, "blob I/O completed that was never admitted");
}
