// A request's data buffers (NvmfReq.iovs: {u32 base, u32 len} pairs) for the admin commands that read
// or build their data in the core: Connect's 1024 bytes in, Identify and log pages out.
import { NvmfReq } from "./transport";
import { iovGather } from "../bdev/iov";

/** Copy the request's first `bytes` bytes into `flat` (bytes <= req.length). */
export function reqGather(req: usize, flat: usize, bytes: u32): void {
  const r = changetype<NvmfReq>(req);
  assert(bytes <= r.length, "reqGather: more than the request holds");
  iovGather(r.iovs, r.iovcnt, flat, bytes);
}

/** Copy `bytes` bytes from `src` to offset `at` of the request's data (both inside req.length). */
export function reqWriteAt(req: usize, at: u32, src: usize, bytes: u32): void {
  const r = changetype<NvmfReq>(req);
  assert(<u64>at + <u64>bytes <= <u64>r.length, "reqWriteAt: past the request's data");
  let skip = at, left = bytes, from = src;
  for (let i: u32 = 0; i < r.iovcnt && left > 0; i++) {
    const base = <usize>load<u32>(r.iovs + (<usize>i << 3));
    const len = load<u32>(r.iovs + (<usize>i << 3), 4);
    if (skip >= len) { skip -= len; continue; }
    const n = min(len - skip, left);
    memory.copy(base + skip, from, n);
    from += n; left -= n; skip = 0;
  }
  assert(left == 0, "reqWriteAt: the buffers hold fewer bytes than req.length");
}

/** Zero the request's data from offset `at` on (inside req.length). */
export function reqZeroFrom(req: usize, at: u32): void {
  const r = changetype<NvmfReq>(req);
  let skip = at, left = r.length > at ? r.length - at : 0;
  for (let i: u32 = 0; i < r.iovcnt && left > 0; i++) {
    const base = <usize>load<u32>(r.iovs + (<usize>i << 3));
    const len = load<u32>(r.iovs + (<usize>i << 3), 4);
    if (skip >= len) { skip -= len; continue; }
    const n = min(len - skip, left);
    memory.fill(base + skip, 0, n);
    left -= n; skip = 0;
  }
}

/** Send `bytes` bytes of `src` (an Identify structure...): as much as the host's buffer takes; req.length lowered to it. */
export function reqReply(req: usize, src: usize, bytes: u32): void {
  const r = changetype<NvmfReq>(req);
  const n = min(bytes, r.length);
  reqWriteAt(req, 0, src, n);
  r.length = n;
}
