// Bounce buffers (SPDK's bounce_buf in bdev.c): a module that needs aligned data buffers
// (Bdev.requiredAlign, e.g. a file opened with O_DIRECT) still serves callers whose buffers are not
// aligned, such as the Blobstore's metadata from the 16-byte-aligned heap. Such a request gets one
// aligned copy of its data, which the module works on: gathered from the caller's buffers before a
// write, scattered back into them after a read. Aligned requests never come here.
// The same copy serves a request whose buffers are outside this memory (extiov.ts) on a module that
// cannot take them (SPDK's memory domains: pull before a write, push after a read): the host copies
// between the caller's external buffers and the copy.

import { heapAlloc, heapFree, heapCapacityBytes, report, LEVEL_ERROR, ENOMEM } from "../runtime";
import { Bdev, BdevIo, IO_READ, IO_WRITE } from "./types";
import { iovGather, iovScatter } from "./iov";
import { extIovCopy } from "./extiov";

/** What heapAlloc guarantees (runtime/heap.ts): the over-allocation only has to cover alignment beyond it. */
const HEAP_ALIGN: usize = 16;

/** Bytes over a buffer that alignment beyond the heap's own needs (bounce copies, lend.ts). */
export function slackBytes(align: usize): usize { return align > HEAP_ALIGN ? align - HEAP_ALIGN : 0; }

/**
 * True (with a report) when `io`'s copy could not fit even with every other heap block freed: the
 * copy plus the caller's largest buffer (live in the heap while the request runs) exceed what the
 * memory can ever hold. Such a request fails at once instead of waiting for memory that never comes.
 */
export function bounceNeverFits(ioPtr: usize): bool {
  const io = changetype<BdevIo>(ioPtr);
  const b = changetype<Bdev>(io.bdev);
  const bytes = io.numBlocks << b.blockShift;
  let largest: u64 = 0;                             // external buffers take no room in this memory
  for (let i: u32 = 0; io.external == 0 && i < io.iovcnt; i++) largest = max(largest, <u64>load<u32>(io.iovs + (<usize>i << 3), 4));
  const capacity = heapCapacityBytes();
  const need = bytes + <u64>slackBytes(<usize>b.requiredAlign);
  if (need <= <u64>u32.MAX_VALUE && need + largest <= capacity) return false;
  report(LEVEL_ERROR, -ENOMEM, "bdev %s: a request of %d bytes in buffers not aligned as the bdev requires needs an aligned copy that this memory can never hold; align the buffers to the bdev's block alignment or split the request",
    b.name, 0, <f64>bytes);
  return true;
}

/** bounceBegin's answers besides a -errno (the host refused to copy a write's external data). */
export const BOUNCE_STARTED: i32 = 1;
export const BOUNCE_NO_MEMORY: i32 = 0;

/**
 * Give `io` (filled in by submit, not yet seen by the module) an aligned copy of its data, which the
 * module sees as its single buffer. BOUNCE_NO_MEMORY when there is no memory for the copy now (the
 * caller waits: bounce-wait.ts); a request bounceNeverFits refuses must not come here. A write whose
 * external data the host cannot copy (its region is gone) gets the host's -errno and no copy: it must
 * fail without reaching the module (never write what the guest did not give).
 */
export function bounceBegin(ioPtr: usize): i32 {
  const io = changetype<BdevIo>(ioPtr);
  assert(io.bounceBlock == 0, "bounceBegin: a free bdev_io still held a bounce buffer");
  assert(io.type == IO_READ || io.type == IO_WRITE, "bounceBegin: only reads and writes carry data");
  const b = changetype<Bdev>(io.bdev);
  const align = <usize>b.requiredAlign;
  assert(align != 0 && (align & (align - 1)) == 0, "bounceBegin: requiredAlign is not a power of two");
  const bytes = io.numBlocks << b.blockShift;       // validate() checked the caller's buffers add up to this
  const slack = slackBytes(align);
  assert(bytes <= <u64>(<usize>u32.MAX_VALUE - slack), "bounceBegin: a copy bounceNeverFits refuses");
  const block = heapAlloc(<usize>bytes + slack);
  if (block == 0) return BOUNCE_NO_MEMORY;
  assert((block & (HEAP_ALIGN - 1)) == 0, "bounceBegin: heap block less aligned than the heap promises");
  const aligned = (block + align - 1) & ~(align - 1);
  if (io.type == IO_WRITE) {
    if (io.external == 0) iovGather(io.iovs, io.iovcnt, aligned, <usize>bytes);
    else {
      const rc = extIovCopy(io.iovs, io.iovcnt, aligned, <usize>bytes, true);
      if (rc < 0) { heapFree(block); return rc; }
    }
  }
  io.bounceBlock = block;
  io.bounceBase = <u32>aligned;
  io.bounceLen = <u32>bytes;
  io.callerIovs = io.iovs;
  io.callerIovcnt = io.iovcnt;
  io.callerExternal = io.external;
  io.iovs = ioPtr + offsetof<BdevIo>("bounceBase");
  io.iovcnt = 1;
  io.external = 0;
  return BOUNCE_STARTED;
}

/**
 * A bounced io completed, and its caller has not yet been told: a successful read's data goes to the
 * caller's buffers (a failed read leaves them as they were), the caller's vector is put back and the
 * copy is freed, so no completion path (success, failure, abort on reset or removal) keeps it.
 * False when a successful read's data could not be put into external buffers (the region is gone):
 * the io then fails.
 */
export function bounceEnd(ioPtr: usize, success: bool): bool {
  const io = changetype<BdevIo>(ioPtr);
  assert(io.bounceBlock != 0, "bounceEnd: io was not bounced");
  let delivered = true;
  if (io.type == IO_READ && success) {
    if (io.callerExternal == 0) iovScatter(io.callerIovs, io.callerIovcnt, io.bounceBase, io.bounceLen);
    else delivered = extIovCopy(io.callerIovs, io.callerIovcnt, io.bounceBase, io.bounceLen, false) == 0;
  }
  io.iovs = io.callerIovs;
  io.iovcnt = io.callerIovcnt;
  io.external = io.callerExternal;
  heapFree(io.bounceBlock);
  io.bounceBlock = 0;
  return delivered;
}
