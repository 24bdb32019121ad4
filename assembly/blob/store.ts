// Blobstore lifecycle on a bdev: init (new layout), load (clean: read the masks; dirty: rebuild them
// by replaying every md page), unload (masks, then a clean super block). Everything here runs on the
// md thread as callback chains named after their steps.

import {
  heapAllocZeroed, heapFree, heapAlloc, spinInit, spinLock, spinUnlock, report, LEVEL_ERROR, LEVEL_NOTICE, LEVEL_WARN, crc32c,
  EINVAL, ENOMEM, ENOSPC, EBUSY, EIO, EPERM, ENODEV, ENOENT, ENODATA,
} from "../runtime";
import { threadGet, getIoChannel, putIoChannel } from "../thread";
import { bdevById, bdevOpen, bdevClaim, bdevClose, bdevRead, bdevWrite, bdevFlush, bdevWriteZeroes, bdevFreeIo, bdevQueueIoWait, Bdev } from "../bdev";
import * as F from "./format";
import { bitmapBytes, bitSet, bitTest } from "./bitmap";
import {
  BlobMd, mdNew, mdFree, mdDecodePage, mdNextPage, mdCluster, MD_OK, MD_NO_MEMORY, mdErrorOffset, xattrFind, Xattr, mdUseAllocator,
  mdAllocatorInstalled, mdScratchAlloc, mdScratchFree,
} from "./md";
import { Store, BsOpCb, storeLock } from "./types";
import { blobUnmarkSnapshot } from "./blob";
import { cloneIndexAlloc, cloneIndexFree, cloneIndexSetParent, cloneIndexBuild, cloneIndexCount } from "./clone-index";

const PAGE: u32 = F.MD_PAGE_BYTES;
/** md pages read per request during recovery (1 MiB). */
const RECOVERY_CHUNK_PAGES: u32 = 256;

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

@unmanaged class StoreOp {
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
}

/** A snapshot found with its in-progress mark: kept only if its origin already points at it. */
@unmanaged class SnapRecord {
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

function opFinish(op: StoreOp, rc: i32, value: u64): void {
  const cb = op.cb, ctx = op.ctx;
  heapFree(op.buf);
  mdScratchFree(op.heads);
  heapFree(op.chainPages);
  for (let i: u32 = 0; i < op.snapsLen; i++) {
    const rec = changetype<SnapRecord>(op.snaps + <usize>i * offsetof<SnapRecord>());
    if (rec.md != 0) mdFree(changetype<BlobMd>(rec.md));
    mdScratchFree(rec.extra);
  }
  mdScratchFree(op.snaps);
  if (op.md != 0) mdFree(changetype<BlobMd>(op.md));
  heapFree(changetype<usize>(op));
  changetype<BsOpCb>(cb)(ctx, rc, value);
}

/** Release what a store holds (after a failed init/load, or at the end of unload). */
function storeFree(s: Store): void {
  if (s.mdChannel != 0) putIoChannel(s.mdChannel);
  if (s.desc != 0) bdevClose(s.desc);
  heapFree(s.usedMd); heapFree(s.usedIds); heapFree(s.usedClusters); heapFree(s.sb);
  cloneIndexFree(s);
  heapFree(changetype<usize>(s));
}

/** Let go of the store's bdev, then complete: whoever the completion wakes may open it for write at once. */
function failStore(op: StoreOp, rc: i32): void {
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
  const s = changetype<Store>(heapAllocZeroed(offsetof<Store>()));
  if (changetype<usize>(s) == 0) return s;
  const bdev = bdevById(bdevId);
  if (bdev == 0) { heapFree(changetype<usize>(s)); storeOpenError = -ENODEV; return changetype<Store>(0); }
  const desc = bdevOpen(bdev, write, null, 0);
  if (desc < 0) { heapFree(changetype<usize>(s)); storeOpenError = desc; return changetype<Store>(0); }
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

function pagesFor(bits: u64): u32 { return <u32>((bitmapBytes(bits) + <usize>PAGE - 1) >> F.MD_PAGE_SHIFT); }

/** Allocate the in-memory masks and the (empty) clone index for the geometry in `s`. */
function allocMasks(s: Store): bool {
  s.usedMd = heapAllocZeroed(<usize>pagesFor(<u64>s.mdLen) << F.MD_PAGE_SHIFT);
  s.usedIds = heapAllocZeroed(<usize>pagesFor(<u64>s.mdLen) << F.MD_PAGE_SHIFT);
  s.usedClusters = heapAllocZeroed(<usize>pagesFor(<u64>s.clusterMaskBits) << F.MD_PAGE_SHIFT);
  const indexed = cloneIndexAlloc(s);
  if (!indexed) {
    report(LEVEL_ERROR, -ENOMEM, "blobstore: no memory for the clone index (8 bytes per md page, %d md pages): give the engine more memory or use fewer md pages",
      0, 0, <f64>s.mdLen);
  }
  return s.usedMd != 0 && s.usedIds != 0 && s.usedClusters != 0 && indexed;
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
}

/** Write the super block with `clean`, sealed. */
function writeSuper(op: StoreOp, clean: u32, done: PageIoDone): void {
  const s = changetype<Store>(op.store);
  const sb = s.sb;
  store<u32>(sb + F.SB_CLEAN, clean);
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
  s.maskLen = 2 * pagesFor(<u64>s.mdLen) + pagesFor(<u64>s.clusterMaskBits);
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
  s.generation = 1;
  // A previous store's md pages must not be replayed as ours: zero the md region first.
  initZeroMd(op);
}

function initZeroMd(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  const rc = bdevWriteZeroes(s.desc, s.mdChannel, <u64>s.mdStart << F.MD_PAGE_SHIFT, <u64>s.mdLen << F.MD_PAGE_SHIFT,
    initZeroMdDone, changetype<usize>(op));
  if (rc != 0) initZeroMdByWrites(op);          // no write_zeroes: write zeroed pages instead
}

function initZeroMdDone(io: usize, success: bool, opPtr: usize): void {
  bdevFreeIo(io);
  if (!success) { failStore(changetype<StoreOp>(opPtr), -EIO); return; }
  writeSuper(changetype<StoreOp>(opPtr), 0, initSuperDone);
}

function initZeroMdByWrites(op: StoreOp): void {
  op.buf = heapAllocZeroed(<usize>RECOVERY_CHUNK_PAGES << F.MD_PAGE_SHIFT);
  if (op.buf == 0) { failStore(op, -ENOMEM); return; }
  op.cursor = 0;
  initZeroNextChunk(changetype<usize>(op), true);
}

function initZeroNextChunk(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  if (op.cursor >= s.mdLen) { writeSuper(op, 0, initSuperDone); return; }
  const n = min(RECOVERY_CHUNK_PAGES, s.mdLen - op.cursor);
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
 * Load the store on bdev `bdevId`. A clean store reads its masks; a dirty one (a crash) rebuilds them
 * from the md pages, reporting each blob it has to refuse. cb(ctx, rc, store).
 */
export function storeLoad(bdevId: u32, cb: BsOpCb, ctx: usize, probe: bool = false): void {
  const s = storeOpenBdev(bdevId, true);
  if (changetype<usize>(s) == 0) { cb(ctx, storeOpenError != 0 ? storeOpenError : -ENOMEM, 0); return; }
  const op = opNew(s, cb, ctx);
  if (changetype<usize>(op) != 0) op.probe = probe ? 1 : 0;
  s.sb = heapAllocZeroed(PAGE);
  if (changetype<usize>(op) == 0 || s.sb == 0) { storeFree(s); cb(ctx, -ENOMEM, 0); return; }
  if (s.blockSize > PAGE) { failStore(op, -EINVAL); return; }
  pageIo(s, false, 0, 1, s.sb, loadSuperDone, changetype<usize>(op));
}

function loadSuperDone(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const verdict = F.checkSuper(s.sb, deviceBytes(s), s.blockSize);
  if (verdict == F.SB_BAD_SIGNATURE && op.probe != 0) { failStore(op, -ENODATA); return; }
  if (verdict != F.SB_OK) {
    const b = changetype<Bdev>(s.bdev);
    switch (verdict) {
      case F.SB_BAD_SIGNATURE: report(LEVEL_ERROR, -EINVAL, "bdev %s holds no wstor blobstore (no signature in block 0): init one first", b.name); break;
      case F.SB_BAD_CRC: report(LEVEL_ERROR, -EIO, "bdev %s: blobstore super block fails its CRC (damaged); not loaded", b.name); break;
      case F.SB_BAD_VERSION: report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore format version %d is not supported (this build reads version 1)", b.name, 0, <f64>load<u32>(s.sb + F.SB_VERSION)); break;
      case F.SB_UNKNOWN_INVALID_FLAG: report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore uses a feature this build does not know (invalid flags 0x%d); not loaded", b.name, 0, <f64>load<u64>(s.sb + F.SB_FLAGS_INVALID)); break;
      default: report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore super block describes a layout that does not fit the device", b.name);
    }
    failStore(op, verdict == F.SB_BAD_CRC ? -EIO : -EINVAL);
    return;
  }
  if (F.superForcesReadOnly(s.sb)) {
    s.readOnly = 1;
    report(LEVEL_WARN, 0, "bdev %s: blobstore uses a read-only-compatible feature this build does not know: loaded read-only", changetype<Bdev>(s.bdev).name);
  }
  readGeometry(s);
  if (!allocMasks(s)) { failStore(op, -ENOMEM); return; }
  reserveMetadataClusters(s);
  if (load<u32>(s.sb + F.SB_CLEAN) == 1) {
    op.buf = heapAlloc(<usize>s.maskLen << F.MD_PAGE_SHIFT);
    if (op.buf == 0) { failStore(op, -ENOMEM); return; }
    pageIo(s, false, <u64>s.maskStart, s.maskLen, op.buf, loadMasksDone, opPtr);
  } else {
    report(LEVEL_NOTICE, 0, "bdev %s: blobstore was not unloaded cleanly: recovering from its md pages", changetype<Bdev>(s.bdev).name);
    op.buf = heapAlloc(<usize>RECOVERY_CHUNK_PAGES << F.MD_PAGE_SHIFT);
    op.chainPages = heapAlloc(64 << 2);
    if (op.buf == 0 || op.chainPages == 0) { failStore(op, -ENOMEM); return; }
    op.cursor = 0;
    recoverNextChunk(op);
  }
}

function loadMasksDone(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const mdPagesBytes = <usize>pagesFor(<u64>s.mdLen) << F.MD_PAGE_SHIFT;
  const clusterBytes = <usize>pagesFor(<u64>s.clusterMaskBits) << F.MD_PAGE_SHIFT;
  memory.copy(s.usedMd, op.buf, mdPagesBytes);
  memory.copy(s.usedClusters, op.buf + mdPagesBytes, clusterBytes);
  memory.copy(s.usedIds, op.buf + mdPagesBytes + clusterBytes, mdPagesBytes);
  let used: u64 = 0;
  for (let c: u64 = 0; c < s.totalClusters; c++) if (bitTest(s.usedClusters, c)) used++;
  s.freeClusters = s.totalClusters - used;
  // The masks say which ids are used; each one's first md page says what it reads through.
  cloneIndexBuild(s, cleanIndexBuilt, opPtr);
}

function cleanIndexBuilt(opPtr: usize, rc: i32): void {
  const op = changetype<StoreOp>(opPtr);
  if (rc != 0) {
    report(LEVEL_ERROR, rc, "bdev %s: blobstore load could not build its clone index from the md pages (%d: -12 no memory, -5 read error)",
      changetype<Bdev>(changetype<Store>(op.store).bdev).name, 0, <f64>rc);
    failStore(op, rc);
    return;
  }
  markDirty(op);
}

// ---- recovery: replay every md page ----

function recoverNextChunk(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.cursor >= s.mdLen) { recoverDone(op); return; }
  const n = min(RECOVERY_CHUNK_PAGES, s.mdLen - op.cursor);
  pageIo(s, false, <u64>s.mdStart + <u64>op.cursor, n, op.buf, recoverChunkRead, changetype<usize>(op));
}

function pageIsZero(page: usize): bool {
  for (let off: usize = 0; off < <usize>PAGE; off += 8) if (load<u64>(page + off) != 0) return false;
  return true;
}

function recoverChunkRead(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const n = min(RECOVERY_CHUNK_PAGES, s.mdLen - op.cursor);
  let damaged: u32 = 0;
  // Chain heads are pages with sequence 0 whose id names the page itself; the rest of each chain is
  // read on demand (it may sit in another chunk).
  for (let i: u32 = 0; i < n; i++) {
    const page = op.buf + (<usize>i << F.MD_PAGE_SHIFT);
    const index = op.cursor + i;
    if (!F.pageCrcOk(page)) {
      // Never-used pages are zero (init zeroes the region, delete zeroes a blob's first page); any
      // other page that fails its CRC was damaged (or torn by the crash) and is said so.
      if (!pageIsZero(page)) {
        damaged++;
        report(LEVEL_ERROR, -EIO, "blobstore recovery: md page %d is damaged (bad CRC); if it was the first page of blob %d, that blob is lost",
          0, 0, <f64>index, <f64>F.blobIdOf(index));
      }
      continue;
    }
    if (load<u32>(page + F.MDP_SEQUENCE) != 0) continue;
    if (load<u64>(page + F.MDP_BLOB_ID) != F.blobIdOf(index)) continue;
    const taken = recoverBlobHead(op, index, page);
    if (taken == -ENOMEM) { failStore(op, -ENOMEM); return; }
    if (taken == HEAD_REFUSED) op.skipped++;
    else if (taken == HEAD_TAKEN && mdNextPage(page) == F.MDP_NO_NEXT) op.recovered++;
  }
  op.cursor += n;
  op.damaged += damaged;
  recoverNextChunk(op);
}

/** Remember a multi-page chain's head for the second pass (a raw growable array in op). */
function pushHead(op: StoreOp, index: u32): bool {
  if (op.headsLen == op.headsCap) {
    const cap = op.headsCap == 0 ? 64 : op.headsCap * 2;
    const grown = mdScratchAlloc(<usize>cap << 2);
    if (grown == 0) return false;
    if (op.heads != 0) { memory.copy(grown, op.heads, <usize>op.headsLen << 2); mdScratchFree(op.heads); }
    op.heads = grown;
    op.headsCap = cap;
  }
  store<u32>(op.heads + (<usize>op.headsLen << 2), index);
  op.headsLen++;
  return true;
}

const HEAD_REFUSED: i32 = 0;
const HEAD_TAKEN: i32 = 1;          // claimed, or kept for the second pass (a longer chain)
const HEAD_DEFERRED: i32 = 2;       // a marked snapshot, kept for the third pass (which counts it)

/**
 * A one-page blob is claimed at once; a longer chain is finished in the second pass. HEAD_TAKEN,
 * HEAD_DEFERRED, HEAD_REFUSED (reported), or -ENOMEM (reported; the load must fail).
 */
function recoverBlobHead(op: StoreOp, index: u32, page: usize): i32 {
  const s = changetype<Store>(op.store);
  if (mdNextPage(page) != F.MDP_NO_NEXT) return pushHead(op, index) ? HEAD_TAKEN : recoveryNoMemory(index);
  const md = mdNew(F.blobIdOf(index));
  if (changetype<usize>(md) == 0) return recoveryNoMemory(index);
  const rc = mdDecodePage(md, page, 0);
  let taken = HEAD_REFUSED;
  if (rc == MD_NO_MEMORY) taken = recoveryNoMemory(index);
  else if (rc != MD_OK) reportBadPage(index, index, rc);
  else if (snapshotOrigin(md) == 0) taken = claimBlob(s, index, md, 0, 0) ? HEAD_TAKEN : HEAD_REFUSED;
  else if (deferSnapshot(op, index, md, 0, 0)) return HEAD_DEFERRED;    // the record owns md now
  else taken = recoveryNoMemory(index);
  mdFree(md);
  return taken;
}

/**
 * Recovery cannot hold a blob's md: -ENOMEM, said so. The load fails rather than go on without the
 * blob, whose clusters would otherwise be handed out again; nothing was written yet.
 */
function recoveryNoMemory(index: u32): i32 {
  report(LEVEL_ERROR, -ENOMEM, "blobstore recovery: no memory to hold the md of the blob at md page %d: load failed, nothing written; free memory or start the engine with more memoryBytes",
    0, 0, <f64>index);
  return -ENOMEM;
}

/** The origin a snapshot-in-progress names in its mark, or 0 for a blob without the mark. */
function snapshotOrigin(md: BlobMd): u64 {
  const v = blobMdXattrValue(md, F.XATTR_SNAPSHOT_OF, F.XATTR_SNAPSHOT_OF_BYTES);
  return v == 0 ? 0 : load<u64>(v);
}

/** Keep a marked snapshot's md for the third pass; false (md still the caller's) when out of memory. */
function deferSnapshot(op: StoreOp, index: u32, md: BlobMd, extraLen: u32, extra: usize): bool {
  if (op.snapsLen == op.snapsCap) {
    const cap = op.snapsCap == 0 ? 8 : op.snapsCap * 2;
    const grown = mdScratchAlloc(<usize>cap * offsetof<SnapRecord>());
    if (grown == 0) return false;
    memory.fill(grown, 0, <usize>cap * offsetof<SnapRecord>());
    if (op.snaps != 0) { memory.copy(grown, op.snaps, <usize>op.snapsLen * offsetof<SnapRecord>()); mdScratchFree(op.snaps); }
    op.snaps = grown;
    op.snapsCap = cap;
  }
  const rec = changetype<SnapRecord>(op.snaps + <usize>op.snapsLen * offsetof<SnapRecord>());
  rec.index = index;
  rec.md = changetype<usize>(md);
  rec.extraLen = extraLen;
  rec.extra = 0;
  if (extraLen > 0) {
    rec.extra = mdScratchAlloc(<usize>extraLen << 2);
    if (rec.extra == 0) { rec.md = 0; return false; }
    memory.copy(rec.extra, extra, <usize>extraLen << 2);
  }
  op.snapsLen++;
  return true;
}

function reportBadPage(head: u32, page: u32, rc: i32): void {
  assert(rc != MD_NO_MEMORY, "a page refused for want of memory reported as damaged");
  report(LEVEL_ERROR, -EIO, "blobstore recovery: blob at md page %d skipped: its md page %d is damaged (bad CRC or descriptor) or belongs to another chain",
    0, 0, <f64>head, <f64>page);
}

/** Mark a recovered blob's md pages, id and clusters used; refuse (and report) a cluster used twice. */
function claimBlob(s: Store, index: u32, md: BlobMd, extraPages: u32, pages: usize): bool {
  for (let i: u64 = 0; i < md.numClusters; i++) {
    const c = <u64>mdCluster(md, i);
    if (c == 0) continue;
    if (c < s.firstDataCluster || c >= s.totalClusters || bitTest(s.usedClusters, c)) {
      report(LEVEL_ERROR, -EIO, "blobstore recovery: blob at md page %d claims cluster %d, which is metadata, outside the device or another blob's: blob skipped",
        0, 0, <f64>index, <f64>c);
      for (let j: u64 = 0; j < i; j++) {
        const cj = <u64>mdCluster(md, j);
        if (cj != 0) bitClearCluster(s, cj);
      }
      return false;
    }
    bitSet(s.usedClusters, c);
    s.freeClusters--;
  }
  for (let k: u32 = 0; k < extraPages; k++) {
    const p = load<u32>(pages + (<usize>k << 2));
    if (p >= s.mdLen || bitTest(s.usedMd, <u64>p)) {
      report(LEVEL_ERROR, -EIO, "blobstore recovery: blob at md page %d chains to md page %d, which is out of range or another blob's: skipped", 0, 0, <f64>index, <f64>p);
      for (let j: u64 = 0; j < md.numClusters; j++) { const cj = <u64>mdCluster(md, j); if (cj != 0) bitClearCluster(s, cj); }
      for (let j: u32 = 0; j < k; j++) bitClearMd(s, load<u32>(pages + (<usize>j << 2)));
      return false;
    }
    bitSet(s.usedMd, <u64>p);
  }
  bitSet(s.usedIds, <u64>index);
  bitSet(s.usedMd, <u64>index);
  cloneIndexSetParent(s, F.blobIdOf(index), md.parentId);
  return true;
}

function bitClearCluster(s: Store, c: u64): void {
  const p = s.usedClusters + <usize>(c >> 3);
  store<u8>(p, load<u8>(p) & ~(<u8>1 << <u8>(c & 7)));
  s.freeClusters++;
}

function bitClearMd(s: Store, page: u32): void {
  const p = s.usedMd + <usize>(page >> 3);
  store<u8>(p, load<u8>(p) & ~(<u8>1 << <u8>(page & 7)));
}

// ---- second pass: chains longer than one page, read page by page ----

function recoverDone(op: StoreOp): void {
  op.headIdx = 0;
  recoverNextChain(op);
}

function recoverNextChain(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.headIdx >= op.headsLen) { op.snapIdx = 0; recoverNextSnapshot(op); return; }
  const head = load<u32>(op.heads + (<usize>op.headIdx << 2));
  if (op.md != 0) mdFree(changetype<BlobMd>(op.md));
  op.md = changetype<usize>(mdNew(F.blobIdOf(head)));
  if (op.md == 0) { failStore(op, recoveryNoMemory(head)); return; }
  op.chainLen = 0;
  op.chainPage = head;
  pageIo(s, false, <u64>s.mdStart + <u64>head, 1, op.buf, recoverChainPage, changetype<usize>(op));
}

function recoverChainPage(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const head = load<u32>(op.heads + (<usize>op.headIdx << 2));
  const md = changetype<BlobMd>(op.md);
  const rc = mdDecodePage(md, op.buf, op.chainLen);
  if (rc == MD_NO_MEMORY) { failStore(op, recoveryNoMemory(head)); return; }
  const next = mdNextPage(op.buf);
  const tooLong = op.chainLen >= 63;
  if (rc != MD_OK || tooLong || (next != F.MDP_NO_NEXT && next >= s.mdLen)) {
    reportBadPage(head, op.chainPage, rc != MD_OK ? rc : 9);
    op.skipped++;
    op.headIdx++;
    recoverNextChain(op);
    return;
  }
  if (op.chainLen > 0) store<u32>(op.chainPages + (<usize>(op.chainLen - 1) << 2), op.chainPage);
  op.chainLen++;
  if (next != F.MDP_NO_NEXT) {
    op.chainPage = next;
    pageIo(s, false, <u64>s.mdStart + <u64>next, 1, op.buf, recoverChainPage, opPtr);
    return;
  }
  if (snapshotOrigin(md) != 0) {
    // Decided after every other blob, by its origin's md; the record owns the md now.
    if (!deferSnapshot(op, head, md, op.chainLen - 1, op.chainPages)) { failStore(op, recoveryNoMemory(head)); return; }
    op.md = 0;
  } else if (claimBlob(s, head, md, op.chainLen - 1, op.chainPages)) op.recovered++; else op.skipped++;
  op.headIdx++;
  recoverNextChain(op);
}

// ---- third pass: snapshots caught in the making ----

function recoverNextSnapshot(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.snapIdx >= op.snapsLen) { recoveryFinished(op); return; }
  const rec = changetype<SnapRecord>(op.snaps + <usize>op.snapIdx * offsetof<SnapRecord>());
  const origin = snapshotOrigin(changetype<BlobMd>(rec.md));
  if (!F.isBlobId(origin) || F.mdPageOf(origin) >= s.mdLen) {
    snapshotDecided(op, rec, false);
    return;
  }
  pageIo(s, false, <u64>s.mdStart + <u64>F.mdPageOf(origin), 1, op.buf, originRead, changetype<usize>(op));
}

function originRead(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  if (!ok) { failStore(op, -EIO); return; }
  const rec = changetype<SnapRecord>(op.snaps + <usize>op.snapIdx * offsetof<SnapRecord>());
  const snapMd = changetype<BlobMd>(rec.md);
  const originMd = mdNew(snapshotOrigin(snapMd));
  if (changetype<usize>(originMd) == 0) { failStore(op, recoveryNoMemory(F.mdPageOf(snapshotOrigin(snapMd)))); return; }
  // The parent descriptor is always on a chain's first page (md.ts writes it before xattrs and extents).
  const rc = mdDecodePage(originMd, op.buf, 0);
  const points = rc == MD_OK && originMd.parentId == snapMd.id;
  mdFree(originMd);
  // Without the memory to read the origin, the snapshot cannot be judged: discarding it could lose data.
  if (rc == MD_NO_MEMORY) { failStore(op, recoveryNoMemory(F.mdPageOf(snapshotOrigin(snapMd)))); return; }
  snapshotDecided(op, rec, points);
}

/**
 * Keep a marked snapshot if the blob its mark names reads through it (`originPoints`) or any blob does.
 * Nothing reads through a snapshot interrupted in the making or the deleting; one that some blob reads
 * through (a clone made after a failed unmarking sync, its origin since deleted) is complete, whatever
 * its origin says now: every blob recovered so far is in the clone index.
 */
function snapshotDecided(op: StoreOp, rec: SnapRecord, originPoints: bool): void {
  const s = changetype<Store>(op.store);
  const md = changetype<BlobMd>(rec.md);
  if (originPoints || cloneIndexCount(s, md.id) > 0) {
    if (claimBlob(s, rec.index, md, rec.extraLen, rec.extra)) { op.recovered++; rec.kept = 1; } else op.skipped++;
  } else {
    // Made, not yet taken up by its origin; or deleted, already handed to its clone: gone either way.
    report(LEVEL_NOTICE, 0, "blobstore recovery: the snapshot at md page %d was interrupted in the making or the deleting (blob %d does not read through it): discarded, that blob keeps its data",
      0, 0, <f64>rec.index, <f64>snapshotOrigin(md));
  }
  op.snapIdx++;
  recoverNextSnapshot(op);
}

function recoveryFinished(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  report(LEVEL_NOTICE, 0, "blobstore recovery: %d blobs recovered, %d refused or damaged (see above)", 0, 0,
    <f64>op.recovered, <f64>(op.skipped + op.damaged));
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
  const mdPagesBytes = <usize>pagesFor(<u64>s.mdLen) << F.MD_PAGE_SHIFT;
  const clusterBytes = <usize>pagesFor(<u64>s.clusterMaskBits) << F.MD_PAGE_SHIFT;
  memory.copy(op.buf, s.usedMd, mdPagesBytes);
  memory.copy(op.buf + mdPagesBytes, s.usedClusters, clusterBytes);
  memory.copy(op.buf + mdPagesBytes + clusterBytes, s.usedIds, mdPagesBytes);
  // Masks first, made durable, then the super block that says they are valid.
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

/** The value of an internal xattr in decoded md, or 0. */
function blobMdXattrValue(md: BlobMd, name: usize, nameBytes: u32): usize {
  const x = xattrFind(md, name, nameBytes, true);
  return x == 0 ? 0 : changetype<Xattr>(x).data + changetype<Xattr>(x).nameBytes;
}
