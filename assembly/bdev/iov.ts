// Copying between an I/O's vector of {u32 base, u32 len} pairs and one contiguous buffer, for the code
// that keeps a flat copy of a request's data (bounce buffers, the crash bdev's write cache).

/** Copy the first `bytes` bytes that the vector's buffers hold, in order, into `flat`. */
export function iovGather(iovs: usize, iovcnt: u32, flat: usize, bytes: usize): void {
  iovCopy(iovs, iovcnt, flat, bytes, true);
}

/** Copy `bytes` bytes from `flat` into the vector's buffers, in order, filling each before the next. */
export function iovScatter(iovs: usize, iovcnt: u32, flat: usize, bytes: usize): void {
  iovCopy(iovs, iovcnt, flat, bytes, false);
}

function iovCopy(iovs: usize, iovcnt: u32, flat: usize, bytes: usize, toFlat: bool): void {
  let done: usize = 0;
  for (let i: u32 = 0; i < iovcnt && done < bytes; i++) {
    const base = <usize>load<u32>(iovs + (<usize>i << 3));
    const len = min(<usize>load<u32>(iovs + (<usize>i << 3), 4), bytes - done);
    if (toFlat) memory.copy(flat + done, base, len); else memory.copy(base, flat + done, len);
    done += len;
  }
  assert(done == bytes, "iovCopy: the vector holds fewer bytes than asked for");
}
