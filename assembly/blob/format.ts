// wstor's on-disk Blobstore format, version 2 (docs/format.md is its description for people). All
// integers little-endian. Units: the metadata page is 4 KiB; data moves in io units (the bdev's block
// size); space is allocated in clusters. This file declares every offset once and checks pages.

import { crc32c, crc32cUpdate } from "../runtime";

export const FORMAT_VERSION: u32 = 2;
/** Version 1 had no mask checksum: it loads, and is recovered from its md pages (its masks unchecked). */
export const FORMAT_VERSION_OLDEST: u32 = 1;
export const MD_PAGE_BYTES: u32 = 4096;
export const MD_PAGE_SHIFT: u32 = 12;
/** "WSTORBLB" as a little-endian u64. */
export const SUPER_SIGNATURE: u64 = 0x424c42524f545357;

// ---- super block (page 0) ----
export const SB_SIGNATURE: usize = 0;          // u64
export const SB_VERSION: usize = 8;            // u32
export const SB_CLEAN: usize = 12;             // u32: 1 after a clean unload, 0 while in use
export const SB_FLAGS_INVALID: usize = 16;     // u64: a bit this version does not know refuses the load
export const SB_FLAGS_RO: usize = 24;          // u64: a bit this version does not know loads read-only
export const SB_CLUSTER_BYTES: usize = 32;     // u32
export const SB_IO_UNIT_BYTES: usize = 36;     // u32
export const SB_MD_PAGE_BYTES: usize = 40;     // u32 (4096)
export const SB_TOTAL_CLUSTERS: usize = 48;    // u64: clusters of the device, metadata included
export const SB_MD_START: usize = 56;          // u32: first md page (in pages)
export const SB_MD_LEN: usize = 60;            // u32: md pages
export const SB_MASK_START: usize = 64;        // u32: first page of the three masks
export const SB_MASK_LEN: usize = 68;          // u32: pages of the three masks
export const SB_CLUSTER_MASK_BITS: usize = 72; // u32: clusters the cluster mask has room for (grow limit)
export const SB_SUPER_BLOB: usize = 80;        // u64: blob id, 0 for none
export const SB_DEVICE_BYTES: usize = 88;      // u64
export const SB_GENERATION: usize = 96;        // u64: incremented each time the store is marked dirty
export const SB_MASK_CRC: usize = 104;         // u32 (version 2): CRC32C of the mask region, valid when clean
export const SB_TAG_SEED: usize = 108;         // u32 (version 2): nonzero, chosen at init; 0 for a store made as version 1
export const SB_CRC: usize = 4092;             // u32: CRC32C of bytes [0, 4092)

/** Flag bits this version understands (none yet); any other bit set in a loaded super block counts. */
export const KNOWN_FLAGS_INVALID: u64 = 0;
export const KNOWN_FLAGS_RO: u64 = 0;

// ---- metadata page ----
export const MDP_BLOB_ID: usize = 0;           // u64
export const MDP_SEQUENCE: usize = 8;          // u32: 0 for the first page of a blob's chain
export const MDP_TAG: usize = 12;              // u32: the store's tag (storeTag), 0 in a store made as version 1
export const MDP_DESCRIPTORS: usize = 16;      // descriptors start here
export const MDP_NEXT: usize = 4088;           // u32: next md page of the chain, MDP_NO_NEXT for none
export const MDP_CRC: usize = 4092;            // u32: CRC32C of bytes [0, 4092)
export const MDP_DESCRIPTOR_BYTES: u32 = <u32>(MDP_NEXT - MDP_DESCRIPTORS);
export const MDP_NO_NEXT: u32 = 0xffffffff;
/** The most md pages one blob's chain may have (blob.ts writes at most this many; longer is damage). */
export const MAX_CHAIN_PAGES: u32 = 64;

// ---- descriptors: {u8 type, u8 0, u16 0, u32 payload bytes} then the payload, 8-byte aligned ----
export const DESC_HEADER_BYTES: u32 = 8;
export const DESC_END: u8 = 0;                 // no more descriptors in this page
export const DESC_SIZE: u8 = 1;                // u64 clusters
export const DESC_EXTENTS: u8 = 2;             // u64 first cluster index of the blob, then {u32 cluster, u32 count}
export const DESC_XATTR: u8 = 3;               // u16 name bytes, u16 0, u32 value bytes, name, value
export const DESC_XATTR_INTERNAL: u8 = 4;      // same layout, internal (snapshot state, lvol names)
export const DESC_FLAGS: u8 = 5;               // u64 invalid, u64 data read-only, u64 md read-only
export const DESC_PARENT: u8 = 6;              // u64 parent blob id (clones, snapshots' chain)

/** Blob flag bits (FLAGS descriptor, "invalid" set: a build that does not know one refuses the blob). */
export const BLOB_FLAG_THIN: u64 = 1;          // clusters are allocated on first write
export const KNOWN_BLOB_FLAGS_INVALID: u64 = BLOB_FLAG_THIN;
/** Blob flag bits in the "data read-only" set. */
export const BLOB_FLAG_READ_ONLY: u64 = 1;    // a snapshot: its data never changes
export const BLOB_FLAG_SET_READ_ONLY: u64 = 2; // made read-only by request (an lvol's set_read_only), not a snapshot
export const KNOWN_BLOB_FLAGS_DATA_RO: u64 = BLOB_FLAG_READ_ONLY | BLOB_FLAG_SET_READ_ONLY;
/**
 * Internal xattr on a snapshot being made, "wstor.snapshot_of" (UTF-8 bytes, as every xattr name on
 * disk): the id of its origin (8 bytes). Removed when the snapshot is done.
 */
export const XATTR_SNAPSHOT_OF: usize = memory.data<u8>([119, 115, 116, 111, 114, 46, 115, 110, 97, 112, 115, 104, 111, 116, 95, 111, 102]);
export const XATTR_SNAPSHOT_OF_BYTES: u32 = 17;

/** Blob ids carry their first md page: (1 << 32) | page index within the md region. */
export const BLOB_ID_HIGH_BIT: u64 = <u64>1 << 32;

export function blobIdOf(mdPage: u32): u64 { return BLOB_ID_HIGH_BIT | <u64>mdPage; }
export function mdPageOf(blobId: u64): u32 { return <u32>(blobId & 0xffffffff); }
export function isBlobId(blobId: u64): bool { return (blobId >> 32) == 1; }

export function pageCrc(page: usize): u32 { return crc32c(page, MDP_CRC); }
export function sealPage(page: usize): void { store<u32>(page + MDP_CRC, pageCrc(page)); }
export function pageCrcOk(page: usize): bool { return load<u32>(page + MDP_CRC) == pageCrc(page); }

/** Round a descriptor's total size up to 8 bytes. */
export function descriptorBytes(payload: u32): u32 { return (DESC_HEADER_BYTES + payload + 7) & ~7; }

/** The most clusters a store may have (init's limit; a cluster index is a u32 and 0 means none). */
export const MAX_CLUSTERS: u64 = 0xfffffff0;

/** Pages of a bitmap of `bits` bits, whole pages. */
export function maskPagesOf(bits: u64): u32 { return <u32>((((bits + 7) >> 3) + <u64>MD_PAGE_BYTES - 1) >> MD_PAGE_SHIFT); }

/** Pages of the three masks for `mdLen` md pages and room for `clusterMaskBits` clusters (docs/format.md "Layout"). */
export function maskRegionPages(mdLen: u32, clusterMaskBits: u32): u32 {
  return 2 * maskPagesOf(<u64>mdLen) + maskPagesOf(<u64>clusterMaskBits);
}

/** Why a super block is refused (0 if it is acceptable); SB_MASK_LEN_WRONG alone is recoverable. */
export const SB_OK: i32 = 0;
export const SB_BAD_SIGNATURE: i32 = 1;
export const SB_BAD_CRC: i32 = 2;
export const SB_BAD_VERSION: i32 = 3;
export const SB_UNKNOWN_INVALID_FLAG: i32 = 4;
/** Cluster, io unit or md page size not valid, or not the device's. */
export const SB_BAD_UNITS: i32 = 5;
/** Total clusters 0, more than the device holds, or more than the cluster mask has room for. */
export const SB_BAD_CLUSTERS: i32 = 6;
/** The masks and md region are not where the layout puts them, or the md region runs past the store. */
export const SB_BAD_LAYOUT: i32 = 7;
/** mask_len disagrees with md_len and cluster_mask_bits (everything else holds): load recovers. */
export const SB_MASK_LEN_WRONG: i32 = 8;

/**
 * Check a super block read from a device of `deviceBytes` with blocks of `ioUnit` bytes: each field
 * against the device and against the others, so that every region the load reads or allocates for
 * lies inside the device and none overlaps another.
 */
export function checkSuper(sb: usize, deviceBytes: u64, ioUnit: u32): i32 {
  if (load<u64>(sb + SB_SIGNATURE) != SUPER_SIGNATURE) return SB_BAD_SIGNATURE;
  if (load<u32>(sb + SB_CRC) != crc32c(sb, SB_CRC)) return SB_BAD_CRC;
  const version = load<u32>(sb + SB_VERSION);
  if (version < FORMAT_VERSION_OLDEST || version > FORMAT_VERSION) return SB_BAD_VERSION;
  if ((load<u64>(sb + SB_FLAGS_INVALID) & ~KNOWN_FLAGS_INVALID) != 0) return SB_UNKNOWN_INVALID_FLAG;
  const cluster = load<u32>(sb + SB_CLUSTER_BYTES);
  if (cluster < MD_PAGE_BYTES || popcnt(cluster) != 1 || load<u32>(sb + SB_MD_PAGE_BYTES) != MD_PAGE_BYTES) return SB_BAD_UNITS;
  if (load<u32>(sb + SB_IO_UNIT_BYTES) != ioUnit || ioUnit > MD_PAGE_BYTES) return SB_BAD_UNITS;
  // Shifted, not multiplied: a forged count times the cluster size could wrap past 2^64 and "fit".
  const clusters = load<u64>(sb + SB_TOTAL_CLUSTERS);
  const maskBits = <u64>load<u32>(sb + SB_CLUSTER_MASK_BITS);
  if (clusters == 0 || clusters > MAX_CLUSTERS || clusters > deviceBytes >> ctz(cluster)) return SB_BAD_CLUSTERS;
  if (maskBits < clusters || maskBits > MAX_CLUSTERS) return SB_BAD_CLUSTERS;
  const mdLen = load<u32>(sb + SB_MD_LEN);
  const masks = maskRegionPages(mdLen, <u32>maskBits);
  if (mdLen == 0 || load<u32>(sb + SB_MASK_START) != 1 || <u64>load<u32>(sb + SB_MD_START) != 1 + <u64>masks) return SB_BAD_LAYOUT;
  const mdEnd = <u64>load<u32>(sb + SB_MD_START) + <u64>mdLen;
  if ((mdEnd << MD_PAGE_SHIFT) > clusters << ctz(cluster)) return SB_BAD_LAYOUT;
  if (load<u32>(sb + SB_MASK_LEN) != masks) return SB_MASK_LEN_WRONG;
  return SB_OK;
}

/**
 * The tag every md page of the store carries: CRC32C of the super block's fields that place and size
 * everything (cluster, io unit and md page bytes; md start and length; mask start, length and bits)
 * and of its tag seed. These never change after init (grow changes only the cluster count), so a
 * super block whose geometry was changed no longer matches the store's md pages, and says so. 0 for a
 * store made as version 1 (seed 0): its pages carry 0.
 */
export function storeTag(sb: usize): u32 {
  const seed = load<u32>(sb + SB_TAG_SEED);
  if (seed == 0) return 0;
  let crc = crc32c(sb + SB_CLUSTER_BYTES, SB_TOTAL_CLUSTERS - SB_CLUSTER_BYTES);
  crc = crc32cUpdate(crc, sb + SB_MD_START, SB_SUPER_BLOB - SB_MD_START);
  return crc32cUpdate(crc, sb + SB_TAG_SEED, 4);
}

/** Whether the super block carries a checksum of its masks (version 2 on). */
export function superHasMaskCrc(sb: usize): bool { return load<u32>(sb + SB_VERSION) >= 2; }

/** Whether the super block carries a read-only-compatible flag this version does not know. */
export function superForcesReadOnly(sb: usize): bool {
  return (load<u64>(sb + SB_FLAGS_RO) & ~KNOWN_FLAGS_RO) != 0;
}
