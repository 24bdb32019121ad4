// A blob's metadata survives encoding into md pages and decoding back; damaged pages are refused.
import {
  BlobMd, mdNew, mdResize, mdSetCluster, mdCluster, xattrSet, xattrFind, Xattr, mdEncode, mdDecodePage, mdNextPage,
  MD_OK, MD_BAD_CRC, MD_WRONG_BLOB, MD_WRONG_SEQUENCE, MD_BAD_DESCRIPTOR, MD_MAX_CLUSTERS,
} from "../../assembly/blob/md";
import { blobIdOf, MDP_NO_NEXT, MDP_DESCRIPTORS, DESC_HEADER_BYTES, sealPage } from "../../assembly/blob/format";

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
    expect(mdResize(back, MD_MAX_CLUSTERS + 1)).toBe(false);
    expect(mdResize(back, 1)).toBe(true);
  });
});
