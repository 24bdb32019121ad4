// Split virtqueues over guest memory outside this Wasm memory: the rings are read and written through
// their windows (ringwindow.ts), each descriptor chain is walked with every field read once (the guest
// may change it meanwhile; an indirect table is copied in once and walked there) and every address
// translated and range-checked into (region, offset) pieces, which only the host ever dereferences.
// What a chain asks for is blk.ts's business; a chain that is malformed is returned to the guest
// unused (len 0) and reported, and a ring whose indexes make no sense is stopped.

import { heapFree, host_eventfd_write, host_fd_close, host_vu_guest_read, EINVAL, ENOMEM } from "../runtime";
import { cachedNowUs } from "../thread";
import { MemTable, regionAt, gpaFind } from "./mem";
import { windowsNew, windowsFree, windowAt, windowOpen, windowClose, RING_WINDOWS } from "./ringwindow";
import { DESC_BYTES, DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT, AVAIL_F_NO_INTERRUPT, USED_F_NO_NOTIFY, MAX_QUEUE_SIZE } from "./wire";

/** Pieces one chain may have: virtio-blk's header and status, and SEG_MAX data segments, with slack. */
export const MAX_PIECES: u32 = 32;
/**
 * Entries an indirect table may have: no more than a chain may have pieces (a longer table could
 * only hold a chain we refuse), so the copy of one fits the chain's scratch.
 */
export const MAX_INDIRECT: u32 = MAX_PIECES;

@unmanaged export class Vring {
  index: u32;
  num: u32;              // queue size (0: not set)
  desc: usize;           // in this memory (0: not translated)
  avail: usize;
  used: usize;
  descUva: u64;          // QEMU's user addresses, kept to translate again after a memory change
  availUva: u64;
  usedUva: u64;
  lastAvail: u32;        // u16 arithmetic
  lastUsed: u32;
  lastSignalled: u32;
  kickFd: i32;
  callFd: i32;
  errFd: i32;
  enabled: u32;          // SET_VRING_ENABLE (or a kick without PROTOCOL_FEATURES)
  started: u32;          // a kick fd came: the ring may be processed
  broken: u32;           // indexes made no sense: stopped until reset
  inflight: u32;         // chains taken, not yet returned
  signalPending: u32;
  eventIdx: u32;         // VIRTIO_F_EVENT_IDX negotiated: the guest says when it wants an interrupt
  owner: usize;          // the queue worker serving it (worker.ts), 0 when detached (controller thread)
  coalesce: usize;       // the controller's Coalescing settings (read with atomics), 0: none
  lastSignalUs: u64;     // when the guest was last interrupted
  callsDropped: u64;     // notifications its call fd did not take (full or broken)
  windowStartUs: u64;    // completions counted per second, for the IOPS threshold
  windowCount: u32;
  lastRate: u32;
  detachAsked: u32;      // a detach is on its way to the owner
  detachMsg: usize;      // worker.ts: the detach message, taken with the attach so a detach cannot fail
  ifRegion: usize;       // this ring's part of the inflight region (inflight.ts), 0 if none
  ifCounter: u64;        // order in which heads were taken
  resubmit: usize;       // heads to submit again after a reconnect (u32 each), oldest first
  resubmitCount: u32;
  resubmitPos: u32;
  reqs: usize;           // blk.ts's request pool for this ring (num entries)
  freeReqs: usize;
  // -- the worker's, while it serves the ring on a reactor that sleeps in the kernel --
  kickWatch: i32;        // the kick fd's watch (host_fd_watch), -1 when none
  kicksOn: u32;          // the guest was asked to kick (the ring idled): its kick ends the reactor's sleep
  lastWorkUs: u64;       // when a chain was last taken
  windows: usize;        // ringwindow.ts: RING_WINDOWS windows (desc, avail, used), 0 until first translated
}

/**
 * The pieces of one chain, in order: {u64 offset, u32 length, u32 writable, i32 region handle, u32 0}
 * each (PIECE_BYTES), then room for a copy of its indirect table (MAX_INDIRECT descriptors).
 */
@unmanaged export class Chain {
  head: u32;
  count: u32;
  bytesReadable: u32;
  bytesWritable: u32;
}
export const PIECE_BYTES: usize = 24;
const PIECES_OFF: usize = offsetof<Chain>();
const INDIRECT_OFF: usize = PIECES_OFF + <usize>MAX_PIECES * PIECE_BYTES;
export const CHAIN_BYTES: usize = INDIRECT_OFF + <usize>MAX_INDIRECT * DESC_BYTES;
function pieceAt(c: usize, i: u32): usize { return c + PIECES_OFF + <usize>i * PIECE_BYTES; }
/** Where piece i starts in its region, and the region's handle (the host's). */
export function pieceOffset(c: usize, i: u32): u64 { return load<u64>(pieceAt(c, i)); }
export function pieceLen(c: usize, i: u32): u32 { return load<u32>(pieceAt(c, i), 8); }
export function pieceWritable(c: usize, i: u32): bool { return load<u32>(pieceAt(c, i), 12) != 0; }
export function pieceHandle(c: usize, i: u32): i32 { return load<i32>(pieceAt(c, i), 16); }

export function vringInit(v: Vring, index: u32): void {
  memory.fill(changetype<usize>(v), 0, offsetof<Vring>());
  v.index = index;
  v.kickFd = -1;
  v.callFd = -1;
  v.errFd = -1;
  v.kickWatch = -1;
}

/** Close the ring's fds and forget its addresses (the guest must set them again). */
export function vringReset(v: Vring): void {
  if (v.kickFd >= 0) host_fd_close(v.kickFd);
  if (v.callFd >= 0) host_fd_close(v.callFd);
  if (v.errFd >= 0) host_fd_close(v.errFd);
  assert(v.owner == 0);
  if (v.resubmit != 0) heapFree(v.resubmit);
  assert(v.detachMsg == 0, "a ring reset with its detach message still held");
  if (v.windows != 0) windowsFree(v.windows);
  const index = v.index, reqs = v.reqs;
  vringInit(v, index);
  v.reqs = reqs;                               // the pool outlives a reset; blk.ts frees it with the session
}

export function setFd(v: Vring, which: u32, fd: i32): void {
  if (which == 0) { if (v.kickFd >= 0) host_fd_close(v.kickFd); v.kickFd = fd; }
  else if (which == 1) { if (v.callFd >= 0) host_fd_close(v.callFd); v.callFd = fd; }
  else { if (v.errFd >= 0) host_fd_close(v.errFd); v.errFd = fd; }
}

export function vringSetNum(v: Vring, num: u32): i32 {
  if (num == 0 || num > MAX_QUEUE_SIZE || (num & (num - 1)) != 0) return -EINVAL;
  if (v.inflight != 0) return -EINVAL;
  v.num = num;
  return 0;
}

/**
 * Translate the ring's three areas (after SET_VRING_ADDR, or again after the memory table changed)
 * and show each through its window. Each must lie in one region and be aligned as virtio requires.
 * 0, -EINVAL (outside guest memory, misaligned), -ENOMEM or the host's -errno (no window).
 */
export function vringTranslate(v: Vring, mem: MemTable): i32 {
  if (v.num == 0) return -EINVAL;
  if (v.windows == 0) v.windows = windowsNew();
  if (v.windows == 0) return -ENOMEM;
  const n = <u64>v.num;
  const aligned = (v.descUva & 15) == 0 && (v.availUva & 1) == 0 && (v.usedUva & 3) == 0;
  const desc = aligned ? windowOpen(windowAt(v.windows, 0), mem, v.descUva, n * DESC_BYTES) : 0;
  const avail = desc != 0 ? windowOpen(windowAt(v.windows, 1), mem, v.availUva, 6 + 2 * n) : 0;
  const used = avail != 0 ? windowOpen(windowAt(v.windows, 2), mem, v.usedUva, 6 + 8 * n) : 0;
  if (desc == 0 || avail == 0 || used == 0) {
    const err = aligned ? windowAt(v.windows, desc == 0 ? 0 : avail == 0 ? 1 : 2).error : -EINVAL;
    v.desc = 0; v.avail = 0; v.used = 0;
    for (let i: u32 = 0; i < RING_WINDOWS; i++) windowClose(windowAt(v.windows, i));
    return err;
  }
  v.desc = desc; v.avail = avail; v.used = used;
  return 0;
}

export function vringReady(v: Vring): bool {
  return v.started != 0 && v.enabled != 0 && v.broken == 0 && v.desc != 0;
}

/**
 * How many chains the guest has made available and we have not taken. More than the queue holds
 * means the avail index jumped: the ring is stopped (broken) and the count returned for the report.
 */
export function vringPending(v: Vring): u32 {
  const idx = <u32>atomic.load<u16>(v.avail + 2);
  const pending = (idx - v.lastAvail) & 0xffff;
  if (pending > v.num) v.broken = 1;
  return pending;
}

/** Take the next available head (after vringPending said there is one). */
export function vringTakeHead(v: Vring): u32 {
  const head = <u32>load<u16>(v.avail + 4 + (<usize>(v.lastAvail & (v.num - 1)) << 1));
  v.lastAvail = (v.lastAvail + 1) & 0xffff;
  v.inflight++;
  return head;
}

function addPiece(c: usize, mem: MemTable, addr: u64, len: u32, writable: bool): bool {
  const chain = changetype<Chain>(c);
  if (len == 0) return true;
  if (chain.count >= MAX_PIECES) return false;
  const slot = gpaFind(mem, addr, <u64>len);
  if (slot < 0) return false;
  const r = regionAt(mem, <u32>slot);
  const p = pieceAt(c, chain.count);
  store<u64>(p, addr - r.guestAddr);
  store<u32>(p, len, 8);
  store<u32>(p, writable ? 1 : 0, 12);
  store<i32>(p, r.handle, 16);
  store<u32>(p, 0, 20);
  chain.count++;
  if (writable) chain.bytesWritable += len; else chain.bytesReadable += len;
  return true;
}

/**
 * Walk the chain at `head` into `c` (CHAIN_BYTES). A descriptor table is followed at most `num`
 * steps (a longer walk is a loop); one indirect table is allowed, as the first descriptor, and
 * its entries may not be indirect again; it is copied into the chain's scratch first and walked
 * there (at most MAX_INDIRECT entries). Readable pieces must come before writable ones. Returns
 * 0, or a message for the report when the chain is malformed.
 */
export function vringWalk(v: Vring, mem: MemTable, head: u32, c: usize): string | null {
  const chain = changetype<Chain>(c);
  chain.head = head;
  chain.count = 0;
  chain.bytesReadable = 0;
  chain.bytesWritable = 0;
  if (head >= v.num) return "head index past the queue";
  let table = v.desc;
  let size = v.num;
  let i = head;
  let seenWritable = false;
  for (let steps: u32 = 0; ; steps++) {
    if (steps >= size) return "descriptor loop (a chain longer than its table)";
    const d = table + <usize>i * DESC_BYTES;
    const addr = load<u64>(d), len = load<u32>(d, 8), flags = load<u16>(d, 12), next = <u32>load<u16>(d, 14);
    if ((flags & DESC_F_INDIRECT) != 0) {
      if (table != v.desc || steps != 0 || (flags & DESC_F_NEXT) != 0) return "indirect descriptor not alone at the head of the chain";
      if (len == 0 || (len & (DESC_BYTES - 1)) != 0 || len / DESC_BYTES > MAX_QUEUE_SIZE) return "indirect table length is not a whole number of descriptors";
      if (len / DESC_BYTES > MAX_INDIRECT) return "too many descriptors in one chain";   // its table is longer than a chain may be
      const slot = gpaFind(mem, addr, <u64>len);
      if (slot < 0 || (addr & 15) != 0) return "indirect table outside guest memory";
      const r = regionAt(mem, <u32>slot);
      if (host_vu_guest_read(r.handle, <f64>(addr - r.guestAddr), c + INDIRECT_OFF, len) != 0) return "indirect table in a region that is gone";
      table = c + INDIRECT_OFF;
      size = len / DESC_BYTES;
      i = 0;
      steps = <u32>-1;                       // the walk starts again in the indirect table
      continue;
    }
    const writable = (flags & DESC_F_WRITE) != 0;
    if (!writable && seenWritable) return "a readable descriptor after a writable one";
    if (writable) seenWritable = true;
    if (!addPiece(c, mem, addr, len, writable)) return chain.count >= MAX_PIECES ? "too many descriptors in one chain" : "buffer outside guest memory";
    if ((flags & DESC_F_NEXT) == 0) return null;
    if (next >= size) return "next index past the table";
    i = next;
  }
  return null;                                 // not reached: the loop returns
}

/** Return chain `head` to the guest with `len` bytes written; the call is signalled later (vringSignal). */
export function vringPutUsed(v: Vring, head: u32, len: u32): void {
  const e = v.used + 4 + (<usize>(v.lastUsed & (v.num - 1)) << 3);
  store<u32>(e, head);
  store<u32>(e, len, 4);
  v.lastUsed = (v.lastUsed + 1) & 0xffff;
  atomic.store<u16>(v.used + 2, <u16>v.lastUsed);     // the element is visible before the index
  assert(v.inflight > 0);
  v.inflight--;
  v.signalPending = 1;
  v.windowCount++;
}

/** A controller's interrupt coalescing (vhost_controller_set_coalescing), shared by its rings. */
@unmanaged export class Coalescing { delayUs: u32; iopsThreshold: u32; }

/**
 * With coalescing on and the ring above its IOPS threshold, an interrupt waits until `delayUs` after
 * the previous one (the completions in between are signalled together); true when it must wait.
 */
function coalesced(v: Vring): bool {
  if (v.coalesce == 0) return false;
  const delay = <u64>atomic.load<u32>(v.coalesce + offsetof<Coalescing>("delayUs"));
  if (delay == 0) return false;
  const now = cachedNowUs();
  if (now - v.windowStartUs >= 1_000_000) { v.lastRate = v.windowCount; v.windowCount = 0; v.windowStartUs = now; }
  if (v.lastRate < atomic.load<u32>(v.coalesce + offsetof<Coalescing>("iopsThreshold"))) return false;
  return now - v.lastSignalUs < delay;
}

/**
 * Tell the guest (call eventfd) about used chains, unless it asked for no interrupt yet, or
 * coalescing holds it back (it stays pending: the ring's worker polls again). 0, or the -errno of a
 * notification dropped: the call fd is nonblocking (the addon makes every fd it receives so), and
 * one that is full (a pipe nobody reads) or broken never makes the reactor wait.
 */
export function vringSignal(v: Vring): i32 {
  if (v.signalPending == 0 || coalesced(v)) return 0;
  v.signalPending = 0;
  if (v.callFd < 0 || v.used == 0) return 0;
  if (v.eventIdx != 0) {
    // used_event (after the avail ring): interrupt only once the used index passes it (virtio's
    // vring_need_event, in 16-bit arithmetic).
    const event = <u32>atomic.load<u16>(v.avail + 4 + (<usize>v.num << 1));
    const fresh = v.lastUsed, old = v.lastSignalled;
    if (((fresh - event - 1) & 0xffff) >= ((fresh - old) & 0xffff)) return 0;
  } else if ((atomic.load<u16>(v.avail) & AVAIL_F_NO_INTERRUPT) != 0) {
    return 0;
  }
  v.lastSignalled = v.lastUsed;
  v.lastSignalUs = cachedNowUs();
  const rc = host_eventfd_write(v.callFd);
  if (rc < 0) v.callsDropped++;
  return rc < 0 ? rc : 0;
}

/**
 * We poll the avail ring: the guest need not kick. Without EVENT_IDX the used ring's flag says so;
 * with it, the flag is ignored and avail_event is left where it was: the guest kicks once when its
 * avail index passes it, and then not again until it wraps.
 */
export function vringSuppressKicks(v: Vring): void {
  if (v.used != 0 && v.eventIdx == 0) atomic.store<u16>(v.used, USED_F_NO_NOTIFY);
}

/**
 * The ring idles and its reactor may sleep: ask the guest to kick for its next chain (avail_event at
 * the index we will take next, or the flag cleared). The caller looks at the avail index again after
 * this (the stores and loads are sequentially consistent), so a chain the guest added before it read
 * our request is not missed.
 */
export function vringEnableKicks(v: Vring): void {
  if (v.used == 0) return;
  if (v.eventIdx != 0) atomic.store<u16>(v.used + 4 + (<usize>v.num << 3), <u16>v.lastAvail);
  else atomic.store<u16>(v.used, 0);
}

/** Free a ring's request pool (its session is going). */
export function vringFreePool(v: Vring): void {
  if (v.reqs != 0) heapFree(v.reqs);
  v.reqs = 0;
  v.freeReqs = 0;
}
