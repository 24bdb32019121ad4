// INFLIGHT_SHMFD: a shared region (a memfd we create; QEMU keeps it across our restarts) where each
// queue records which heads the backend took and has not returned. After a reconnect, the heads still
// marked are submitted again, oldest first, before anything new: a restarted wstor loses no I/O the
// guest was waiting for. The region is mapped into this memory like guest memory.

import {
  pagesAlloc, pagesFree, PAGE_SIZE, PAGE_SHIFT, heapAlloc, heapFree, host_vu_map, host_vu_unmap, host_fd_close, host_memfd_create, report,
  LEVEL_NOTICE, LEVEL_ERROR, EINVAL, ENOMEM,
} from "../runtime";
import * as W from "./wire";
import { Vring } from "./vring";

@unmanaged export class Inflight {
  base: usize;          // mapped here (0: none)
  pages: u32;
  bytes: u64;
  queues: u32;
  queueSize: u32;
  stride: u32;          // bytes per queue
  broken: u32;          // guard word: 1 once its file shrank under the mapping (SIGBUS repaired): end the session
}

function guardOf(f: Inflight): usize { return changetype<usize>(f) + offsetof<Inflight>("broken"); }

export function inflightStride(queueSize: u32): u32 {
  return (<u32>W.IF_DESC + queueSize * W.IF_DESC_BYTES + W.IF_ALIGN - 1) & ~(W.IF_ALIGN - 1);
}

/** Map `fd` ([offset, offset + bytes)) as the session's inflight region, replacing any. The fd is closed. */
export function inflightMap(f: Inflight, fd: i32, bytes: u64, offset: u64, queues: u32, queueSize: u32): i32 {
  inflightUnmap(f);
  if (queues == 0 || queueSize == 0 || queueSize > W.MAX_QUEUE_SIZE || (queueSize & (queueSize - 1)) != 0 ||
    bytes < <u64>queues * inflightStride(queueSize) || bytes > 64 << 20 || (offset & 4095) != 0) {
    host_fd_close(fd);
    return -EINVAL;
  }
  const pages = <u32>((bytes + <u64>PAGE_SIZE - 1) >> PAGE_SHIFT);
  const base = pagesAlloc(pages);
  if (base == 0) { host_fd_close(fd); return -ENOMEM; }
  const rc = host_vu_map(base, <f64>bytes, fd, <f64>offset, guardOf(f), 1);
  host_fd_close(fd);
  if (rc != 0) { pagesFree(base, pages); return rc; }
  f.base = base; f.pages = pages; f.bytes = bytes; f.queues = queues; f.queueSize = queueSize; f.stride = inflightStride(queueSize);
  return 0;
}

export function inflightUnmap(f: Inflight): void {
  if (f.base == 0) return;
  if (host_vu_unmap(f.base, <f64>f.bytes) == 0) pagesFree(f.base, f.pages);
  f.base = 0;
}

/** A new zeroed region for `queues` × `queueSize` (GET_INFLIGHT_FD): its fd to send (we keep our mapping), or -errno. */
export function inflightCreate(f: Inflight, queues: u32, queueSize: u32): i32 {
  const bytes = <u64>queues * inflightStride(queueSize);
  if (queues == 0 || queues > 64 || queueSize == 0 || queueSize > W.MAX_QUEUE_SIZE || (queueSize & (queueSize - 1)) != 0) return -EINVAL;
  const fd = host_memfd_create(<f64>((bytes + 4095) & ~4095));
  if (fd < 0) return fd;
  // Our mapping shares the memfd's pages; the fd itself goes to QEMU (the caller sends, then closes it).
  const pages = <u32>((bytes + <u64>PAGE_SIZE - 1) >> PAGE_SHIFT);
  const base = pagesAlloc(pages);
  if (base == 0) { host_fd_close(fd); return -ENOMEM; }
  const rc = host_vu_map(base, <f64>((bytes + 4095) & ~4095), fd, 0, guardOf(f), 1);
  if (rc != 0) { pagesFree(base, pages); host_fd_close(fd); return rc; }
  inflightUnmap(f);
  f.base = base; f.pages = pages; f.bytes = (bytes + 4095) & ~4095; f.queues = queues; f.queueSize = queueSize; f.stride = inflightStride(queueSize);
  return fd;
}

/** Queue `index`'s part of the region, or 0 when there is none (or the ring's size does not match it). */
export function inflightQueue(f: Inflight, index: u32, num: u32): usize {
  if (f.base == 0 || index >= f.queues || num != f.queueSize) return 0;
  return f.base + <usize>index * f.stride;
}

function desc(r: usize, head: u32): usize { return r + W.IF_DESC + <usize>head * W.IF_DESC_BYTES; }

/**
 * The ring starts (its kick came) with region part `r`: a fresh part is initialised; one a previous
 * backend used gives the heads to submit again, oldest first, and where the avail index really is.
 */
export function inflightRecover(v: Vring, r: usize, features: u64): void {
  v.ifRegion = r;
  v.resubmitCount = 0;
  v.resubmitPos = 0;
  if (r == 0) return;
  if (load<u16>(r + W.IF_VERSION) == 0 || <u32>load<u16>(r + W.IF_DESC_NUM) != v.num) {
    memory.fill(r, 0, W.IF_DESC + <usize>v.num * W.IF_DESC_BYTES);
    store<u64>(r + W.IF_FEATURES, features);
    store<u16>(r + W.IF_VERSION, 1);
    store<u16>(r + W.IF_DESC_NUM, <u16>v.num);
    store<u16>(r + W.IF_USED_IDX, <u16>v.lastUsed);
    v.ifCounter = 0;
    return;
  }
  // A crash between the used ring's update and the region's: the last batch's head was returned.
  if (<u32>load<u16>(r + W.IF_USED_IDX) != v.lastUsed) {
    const h = <u32>load<u16>(r + W.IF_LAST_BATCH_HEAD);
    if (h < v.num) store<u8>(desc(r, h), 0);
    store<u16>(r + W.IF_USED_IDX, <u16>v.lastUsed);
  }
  let count: u32 = 0;
  let maxCounter: u64 = 0;
  for (let h: u32 = 0; h < v.num; h++) if (load<u8>(desc(r, h)) == 1) count++;
  if (count > 0) {
    v.resubmit = heapAlloc(<usize>count << 2);
    if (v.resubmit == 0) { report(LEVEL_ERROR, -ENOMEM, "vhost: no memory to resubmit in-flight requests"); count = 0; }
    else {
      let n: u32 = 0;
      for (let h: u32 = 0; h < v.num; h++) if (load<u8>(desc(r, h)) == 1) store<u32>(v.resubmit + (<usize>(n++) << 2), h);
      sortByCounter(r, v.resubmit, count);
      for (let i: u32 = 0; i < count; i++) maxCounter = max(maxCounter, load<u64>(desc(r, load<u32>(v.resubmit + (<usize>i << 2))), 8));
    }
  }
  v.resubmitCount = count;
  v.ifCounter = maxCounter;
  // Everything between the used index and the heads in flight was taken before: go on after them.
  v.lastAvail = (v.lastUsed + count) & 0xffff;
  if (count > 0) report(LEVEL_NOTICE, 0, "vhost: vring %d: %d requests in flight before the reconnect are submitted again", 0, 0, <f64>v.index, <f64>count);
}

/** Heads in `list` ordered by their counters (insertion into runs, then merges: O(n log n), n ≤ queue size). */
function sortByCounter(r: usize, list: usize, n: u32): void {
  const tmp = heapAlloc(<usize>n << 2);
  if (tmp == 0) return;                        // keep the scan order: still each once
  for (let width: u32 = 1; width < n; width <<= 1) {
    for (let lo: u32 = 0; lo < n; lo += width << 1) {
      const mid = min(lo + width, n), hi = min(lo + (width << 1), n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        const a = load<u32>(list + (<usize>i << 2)), b = load<u32>(list + (<usize>j << 2));
        if (load<u64>(desc(r, a), 8) <= load<u64>(desc(r, b), 8)) { store<u32>(tmp + (<usize>(k++) << 2), a); i++; }
        else { store<u32>(tmp + (<usize>(k++) << 2), b); j++; }
      }
      while (i < mid) store<u32>(tmp + (<usize>(k++) << 2), load<u32>(list + (<usize>(i++) << 2)));
      while (j < hi) store<u32>(tmp + (<usize>(k++) << 2), load<u32>(list + (<usize>(j++) << 2)));
    }
    memory.copy(list, tmp, <usize>n << 2);
  }
  heapFree(tmp);
}

/** A head was taken from the avail ring: mark it in flight. */
export function inflightTake(v: Vring, head: u32): void {
  if (v.ifRegion == 0 || head >= v.num) return;
  const d = desc(v.ifRegion, head);
  v.ifCounter++;
  store<u64>(d, v.ifCounter, 8);
  atomic.store<u8>(d, 1);
}

/** Before the used element is written: remember which head the batch returns. */
export function inflightBeforeUsed(v: Vring, head: u32): void {
  if (v.ifRegion != 0 && head < v.num) store<u16>(v.ifRegion + W.IF_LAST_BATCH_HEAD, <u16>head);
}

/** After the used index moved: the head is no longer in flight, and the region knows the used index. */
export function inflightAfterUsed(v: Vring, head: u32): void {
  if (v.ifRegion == 0 || head >= v.num) return;
  atomic.store<u8>(desc(v.ifRegion, head), 0);
  atomic.store<u16>(v.ifRegion + W.IF_USED_IDX, <u16>v.lastUsed);
}

/** The next head to submit again after a reconnect, or -1 when none is left. */
export function inflightNextResubmit(v: Vring): i32 {
  if (v.resubmitPos >= v.resubmitCount) {
    if (v.resubmit != 0) { heapFree(v.resubmit); v.resubmit = 0; }
    return -1;
  }
  return <i32>load<u32>(v.resubmit + (<usize>(v.resubmitPos++) << 2));
}
