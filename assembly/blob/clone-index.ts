// The store's parent -> clones index (SPDK keeps a per-store list of snapshots and their clones): for
// every blob, the blob it reads through as its md on disk names it, and for every blob how many read
// through it. Deleting a snapshot finds its clone here instead of reading every md page.
//
// Exact against the disk, on the md thread: an op that gives a blob a new parent updates the index
// right after the sync that made it durable, never before (a cut or a failed sync leaves the old
// parent both on disk and here). Load builds it as it claims each blob it keeps (recover.ts), then
// refuses every blob whose parent chain loops (cloneIndexRefuseLoops); init starts it empty.
//
// Memory: two u32 per md page (8 bytes per 4 KiB page of the md region), allocated with the masks at
// init and load, so bounded by the most blobs the store can hold. No operation allocates for it and
// none can fail half-way because of it: only init and load can fail (-ENOMEM, said so).

import { heapAllocZeroed, heapAlloc, heapFree, report, LEVEL_ERROR, EIO, ENOMEM } from "../runtime";
import * as F from "./format";
import { bitTest, bitSet } from "./bitmap";
import { mdNew, mdFree, mdDecodePage, MD_OK, MD_NO_MEMORY } from "./md";
import { Store, BsOpCb } from "./types";
import { pageIo } from "./store";

/** md pages read per request while scanning (1 MiB, as recovery). */
const SCAN_CHUNK_PAGES: u32 = 256;
/** Mismatches a verify reports one by one before it only counts them. */
const VERIFY_REPORTS_MAX: u32 = 8;
/** Blobs refused for a looping parent chain that a load reports one by one before it only counts them. */
const LOOP_REPORTS_MAX: u32 = 16;

// parents[page]: the parent's md page + 1, 0 for none. counts[page]: blobs whose parent is that page.
function parentAt(parents: usize, page: u32): u32 { return load<u32>(parents + (<usize>page << 2)); }
function countAt(counts: usize, page: u32): u32 { return load<u32>(counts + (<usize>page << 2)); }
function addCount(counts: usize, page: u32, delta: i32): void {
  const at = counts + (<usize>page << 2);
  const now = <i64>load<u32>(at) + <i64>delta;
  assert(now >= 0, "clone index: a blob with fewer than no clones");
  store<u32>(at, <u32>now);
}

/** The index entry for `parentId`: page + 1, or 0 for none (and for an id that names no md page). */
function parentEntry(s: Store, parentId: u64): u32 {
  if (parentId == 0 || !F.isBlobId(parentId) || F.mdPageOf(parentId) >= s.mdLen) return 0;
  return F.mdPageOf(parentId) + 1;
}

function setEntry(parents: usize, counts: usize, page: u32, entry: u32): void {
  const old = parentAt(parents, page);
  if (old == entry) return;
  if (old != 0) addCount(counts, old - 1, -1);
  if (entry != 0) addCount(counts, entry - 1, 1);
  store<u32>(parents + (<usize>page << 2), entry);
}

/** Allocate the empty index for the store's md region (init and load, with the masks). */
export function cloneIndexAlloc(s: Store): bool {
  s.cloneParents = heapAllocZeroed(<usize>s.mdLen << 2);
  s.cloneCounts = heapAllocZeroed(<usize>s.mdLen << 2);
  return s.cloneParents != 0 && s.cloneCounts != 0;
}

/** Empty the index again (a load that starts its scan over). */
export function cloneIndexClear(s: Store): void {
  memory.fill(s.cloneParents, 0, <usize>s.mdLen << 2);
  memory.fill(s.cloneCounts, 0, <usize>s.mdLen << 2);
}

export function cloneIndexFree(s: Store): void {
  heapFree(s.cloneParents); heapFree(s.cloneCounts);
  s.cloneParents = 0; s.cloneCounts = 0;
}

/** Blob `id` now reads through `parentId` (0: through nothing) on disk. */
export function cloneIndexSetParent(s: Store, id: u64, parentId: u64): void {
  const page = F.mdPageOf(id);
  assert(page < s.mdLen && s.cloneParents != 0, "clone index: a blob outside the md region, or no index");
  setEntry(s.cloneParents, s.cloneCounts, page, parentEntry(s, parentId));
}

/** Blob `id` is gone from disk: it reads through nothing, and nothing may read through it any more. */
export function cloneIndexDrop(s: Store, id: u64): void {
  const page = F.mdPageOf(id);
  assert(countAt(s.cloneCounts, page) == 0, "clone index: a blob deleted while blobs still read through it");
  cloneIndexSetParent(s, id, 0);
}

/** How many blobs read through `id` (its clones; for a snapshot's origin, the origin). */
export function cloneIndexCount(s: Store, id: u64): u32 {
  const page = F.mdPageOf(id);
  return page < s.mdLen ? countAt(s.cloneCounts, page) : 0;
}

/** The blob `id` reads through per the index (0: none). */
export function cloneIndexParent(s: Store, id: u64): u64 {
  const page = F.mdPageOf(id);
  const entry = page < s.mdLen ? parentAt(s.cloneParents, page) : 0;
  return entry == 0 ? 0 : F.blobIdOf(entry - 1);
}

/**
 * The first blob (lowest id) reading through `id`, or 0. A walk over the index in memory (4 bytes a
 * md page), done once per snapshot delete: no list per snapshot to keep or allocate.
 */
export function cloneIndexFirstClone(s: Store, id: u64): u64 {
  if (cloneIndexCount(s, id) == 0) return 0;
  const entry = F.mdPageOf(id) + 1;
  for (let page: u32 = 0; page < s.mdLen; page++) if (parentAt(s.cloneParents, page) == entry) return F.blobIdOf(page);
  assert(false, "clone index: a count without a blob behind it");
  return 0;
}

// ---- loops: blobs whose parent chain never ends ----

// Walk states, one byte per md page.
const UNSEEN: u8 = 0, ON_PATH: u8 = 1, ENDS: u8 = 2, LOOPS: u8 = 3;

/**
 * Refuse (Store.refusedIds, reported by id) every blob whose chain of parents loops: the blobs of each
 * loop, and every blob that reads through one. An open would follow such a chain for ever. Each md
 * page is walked once (O(md pages)), with one byte per md page of scratch. The number refused, or
 * -ENOMEM (reported: the load fails, nothing written).
 */
export function cloneIndexRefuseLoops(s: Store): i32 {
  const state = heapAllocZeroed(<usize>s.mdLen);
  if (state == 0) {
    report(LEVEL_ERROR, -ENOMEM, "blobstore load: no memory to check %d blobs' parent chains for loops (1 byte per md page): give the engine more memory", 0, 0, <f64>s.mdLen);
    return -ENOMEM;
  }
  let refused: u32 = 0;
  for (let start: u32 = 0; start < s.mdLen; start++) {
    if (!bitTest(s.usedIds, <u64>start) || load<u8>(state + start) != UNSEEN) continue;
    // Follow parents until one whose fate is known, none, or one on this walk's own path (a loop).
    let at = start, steps: u32 = 0, verdict = ENDS;
    for (;;) {
      assert(steps++ <= s.mdLen, "clone index: a parent walk longer than the md region");
      store<u8>(state + at, ON_PATH);
      const entry = parentAt(s.cloneParents, at);
      if (entry == 0 || !bitTest(s.usedIds, <u64>(entry - 1))) break;   // a missing parent: the open says so
      const seen = load<u8>(state + entry - 1);
      if (seen == ON_PATH) { verdict = LOOPS; refused += refuseLoop(s, state, entry - 1, refused); break; }
      if (seen != UNSEEN) { verdict = seen; break; }
      at = entry - 1;
    }
    // The path from `start` up to what ended it takes the verdict (a loop's own blobs have theirs).
    at = start;
    while (load<u8>(state + at) == ON_PATH) {
      store<u8>(state + at, verdict);
      const entry = parentAt(s.cloneParents, at);
      if (verdict == LOOPS) {
        bitSet(s.refusedIds, <u64>at);
        if (refused++ < LOOP_REPORTS_MAX) {
          report(LEVEL_ERROR, -EIO, "blobstore load: blob %d is refused: it reads through blob %d, whose parents loop (md damaged)", 0, 0,
            <f64>F.blobIdOf(at), <f64>F.blobIdOf(entry - 1));
        }
      }
      if (entry == 0) break;
      at = entry - 1;                  // a parent that is no blob was never walked: the loop ends there
    }
  }
  heapFree(state);
  if (refused > LOOP_REPORTS_MAX) {
    report(LEVEL_ERROR, -EIO, "blobstore load: %d blobs refused in all for parent chains that loop (%d reported above)", 0, 0, <f64>refused, <f64>LOOP_REPORTS_MAX);
  }
  return <i32>refused;
}

/** Refuse the blobs of the loop through md page `first` (their walk states are ON_PATH, made LOOPS): how many. */
function refuseLoop(s: Store, state: usize, first: u32, reportedBefore: u32): u32 {
  let n: u32 = 0;
  let at = first;
  do {
    const parent = parentAt(s.cloneParents, at) - 1;
    store<u8>(state + at, LOOPS);
    bitSet(s.refusedIds, <u64>at);
    if (reportedBefore + n < LOOP_REPORTS_MAX) {
      if (parent == at) report(LEVEL_ERROR, -EIO, "blobstore load: blob %d is refused: it names itself as its parent (md damaged)", 0, 0, <f64>F.blobIdOf(at));
      else report(LEVEL_ERROR, -EIO, "blobstore load: blob %d is refused: its parent blob %d reads back through it (a parent loop: md damaged)", 0, 0,
        <f64>F.blobIdOf(at), <f64>F.blobIdOf(parent));
    }
    n++;
    at = parent;
    assert(n <= s.mdLen, "clone index: a loop longer than the md region");
  } while (at != first);
  return n;
}

// ---- building from disk: each used id's first md page names its parent ----

/** (ctx, rc): the scan is over. */
type ScanDone = (ctx: usize, rc: i32) => void;

@unmanaged class IndexScan {
  store: usize;
  parents: usize;     // the arrays filled (the store's, or a verify's own)
  counts: usize;
  buf: usize;         // SCAN_CHUNK_PAGES md pages
  cursor: u32;        // next md page to read
  done: usize;        // ScanDone
  ctx: usize;
}

function anyUsedId(s: Store, from: u32, count: u32): bool {
  for (let p = from; p < from + count; p++) if (bitTest(s.usedIds, <u64>p)) return true;
  return false;
}

/**
 * Fill `parents`/`counts` (zeroed, mdLen entries each) from the first md page of every used id.
 * Chunks without a used id are not read. done(ctx, 0 or -ENOMEM or -EIO) on the md thread.
 */
function scanStart(s: Store, parents: usize, counts: usize, done: ScanDone, ctx: usize): void {
  const scan = changetype<IndexScan>(heapAllocZeroed(offsetof<IndexScan>()));
  const buf = heapAlloc(<usize>SCAN_CHUNK_PAGES << F.MD_PAGE_SHIFT);
  if (changetype<usize>(scan) == 0 || buf == 0) { heapFree(changetype<usize>(scan)); heapFree(buf); done(ctx, -ENOMEM); return; }
  scan.store = changetype<usize>(s);
  scan.parents = parents;
  scan.counts = counts;
  scan.buf = buf;
  scan.done = changetype<usize>(done);
  scan.ctx = ctx;
  scanNextChunk(scan);
}

function scanFinish(scan: IndexScan, rc: i32): void {
  const done = scan.done, ctx = scan.ctx;
  heapFree(scan.buf);
  heapFree(changetype<usize>(scan));
  changetype<ScanDone>(done)(ctx, rc);
}

function scanNextChunk(scan: IndexScan): void {
  const s = changetype<Store>(scan.store);
  while (scan.cursor < s.mdLen && !anyUsedId(s, scan.cursor, min(SCAN_CHUNK_PAGES, s.mdLen - scan.cursor))) {
    scan.cursor += min(SCAN_CHUNK_PAGES, s.mdLen - scan.cursor);
  }
  if (scan.cursor >= s.mdLen) { scanFinish(scan, 0); return; }
  const n = min(SCAN_CHUNK_PAGES, s.mdLen - scan.cursor);
  pageIo(s, false, <u64>s.mdStart + <u64>scan.cursor, n, scan.buf, scanChunkRead, changetype<usize>(scan));
}

function scanChunkRead(scanPtr: usize, ok: bool): void {
  const scan = changetype<IndexScan>(scanPtr);
  const s = changetype<Store>(scan.store);
  if (!ok) { scanFinish(scan, -EIO); return; }
  const n = min(SCAN_CHUNK_PAGES, s.mdLen - scan.cursor);
  for (let i: u32 = 0; i < n; i++) {
    const page = scan.cursor + i;
    if (!bitTest(s.usedIds, <u64>page)) continue;
    const md = mdNew(F.blobIdOf(page));
    if (changetype<usize>(md) == 0) { scanFinish(scan, -ENOMEM); return; }
    // The parent descriptor is always on a chain's first page (md.ts writes it before the rest).
    const rc = mdDecodePage(md, scan.buf + (<usize>i << F.MD_PAGE_SHIFT), 0, s.mdTag);
    if (rc == MD_OK) setEntry(scan.parents, scan.counts, page, parentEntry(s, md.parentId));
    mdFree(md);
    // A page left out for want of memory would leave its blob's parent out of the index.
    if (rc == MD_NO_MEMORY) { scanFinish(scan, -ENOMEM); return; }
  }
  scan.cursor += n;
  scanNextChunk(scan);
}

// ---- checking (tests, debugging): build a second index from disk and compare ----

@unmanaged class IndexVerify {
  store: usize;
  parents: usize;
  counts: usize;
  cb: usize;          // BsOpCb
  ctx: usize;
}

/**
 * Rebuild the index from the md pages on disk into fresh arrays and compare with the store's: every
 * difference is reported. cb(ctx, 0 or -EIO (they differ) or -ENOMEM, differences). Run it while no
 * md operation is under way (between ops a durable change and its index update are never apart).
 */
export function cloneIndexVerify(s: Store, cb: BsOpCb, ctx: usize): void {
  const v = changetype<IndexVerify>(heapAllocZeroed(offsetof<IndexVerify>()));
  if (changetype<usize>(v) == 0) { cb(ctx, -ENOMEM, 0); return; }
  v.store = changetype<usize>(s);
  v.cb = changetype<usize>(cb);
  v.ctx = ctx;
  v.parents = heapAllocZeroed(<usize>s.mdLen << 2);
  v.counts = heapAllocZeroed(<usize>s.mdLen << 2);
  if (v.parents == 0 || v.counts == 0) { verifyFinish(v, -ENOMEM, 0); return; }
  scanStart(s, v.parents, v.counts, verifyScanned, changetype<usize>(v));
}

function verifyFinish(v: IndexVerify, rc: i32, differences: u64): void {
  const cb = v.cb, ctx = v.ctx;
  heapFree(v.parents); heapFree(v.counts);
  heapFree(changetype<usize>(v));
  changetype<BsOpCb>(cb)(ctx, rc, differences);
}

function verifyScanned(vPtr: usize, rc: i32): void {
  const v = changetype<IndexVerify>(vPtr);
  if (rc != 0) { verifyFinish(v, rc, 0); return; }
  const s = changetype<Store>(v.store);
  let differences: u32 = 0;
  for (let page: u32 = 0; page < s.mdLen; page++) {
    const kept = parentAt(s.cloneParents, page), onDisk = parentAt(v.parents, page);
    const keptCount = countAt(s.cloneCounts, page), diskCount = countAt(v.counts, page);
    if (kept == onDisk && keptCount == diskCount) continue;
    if (differences++ < VERIFY_REPORTS_MAX) {
      // Entries are the parent's md page + 1 (0: none); counts are the blobs reading through the page.
      report(LEVEL_ERROR, -EIO, "clone index differs from the disk at md page %d: parent entry %d in memory", 0, 0, <f64>page, <f64>kept);
      report(LEVEL_ERROR, -EIO, "clone index differs from the disk at md page %d: parent entry %d on disk", 0, 0, <f64>page, <f64>onDisk);
      report(LEVEL_ERROR, -EIO, "clone index differs from the disk at md page %d: %d blobs read through it in memory", 0, 0, <f64>page, <f64>keptCount);
      report(LEVEL_ERROR, -EIO, "clone index differs from the disk at md page %d: %d blobs read through it on disk", 0, 0, <f64>page, <f64>diskCount);
    }
  }
  verifyFinish(v, differences == 0 ? 0 : -EIO, <u64>differences);
}
