// The null bdev (SPDK's bdev_null): reads return zeroes, writes are dropped. Measures the bdev layer's
// own overhead. Every type completes successfully from the thread's deferred-completion poller.
// A read into the caller's buffer zero-fills it; a read without one (bdevReadLent) is lent a shared
// region of zeroes, as SPDK's null bdev does, and touches no memory at all.

import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import { heapFree, pagesAlloc, pagesFree } from "../../runtime";
import { PAGE_SHIFT } from "../../runtime/layout";
import { BdevModule, BdevIo, Bdev, IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES, IO_RESET, IO_SUCCESS } from "../types";
import { bdevAlloc, bdevRegister } from "../bdev";
import { deferRegister, deferComplete, moduleChannelOf } from "../defer";
import { wantsLentBuffer, lendBuffer } from "../lend";

/**
 * Zeroes lent to reads without a buffer, shared by every null bdev: allocated with the first null
 * bdev, never written, never freed. The cell is static data, so every instance sees the one pointer.
 */
const ZERO_PAGES: u32 = 2;
const ZERO_REGION_CELL = memory.data(4);

/** The zero region, allocated on first use; 0 if there is no memory for it. */
function zeroRegion(): usize {
  const have = atomic.load<usize>(ZERO_REGION_CELL);
  if (have != 0) return have;
  const mine = pagesAlloc(ZERO_PAGES);
  if (mine == 0) return 0;
  memory.fill(mine, 0, <usize>ZERO_PAGES << PAGE_SHIFT);
  const won = atomic.cmpxchg<usize>(ZERO_REGION_CELL, 0, mine);
  if (won == 0) return mine;
  pagesFree(mine, ZERO_PAGES);          // another instance got there first
  return won;
}

// Static, zero-initialised: word 0 is the defer queue's registration flag, the table follows at 16.
const NULL_KEY = memory.data(MODULE_KEY_BYTES);
function nullModule(): BdevModule { return moduleTable(NULL_KEY, "null", nullSubmit, nullChannelKey, nullDestruct, null); }

function nullChannelKey(_bdev: usize): usize { return NULL_KEY; }
function nullDestruct(_bdev: usize): void {}

function nullSubmit(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  if (wantsLentBuffer(io)) {
    lendBuffer(io, atomic.load<usize>(ZERO_REGION_CELL));
  } else if (io.type == IO_READ) {
    for (let i: u32 = 0; i < io.iovcnt; i++) {
      memory.fill(<usize>load<u32>(io.iovs + (<usize>i << 3)), 0, <usize>load<u32>(io.iovs + (<usize>i << 3), 4));
    }
  }
  deferComplete(moduleChannelOf(ioPtr), ioPtr, IO_SUCCESS);
}

/** Create and register a null bdev. Returns the bdev, or 0 (bad geometry or out of memory). */
export function nullBdevCreate(name: usize, blockSize: u32, blockCount: u64): usize {
  const m = nullModule();
  if (deferRegister(NULL_KEY, "bdev_null") != 0 || zeroRegion() == 0) return 0;
  const bdev = bdevAlloc(m, name, blockSize, blockCount, 0);
  if (bdev == 0) return 0;
  changetype<Bdev>(bdev).lendMax = ZERO_PAGES << PAGE_SHIFT;
  changetype<Bdev>(bdev).unmapZeroes = 1;       // every read is zeroes
  changetype<Bdev>(bdev).ioTypes = (1 << IO_READ) | (1 << IO_WRITE) | (1 << IO_FLUSH) | (1 << IO_UNMAP) | (1 << IO_WRITE_ZEROES) | (1 << IO_RESET);
  if (bdevRegister(bdev) != 0) { heapFree(bdev); return 0; }
  return bdev;
}


export function isNullBdev(bdev: usize): bool { return isModule(changetype<Bdev>(bdev).module, NULL_KEY); }
