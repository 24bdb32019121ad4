// A session's guest memory: up to MAX_REGIONS regions, each mapped (by the host) into this Wasm
// memory at a block of pages the core reserved for it, so the core reads rings and descriptors and
// the bdev layer moves data with plain Wasm addresses. Guest physical addresses (descriptors) and
// QEMU's user addresses (ring addresses) are translated here, always with the whole range checked
// against one region: a hostile guest can only name bytes of its own memory.

import {
  pagesAlloc, pagesFree, heapAllocZeroed, heapFree, PAGE_SIZE, PAGE_SHIFT, host_vu_map, host_vu_unmap, host_fd_close, host_vu_fd_kind,
  host_vu_fd_bytes, report, FD_KIND_FILE, LEVEL_ERROR, EINVAL, ENODEV, ENOMEM, ENOSPC,
} from "../runtime";

export const MAX_REGIONS: u32 = 8;

@unmanaged export class Region {
  guestAddr: u64;
  size: u64;
  userAddr: u64;
  wasm: usize;          // where the region starts in this memory (0: slot unused)
  pages: u32;           // reserved 64 KiB pages
}

/** `regions` holds MAX_REGIONS Regions inline (offsetof<Region>() bytes each). */
@unmanaged export class MemTable {
  count: u32;
  broken: u32;          // guard word: slot + 1 of a region whose file shrank under us (SIGBUS repaired), 0 if none
  regions: usize;
}

/** The region (slot) that broke under its mapping, or -1: the session must end (read with an atomic load). */
export function memBrokenRegion(t: MemTable): i32 {
  return <i32>atomic.load<u32>(changetype<usize>(t) + offsetof<MemTable>("broken")) - 1;
}

/** A MemTable with its regions in one block (0 when out of memory). */
export function memTableNew(): usize {
  const p = heapAllocZeroed(offsetof<MemTable>() + <usize>MAX_REGIONS * offsetof<Region>());
  if (p != 0) changetype<MemTable>(p).regions = p + offsetof<MemTable>();
  return p;
}

export function memTableFree(t: MemTable): void {
  memUnmapAll(t);
  heapFree(changetype<usize>(t));
}

export function regionAt(t: MemTable, i: u32): Region {
  assert(i < MAX_REGIONS);
  return changetype<Region>(t.regions + <usize>i * offsetof<Region>());
}

/** Whether [a, a + n) and [b, b + m) overlap (no overflow: both ends were checked). */
function overlaps(a: u64, n: u64, b: u64, m: u64): bool { return a < b + m && b < a + n; }

/**
 * Check one region as the guest described it (`src` is REGION_BYTES of wire payload) against the
 * regions already in `t`: non-empty, no wrap-around in either address space, no overlap. 0 or -EINVAL.
 */
export function regionCheck(t: MemTable, src: usize): i32 {   // src: REGION_BYTES (wire.ts)
  const gpa = load<u64>(src), size = load<u64>(src, 8), uva = load<u64>(src, 16), off = load<u64>(src, 24);
  if (size == 0 || size > 0xC0000000) return -EINVAL;           // must fit this 32-bit memory with room to spare
  if (gpa + size < gpa || uva + size < uva || off + size < off) return -EINVAL;
  if ((off & <u64>(4095)) != 0) return -EINVAL;
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.wasm == 0) continue;
    if (overlaps(gpa, size, r.guestAddr, r.size) || overlaps(uva, size, r.userAddr, r.size)) return -EINVAL;
  }
  return 0;
}

/**
 * How far the region (`src`, wire payload) runs past the end of its file `fd`: 0 when it fits, > 0 the
 * bytes missing, -ENODEV when `fd` is not a regular file (memfd, tmpfs, hugetlbfs) at all, or -errno.
 */
export function regionFdShortfall(src: usize, fd: i32): f64 {
  if (host_vu_fd_kind(fd) != FD_KIND_FILE) return -ENODEV;
  const bytes = host_vu_fd_bytes(fd);
  if (bytes < 0) return bytes;
  const end = <f64>load<u64>(src, 24) + <f64>load<u64>(src, 8);   // exact below 2^53; above, past any file anyway
  return end > bytes ? end - bytes : 0;
}

/**
 * Reserve pages for a checked region and have the host map `fd` there; the fd is closed either way
 * (the mapping holds the memory). 0, -ENOSPC (table full), -ENOMEM (no room in this memory), or the
 * host's -errno.
 */
export function regionAdd(t: MemTable, src: usize, fd: i32): i32 {
  let slot: i32 = -1;
  for (let i: u32 = 0; i < MAX_REGIONS; i++) if (regionAt(t, i).wasm == 0) { slot = <i32>i; break; }
  if (slot < 0) { host_fd_close(fd); return -ENOSPC; }
  const size = load<u64>(src, 8);
  const pages = <u32>((size + <u64>PAGE_SIZE - 1) >> PAGE_SHIFT);
  const base = pagesAlloc(pages);
  if (base == 0) { host_fd_close(fd); return -ENOMEM; }
  const rc = host_vu_map(base, <f64>size, fd, <f64>load<u64>(src, 24), changetype<usize>(t) + offsetof<MemTable>("broken"), <u32>slot + 1);
  host_fd_close(fd);
  if (rc != 0) { pagesFree(base, pages); return rc; }
  const r = regionAt(t, <u32>slot);
  r.guestAddr = load<u64>(src);
  r.size = size;
  r.userAddr = load<u64>(src, 16);
  r.pages = pages;
  r.wasm = base;
  t.count++;
  return 0;
}

function regionDrop(t: MemTable, r: Region): void {
  const rc = host_vu_unmap(r.wasm, <f64>r.size);
  // Pages whose mapping could not be replaced still show guest memory: never hand them out again.
  if (rc == 0) pagesFree(r.wasm, r.pages);
  else report(LEVEL_ERROR, rc, "vhost: a guest memory region could not be unmapped; its %d pages are retired", 0, 0, <f64>r.pages);
  r.wasm = 0;
  t.count--;
}

/** Remove the region the wire payload `src` names (REM_MEM_REG): -EINVAL if there is none like it. */
export function regionRemove(t: MemTable, src: usize): i32 {
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.wasm != 0 && r.guestAddr == load<u64>(src) && r.size == load<u64>(src, 8) && r.userAddr == load<u64>(src, 16)) {
      regionDrop(t, r);
      return 0;
    }
  }
  return -EINVAL;
}

export function memUnmapAll(t: MemTable): void {
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.wasm != 0) regionDrop(t, r);
  }
}

/** Where [addr, addr + len) is in this memory, in guest physical or QEMU user addresses; 0 if it is not inside one region. */
function translate(t: MemTable, addr: u64, len: u64, user: bool): usize {
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.wasm == 0) continue;
    const start = user ? r.userAddr : r.guestAddr;
    if (addr >= start && addr - start < r.size && len <= r.size - (addr - start)) return r.wasm + <usize>(addr - start);
  }
  return 0;
}

/** Guest physical addresses (descriptors). */
export function gpaToWasm(t: MemTable, gpa: u64, len: u64): usize { return translate(t, gpa, len, false); }

/** QEMU's user addresses (SET_VRING_ADDR). */
export function uvaToWasm(t: MemTable, uva: u64, len: u64): usize { return translate(t, uva, len, true); }
