// The bdev exports that need no thread: creating the in-memory and file bdevs, a bdev's geometry and
// statistics, error injection and delay settings, resizes.

import { EINVAL, ENOMEM } from "../runtime";
import { bdevById, bdevStatsRead, STATS_BLOCK_BYTES, Bdev } from "../bdev";
import { nullBdevCreate, isNullBdev } from "../bdev/null";
import { mallocBdevCreate } from "../bdev/malloc";
import { errorInject, isErrorBdev } from "../bdev/error";
import { delayUpdateLatency, isDelayBdev } from "../bdev/delay";
import { bdevResize, bdevIsRemoving } from "../bdev";
import { lvolBdevResized } from "../lvol";
import { uringBdevCreate, uringBdevFd } from "../bdev/uring";

/** A geometry the bdev layer takes: a power-of-two block size of at least 512, 1 to 2^53 - 1 blocks. */
function geometryOk(blockSize: u32, blockCount: f64): bool {
  return blockSize >= 512 && popcnt(blockSize) == 1 && blockCount >= 1 && blockCount <= 9007199254740991 && Math.floor(blockCount) == blockCount;
}

/** Bdev id, -EINVAL for a bad geometry, or -ENOMEM (the only other way it fails). */
export function bdev_null_create(name: usize, blockSize: u32, blockCount: f64): i32 {
  if (!geometryOk(blockSize, blockCount)) return -EINVAL;
  const b = nullBdevCreate(name, blockSize, <u64>blockCount);
  return b == 0 ? -ENOMEM : <i32>changetype<Bdev>(b).id;
}

/** Bdev id, -EINVAL for a bad geometry or more than the 4 GiB address space, or -ENOMEM. */
export function bdev_malloc_create(name: usize, blockSize: u32, blockCount: f64): i32 {
  if (!geometryOk(blockSize, blockCount) || blockCount * <f64>blockSize > <f64>0xf0000000) return -EINVAL;
  const b = mallocBdevCreate(name, blockSize, <u64>blockCount);
  return b == 0 ? -ENOMEM : <i32>changetype<Bdev>(b).id;
}

/** Geometry of bdev `id`: 0 block size, 1 block count, 2 io types mask, 3 open descriptors, 4 claimed, 5 being removed; NaN if none. */
export function bdev_info(id: u32, which: u32): f64 {
  const p = bdevById(id);
  if (p == 0) return NaN;
  const b = changetype<Bdev>(p);
  switch (which) {
    case 0: return <f64>b.blockSize;
    case 1: return <f64>b.blockCount;
    case 2: return <f64>b.ioTypes;
    case 3: return <f64>b.openCount;
    case 4: return b.claimed != 0 ? 1 : 0;
    case 5: return bdevIsRemoving(p) ? 1 : 0;
    default: return NaN;
  }
}

/** Statistics of bdev `id` into out (bdev_stats_bytes()); -19 if there is no such bdev. */
export function bdev_stats(id: u32, out: usize): i32 {
  const p = bdevById(id);
  if (p == 0) return -19;
  bdevStatsRead(p, out);
  return 0;
}

export function bdev_stats_bytes(): u32 { return <u32>STATS_BLOCK_BYTES; }

/** Inject errors: type IO_* or 255 for all; kind 1 failure, 2 pending, 3 corrupt. -19 no such error bdev. */
export function bdev_error_inject(id: u32, type: u32, kind: u32, count: u32): i32 {
  const b = bdevById(id);
  if (b == 0 || !isErrorBdev(b)) return -19;
  return errorInject(b, type, kind, count);
}

export function bdev_delay_update_latency(id: u32, which: u32, us: u32): i32 {
  const b = bdevById(id);
  if (b == 0 || !isDelayBdev(b)) return -19;
  return delayUpdateLatency(b, which, us);
}

/** After its blob was resized: lvol bdev `id` takes the blob's size. */
export function bdev_lvol_resized(id: u32): i32 {
  const b = bdevById(id);
  return b == 0 ? -19 : lvolBdevResized(b);
}

/**
 * A null or file bdev gets `blockCount` blocks (bdev_null_resize; bdev_uring_rescan after the file
 * grew). -19 no such bdev, -95 a module whose size comes from its data (malloc, lvol, pass-throughs).
 */
export function bdev_resize(id: u32, blockCount: f64): i32 {
  const b = bdevById(id);
  if (b == 0) return -19;
  if (!isNullBdev(b) && uringBdevFd(b) < 0) return -95;
  return bdevResize(b, <u64>blockCount);
}

/** A file bdev on an fd the host opened (and mapped at `map`, or 0). Bdev id or -errno. */
export function bdev_uring_create(name: usize, fd: i32, blockSize: u32, blockCount: f64, direct: u32, map: usize): i32 {
  if (fd < 0 || (direct != 0 && map != 0) || !geometryOk(blockSize, blockCount)) return -EINVAL;
  const b = uringBdevCreate(name, fd, blockSize, <u64>blockCount, direct != 0, map);
  return b == 0 ? -ENOMEM : <i32>changetype<Bdev>(b).id;
}

/** The fd behind file bdev `id` (the host closes it once the bdev is deleted), or -1. */
export function bdev_uring_fd(id: u32): i32 {
  const b = bdevById(id);
  return b == 0 ? -1 : uringBdevFd(b);
}
