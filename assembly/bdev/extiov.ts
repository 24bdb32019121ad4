// External I/O vectors: data buffers outside this memory (a guest's memory, mapped by the host), as
// {u32 handle, u32 len, u64 offset} entries, EXT_IOV_BYTES each. The core never addresses such a
// buffer: it asks the host to copy between it and this memory (host_vu_guest_read/write), and the
// host checks every range against the region the handle names (host/native/src/guestmem.h).
// A bdev_io whose vector is external says so (BdevIo.external); modules that take one as it is set
// Bdev.takesExternal (malloc, uring), the layer bounces it for the others (bounce.ts).

import { host_vu_guest_read, host_vu_guest_write } from "../runtime";

export const EXT_IOV_BYTES: usize = 16;
export const EXT_IOV_HANDLE_OFF: usize = 0;  // u32: the host's region handle (>= 1)
export const EXT_IOV_LEN_OFF: usize = 4;     // u32 bytes
export const EXT_IOV_OFFSET_OFF: usize = 8;  // u64 bytes into the region

export function extIovHandle(iovs: usize, i: u32): i32 { return load<i32>(iovs + <usize>i * EXT_IOV_BYTES, EXT_IOV_HANDLE_OFF); }
export function extIovLen(iovs: usize, i: u32): u32 { return load<u32>(iovs + <usize>i * EXT_IOV_BYTES, EXT_IOV_LEN_OFF); }
export function extIovOffset(iovs: usize, i: u32): u64 { return load<u64>(iovs + <usize>i * EXT_IOV_BYTES, EXT_IOV_OFFSET_OFF); }

export function extIovSet(iovs: usize, i: u32, handle: i32, offset: u64, len: u32): void {
  const e = iovs + <usize>i * EXT_IOV_BYTES;
  store<i32>(e, handle, EXT_IOV_HANDLE_OFF);
  store<u32>(e, len, EXT_IOV_LEN_OFF);
  store<u64>(e, offset, EXT_IOV_OFFSET_OFF);
}

/**
 * Copy `bytes` between the vector's buffers, in order, and [flat, flat + bytes) of this memory: into
 * `flat` when `toFlat`, else out of it. 0, or the host's -errno for the first entry it refused
 * (-EBADF: the region is gone; -EFAULT: a range outside it); entries before it were copied.
 */
export function extIovCopy(iovs: usize, iovcnt: u32, flat: usize, bytes: usize, toFlat: bool): i32 {
  let done: usize = 0;
  for (let i: u32 = 0; i < iovcnt && done < bytes; i++) {
    const len = min(<usize>extIovLen(iovs, i), bytes - done);
    const offset = <f64>extIovOffset(iovs, i);
    const rc = toFlat ? host_vu_guest_read(extIovHandle(iovs, i), offset, flat + done, <u32>len)
      : host_vu_guest_write(extIovHandle(iovs, i), offset, flat + done, <u32>len);
    if (rc != 0) return rc;
    done += len;
  }
  assert(done == bytes, "extIovCopy: the vector holds fewer bytes than asked for");
  return 0;
}
