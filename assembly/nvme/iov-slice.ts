// A byte range of an I/O's data vector ({u32 base, u32 len} pairs): as iovecs for a sendv (with their
// CRC32C for a data digest), or as the place received bytes are copied to. Shared by the NVMe/TCP
// target (C2HData) and host (CapsuleCmd/H2CData out, C2HData in).

import { crc32cUpdate } from "../runtime";

/**
 * Bytes [from, from + bytes) of the vector: each piece appended as an iovec at `out` (room for
 * `outRoom`) when `out` is not 0, and `src` copied into the pieces when `src` is not 0. Returns the
 * pieces in the high word, their CRC32C (when `digest`) in the low one.
 */
export function iovSlice(iovs: usize, iovcnt: u32, from: u32, bytes: u32, out: usize, outRoom: u32, src: usize, digest: bool): u64 {
  let crc: u32 = 0;
  let skip = from;
  let left = bytes;
  let pieces: u32 = 0;
  let copied: usize = 0;
  for (let i: u32 = 0; i < iovcnt && left > 0; i++) {
    const base = <usize>load<u32>(iovs + (<usize>i << 3));
    const len = load<u32>(iovs + (<usize>i << 3), 4);
    if (skip >= len) { skip -= len; continue; }
    const take = min(len - skip, left);
    if (src != 0) { memory.copy(base + skip, src + copied, take); copied += take; }
    if (out != 0) {
      assert(pieces < outRoom, "iovSlice: room for every piece");
      store<u32>(out + (<usize>pieces << 3), <u32>(base + skip));
      store<u32>(out + (<usize>pieces << 3), take, 4);
    }
    if (digest) crc = crc32cUpdate(crc, base + skip, take);
    pieces++;
    left -= take;
    skip = 0;
  }
  assert(left == 0, "iovSlice: the vector holds the range");
  return (<u64>pieces << 32) | <u64>crc;
}

/** Put iovec {base, len} at index `at` of a sendv's array of `room` (a piece is never empty). */
export function iovPut(iovs: usize, at: u32, room: u32, base: usize, len: u32): void {
  assert(at < room && len > 0, "iovPut: a sendv has a bounded number of non-empty iovecs");
  store<u32>(iovs + (<usize>at << 3), <u32>base);
  store<u32>(iovs + (<usize>at << 3), len, 4);
}

/**
 * A sendv of iovecs [first, count) sent `sent` bytes: the fully sent ones are skipped and a partly sent
 * one trimmed. Returns the first iovec still to send (count when all went).
 */
export function iovAdvance(iovs: usize, first: u32, count: u32, sent: u32): u32 {
  let left = sent;
  let at = first;
  while (left > 0 && at < count) {
    const iov = iovs + (<usize>at << 3);
    const len = load<u32>(iov, 4);
    if (left >= len) { left -= len; at++; continue; }
    store<u32>(iov, load<u32>(iov) + left);
    store<u32>(iov, len - left, 4);
    left = 0;
  }
  assert(left == 0, "iovAdvance: no more bytes sent than the sendv held");
  return at;
}
