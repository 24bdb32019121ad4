// The malloc bdev (SPDK's bdev_malloc): a RAM disk in the shared memory. Data moves with memory.copy;
// unmap and write_zeroes fill with zeroes; flush has nothing to do. Completions are deferred to the
// thread's poller like the null bdev's. A read without a buffer (bdevReadLent) is lent the blocks
// themselves: no copy. Buffers outside this memory (extiov.ts) are copied by the host, once.

import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import { heapAlloc, heapFree, pagesAlloc, pagesFree } from "../../runtime";
import { PAGE_SHIFT, PAGE_SIZE } from "../../runtime/layout";
import { BdevModule, BdevIo, Bdev, IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES, IO_RESET, IO_SUCCESS, IO_FAILED } from "../types";
import { bdevAlloc, bdevRegister } from "../bdev";
import { deferRegister, deferComplete, moduleChannelOf } from "../defer";
import { memCopyIo } from "../memcopy";
import { wantsLentBuffer, lendBlocks } from "../lend";

const MALLOC_KEY = memory.data(MODULE_KEY_BYTES);
function mallocModule(): BdevModule { return moduleTable(MALLOC_KEY, "malloc", mallocSubmit, mallocChannelKey, mallocDestruct, null); }

function mallocChannelKey(_bdev: usize): usize { return MALLOC_KEY; }
function mallocDestruct(bdev: usize): void {
  const b = changetype<Bdev>(bdev);
  freeData(b.ctx, b.blockCount << b.blockShift);
}

// The data of a bdev of a page (64 KiB) or more is whole runtime pages, not a heap block: a heap block
// starts just past its header, so every 4 KiB block would straddle two of the OS's 4 KiB pages, and a
// random 4 KiB read would take two TLB misses where one will do. A smaller bdev is a heap block: a page
// for a 4 KiB bdev cost 16 times its size, and over so few OS pages the TLB has nothing to lose.
function dataPages(bytes: u64): u32 { return <u32>((bytes + (<u64>1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT); }

function allocData(bytes: u64): usize {
  return bytes < <u64>PAGE_SIZE ? heapAlloc(<usize>bytes) : pagesAlloc(dataPages(bytes));
}

function freeData(data: usize, bytes: u64): void {
  if (bytes < <u64>PAGE_SIZE) heapFree(data);
  else pagesFree(data, dataPages(bytes));
}

/** Queue the io; the thread's poller moves the data for the whole batch, then completes it. */
function mallocSubmit(ioPtr: usize): void {
  deferComplete(moduleChannelOf(ioPtr), ioPtr, IO_SUCCESS);
}

function mallocMoveData(ioPtr: usize): i32 {
  const io = changetype<BdevIo>(ioPtr);
  const b = changetype<Bdev>(io.bdev);
  switch (io.type) {
    case IO_READ:
      if (wantsLentBuffer(io)) lendBlocks(io, b.ctx);
      else if (memCopyIo(io, b.ctx) != 0) return IO_FAILED;   // external buffers whose region is gone
      break;
    case IO_WRITE:
      if (memCopyIo(io, b.ctx) != 0) return IO_FAILED;
      break;
    case IO_UNMAP:
    case IO_WRITE_ZEROES:
      memory.fill(b.ctx + <usize>(io.offsetBlocks << b.blockShift), 0, <usize>(io.numBlocks << b.blockShift));
      break;
    default:
      break;                   // flush, reset: nothing volatile, nothing in flight
  }
  return IO_SUCCESS;
}

/** Create and register a malloc bdev of blockCount blocks, zero-filled. Returns the bdev or 0. */
export function mallocBdevCreate(name: usize, blockSize: u32, blockCount: u64): usize {
  const bytes = blockCount * <u64>blockSize;
  if (blockCount == 0 || bytes > 0xf0000000) return 0;          // must fit the 4 GiB address space
  if (deferRegister(MALLOC_KEY, "bdev_malloc", mallocMoveData) != 0) return 0;
  const data = allocData(bytes);
  if (data == 0) return 0;
  memory.fill(data, 0, <usize>bytes);
  const bdev = bdevAlloc(mallocModule(), name, blockSize, blockCount, data);
  if (bdev == 0) { freeData(data, bytes); return 0; }
  changetype<Bdev>(bdev).ioTypes = (1 << IO_READ) | (1 << IO_WRITE) | (1 << IO_FLUSH) | (1 << IO_UNMAP) | (1 << IO_WRITE_ZEROES) | (1 << IO_RESET);
  changetype<Bdev>(bdev).lendMax = u32.MAX_VALUE;
  changetype<Bdev>(bdev).unmapZeroes = 1;       // unmap fills with zeroes
  changetype<Bdev>(bdev).takesExternal = 1;     // a guest's buffers are copied by the host, straight to the blocks
  if (bdevRegister(bdev) != 0) { freeData(data, bytes); heapFree(bdev); return 0; }
  return bdev;
}
