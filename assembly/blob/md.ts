// A blob's metadata in memory and its encoding as a chain of md pages (format.ts). Pure: no I/O, no
// threads, so the encoding is tested on its own (tests/as-pect/md.spec.ts). Every block it takes
// comes through one allocator seam (mdUseAllocator) and may be refused: callers get -ENOMEM or
// MD_NO_MEMORY, with everything as it was before the call.

import {
  MD_PAGE_BYTES, MDP_DESCRIPTOR_BYTES, MDP_BLOB_ID, MDP_SEQUENCE, MDP_TAG, MDP_DESCRIPTORS, MDP_NEXT, MDP_NO_NEXT, DESC_HEADER_BYTES, DESC_END,
  DESC_SIZE, DESC_EXTENTS, DESC_XATTR, DESC_XATTR_INTERNAL, DESC_FLAGS, DESC_PARENT, descriptorBytes, sealPage,
  pageCrcOk,
} from "./format";
// Constants only: md.ts must not link the engine's runtime (as-pect builds it with the stock one).
import { ENOMEM, EINVAL, ENOENT } from "../runtime/errno";

export const XATTR_NAME_MAX: u32 = 255;
export const XATTR_VALUE_MAX: u32 = 3072;

@unmanaged export class Xattr {
  next: usize;
  internal: u32;
  nameBytes: u32;
  valueBytes: u32;
  data: usize;          // name bytes, then value bytes
}

@unmanaged export class BlobMd {
  id: u64;
  numClusters: u64;
  clusters: usize;      // u32 device cluster per blob cluster; 0 = not allocated (thin)
  clustersCap: u64;
  flagsInvalid: u64;
  flagsDataRo: u64;
  flagsMdRo: u64;
  parentId: u64;
  xattrs: usize;
}

// ---- memory: the one seam every block of md.ts goes through ----

/** `bytes` bytes, not zeroed, or 0 when the memory cannot give them. */
export type MdAllocFn = (bytes: usize) => usize;
/** Give back a block the MdAllocFn gave (never 0). */
export type MdFreeFn = (ptr: usize) => void;

// The stock runtime's heap, which as-pect links. In the engine heap.alloc stops the engine when the
// memory is short, so the engine installs its fallible heap in every instance (blob store.ts).
function stockAlloc(bytes: usize): usize { return heap.alloc(bytes); }
function stockFree(ptr: usize): void { heap.free(ptr); }

// Per-instance globals (not in the shared memory): each instance installs its own at start.
let allocFn: MdAllocFn = stockAlloc;
let freeFn: MdFreeFn = stockFree;
let allocatorInstalled = false;

/** Take md.ts's memory from `alloc`/`free` from now on, in this instance. */
export function mdUseAllocator(alloc: MdAllocFn, free: MdFreeFn): void {
  allocFn = alloc;
  freeFn = free;
  allocatorInstalled = true;
}

/** Whether this instance installed an allocator (the engine must: the stock one stops it on exhaustion). */
export function mdAllocatorInstalled(): bool { return allocatorInstalled; }

function mdAlloc(bytes: usize): usize { return allocFn(bytes); }
function mdRelease(ptr: usize): void { if (ptr != 0) freeFn(ptr); }

/**
 * Memory a metadata operation holds while it runs (recovery's lists of chain heads and of snapshots
 * caught mid-creation), from the same seam as blob md, so a test refusing md memory reaches it too.
 * 0 when refused; freeing 0 does nothing.
 */
export function mdScratchAlloc(bytes: usize): usize { return mdAlloc(bytes); }
export function mdScratchFree(ptr: usize): void { mdRelease(ptr); }

/** Empty md for blob `id`, or null (as 0) when the memory cannot hold it. */
export function mdNew(id: u64): BlobMd {
  const md = changetype<BlobMd>(mdAlloc(offsetof<BlobMd>()));
  if (changetype<usize>(md) == 0) return md;
  memory.fill(changetype<usize>(md), 0, offsetof<BlobMd>());
  md.id = id;
  return md;
}

function xattrFree(x: Xattr): void {
  mdRelease(x.data);
  mdRelease(changetype<usize>(x));
}

export function mdFree(md: BlobMd): void {
  let x = md.xattrs;
  while (x != 0) {
    const next = changetype<Xattr>(x).next;
    xattrFree(changetype<Xattr>(x));
    x = next;
  }
  mdRelease(md.clusters);
  mdRelease(changetype<usize>(md));
}

/**
 * The most clusters one blob may have: its map (a u32 per cluster) must fit this 32-bit memory with
 * room to spare (256 MiB of map; 64 TiB of blob with 1 MiB clusters). A size past it, asked for or
 * read from a page, would otherwise wrap the map's byte count and write past the block.
 */
export const MD_MAX_CLUSTERS: u64 = 1 << 26;

function capFor(md: BlobMd, clusters: u64): u64 {
  let cap = md.clustersCap == 0 ? 16 : md.clustersCap;
  while (cap < clusters) cap <<= 1;
  return cap;
}

/** Bytes of the larger map resizing `md` to `clusters` needs (0: the map is large enough). */
export function mdGrowBytes(md: BlobMd, clusters: u64): usize {
  assert(clusters <= MD_MAX_CLUSTERS);
  return clusters > md.clustersCap ? <usize>capFor(md, clusters) << 2 : 0;
}

/** Take `grown` (mdGrowBytes bytes; 0 when the map is large enough) as the map for `clusters` entries. */
function resizeWith(md: BlobMd, clusters: u64, grown: usize): void {
  assert(clusters <= MD_MAX_CLUSTERS);
  if (clusters > md.clustersCap) {
    assert(grown != 0);
    const cap = capFor(md, clusters);
    memory.fill(grown, 0, <usize>cap << 2);
    if (md.clusters != 0) { memory.copy(grown, md.clusters, <usize>md.numClusters << 2); mdRelease(md.clusters); }
    md.clusters = grown;
    md.clustersCap = cap;
  }
  if (clusters < md.numClusters) memory.fill(md.clusters + (<usize>clusters << 2), 0, <usize>(md.numClusters - clusters) << 2);
  md.numClusters = clusters;
}

/**
 * Resize to `clusters` entries (new ones unallocated): 0, -EINVAL past MD_MAX_CLUSTERS, -ENOMEM when
 * the larger map cannot be had (`md` unchanged on both). Shrinking never fails.
 */
export function mdResize(md: BlobMd, clusters: u64): i32 {
  if (clusters > MD_MAX_CLUSTERS) return -EINVAL;
  const bytes = mdGrowBytes(md, clusters);
  const grown: usize = bytes == 0 ? 0 : mdAlloc(bytes);
  if (bytes != 0 && grown == 0) return -ENOMEM;
  resizeWith(md, clusters, grown);
  return 0;
}

export function mdCluster(md: BlobMd, i: u64): u32 { return load<u32>(md.clusters + (<usize>i << 2)); }
export function mdSetCluster(md: BlobMd, i: u64, c: u32): void { store<u32>(md.clusters + (<usize>i << 2), c); }

/** The xattr named (name, nameBytes) of that kind, or 0. */
export function xattrFind(md: BlobMd, name: usize, nameBytes: u32, internal: bool): usize {
  for (let x = md.xattrs; x != 0; x = changetype<Xattr>(x).next) {
    const a = changetype<Xattr>(x);
    if (a.internal == (internal ? 1 : 0) && a.nameBytes == nameBytes && memory.compare(a.data, name, nameBytes) == 0) return x;
  }
  return 0;
}

/**
 * Set (replace) an xattr: 0, -EINVAL past the size limits, -ENOMEM when the memory cannot hold it.
 * Both blocks are taken before the old value goes, so a refusal leaves the md as it was.
 */
export function xattrSet(md: BlobMd, name: usize, nameBytes: u32, value: usize, valueBytes: u32, internal: bool): i32 {
  if (nameBytes == 0 || nameBytes > XATTR_NAME_MAX || valueBytes > XATTR_VALUE_MAX) return -EINVAL;
  const x = changetype<Xattr>(mdAlloc(offsetof<Xattr>()));
  if (changetype<usize>(x) == 0) return -ENOMEM;
  x.data = mdAlloc(<usize>nameBytes + <usize>valueBytes + 1);
  if (x.data == 0) { mdRelease(changetype<usize>(x)); return -ENOMEM; }
  x.internal = internal ? 1 : 0;
  x.nameBytes = nameBytes;
  x.valueBytes = valueBytes;
  memory.copy(x.data, name, nameBytes);
  memory.copy(x.data + nameBytes, value, valueBytes);
  xattrRemove(md, name, nameBytes, internal);
  x.next = md.xattrs;
  md.xattrs = changetype<usize>(x);
  return 0;
}

/** Remove an xattr; -ENOENT (as -2) if there is none. */
export function xattrRemove(md: BlobMd, name: usize, nameBytes: u32, internal: bool): i32 {
  let link = changetype<usize>(md) + offsetof<BlobMd>("xattrs");
  while (load<usize>(link) != 0) {
    const a = changetype<Xattr>(load<usize>(link));
    if (a.internal == (internal ? 1 : 0) && a.nameBytes == nameBytes && memory.compare(a.data, name, nameBytes) == 0) {
      store<usize>(link, a.next);
      xattrFree(a);
      return 0;
    }
    link = changetype<usize>(a) + offsetof<Xattr>("next");
  }
  return -ENOENT;
}

// ---- encoding ----

// The encoder's cursor over consecutive 4 KiB page buffers. Per-instance globals, not an allocated
// struct: an encode runs from start to end without yielding, so one cursor per instance serves, and
// an encode needs no memory of its own (it cannot fail for want of it).
let encPages: usize = 0;
let encMaxPages: u32 = 0;
let encPage: u32 = 0;         // current page
let encAt: u32 = 0;           // offset in the current page

function pageAt(page: u32): usize { return encPages + (<usize>page << 12); }

function beginPage(): void {
  memory.fill(pageAt(encPage), 0, MD_PAGE_BYTES);
  encAt = <u32>MDP_DESCRIPTORS;
}

/** Room for a descriptor of `payload` bytes: on this page, or a fresh one. False if out of pages. */
function reserve(payload: u32): bool {
  const need = descriptorBytes(payload);
  if (encAt + need <= <u32>MDP_NEXT) return true;
  if (encPage + 1 >= encMaxPages) return false;
  encPage++;
  beginPage();
  return encAt + need <= <u32>MDP_NEXT;
}

function putHeader(type: u8, payload: u32): usize {
  const p = pageAt(encPage) + encAt;
  store<u8>(p, type);
  store<u32>(p + 4, payload);
  encAt += descriptorBytes(payload);
  return p + DESC_HEADER_BYTES;
}

/** Most extent pairs one descriptor may hold (an empty page, after its header and first index). */
const MAX_PAIRS_PER_DESC: u32 = (MDP_DESCRIPTOR_BYTES - DESC_HEADER_BYTES - 8) / 8;

/**
 * Encode `md` into up to `maxPages` consecutive page buffers, each carrying the store's `tag`.
 * `pageIndexes[i]` is the md page index page i will be written to (for the chain's next pointers).
 * Returns the pages used, or 0 if the metadata needs more than maxPages.
 */
export function mdEncode(md: BlobMd, pages: usize, maxPages: u32, pageIndexes: usize, tag: u32 = 0): u32 {
  assert(maxPages > 0);
  encPages = pages; encMaxPages = maxPages; encPage = 0;
  beginPage();
  let ok = reserve(8);
  if (ok) store<u64>(putHeader(DESC_SIZE, 8), md.numClusters);
  if (ok && (md.flagsInvalid | md.flagsDataRo | md.flagsMdRo) != 0) {
    ok = reserve(24);
    if (ok) {
      const p = putHeader(DESC_FLAGS, 24);
      store<u64>(p, md.flagsInvalid); store<u64>(p, md.flagsDataRo, 8); store<u64>(p, md.flagsMdRo, 16);
    }
  }
  if (ok && md.parentId != 0) {
    ok = reserve(8);
    if (ok) store<u64>(putHeader(DESC_PARENT, 8), md.parentId);
  }
  for (let x = md.xattrs; ok && x != 0; x = changetype<Xattr>(x).next) {
    const a = changetype<Xattr>(x);
    const payload = 8 + a.nameBytes + a.valueBytes;
    ok = reserve(payload);
    if (!ok) break;
    const p = putHeader(a.internal != 0 ? DESC_XATTR_INTERNAL : DESC_XATTR, payload);
    store<u16>(p, <u16>a.nameBytes);
    store<u32>(p, a.valueBytes, 4);
    memory.copy(p + 8, a.data, <usize>a.nameBytes + <usize>a.valueBytes);
  }
  // Extents as runs of consecutive device clusters; a run of 0 is unallocated space.
  let i: u64 = 0;
  while (ok && i < md.numClusters) {
    // Fill the rest of this page (or a fresh one) with one descriptor.
    if (!reserve(8 + 8)) { ok = false; break; }
    const room = (<u32>MDP_NEXT - encAt - DESC_HEADER_BYTES - 8) / 8;
    const maxPairs = min(room, MAX_PAIRS_PER_DESC);
    const first = i;
    const pairsAt = pageAt(encPage) + encAt + DESC_HEADER_BYTES + 8;
    let pairs: u32 = 0;
    while (i < md.numClusters && pairs < maxPairs) {
      const start = mdCluster(md, i);
      let count: u32 = 1;
      while (i + <u64>count < md.numClusters && count < 0xffffffff) {
        const next = mdCluster(md, i + <u64>count);
        if (start == 0 ? next != 0 : next != start + count) break;
        count++;
      }
      store<u32>(pairsAt + (<usize>pairs << 3), start);
      store<u32>(pairsAt + (<usize>pairs << 3), count, 4);
      pairs++;
      i += <u64>count;
    }
    const p = putHeader(DESC_EXTENTS, 8 + pairs * 8);
    store<u64>(p, first);
  }
  const used = ok ? encPage + 1 : 0;
  for (let pg: u32 = 0; pg < used; pg++) {
    const p = pages + (<usize>pg << 12);
    store<u64>(p + MDP_BLOB_ID, md.id);
    store<u32>(p + MDP_SEQUENCE, pg);
    store<u32>(p + MDP_TAG, tag);
    store<u32>(p + MDP_NEXT, pg + 1 < used ? load<u32>(pageIndexes + (<usize>(pg + 1) << 2)) : MDP_NO_NEXT);
    sealPage(p);
  }
  return used;
}

/**
 * How many pages mdEncode will need (so the caller can find free pages first), by encoding into the
 * caller's `scratch` (maxPages pages) with `indexes` (maxPages u32, overwritten): 0 if more than
 * maxPages. The caller allocates both: a quarter MiB of scratch must be able to fail without stopping
 * the engine.
 */
export function mdPagesNeeded(md: BlobMd, scratch: usize, indexes: usize, maxPages: u32): u32 {
  memory.fill(indexes, 0, <usize>maxPages << 2);
  return mdEncode(md, scratch, maxPages, indexes);
}

// ---- decoding ----
export const MD_OK: i32 = 0;
export const MD_BAD_CRC: i32 = 1;
export const MD_WRONG_BLOB: i32 = 2;
export const MD_WRONG_SEQUENCE: i32 = 3;
export const MD_BAD_DESCRIPTOR: i32 = 4;
export const MD_EXTENT_PAST_SIZE: i32 = 5;
/** Not a fault of the page: the memory could not hold its map or an xattr (ENOMEM, not damage). */
export const MD_NO_MEMORY: i32 = 6;
/** The page carries another tag than the store's: written under another geometry (or for another store). */
export const MD_WRONG_TAG: i32 = 7;

/** Why mdDecodePage refused a page, for the messages that report it. */
export function mdDecodeError(rc: i32): string {
  switch (rc) {
    case MD_OK: return "no error";
    case MD_BAD_CRC: return "it fails its CRC";
    case MD_WRONG_BLOB: return "it belongs to another blob";
    case MD_WRONG_SEQUENCE: return "it is out of order in its chain";
    case MD_BAD_DESCRIPTOR: return "it holds a bad descriptor";
    case MD_EXTENT_PAST_SIZE: return "an extent runs past the blob's size";
    case MD_NO_MEMORY: return "no memory for its cluster map or xattrs";
    case MD_WRONG_TAG: return "it carries another store's tag";
    default: return "unknown decode result";
  }
}

/** MD_NO_MEMORY for -ENOMEM, else `invalid`: an md.ts refusal turned into a decode result. */
function decodeResult(rc: i32, invalid: i32): i32 {
  assert(rc == -ENOMEM || rc == -EINVAL);
  return rc == -ENOMEM ? MD_NO_MEMORY : invalid;
}

/** Where a decode failed (descriptor offset in the page), for the error message. */
export let mdErrorOffset: u32 = 0;

/**
 * Apply one page of a chain to `md` (which starts with id set and everything else empty). Checks the
 * CRC, the store's `tag`, the blob id and the sequence number; returns MD_OK or why the page is refused. MD_NO_MEMORY is
 * the memory's fault, not the page's: the caller fails with ENOMEM instead of refusing the blob. On
 * any refusal `md` may hold part of the page; it stays the caller's to free.
 */
export function mdDecodePage(md: BlobMd, page: usize, sequence: u32, tag: u32 = 0): i32 {
  if (!pageCrcOk(page)) return MD_BAD_CRC;
  if (load<u32>(page + MDP_TAG) != tag) return MD_WRONG_TAG;
  if (load<u64>(page + MDP_BLOB_ID) != md.id) return MD_WRONG_BLOB;
  if (load<u32>(page + MDP_SEQUENCE) != sequence) return MD_WRONG_SEQUENCE;
  let at = <u32>MDP_DESCRIPTORS;
  while (at + DESC_HEADER_BYTES <= <u32>MDP_NEXT) {
    const p = page + at;
    const type = load<u8>(p);
    if (type == DESC_END) break;
    const payload = load<u32>(p + 4);
    mdErrorOffset = at;
    if (payload > <u32>MDP_NEXT || at + descriptorBytes(payload) > <u32>MDP_NEXT) return MD_BAD_DESCRIPTOR;
    const body = p + DESC_HEADER_BYTES;
    switch (type) {
      case DESC_SIZE: {
        if (payload != 8) return MD_BAD_DESCRIPTOR;
        const sized = mdResize(md, load<u64>(body));
        if (sized != 0) return decodeResult(sized, MD_BAD_DESCRIPTOR);
        break;
      }
      case DESC_FLAGS: {
        if (payload != 24) return MD_BAD_DESCRIPTOR;
        md.flagsInvalid = load<u64>(body); md.flagsDataRo = load<u64>(body, 8); md.flagsMdRo = load<u64>(body, 16);
        break;
      }
      case DESC_PARENT: {
        // Only on a chain's first page, which is all the load reads to know what a blob reads through.
        if (payload != 8 || sequence != 0) return MD_BAD_DESCRIPTOR;
        md.parentId = load<u64>(body);
        break;
      }
      case DESC_XATTR:
      case DESC_XATTR_INTERNAL: {
        if (payload < 8) return MD_BAD_DESCRIPTOR;
        const nameBytes = <u32>load<u16>(body);
        const valueBytes = load<u32>(body, 4);
        if (<u64>8 + <u64>nameBytes + <u64>valueBytes != <u64>payload) return MD_BAD_DESCRIPTOR;
        const set = xattrSet(md, body + 8, nameBytes, body + 8 + nameBytes, valueBytes, type == DESC_XATTR_INTERNAL);
        if (set != 0) return decodeResult(set, MD_BAD_DESCRIPTOR);
        break;
      }
      case DESC_EXTENTS: {
        if (payload < 8 || ((payload - 8) & 7) != 0) return MD_BAD_DESCRIPTOR;
        let i = load<u64>(body);
        const pairs = (payload - 8) >> 3;
        for (let k: u32 = 0; k < pairs; k++) {
          const start = load<u32>(body + 8 + (<usize>k << 3));
          const count = load<u32>(body + 8 + (<usize>k << 3), 4);
          if (count == 0 || i + <u64>count > md.numClusters) return MD_EXTENT_PAST_SIZE;
          for (let c: u32 = 0; c < count; c++) mdSetCluster(md, i + <u64>c, start == 0 ? 0 : start + c);
          i += <u64>count;
        }
        break;
      }
      default:
        return MD_BAD_DESCRIPTOR;          // unknown types are refused; new features use the flags
    }
    at += descriptorBytes(payload);
  }
  return MD_OK;
}

export function mdNextPage(page: usize): u32 { return load<u32>(page + MDP_NEXT); }
