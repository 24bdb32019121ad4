// A ring's areas (descriptor table, avail ring, used ring) seen through windows: the pages of guest
// memory that hold one are mapped into this memory as well (host_vu_window_map: a window of the
// region's file), so the core reads descriptors and indexes and writes used elements with plain loads
// and stores. A window is small and fixed for its ring's life; it is mapped again only when its ring's
// addresses or the region under them change, and put back to zero pages when the ring goes.

import {
  pagesAlloc, pagesFree, heapAllocZeroed, heapFree, PAGE_SIZE, PAGE_SHIFT, host_vu_window_map, host_vu_unmap,
  report, LEVEL_ERROR, ENOMEM, EINVAL, EFAULT,
} from "../runtime";
import { MemTable, regionAt, uvaFind, memGuardWord } from "./mem";

/** The host's page, the unit of a window (host/native: hostPageSize() on x86-64 and arm64 Linux). */
const HOST_PAGE: u64 = 4096;
/** A hugetlbfs file maps only in whole huge pages: a window is tried at this alignment when 4 KiB is refused. */
const HUGE_PAGE: u64 = 2 << 20;
/** The largest area a window serves: a descriptor table of MAX_QUEUE_SIZE entries (512 KiB) plus alignment. */
const WINDOW_BYTES_MAX: u64 = (512 << 10) + 2 * HUGE_PAGE;

@unmanaged export class RingWindow {
  block: usize;         // pages reserved in this memory (0: no window)
  pages: u32;
  at: usize;            // where the window starts (block, aligned)
  bytes: u64;           // mapped length
  handle: i32;          // the region shown there
  regionOffset: u64;    // the window's first byte in the region
  error: i32;           // windowOpen's -errno when it returned 0
}

export const RING_WINDOWS: u32 = 3;     // desc, avail, used

/** A block of RING_WINDOWS unmapped windows (0 when out of memory). */
export function windowsNew(): usize { return heapAllocZeroed(<usize>RING_WINDOWS * offsetof<RingWindow>()); }

export function windowAt(windows: usize, i: u32): RingWindow {
  assert(i < RING_WINDOWS);
  return changetype<RingWindow>(windows + <usize>i * offsetof<RingWindow>());
}

/** Zero pages back over the window and its pages freed (pages the host could not remap are retired). */
export function windowClose(w: RingWindow): void {
  if (w.block == 0) return;
  const rc = host_vu_unmap(w.at, <f64>w.bytes);
  if (rc == 0) pagesFree(w.block, w.pages);
  else report(LEVEL_ERROR, rc, "vhost: a ring window could not be unmapped; its %d pages are retired", 0, 0, <f64>w.pages);
  w.block = 0;
}

export function windowsFree(windows: usize): void {
  for (let i: u32 = 0; i < RING_WINDOWS; i++) windowClose(windowAt(windows, i));
  heapFree(windows);
}

/** Map region `slot` [start, start + bytes) into fresh pages aligned to `align`: 0 or -errno (w untouched then). */
function windowMap(w: RingWindow, t: MemTable, slot: i32, start: u64, bytes: u64, align: u64): i32 {
  const slack = align > <u64>PAGE_SIZE ? align : 0;
  const pages = <u32>((bytes + slack + <u64>PAGE_SIZE - 1) >> PAGE_SHIFT);
  const block = pagesAlloc(pages);
  if (block == 0) return -ENOMEM;
  const at = <usize>((<u64>block + align - 1) & ~(align - 1));
  const handle = regionAt(t, <u32>slot).handle;
  const rc = host_vu_window_map(memGuardWord(t), <u32>slot + 1, at, <f64>bytes, handle, <f64>start);
  if (rc != 0) { pagesFree(block, pages); return rc; }
  windowClose(w);
  w.block = block;
  w.pages = pages;
  w.at = at;
  w.bytes = bytes;
  w.handle = handle;
  w.regionOffset = start;
  return 0;
}

/**
 * `w` showing QEMU user addresses [uva, uva + len) (one region holds them all): their address in this
 * memory, or 0 (not in one region, too large, or the host refused: -errno in w.error). A window that
 * already shows that range of the same region is kept as it is (a ring running on another reactor
 * reads through it while the controller handles ADD_MEM_REG).
 */
export function windowOpen(w: RingWindow, t: MemTable, uva: u64, len: u64): usize {
  w.error = -EINVAL;
  const slot = uvaFind(t, uva, len);
  if (slot < 0) return 0;
  const r = regionAt(t, <u32>slot);
  const offset = uva - r.userAddr;
  if (w.block != 0 && w.handle == r.handle && offset >= w.regionOffset && offset + len <= w.regionOffset + w.bytes) {
    return w.at + <usize>(offset - w.regionOffset);
  }
  let rc: i32 = -EFAULT;
  for (let align = HOST_PAGE; align <= HUGE_PAGE; align = align == HOST_PAGE ? HUGE_PAGE : HUGE_PAGE << 1) {
    const start = offset & ~(align - 1);
    const end = min((offset + len + align - 1) & ~(align - 1), r.size);
    if (end - start > WINDOW_BYTES_MAX) return 0;
    rc = windowMap(w, t, slot, start, end - start, align);
    if (rc != -EINVAL) break;                      // only a hugetlbfs file refuses 4 KiB alignment
  }
  w.error = rc;
  return rc == 0 ? w.at + <usize>(offset - w.regionOffset) : 0;
}
