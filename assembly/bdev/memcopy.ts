// Data movement for bdevs whose blocks are in this memory: malloc (a heap block) and a file bdev mapped
// into the memory (uring/index.ts). Reads and writes are memory.copy between the io's iovecs and the
// bdev's bytes at `base`.

import { BdevIo, Bdev, IO_READ } from "./types";

/** Move a read's or write's data between its iovecs and the device bytes at `base`. */
export function memCopyIo(io: BdevIo, base: usize): void {
  const b = changetype<Bdev>(io.bdev);
  let at = base + <usize>(io.offsetBlocks << b.blockShift);
  const toIovs = io.type == IO_READ;
  for (let i: u32 = 0; i < io.iovcnt; i++) {
    const buf = <usize>load<u32>(io.iovs + (<usize>i << 3));
    const len = <usize>load<u32>(io.iovs + (<usize>i << 3), 4);
    if (toIovs) memory.copy(buf, at, len); else memory.copy(at, buf, len);
    at += len;
  }
}
