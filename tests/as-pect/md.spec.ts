// A blob's metadata survives encoding into md pages and decoding back; damaged pages are refused.
import {
  BlobMd, mdNew, mdFree, mdResize, mdSetCluster, mdCluster, xattrSet, xattrFind, xattrRemove, Xattr, mdEncode, mdDecodePage, mdNextPage,
  mdUseAllocator, MD_OK, MD_BAD_CRC, MD_WRONG_BLOB, MD_WRONG_SEQUENCE, MD_BAD_DESCRIPTOR, MD_NO_MEMORY, MD_MAX_CLUSTERS, MD_WRONG_TAG,
} from "../../assembly/blob/md";
import { blobIdOf, MDP_NO_NEXT, MDP_DESCRIPTORS, MDP_SEQUENCE, MDP_TAG, DESC_HEADER_BYTES, DESC_PARENT, sealPage } from "../../assembly/blob/format";

const ENOMEM: i32 = -12;

// An allocator for md.ts that refuses once `allocsLeft` allocations have succeeded (-1: never), and
// counts the blocks md.ts holds, so each entry point is seen to give back all it took when refused.
let allocsLeft: i32 = -1;
let allocCalls: i32 = 0;
let liveBlocks: i32 = 0;
function failingAlloc(bytes: usize): usize {
  allocCalls++;
  if (allocsLeft == 0) return 0;
  if (allocsLeft > 0) allocsLeft--;
  liveBlocks++;
  return heap.alloc(bytes);
}
function countingFree(ptr: usize): void {
  assert(ptr != 0);
  liveBlocks--;
  heap.free(ptr);
}
mdUseAllocator(failingAlloc, countingFree);

/** Let `n` more md.ts allocations succeed, then refuse them all (-1: no limit). */
function allowAllocs(n: i32): void { allocsLeft = n; allocCalls = 0; }

function str(s: string): usize {
  const p = heap.alloc(s.length + 1);
  for (let i = 0; i < s.length; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
  return p;
}

function roundTrip(md: BlobMd, maxPages: u32): BlobMd {
  const pages = heap.alloc(<usize>maxPages << 12);
  const indexes = heap.alloc(<usize>maxPages << 2);
  for (let i: u32 = 0; i < maxPages; i++) store<u32>(indexes + (<usize>i << 2), 100 + i);
  const used = mdEncode(md, pages, maxPages, indexes);
  expect(used).toBeGreaterThan(0);
  const back = mdNew(md.id);
  for (let i: u32 = 0; i < used; i++) {
    expect(mdDecodePage(back, pages + (<usize>i << 12), i)).toBe(MD_OK);
    expect(mdNextPage(pages + (<usize>i << 12))).toBe(i + 1 < used ? 100 + i + 1 : MDP_NO_NEXT);
  }
  return back;
}

describe("md encoding", () => {
  it("round-trips size, flags, parent, xattrs and thin extents", () => {
    const md = mdNew(blobIdOf(5));
    mdResize(md, 10);
    for (let i: u64 = 0; i < 4; i++) mdSetCluster(md, i, 20 + <u32>i);   // one run
    mdSetCluster(md, 7, 99);                                            // thin holes around it
    md.flagsInvalid = 1;
    md.parentId = blobIdOf(3);
    expect(xattrSet(md, str("name"), 4, str("value"), 5, false)).toBe(0);
    expect(xattrSet(md, str("lvol"), 4, str("x"), 1, true)).toBe(0);
    const back = roundTrip(md, 4);
    expect(back.numClusters).toBe(10);
    expect(mdCluster(back, 0)).toBe(20);
    expect(mdCluster(back, 3)).toBe(23);
    expect(mdCluster(back, 4)).toBe(0);
    expect(mdCluster(back, 7)).toBe(99);
    expect(mdCluster(back, 9)).toBe(0);
    expect(back.flagsInvalid).toBe(1);
    expect(back.parentId).toBe(blobIdOf(3));
    const x = xattrFind(back, str("name"), 4, false);
    expect(x).not.toBe(0);
    expect(changetype<Xattr>(x).valueBytes).toBe(5);
    expect(xattrFind(back, str("lvol"), 4, false)).toBe(0);
    expect(xattrFind(back, str("lvol"), 4, true)).not.toBe(0);
  });

  it("spreads a fragmented map over several pages", () => {
    const md = mdNew(blobIdOf(1));
    mdResize(md, 3000);
    for (let i: u64 = 0; i < 3000; i++) mdSetCluster(md, i, <u32>(i * 2 + 100));   // no two adjacent
    const back = roundTrip(md, 16);
    for (let i: u64 = 0; i < 3000; i++) expect(mdCluster(back, i)).toBe(<u32>(i * 2 + 100));
  });

  it("says so when the pages are too few", () => {
    const md = mdNew(blobIdOf(1));
    mdResize(md, 3000);
    for (let i: u64 = 0; i < 3000; i++) mdSetCluster(md, i, <u32>(i * 2 + 100));
    const pages = heap.alloc(2 << 12);
    const indexes = heap.alloc(8);
    expect(mdEncode(md, pages, 2, indexes)).toBe(0);
  });

  it("refuses a damaged page, another blob's page, a page out of order, an unknown descriptor", () => {
    const md = mdNew(blobIdOf(2));
    mdResize(md, 1);
    const pages = heap.alloc(4096);
    const indexes = heap.alloc(4);
    expect(mdEncode(md, pages, 1, indexes)).toBe(1);
    expect(mdDecodePage(mdNew(blobIdOf(3)), pages, 0)).toBe(MD_WRONG_BLOB);
    expect(mdDecodePage(mdNew(blobIdOf(2)), pages, 1)).toBe(MD_WRONG_SEQUENCE);
    store<u8>(pages + 300, 1);
    expect(mdDecodePage(mdNew(blobIdOf(2)), pages, 0)).toBe(MD_BAD_CRC);
    store<u8>(pages + 300, 0);
    store<u8>(pages + MDP_DESCRIPTORS, 77);        // first descriptor's type
    sealPage(pages);
    expect(mdDecodePage(mdNew(blobIdOf(2)), pages, 0)).toBe(MD_BAD_DESCRIPTOR);
  });

  it("writes the store's tag on every page and refuses a page that carries another", () => {
    const md = mdNew(blobIdOf(2));
    mdResize(md, 3000);
    for (let i: u64 = 0; i < 3000; i++) mdSetCluster(md, i, <u32>(i * 2 + 100));
    const pages = heap.alloc(16 << 12);
    const indexes = heap.alloc(16 << 2);
    const used = mdEncode(md, pages, 16, indexes, 0xfeedf00d);
    expect(used).toBeGreaterThan(1);
    for (let i: u32 = 0; i < used; i++) {
      expect(load<u32>(pages + (<usize>i << 12) + MDP_TAG)).toBe(0xfeedf00d);
      expect(mdDecodePage(mdNew(blobIdOf(2)), pages + (<usize>i << 12), i, 0xfeedf00e)).toBe(MD_WRONG_TAG);
    }
    const back = mdNew(blobIdOf(2));
    for (let i: u32 = 0; i < used; i++) expect(mdDecodePage(back, pages + (<usize>i << 12), i, 0xfeedf00d)).toBe(MD_OK);
    expect(back.numClusters).toBe(3000);
  });

  it("takes a parent descriptor only on a chain's first page (the load reads parents from first pages alone)", () => {
    const md = mdNew(blobIdOf(2));
    mdResize(md, 1);
    const pages = heap.alloc(4096);
    const indexes = heap.alloc(4);
    expect(mdEncode(md, pages, 1, indexes)).toBe(1);
    // The size descriptor (16 bytes) is first; a parent descriptor after it, then the page as page 1.
    const at = pages + MDP_DESCRIPTORS + 16;
    store<u8>(at, DESC_PARENT); store<u32>(at + 4, 8); store<u64>(at + DESC_HEADER_BYTES, blobIdOf(9));
    store<u8>(at + 16, 0);
    sealPage(pages);
    const first = mdNew(blobIdOf(2));
    expect(mdDecodePage(first, pages, 0)).toBe(MD_OK);
    expect(first.parentId).toBe(blobIdOf(9));
    store<u32>(pages + MDP_SEQUENCE, 1);
    sealPage(pages);
    expect(mdDecodePage(mdNew(blobIdOf(2)), pages, 1)).toBe(MD_BAD_DESCRIPTOR);
  });

  it("refuses a size no blob may have (its map's byte count would wrap the 32-bit memory)", () => {
    const md = mdNew(blobIdOf(2));
    mdResize(md, 1);
    const pages = heap.alloc(4096);
    const indexes = heap.alloc(4);
    expect(mdEncode(md, pages, 1, indexes)).toBe(1);
    store<u64>(pages + MDP_DESCRIPTORS + DESC_HEADER_BYTES, <u64>1 << 40);   // the size descriptor comes first
    sealPage(pages);
    const back = mdNew(blobIdOf(2));
    expect(mdDecodePage(back, pages, 0)).toBe(MD_BAD_DESCRIPTOR);
    expect(back.numClusters).toBe(0);
    expect(mdResize(back, MD_MAX_CLUSTERS + 1)).toBe(-22);
    expect(mdResize(back, 1)).toBe(0);
  });
});

/** A one-page encoding of an md with a size, two xattrs and a run of clusters: 5 blocks to decode. */
function encodedPage(id: u64): usize {
  const md = mdNew(id);
  mdResize(md, 8);
  for (let i: u64 = 0; i < 8; i++) mdSetCluster(md, i, 40 + <u32>i);
  xattrSet(md, str("name"), 4, str("value"), 5, false);
  xattrSet(md, str("lvol"), 4, str("x"), 1, true);
  const page = heap.alloc(4096);
  const indexes = heap.alloc(4);
  expect(mdEncode(md, page, 1, indexes)).toBe(1);
  mdFree(md);
  return page;
}

describe("md allocation failures", () => {
  beforeEach(() => { allowAllocs(-1); liveBlocks = 0; });

  it("mdNew: null, nothing held", () => {
    allowAllocs(0);
    expect(changetype<usize>(mdNew(blobIdOf(1)))).toBe(0);
    expect(liveBlocks).toBe(0);
  });

  it("mdResize: -ENOMEM when the map cannot grow; size and clusters as they were", () => {
    const md = mdNew(blobIdOf(1));
    expect(mdResize(md, 10)).toBe(0);
    mdSetCluster(md, 9, 77);
    allowAllocs(0);
    expect(mdResize(md, 1000)).toBe(ENOMEM);
    expect(md.numClusters).toBe(10);
    expect(mdCluster(md, 9)).toBe(77);
    expect(mdResize(md, 5)).toBe(0);            // shrinking takes nothing
    expect(allocCalls).toBe(1);
    mdFree(md);
    expect(liveBlocks).toBe(0);
  });

  it("xattrSet: -ENOMEM at either of its two blocks; the old value stays, nothing held", () => {
    const md = mdNew(blobIdOf(1));
    expect(xattrSet(md, str("name"), 4, str("old"), 3, false)).toBe(0);
    const held = liveBlocks;
    for (let n: i32 = 0; n < 2; n++) {
      allowAllocs(n);
      expect(xattrSet(md, str("name"), 4, str("new value"), 9, false)).toBe(ENOMEM);
      expect(allocCalls).toBe(n + 1);
      expect(liveBlocks).toBe(held);
      const x = xattrFind(md, str("name"), 4, false);
      expect(x).not.toBe(0);
      expect(changetype<Xattr>(x).valueBytes).toBe(3);
    }
    allowAllocs(-1);
    expect(xattrSet(md, str("name"), 4, str("new value"), 9, false)).toBe(0);
    expect(liveBlocks).toBe(held);              // the new value replaced the old one
    expect(xattrRemove(md, str("name"), 4, false)).toBe(0);
    mdFree(md);
    expect(liveBlocks).toBe(0);
  });

  it("mdEncode takes no memory at all", () => {
    const md = mdNew(blobIdOf(1));
    mdResize(md, 3000);
    for (let i: u64 = 0; i < 3000; i++) mdSetCluster(md, i, <u32>(i * 2 + 100));
    xattrSet(md, str("name"), 4, str("value"), 5, false);
    const pages = heap.alloc(16 << 12);
    const indexes = heap.alloc(16 << 2);
    allowAllocs(0);
    expect(mdEncode(md, pages, 16, indexes)).toBeGreaterThan(1);
    expect(allocCalls).toBe(0);
    allowAllocs(-1);
    mdFree(md);
    expect(liveBlocks).toBe(0);
  });

  it("mdDecodePage: MD_NO_MEMORY (not a bad descriptor) at each of its blocks; the caller's mdFree gives all back", () => {
    const page = encodedPage(blobIdOf(4));
    let needed: i32 = 0;
    for (let n: i32 = 0; ; n++) {
      const back = mdNew(blobIdOf(4));
      allowAllocs(n);
      const rc = mdDecodePage(back, page, 0);
      allowAllocs(-1);
      mdFree(back);
      expect(liveBlocks).toBe(0);
      if (rc == MD_OK) { needed = n; break; }
      expect(rc).toBe(MD_NO_MEMORY);
    }
    expect(needed).toBe(5);                     // the map, then two blocks per xattr
  });

  it("mdDecodePage: a size the memory cannot hold is MD_NO_MEMORY; past what a blob may have stays MD_BAD_DESCRIPTOR", () => {
    const page = encodedPage(blobIdOf(2));
    store<u64>(page + MDP_DESCRIPTORS + DESC_HEADER_BYTES, MD_MAX_CLUSTERS);   // the size descriptor comes first
    sealPage(page);
    const back = mdNew(blobIdOf(2));
    allowAllocs(0);
    expect(mdDecodePage(back, page, 0)).toBe(MD_NO_MEMORY);
    expect(back.numClusters).toBe(0);
    store<u64>(page + MDP_DESCRIPTORS + DESC_HEADER_BYTES, MD_MAX_CLUSTERS + 1);
    sealPage(page);
    expect(mdDecodePage(back, page, 0)).toBe(MD_BAD_DESCRIPTOR);
    allowAllocs(-1);
    mdFree(back);
    expect(liveBlocks).toBe(0);
  });
});
