// Blob I/O from any thread, in io units (the bdev's blocks), through that thread's channel on the
// bdev. An I/O is split at cluster boundaries. Reading a cluster that is not allocated gives zeroes.
// Writing one (thin provisioning) claims a free cluster under the store's spinlock, zeroes it on the
// device, and has the md thread record it in the blob by message before the data is written: a
// cluster is never visible to a reader before it holds zeroes or data. Every I/O passes the blob's
// freeze (freeze.ts) before it reads the cluster map, and counts in flight until it completes.
// Out of bdev_ios or buffers, a request waits and goes on, never fails: for a bdev_io in its channel's
// queue_io_wait line, for a copy-on-write buffer in its channel's scratch pool (bdev/scratch.ts). The
// entry it waits with is part of the request. Vectored I/O needs no memory beyond the request: its
// segments' slices of the caller's buffers fit the request's own table, a window at a time.

import { heapAlloc, heapFree, spinLock, spinUnlock, EINVAL, EPERM, ENOMEM, ENOSPC, EIO, ENODEV } from "../runtime";
import { MsgFn, sendMsg, threadGet } from "../thread";
import {
  bdevRead, bdevWrite, bdevUnmap, bdevWriteZeroes, bdevFreeIo, bdevQueueIoWait, bdevSubmitBlocks, bdevScratchGet, bdevScratchPut,
  BdevIoWait, IO_READ, IO_WRITE, IO_MAX_IOVS,
} from "../bdev";
import { bitFindClear, bitSet, bitClear } from "./bitmap";
import { BlobMd } from "./md";
import { Store, Blob, storeLock } from "./types";
import { freezeAdmit, freezeTryAdmit, freezeIoDone, FREEZE_ENTRY_BYTES } from "./freeze";

/** (ctx, rc) when a blob I/O is done, on the thread that submitted it. */
export type BlobIoCb = (ctx: usize, rc: i32) => void;

export const BLOB_READ: u32 = 0;
export const BLOB_WRITE: u32 = 1;
export const BLOB_UNMAP: u32 = 2;          // the range reads as zeroes afterwards; clusters stay allocated
export const BLOB_WRITE_ZEROES: u32 = 3;
// Copy-up, for inflate and decouple (inflate.ts): no data moves through a buffer; each unallocated
// cluster in range gets a cluster of its own, filled from the ancestors as a first write would fill it.
export const BLOB_INFLATE: u32 = 4;        // every cluster (ancestor data or zeroes)
export const BLOB_DECOUPLE: u32 = 5;       // the clusters the parent itself holds

@unmanaged class BlobIoReq {
  blob: usize;
  channel: usize;       // this thread's io_channel on the store's bdev
  thread: usize;        // the submitting thread: completions and claim replies come back here
  write: u32;           // BLOB_* operation
  rc: i32;
  buf: usize;
  start: u64;           // io units
  offset: u64;          // next segment to issue
  end: u64;
  pending: u32;         // segments in flight, plus one while issue() runs
  claimIndex: u64;      // thin: the blob cluster being claimed
  claimCluster: u32;
  claimFilled: u32;     // 1: the claimed cluster was filled with this write's own data (a whole-cluster segment)
  claimWon: u32;        // 1: the md thread recorded our claimed cluster (0: another write's got there first)
  cb: usize;
  ctx: usize;
  wait0: u64;           // 16 bytes inline: the entry it waits with (a bdev_io: queue_io_wait; a scratch buffer)
  wait1: u64;
  frozen0: u64;         // 16 bytes inline: its place in the blob's freeze queue (FREEZE_ENTRY_BYTES)
  frozen1: u64;
  bounce: usize;        // copy on write: the ancestor's cluster on its way to the new one (a channel scratch buffer)
  cowSource: u32;       // copy on write: the ancestor's cluster
  iovs: usize;          // vectored I/O: the caller's {u32 base, u32 len} pairs (0: buf is one buffer)
  iovcnt: u32;
  pieces: u32;          // entries of the slice table used by segments in flight (SLICE_ENTRIES at most)
  windowFull: u32;      // 1: the next segment's slice did not fit; issue goes on once those in flight end
  starting: u32;        // 1 while start() runs: a completion then comes by message, not inside the call
  claimNext: usize;     // next in the blob's claims in progress (under the store lock)
  claimWaiters: usize;  // this thread's other writes waiting for this claim (through waitNext)
  waitNext: usize;
}

/** The most buffers one vectored blob I/O may carry: a segment's slice must fit one bdev_io. */
export const BLOB_MAX_IOVS: u32 = IO_MAX_IOVS;

/**
 * Entries of a request's slice table (vectored I/O), after the request: a segment's slice takes at
 * most iovcnt (<= BLOB_MAX_IOVS), so twice that lets at least two segments be in flight at once; a
 * segment that does not fit waits for those before it (a window), rather than a heap block per I/O.
 */
const SLICE_ENTRIES: u32 = 2 * BLOB_MAX_IOVS;
const REQ_BYTES: usize = offsetof<BlobIoReq>() + (<usize>SLICE_ENTRIES << 3);
function sliceTable(r: BlobIoReq): usize { return changetype<usize>(r) + offsetof<BlobIoReq>(); }
function waitEntry(r: BlobIoReq): usize { return changetype<usize>(r) + offsetof<BlobIoReq>("wait0"); }

function clusterOf(blob: Blob, index: u64): u32 {
  return atomic.load<u32>(changetype<BlobMd>(blob.md).clusters + (<usize>index << 2));
}

/**
 * Where blob cluster `index` reads from when the blob has not allocated it: the nearest ancestor that
 * has (clones read their snapshot's data), or 0 for zeroes.
 */
function ancestorCluster(blob: Blob, index: u64): u32 {
  for (let p = blob.parent; p != 0; p = changetype<Blob>(p).parent) {
    const md = changetype<BlobMd>(changetype<Blob>(p).md);
    if (index >= md.numClusters) return 0;
    const c = atomic.load<u32>(md.clusters + (<usize>index << 2));
    if (c != 0) return c;
  }
  return 0;
}

/** Whether the blob's parent itself (not a further ancestor) holds cluster `index`. */
function parentHolds(blob: Blob, index: u64): bool {
  if (blob.parent == 0) return false;
  const md = changetype<BlobMd>(changetype<Blob>(blob.parent).md);
  return index < md.numClusters && atomic.load<u32>(md.clusters + (<usize>index << 2)) != 0;
}

/** Whether operation `kind` on the blob's unallocated cluster `index` first needs a cluster of its own. */
function needsOwnCluster(kind: u32, blob: Blob, index: u64): bool {
  switch (kind) {
    case BLOB_WRITE:
    case BLOB_INFLATE: return true;
    case BLOB_DECOUPLE: return parentHolds(blob, index);
    // unmap, write_zeroes: an unallocated cluster already reads as zeroes unless an ancestor has data
    default: return ancestorCluster(blob, index) != 0;
  }
}

/**
 * Read or write `units` io units at unit `offset` of the blob, with buf. 0 (cb(ctx, rc) will run on
 * this thread), -EINVAL out of range, -EPERM writing a read-only blob, -ENOMEM.
 */
export function blobIo(blob: Blob, channel: usize, write: bool, buf: usize, offset: u64, units: u64, cb: BlobIoCb, ctx: usize): i32 {
  return blobOp(blob, channel, write ? BLOB_WRITE : BLOB_READ, buf, offset, units, cb, ctx);
}

/**
 * Any blob operation (BLOB_READ, _WRITE, _UNMAP, _WRITE_ZEROES, _INFLATE, _DECOUPLE) over `units` io
 * units at `offset`. Unmap and write_zeroes leave clusters that read as zeroes unallocated.
 */
export function blobOp(blob: Blob, channel: usize, kind: u32, buf: usize, offset: u64, units: u64, cb: BlobIoCb, ctx: usize): i32 {
  return start(blob, channel, kind, buf, 0, 0, offset, units, cb, ctx);
}

/**
 * Vectored read or write (SPDK's readv/writev): `iovs` holds `iovcnt` {u32 base, u32 len} pairs whose
 * lengths add up to `units` io units; a buffer may end anywhere, even inside an io unit. -EINVAL also
 * for 0 or more than BLOB_MAX_IOVS buffers or lengths that do not add up.
 */
export function blobOpv(blob: Blob, channel: usize, write: bool, iovs: usize, iovcnt: u32, offset: u64, units: u64,
  cb: BlobIoCb, ctx: usize): i32 {
  if (iovcnt == 0 || iovcnt > BLOB_MAX_IOVS) return -EINVAL;
  let total: u64 = 0;
  for (let i: u32 = 0; i < iovcnt; i++) total += <u64>load<u32>(iovs + (<usize>i << 3), 4);
  if (total != units << changetype<Store>(blob.store).blockShift) return -EINVAL;
  return start(blob, channel, write ? BLOB_WRITE : BLOB_READ, 0, iovs, iovcnt, offset, units, cb, ctx);
}

function start(blob: Blob, channel: usize, kind: u32, buf: usize, iovs: usize, iovcnt: u32, offset: u64, units: u64,
  cb: BlobIoCb, ctx: usize): i32 {
  const write = kind != BLOB_READ;
  const s = changetype<Store>(blob.store);
  const total = changetype<BlobMd>(blob.md).numClusters * <u64>s.unitsPerCluster;
  if (units == 0 || offset >= total || units > total - offset) return -EINVAL;
  if (write && blob.readOnly != 0) return -EPERM;
  const unitShift = s.clusterShift - s.blockShift;
  if (iovs == 0 && kind <= BLOB_WRITE && offset >> unitShift == (offset + units - 1) >> unitShift) {
    return startOneCluster(blob, s, channel, kind, buf, offset, units, cb, ctx);
  }
  const r = reqGet();
  if (changetype<usize>(r) == 0) return -ENOMEM;
  reqInit(r, blob, channel, kind, buf, iovs, iovcnt, offset, units, cb, ctx);
  return admitAndIssue(r);
}

function reqInit(r: BlobIoReq, blob: Blob, channel: usize, kind: u32, buf: usize, iovs: usize, iovcnt: u32, offset: u64,
  units: u64, cb: BlobIoCb, ctx: usize): void {
  r.blob = changetype<usize>(blob);
  r.channel = channel;
  r.thread = threadGet();
  r.write = kind;
  r.rc = 0;
  r.buf = buf;
  r.start = offset;
  r.offset = offset;
  r.end = offset + units;
  r.pending = 1;
  r.cb = changetype<usize>(cb);
  r.ctx = ctx;
  r.iovs = iovs;
  r.iovcnt = iovcnt;
  r.pieces = 0;
  r.windowFull = 0;
  r.claimFilled = 0;
  r.wait0 = 0;                                 // not queued anywhere (the waits assert it)
  r.wait1 = 0;
  // The entries a request waits with are as large as the waits need (constants: folded away).
  assert(offsetof<BlobIoReq>("frozen0") - offsetof<BlobIoReq>("wait0") >= offsetof<BdevIoWait>(), "blob I/O: wait entry too small");
  assert(offsetof<BlobIoReq>("bounce") - offsetof<BlobIoReq>("frozen0") >= FREEZE_ENTRY_BYTES, "blob I/O: freeze entry too small");
  r.claimWon = 0;
  r.starting = 1;
}

/** Pass the blob's freeze, then issue: now, or once the freeze is lifted (its queue refuses nothing). 0. */
function admitAndIssue(r: BlobIoReq): i32 {
  const admitted = freezeAdmit(changetype<Blob>(r.blob), changetype<usize>(r) + offsetof<BlobIoReq>("frozen0"),
    changetype<usize>(r), r.thread, resumeAdmitted);
  if (admitted == 1) issue(r);                // else held by a freeze: resumeAdmitted runs after it
  r.starting = 0;                              // done or not, r is still ours: a completion in issue() was deferred
  return 0;
}

/**
 * Most I/O is a read or write of one buffer inside one cluster the blob holds, on a blob not frozen:
 * that goes straight to the bdev with a request holding only what its completion needs (~10 ns less
 * per I/O than the general path). Anything else (a freeze, a cluster not allocated, a refused submit)
 * fills in the rest of the request and goes the general way, which handles it as usual.
 */
function startOneCluster(blob: Blob, s: Store, channel: usize, kind: u32, buf: usize, offset: u64, units: u64,
  cb: BlobIoCb, ctx: usize): i32 {
  const r = reqGet();
  if (changetype<usize>(r) == 0) return -ENOMEM;
  if (!freezeTryAdmit(blob)) {
    reqInit(r, blob, channel, kind, buf, 0, 0, offset, units, cb, ctx);
    return admitAndIssue(r);
  }
  r.blob = changetype<usize>(blob);
  r.cb = changetype<usize>(cb);
  r.ctx = ctx;
  const unitShift = s.clusterShift - s.blockShift;
  const cluster = clusterOf(blob, offset >> unitShift);
  if (cluster != 0) {
    const devOffset = (<u64>cluster << s.clusterShift) + ((offset & ((<u64>1 << unitShift) - 1)) << s.blockShift);
    const bytes = units << s.blockShift;
    const rc = kind == BLOB_WRITE ? bdevWrite(s.desc, channel, buf, devOffset, bytes, oneClusterDone, changetype<usize>(r))
      : bdevRead(s.desc, channel, buf, devOffset, bytes, oneClusterDone, changetype<usize>(r));
    if (rc == 0) return 0;
  }
  reqInit(r, blob, channel, kind, buf, 0, 0, offset, units, cb, ctx);   // admitted already
  issue(r);
  r.starting = 0;
  return 0;
}

function oneClusterDone(io: usize, success: bool, reqPtr: usize): void {
  bdevFreeIo(io);
  const r = changetype<BlobIoReq>(reqPtr);
  const blob = changetype<Blob>(r.blob), cb = r.cb, ctx = r.ctx;
  reqPut(r);
  freezeIoDone(blob);                          // before the callback, as release() does
  changetype<BlobIoCb>(cb)(ctx, success ? 0 : -EIO);
}

// ---- requests: recycled per reactor ----
// A heap block per I/O cost ~15 ns of a cached 4 KiB read's ~240 (the free's atomic claim above all), so
// a finished request waits on a short free list for the next I/O; I/O also goes on with the heap full
// once its reactor has run some. The list is per instance, that is per reactor: its threads run one at
// a time, so no lock. A request ends on the thread that started it, but a thread that moved reactors
// meanwhile puts it on its new reactor's list: harmless (a heap block may be freed from any instance).
// At most REQ_CACHE_MAX are kept (~9 KiB per reactor, held until the engine stops); beyond that they
// go back to the heap.
const REQ_CACHE_MAX: u32 = 64;
let cachedReqs: usize = 0;                   // linked through BlobIoReq.blob
let cachedReqCount: u32 = 0;

function reqGet(): BlobIoReq {
  const r = cachedReqs;
  if (r == 0) return changetype<BlobIoReq>(heapAlloc(REQ_BYTES));
  cachedReqs = changetype<BlobIoReq>(r).blob;
  cachedReqCount--;
  return changetype<BlobIoReq>(r);
}

function reqPut(r: BlobIoReq): void {
  if (cachedReqCount >= REQ_CACHE_MAX) { heapFree(changetype<usize>(r)); return; }
  r.blob = cachedReqs;
  cachedReqs = changetype<usize>(r);
  cachedReqCount++;
}

/** A request held back by a freeze, restarted on its own thread (already counted in flight). */
function resumeAdmitted(reqPtr: usize): void { issue(changetype<BlobIoReq>(reqPtr)); }

/**
 * Write into `out` the pieces of the request's buffers that hold bytes [from, from + bytes) of its
 * data; returns how many.
 */
function slice(r: BlobIoReq, from: u64, bytes: u64, out: usize): u32 {
  let n: u32 = 0;
  let at: u64 = 0;                          // data offset where buffer i starts
  const end = from + bytes;
  for (let i: u32 = 0; i < r.iovcnt && at < end; i++) {
    const base = <u64>load<u32>(r.iovs + (<usize>i << 3));
    const len = <u64>load<u32>(r.iovs + (<usize>i << 3), 4);
    const lo = max(at, from), hi = min(at + len, end);
    if (lo < hi) {
      store<u32>(out + (<usize>n << 3), <u32>(base + lo - at));
      store<u32>(out + (<usize>n << 3), <u32>(hi - lo), 4);
      n++;
    }
    at += len;
  }
  assert(n <= r.iovcnt);
  return n;
}

/** Zeroes into data bytes [from, from + bytes) of the request's buffer(s). */
function zeroData(r: BlobIoReq, from: u64, bytes: u64): void {
  if (r.iovs == 0) { memory.fill(r.buf + <usize>from, 0, <usize>bytes); return; }
  const out = sliceTable(r) + (<usize>r.pieces << 3);   // borrowed: no segment claims these entries yet
  const n = slice(r, from, bytes, out);
  for (let i: u32 = 0; i < n; i++) memory.fill(<usize>load<u32>(out + (<usize>i << 3)), 0, <usize>load<u32>(out + (<usize>i << 3), 4));
}

/** Read or write one segment's data at device byte `devOffset`, through its buffer(s). */
function dataIo(r: BlobIoReq, s: Store, from: u64, devOffset: u64, bytes: u64): i32 {
  const write = r.write == BLOB_WRITE;
  if (r.iovs == 0) {
    const at = r.buf + <usize>from;
    return write ? bdevWrite(s.desc, r.channel, at, devOffset, bytes, segmentDone, changetype<usize>(r))
      : bdevRead(s.desc, r.channel, at, devOffset, bytes, segmentDone, changetype<usize>(r));
  }
  const out = sliceTable(r) + (<usize>r.pieces << 3);
  const n = slice(r, from, bytes, out);
  const rc = bdevSubmitBlocks(s.desc, r.channel, write ? IO_WRITE : IO_READ, out, n, devOffset >> s.blockShift,
    bytes >> s.blockShift, segmentDone, changetype<usize>(r));
  if (rc == 0) r.pieces += n;                // in flight: these entries stay the bdev_io's until it completes
  return rc;
}

/**
 * Whether the slice table has room for the next segment's slice (at most iovcnt entries). Once no
 * segment is in flight (only issue's own hold) the table is free again; otherwise the request waits
 * for them (windowFull) and release() goes on with issue when the last one ends.
 */
function sliceRoom(r: BlobIoReq): bool {
  if (r.iovs == 0 || r.pieces + r.iovcnt <= SLICE_ENTRIES) return true;
  if (r.pending == 1) { r.pieces = 0; return true; }
  r.windowFull = 1;
  return false;
}

/** After -ENOMEM from a submit: whether the request now waits for a bdev_io (retry(r) runs then). */
function waitForIo(r: BlobIoReq, rc: i32, retry: MsgFn): bool {
  return rc == -ENOMEM && bdevQueueIoWait(r.channel, waitEntry(r), retry, changetype<usize>(r)) == 0;
}

/** Issue segments until the end, an error, or a thin claim that must wait for the md thread. */
function issue(r: BlobIoReq): void {
  const blob = changetype<Blob>(r.blob);
  const s = changetype<Store>(blob.store);
  const unitShift = s.clusterShift - s.blockShift;        // clusters and io units are powers of two
  while (r.offset < r.end && r.rc == 0) {
    const index = r.offset >> unitShift;
    const inCluster = r.offset & ((<u64>1 << unitShift) - 1);
    const units = min(<u64>s.unitsPerCluster - inCluster, r.end - r.offset);
    const bytes = units << s.blockShift;
    const from = (r.offset - r.start) << s.blockShift;   // where this segment's data sits in the buffer(s)
    let cluster = clusterOf(blob, index);
    if (cluster == 0) {
      if (r.write == BLOB_READ) {
        cluster = ancestorCluster(blob, index);
        if (cluster == 0) {                  // never written anywhere up the chain: zeroes
          if (!sliceRoom(r)) break;
          zeroData(r, from, bytes);
          r.offset += units;
          continue;
        }
      } else if (!needsOwnCluster(r.write, blob, index)) {
        r.offset += units;
        continue;
      } else {
        claim(r, index);                     // resumes in claimRecorded, on this thread
        return;
      }
    }
    if (r.write == BLOB_INFLATE || r.write == BLOB_DECOUPLE) {
      r.offset += units;                     // the blob's own cluster now: nothing more to do
      continue;
    }
    if (!sliceRoom(r)) break;
    const devOffset = (<u64>cluster << s.clusterShift) + (inCluster << s.blockShift);
    r.pending++;
    let rc: i32;
    switch (r.write) {
      case BLOB_WRITE:
      case BLOB_READ: rc = dataIo(r, s, from, devOffset, bytes); break;
      case BLOB_UNMAP: rc = bdevUnmap(s.desc, r.channel, devOffset, bytes, segmentDone, changetype<usize>(r)); break;
      default: rc = bdevWriteZeroes(s.desc, r.channel, devOffset, bytes, segmentDone, changetype<usize>(r));
    }
    if (waitForIo(r, rc, resumeIssue)) return;   // the pool is empty: go on when an io is freed (issue's hold stays)
    if (rc != 0) { r.pending--; r.rc = rc; break; }
    r.offset += units;
  }
  release(r);
}

/** Called back by the bdev layer once this channel has a free bdev_io again. */
function resumeIssue(reqPtr: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  r.pending--;                               // the failed attempt's count; issue() takes it again
  issue(r);
}

function segmentDone(io: usize, success: bool, reqPtr: usize): void {
  bdevFreeIo(io);
  const r = changetype<BlobIoReq>(reqPtr);
  if (!success && r.rc == 0) r.rc = -EIO;
  release(r);
}

/** Drop one hold on the request; the last one completes it. */
function release(r: BlobIoReq): void {
  assert(r.pending > 0, "blob I/O request released more often than it was held");
  r.pending--;
  if (r.pending != 0) return;
  if (r.windowFull != 0 && r.rc == 0) {        // the segments before the window's end are done: the next ones
    r.windowFull = 0;
    r.pieces = 0;
    r.pending = 1;                             // issue's hold
    issue(r);
    return;
  }
  assert(r.offset >= r.end || r.rc != 0, "blob I/O request: its last hold dropped with segments still to issue");
  // Done inside the caller's own blobIo() (an error, or nothing to read): calling back from there would
  // let a caller that starts its next I/O from its callback recurse without bound.
  if (r.starting != 0) { sendMsg(r.thread, finishLater, changetype<usize>(r)); return; }
  finish(r);
}

function finishLater(reqPtr: usize): void { finish(changetype<BlobIoReq>(reqPtr)); }

function finish(r: BlobIoReq): void {
  const cb = r.cb, ctx = r.ctx, rc = r.rc, blob = changetype<Blob>(r.blob);
  reqPut(r);
  freezeIoDone(blob);                          // before the callback: a freeze may complete from here on
  changetype<BlobIoCb>(cb)(ctx, rc);
}

// ---- thin provisioning: claim, zero, record on the md thread, then write ----

function claim(r: BlobIoReq, index: u64): void {
  const blob = changetype<Blob>(r.blob);
  const s = changetype<Store>(blob.store);
  spinLock(storeLock(s));
  // A write of this thread is claiming that cluster already: wait for it rather than claim a second
  // one, which would be filled only to be given back and could run a nearly full device out of
  // clusters. (Writes of other threads claim their own, as in SPDK; the md thread keeps the first.)
  // Bounds: a request is in at most one of these lists at a time (the blob's claims while it claims,
  // one claim's waiters while it waits), so the claims hold at most the blob's writes in flight.
  for (let o = blob.claims; o != 0; o = changetype<BlobIoReq>(o).claimNext) {
    assert(o != changetype<usize>(r), "blob I/O: a request already claiming a cluster claims again");
    const owner = changetype<BlobIoReq>(o);
    if (owner.claimIndex == index && owner.thread == r.thread) {
      r.waitNext = owner.claimWaiters;
      owner.claimWaiters = changetype<usize>(r);
      spinUnlock(storeLock(s));
      r.pending++;                             // the wait holds the request
      release(r);                              // the hold issue() had
      return;
    }
  }
  let cluster: i64 = -1;
  if (s.freeClusters > 0) {
    cluster = bitFindClear(s.usedClusters, s.firstDataCluster, s.totalClusters);
    if (cluster >= 0) { bitSet(s.usedClusters, <u64>cluster); s.freeClusters--; }
  }
  if (cluster >= 0) {
    r.claimIndex = index;
    r.claimCluster = <u32>cluster;
    r.claimWaiters = 0;
    r.claimNext = blob.claims;
    blob.claims = changetype<usize>(r);
  }
  spinUnlock(storeLock(s));
  if (cluster < 0) { r.rc = -ENOSPC; release(r); return; }
  r.pending++;                                 // the claim holds the request
  zeroClaimed(changetype<usize>(r));
  release(r);                                  // the hold issue() had
}

/**
 * On the claiming write's thread, once its claim is over (recorded, lost to another thread's, or
 * failed): off the blob's list, and the writes that waited for it go on (they find the cluster in
 * the map, or claim it themselves if the claim failed).
 */
function endClaim(r: BlobIoReq): void {
  const blob = changetype<Blob>(r.blob);
  const s = changetype<Store>(blob.store);
  spinLock(storeLock(s));
  let link = changetype<usize>(blob) + offsetof<Blob>("claims");
  while (load<usize>(link) != changetype<usize>(r)) {
    assert(load<usize>(link) != 0, "blob I/O: a claim missing from its blob's list");
    link = load<usize>(link) + offsetof<BlobIoReq>("claimNext");
  }
  store<usize>(link, r.claimNext);
  let waiter = r.claimWaiters;
  r.claimWaiters = 0;
  spinUnlock(storeLock(s));
  while (waiter != 0) {
    const w = changetype<BlobIoReq>(waiter);
    waiter = w.waitNext;
    issue(w);                                  // the wait's hold becomes issue()'s
  }
}

/** The claim failed before its cluster joined the blob: the cluster goes back, the write fails with rc. */
function claimFailed(r: BlobIoReq, rc: i32): void {
  unclaim(r);
  endClaim(r);
  r.rc = rc;
  release(r);
}

/**
 * Fill the claimed cluster before it joins the blob: with the ancestor's data (copy on write), or
 * with zeroes: the rest of the cluster must read as it did before. A write whose segment covers the
 * whole cluster fills it with its own data instead (no zeroes, no copy: they would all be
 * overwritten), still before the cluster joins the blob.
 */
function zeroClaimed(reqPtr: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  const s = changetype<Store>(changetype<Blob>(r.blob).store);
  if (coversClaimedCluster(r, s)) {
    const rc = bdevWrite(s.desc, r.channel, r.buf + <usize>((r.offset - r.start) << s.blockShift),
      <u64>r.claimCluster << s.clusterShift, <u64>s.clusterBytes, claimZeroed, reqPtr);
    if (rc == 0) { r.claimFilled = 1; return; }
    if (waitForIo(r, rc, zeroClaimed)) return;
    claimFailed(r, rc);
    return;
  }
  const source = ancestorCluster(changetype<Blob>(r.blob), r.claimIndex);
  if (source != 0) { copyFromAncestor(r, source); return; }
  const rc = bdevWriteZeroes(s.desc, r.channel, <u64>r.claimCluster << s.clusterShift, <u64>s.clusterBytes, claimZeroed, reqPtr);
  if (waitForIo(r, rc, zeroClaimed)) return;
  if (rc != 0) claimFailed(r, rc);
}

/**
 * Whether the segment being claimed for (it starts at r.offset) is a plain write of the whole claimed
 * cluster from one buffer. Vectored writes fill as usual: their segments' iovec slices are counted
 * (scratch) and a lost race would need the segment's slice a second time.
 */
function coversClaimedCluster(r: BlobIoReq, s: Store): bool {
  if (r.write != BLOB_WRITE || r.iovs != 0) return false;
  const unitShift = s.clusterShift - s.blockShift;
  return (r.offset & ((<u64>1 << unitShift) - 1)) == 0 && r.end - r.offset >= <u64>s.unitsPerCluster &&
    r.offset >> unitShift == r.claimIndex;
}

// ---- copy on write: the ancestor's cluster is read into a scratch buffer of this channel's pool
// (waiting for one if all are out or the heap has no room), then written to the claimed cluster ----

function copyFromAncestor(r: BlobIoReq, source: u32): void {
  const s = changetype<Store>(changetype<Blob>(r.blob).store);
  r.cowSource = source;
  const buf = bdevScratchGet(r.channel, <usize>s.clusterBytes, waitEntry(r), cowScratchReady, changetype<usize>(r));
  if (buf != 0) cowScratchReady(changetype<usize>(r), buf);   // else cowScratchReady runs once one is free
}

/** The scratch buffer came (buf), or the channel or its bdev is going away (0): the copy fails. */
function cowScratchReady(reqPtr: usize, buf: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  if (buf == 0) { claimFailed(r, -ENODEV); return; }
  r.bounce = buf;
  cowReadAncestor(reqPtr);
}

function cowReadAncestor(reqPtr: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  const s = changetype<Store>(changetype<Blob>(r.blob).store);
  const rc = bdevRead(s.desc, r.channel, r.bounce, <u64>r.cowSource << s.clusterShift, <u64>s.clusterBytes, cowRead, reqPtr);
  if (rc != 0 && !waitForIo(r, rc, cowReadAncestor)) cowFailed(r, rc);
}

function cowRead(io: usize, success: bool, reqPtr: usize): void {
  bdevFreeIo(io);
  const r = changetype<BlobIoReq>(reqPtr);
  if (!success) { cowFailed(r, -EIO); return; }
  cowWriteClaimed(reqPtr);
}

function cowWriteClaimed(reqPtr: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  const s = changetype<Store>(changetype<Blob>(r.blob).store);
  const rc = bdevWrite(s.desc, r.channel, r.bounce, <u64>r.claimCluster << s.clusterShift, <u64>s.clusterBytes, cowWritten, reqPtr);
  if (rc != 0 && !waitForIo(r, rc, cowWriteClaimed)) cowFailed(r, rc);
}

function cowWritten(io: usize, success: bool, reqPtr: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  bdevScratchPut(r.channel, r.bounce);
  r.bounce = 0;
  claimZeroed(io, success, reqPtr);
}

function cowFailed(r: BlobIoReq, rc: i32): void {
  bdevScratchPut(r.channel, r.bounce);
  r.bounce = 0;
  claimFailed(r, rc);
}

function unclaim(r: BlobIoReq): void {
  const s = changetype<Store>(changetype<Blob>(r.blob).store);
  spinLock(storeLock(s));
  bitClear(s.usedClusters, <u64>r.claimCluster);
  s.freeClusters++;
  spinUnlock(storeLock(s));
}

function claimZeroed(io: usize, success: bool, reqPtr: usize): void {
  bdevFreeIo(io);
  const r = changetype<BlobIoReq>(reqPtr);
  const s = changetype<Store>(changetype<Blob>(r.blob).store);
  if (!success) { claimFailed(r, -EIO); return; }
  sendMsg(s.mdThread, recordOnMdThread, reqPtr);
}

/** On the md thread: the blob's map takes the cluster, unless another write got there first. */
function recordOnMdThread(reqPtr: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  const blob = changetype<Blob>(r.blob);
  const cell = changetype<BlobMd>(blob.md).clusters + (<usize>r.claimIndex << 2);
  if (atomic.load<u32>(cell) == 0) {
    atomic.store<u32>(cell, r.claimCluster);
    blob.dirty = 1;
    r.claimWon = 1;
  } else {
    unclaim(r);                                // lost the race: use the winner's cluster
    r.claimWon = 0;
  }
  sendMsg(r.thread, claimRecorded, reqPtr);
}

/**
 * Back on the submitting thread: the claim's hold becomes issue()'s, and the write goes on (past the
 * segment, if its data already filled the cluster that joined the blob; a lost race writes it again
 * into the winner's cluster).
 */
function claimRecorded(reqPtr: usize): void {
  const r = changetype<BlobIoReq>(reqPtr);
  endClaim(r);
  if (r.claimFilled != 0) {
    r.claimFilled = 0;
    if (r.claimWon != 0) r.offset += <u64>changetype<Store>(changetype<Blob>(r.blob).store).unitsPerCluster;
  }
  issue(r);
}

