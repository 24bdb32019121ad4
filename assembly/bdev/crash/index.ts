// The crash bdev (for power-cut tests): a pass-through with a volatile write cache. Writes (and unmap,
// write_zeroes) complete at once into the cache; reads see the cache over the base; a flush destages
// the cache in write order and then flushes the base. A cut ends the cache the way a power failure
// may: every unflushed write is dropped, or each one is kept, dropped or torn (a prefix of whole
// 512-byte sectors reaches the base) by a seeded random choice the test can replay.

import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import { heapAlloc, heapAllocZeroed, heapFree, rawLock, rawUnlock, report, LEVEL_ERROR, LEVEL_INFO, ENOMEM } from "../../runtime";
import { getIoChannel, putIoChannel, sendMsg, threadGet } from "../../thread";
import { BdevModule, BdevIo, Bdev, BdevChannel, IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES, IO_RESET, IO_SUCCESS, IO_FAILED, IO_NOMEM } from "../types";
import { bdevIoComplete, bdevFreeIo, bdevSubmitBlocks } from "../io";
import { iovGather } from "../iov";
import { Passthru, PassthruChannel, passthruCreate, passthruForward, passthruChannel, passthruRelease } from "../passthru";

export const CUT_DROP_ALL: u32 = 0;
export const CUT_KEEP_ALL: u32 = 1;
export const CUT_RANDOM: u32 = 2;
const SECTOR: u32 = 512;

/** One cached write: data 0 means zeroes (unmap, write_zeroes). */
@unmanaged class CacheEntry {
  offsetBlocks: u64;
  numBlocks: u64;
  data: usize;
  next: usize;
  iovBase: u32;         // {data, bytes}: the iov a destage or a cut writes from
  iovLen: u32;
}

const STATE_OFF: usize = (offsetof<Passthru>() + 15) & ~15;
@unmanaged class CacheState {
  lock: i32;
  head: usize;
  tail: usize;
  entries: u32;
  bytes: u64;
  maxBytes: u64;
  destaging: u32;       // a flush is writing entries to the base
  waitingFlushes: usize;   // flush ios waiting for the next destage round (BdevIo.next)
}
const CRASH_CTX_BYTES: usize = STATE_OFF + offsetof<CacheState>();

function state(bdev: usize): CacheState { return changetype<CacheState>(changetype<Bdev>(bdev).ctx + STATE_OFF); }
function stateOfCtx(ctx: usize): CacheState { return changetype<CacheState>(ctx + STATE_OFF); }

const CRASH_KEY = memory.data(MODULE_KEY_BYTES);
function crashModule(): BdevModule { return moduleTable(CRASH_KEY, "crash", crashSubmit, crashChannelKey, crashDestruct, null); }

function crashChannelKey(bdev: usize): usize { return changetype<Bdev>(bdev).ctx; }

function freeEntries(head: usize): void {
  while (head != 0) {
    const next = changetype<CacheEntry>(head).next;
    heapFree(changetype<CacheEntry>(head).data);
    heapFree(head);
    head = next;
  }
}

function crashDestruct(bdev: usize): void {
  const ctx = changetype<Bdev>(bdev).ctx;
  const s = stateOfCtx(ctx);
  if (s.entries != 0) report(LEVEL_INFO, 0, "crash bdev %s removed with %d unflushed writes (dropped)", changetype<Bdev>(bdev).name, 0, <f64>s.entries);
  freeEntries(s.head);
  passthruRelease(ctx);
}

/** Write `len` bytes of src (or zeroes if src is 0) into the io's buffers at byte `at` of the io. */
function scatterAt(io: BdevIo, at: usize, src: usize, len: usize): void {
  let pos: usize = 0;
  for (let i: u32 = 0; i < io.iovcnt && len > 0; i++) {
    const base = <usize>load<u32>(io.iovs + (<usize>i << 3));
    const ilen = <usize>load<u32>(io.iovs + (<usize>i << 3), 4);
    if (at < pos + ilen) {
      const skip = at - pos;
      const n = min(ilen - skip, len);
      if (src == 0) memory.fill(base + skip, 0, n); else memory.copy(base + skip, src, n);
      if (src != 0) src += n;
      at += n;
      len -= n;
    }
    pos += ilen;
  }
}

function cacheWrite(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const b = changetype<Bdev>(io.bdev);
  const s = state(io.bdev);
  const bytes = <usize>(io.numBlocks << b.blockShift);
  const isData = io.type == IO_WRITE;
  if (s.bytes + <u64>(isData ? bytes : 0) > s.maxBytes) {
    report(LEVEL_ERROR, -ENOMEM, "crash bdev %s: write cache full; flush more often or create it larger", b.name);
    bdevIoComplete(ioPtr, IO_NOMEM);
    return;
  }
  const e = changetype<CacheEntry>(heapAllocZeroed(offsetof<CacheEntry>()));
  const data = isData ? heapAlloc(bytes) : 0;
  if (changetype<usize>(e) == 0 || (isData && data == 0)) {
    heapFree(changetype<usize>(e)); heapFree(data);
    bdevIoComplete(ioPtr, IO_NOMEM);
    return;
  }
  if (isData) iovGather(io.iovs, io.iovcnt, data, bytes);
  e.offsetBlocks = io.offsetBlocks;
  e.numBlocks = io.numBlocks;
  e.data = data;
  e.iovBase = <u32>data;
  e.iovLen = <u32>bytes;
  rawLock(changetype<usize>(s));
  if (s.tail == 0) s.head = changetype<usize>(e); else changetype<CacheEntry>(s.tail).next = changetype<usize>(e);
  s.tail = changetype<usize>(e);
  s.entries++;
  s.bytes += isData ? <u64>bytes : 0;
  rawUnlock(changetype<usize>(s));
  bdevIoComplete(ioPtr, IO_SUCCESS);
}

function readDone(child: usize, success: bool, parent: usize): void {
  bdevFreeIo(child);
  if (success) {
    const io = changetype<BdevIo>(parent);
    const b = changetype<Bdev>(io.bdev);
    const s = state(io.bdev);
    const start = io.offsetBlocks;
    const end = io.offsetBlocks + io.numBlocks;
    rawLock(changetype<usize>(s));
    // Later entries overwrite earlier ones: apply in write order.
    for (let e = s.head; e != 0; e = changetype<CacheEntry>(e).next) {
      const ce = changetype<CacheEntry>(e);
      const lo = max(start, ce.offsetBlocks);
      const hi = min(end, ce.offsetBlocks + ce.numBlocks);
      if (lo >= hi) continue;
      const src: usize = ce.data == 0 ? 0 : ce.data + <usize>((lo - ce.offsetBlocks) << b.blockShift);
      scatterAt(io, <usize>((lo - start) << b.blockShift), src, <usize>((hi - lo) << b.blockShift));
    }
    rawUnlock(changetype<usize>(s));
  }
  bdevIoComplete(parent, success ? IO_SUCCESS : IO_FAILED);
}

// ---- flush: destage in write order, then flush the base ----
// One destage runs at a time, on the thread of the flush that started it, with that thread's base
// channel. Flushes arriving meanwhile (from any thread) wait for the next round. Each flush completes
// on its own thread, by message when the destage ran elsewhere.

@unmanaged class Destage {
  bdev: usize;
  baseChannel: usize;
  remaining: u32;       // entries still to write in this round
  flushes: usize;       // flush ios this round completes (BdevIo.next)
}

function destageNext(d: usize): void {
  const dd = changetype<Destage>(d);
  const p = changetype<Passthru>(changetype<Bdev>(dd.bdev).ctx);
  if (dd.remaining == 0) {
    const rc = bdevSubmitBlocks(p.baseDesc, dd.baseChannel, IO_FLUSH, 0, 0, 0, 0, baseFlushDone, d);
    if (rc != 0) finishDestage(d, false);
    return;
  }
  // Only a destage removes entries and one runs at a time: the head is ours to write.
  const e = changetype<CacheEntry>(state(dd.bdev).head);
  const rc = e.data != 0
    ? bdevSubmitBlocks(p.baseDesc, dd.baseChannel, IO_WRITE, changetype<usize>(e) + offsetof<CacheEntry>("iovBase"), 1,
      e.offsetBlocks, e.numBlocks, entryWritten, d)
    : bdevSubmitBlocks(p.baseDesc, dd.baseChannel, IO_WRITE_ZEROES, 0, 0, e.offsetBlocks, e.numBlocks, entryWritten, d);
  if (rc != 0) finishDestage(d, false);
}

function entryWritten(child: usize, success: bool, d: usize): void {
  bdevFreeIo(child);
  if (!success) { finishDestage(d, false); return; }
  const dd = changetype<Destage>(d);
  const s = state(dd.bdev);
  rawLock(changetype<usize>(s));
  const e = changetype<CacheEntry>(s.head);
  s.head = e.next;
  if (s.head == 0) s.tail = 0;
  s.entries--;
  if (e.data != 0) s.bytes -= e.numBlocks << changetype<Bdev>(dd.bdev).blockShift;
  rawUnlock(changetype<usize>(s));
  heapFree(e.data);
  heapFree(changetype<usize>(e));
  dd.remaining--;
  destageNext(d);
}

function baseFlushDone(child: usize, success: bool, d: usize): void {
  bdevFreeIo(child);
  finishDestage(d, success);
}

function completeFlushMsg(io: usize): void { bdevIoComplete(io, <i32>changetype<BdevIo>(io).aux); }

function finishDestage(d: usize, success: bool): void {
  const dd = changetype<Destage>(d);
  const s = state(dd.bdev);
  let io = dd.flushes;
  while (io != 0) {
    const f = changetype<BdevIo>(io);
    const next = f.next;
    f.aux = <u32>(success ? IO_SUCCESS : IO_FAILED);
    const owner = changetype<BdevChannel>(f.channel).thread;
    if (owner == threadGet()) completeFlushMsg(io); else sendMsg(owner, completeFlushMsg, io);
    io = next;
  }
  heapFree(d);
  rawLock(changetype<usize>(s));
  const waiting = s.waitingFlushes;
  s.destaging = 0;
  rawUnlock(changetype<usize>(s));
  if (waiting != 0) startDestage(changetype<BdevIo>(waiting).bdev, passthruChannel(waiting).baseChannel);
}

/** Start a round for the waiting flushes, if none is running. */
function startDestage(bdev: usize, baseChannel: usize): void {
  const s = state(bdev);
  const d = changetype<Destage>(heapAllocZeroed(offsetof<Destage>()));
  rawLock(changetype<usize>(s));
  if (s.destaging != 0 || s.waitingFlushes == 0 || changetype<usize>(d) == 0) {
    rawUnlock(changetype<usize>(s));
    heapFree(changetype<usize>(d));
    return;
  }
  s.destaging = 1;
  d.flushes = s.waitingFlushes;
  s.waitingFlushes = 0;
  d.remaining = s.entries;
  rawUnlock(changetype<usize>(s));
  d.bdev = bdev;
  d.baseChannel = baseChannel;
  destageNext(changetype<usize>(d));
}

function cacheFlush(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const s = state(io.bdev);
  rawLock(changetype<usize>(s));
  io.next = s.waitingFlushes;
  s.waitingFlushes = ioPtr;
  rawUnlock(changetype<usize>(s));
  startDestage(io.bdev, passthruChannel(ioPtr).baseChannel);
}

// ---- cut: the power fails ----

@unmanaged class Cut {
  bdev: usize;
  baseChannel: usize;
  entries: usize;       // detached list, applied in order
  mode: u32;
  rng: u32;
  kept: u32;
  dropped: u32;
  torn: u32;
  failed: u32;
  done: usize;          // CutDoneFn
  doneCtx: usize;
}

/** (ctx, kept, dropped, torn, failed) */
export type CutDoneFn = (ctx: usize, kept: u32, dropped: u32, torn: u32, failed: u32) => void;

function cutRand(c: Cut): u32 {
  let x = c.rng;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  c.rng = x;
  return x;
}

function cutNext(cp: usize): void {
  const c = changetype<Cut>(cp);
  const p = changetype<Passthru>(changetype<Bdev>(c.bdev).ctx);
  const b = changetype<Bdev>(c.bdev);
  while (c.entries != 0) {
    const e = changetype<CacheEntry>(c.entries);
    let sectors = <u32>((e.numBlocks << b.blockShift) / SECTOR);
    let choice: u32 = c.mode == CUT_KEEP_ALL ? 1 : c.mode == CUT_DROP_ALL ? 0 : cutRand(c) % 3;
    if (choice == 2) {
      // Torn: a prefix of whole sectors, possibly empty, never the whole write.
      sectors = cutRand(c) % sectors;
      if (sectors * SECTOR < b.blockSize || e.data == 0) choice = 0;    // nothing block-sized survives
    }
    if (choice == 0) { c.dropped++; c.entries = e.next; heapFree(e.data); heapFree(changetype<usize>(e)); continue; }
    const blocks = choice == 2 ? <u64>((sectors * SECTOR) >> b.blockShift) : e.numBlocks;
    if (choice == 2) { c.torn++; e.iovLen = <u32>(blocks << b.blockShift); } else c.kept++;
    const rc = e.data != 0
      ? bdevSubmitBlocks(p.baseDesc, c.baseChannel, IO_WRITE, changetype<usize>(e) + offsetof<CacheEntry>("iovBase"), 1,
        e.offsetBlocks, blocks, cutWritten, cp)
      : bdevSubmitBlocks(p.baseDesc, c.baseChannel, IO_WRITE_ZEROES, 0, 0, e.offsetBlocks, blocks, cutWritten, cp);
    if (rc == 0) return;
    c.failed++;
    c.entries = e.next;
    heapFree(e.data);
    heapFree(changetype<usize>(e));
  }
  putIoChannel(c.baseChannel);
  changetype<CutDoneFn>(c.done)(c.doneCtx, c.kept, c.dropped, c.torn, c.failed);
  heapFree(cp);
}

function cutWritten(child: usize, success: bool, cp: usize): void {
  bdevFreeIo(child);
  const c = changetype<Cut>(cp);
  if (!success) c.failed++;
  const e = changetype<CacheEntry>(c.entries);
  c.entries = e.next;
  heapFree(e.data);
  heapFree(changetype<usize>(e));
  cutNext(cp);
}

/**
 * Simulate a power cut on the current thread: every unflushed write is dropped (CUT_DROP_ALL), kept
 * (CUT_KEEP_ALL), or each kept, dropped or torn at random from `seed` (CUT_RANDOM). The cache is empty
 * afterwards. done(ctx, kept, dropped, torn, failed) runs on this thread. -EBUSY while a flush runs.
 */
export function crashCut(bdev: usize, mode: u32, seed: u32, done: CutDoneFn, doneCtx: usize): i32 {
  if (mode > CUT_RANDOM) return -22;
  const s = state(bdev);
  const c = changetype<Cut>(heapAllocZeroed(offsetof<Cut>()));
  if (changetype<usize>(c) == 0) return -ENOMEM;
  c.baseChannel = getIoChannel(changetype<Passthru>(changetype<Bdev>(bdev).ctx).base);
  if (c.baseChannel == 0) { heapFree(changetype<usize>(c)); return -ENOMEM; }
  rawLock(changetype<usize>(s));
  if (s.destaging != 0) {
    rawUnlock(changetype<usize>(s));
    putIoChannel(c.baseChannel);
    heapFree(changetype<usize>(c));
    return -16;
  }
  c.entries = s.head;
  s.head = 0;
  s.tail = 0;
  s.entries = 0;
  s.bytes = 0;
  rawUnlock(changetype<usize>(s));
  c.bdev = bdev;
  c.mode = mode;
  c.rng = seed | 1;
  c.done = changetype<usize>(done);
  c.doneCtx = doneCtx;
  cutNext(changetype<usize>(c));
  return 0;
}

/** Unflushed writes in the cache. */
export function crashPending(bdev: usize): u32 { return atomic.load<u32>(changetype<usize>(state(bdev)) + offsetof<CacheState>("entries")); }

/** Create a crash bdev over `baseId` with a cache of at most maxCacheBytes. The bdev, or 0 (passthruError). */
export function crashBdevCreate(name: usize, baseId: u32, maxCacheBytes: u64): usize {
  const ctx = heapAllocZeroed(CRASH_CTX_BYTES);
  if (ctx == 0) return 0;
  stateOfCtx(ctx).maxBytes = maxCacheBytes;
  const b = passthruCreate(crashModule(), name, baseId, ctx, <u32>offsetof<PassthruChannel>());
  if (b == 0) { heapFree(ctx); return 0; }
  // Reads overlay the cache; the cache holds whole writes: report a volatile cache, as a disk would.
  changetype<Bdev>(b).writeCache = 1;
  changetype<Bdev>(b).ioTypes |= (1 << IO_FLUSH) | (1 << IO_UNMAP) | (1 << IO_WRITE_ZEROES);
  return b;
}

export function isCrashBdev(bdev: usize): bool { return isModule(changetype<Bdev>(bdev).module, CRASH_KEY); }

function crashSubmit(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  switch (io.type) {
    case IO_WRITE:
    case IO_UNMAP:
    case IO_WRITE_ZEROES:
      cacheWrite(ioPtr);
      break;
    case IO_READ: {
      const p = changetype<Passthru>(changetype<Bdev>(io.bdev).ctx);
      const rc = bdevSubmitBlocks(p.baseDesc, passthruChannel(ioPtr).baseChannel, IO_READ, io.iovs, io.iovcnt,
        io.offsetBlocks, io.numBlocks, readDone, ioPtr);
      if (rc != 0) bdevIoComplete(ioPtr, IO_FAILED);
      break;
    }
    case IO_FLUSH:
      cacheFlush(ioPtr);
      break;
    default:
      passthruForward(ioPtr);
  }
}
