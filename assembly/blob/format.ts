// wstor's on-disk Blobstore format, version 1 (docs/format.md is its description for people). All
// integers little-endian. Units: the metadata page is 4 KiB; data moves in io units (the bdev's block
// size); space is allocated in clusters. This file declares every offset once and checks pages.

import { crc32c } from "../runtime";

export const FORMAT_VERSION: u32 = 1;
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
export const SB_CRC: usize = 4092;             // u32: CRC32C of bytes [0, 4092)

/** Flag bits this version understands (none yet); any other bit set in a loaded super block counts. */
export const KNOWN_FLAGS_INVALID: u64 = 0;
export const KNOWN_FLAGS_RO: u64 = 0;

// ---- metadata page ----
export const MDP_BLOB_ID: usize = 0;           // u64
export const MDP_SEQUENCE: usize = 8;          // u32: 0 for the first page of a blob's chain
export const MDP_DESCRIPTORS: usize = 16;      // descriptors start here
export const MDP_NEXT: usize = 4088;           // u32: next md page of the chain, MDP_NO_NEXT for none
export const MDP_CRC: usize = 4092;            // u32: CRC32C of bytes [0, 4092)
export const MDP_DESCRIPTOR_BYTES: u32 = <u32>(MDP_NEXT - MDP_DESCRIPTORS);
export const MDP_NO_NEXT: u32 = 0xffffffff;

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

/** Why a super block is refused (0 if it is acceptable). */
export const SB_OK: i32 = 0;
export const SB_BAD_SIGNATURE: i32 = 1;
export const SB_BAD_CRC: i32 = 2;
export const SB_BAD_VERSION: i32 = 3;
export const SB_UNKNOWN_INVALID_FLAG: i32 = 4;
export const SB_BAD_GEOMETRY: i32 = 5;

/** Check a super block read from a device of `deviceBytes` with blocks of `ioUnit` bytes. */
export function checkSuper(sb: usize, deviceBytes: u64, ioUnit: u32): i32 {
  if (load<u64>(sb + SB_SIGNATURE) != SUPER_SIGNATURE) return SB_BAD_SIGNATURE;
  if (load<u32>(sb + SB_CRC) != crc32c(sb, SB_CRC)) return SB_BAD_CRC;
  if (load<u32>(sb + SB_VERSION) != FORMAT_VERSION) return SB_BAD_VERSION;
  if ((load<u64>(sb + SB_FLAGS_INVALID) & ~KNOWN_FLAGS_INVALID) != 0) return SB_UNKNOWN_INVALID_FLAG;
  const cluster = load<u32>(sb + SB_CLUSTER_BYTES);
  const clusters = load<u64>(sb + SB_TOTAL_CLUSTERS);
  const mdEnd = <u64>load<u32>(sb + SB_MD_START) + <u64>load<u32>(sb + SB_MD_LEN);
  const maskEnd = <u64>load<u32>(sb + SB_MASK_START) + <u64>load<u32>(sb + SB_MASK_LEN);
  if (cluster < MD_PAGE_BYTES || popcnt(cluster) != 1 || load<u32>(sb + SB_MD_PAGE_BYTES) != MD_PAGE_BYTES) return SB_BAD_GEOMETRY;
  if (load<u32>(sb + SB_IO_UNIT_BYTES) != ioUnit || ioUnit > MD_PAGE_BYTES) return SB_BAD_GEOMETRY;
  if (clusters == 0 || clusters * <u64>cluster > deviceBytes) return SB_BAD_GEOMETRY;
  if (maskEnd > <u64>load<u32>(sb + SB_MD_START) || (mdEnd << MD_PAGE_SHIFT) > clusters * <u64>cluster) return SB_BAD_GEOMETRY;
  if (<u64>load<u32>(sb + SB_CLUSTER_MASK_BITS) < clusters) return SB_BAD_GEOMETRY;
  return SB_OK;
}

/** Whether the super block carries a read-only-compatible flag this version does not know. */
export function superForcesReadOnly(sb: usize): bool {
  return (load<u64>(sb + SB_FLAGS_RO) & ~KNOWN_FLAGS_RO) != 0;
}
