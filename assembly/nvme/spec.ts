// NVMe base-spec facts every NVMe component shares (target, NVMe/TCP, the later driver and fuzzer):
// the 64-byte submission and 16-byte completion entries, opcodes and status codes. One definition
// of each; read and write them through these accessors, never through raw offsets elsewhere.
// Sources: NVMe Base Specification 2.0 (figures for the SQE/CQE), SPDK include/spdk/nvme_spec.h.

export const SQE_BYTES: u32 = 64;
export const CQE_BYTES: u32 = 16;

// ---- submission queue entry ----
const SQE_OPC: usize = 0;       // u8
const SQE_FLAGS: usize = 1;     // u8: FUSE bits 0-1, PSDT bits 6-7
const SQE_CID: usize = 2;       // u16
const SQE_NSID: usize = 4;      // u32
const SQE_DPTR: usize = 24;     // 16 bytes: PRP1/PRP2 or SGL1
const SQE_CDW10: usize = 40;    // cdw10..cdw15, u32 each

export function sqeOpcode(sqe: usize): u8 { return load<u8>(sqe + SQE_OPC); }
export function sqeFlags(sqe: usize): u8 { return load<u8>(sqe + SQE_FLAGS); }
export function sqeCid(sqe: usize): u16 { return load<u16>(sqe + SQE_CID); }
export function sqeNsid(sqe: usize): u32 { return load<u32>(sqe + SQE_NSID); }
/** Command dword 10..15 (`n` is the dword's number). */
export function sqeCdw(sqe: usize, n: u32): u32 {
  assert(n >= 10 && n <= 15, "sqeCdw: dwords 10..15 only");
  return load<u32>(sqe + SQE_CDW10 + (<usize>(n - 10) << 2));
}
/** The data pointer (PRP entries or SGL1), 16 bytes. */
export function sqeDptr(sqe: usize): usize { return sqe + SQE_DPTR; }
/** PSDT: 0 = PRPs, 1 = SGL (metadata in a buffer), 2 = SGL (metadata in a segment). Fabrics require an SGL. */
export function sqePsdt(sqe: usize): u32 { return <u32>(sqeFlags(sqe) >> 6); }
/** PSDT 1 in the flags byte: the data pointer is SGL1 (what every Fabrics command uses). */
export const SQE_FLAGS_PSDT_SGL: u8 = 0x40;
/** A zeroed SQE with its opcode, flags and NSID (a host's commands start here). */
export function sqeInit(sqe: usize, opc: u8, nsid: u32): void {
  memory.fill(sqe, 0, SQE_BYTES);
  store<u8>(sqe + SQE_OPC, opc);
  store<u8>(sqe + SQE_FLAGS, SQE_FLAGS_PSDT_SGL);
  store<u32>(sqe + SQE_NSID, nsid);
}
export function sqeSetCid(sqe: usize, cid: u16): void { store<u16>(sqe + SQE_CID, cid); }
export function sqeSetCdw(sqe: usize, n: u32, v: u32): void {
  assert(n >= 10 && n <= 15, "sqeSetCdw: dwords 10..15 only");
  store<u32>(sqe + SQE_CDW10 + (<usize>(n - 10) << 2), v);
}

// ---- SGL descriptor (16 bytes; NVMe-oF uses SGL1 in the SQE) ----
export const SGL_DESC_BYTES: u32 = 16;
export function sglAddress(desc: usize): u64 { return load<u64>(desc); }
export function sglLength(desc: usize): u32 { return load<u32>(desc, 8); }
/** Byte 15: descriptor type in bits 4-7, subtype in bits 0-3. */
export function sglType(desc: usize): u32 { return <u32>(load<u8>(desc, 15) >> 4); }
export function sglSubtype(desc: usize): u32 { return <u32>(load<u8>(desc, 15) & 0xf); }
/** SGL1 as one descriptor: `length` bytes at `address`, of `type` and `subtype`. */
export function sglSet(desc: usize, address: u64, length: u32, type: u32, subtype: u32): void {
  assert(type <= 0xf && subtype <= 0xf, "sglSet: type and subtype are 4 bits each");
  store<u64>(desc, address);
  store<u32>(desc, length, 8);
  store<u16>(desc, 0, 12);
  store<u8>(desc, 0, 14);
  store<u8>(desc, <u8>((type << 4) | subtype), 15);
}
export const SGL_TYPE_DATA_BLOCK: u32 = 0x0;
export const SGL_TYPE_TRANSPORT_DATA_BLOCK: u32 = 0x5;
export const SGL_SUBTYPE_ADDRESS: u32 = 0x0;   // unkeyed data block: address = offset into in-capsule data
export const SGL_SUBTYPE_OFFSET: u32 = 0x1;
export const SGL_SUBTYPE_TRANSPORT: u32 = 0xa; // transport SGL data block (NVMe/TCP: data by R2T/C2HData)

// ---- completion queue entry ----
const CQE_DW0: usize = 0;
const CQE_DW1: usize = 4;
const CQE_SQHD: usize = 8;      // u16
const CQE_SQID: usize = 10;     // u16
const CQE_CID: usize = 12;      // u16
const CQE_STATUS: usize = 14;   // u16: phase bit 0, SC bits 1-8, SCT bits 9-11, CRD 12-13, More 14, DNR 15

export function cqeSetDw0(cqe: usize, v: u32): void { store<u32>(cqe + CQE_DW0, v); }
export function cqeSetDw1(cqe: usize, v: u32): void { store<u32>(cqe + CQE_DW1, v); }
export function cqeSetSqhd(cqe: usize, v: u16): void { store<u16>(cqe + CQE_SQHD, v); }
export function cqeSetSqid(cqe: usize, v: u16): void { store<u16>(cqe + CQE_SQID, v); }
export function cqeSetCid(cqe: usize, v: u16): void { store<u16>(cqe + CQE_CID, v); }
export function cqeDw0(cqe: usize): u32 { return load<u32>(cqe + CQE_DW0); }
export function cqeCid(cqe: usize): u16 { return load<u16>(cqe + CQE_CID); }
export function cqeDw1(cqe: usize): u32 { return load<u32>(cqe + CQE_DW1); }
export function cqeStatusField(cqe: usize): u16 { return load<u16>(cqe + CQE_STATUS); }
/** Status without the phase bit: SC | SCT << 8 | DNR << 14 (the STATUS_* encoding below). */
export function cqeStatus(cqe: usize): u32 { return <u32>(cqeStatusField(cqe) >> 1); }
/** Set the status from a STATUS_* value (phase 0: a transport with phase bits adds its own). */
export function cqeSetStatus(cqe: usize, status: u32): void { store<u16>(cqe + CQE_STATUS, <u16>(status << 1)); }

// ---- status: SC (bits 0-7) | SCT << 8 | DNR << 14, as cqeSetStatus takes it ----
export const SCT_GENERIC: u32 = 0;
export const SCT_COMMAND_SPECIFIC: u32 = 1;
export const SCT_MEDIA: u32 = 2;
export const STATUS_DNR: u32 = 1 << 14;
export function status(sct: u32, sc: u32): u32 { return (sct << 8) | sc; }
export const STATUS_SUCCESS: u32 = 0;
export const STATUS_INVALID_OPCODE: u32 = 0x01 | STATUS_DNR;
export const STATUS_INVALID_FIELD: u32 = 0x02 | STATUS_DNR;
export const STATUS_CID_CONFLICT: u32 = 0x03 | STATUS_DNR;
export const STATUS_DATA_TRANSFER_ERROR: u32 = 0x04;
export const STATUS_ABORTED_POWER_LOSS: u32 = 0x05;
export const STATUS_INTERNAL_DEVICE_ERROR: u32 = 0x06;
export const STATUS_ABORTED_BY_REQUEST: u32 = 0x07;
export const STATUS_ABORTED_SQ_DELETION: u32 = 0x08;
export const STATUS_INVALID_NAMESPACE: u32 = 0x0b | STATUS_DNR;
export const STATUS_COMMAND_SEQUENCE_ERROR: u32 = 0x0c | STATUS_DNR;
export const STATUS_INVALID_SGL_SEG_DESCRIPTOR: u32 = 0x0d | STATUS_DNR;
export const STATUS_DATA_SGL_LENGTH_INVALID: u32 = 0x0f | STATUS_DNR;
export const STATUS_SGL_DESCRIPTOR_TYPE_INVALID: u32 = 0x11 | STATUS_DNR;
export const STATUS_INVALID_SGL_OFFSET: u32 = 0x16 | STATUS_DNR;
export const STATUS_LBA_OUT_OF_RANGE: u32 = 0x80 | STATUS_DNR;
export const STATUS_CAPACITY_EXCEEDED: u32 = 0x81 | STATUS_DNR;
export const STATUS_NAMESPACE_NOT_READY: u32 = 0x82;

// ---- opcodes ----
export const OPC_FABRICS: u8 = 0x7f;
// The NVM command set's I/O opcodes (NVM Command Set Specification 1.0, figure 18).
export const OPC_FLUSH: u8 = 0x00;
export const OPC_WRITE: u8 = 0x01;
export const OPC_READ: u8 = 0x02;
export const OPC_WRITE_ZEROES: u8 = 0x08;
export const OPC_DATASET_MANAGEMENT: u8 = 0x09;
/** Bits 0-1 of every opcode give the data direction. */
export const XFER_NONE: u32 = 0;
export const XFER_HOST_TO_CTRLR: u32 = 1;
export const XFER_CTRLR_TO_HOST: u32 = 2;
export const XFER_BIDIRECTIONAL: u32 = 3;
export function opcodeXfer(opc: u8): u32 { return <u32>opc & 3; }
