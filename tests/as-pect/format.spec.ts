// The Blobstore's on-disk checks: CRC32C test vectors and super block validation.
import { crc32c, crc32cUpdate } from "../../assembly/runtime/crc32c";
import {
  SUPER_SIGNATURE, SB_SIGNATURE, SB_VERSION, SB_CRC, SB_CLUSTER_BYTES, SB_IO_UNIT_BYTES, SB_MD_PAGE_BYTES,
  SB_TOTAL_CLUSTERS, SB_MD_START, SB_MD_LEN, SB_MASK_START, SB_MASK_LEN, SB_CLUSTER_MASK_BITS, SB_FLAGS_INVALID,
  SB_FLAGS_RO, FORMAT_VERSION, checkSuper, superForcesReadOnly, SB_OK, SB_BAD_CRC, SB_BAD_SIGNATURE,
  SB_UNKNOWN_INVALID_FLAG, SB_BAD_VERSION, SB_BAD_UNITS, SB_BAD_CLUSTERS, SB_BAD_LAYOUT, SB_MASK_LEN_WRONG, SB_MASK_CRC,
  FORMAT_VERSION_OLDEST, superHasMaskCrc, maskRegionPages, maskPagesOf, blobIdOf, mdPageOf, isBlobId, descriptorBytes,
} from "../../assembly/blob/format";

function bytesOf(s: string): usize {
  const p = heap.alloc(s.length);
  for (let i = 0; i < s.length; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
  return p;
}

function goodSuper(): usize {
  const sb = heap.alloc(4096);
  memory.fill(sb, 0, 4096);
  store<u64>(sb + SB_SIGNATURE, SUPER_SIGNATURE);
  store<u32>(sb + SB_VERSION, FORMAT_VERSION);
  store<u32>(sb + SB_CLUSTER_BYTES, 1 << 20);
  store<u32>(sb + SB_IO_UNIT_BYTES, 4096);
  store<u32>(sb + SB_MD_PAGE_BYTES, 4096);
  store<u64>(sb + SB_TOTAL_CLUSTERS, 64);
  store<u32>(sb + SB_MASK_START, 1);
  store<u32>(sb + SB_MASK_LEN, 3);
  store<u32>(sb + SB_MD_START, 4);
  store<u32>(sb + SB_MD_LEN, 64);
  store<u32>(sb + SB_CLUSTER_MASK_BITS, 256);
  store<u32>(sb + SB_CRC, crc32c(sb, SB_CRC));
  return sb;
}

function reseal(sb: usize): void { store<u32>(sb + SB_CRC, crc32c(sb, SB_CRC)); }

describe("crc32c", () => {
  it("matches the standard check values", () => {
    expect(crc32c(bytesOf("123456789"), 9)).toBe(0xe3069283);
    expect(crc32c(bytesOf(""), 0)).toBe(0);
    expect(crc32c(bytesOf("a"), 1)).toBe(0xc1d04330);
  });
  it("gives the bitwise definition's value at every length and alignment, and chains across splits", () => {
    const buf = heap.alloc(200);
    for (let i = 0; i < 200; i++) store<u8>(buf + i, <u8>(i * 37 + 11));
    for (let off = 0; off < 8; off++) {
      for (let len = 0; len <= 150; len++) {
        const whole = crc32c(buf + off, len);
        expect(whole).toBe(bitwiseCrc32c(buf + off, len));
        const split = len / 3;
        expect(crc32cUpdate(crc32c(buf + off, split), buf + off + split, len - split)).toBe(whole);
      }
    }
    heap.free(buf);
  });
});

/** CRC32C bit by bit (reflected polynomial 0x82f63b78): the definition the tables must agree with. */
function bitwiseCrc32c(ptr: usize, len: usize): u32 {
  let c: u32 = 0xffffffff;
  for (let i: usize = 0; i < len; i++) {
    c ^= <u32>load<u8>(ptr + i);
    for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
  }
  return ~c;
}

describe("checkSuper", () => {
  it("accepts a good super block", () => {
    expect(checkSuper(goodSuper(), 64 << 20, 4096)).toBe(SB_OK);
  });
  it("refuses a bad signature, a bad CRC, another version", () => {
    let sb = goodSuper(); store<u8>(sb, 0); expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_SIGNATURE);
    sb = goodSuper(); store<u8>(sb + 200, 1); expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_CRC);
    sb = goodSuper(); store<u32>(sb + SB_VERSION, FORMAT_VERSION + 1); reseal(sb); expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_VERSION);
    sb = goodSuper(); store<u32>(sb + SB_VERSION, 0); reseal(sb); expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_VERSION);
  });
  it("reads version 1, which has no mask checksum", () => {
    const sb = goodSuper(); store<u32>(sb + SB_VERSION, FORMAT_VERSION_OLDEST); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_OK);
    expect(superHasMaskCrc(sb)).toBe(false);
    expect(superHasMaskCrc(goodSuper())).toBe(true);
    expect(SB_MASK_CRC).toBe(104);
  });
  it("refuses unknown invalid flags; unknown read-only flags only force read-only", () => {
    let sb = goodSuper(); store<u64>(sb + SB_FLAGS_INVALID, 1 << 7); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_UNKNOWN_INVALID_FLAG);
    sb = goodSuper(); store<u64>(sb + SB_FLAGS_RO, 1 << 3); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_OK);
    expect(superForcesReadOnly(sb)).toBe(true);
  });
  it("refuses units that are not valid or not the device's", () => {
    expect(checkSuper(goodSuper(), 64 << 20, 512)).toBe(SB_BAD_UNITS);
    let sb = goodSuper(); store<u32>(sb + SB_CLUSTER_BYTES, 3000); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_UNITS);
    sb = goodSuper(); store<u32>(sb + SB_CLUSTER_BYTES, 2048); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_UNITS);
    sb = goodSuper(); store<u32>(sb + SB_MD_PAGE_BYTES, 8192); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_UNITS);
  });
  it("refuses cluster counts past the device or the cluster mask, also where a product would wrap", () => {
    expect(checkSuper(goodSuper(), 32 << 20, 4096)).toBe(SB_BAD_CLUSTERS);
    let sb = goodSuper(); store<u64>(sb + SB_TOTAL_CLUSTERS, 0); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_CLUSTERS);
    sb = goodSuper(); store<u64>(sb + SB_TOTAL_CLUSTERS, <u64>1 << 44); reseal(sb);     // x 1 MiB wraps to 0
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_CLUSTERS);
    sb = goodSuper(); store<u32>(sb + SB_CLUSTER_MASK_BITS, 63); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_CLUSTERS);
  });
  it("refuses masks and md regions out of their places, overlapping, or past the store", () => {
    let sb = goodSuper(); store<u32>(sb + SB_MASK_START, 0); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_LAYOUT);
    sb = goodSuper(); store<u32>(sb + SB_MD_START, 3); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_LAYOUT);
    sb = goodSuper(); store<u32>(sb + SB_MD_START, 5); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_LAYOUT);
    sb = goodSuper(); store<u32>(sb + SB_MD_LEN, 0); reseal(sb);
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_LAYOUT);
    sb = goodSuper(); store<u32>(sb + SB_MD_LEN, 20000); reseal(sb);                  // 80 MiB of md on 64 MiB
    expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_BAD_LAYOUT);
  });
  it("tells a wrong mask_len alone apart: the masks are rebuilt, the store loads", () => {
    expect(maskRegionPages(64, 256)).toBe(3);
    expect(maskRegionPages(32769, 256)).toBe(5);
    expect(maskPagesOf(0)).toBe(0);
    expect(maskPagesOf(32768)).toBe(1);
    for (let len: u32 = 0; len < 8; len++) {
      if (len == 3) continue;
      const sb = goodSuper(); store<u32>(sb + SB_MASK_LEN, len); reseal(sb);
      expect(checkSuper(sb, 64 << 20, 4096)).toBe(SB_MASK_LEN_WRONG);
    }
  });
});

describe("ids and descriptors", () => {
  it("derives blob ids from md pages and back", () => {
    expect(mdPageOf(blobIdOf(17))).toBe(17);
    expect(isBlobId(blobIdOf(0))).toBe(true);
    expect(isBlobId(17)).toBe(false);
  });
  it("pads descriptors to 8 bytes", () => {
    expect(descriptorBytes(0)).toBe(8);
    expect(descriptorBytes(1)).toBe(16);
    expect(descriptorBytes(8)).toBe(16);
  });
});
