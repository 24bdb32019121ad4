// Data movement for bdevs whose blocks are in this memory: malloc (a heap block) and a file bdev mapped
// into the memory (uring/index.ts). Reads and writes are memory.copy between the io's iovecs and the
// bdev's bytes at `base`; an external vector (extiov.ts) is copied by the host, one call per entry.

import { BdevIo, Bdev, IO_READ } from "./types";
import { extIovCopy, extIovLen } from "./extiov";

/** Move a read's or write's data between its iovecs and the device bytes at `base`: 0, or the host's -errno (external buffers only). */
export function memCopyIo(io: BdevIo, base: usize): i32 {
  const b = changetype<Bdev>(io.bdev);
  let at = base + <usize>(io.offsetBlocks << b.blockShift);
  const toIovs = io.type == IO_READ;
  if (io.external != 0) return memCopyExternal(io, at, toIovs);
  for (let i: u32 = 0; i < io.iovcnt; i++) {
    const buf = <usize>load<u32>(io.iovs + (<usize>i << 3));
    const len = <usize>load<u32>(io.iovs + (<usize>i << 3), 4);
    if (toIovs) memory.copy(buf, at, len); else memory.copy(at, buf, len);
    at += len;
  }
  return 0;
}

/**
 * The external case: each entry's bytes straight between its region and the device bytes (one copy,
 * by the host). A read that fails part-way has filled the entries before; the io fails either way.
 */
function memCopyExternal(io: BdevIo, at: usize, toIovs: bool): i32 {
  let bytes: usize = 0;
  for (let i: u32 = 0; i < io.iovcnt; i++) bytes += <usize>extIovLen(io.iovs, i);
  return extIovCopy(io.iovs, io.iovcnt, at, bytes, !toIovs);
}
