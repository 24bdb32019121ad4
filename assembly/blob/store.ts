// Blobstore lifecycle on a bdev: init (new layout), load (clean: read the masks; dirty: rebuild them
// by replaying every md page), unload (masks, then a clean super block). Everything here runs on the
// md thread as callback chains named after their steps.

import {
  heapAllocZeroed, heapFree, heapAlloc, spinInit, spinLock, spinUnlock, report, now_us, LEVEL_ERROR, LEVEL_NOTICE, LEVEL_WARN, crc32c,
  EINVAL, ENOMEM, ENOSPC, EBUSY, EIO, EPERM, ENODEV, ENOENT, ENODATA,
} from "../runtime";
import { threadGet, getIoChannel, putIoChannel } from "../thread";
import { bdevById, bdevOpen, bdevClaim, bdevClose, bdevRead, bdevWrite, bdevFlush, bdevWriteZeroes, bdevFreeIo, bdevQueueIoWait, Bdev } from "../bdev";
import * as F from "./format";
import { bitSet, bitTest } from "./bitmap";
import { BlobMd, mdFree, mdUseAllocator, mdAllocatorInstalled, mdScratchFree } from "./md";
import { Store, BsOpCb, storeLock } from "./types";
import { blobUnmarkSnapshot } from "./blob";
import { cloneIndexAlloc, cloneIndexFree, cloneIndexClear, cloneIndexRefuseLoops } from "./clone-index";
import { scanStart, SCAN_CHUNK_PAGES } from "./recover";

const PAGE: u32 = F.MD_PAGE_BYTES;

// ---- page I/O on the md thread ----

/** (op, ok) */
type PageIoDone = (op: usize, ok: bool) => void;

@unmanaged class PageIo {
  done: usize;
  op: usize;
  store: usize;
  kind: u32;          // 0 read, 1 write, 2 flush
  count: u32;
  page: u64;
  buf: usize;
  wait0: u64;         // 16 bytes inline: the queue_io_wait entry when the channel's pool is empty
  wait1: u64;
}

function pageIoComplete(io: usize, success: bool, ctx: usize): void {
  bdevFreeIo(io);
  const p = changetype<PageIo>(ctx);
  const done = p.done, op = p.op;
  heapFree(ctx);
  changetype<PageIoDone>(done)(op, success);
}

/** Submit (or resubmit) a page request; an empty bdev_io pool waits for a free one instead of failing. */
function pageIoSubmit(ctx: usize): void {
  const p = changetype<PageIo>(ctx);
  const s = changetype<Store>(p.store);
  let rc: i32;
  if (p.kind == 2) rc = bdevFlush(s.desc, s.mdChannel, pageIoComplete, ctx);
  else if (p.kind == 1) rc = bdevWrite(s.desc, s.mdChannel, p.buf, p.page << F.MD_PAGE_SHIFT, <u64>p.count << F.MD_PAGE_SHIFT, pageIoComplete, ctx);
  else rc = bdevRead(s.desc, s.mdChannel, p.buf, p.page << F.MD_PAGE_SHIFT, <u64>p.count << F.MD_PAGE_SHIFT, pageIoComplete, ctx);
  if (rc == -ENOMEM && bdevQueueIoWait(s.mdChannel, ctx + offsetof<PageIo>("wait0"), pageIoSubmit, ctx) == 0) return;
  if (rc != 0) {
    const done = p.done, op = p.op;
    heapFree(ctx);
    changetype<PageIoDone>(done)(op, false);
  }
}

function pageRequest(s: Store, kind: u32, page: u64, count: u32, buf: usize, done: PageIoDone, op: usize): void {
  const p = changetype<PageIo>(heapAlloc(offsetof<PageIo>()));
  if (changetype<usize>(p) == 0) { done(op, false); return; }
  p.done = changetype<usize>(done);
  p.op = op;
  p.store = changetype<usize>(s);
  p.kind = kind;
  p.page = page;
  p.count = count;
  p.buf = buf;
  pageIoSubmit(changetype<usize>(p));
}

/** Read or write `count` md-sized pages at page `page` of the device; done(op, ok) on this thread. */
export function pageIo(s: Store, write: bool, page: u64, count: u32, buf: usize, done: PageIoDone, op: usize): void {
  pageRequest(s, write ? 1 : 0, page, count, buf, done, op);
}

export function storeFlush(s: Store, done: PageIoDone, op: usize): void {
  pageRequest(s, 2, 0, 0, 0, done, op);
}

// ---- the operation context every chain here carries ----

@unmanaged export class StoreOp {
  store: usize;
  cb: usize;          // BsOpCb
  ctx: usize;
  buf: usize;
  cursor: u32;        // recovery: next md page to read
  recovered: u32;     // recovery: blobs found
  skipped: u32;       // recovery: blobs refused (reported)
  heads: usize;       // recovery: heads of multi-page chains (u32), second pass
  headsLen: u32;
  headsCap: u32;
  headIdx: u32;
  md: usize;          // recovery: the chain being read
  chainPages: usize;  // recovery: its pages after the head (u32 × 63)
  chainLen: u32;
  chainPage: u32;
  damaged: u32;       // recovery: non-zero pages that failed their CRC (reported)
  snaps: usize;       // recovery: marked snapshots, decided last (SnapRecord × snapsLen)
  snapsLen: u32;
  snapsCap: u32;
  snapIdx: u32;
  probe: u32;         // load: a bdev without a blobstore is an answer (-ENODATA), not an error to report
  masks: usize;       // clean load: the masks read from disk (mask_len pages), checksummed
  checking: u32;      // the md scan is the clean check against `masks` (recover.ts), not a recovery
  checkEnded: u32;    // the clean check found a disagreement (checkWhat about checkAt): recover instead
  checkWhat: usize;   // a static string
  checkAt: u32;
  tagRight: u32;      // md pages read that pass their CRC and carry the store's tag
  tagWrong: u32;      // ... and those that carry another (tagWrongAt: the first)
  tagWrongAt: u32;
}

/** A snapshot found with its in-progress mark: kept only if its origin already points at it. */
@unmanaged export class SnapRecord {
  index: u32;         // md page of the snapshot
  extraLen: u32;      // chain pages after the first
  md: usize;          // decoded BlobMd (owned)
  extra: usize;       // u32 page indexes (owned), or 0
  kept: u32;          // 1: kept, and its mark is dropped once the store is in use (unmarkKept)
}

function opNew(s: Store, cb: BsOpCb, ctx: usize): StoreOp {
  const op = changetype<StoreOp>(heapAllocZeroed(offsetof<StoreOp>()));
  if (changetype<usize>(op) != 0) { op.store = changetype<usize>(s); op.cb = changetype<usize>(cb); op.ctx = ctx; }
  return op;
}

/** Free what the md scan (recover.ts) holds: its chain heads, snapshot records and the md being read. */
function scanStateFree(op: StoreOp): void {
  mdScratchFree(op.heads);
  op.heads = 0; op.headsLen = 0; op.headsCap = 0; op.headIdx = 0;
  for (let i: u32 = 0; i < op.snapsLen; i++) {
    const rec = changetype<SnapRecord>(op.snaps + <usize>i * offsetof<SnapRecord>());
    if (rec.md != 0) mdFree(changetype<BlobMd>(rec.md));
    mdScratchFree(rec.extra);
  }
  mdScratchFree(op.snaps);
  op.snaps = 0; op.snapsLen = 0; op.snapsCap = 0; op.snapIdx = 0;
  if (op.md != 0) mdFree(changetype<BlobMd>(op.md));
  op.md = 0;
  op.recovered = 0; op.skipped = 0; op.damaged = 0;
}

function opFinish(op: StoreOp, rc: i32, value: u64): void {
  const cb = op.cb, ctx = op.ctx;
  heapFree(op.buf);
  heapFree(op.masks);
  heapFree(op.chainPages);
  scanStateFree(op);
  heapFree(changetype<usize>(op));
  changetype<BsOpCb>(cb)(ctx, rc, value);
}

/** Release what a store holds (after a failed init/load, or at the end of unload). */
function storeFree(s: Store): void {
  if (s.mdChannel != 0) putIoChannel(s.mdChannel);
  if (s.desc != 0) bdevClose(s.desc);
  heapFree(s.usedMd); heapFree(s.usedIds); heapFree(s.usedClusters); heapFree(s.refusedIds); heapFree(s.sb);
  cloneIndexFree(s);
  heapFree(changetype<usize>(s));
}

/** Let go of the store's bdev, then complete: whoever the completion wakes may open it for write at once. */
export function failStore(op: StoreOp, rc: i32): void {
  storeFree(changetype<Store>(op.store));
  opFinish(op, rc, 0);
}

/**
 * Blob metadata (md.ts) takes its memory from the engine's heap, which says 0 when it is exhausted,
 * instead of the stock heap.alloc, which stops the engine. Globals are per instance: every instance
 * runs this when it attaches to the memory (wstor_attach).
 */
export function blobAttach(): void { mdUseAllocator(heapAlloc, heapFree); }

/** Open and claim the bdev on the current thread, and the md channel. */
function storeOpenBdev(bdevId: u32, write: bool): Store {
  assert(mdAllocatorInstalled(), "blob md would use the stock heap, which stops the engine when short: blobAttach was not run in this instance");
  storeOpenError = 0;
  const s = changetype<Store>(heapAllocZeroed(offsetof<Store>()));
  if (changetype<usize>(s) == 0) return s;
  const bdev = bdevById(bdevId);
  if (bdev == 0) { heapFree(changetype<usize>(s)); storeOpenError = -ENODEV; return changetype<Store>(0); }
  const desc = bdevOpen(bdev, write, null, 0);
  if (desc < 0) { heapFree(changetype<usize>(s)); storeOpenError = desc; return changetype<Store>(0); }
  // A read-only load of a bdev someone writes (a store loaded on it) would read metadata in flux.
  if (!write && changetype<Bdev>(bdev).claimed != 0) {
    report(LEVEL_ERROR, -EBUSY, "bdev %s is claimed for writing (a blobstore is loaded on it, or another module has it): unload that before loading it read-only",
      changetype<Bdev>(bdev).name);
    bdevClose(<u32>desc);
    heapFree(changetype<usize>(s));
    storeOpenError = -EBUSY;
    return changetype<Store>(0);
  }
  s.desc = <u32>desc;
  if (write) {
    const rc = bdevClaim(s.desc);
    if (rc != 0) { bdevClose(s.desc); heapFree(changetype<usize>(s)); storeOpenError = rc; return changetype<Store>(0); }
  }
  s.bdev = bdev;
  s.mdThread = threadGet();
  s.mdChannel = getIoChannel(bdev);
  s.blockSize = changetype<Bdev>(bdev).blockSize;
  s.blockShift = changetype<Bdev>(bdev).blockShift;
  spinInit(storeLock(s), "blobstore_used_clusters");
  return s;
}

/** Why the last storeOpenBdev failed. */
let storeOpenError: i32 = 0;

function deviceBytes(s: Store): u64 { return changetype<Bdev>(s.bdev).blockCount << s.blockShift; }

/** Bytes of the in-memory md-page (and id) mask, and of the cluster mask: whole pages, as on disk. */
function mdMaskBytes(s: Store): usize { return <usize>F.maskPagesOf(<u64>s.mdLen) << F.MD_PAGE_SHIFT; }
function clusterMaskBytes(s: Store): usize { return <usize>F.maskPagesOf(<u64>s.clusterMaskBits) << F.MD_PAGE_SHIFT; }

/** Allocate the in-memory masks, the blobs refused at load and the (empty) clone index for the geometry in `s`. */
function allocMasks(s: Store): bool {
  s.usedMd = heapAllocZeroed(mdMaskBytes(s));
  s.usedIds = heapAllocZeroed(mdMaskBytes(s));
  s.refusedIds = heapAllocZeroed(mdMaskBytes(s));
  s.usedClusters = heapAllocZeroed(clusterMaskBytes(s));
  const indexed = cloneIndexAlloc(s);
  if (!indexed) {
    report(LEVEL_ERROR, -ENOMEM, "blobstore: no memory for the clone index (8 bytes per md page, %d md pages): give the engine more memory or use fewer md pages",
      0, 0, <f64>s.mdLen);
  }
  return s.usedMd != 0 && s.usedIds != 0 && s.refusedIds != 0 && s.usedClusters != 0 && indexed;
}

/** The clean check failed (recover.ts): empty masks and index again, and none of the scan's state, for a recovery. */
export function resetMasks(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  memory.fill(s.usedMd, 0, mdMaskBytes(s));
  memory.fill(s.usedIds, 0, mdMaskBytes(s));
  memory.fill(s.usedClusters, 0, clusterMaskBytes(s));
  cloneIndexClear(s);
  reserveMetadataClusters(s);
  scanStateFree(op);
}

/** The clusters overlapping the super block, masks and md region are used from the start. */
function reserveMetadataClusters(s: Store): void {
  const mdEndBytes = (<u64>s.mdStart + <u64>s.mdLen) << F.MD_PAGE_SHIFT;
  s.firstDataCluster = (mdEndBytes + <u64>s.clusterBytes - 1) >> s.clusterShift;
  for (let c: u64 = 0; c < s.firstDataCluster; c++) bitSet(s.usedClusters, c);
  s.freeClusters = s.totalClusters - s.firstDataCluster;
}

function readGeometry(s: Store): void {
  const sb = s.sb;
  s.clusterBytes = load<u32>(sb + F.SB_CLUSTER_BYTES);
  s.clusterShift = ctz(s.clusterBytes);
  s.unitsPerCluster = s.clusterBytes >> s.blockShift;
  s.totalClusters = load<u64>(sb + F.SB_TOTAL_CLUSTERS);
  s.mdStart = load<u32>(sb + F.SB_MD_START);
  s.mdLen = load<u32>(sb + F.SB_MD_LEN);
  s.maskStart = load<u32>(sb + F.SB_MASK_START);
  s.maskLen = load<u32>(sb + F.SB_MASK_LEN);
  s.clusterMaskBits = load<u32>(sb + F.SB_CLUSTER_MASK_BITS);
  s.superBlob = load<u64>(sb + F.SB_SUPER_BLOB);
  s.generation = load<u64>(sb + F.SB_GENERATION);
  s.mdTag = F.storeTag(sb);
}

/** Write the super block with `clean`, sealed. */
function writeSuper(op: StoreOp, clean: u32, done: PageIoDone): void {
  const s = changetype<Store>(op.store);
  const sb = s.sb;
  store<u32>(sb + F.SB_CLEAN, clean);
  store<u32>(sb + F.SB_VERSION, F.FORMAT_VERSION);            // a version 1 store is upgraded by its first write
  store<u32>(sb + F.SB_MASK_LEN, s.maskLen);
  store<u64>(sb + F.SB_SUPER_BLOB, s.superBlob);
  store<u64>(sb + F.SB_GENERATION, s.generation);
  store<u64>(sb + F.SB_TOTAL_CLUSTERS, s.totalClusters);     // grows with storeGrow
  store<u64>(sb + F.SB_DEVICE_BYTES, deviceBytes(s));
  store<u32>(sb + F.SB_CRC, crc32c(sb, F.SB_CRC));
  pageIo(s, true, 0, 1, sb, done, changetype<usize>(op));
}

// ---------------------------------------------------------------------------------------------
// init

/**
 * Lay out a new, empty store on bdev `bdevId` (from the current thread, which becomes the md thread).
 * clusterBytes: power of two ≥ 4096; mdPages: 0 for one per cluster. cb(ctx, rc, store) on this thread.
 */
export function storeInit(bdevId: u32, clusterBytes: u32, mdPages: u32, cb: BsOpCb, ctx: usize): void {
  const s = storeOpenBdev(bdevId, true);
  if (changetype<usize>(s) == 0) { cb(ctx, storeOpenError != 0 ? storeOpenError : -ENOMEM, 0); return; }
  const op = opNew(s, cb, ctx);
  if (changetype<usize>(op) == 0) { storeFree(s); cb(ctx, -ENOMEM, 0); return; }
  if (clusterBytes < PAGE || popcnt(clusterBytes) != 1 || s.blockSize > PAGE) { failStore(op, -EINVAL); return; }
  s.clusterBytes = clusterBytes;
  s.clusterShift = ctz(clusterBytes);
  s.unitsPerCluster = clusterBytes >> s.blockShift;
  s.totalClusters = deviceBytes(s) >> s.clusterShift;
  if (s.totalClusters < 2 || s.totalClusters > 0xfffffff0) { failStore(op, -ENOSPC); return; }
  s.mdLen = mdPages != 0 ? mdPages : <u32>s.totalClusters;
  // Room for the device to grow to 4x (bdev grow): the cluster mask is laid out for that many.
  s.clusterMaskBits = <u32>min<u64>(s.totalClusters * 4, 0xfffffff0);
  s.maskStart = 1;
  s.maskLen = F.maskRegionPages(s.mdLen, s.clusterMaskBits);
  s.mdStart = s.maskStart + s.maskLen;
  s.sb = heapAllocZeroed(PAGE);
  if (s.sb == 0 || !allocMasks(s)) { failStore(op, -ENOMEM); return; }
  reserveMetadataClusters(s);
  if (s.firstDataCluster >= s.totalClusters) { failStore(op, -ENOSPC); return; }
  const sb = s.sb;
  store<u64>(sb + F.SB_SIGNATURE, F.SUPER_SIGNATURE);
  store<u32>(sb + F.SB_VERSION, F.FORMAT_VERSION);
  store<u32>(sb + F.SB_CLUSTER_BYTES, clusterBytes);
  store<u32>(sb + F.SB_IO_UNIT_BYTES, s.blockSize);
  store<u32>(sb + F.SB_MD_PAGE_BYTES, PAGE);
  store<u64>(sb + F.SB_TOTAL_CLUSTERS, s.totalClusters);
  store<u32>(sb + F.SB_MD_START, s.mdStart);
  store<u32>(sb + F.SB_MD_LEN, s.mdLen);
  store<u32>(sb + F.SB_MASK_START, s.maskStart);
  store<u32>(sb + F.SB_MASK_LEN, s.maskLen);
  store<u32>(sb + F.SB_CLUSTER_MASK_BITS, s.clusterMaskBits);
  // Any nonzero seed will do: the tag it makes ties the md pages to this geometry (format.ts storeTag).
  store<u32>(sb + F.SB_TAG_SEED, <u32>now_us() | 1);
  s.mdTag = F.storeTag(sb);
  s.generation = 1;
  // A previous store's md pages must not be replayed as ours: zero the md region first.
  initZeroMd(op);
}

/**
 * md pages zeroed at init: the md region, and the rest of the clusters it ends in. Nothing writes
 * there after, so a page past md_len that passes its CRC says the super block's md_len shrank
 * (recover.ts peekPastMdRegion).
 */
export function zeroedMdPages(s: Store): u32 {
  return <u32>((s.firstDataCluster << s.clusterShift) >> F.MD_PAGE_SHIFT) - s.mdStart;
}

function initZeroMd(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  const rc = bdevWriteZeroes(s.desc, s.mdChannel, <u64>s.mdStart << F.MD_PAGE_SHIFT, <u64>zeroedMdPages(s) << F.MD_PAGE_SHIFT,
    initZeroMdDone, changetype<usize>(op));
  if (rc != 0) initZeroMdByWrites(op);          // no write_zeroes: write zeroed pages instead
}

function initZeroMdDone(io: usize, success: bool, opPtr: usize): void {
  bdevFreeIo(io);
  if (!success) { failStore(changetype<StoreOp>(opPtr), -EIO); return; }
  writeSuper(changetype<StoreOp>(opPtr), 0, initSuperDone);
}

function initZeroMdByWrites(op: StoreOp): void {
  op.buf = heapAllocZeroed(<usize>SCAN_CHUNK_PAGES << F.MD_PAGE_SHIFT);
  if (op.buf == 0) { failStore(op, -ENOMEM); return; }
  op.cursor = 0;
  initZeroNextChunk(changetype<usize>(op), true);
}

function initZeroNextChunk(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  if (op.cursor >= zeroedMdPages(s)) { writeSuper(op, 0, initSuperDone); return; }
  const n = min(SCAN_CHUNK_PAGES, zeroedMdPages(s) - op.cursor);
  const at = <u64>s.mdStart + <u64>op.cursor;
  op.cursor += n;
  pageIo(s, true, at, n, op.buf, initZeroNextChunk, opPtr);
}

function initSuperDone(opPtr: usize, ok: bool): void {
  if (!ok) { failStore(changetype<StoreOp>(opPtr), -EIO); return; }
  storeFlush(changetype<Store>(changetype<StoreOp>(opPtr).store), initFlushed, opPtr);
}

function initFlushed(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  if (!ok) { failStore(op, -EIO); return; }
  opFinish(op, 0, <u64>op.store);
}

// ---------------------------------------------------------------------------------------------
// load

/**
 * Load the store on bdev `bdevId`. A clean store's masks are checked against its md pages; a dirty
 * one (a crash), or one whose masks do not hold up, is rebuilt from every md page (recover.ts),
 * reporting each blob it has to refuse. `readOnly`: the bdev is opened for reading only and nothing
 * is ever written (a dirty store is recovered in memory only). cb(ctx, rc, store).
 */
export function storeLoad(bdevId: u32, cb: BsOpCb, ctx: usize, probe: bool = false, readOnly: bool = false): void {
  const s = storeOpenBdev(bdevId, !readOnly);
  if (changetype<usize>(s) == 0) { cb(ctx, storeOpenError != 0 ? storeOpenError : -ENOMEM, 0); return; }
  if (readOnly) s.readOnly = 1;
  const op = opNew(s, cb, ctx);
  if (changetype<usize>(op) != 0) op.probe = probe ? 1 : 0;
  s.sb = heapAllocZeroed(PAGE);
  if (changetype<usize>(op) == 0 || s.sb == 0) { storeFree(s); cb(ctx, -ENOMEM, 0); return; }
  if (s.blockSize > PAGE) { failStore(op, -EINVAL); return; }
  pageIo(s, false, 0, 1, s.sb, loadSuperDone, changetype<usize>(op));
}

/** Say why a super block is refused (checkSuper's verdict); the load's errno. */
function refuseSuper(s: Store, verdict: i32): i32 {
  const name = changetype<Bdev>(s.bdev).name, sb = s.sb;
  switch (verdict) {
    case F.SB_BAD_SIGNATURE:
      report(LEVEL_ERROR, -EINVAL, "bdev %s holds no wstor blobstore (no signature in block 0): init one first", name);
      return -EINVAL;
    case F.SB_BAD_CRC:
      report(LEVEL_ERROR, -EIO, "bdev %s: blobstore super block fails its CRC (damaged); not loaded", name);
      return -EIO;
    case F.SB_BAD_VERSION:
      report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore format version %d is not supported (this build reads versions 1 to %d)", name, 0,
        <f64>load<u32>(sb + F.SB_VERSION), <f64>F.FORMAT_VERSION);
      return -EINVAL;
    case F.SB_UNKNOWN_INVALID_FLAG:
      report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore uses a feature this build does not know (invalid flags 0x%d); not loaded", name, 0, <f64>load<u64>(sb + F.SB_FLAGS_INVALID));
      return -EINVAL;
    case F.SB_BAD_UNITS:
      report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore super block is damaged: cluster size %d bytes or io unit %d bytes is not valid for this device (md page bytes must be 4096); not loaded",
        name, 0, <f64>load<u32>(sb + F.SB_CLUSTER_BYTES), <f64>load<u32>(sb + F.SB_IO_UNIT_BYTES));
      return -EINVAL;
    case F.SB_BAD_CLUSTERS:
      report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore super block is damaged: %d clusters do not fit the device, or the cluster mask (room for %d) cannot hold them; not loaded",
        name, 0, <f64>load<u64>(sb + F.SB_TOTAL_CLUSTERS), <f64>load<u32>(sb + F.SB_CLUSTER_MASK_BITS));
      return -EINVAL;
    default:
      assert(verdict == F.SB_BAD_LAYOUT, "a super block verdict without a message");
      report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore super block is damaged: its md region (%d pages from page %d) is not where the masks end, or runs past the store; not loaded",
        name, 0, <f64>load<u32>(sb + F.SB_MD_LEN), <f64>load<u32>(sb + F.SB_MD_START));
      return -EINVAL;
  }
}

function loadSuperDone(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const name = changetype<Bdev>(s.bdev).name;
  const verdict = F.checkSuper(s.sb, deviceBytes(s), s.blockSize);
  if (verdict == F.SB_BAD_SIGNATURE && op.probe != 0) { failStore(op, -ENODATA); return; }
  if (verdict != F.SB_OK && verdict != F.SB_MASK_LEN_WRONG) { failStore(op, refuseSuper(s, verdict)); return; }
  if (F.superForcesReadOnly(s.sb) && s.readOnly == 0) {
    s.readOnly = 1;
    report(LEVEL_WARN, 0, "bdev %s: blobstore uses a read-only-compatible feature this build does not know: loaded read-only", name);
  }
  let why = "";                          // why the masks on disk cannot be used, if they cannot
  if (verdict == F.SB_MASK_LEN_WRONG) {
    // Only the masks' length is off: the md pages rebuild them, and the next unload writes the right one.
    const masks = F.maskRegionPages(load<u32>(s.sb + F.SB_MD_LEN), load<u32>(s.sb + F.SB_CLUSTER_MASK_BITS));
    report(LEVEL_NOTICE, 0, "bdev %s: blobstore super block's mask_len %d disagrees with its md_len and cluster_mask_bits (%d pages)",
      name, 0, <f64>load<u32>(s.sb + F.SB_MASK_LEN), <f64>masks);
    store<u32>(s.sb + F.SB_MASK_LEN, masks);
    why = "has a wrong mask_len";
  } else if (!F.superHasMaskCrc(s.sb)) why = "is format version 1, whose masks have no checksum (the next unload writes version 2)";
  readGeometry(s);
  if (!allocMasks(s)) { failStore(op, -ENOMEM); return; }
  reserveMetadataClusters(s);
  if (why.length != 0) { recoverBecause(op, why); return; }
  // Read even when dirty: masks that pass their checksum (written at the last clean unload, stale
  // since) still show whether the super block's lengths are the ones they were written with.
  op.masks = heapAlloc(<usize>s.maskLen << F.MD_PAGE_SHIFT);
  if (op.masks == 0) { failStore(op, -ENOMEM); return; }
  pageIo(s, false, <u64>s.maskStart, s.maskLen, op.masks, loadMasksDone, opPtr);
}

/** The masks on disk are not used: said why, and the store is rebuilt from every md page. */
function recoverBecause(op: StoreOp, why: string): void {
  const s = changetype<Store>(op.store);
  report(LEVEL_NOTICE, 0, "bdev %s: blobstore %s: recovering from its md pages", changetype<Bdev>(s.bdev).name, changetype<usize>(why));
  heapFree(op.masks);
  op.masks = 0;
  scanStart(op, false);
}

function loadMasksDone(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const clean = load<u32>(s.sb + F.SB_CLEAN) == 1;
  if (crc32c(op.masks, <usize>s.maskLen << F.MD_PAGE_SHIFT) != load<u32>(s.sb + F.SB_MASK_CRC)) {
    // A dirty store's masks may never have been written (no clean unload yet): expected, not damage.
    recoverBecause(op, clean ? "masks fail their checksum (damaged)" : "was not unloaded cleanly");
    return;
  }
  // Masks that hold up mark nothing past their lengths; if they do, the super block's lengths are
  // what is wrong, and recovering under them would hide the blobs past md_len or total_clusters.
  const past = markedPastEnd(s, op.masks);
  if (past >= 0) {
    report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore super block disagrees with its masks: %s %d is marked used past the store's end (md_len or total_clusters is damaged); not loaded",
      changetype<Bdev>(s.bdev).name, changetype<usize>(pastWhat), <f64>past);
    failStore(op, -EINVAL);
    return;
  }
  if (!clean) { recoverBecause(op, "was not unloaded cleanly"); return; }
  // What the masks say is checked against the md pages they name (recover.ts): equal, or recovered.
  scanStart(op, true);
}

/** What markedPastEnd found set: which mask. */
let pastWhat: string = "";

/** The first bit set past its mask's length in masks read from disk (-1: none), which in pastWhat. */
function markedPastEnd(s: Store, masks: usize): i64 {
  const mdBytes = mdMaskBytes(s), clusterBytes = clusterMaskBytes(s);
  let at = firstSetFrom(masks, <u64>s.mdLen, <u64>mdBytes << 3);
  if (at >= 0) { pastWhat = "md page"; return at; }
  at = firstSetFrom(masks + mdBytes, s.totalClusters, <u64>clusterBytes << 3);
  if (at >= 0) { pastWhat = "cluster"; return at; }
  at = firstSetFrom(masks + mdBytes + clusterBytes, <u64>s.mdLen, <u64>mdBytes << 3);
  if (at >= 0) { pastWhat = "blob id of md page"; return at; }
  return -1;
}

function firstSetFrom(map: usize, from: u64, bits: u64): i64 {
  for (let i = from; i < bits; i++) {
    if ((i & 7) == 0 && i + 8 <= bits) {
      if (load<u8>(map + <usize>(i >> 3)) == 0) { i += 7; continue; }
    }
    if (bitTest(map, i)) return <i64>i;
  }
  return -1;
}

/**
 * The md scan is over (recover.ts): the masks and the clone index are what the md pages say. Blobs
 * whose parent chain loops are refused by id (reported), then the store is marked in use.
 */
export function loadReady(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  const refused = cloneIndexRefuseLoops(s);
  if (refused < 0) { failStore(op, refused); return; }
  if (s.superBlob != 0 && (!F.isBlobId(s.superBlob) || F.mdPageOf(s.superBlob) >= s.mdLen || !bitTest(s.usedIds, <u64>F.mdPageOf(s.superBlob)))) {
    report(LEVEL_WARN, 0, "bdev %s: blobstore super blob %d is not a blob of the store: the store has no super blob", changetype<Bdev>(s.bdev).name, 0, <f64>s.superBlob);
    s.superBlob = 0;
  }
  if (s.readOnly != 0 && op.checking == 0) {
    report(LEVEL_NOTICE, 0, "bdev %s: blobstore loaded read-only: recovered in memory only, nothing written (a load for writing recovers it on disk)",
      changetype<Bdev>(s.bdev).name);
  }
  markDirty(op);
}

// ---- the store is in use from here: the super block says so before anything else changes ----

function markDirty(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (s.readOnly != 0) { opFinish(op, 0, <u64>op.store); return; }
  s.generation++;
  writeSuper(op, 0, dirtyWritten);
}

function dirtyWritten(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  if (!ok) { failStore(op, -EIO); return; }
  storeFlush(changetype<Store>(op.store), dirtyFlushed, opPtr);
}

function dirtyFlushed(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  if (!ok) { failStore(op, -EIO); return; }
  op.snapIdx = 0;
  unmarkKept(op);
}

/** Finish the snapshots recovery kept: each loses its in-the-making mark (blob.ts), one at a time. */
function unmarkKept(op: StoreOp): void {
  while (op.snapIdx < op.snapsLen) {
    const rec = changetype<SnapRecord>(op.snaps + <usize>op.snapIdx * offsetof<SnapRecord>());
    op.snapIdx++;
    if (rec.kept == 0) continue;
    blobUnmarkSnapshot(changetype<Store>(op.store), F.blobIdOf(rec.index), snapshotUnmarked, changetype<usize>(op));
    return;
  }
  opFinish(op, 0, <u64>op.store);
}

function snapshotUnmarked(opPtr: usize, rc: i32, _value: u64): void {
  const op = changetype<StoreOp>(opPtr);
  const rec = changetype<SnapRecord>(op.snaps + <usize>(op.snapIdx - 1) * offsetof<SnapRecord>());
  // Left marked, the snapshot would be judged again at a later dirty load, against an origin that may
  // have moved on by then, and discarded under its clones. So the load fails instead, as recovery does
  // whenever it lacks memory: the super block still says dirty, and the next load judges the same
  // snapshots the same way (their origins have not changed) and tries again.
  if (rc != 0) {
    report(LEVEL_ERROR, rc, "blobstore recovery: could not drop the in-progress mark of the snapshot at md page %d: load failed, nothing lost; free memory (or mend the device) and load again",
      0, 0, <f64>rec.index);
    failStore(op, rc);
    return;
  }
  unmarkKept(op);
}

// ---------------------------------------------------------------------------------------------
// unload

/**
 * Write the masks, then the super block marked clean, flush, and release the bdev. -EBUSY while
 * blobs are open. cb(ctx, rc, 0) on the md thread; the store is gone after a successful unload.
 */
export function storeUnload(s: Store, cb: BsOpCb, ctx: usize): void {
  if (threadGet() != s.mdThread) { cb(ctx, -EPERM, 0); return; }
  if (s.openBlobs != 0 || s.busy != 0) { cb(ctx, -EBUSY, 0); return; }
  const op = opNew(s, cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  s.busy = 1;
  if (s.readOnly != 0) { unloadRelease(changetype<usize>(op), true); return; }
  op.buf = heapAllocZeroed(<usize>s.maskLen << F.MD_PAGE_SHIFT);
  if (op.buf == 0) { s.busy = 0; opFinish(op, -ENOMEM, 0); return; }
  const mdPagesBytes = mdMaskBytes(s), clusterBytes = clusterMaskBytes(s);
  memory.copy(op.buf, s.usedMd, mdPagesBytes);
  memory.copy(op.buf + mdPagesBytes, s.usedClusters, clusterBytes);
  memory.copy(op.buf + mdPagesBytes + clusterBytes, s.usedIds, mdPagesBytes);
  store<u32>(s.sb + F.SB_MASK_CRC, crc32c(op.buf, <usize>s.maskLen << F.MD_PAGE_SHIFT));
  // Masks first, made durable, then the super block that says they are valid (and carries their checksum).
  pageIo(s, true, <u64>s.maskStart, s.maskLen, op.buf, unloadMasksWritten, changetype<usize>(op));
}

function unloadMasksWritten(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  if (!ok) { changetype<Store>(op.store).busy = 0; opFinish(op, -EIO, 0); return; }
  storeFlush(changetype<Store>(op.store), unloadMasksFlushed, opPtr);
}

function unloadMasksFlushed(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  if (!ok) { changetype<Store>(op.store).busy = 0; opFinish(op, -EIO, 0); return; }
  writeSuper(op, 1, unloadSuperWritten);
}

function unloadSuperWritten(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  if (!ok) { changetype<Store>(op.store).busy = 0; opFinish(op, -EIO, 0); return; }
  storeFlush(changetype<Store>(op.store), unloadRelease, opPtr);
}

function unloadRelease(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { s.busy = 0; opFinish(op, -EIO, 0); return; }
  storeFree(s);                  // before completing: see failStore
  opFinish(op, 0, 0);
}

export function storeFreeClusters(s: Store): u64 { return s.freeClusters; }
export function storeTotalClusters(s: Store): u64 { return s.totalClusters; }

/**
 * Let go of the bdev without writing anything, as a process that dies would (tests of recovery).
 * Open blobs are dropped from memory; nothing reaches the disk.
 */
export function storeAbandon(s: Store): void {
  s.openBlobs = 0;
  storeFree(s);
}

/** This thread's channel for blob I/O (put it back with putIoChannel). */
export function storeGetChannel(s: Store): usize { return getIoChannel(s.bdev); }

@unmanaged class SuperOp { op: usize; }

/**
 * Record `id` (0 to clear) as the store's super blob (SPDK's spdk_bs_set_super): the super block is
 * rewritten and flushed before cb(ctx, rc, 0).
 */
export function storeSetSuper(s: Store, id: u64, cb: BsOpCb, ctx: usize): void {
  if (threadGet() != s.mdThread) { cb(ctx, -EPERM, 0); return; }
  if (s.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  if (id != 0 && (!F.isBlobId(id) || F.mdPageOf(id) >= s.mdLen || !bitTest(s.usedIds, <u64>F.mdPageOf(id)))) { cb(ctx, -ENOENT, 0); return; }
  const op = opNew(s, cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  s.superBlob = id;
  writeSuper(op, 0, dirtyWritten);
}

export function storeGetSuper(s: Store): u64 { return s.superBlob; }

/**
 * Grow the store onto its device after the device grew (SPDK's bs_grow): the clusters past the old
 * end become free, up to what the cluster mask has room for (cluster_mask_bits, fixed at init). One
 * super block write carries the new total: a cut before it leaves the old size, after it the new one.
 * cb(ctx, rc, store); a device no bigger than the store is a success that changes nothing.
 */
export function storeGrow(s: Store, cb: BsOpCb, ctx: usize): void {
  if (threadGet() != s.mdThread || s.readOnly != 0) { cb(ctx, -EPERM, 0); return; }
  const onDevice = deviceBytes(s) >> s.clusterShift;
  const fits = min<u64>(onDevice, <u64>s.clusterMaskBits);
  if (fits <= s.totalClusters) { cb(ctx, 0, changetype<usize>(s)); return; }
  const op = opNew(s, cb, ctx);
  if (changetype<usize>(op) == 0) { cb(ctx, -ENOMEM, 0); return; }
  if (fits < onDevice) {
    report(LEVEL_WARN, 0, "blobstore grow: %d clusters, the most its cluster mask has room for; %d more on the device stay unused (re-init to use them)",
      0, 0, <f64>fits, <f64>(onDevice - fits));
  }
  spinLock(storeLock(s));
  s.freeClusters += fits - s.totalClusters;
  s.totalClusters = fits;
  spinUnlock(storeLock(s));
  writeSuper(op, 0, dirtyWritten);
}
