// Submitting and completing bdev I/O. A bdev_io comes from the submitting channel's pool, runs on the
// submitting thread and completes there through its callback, which returns it with bdevFreeIo.
// Every bad request is an errno returned to the caller; none reaches the module. A request whose buffers
// the module cannot take as they are (misaligned) reaches it through a bounce buffer (bounce.ts), after
// waiting in the layer (bounce-wait.ts) while the heap has no room for one.

import { fatal, report, LEVEL_ERROR, histRecord, EINVAL, ENOMEM, ENODEV, EBADF, EPERM, ENOTSUP, EBUSY } from "../runtime";
import { MsgFn, threadGet, ioChannelCtx, cachedNowNs, sendMsg } from "../thread";
import {
  Bdev, BdevDesc, BdevModule, BdevChannel, BdevIo, BdevIoCb, SubmitFn,
  IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES, IO_RESET, IO_SUCCESS, IO_PENDING, IO_FAILED, IO_MAX_IOVS,
  BDEV_ACTIVE, STATS_OPS_OFF, STATS_BYTES_OFF, STATS_ERRORS_OFF, STATS_LAT_SUM_OFF, STATS_LAT_MIN_OFF,
  STATS_LAT_MAX_OFF, STATS_HIST_OFF,
} from "./types";
import { descFromHandle } from "./registry";
import { bounceBegin, bounceEnd, bounceNeverFits, BOUNCE_STARTED, BOUNCE_NO_MEMORY } from "./bounce";
import { bounceWaitAdd, bounceWaitRetry, bounceWaitPoller } from "./bounce-wait";
import { extIovHandle, extIovLen, extIovOffset } from "./extiov";
import { channelSubmit } from "./channel";
import { ioWaitAdd, ioWaitWakeOne } from "./io-wait";
import { lendPrepare, lendRelease } from "./lend";

function isWriteType(type: u32): bool { return type == IO_WRITE || type == IO_UNMAP || type == IO_WRITE_ZEROES; }
function hasRange(type: u32): bool { return type == IO_READ || type == IO_WRITE || type == IO_UNMAP || type == IO_WRITE_ZEROES; }

/** The bdev channel behind an io_channel handed out by getIoChannel(bdev). */
export function bdevChannelOf(ioChannel: usize): BdevChannel { return changetype<BdevChannel>(ioChannelCtx(ioChannel)); }

// A buffer must lie in the heap: below it are the runtime's roots and the static data, which no I/O
// may ever overwrite (a read into address 0 would zero the allocator's root).
function inHeap(base: u32, len: u32): bool {
  return base >= <u32>__heap_base && <u64>base + <u64>len <= <u64>(<usize>memory.size() << 16);
}

/** validate(): the request is good, but a buffer's address or length is not aligned as the module needs. */
const NEEDS_BOUNCE: i32 = 1;

/**
 * Check a request against the descriptor and the bdev; 0, NEEDS_BOUNCE or the errno to return. Cheap
 * enough for every I/O: a handful of loads and compares. Data is either iovs[iovcnt] or the single (base, len);
 * a read without a buffer (`lent`: lend.ts) has base 0 and no buffer to check. An external vector
 * (extiov.ts) is checked for its lengths here and for its ranges by the host on every access; it
 * bounces when the module cannot take it.
 */
function validate(desc: BdevDesc, ch: BdevChannel, type: u32, iovs: usize, iovcnt: u32, base: u32, len: u32,
  offsetBlocks: u64, numBlocks: u64, lent: bool, external: bool): i32 {
  const b = changetype<Bdev>(desc.bdev);
  if (ch.bdev != desc.bdev) return -EINVAL;
  if (atomic.load<u32>(desc.bdev + offsetof<Bdev>("state")) != BDEV_ACTIVE || ch.closing != 0) return -ENODEV;
  if (type != IO_RESET && (b.ioTypes & (1 << type)) == 0) return -ENOTSUP;
  if (isWriteType(type)) {
    if (desc.write == 0) return -EBADF;
    if (b.claimed != 0 && b.claimed != changetype<usize>(desc)) return -EPERM;
  }
  if (hasRange(type)) {
    if (numBlocks == 0) return -EINVAL;
    if (offsetBlocks >= b.blockCount || numBlocks > b.blockCount - offsetBlocks) return -EINVAL;
  }
  if (type == IO_READ || type == IO_WRITE) {
    const alignMask = b.requiredAlign - 1;
    let total: u64 = 0;
    let misaligned: u32 = 0;           // the address and length bits below the alignment, of every buffer
    if (lent) {
      total = len;
    } else if (external) {
      if (iovcnt == 0 || iovcnt > IO_MAX_IOVS) return -EINVAL;
      for (let i: u32 = 0; i < iovcnt; i++) {
        const l = extIovLen(iovs, i);
        if (extIovHandle(iovs, i) <= 0 || l == 0) return -EINVAL;
        misaligned |= (<u32>extIovOffset(iovs, i) | l) & alignMask;
        total += l;
      }
      if (b.takesExternal == 0) misaligned = 1;
    } else if (iovs == 0) {
      if (!inHeap(base, len)) return -EINVAL;
      misaligned = (base | len) & alignMask;
      total = len;
    } else {
      if (iovcnt == 0 || iovcnt > IO_MAX_IOVS) return -EINVAL;
      for (let i: u32 = 0; i < iovcnt; i++) {
        const p = load<u32>(iovs + (<usize>i << 3));
        const l = load<u32>(iovs + (<usize>i << 3), 4);
        if (!inHeap(p, l)) return -EINVAL;
        misaligned |= (p | l) & alignMask;
        total += l;
      }
    }
    if (total != numBlocks << b.blockShift) return -EINVAL;
    if (misaligned != 0) return NEEDS_BOUNCE;
  }
  return 0;
}

/** The io the last submit(deliver = false) prepared (per instance), for layer-level operations (reset). */
export let preparedIo: usize = 0;

function submit(descPtr: usize, ioChannel: usize, type: u32, iovs: usize, iovcnt: u32, base: u32, len: u32,
  offsetBlocks: u64, numBlocks: u64, cb: BdevIoCb, arg: usize, deliver: bool = true, lent: bool = false, external: bool = false): i32 {
  if (descPtr == 0) return -EBADF;
  const desc = changetype<BdevDesc>(descPtr);
  const ch = bdevChannelOf(ioChannel);
  // An I/O runs start to finish on the thread that owns its channel (completion checks the same).
  if (threadGet() != ch.thread) {
    fatal(-EINVAL, "bdev %s: I/O submitted from a thread other than the one that owns the channel", changetype<Bdev>(ch.bdev).name);
  }
  const rc = validate(desc, ch, type, iovs, iovcnt, base, len, offsetBlocks, numBlocks, lent, external);
  if (rc < 0) return rc;
  const ioPtr = ch.freeList;
  if (ioPtr == 0) return -ENOMEM;
  const io = changetype<BdevIo>(ioPtr);
  ch.freeList = io.next;
  ch.freeCount--;
  ch.outstanding++;
  io.bdev = desc.bdev;
  io.desc = descPtr;
  io.type = type;
  io.status = IO_PENDING;
  io.offsetBlocks = offsetBlocks;
  io.numBlocks = numBlocks;
  if (iovs == 0) {
    io.inlineBase = base;
    io.inlineLen = len;
    io.iovs = ioPtr + offsetof<BdevIo>("inlineBase");
    io.iovcnt = type == IO_READ || type == IO_WRITE ? 1 : 0;
  } else {
    io.iovs = iovs;
    io.iovcnt = iovcnt;
  }
  io.external = external ? 1 : 0;
  io.cb = changetype<usize>(cb);
  io.cbArg = arg;
  io.startNs = cachedNowNs();
  io.next = 0;
  io.parent = 0;
  if (lent && !lendPrepare(ioPtr)) { unuse(ch, ioPtr); return -ENOMEM; }
  if (rc == NEEDS_BOUNCE) {
    assert(deliver, "submit: only reads and writes bounce, and those are always delivered");
    // No wait would help: the io goes back unused and the caller is told -ENOMEM at once.
    if (bounceNeverFits(ioPtr) || !bounceWaitPoller(ch)) { unuse(ch, ioPtr); return -ENOMEM; }
    // Behind requests already waiting (order), or no memory for the copy now: the layer keeps it.
    const started = ch.bounceWaitHead != 0 ? BOUNCE_NO_MEMORY : bounceBegin(ioPtr);
    if (started < 0) { unuse(ch, ioPtr); return started; }     // a write's external data is gone: never reaches the module
    if (started != BOUNCE_STARTED) {
      bounceWaitAdd(ch, ioPtr);
      return 0;
    }
  }
  if (deliver) {
    channelSubmit(ch, ioPtr);
  } else {
    preparedIo = ioPtr;
  }
  return 0;
}

/** Give back an io that submit took but never handed on: back in the pool, no longer counted as outstanding. */
function unuse(ch: BdevChannel, ioPtr: usize): void {
  ch.outstanding--;
  ch.freeCount++;
  changetype<BdevIo>(ioPtr).next = ch.freeList;
  ch.freeList = ioPtr;
}

/** Take an io for `type` with the usual checks but do not pass it to the module (reset.ts). */
export function bdevPrepareIo(descHandle: u32, ioChannel: usize, type: u32, cb: BdevIoCb, arg: usize): i32 {
  return submit(descFromHandle(descHandle), ioChannel, type, 0, 0, 0, 0, 0, 0, cb, arg, false);
}

/**
 * Submit I/O in blocks with a vector of {u32 base, u32 len} pairs (read and write) or none (the
 * others). Returns 0 (the callback will run), or a negative errno and no callback:
 * -EBADF closed descriptor or write on a read-only one, -EINVAL bad range/length or a buffer outside
 * the heap, -ENOTSUP type not supported, -ENODEV bdev being removed, -EPERM claimed by another writer,
 * -ENOMEM no free bdev_io on this channel (see bdevQueueIoWait), or a request whose buffers are not
 * aligned as the bdev requires and whose aligned copy the memory can never hold. A misaligned request
 * that finds no memory for its copy now waits in the layer (bounce-wait.ts) and completes later.
 */
export function bdevSubmitBlocks(descHandle: u32, ioChannel: usize, type: u32, iovs: usize, iovcnt: u32,
  offsetBlocks: u64, numBlocks: u64, cb: BdevIoCb, arg: usize): i32 {
  if ((type == IO_READ || type == IO_WRITE) && iovs == 0) return -EINVAL;
  return submit(descFromHandle(descHandle), ioChannel, type, iovs, iovcnt, 0, 0, offsetBlocks, numBlocks, cb, arg);
}

/**
 * A read or write whose buffers are outside this memory: `iovs` holds `iovcnt` external entries
 * (extiov.ts: {u32 handle, u32 len, u64 offset}, each handle a host region). Errors as
 * bdevSubmitBlocks, and the host's -errno (-EBADF: the region is gone) when a write's data had to be
 * copied for a module that cannot take it and could not be. A read whose data cannot be put into
 * the buffers at completion fails.
 */
export function bdevSubmitExternal(descHandle: u32, ioChannel: usize, type: u32, iovs: usize, iovcnt: u32,
  offsetBlocks: u64, numBlocks: u64, cb: BdevIoCb, arg: usize): i32 {
  if ((type != IO_READ && type != IO_WRITE) || iovs == 0) return -EINVAL;
  return submit(descFromHandle(descHandle), ioChannel, type, iovs, iovcnt, 0, 0, offsetBlocks, numBlocks, cb, arg, true, false, true);
}

/** Read `len` bytes at byte `offset` into one buffer; offset and len must be multiples of the block size. */
export function bdevRead(desc: u32, ioChannel: usize, buf: usize, offset: u64, len: u64, cb: BdevIoCb, arg: usize): i32 {
  return submitBytes(desc, ioChannel, IO_READ, buf, offset, len, cb, arg);
}

/**
 * Read `len` bytes at byte `offset` without a buffer of the caller's (SPDK: a read with a NULL buffer):
 * on success bdevIoData(io) is where the data is, read-only, valid until bdevFreeIo. Null and malloc
 * bdevs lend their own bytes (no copy); others read into a buffer the layer gives the io (lend.ts).
 * Errors as bdevRead, and -ENOMEM when no memory is free for that buffer.
 */
export function bdevReadLent(desc: u32, ioChannel: usize, offset: u64, len: u64, cb: BdevIoCb, arg: usize): i32 {
  return submitBytes(desc, ioChannel, IO_READ, 0, offset, len, cb, arg, true);
}

/**
 * Where a completed read without a buffer (bdevReadLent) has its data; 0 if it failed before any was
 * lent, or if the io carried the caller's buffers (a vector: its data is where the caller put it).
 */
export function bdevIoData(ioPtr: usize): usize {
  const io = changetype<BdevIo>(ioPtr);
  return io.iovs == ioPtr + offsetof<BdevIo>("inlineBase") ? <usize>io.inlineBase : 0;
}

export function bdevWrite(desc: u32, ioChannel: usize, buf: usize, offset: u64, len: u64, cb: BdevIoCb, arg: usize): i32 {
  return submitBytes(desc, ioChannel, IO_WRITE, buf, offset, len, cb, arg);
}

export function bdevUnmap(desc: u32, ioChannel: usize, offset: u64, len: u64, cb: BdevIoCb, arg: usize): i32 {
  return submitBytes(desc, ioChannel, IO_UNMAP, 0, offset, len, cb, arg);
}

export function bdevWriteZeroes(desc: u32, ioChannel: usize, offset: u64, len: u64, cb: BdevIoCb, arg: usize): i32 {
  return submitBytes(desc, ioChannel, IO_WRITE_ZEROES, 0, offset, len, cb, arg);
}

export function bdevFlush(desc: u32, ioChannel: usize, cb: BdevIoCb, arg: usize): i32 {
  return submit(descFromHandle(desc), ioChannel, IO_FLUSH, 0, 0, 0, 0, 0, 0, cb, arg);
}

function submitBytes(descHandle: u32, ioChannel: usize, type: u32, buf: usize, offset: u64, len: u64, cb: BdevIoCb, arg: usize,
  lent: bool = false): i32 {
  const descPtr = descFromHandle(descHandle);
  if (descPtr == 0) return -EBADF;
  const b = changetype<Bdev>(changetype<BdevDesc>(descPtr).bdev);
  const mask = <u64>b.blockSize - 1;
  if ((offset & mask) != 0 || (len & mask) != 0 || len == 0 || len > 0xffffffff) {
    return -EINVAL;            // misaligned or zero length: whole blocks only
  }
  return submit(descPtr, ioChannel, type, 0, 0, <u32>buf, <u32>len, offset >> b.blockShift, len >> b.blockShift, cb, arg,
    true, lent);
}

/**
 * Complete an io (modules call this, on the submitting thread): statistics, then the callback.
 * `status` is IO_SUCCESS or a failure status.
 */
export function bdevIoComplete(ioPtr: usize, status: i32): void {
  const io = changetype<BdevIo>(ioPtr);
  const ch = changetype<BdevChannel>(io.channel);
  if (threadGet() != ch.thread) {
    fatal(-EINVAL, "bdev %s: I/O completed on a thread other than the one that submitted it", changetype<Bdev>(io.bdev).name);
  }
  assert(io.status == IO_PENDING, "bdev_io completed twice");
  io.status = status;
  if (ch.inSubmit != 0) { sendMsg(ch.thread, deliverLater, ioPtr); return; }
  deliver(ioPtr);
}

/** Complete every io of a list linked through BdevIo.next with `status` (a module's queue, aborted). */
export function bdevIoCompleteList(head: usize, status: i32): void {
  let io = head;
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    bdevIoComplete(io, status);
    io = next;
  }
}

/**
 * A module that completes inside its submit (an injected error, a cache hit) would run the caller's
 * callback inside the caller's submit, and a callback that resubmits would recurse without bound:
 * such completions are delivered by message instead (as SPDK does).
 */
function deliverLater(ioPtr: usize): void { deliver(ioPtr); }

function deliver(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const ch = changetype<BdevChannel>(io.channel);
  let status = io.status;
  if (io.bounceBlock != 0) {
    if (!bounceEnd(ioPtr, status == IO_SUCCESS)) { status = IO_FAILED; io.status = status; }
    // Memory just came back on this thread: a request waiting for its copy need not wait for the poller.
    if (ch.bounceWaitHead != 0) bounceWaitRetry(ch);
  }
  ch.outstanding--;
  const stats = ch.stats;
  const typeOff = <usize>io.type << 3;
  store<u64>(stats + STATS_OPS_OFF + typeOff, load<u64>(stats + STATS_OPS_OFF + typeOff) + 1);
  if (status != IO_SUCCESS) {
    store<u64>(stats + STATS_ERRORS_OFF + typeOff, load<u64>(stats + STATS_ERRORS_OFF + typeOff) + 1);
  } else if (hasRange(io.type)) {
    const bytes = io.numBlocks << changetype<Bdev>(io.bdev).blockShift;
    store<u64>(stats + STATS_BYTES_OFF + typeOff, load<u64>(stats + STATS_BYTES_OFF + typeOff) + bytes);
  }
  const now = cachedNowNs();
  const lat = now > io.startNs ? now - io.startNs : 0;
  store<u64>(stats + STATS_LAT_SUM_OFF, load<u64>(stats + STATS_LAT_SUM_OFF) + lat);
  if (lat < load<u64>(stats + STATS_LAT_MIN_OFF)) store<u64>(stats + STATS_LAT_MIN_OFF, lat);
  if (lat > load<u64>(stats + STATS_LAT_MAX_OFF)) store<u64>(stats + STATS_LAT_MAX_OFF, lat);
  histRecord(stats + STATS_HIST_OFF, lat);
  changetype<BdevIoCb>(io.cb)(ioPtr, status == IO_SUCCESS, io.cbArg);
}

/** Return an io to its channel's pool; a caller waiting for one (bdevQueueIoWait) is called back. */
export function bdevFreeIo(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const ch = changetype<BdevChannel>(io.channel);
  assert(io.status != IO_PENDING, "bdevFreeIo of an io that has not completed");
  if (io.lentBlock != 0) lendRelease(io);
  io.next = ch.freeList;
  ch.freeList = ioPtr;
  ch.freeCount++;
  if (ch.waitHead != 0) ioWaitWakeOne(ch);
}

/**
 * SPDK's queue_io_wait: after -ENOMEM, the caller provides `entry` (BdevIoWait, its memory) and is
 * called back with cb(arg) once a bdev_io is freed on this channel, to retry (io-wait.ts; also when
 * the bdev is removed or the channel released: the retry then fails). 0, or -EINVAL when the pool is
 * not empty (SPDK: only valid then; the -ENOMEM came from elsewhere and no free io would help).
 */
export function bdevQueueIoWait(ioChannel: usize, entry: usize, cb: MsgFn, arg: usize): i32 {
  const ch = bdevChannelOf(ioChannel);
  if (ch.freeList != 0) return -EINVAL;
  ioWaitAdd(ch, entry, cb, arg);
  return 0;
}

export function bdevIoStatus(io: usize): i32 { return changetype<BdevIo>(io).status; }

/** Bytes of the io's data buffers (for modules). */
export function bdevIoBytes(io: usize): u64 { return changetype<BdevIo>(io).numBlocks << changetype<Bdev>(changetype<BdevIo>(io).bdev).blockShift; }

