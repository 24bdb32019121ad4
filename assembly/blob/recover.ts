// Rebuilding a store's masks and clone index from its md pages, at load. Two modes, one scan:
// - recovery (a dirty store, masks that fail their checksum, an old format): every md page is read,
//   every valid chain head is a blob, each blob damaged or conflicting is reported and left out;
// - the clean check (a cleanly unloaded store): only the first pages the id mask names are read, with
//   their chains, and what they claim must be exactly what the masks on disk say. The first thing
//   that disagrees ends the check, said so, and the store is recovered instead.
// Either way no cluster is handed out that a blob on disk uses, and no two blobs share a cluster or
// an md page. Three passes, as before: one-page blobs as the chunks are read, longer chains page by
// page, then snapshots caught in the making (kept only if their origin already reads through them).

import { heapAlloc, report, LEVEL_ERROR, LEVEL_NOTICE, ENOMEM, EIO, EINVAL } from "../runtime";
import { Bdev } from "../bdev";
import * as F from "./format";
import { bitmapBytes, bitSet, bitTest, bitClear } from "./bitmap";
import { BlobMd, mdNew, mdFree, mdDecodePage, mdNextPage, mdCluster, MD_OK, MD_NO_MEMORY, mdScratchAlloc, mdScratchFree, xattrFind, Xattr } from "./md";
import { Store } from "./types";
import { StoreOp, SnapRecord, pageIo, failStore, loadReady, resetMasks, zeroedMdPages } from "./store";
import { cloneIndexSetParent, cloneIndexCount } from "./clone-index";

const PAGE: u32 = F.MD_PAGE_BYTES;
/** md pages read per request while scanning (1 MiB). */
export const SCAN_CHUNK_PAGES: u32 = 256;

/**
 * Start the scan. `checking`: the clean check against the masks in op.masks (read and checksummed);
 * else a recovery. op.buf (SCAN_CHUNK_PAGES pages) and op.chainPages are allocated here.
 */
export function scanStart(op: StoreOp, checking: bool): void {
  op.checking = checking ? 1 : 0;
  op.checkEnded = 0;
  op.tagRight = 0; op.tagWrong = 0;
  op.buf = heapAllocOrZero(<usize>SCAN_CHUNK_PAGES << F.MD_PAGE_SHIFT, op.buf);
  op.chainPages = heapAllocOrZero(<usize>(F.MAX_CHAIN_PAGES - 1) << 2, op.chainPages);
  if (op.buf == 0 || op.chainPages == 0) { failStore(op, -ENOMEM); return; }
  op.cursor = 0;
  scanNextChunk(op);
}

/** `kept` if the op already holds a block, else a new one of `bytes` (0 when the heap is full). */
function heapAllocOrZero(bytes: usize, kept: usize): usize { return kept != 0 ? kept : heapAlloc(bytes); }

/** Whether the masks on disk name blob id `page` (the clean check reads only those heads). */
function diskHasId(op: StoreOp, page: u32): bool {
  const s = changetype<Store>(op.store);
  const idsAt = op.masks + (<usize>F.maskPagesOf(<u64>s.mdLen) << F.MD_PAGE_SHIFT) + (<usize>F.maskPagesOf(<u64>s.clusterMaskBits) << F.MD_PAGE_SHIFT);
  return bitTest(idsAt, <u64>page);
}

function anyDiskId(op: StoreOp, from: u32, count: u32): bool {
  for (let p = from; p < from + count; p++) if (diskHasId(op, p)) return true;
  return false;
}

// ---- first pass: every md page (recovery) or every first page the masks name (clean check) ----

function scanNextChunk(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.checking != 0) {
    while (op.cursor < s.mdLen && !anyDiskId(op, op.cursor, min(SCAN_CHUNK_PAGES, s.mdLen - op.cursor))) {
      op.cursor += min(SCAN_CHUNK_PAGES, s.mdLen - op.cursor);
    }
  }
  if (op.cursor >= s.mdLen) { firstPassDone(op); return; }
  const n = min(SCAN_CHUNK_PAGES, s.mdLen - op.cursor);
  pageIo(s, false, <u64>s.mdStart + <u64>op.cursor, n, op.buf, scanChunkRead, changetype<usize>(op));
}

/**
 * Every md page was read. Pages that pass their CRC but carry another tag are no blobs of this store;
 * when every page that passes carries another, it is the super block whose geometry (cluster size, md
 * region) is not the one the pages were written under: the load is refused rather than find no blobs.
 */
function firstPassDone(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.tagWrong != 0 && op.tagRight == 0) {
    report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore super block disagrees with every md page (md page %d and %d more carry another tag): its cluster size or md region is damaged; not loaded",
      changetype<Bdev>(s.bdev).name, 0, <f64>op.tagWrongAt, <f64>(op.tagWrong - 1));
    failStore(op, -EINVAL);
    return;
  }
  if (op.tagWrong != 0) {
    report(LEVEL_ERROR, -EIO, "blobstore recovery: %d md pages carry another store's tag (the first: md page %d): damaged, no blob of this store; any blob they held is lost",
      0, 0, <f64>op.tagWrong, <f64>op.tagWrongAt);
  }
  peekPastMdRegion(op);
}

/**
 * Recovery reads the pages just past the md region, up to the end of its last cluster: init zeroed
 * them (store.ts zeroedMdPages) and nothing writes there, so one that passes its CRC is an md page
 * the super block's md_len no longer covers: recovering without it would hide its blob. Not for a
 * store made as version 1 (tag 0), whose init did not zero them.
 */
function peekPastMdRegion(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  const past = zeroedMdPages(s) - s.mdLen;
  if (op.checking != 0 || s.mdTag == 0 || past == 0) { op.headIdx = 0; scanNextChain(op); return; }
  pageIo(s, false, <u64>s.mdStart + <u64>s.mdLen, min(past, SCAN_CHUNK_PAGES), op.buf, pastMdRegionRead, changetype<usize>(op));
}

function pastMdRegionRead(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const n = min(zeroedMdPages(s) - s.mdLen, SCAN_CHUNK_PAGES);
  for (let i: u32 = 0; i < n; i++) {
    if (!F.pageCrcOk(op.buf + (<usize>i << F.MD_PAGE_SHIFT))) continue;
    report(LEVEL_ERROR, -EINVAL, "bdev %s: blobstore has an md page past its md region (md page %d, md_len %d): the super block's md_len is damaged; not loaded",
      changetype<Bdev>(s.bdev).name, 0, <f64>(s.mdLen + i), <f64>s.mdLen);
    failStore(op, -EINVAL);
    return;
  }
  op.headIdx = 0;
  scanNextChain(op);
}

function pageIsZero(page: usize): bool {
  for (let off: usize = 0; off < <usize>PAGE; off += 8) if (load<u64>(page + off) != 0) return false;
  return true;
}

function scanChunkRead(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const n = min(SCAN_CHUNK_PAGES, s.mdLen - op.cursor);
  // Chain heads are pages with sequence 0 whose id names the page itself; the rest of each chain is
  // read on demand (it may sit in another chunk).
  for (let i: u32 = 0; i < n; i++) {
    const page = op.buf + (<usize>i << F.MD_PAGE_SHIFT);
    const index = op.cursor + i;
    if (op.checking != 0 && !diskHasId(op, index)) continue;
    const crcOk = F.pageCrcOk(page);
    if (crcOk && load<u32>(page + F.MDP_TAG) != s.mdTag) {
      if (op.tagWrong++ == 0) op.tagWrongAt = index;
      if (op.checking != 0) { checkFails(op, "a first md page the masks name carries another tag: md page", index); recoverInstead(op); return; }
      continue;                                 // counted; said once the pass is over (firstPassDone)
    }
    if (crcOk) op.tagRight++;
    const isHead = load<u32>(page + F.MDP_SEQUENCE) == 0 && load<u64>(page + F.MDP_BLOB_ID) == F.blobIdOf(index);
    if (!crcOk || !isHead) {
      if (op.checking != 0) { checkFails(op, "the first md page of a blob the masks name is damaged or is not a first page: md page", index); recoverInstead(op); return; }
      // Never-used pages are zero (init zeroes the region, delete zeroes a blob's first page); any
      // other page that fails its CRC was damaged (or torn by the crash) and is said so.
      if (!crcOk && !pageIsZero(page)) {
        op.damaged++;
        report(LEVEL_ERROR, -EIO, "blobstore recovery: md page %d is damaged (bad CRC); if it was the first page of blob %d, that blob is lost",
          0, 0, <f64>index, <f64>F.blobIdOf(index));
      }
      continue;
    }
    const taken = scanBlobHead(op, index, page);
    if (taken == -ENOMEM) { failStore(op, -ENOMEM); return; }
    if (taken == HEAD_CHECK_FAILED) { recoverInstead(op); return; }
    if (taken == HEAD_REFUSED) op.skipped++;
    else if (taken == HEAD_TAKEN && mdNextPage(page) == F.MDP_NO_NEXT) op.recovered++;
  }
  op.cursor += n;
  scanNextChunk(op);
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
const HEAD_CHECK_FAILED: i32 = 3;   // the clean check ended (checkFails): the scan starts over as a recovery

/**
 * A one-page blob is claimed at once; a longer chain is finished in the second pass. HEAD_TAKEN,
 * HEAD_DEFERRED, HEAD_REFUSED (reported), HEAD_CHECK_FAILED, or -ENOMEM (reported; the load fails).
 */
function scanBlobHead(op: StoreOp, index: u32, page: usize): i32 {
  if (mdNextPage(page) != F.MDP_NO_NEXT) return pushHead(op, index) ? HEAD_TAKEN : recoveryNoMemory(index);
  const md = mdNew(F.blobIdOf(index));
  if (changetype<usize>(md) == 0) return recoveryNoMemory(index);
  const rc = mdDecodePage(md, page, 0, changetype<Store>(op.store).mdTag);
  let taken = HEAD_REFUSED;
  if (rc == MD_NO_MEMORY) taken = recoveryNoMemory(index);
  else if (rc != MD_OK) taken = refuseBlob(op, index, index, "its md page is damaged (bad descriptor), or belongs to another chain: md page");
  else if (snapshotOrigin(md) == 0) taken = claimOrRefuse(op, index, md, 0, 0) ? HEAD_TAKEN : refusedOrFailed(op);
  else if (deferSnapshot(op, index, md, 0, 0)) return HEAD_DEFERRED;    // the record owns md now
  else taken = recoveryNoMemory(index);
  mdFree(md);
  return taken;
}

/** A blob the scan cannot take: recovery reports it and goes on; the clean check ends (checkFails). */
function refuseBlob(op: StoreOp, head: u32, page: u32, why: string): i32 {
  if (op.checking != 0) { checkFails(op, why, page); return HEAD_CHECK_FAILED; }
  report(LEVEL_ERROR, -EIO, "blobstore recovery: blob at md page %d skipped: %s %d", changetype<usize>(why), 0, <f64>head, <f64>page);
  return HEAD_REFUSED;
}

function refusedOrFailed(op: StoreOp): i32 { return op.checking != 0 ? HEAD_CHECK_FAILED : HEAD_REFUSED; }

/**
 * Recovery cannot hold a blob's md: -ENOMEM, said so. The load fails rather than go on without the
 * blob, whose clusters would otherwise be handed out again; nothing was written yet.
 */
function recoveryNoMemory(index: u32): i32 {
  report(LEVEL_ERROR, -ENOMEM, "blobstore load: no memory to hold the md of the blob at md page %d: load failed, nothing written; free memory or start the engine with more memoryBytes",
    0, 0, <f64>index);
  return -ENOMEM;
}

/** The value of an internal xattr in decoded md, or 0; its length in xattrFoundBytes. */
function blobMdXattrValue(md: BlobMd, name: usize, nameBytes: u32): usize {
  const x = xattrFind(md, name, nameBytes, true);
  if (x == 0) return 0;
  xattrFoundBytes = changetype<Xattr>(x).valueBytes;
  return changetype<Xattr>(x).data + changetype<Xattr>(x).nameBytes;
}
let xattrFoundBytes: u32 = 0;

/** A mark whose value is not an 8-byte id: it names no blob, so no origin reads through its snapshot. */
const MARK_NAMES_NOTHING: u64 = 0xffffffffffffffff;

/** The origin a snapshot-in-progress names in its mark, or 0 for a blob without the mark. */
function snapshotOrigin(md: BlobMd): u64 {
  const v = blobMdXattrValue(md, F.XATTR_SNAPSHOT_OF, F.XATTR_SNAPSHOT_OF_BYTES);
  if (v == 0) return 0;
  return xattrFoundBytes == 8 ? load<u64>(v) : MARK_NAMES_NOTHING;
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

// ---- claiming a blob: its clusters, md pages and id ----

/**
 * Mark a blob's clusters, later md pages and id used, and give it its parent in the clone index. A
 * cluster outside the data region or already another blob's, or an md page out of range or already
 * used, refuses it (all it marked is given back): recovery reports it, the clean check ends.
 */
function claimOrRefuse(op: StoreOp, index: u32, md: BlobMd, extraPages: u32, pages: usize): bool {
  const s = changetype<Store>(op.store);
  for (let i: u64 = 0; i < md.numClusters; i++) {
    const c = <u64>mdCluster(md, i);
    if (c == 0) continue;
    if (c < s.firstDataCluster || c >= s.totalClusters || bitTest(s.usedClusters, c)) {
      for (let j: u64 = 0; j < i; j++) { const cj = <u64>mdCluster(md, j); if (cj != 0) clearCluster(s, cj); }
      refuseBlob(op, index, <u32>c, "it claims a cluster that is metadata, outside the store or another blob's: cluster");
      return false;
    }
    bitSet(s.usedClusters, c);
    s.freeClusters--;
  }
  for (let k: u32 = 0; k < extraPages; k++) {
    const p = load<u32>(pages + (<usize>k << 2));
    if (p >= s.mdLen || p == index || bitTest(s.usedMd, <u64>p)) {
      for (let j: u64 = 0; j < md.numClusters; j++) { const cj = <u64>mdCluster(md, j); if (cj != 0) clearCluster(s, cj); }
      for (let j: u32 = 0; j < k; j++) bitClear(s.usedMd, <u64>load<u32>(pages + (<usize>j << 2)));
      refuseBlob(op, index, p, "its chain runs into an md page out of range or another blob's: md page");
      return false;
    }
    bitSet(s.usedMd, <u64>p);
  }
  bitSet(s.usedIds, <u64>index);
  bitSet(s.usedMd, <u64>index);
  cloneIndexSetParent(s, F.blobIdOf(index), md.parentId);
  return true;
}

function clearCluster(s: Store, c: u64): void {
  bitClear(s.usedClusters, c);
  s.freeClusters++;
}

// ---- second pass: chains longer than one page, read page by page ----

function scanNextChain(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.headIdx >= op.headsLen) { op.snapIdx = 0; scanNextSnapshot(op); return; }
  const head = load<u32>(op.heads + (<usize>op.headIdx << 2));
  if (op.md != 0) mdFree(changetype<BlobMd>(op.md));
  op.md = changetype<usize>(mdNew(F.blobIdOf(head)));
  if (op.md == 0) { failStore(op, recoveryNoMemory(head)); return; }
  op.chainLen = 0;
  op.chainPage = head;
  pageIo(s, false, <u64>s.mdStart + <u64>head, 1, op.buf, scanChainPage, changetype<usize>(op));
}

function scanChainPage(opPtr: usize, ok: bool): void {
  const op = changetype<StoreOp>(opPtr);
  const s = changetype<Store>(op.store);
  if (!ok) { failStore(op, -EIO); return; }
  const head = load<u32>(op.heads + (<usize>op.headIdx << 2));
  const md = changetype<BlobMd>(op.md);
  const rc = mdDecodePage(md, op.buf, op.chainLen, s.mdTag);
  if (rc == MD_NO_MEMORY) { failStore(op, recoveryNoMemory(head)); return; }
  const next = mdNextPage(op.buf);
  const tooLong = op.chainLen + 1 >= F.MAX_CHAIN_PAGES && next != F.MDP_NO_NEXT;
  if (rc != MD_OK || tooLong || (next != F.MDP_NO_NEXT && next >= s.mdLen)) {
    if (refuseBlob(op, head, op.chainPage, "one of its md pages is damaged (bad CRC or descriptor), belongs to another chain, or its chain is too long: md page")
      == HEAD_CHECK_FAILED) { recoverInstead(op); return; }
    op.skipped++;
    op.headIdx++;
    scanNextChain(op);
    return;
  }
  if (op.chainLen > 0) store<u32>(op.chainPages + (<usize>(op.chainLen - 1) << 2), op.chainPage);
  op.chainLen++;
  if (next != F.MDP_NO_NEXT) {
    op.chainPage = next;
    pageIo(s, false, <u64>s.mdStart + <u64>next, 1, op.buf, scanChainPage, opPtr);
    return;
  }
  if (snapshotOrigin(md) != 0) {
    // Decided after every other blob, by its origin's md; the record owns the md now.
    if (!deferSnapshot(op, head, md, op.chainLen - 1, op.chainPages)) { failStore(op, recoveryNoMemory(head)); return; }
    op.md = 0;
  } else if (claimOrRefuse(op, head, md, op.chainLen - 1, op.chainPages)) op.recovered++;
  else if (op.checkEnded != 0) { recoverInstead(op); return; }
  else op.skipped++;
  op.headIdx++;
  scanNextChain(op);
}

// ---- third pass: snapshots caught in the making ----

function scanNextSnapshot(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.snapIdx >= op.snapsLen) { scanFinished(op); return; }
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
  // The parent descriptor is always on a chain's first page (md.ts writes it there, and refuses it elsewhere).
  const rc = mdDecodePage(originMd, op.buf, 0, changetype<Store>(op.store).mdTag);
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
 * its origin says now: every blob taken so far is in the clone index.
 */
function snapshotDecided(op: StoreOp, rec: SnapRecord, originPoints: bool): void {
  const s = changetype<Store>(op.store);
  const md = changetype<BlobMd>(rec.md);
  if (originPoints || cloneIndexCount(s, md.id) > 0) {
    if (claimOrRefuse(op, rec.index, md, rec.extraLen, rec.extra)) { op.recovered++; rec.kept = 1; }
    else if (op.checkEnded != 0) { recoverInstead(op); return; }
    else op.skipped++;
  } else if (op.checking != 0) {
    checkFails(op, "the masks keep a snapshot interrupted in the making or the deleting: md page", rec.index);
    recoverInstead(op);
    return;
  } else {
    // Made, not yet taken up by its origin; or deleted, already handed to its clone: gone either way.
    report(LEVEL_NOTICE, 0, "blobstore recovery: the snapshot at md page %d was interrupted in the making or the deleting (blob %d does not read through it): discarded, that blob keeps its data",
      0, 0, <f64>rec.index, <f64>snapshotOrigin(md));
  }
  op.snapIdx++;
  scanNextSnapshot(op);
}

// ---- the end: what the scan found, against the masks on disk when checking ----

function scanFinished(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  if (op.checking != 0) {
    const what = masksDiffer(op);
    if (what != 0) { checkFails(op, changetype<string>(what), diffAt); recoverInstead(op); return; }
  } else {
    report(LEVEL_NOTICE, 0, "blobstore recovery: %d blobs recovered, %d refused or damaged (see above)", 0, 0,
      <f64>op.recovered, <f64>(op.skipped + op.damaged));
  }
  loadReady(op);
}

/** Where masksDiffer found its difference (the bit's index). */
let diffAt: u32 = 0;

/**
 * The first bit where the masks the scan built differ from those on disk, as the text naming it (a
 * string pointer), or 0 when they are the same. Bits past each mask's length are zero in both
 * (store.ts checked the disk's), so whole bytes compare.
 */
function masksDiffer(op: StoreOp): usize {
  const s = changetype<Store>(op.store);
  const mdBytes = <usize>F.maskPagesOf(<u64>s.mdLen) << F.MD_PAGE_SHIFT;
  const clusterBytes = <usize>F.maskPagesOf(<u64>s.clusterMaskBits) << F.MD_PAGE_SHIFT;
  let at = firstDifference(s.usedMd, op.masks, <u64>s.mdLen);
  if (at >= 0) { diffAt = <u32>at; return changetype<usize>(bitTest(s.usedMd, <u64>at) ? "an md page in use is marked free: md page" : "an md page no blob uses is marked used: md page"); }
  at = firstDifference(s.usedClusters, op.masks + mdBytes, s.totalClusters);
  if (at >= 0) { diffAt = <u32>at; return changetype<usize>(bitTest(s.usedClusters, <u64>at) ? "a cluster in use is marked free: cluster" : "a cluster no blob uses is marked used: cluster"); }
  at = firstDifference(s.usedIds, op.masks + mdBytes + clusterBytes, <u64>s.mdLen);
  if (at >= 0) { diffAt = <u32>at; return changetype<usize>(bitTest(s.usedIds, <u64>at) ? "a blob is not in the id mask: md page" : "the id mask names a blob that is not there: md page"); }
  return 0;
}

function firstDifference(a: usize, b: usize, bits: u64): i64 {
  const bytes = bitmapBytes(bits);
  for (let i: usize = 0; i < bytes; i++) {
    const x = load<u8>(a + i) ^ load<u8>(b + i);
    if (x != 0) return <i64>((<u64>i << 3) + <u64>ctz<u32>(<u32>x));
  }
  return -1;
}

/**
 * The clean check found `what` (about md page or cluster `n`): recorded. The caller unwinds to the
 * step it runs in and calls recoverInstead, so that no step of the check goes on after it.
 */
function checkFails(op: StoreOp, what: string, n: u32): void {
  assert(op.checking != 0 && op.checkEnded == 0, "a clean check ended twice, or a recovery treated as one");
  op.checkEnded = 1;
  op.checkWhat = changetype<usize>(what);
  op.checkAt = n;
}

/** The clean check ended: said why, and the store is recovered from every md page, as a dirty one would be. Nothing was written yet. */
function recoverInstead(op: StoreOp): void {
  const s = changetype<Store>(op.store);
  assert(op.checkEnded != 0, "a recovery without a failed check");
  report(LEVEL_NOTICE, 0, "bdev %s: blobstore masks disagree with the md pages (%s %d): recovering from every md page",
    changetype<Bdev>(s.bdev).name, op.checkWhat, <f64>op.checkAt);
  resetMasks(op);
  scanStart(op, false);
}
