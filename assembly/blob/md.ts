// A blob's metadata in memory and its encoding as a chain of md pages (format.ts). Pure: no I/O, no
// threads, so the encoding is tested on its own (tests/as-pect/md.spec.ts).

import {
  MD_PAGE_BYTES, MDP_DESCRIPTOR_BYTES, MDP_BLOB_ID, MDP_SEQUENCE, MDP_DESCRIPTORS, MDP_NEXT, MDP_NO_NEXT, DESC_HEADER_BYTES, DESC_END,
  DESC_SIZE, DESC_EXTENTS, DESC_XATTR, DESC_XATTR_INTERNAL, DESC_FLAGS, DESC_PARENT, descriptorBytes, sealPage,
  pageCrcOk,
} from "./format";

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

export function mdNew(id: u64): BlobMd {
  const md = changetype<BlobMd>(heap.alloc(offsetof<BlobMd>()));
  memory.fill(changetype<usize>(md), 0, offsetof<BlobMd>());
  md.id = id;
  return md;
}

export function mdFree(md: BlobMd): void {
  let x = md.xattrs;
  while (x != 0) {
    const next = changetype<Xattr>(x).next;
    heap.free(changetype<Xattr>(x).data);
    heap.free(x);
    x = next;
  }
  if (md.clusters != 0) heap.free(md.clusters);
  heap.free(changetype<usize>(md));
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

/**
 * Resize to `clusters` entries (new ones unallocated), taking `grown` (mdGrowBytes bytes, allocated
 * by the caller; 0 when none are needed) as the new map. Cannot fail.
 */
export function mdResizeWith(md: BlobMd, clusters: u64, grown: usize): void {
  assert(clusters <= MD_MAX_CLUSTERS);
  if (clusters > md.clustersCap) {
    assert(grown != 0);
    const cap = capFor(md, clusters);
    memory.fill(grown, 0, <usize>cap << 2);
    if (md.clusters != 0) { memory.copy(grown, md.clusters, <usize>md.numClusters << 2); heap.free(md.clusters); }
    md.clusters = grown;
    md.clustersCap = cap;
  }
  if (clusters < md.numClusters) memory.fill(md.clusters + (<usize>clusters << 2), 0, <usize>(md.numClusters - clusters) << 2);
  md.numClusters = clusters;
}

/** Resize to `clusters` entries (new ones unallocated); false past MD_MAX_CLUSTERS (nothing changed). */
export function mdResize(md: BlobMd, clusters: u64): bool {
  if (clusters > MD_MAX_CLUSTERS) return false;
  const bytes = mdGrowBytes(md, clusters);
  mdResizeWith(md, clusters, bytes == 0 ? 0 : heap.alloc(bytes));
  return true;
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

/** Set (replace) an xattr. -EINVAL (as -22) past the size limits. */
export function xattrSet(md: BlobMd, name: usize, nameBytes: u32, value: usize, valueBytes: u32, internal: bool): i32 {
  if (nameBytes == 0 || nameBytes > XATTR_NAME_MAX || valueBytes > XATTR_VALUE_MAX) return -22;
  xattrRemove(md, name, nameBytes, internal);
  const x = changetype<Xattr>(heap.alloc(offsetof<Xattr>()));
  x.internal = internal ? 1 : 0;
  x.nameBytes = nameBytes;
  x.valueBytes = valueBytes;
  x.data = heap.alloc(<usize>nameBytes + <usize>valueBytes + 1);
  memory.copy(x.data, name, nameBytes);
  memory.copy(x.data + nameBytes, value, valueBytes);
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
      heap.free(a.data);
      heap.free(changetype<usize>(a));
      return 0;
    }
    link = changetype<usize>(a) + offsetof<Xattr>("next");
  }
  return -2;
}

// ---- encoding ----

/** Writes descriptors into consecutive pages, moving to the next page when one is full. */
@unmanaged class Writer {
  pages: usize;         // consecutive 4 KiB buffers
  maxPages: u32;
  page: u32;            // current page
  at: u32;              // offset in the current page
}

function beginPage(w: Writer): void {
  const p = w.pages + (<usize>w.page << 12);
  memory.fill(p, 0, MD_PAGE_BYTES);
  w.at = <u32>MDP_DESCRIPTORS;
}

/** Room for a descriptor of `payload` bytes: on this page, or a fresh one. False if out of pages. */
function reserve(w: Writer, payload: u32): bool {
  const need = descriptorBytes(payload);
  if (w.at + need <= <u32>MDP_NEXT) return true;
  if (w.page + 1 >= w.maxPages) return false;
  w.page++;
  beginPage(w);
  return w.at + need <= <u32>MDP_NEXT;
}

function putHeader(w: Writer, type: u8, payload: u32): usize {
  const p = w.pages + (<usize>w.page << 12) + w.at;
  store<u8>(p, type);
  store<u32>(p + 4, payload);
  w.at += descriptorBytes(payload);
  return p + DESC_HEADER_BYTES;
}

/** Most extent pairs one descriptor may hold (an empty page, after its header and first index). */
const MAX_PAIRS_PER_DESC: u32 = (MDP_DESCRIPTOR_BYTES - DESC_HEADER_BYTES - 8) / 8;

/**
 * Encode `md` into up to `maxPages` consecutive page buffers. `pageIndexes[i]` is the md page index
 * page i will be written to (for the chain's next pointers). Returns the pages used, or 0 if the
 * metadata needs more than maxPages.
 */
export function mdEncode(md: BlobMd, pages: usize, maxPages: u32, pageIndexes: usize): u32 {
  const w = changetype<Writer>(heap.alloc(offsetof<Writer>()));
  w.pages = pages; w.maxPages = maxPages; w.page = 0;
  beginPage(w);
  let ok = reserve(w, 8);
  if (ok) store<u64>(putHeader(w, DESC_SIZE, 8), md.numClusters);
  if (ok && (md.flagsInvalid | md.flagsDataRo | md.flagsMdRo) != 0) {
    ok = reserve(w, 24);
    if (ok) {
      const p = putHeader(w, DESC_FLAGS, 24);
      store<u64>(p, md.flagsInvalid); store<u64>(p, md.flagsDataRo, 8); store<u64>(p, md.flagsMdRo, 16);
    }
  }
  if (ok && md.parentId != 0) {
    ok = reserve(w, 8);
    if (ok) store<u64>(putHeader(w, DESC_PARENT, 8), md.parentId);
  }
  for (let x = md.xattrs; ok && x != 0; x = changetype<Xattr>(x).next) {
    const a = changetype<Xattr>(x);
    const payload = 8 + a.nameBytes + a.valueBytes;
    ok = reserve(w, payload);
    if (!ok) break;
    const p = putHeader(w, a.internal != 0 ? DESC_XATTR_INTERNAL : DESC_XATTR, payload);
    store<u16>(p, <u16>a.nameBytes);
    store<u32>(p, a.valueBytes, 4);
    memory.copy(p + 8, a.data, <usize>a.nameBytes + <usize>a.valueBytes);
  }
  // Extents as runs of consecutive device clusters; a run of 0 is unallocated space.
  let i: u64 = 0;
  while (ok && i < md.numClusters) {
    // Fill the rest of this page (or a fresh one) with one descriptor.
    if (!reserve(w, 8 + 8)) { ok = false; break; }
    const room = (<u32>MDP_NEXT - w.at - DESC_HEADER_BYTES - 8) / 8;
    const maxPairs = min(room, MAX_PAIRS_PER_DESC);
    const first = i;
    const pairsAt = w.pages + (<usize>w.page << 12) + w.at + DESC_HEADER_BYTES + 8;
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
    const p = putHeader(w, DESC_EXTENTS, 8 + pairs * 8);
    store<u64>(p, first);
  }
  const used = ok ? w.page + 1 : 0;
  for (let pg: u32 = 0; pg < used; pg++) {
    const p = pages + (<usize>pg << 12);
    store<u64>(p + MDP_BLOB_ID, md.id);
    store<u32>(p + MDP_SEQUENCE, pg);
    store<u32>(p + MDP_NEXT, pg + 1 < used ? load<u32>(pageIndexes + (<usize>(pg + 1) << 2)) : MDP_NO_NEXT);
    sealPage(p);
  }
  heap.free(changetype<usize>(w));
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

/** Where a decode failed (descriptor offset in the page), for the error message. */
export let mdErrorOffset: u32 = 0;

/**
 * Apply one page of a chain to `md` (which starts with id set and everything else empty). Checks the
 * CRC, the blob id and the sequence number; returns MD_OK or why the page is refused.
 */
export function mdDecodePage(md: BlobMd, page: usize, sequence: u32): i32 {
  if (!pageCrcOk(page)) return MD_BAD_CRC;
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
        if (payload != 8 || !mdResize(md, load<u64>(body))) return MD_BAD_DESCRIPTOR;
        break;
      }
      case DESC_FLAGS: {
        if (payload != 24) return MD_BAD_DESCRIPTOR;
        md.flagsInvalid = load<u64>(body); md.flagsDataRo = load<u64>(body, 8); md.flagsMdRo = load<u64>(body, 16);
        break;
      }
      case DESC_PARENT: {
        if (payload != 8) return MD_BAD_DESCRIPTOR;
        md.parentId = load<u64>(body);
        break;
      }
      case DESC_XATTR:
      case DESC_XATTR_INTERNAL: {
        if (payload < 8) return MD_BAD_DESCRIPTOR;
        const nameBytes = <u32>load<u16>(body);
        const valueBytes = load<u32>(body, 4);
        if (<u64>8 + <u64>nameBytes + <u64>valueBytes != <u64>payload) return MD_BAD_DESCRIPTOR;
        if (xattrSet(md, body + 8, nameBytes, body + 8 + nameBytes, valueBytes, type == DESC_XATTR_INTERNAL) != 0) return MD_BAD_DESCRIPTOR;
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
