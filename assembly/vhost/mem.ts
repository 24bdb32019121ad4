// A session's guest memory: up to MAX_REGIONS regions, each mapped by the host OUTSIDE this memory
// (host/native/src/guestmem.h) and named by the host's handle. Guest physical addresses (descriptors)
// and QEMU's user addresses (ring addresses) are translated here into (region, offset), always with
// the whole range checked against one region: a hostile guest can only name bytes of its own memory,
// and the host checks every access against the region again. Rings are seen through windows (the
// region's pages mapped into this memory as well, ringwindow.ts); everything else through host copies.

import {
  heapAllocZeroed, heapFree, host_vu_region_map, host_vu_region_unmap, host_fd_close, host_vu_fd_kind,
  host_vu_fd_bytes, report, FD_KIND_FILE, LEVEL_ERROR, EINVAL, ENODEV, ENOSPC,
} from "../runtime";

/**
 * Regions per session: GET_MAX_MEM_SLOTS answers this (CONFIGURE_MEM_SLOTS), SET_MEM_TABLE carries at
 * most 8 of them and ADD_MEM_REG the rest (memory hot-plug). The host's table holds 4096 over all guests.
 */
export const MAX_REGIONS: u32 = 32;
/** The host's bound on a region (guestmem.h): offsets stay exact as f64. */
const REGION_BYTES_MAX: u64 = (<u64>1 << 53) - 1;

@unmanaged export class Region {
  guestAddr: u64;
  size: u64;
  userAddr: u64;
  handle: i32;          // the host's handle (0: slot unused)
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

/** The guard word's address, which every mapping of this table's memory (regions, ring windows) reports to. */
export function memGuardWord(t: MemTable): usize { return changetype<usize>(t) + offsetof<MemTable>("broken"); }

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
  if (size == 0 || size > REGION_BYTES_MAX) return -EINVAL;
  if (gpa + size < gpa || uva + size < uva || off + size < off) return -EINVAL;
  if ((off & <u64>(4095)) != 0) return -EINVAL;
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.handle == 0) continue;
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
 * Have the host map a checked region outside this memory; the fd is closed either way (the host keeps
 * its own). 0, -ENOSPC (this table is full), or the host's -errno (-ENOSPC: its table is full).
 */
export function regionAdd(t: MemTable, src: usize, fd: i32): i32 {
  let slot: i32 = -1;
  for (let i: u32 = 0; i < MAX_REGIONS; i++) if (regionAt(t, i).handle == 0) { slot = <i32>i; break; }
  if (slot < 0) { host_fd_close(fd); return -ENOSPC; }
  const size = load<u64>(src, 8);
  const handle = host_vu_region_map(memGuardWord(t), <u32>slot + 1, fd, <f64>load<u64>(src, 24), <f64>size);
  host_fd_close(fd);
  if (handle < 0) return handle;
  assert(handle > 0, "regionAdd: the host returned handle 0");
  const r = regionAt(t, <u32>slot);
  r.guestAddr = load<u64>(src);
  r.size = size;
  r.userAddr = load<u64>(src, 16);
  // Last, and atomically: a queue worker on another reactor may be translating through the table now.
  atomic.store<i32>(changetype<usize>(r) + offsetof<Region>("handle"), handle);
  t.count++;
  return 0;
}

function regionDrop(t: MemTable, r: Region): void {
  const rc = host_vu_region_unmap(r.handle);
  // Only a core bug (a handle forgotten or dropped twice) gets here; the host's table stays right.
  if (rc != 0) report(LEVEL_ERROR, rc, "vhost: the host did not know guest memory region handle %d", 0, 0, <f64>r.handle);
  // A worker that translated through it a moment ago holds a handle the host now refuses (EBADF).
  atomic.store<i32>(changetype<usize>(r) + offsetof<Region>("handle"), 0);
  t.count--;
}

/** The slot of the region the wire payload `src` names exactly (REM_MEM_REG), or -1. */
export function regionMatching(t: MemTable, src: usize): i32 {
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.handle != 0 && r.guestAddr == load<u64>(src) && r.size == load<u64>(src, 8) && r.userAddr == load<u64>(src, 16)) return <i32>i;
  }
  return -1;
}

/** Remove the region the wire payload `src` names (REM_MEM_REG): -EINVAL if there is none like it. */
export function regionRemove(t: MemTable, src: usize): i32 {
  const slot = regionMatching(t, src);
  if (slot < 0) return -EINVAL;
  regionDrop(t, regionAt(t, <u32>slot));
  return 0;
}

export function memUnmapAll(t: MemTable): void {
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.handle != 0) regionDrop(t, r);
  }
}

/**
 * The slot of the region holding all of [addr, addr + len), in guest physical or QEMU user addresses,
 * or -1 if no one region holds it. Its offset there is addr less the region's start.
 */
function find(t: MemTable, addr: u64, len: u64, user: bool): i32 {
  for (let i: u32 = 0; i < MAX_REGIONS; i++) {
    const r = regionAt(t, i);
    if (r.handle == 0) continue;
    const start = user ? r.userAddr : r.guestAddr;
    if (addr >= start && addr - start < r.size && len <= r.size - (addr - start)) return <i32>i;
  }
  return -1;
}

/** Guest physical addresses (descriptors): the slot, or -1. */
export function gpaFind(t: MemTable, gpa: u64, len: u64): i32 { return find(t, gpa, len, false); }

/** QEMU's user addresses (SET_VRING_ADDR): the slot, or -1. */
export function uvaFind(t: MemTable, uva: u64, len: u64): i32 { return find(t, uva, len, true); }
