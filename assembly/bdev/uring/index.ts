// The file bdev (SPDK's bdev_uring / bdev_aio): a regular file or block device through io_uring. Each
// thread has one staging area of descriptors shared by all file bdevs; its poller submits what was
// staged with one host call, then reaps completions (no syscall per I/O, no promise per I/O). Data
// moves straight between the device and Wasm memory: descriptors carry Wasm offsets that the host
// turns into addresses and checks against the memory.

import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import { heapAllocZeroed, heapFree, host_uring_submit, host_uring_reap, report, LEVEL_ERROR, ENOSYS, EIO } from "../../runtime";
import { pollerRegister, pollerUnregister, POLLER_BUSY, POLLER_IDLE, ioChannelCtx, ioDeviceRegister, reactorSleepsInKernel } from "../../thread";
import { BdevModule, BdevIo, Bdev, BdevChannel, IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES, IO_RESET, IO_SUCCESS, IO_FAILED } from "../types";
import { bdevIoComplete, bdevIoCompleteList } from "../io";
import { bdevAlloc, bdevRegister } from "../bdev";
import * as wire from "./wire";
import { ringReap, ringHandlerSet, ringUserData, RING_TAG_BDEV } from "../../uring";
import { memCopyIo } from "../memcopy";
import { wantsLentBuffer, lendBlocks } from "../lend";

/** Descriptors staged per thread before a submit (and completions reaped per poll). */
const STAGE_SLOTS: u32 = 256;

@unmanaged class UringFile {
  fd: i32;
  direct: u32;
  map: usize;          // where the host mapped the file into this memory (0: not mapped)
}

/** Per-thread group: staged descriptors, the ios behind them, completions, the poller. */
@unmanaged class UringGroup {
  descs: usize;        // STAGE_SLOTS descriptors
  cqes: usize;         // STAGE_SLOTS completions
  staged: u32;
  inFlight: u32;       // accepted by the host, not yet reaped
  poller: usize;
  backlog: usize;      // ios that found the staging area full (BdevIo.next), staged next poll
  backlogTail: usize;
  reaped: usize;       // ios whose completion another thread's poller reaped (BdevIo.next): completed here
  reapedTail: usize;
}

const URING_KEY = memory.data(MODULE_KEY_BYTES);
function uringModule(): BdevModule { return moduleTable(URING_KEY, "uring", uringSubmit, uringChannelKey, uringDestruct, uringAbortBacklog); }

function uringChannelKey(_bdev: usize): usize { return URING_KEY; }
function uringDestruct(bdev: usize): void { heapFree(changetype<Bdev>(bdev).ctx); }

function groupOf(io: usize): UringGroup {
  return changetype<UringGroup>(ioChannelCtx(changetype<BdevChannel>(changetype<BdevIo>(io).channel).moduleChannel));
}

/** Stage one io as a descriptor. False if the staging area is full. */
function stage(g: UringGroup, ioPtr: usize): bool {
  if (g.staged == STAGE_SLOTS) return false;
  const io = changetype<BdevIo>(ioPtr);
  const b = changetype<Bdev>(io.bdev);
  const f = changetype<UringFile>(b.ctx);
  const d = g.descs + <usize>g.staged * wire.DESC_BYTES;
  memory.fill(d, 0, wire.DESC_BYTES);
  let op: u8 = 0, flags: u8 = 0;
  const offset = io.offsetBlocks << b.blockShift;
  const bytes = <u32>(io.numBlocks << b.blockShift);
  switch (io.type) {
    case IO_READ:
    case IO_WRITE: {
      if (io.external != 0) {
        // A guest's buffers, in place: the host translates and pins each entry (extiov.ts is the wire's format).
        op = io.type == IO_READ ? wire.OP_READV : wire.OP_WRITEV;
        flags = wire.FLAG_EXTERNAL;
        store<u16>(d + wire.DESC_IOVCNT_OFF, <u16>io.iovcnt);
        store<u32>(d + wire.DESC_BUF_OFF, <u32>io.iovs);
      } else if (io.iovcnt == 1) {
        op = io.type == IO_READ ? wire.OP_READ : wire.OP_WRITE;
        store<u32>(d + wire.DESC_BUF_OFF, load<u32>(io.iovs));
        store<u32>(d + wire.DESC_LEN_OFF, load<u32>(io.iovs, 4));
      } else {
        op = io.type == IO_READ ? wire.OP_READV : wire.OP_WRITEV;
        store<u16>(d + wire.DESC_IOVCNT_OFF, <u16>io.iovcnt);
        store<u32>(d + wire.DESC_BUF_OFF, <u32>io.iovs);      // our {base, len} pairs are the wire's
      }
      break;
    }
    case IO_FLUSH: op = wire.OP_FDATASYNC; break;
    // A mapped file keeps its blocks (zeroed, not punched): a store into a hole through the mapping
    // would allocate at fault time, and a full disk there is a SIGBUS.
    case IO_UNMAP: op = f.map != 0 ? wire.OP_ZERO_RANGE : wire.OP_PUNCH_HOLE; store<u32>(d + wire.DESC_LEN_OFF, bytes); break;
    case IO_WRITE_ZEROES: op = wire.OP_ZERO_RANGE; store<u32>(d + wire.DESC_LEN_OFF, bytes); break;
    default: break;
  }
  store<u8>(d + wire.DESC_OP_OFF, op);
  // O_DIRECT goes to the device: let it start on each request as it is staged instead of after the
  // whole batch (the kernel plugs a batch). Page-cache I/O keeps one syscall per batch.
  if (f.direct != 0) flags |= wire.FLAG_SUBMIT_NOW;
  store<u8>(d + wire.DESC_FLAGS_OFF, flags);
  store<i32>(d + wire.DESC_FD_OFF, f.fd);
  store<u64>(d + wire.DESC_OFFSET_OFF, io.type == IO_FLUSH ? 0 : offset);
  store<u32>(d + wire.DESC_USER_OFF, ringUserData(ioPtr, RING_TAG_BDEV));
  io.aux = bytes;               // what a read or write must transfer
  g.staged++;
  return true;
}

function uringSubmit(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  if (io.type == IO_RESET) { bdevIoComplete(ioPtr, IO_SUCCESS); return; }   // the layer drained it already
  const g = groupOf(ioPtr);
  const map = changetype<UringFile>(changetype<Bdev>(io.bdev).ctx).map;
  if (map != 0 && (io.type == IO_READ || io.type == IO_WRITE)) {
    // Through the mapping: the page cache's bytes are this memory's (a read without a buffer is lent
    // them). Complete from the poller (never inside submit), on the list other threads' reaps use; the
    // "result" is the whole transfer.
    let moved: i32 = 0;
    if (wantsLentBuffer(io)) lendBlocks(io, map);
    else moved = memCopyIo(io, map);
    io.aux = <u32>(io.numBlocks << changetype<Bdev>(io.bdev).blockShift);
    queueReaped(g, ioPtr, moved < 0 ? moved : <i32>io.aux);
    return;
  }
  if (g.backlog == 0 && stage(g, ioPtr)) {
    // O_DIRECT goes to the device now, not at the poller's next turn: at queue depth 32 the loop's
    // detour (the rest of this poll, the other threads and pollers) was a few % of every I/O's
    // latency against fio. A refusal stays staged for the poller, which fails it there.
    if (changetype<UringFile>(changetype<Bdev>(io.bdev).ctx).direct != 0) submitStaged(g);
    return;
  }
  io.next = 0;
  if (g.backlogTail == 0) g.backlog = ioPtr; else changetype<BdevIo>(g.backlogTail).next = ioPtr;
  g.backlogTail = ioPtr;
}

/** Hand the staged descriptors to the ring: how many it took (they are in flight), or -errno (none). */
function submitStaged(g: UringGroup): i32 {
  const accepted = host_uring_submit(g.descs, g.staged, <u32>memory.size());
  if (accepted <= 0) return accepted;
  g.inFlight += <u32>accepted;
  const left = g.staged - <u32>accepted;
  if (left > 0) memory.copy(g.descs, g.descs + <usize>accepted * wire.DESC_BYTES, <usize>left * wire.DESC_BYTES);
  g.staged = left;
  return accepted;
}

function completeOne(ioPtr: usize, res: i32): void {
  const io = changetype<BdevIo>(ioPtr);
  let ok = res >= 0;
  if (ok && (io.type == IO_READ || io.type == IO_WRITE) && <u32>res != io.aux) {
    // A short transfer: past the end of a file that shrank, or a device error mid-way.
    report(LEVEL_ERROR, -EIO, "bdev %s: short transfer (%d of %d bytes)", changetype<Bdev>(io.bdev).name, 0, <f64>res, <f64>io.aux);
    ok = false;
  }
  bdevIoComplete(ioPtr, ok ? IO_SUCCESS : IO_FAILED);
}

function uringPoll(ctx: usize): i32 {
  const g = changetype<UringGroup>(ctx);
  let work = 0;
  // Stage what waited for room, then hand everything staged to the ring in one call.
  while (g.backlog != 0 && g.staged < STAGE_SLOTS) {
    const io = g.backlog;
    g.backlog = changetype<BdevIo>(io).next;
    if (g.backlog == 0) g.backlogTail = 0;
    stage(g, io);
  }
  if (g.staged > 0) {
    const accepted = submitStaged(g);
    if (accepted < 0) {
      // No ring on this instance at all: fail what was staged rather than wait forever.
      report(LEVEL_ERROR, accepted, "io_uring submit failed on this reactor; failing %d staged I/Os", 0, 0, <f64>g.staged);
      for (let i: u32 = 0; i < g.staged; i++) {
        completeOne(<usize>load<u32>(g.descs + <usize>i * wire.DESC_BYTES + wire.DESC_USER_OFF), -ENOSYS);
      }
      g.staged = 0;
    } else {
      work += accepted;
    }
  }
  // The ring is the reactor's: its completions may belong to any thread on this reactor, and to any
  // module that submits to it (sockets too). Each goes to its owner's list (uringReaped); an io always
  // completes on the thread that submitted it.
  if (g.inFlight > 0) work += ringReap(g.cqes, STAGE_SLOTS);
  work += completeReaped(g);
  // I/O in flight keeps the reactor polling only if it would sleep on its doorbell, which a completion
  // does not ring; its kernel sleep ends when one is posted.
  const waiting = g.inFlight > 0 && !reactorSleepsInKernel();
  return work > 0 || waiting || g.staged > 0 || g.reaped != 0 ? POLLER_BUSY : POLLER_IDLE;
}

/** The ring's handler for RING_TAG_BDEV: `io` ended with `res`; its own thread completes it. */
function uringReaped(ioPtr: usize, res: i32): void {
  const owner = groupOf(ioPtr);
  assert(owner.inFlight > 0);
  owner.inFlight--;
  queueReaped(owner, ioPtr, res);
}

/** `io` of group `g` ended with `res`: completed on g's thread at its next poll. */
function queueReaped(g: UringGroup, ioPtr: usize, res: i32): void {
  changetype<BdevIo>(ioPtr).moduleData = <usize><u32>res;     // the result, until its thread polls
  changetype<BdevIo>(ioPtr).next = 0;
  if (g.reapedTail == 0) g.reaped = ioPtr; else changetype<BdevIo>(g.reapedTail).next = ioPtr;
  g.reapedTail = ioPtr;
}

/** Complete the ios another thread reaped for us (or a mapped file's copies). Returns how many. */
function completeReaped(g: UringGroup): i32 {
  let n = 0;
  let io = g.reaped;
  g.reaped = 0;
  g.reapedTail = 0;
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    completeOne(io, <i32><u32>changetype<BdevIo>(io).moduleData);
    io = next;
    n++;
  }
  return n;
}

function groupCreate(_key: usize, ctx: usize): i32 {
  const g = changetype<UringGroup>(ctx);
  g.descs = heapAllocZeroed(<usize>STAGE_SLOTS * wire.DESC_BYTES);
  g.cqes = heapAllocZeroed(<usize>STAGE_SLOTS * wire.CQE_BYTES);
  ringHandlerSet(RING_TAG_BDEV, uringReaped);
  g.poller = pollerRegister(uringPoll, ctx, 0, "bdev_uring");
  if (g.descs == 0 || g.cqes == 0 || g.poller == 0) {
    heapFree(g.descs); heapFree(g.cqes);
    if (g.poller != 0) pollerUnregister(g.poller);
    return -12;
  }
  return 0;
}

function groupDestroy(_key: usize, ctx: usize): void {
  const g = changetype<UringGroup>(ctx);
  if (g.inFlight != 0 || g.staged != 0) {
    report(LEVEL_ERROR, -EIO, "io_uring group released with %d I/Os in flight", 0, 0, <f64>(g.inFlight + g.staged));
  }
  pollerUnregister(g.poller);
  heapFree(g.descs);
  heapFree(g.cqes);
}

/** Reset or removal: ios still waiting for a staging slot complete as failed (never sent). */
function uringAbortBacklog(moduleChannel: usize, _bdev: usize): void {
  const g = changetype<UringGroup>(moduleChannel);
  const head = g.backlog;
  g.backlog = 0;
  g.backlogTail = 0;
  bdevIoCompleteList(head, IO_FAILED);
}

/**
 * A file bdev over `fd` (opened by the host; with O_DIRECT when `direct`). O_DIRECT needs buffers aligned
 * to the block size: the bdev layer bounces the others (bounce.ts). With `map` (where the host mapped
 * the whole file, shared, into this memory; never with O_DIRECT) reads and writes are copies through
 * the mapping and only flush, unmap and write_zeroes go to io_uring. Returns the bdev or 0.
 */
export function uringBdevCreate(name: usize, fd: i32, blockSize: u32, blockCount: u64, direct: bool, map: usize): usize {
  if (fd < 0 || (direct && map != 0)) return 0;
  if (atomic.cmpxchg<u32>(URING_KEY, 0, 1) == 0) {
    // No memory for it: the next create tries again.
    if (ioDeviceRegister(URING_KEY, groupCreate, groupDestroy, <u32>offsetof<UringGroup>(), "bdev_uring") != 0) { atomic.store<u32>(URING_KEY, 0); return 0; }
  }
  const f = changetype<UringFile>(heapAllocZeroed(offsetof<UringFile>()));
  if (changetype<usize>(f) == 0) return 0;
  f.fd = fd;
  f.direct = direct ? 1 : 0;
  f.map = map;
  const bdev = bdevAlloc(uringModule(), name, blockSize, blockCount, changetype<usize>(f));
  if (bdev == 0) { heapFree(changetype<usize>(f)); return 0; }
  const b = changetype<Bdev>(bdev);
  b.ioTypes = (1 << IO_READ) | (1 << IO_WRITE) | (1 << IO_FLUSH) | (1 << IO_UNMAP) | (1 << IO_WRITE_ZEROES) | (1 << IO_RESET);
  b.writeCache = 1;
  b.unmapZeroes = 1;           // a punched hole or a zeroed range reads as zeroes (files and block devices alike)
  b.requiredAlign = direct ? blockSize : 1;
  if (map != 0) b.lendMax = u32.MAX_VALUE;          // reads without a buffer get the mapped bytes
  b.takesExternal = 1;                              // a guest's buffers: in place, or copied by the host to the mapping
  if (bdevRegister(bdev) != 0) { heapFree(changetype<usize>(f)); heapFree(bdev); return 0; }
  return bdev;
}

/** The fd of a file bdev (the host closes it after the bdev is gone), or -1. */
export function uringBdevFd(bdev: usize): i32 {
  const b = changetype<Bdev>(bdev);
  return isModule(b.module, URING_KEY) ? changetype<UringFile>(b.ctx).fd : -1;
}

