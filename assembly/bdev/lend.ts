// Reads without a buffer (SPDK: spdk_bdev_read with a NULL buffer, which the module or the layer fills
// in). The caller gets the data where it already is: a module that holds its blocks in this memory lends
// them (malloc: its data; a file mapped into the memory: the mapped bytes; null: a shared region of
// zeroes), so a read moves no bytes at all. For any other bdev, or a read longer than the module can
// lend, the layer gives the io a buffer of its own (aligned as the bdev requires) that lives until
// bdevFreeIo. Either way the data is read-only to the caller: it may be the bdev's own blocks or shared
// with every other reader.

import { heapAlloc, heapFree } from "../runtime";
import { Bdev, BdevIo, IO_READ } from "./types";
import { slackBytes } from "./bounce";

/**
 * Give a read submitted without a buffer somewhere for its data, before the module sees it: nothing
 * when the module lends (its submit fills the buffer in: lendBuffer), else a buffer of the layer's.
 * False when that buffer finds no memory (the caller is told -ENOMEM).
 */
export function lendPrepare(ioPtr: usize): bool {
  const io = changetype<BdevIo>(ioPtr);
  const b = changetype<Bdev>(io.bdev);
  assert(io.lentBlock == 0, "lendPrepare: a free bdev_io still held a lent buffer");
  const bytes = io.numBlocks << b.blockShift;
  if (bytes <= <u64>b.lendMax) { io.inlineBase = 0; return true; }
  const align = <usize>b.requiredAlign;
  const slack = slackBytes(align);
  if (bytes > <u64>(<usize>u32.MAX_VALUE - slack)) return false;
  const block = heapAlloc(<usize>bytes + slack);
  if (block == 0) return false;
  io.lentBlock = block;
  io.inlineBase = <u32>((block + align - 1) & ~(align - 1));
  return true;
}

/** True for a read whose module is to lend its buffer (set it with lendBuffer before completing). */
export function wantsLentBuffer(io: BdevIo): bool {
  return io.type == IO_READ && io.inlineBase == 0 && io.iovs == changetype<usize>(io) + offsetof<BdevIo>("inlineBase");
}

/** A module lends `base` (the read's whole length) to a read that wantsLentBuffer. */
export function lendBuffer(io: BdevIo, base: usize): void {
  assert(wantsLentBuffer(io) && base != 0, "lendBuffer: not a read waiting for a lent buffer");
  io.inlineBase = <u32>base;
}

/** A module whose blocks sit in this memory from `deviceBase` lends the read's own blocks. */
export function lendBlocks(io: BdevIo, deviceBase: usize): void {
  lendBuffer(io, deviceBase + <usize>(io.offsetBlocks << changetype<Bdev>(io.bdev).blockShift));
}

/** bdevFreeIo, for an io holding a buffer of the layer's: the buffer goes with the io. */
export function lendRelease(io: BdevIo): void {
  heapFree(io.lentBlock);
  io.lentBlock = 0;
}
