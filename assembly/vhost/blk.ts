// virtio-blk requests on a vring: each available chain is walked (vring.ts), its header read, its
// data pieces checked against the request type and the bdev's geometry, and submitted to the bdev
// with an external vector (bdev/extiov.ts) naming the guest's own buffers: the data never passes
// through this memory. Header, status byte, GET_ID's answer and a discard segment are copied by the
// host (host_vu_guest_read/write, checked against the region). The status byte and the used element
// are written when the bdev completes. A request the device cannot do gets UNSUPP, a bad one IOERR.

import { heapAllocZeroed, heapFree, report, host_vu_guest_read, host_vu_guest_write, LEVEL_ERROR, LEVEL_WARN, ENOMEM, EINVAL } from "../runtime";
import {
  Bdev, IO_READ, IO_WRITE, IO_UNMAP, IO_WRITE_ZEROES, IO_FLUSH, IO_MAX_IOVS, bdevSubmitBlocks, bdevSubmitExternal, bdevFlush, bdevFreeIo, bdevQueueIoWait,
  EXT_IOV_BYTES, extIovSet, extIovHandle, extIovLen, extIovOffset,
} from "../bdev";
import { MemTable, memBrokenRegion } from "./mem";
import {
  Vring, vringWalk, vringTakeHead, vringPending, vringPutUsed, vringReady, vringSignal, CHAIN_BYTES, pieceOffset, pieceLen, pieceWritable, pieceHandle,
} from "./vring";
import { inflightTake, inflightBeforeUsed, inflightAfterUsed, inflightNextResubmit } from "./inflight";
import { LogLimit, logLimitTake } from "./loglimit";
import { cachedNowUs } from "../thread";
import {
  BLK_T_IN, BLK_T_OUT, BLK_T_FLUSH, BLK_T_GET_ID, BLK_T_DISCARD, BLK_T_WRITE_ZEROES, BLK_S_OK, BLK_S_IOERR, BLK_S_UNSUPP,
  BLK_OUTHDR_BYTES, BLK_ID_BYTES, BLK_DISCARD_SEG_BYTES, SECTOR_SHIFT,
} from "./wire";

/** What a session's requests go to: its bdev, through its thread's channel. */
@unmanaged export class BlkTarget {
  bdev: usize;
  desc: u32;            // 0 while the bdev is closed (removed): every request fails
  readOnly: u32;
  channel: usize;
  mem: usize;           // MemTable
  id: usize;            // BLK_ID_BYTES of serial for GET_ID
  chain: usize;         // CHAIN_BYTES scratch for walking
  failed: u64;          // requests answered IOERR/UNSUPP (for tests and reports)
  done: u64;
  onBdev: u32;          // requests handed to the bdev layer (submitted or waiting for a bdev_io), not finished
  name: usize;          // the controller's name, for reports (the host keeps the string)
  refusedLog: usize;    // LogLimit for refused chains, the controller's (shared by its queue workers)
  droppedLog: usize;    // LogLimit for dropped notifications, the controller's too
  callsDropped: u64;    // notifications the guest's call fds did not take (vhost_get_controllers)
}

/** One chain being served. Cleared when a chain takes it: nothing of a slot's last request survives. */
@unmanaged class BlkReq {
  vring: usize;
  target: usize;
  head: u32;
  statusOffset: u64;    // where this chain's status byte is (region offset), when hasStatus
  statusHandle: i32;    // ... and its region (the host's handle)
  hasStatus: u32;       // the chain ends in a writable byte, translated for this chain: answer there
  statusByte: u32;      // the byte the host copies there
  hdr0: u64;            // the header (BLK_OUTHDR_BYTES), or a discard segment, copied in once
  hdr1: u64;
  usedLen: u32;         // bytes the device wrote into the chain, for the used element
  type: u32;
  offset: u64;          // bytes
  length: u64;
  iovcnt: u32;
  onBdev: u32;          // counted in BlkTarget.onBdev
  next: usize;          // free list
  wait0: u64;           // the bdev_io wait entry (16 bytes) when the channel's pool is empty
  wait1: u64;
}
// Each request carries IO_MAX_IOVS external iovecs (extiov.ts) after its fields.
const IOVS_OFF: usize = (offsetof<BlkReq>() + 7) & ~7;
const REQ_BYTES: usize = IOVS_OFF + <usize>IO_MAX_IOVS * EXT_IOV_BYTES;

function reqAt(v: Vring, i: u32): BlkReq { return changetype<BlkReq>(v.reqs + <usize>i * REQ_BYTES); }

/** A pool of `num` requests for the ring (once its size is known). 0 or -ENOMEM. */
export function blkPoolCreate(v: Vring): i32 {
  if (v.reqs != 0) return 0;
  v.reqs = heapAllocZeroed(<usize>v.num * REQ_BYTES);
  if (v.reqs == 0) return -ENOMEM;
  v.freeReqs = 0;
  for (let i: u32 = 0; i < v.num; i++) {
    const r = reqAt(v, i);
    r.next = v.freeReqs;
    v.freeReqs = changetype<usize>(r);
  }
  return 0;
}

export function blkTargetNew(): BlkTarget {
  const t = changetype<BlkTarget>(heapAllocZeroed(offsetof<BlkTarget>()));
  if (changetype<usize>(t) == 0) return t;
  t.chain = heapAllocZeroed(CHAIN_BYTES);
  t.id = heapAllocZeroed(BLK_ID_BYTES);
  if (t.chain == 0 || t.id == 0) { blkTargetFree(t); return changetype<BlkTarget>(0); }
  return t;
}

export function blkTargetFree(t: BlkTarget): void {
  if (t.chain != 0) heapFree(t.chain);
  if (t.id != 0) heapFree(t.id);
  heapFree(changetype<usize>(t));
}

/**
 * Answer the chain: `status` in its status byte and the used element, then the slot is free. A chain
 * refused before its status byte was found goes back with used length 0 and nothing written.
 */
function finish(r: BlkReq, status: u8): void {
  const v = changetype<Vring>(r.vring);
  const t = changetype<BlkTarget>(r.target);
  assert(r.hasStatus != 0 || (status != BLK_S_OK && r.onBdev == 0), "a chain without a status byte was served");
  let answered = r.hasStatus != 0;
  if (answered) {
    r.statusByte = status;
    // The region may have gone since the walk (REM_MEM_REG, a new table): then nothing is written.
    answered = host_vu_guest_write(r.statusHandle, <f64>r.statusOffset, changetype<usize>(r) + offsetof<BlkReq>("statusByte"), 1) == 0;
  }
  if (status != BLK_S_OK) t.failed++;
  t.done++;
  if (r.onBdev != 0) { r.onBdev = 0; assert(t.onBdev > 0); t.onBdev--; }
  returnChain(v, r.head, !answered ? 0 : status == BLK_S_OK ? r.usedLen : 1);
  r.next = v.freeReqs;
  v.freeReqs = changetype<usize>(r);
}

/** Give a head back to the guest, keeping the inflight region (if any) in step. */
function returnChain(v: Vring, head: u32, len: u32): void {
  inflightBeforeUsed(v, head);
  vringPutUsed(v, head, len);
  inflightAfterUsed(v, head);
}

function ioDone(io: usize, success: bool, reqPtr: usize): void {
  bdevFreeIo(io);
  finish(changetype<BlkReq>(reqPtr), success ? BLK_S_OK : BLK_S_IOERR);
}

function submit(reqPtr: usize): void {
  const r = changetype<BlkReq>(reqPtr);
  const t = changetype<BlkTarget>(r.target);
  const b = changetype<Bdev>(t.bdev);
  if (t.desc == 0 || t.channel == 0) { finish(r, BLK_S_IOERR); return; }   // the bdev went, or its worker has no channel
  if (r.onBdev == 0) { r.onBdev = 1; t.onBdev++; }      // a retry from the wait queue is already counted
  let rc: i32;
  switch (r.type) {
    case BLK_T_IN:
    case BLK_T_OUT:
      rc = bdevSubmitExternal(t.desc, t.channel, r.type == BLK_T_IN ? IO_READ : IO_WRITE, reqPtr + IOVS_OFF, r.iovcnt,
        r.offset >> b.blockShift, r.length >> b.blockShift, ioDone, reqPtr);
      break;
    case BLK_T_FLUSH: rc = bdevFlush(t.desc, t.channel, ioDone, reqPtr); break;
    default:
      rc = bdevSubmitBlocks(t.desc, t.channel, r.type == BLK_T_DISCARD ? IO_UNMAP : IO_WRITE_ZEROES, 0, 0,
        r.offset >> b.blockShift, r.length >> b.blockShift, ioDone, reqPtr);
  }
  if (rc == -ENOMEM && bdevQueueIoWait(t.channel, reqPtr + offsetof<BlkReq>("wait0"), submit, reqPtr) == 0) return;
  if (rc != 0) finish(r, rc == -95 ? BLK_S_UNSUPP : BLK_S_IOERR);
}

/**
 * Set up `r` from the walked chain: the status as the last writable byte (found first, so a refusal
 * can be answered there), the header from the first readable bytes, the data in between. Returns the
 * status to answer at once (IOERR/UNSUPP, or OK for GET_ID, already served), or 0xff to submit.
 */
function prepare(t: BlkTarget, r: BlkReq, c: usize): u8 {
  const n = load<u32>(c + 4);                        // Chain.count
  if (n == 0) return BLK_S_IOERR;
  const last = n - 1;
  if (pieceWritable(c, last)) {                      // pieces are never empty (vring.ts drops them)
    r.statusOffset = pieceOffset(c, last) + <u64>pieceLen(c, last) - 1;
    r.statusHandle = pieceHandle(c, last);
    r.hasStatus = 1;
  }
  if (n < 2 || r.hasStatus == 0 || pieceLen(c, 0) < BLK_OUTHDR_BYTES || pieceWritable(c, 0)) return BLK_S_IOERR;
  const hdr = changetype<usize>(r) + offsetof<BlkReq>("hdr0");
  if (host_vu_guest_read(pieceHandle(c, 0), <f64>pieceOffset(c, 0), hdr, BLK_OUTHDR_BYTES) != 0) return BLK_S_IOERR;
  r.type = load<u32>(hdr);
  const sector = load<u64>(hdr, 8);
  // Data: the rest of the first piece, the middle pieces, and the last piece less its status byte.
  const iovs = changetype<usize>(r) + IOVS_OFF;
  let count: u32 = 0, bytes: u64 = 0, dataWritable = false, mixed = false;
  for (let i: u32 = 0; i < n; i++) {
    let offset = pieceOffset(c, i), len = pieceLen(c, i);
    if (i == 0) { offset += BLK_OUTHDR_BYTES; len -= BLK_OUTHDR_BYTES; }
    if (i == last) len -= 1;
    if (len == 0) continue;
    if (count == IO_MAX_IOVS) return BLK_S_IOERR;   // beyond SEG_MAX
    const w = pieceWritable(c, i);
    if (count == 0) dataWritable = w; else if (w != dataWritable) mixed = true;
    extIovSet(iovs, count, pieceHandle(c, i), offset, len);
    count++;
    bytes += len;
  }
  r.iovcnt = count;
  const b = changetype<Bdev>(t.bdev);
  const blockMask = (<u64>1 << b.blockShift) - 1;
  switch (r.type) {
    case BLK_T_IN:
    case BLK_T_OUT: {
      if (count == 0 || mixed || dataWritable != (r.type == BLK_T_IN)) return BLK_S_IOERR;
      if (r.type == BLK_T_OUT && t.readOnly != 0) return BLK_S_IOERR;
      r.offset = sector << SECTOR_SHIFT;
      r.length = bytes;
      if (sector > (<u64>-1 >> SECTOR_SHIFT) || (r.offset & blockMask) != 0 || (bytes & blockMask) != 0) return BLK_S_IOERR;
      r.usedLen = r.type == BLK_T_IN ? <u32>bytes + 1 : 1;
      return 0xff;
    }
    case BLK_T_FLUSH:
      r.usedLen = 1;
      return 0xff;
    case BLK_T_GET_ID: {
      if (count == 0 || !dataWritable) return BLK_S_IOERR;
      let left = <u32>min<u64>(bytes, <u64>BLK_ID_BYTES), from = t.id;
      for (let i: u32 = 0; i < count && left > 0; i++) {
        const len = min(left, extIovLen(iovs, i));
        if (host_vu_guest_write(extIovHandle(iovs, i), <f64>extIovOffset(iovs, i), from, len) != 0) return BLK_S_IOERR;
        from += len; left -= len;
      }
      r.usedLen = <u32>min<u64>(bytes, <u64>BLK_ID_BYTES) + 1;
      return BLK_S_OK;
    }
    case BLK_T_DISCARD:
    case BLK_T_WRITE_ZEROES: {
      const type = r.type == BLK_T_DISCARD ? IO_UNMAP : IO_WRITE_ZEROES;
      if ((b.ioTypes & (1 << type)) == 0) return BLK_S_UNSUPP;
      // One segment (the limits we advertise): {u64 sector, u32 sectors, u32 flags}, readable.
      if (count != 1 || dataWritable || bytes != BLK_DISCARD_SEG_BYTES || t.readOnly != 0) return BLK_S_IOERR;
      if (host_vu_guest_read(extIovHandle(iovs, 0), <f64>extIovOffset(iovs, 0), hdr, BLK_DISCARD_SEG_BYTES) != 0) return BLK_S_IOERR;
      const segSector = load<u64>(hdr), sectors = <u64>load<u32>(hdr, 8);
      r.offset = segSector << SECTOR_SHIFT;
      r.length = sectors << SECTOR_SHIFT;
      if (sectors == 0 || segSector > (<u64>-1 >> SECTOR_SHIFT) || (r.offset & blockMask) != 0 || (r.length & blockMask) != 0) return BLK_S_IOERR;
      r.usedLen = 1;
      return 0xff;
    }
    default:
      return BLK_S_UNSUPP;
  }
}

/** A refused chain is reported within the controller's limit: a noisy guest neither floods the log nor hides another's. */
function reportRefused(t: BlkTarget, v: Vring, why: string): void {
  const before = logLimitTake(changetype<LogLimit>(t.refusedLog), cachedNowUs());
  if (before == 0) report(LEVEL_ERROR, -EINVAL, "vhost %s: vring %d: chain refused: %s", t.name, changetype<usize>(why), <f64>v.index);
  else if (before > 0) {
    report(LEVEL_ERROR, -EINVAL, "vhost %s: vring %d: chain refused: %s (and %d more not reported since the last report)",
      t.name, changetype<usize>(why), <f64>v.index, <f64>before);
  }
}

/**
 * Signal the ring's used chains (vringSignal); a notification its call fd did not take is counted
 * and warned about within the controller's limit. The guest that passed such an fd misses it.
 */
export function blkSignal(t: BlkTarget, v: Vring): void {
  const rc = vringSignal(v);
  if (rc == 0) return;
  t.callsDropped++;
  if (logLimitTake(changetype<LogLimit>(t.droppedLog), cachedNowUs()) >= 0) {
    report(LEVEL_WARN, rc, "vhost %s: vring %d: a notification was dropped: its call fd is full or broken (%d dropped on this ring so far)",
      t.name, 0, <f64>v.index, <f64>v.callsDropped);
  }
}

/** Start the request whose chain begins at `head` (taken from the ring, or in flight before a reconnect). */
function startHead(t: BlkTarget, v: Vring, head: u32): void {
  const r = changetype<BlkReq>(v.freeReqs);
  v.freeReqs = r.next;
  // Addresses a slot held for its last chain may lie in memory the guest has since given back.
  memory.fill(changetype<usize>(r), 0, offsetof<BlkReq>());
  r.vring = changetype<usize>(v);
  r.target = changetype<usize>(t);
  r.head = head;
  const why = vringWalk(v, changetype<MemTable>(t.mem), head, t.chain);
  if (why != null) {
    reportRefused(t, v, why);
    finish(r, BLK_S_IOERR);                          // no status byte can be trusted: nothing written
    return;
  }
  const status = prepare(t, r, t.chain);
  if (status == 0xff) submit(changetype<usize>(r));
  else finish(r, status);
}

/** Take and start every chain the ring's pool has room for. Returns how many. */
export function blkProcess(t: BlkTarget, v: Vring): u32 {
  // A region whose file shrank reads as zeroes now: nothing to take until the session ends.
  if (!vringReady(v) || memBrokenRegion(changetype<MemTable>(t.mem)) >= 0) return 0;
  let n: u32 = 0;
  // Heads in flight before a reconnect go first, then what the guest made available since.
  while (v.freeReqs != 0) {
    const again = inflightNextResubmit(v);
    if (again < 0) break;
    v.inflight++;
    startHead(t, v, <u32>again);
    n++;
  }
  if (v.resubmitPos < v.resubmitCount) return n;     // the pool is full: the rest next time
  let pending = vringPending(v);
  if (pending > v.num) {                             // vringPending stopped the ring
    report(LEVEL_ERROR, -EINVAL, "vhost %s: vring %d: the avail index jumped %d past the last one taken; ring stopped", t.name, 0, <f64>v.index, <f64>pending);
    return n;
  }
  while (pending > 0 && v.freeReqs != 0) {
    pending--;
    const head = vringTakeHead(v);
    inflightTake(v, head);
    startHead(t, v, head);
    n++;
  }
  return n;
}
