// A bdev channel's scratch buffers (SPDK's iobuf channel cache): a few buffers of one size in which
// the channel's user stages data between two I/Os (the blobstore's copy on write: an ancestor's
// cluster on its way to a new one). They are allocated on first need, aligned as the bdev requires,
// and kept until the channel goes. A caller that finds none free waits in line (FIFO) and is handed
// the next one given back, or one the retry poller could allocate once the heap has room again.
// Hot remove and channel release hand the callers still waiting 0 instead of a buffer.
// Bounds: SCRATCH_BUFFERS_MAX buffers per channel; waiters need no memory of their own (the caller's
// entry, one per caller request, is linked), so the line never holds more than the requests that exist.

import { heapAllocZeroed, heapAlloc, heapFree, report, LEVEL_ERROR, EBUSY } from "../runtime";
import { threadGet, ioChannelCtx, pollerRegister, pollerUnregister, pollerSetPeriod, pollerReschedule, POLLER_BUSY, POLLER_IDLE } from "../thread";
import { Bdev, BdevChannel, BdevIoWait } from "./types";
import { slackBytes } from "./bounce";
import { WaitLine, waitLineAdd, waitLineTake, waitLineDetach } from "./io-wait";

/**
 * Buffers per channel, at most: each copy on write holds one from its read to its write, so this many
 * copies run at once per thread (4 × a 1 MiB cluster: 4 MiB per thread, kept while the channel lives).
 */
export const SCRATCH_BUFFERS_MAX: u32 = 4;

/** cb(arg, buf): a buffer for a caller that waited, or 0 when the channel or its bdev is going away. */
export type ScratchCb = (arg: usize, buf: usize) => void;

/** How often, while callers wait and fewer than the maximum exist, the heap is tried again. */
const SCRATCH_RETRY_PERIOD_US: u64 = 200;
/** While none wait: registered (registering once memory is out could fail), never due in practice. */
const SCRATCH_IDLE_PERIOD_US: u64 = 3_600_000_000;

@unmanaged class ScratchPool {
  bytes: usize;          // size of every buffer (set by the first request)
  count: u32;            // buffers allocated (<= SCRATCH_BUFFERS_MAX)
  freeMask: u32;         // bit i: slot i holds a buffer that nobody has
  waitHead: usize;       // callers waiting (BdevIoWait.next), oldest first: a WaitLine, field for field
  waitTail: usize;
  waitCount: u32;
  poller: usize;
  // then SCRATCH_BUFFERS_MAX slots of {u32 block (the heap block), u32 base (the aligned buffer in it)}
}

const SLOTS_OFF: usize = offsetof<ScratchPool>();
function slotBlock(p: ScratchPool, i: u32): usize { return <usize>load<u32>(changetype<usize>(p) + SLOTS_OFF + (<usize>i << 3)); }
function slotBase(p: ScratchPool, i: u32): usize { return <usize>load<u32>(changetype<usize>(p) + SLOTS_OFF + (<usize>i << 3), 4); }
function setSlot(p: ScratchPool, i: u32, block: usize, base: usize): void {
  store<u32>(changetype<usize>(p) + SLOTS_OFF + (<usize>i << 3), <u32>block);
  store<u32>(changetype<usize>(p) + SLOTS_OFF + (<usize>i << 3), <u32>base, 4);
}

function poolOf(ch: BdevChannel): ScratchPool { return changetype<ScratchPool>(ch.scratch); }
function lineOf(p: ScratchPool): WaitLine { return changetype<WaitLine>(changetype<usize>(p) + offsetof<ScratchPool>("waitHead")); }

/** Channel creation: the (empty) pool and its retry poller. False: no memory for them. */
export function scratchInit(ch: BdevChannel): bool {
  const p = changetype<ScratchPool>(heapAllocZeroed(SLOTS_OFF + (<usize>SCRATCH_BUFFERS_MAX << 3)));
  if (changetype<usize>(p) == 0) return false;
  p.poller = pollerRegister(retryPoller, changetype<usize>(ch), SCRATCH_IDLE_PERIOD_US, "bdev_scratch_wait");
  if (p.poller == 0) { heapFree(changetype<usize>(p)); return false; }
  ch.scratch = changetype<usize>(p);
  return true;
}

/** Channel release: callers still waiting get 0; the buffers go back to the heap. */
export function scratchFini(ch: BdevChannel): void {
  const p = poolOf(ch);
  if (changetype<usize>(p) == 0) return;
  if (p.waitCount != 0) {
    report(LEVEL_ERROR, -EBUSY, "bdev %s: channel released with %d requests waiting for a scratch buffer; they fail",
      changetype<Bdev>(ch.bdev).name, 0, <f64>p.waitCount);
    scratchWaitAbort(ch);
  }
  const out = p.count - <u32>popcnt(p.freeMask);
  if (out != 0) {
    // Still in someone's hands (a request outlived its channel): leave them rather than free memory in use.
    report(LEVEL_ERROR, -EBUSY, "bdev %s: channel released with %d scratch buffers not given back (a leak)",
      changetype<Bdev>(ch.bdev).name, 0, <f64>out);
  }
  for (let i: u32 = 0; i < p.count; i++) if ((p.freeMask & (1 << i)) != 0) heapFree(slotBlock(p, i));
  pollerUnregister(p.poller);
  heapFree(changetype<usize>(p));
  ch.scratch = 0;
}

/** A new buffer in slot p.count, aligned as the bdev requires; false when the heap has no room now. */
function grow(ch: BdevChannel, p: ScratchPool): bool {
  assert(p.count < SCRATCH_BUFFERS_MAX, "scratch pool: grown beyond SCRATCH_BUFFERS_MAX");
  const align = <usize>changetype<Bdev>(ch.bdev).requiredAlign;
  const block = heapAlloc(p.bytes + slackBytes(align));
  if (block == 0) return false;
  setSlot(p, p.count, block, (block + align - 1) & ~(align - 1));
  p.freeMask |= 1 << p.count;
  p.count++;
  return true;
}

/**
 * A new user of the channel (another store on the bdev, after the first let go of it) asks for another
 * size: the kept buffers go. None may be out then: they belong to the copies of the user before.
 */
function resize(p: ScratchPool, bytes: usize): void {
  assert(p.freeMask == (<u32>1 << p.count) - 1 && p.waitCount == 0, "bdevScratchGet: buffers of another size still in use");
  for (let i: u32 = 0; i < p.count; i++) heapFree(slotBlock(p, i));
  p.count = 0;
  p.freeMask = 0;
  p.bytes = bytes;
}

/** Take a free buffer, or 0. */
function take(p: ScratchPool): usize {
  if (p.freeMask == 0) return 0;
  const i = <u32>ctz(p.freeMask);
  p.freeMask &= ~(1 << i);
  return slotBase(p, i);
}

/**
 * A scratch buffer of `bytes` on this io_channel of a bdev (its own thread only), or 0: then `entry` (a BdevIoWait
 * in the caller's memory, not queued elsewhere meanwhile) waits in line and cb(arg, buf) runs on this
 * thread with the buffer once one is free, or with 0 if the channel or its bdev goes first. The
 * callers of one channel ask for one size (its one user, the blobstore that claimed the bdev); a new
 * size, once the buffers of the old one are all back, replaces them.
 */
export function bdevScratchGet(ioChannel: usize, bytes: usize, entry: usize, cb: ScratchCb, arg: usize): usize {
  const ch = changetype<BdevChannel>(ioChannelCtx(ioChannel));
  assert(threadGet() == ch.thread, "bdevScratchGet: not on the channel's own thread");
  const p = poolOf(ch);
  if (p.bytes != bytes) resize(p, bytes);
  if (p.waitHead == 0) {                   // behind callers already waiting, never ahead of them
    const buf = take(p);
    if (buf != 0) return buf;
    if (p.count < SCRATCH_BUFFERS_MAX && grow(ch, p)) return take(p);
  }
  const first = !waitLineAdd(lineOf(p), entry, ch.bdev, changetype<usize>(cb), arg);
  if (first && p.count < SCRATCH_BUFFERS_MAX) pollerReschedule(p.poller, SCRATCH_RETRY_PERIOD_US);
  return 0;
}

/** Give back a buffer bdevScratchGet returned; the oldest caller waiting gets it at once. */
export function bdevScratchPut(ioChannel: usize, buf: usize): void {
  const ch = changetype<BdevChannel>(ioChannelCtx(ioChannel));
  assert(threadGet() == ch.thread, "bdevScratchPut: not on the channel's own thread");
  const p = poolOf(ch);
  let i: u32 = 0;
  while (i < p.count && slotBase(p, i) != buf) i++;
  assert(i < p.count && (p.freeMask & (1 << i)) == 0, "bdevScratchPut: not a buffer of this channel's that is out");
  if (p.waitHead != 0) { handToFirst(p, buf); return; }
  p.freeMask |= 1 << i;
}

function handToFirst(p: ScratchPool, buf: usize): void {
  const w = waitLineTake(lineOf(p));
  if (p.waitCount == 0) pollerSetPeriod(p.poller, SCRATCH_IDLE_PERIOD_US);
  changetype<ScratchCb>(w.cb)(w.arg, buf);
}

/** While callers wait and the pool may still grow: allocate what the heap allows now, oldest caller first. */
function retryPoller(ctx: usize): i32 {
  const ch = changetype<BdevChannel>(ctx);
  const p = poolOf(ch);
  let handed: u32 = 0;
  while (p.waitHead != 0 && p.count < SCRATCH_BUFFERS_MAX && grow(ch, p)) { handToFirst(p, take(p)); handed++; }
  if (p.waitHead != 0 && p.count == SCRATCH_BUFFERS_MAX) pollerSetPeriod(p.poller, SCRATCH_IDLE_PERIOD_US);   // puts hand them on
  return handed != 0 ? POLLER_BUSY : POLLER_IDLE;
}

/**
 * Hot remove, release: every caller waiting now gets 0. The line is detached first: a caller that
 * asks again from its callback waits anew instead of being refused in a loop.
 */
export function scratchWaitAbort(ch: BdevChannel): void {
  const p = poolOf(ch);
  let e = waitLineDetach(lineOf(p));
  if (e != 0) pollerSetPeriod(p.poller, SCRATCH_IDLE_PERIOD_US);
  while (e != 0) {
    const w = changetype<BdevIoWait>(e);
    e = w.next;
    w.next = 0;
    changetype<ScratchCb>(w.cb)(w.arg, 0);
  }
}
