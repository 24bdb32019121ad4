// Identify data structures (controller and namespace, 4096 bytes each; the namespace identification
// descriptor list) and the log pages a target returns (error, SMART/health, changed namespace list,
// discovery). Offsets from NVMe base spec 2.0 / NVMe-oF 1.1 and SPDK's nvme_spec.h, nvmf_spec.h;
// written only through these setters. The sizes are checked in tests/as-pect/nvme-spec.spec.ts.

export const IDENTIFY_BYTES: u32 = 4096;
export const CNS_NAMESPACE: u32 = 0x00;
export const CNS_CONTROLLER: u32 = 0x01;
export const CNS_ACTIVE_NS_LIST: u32 = 0x02;
export const CNS_NS_ID_DESCRIPTORS: u32 = 0x03;

// ---- Identify controller ----
export const IDC_VID: usize = 0;          // u16
export const IDC_SSVID: usize = 2;        // u16
export const IDC_SN: usize = 4;           // 20 bytes ASCII, space padded
export const IDC_MN: usize = 24;          // 40 bytes
export const IDC_FR: usize = 64;          // 8 bytes
export const IDC_RAB: usize = 72;         // u8
export const IDC_IEEE: usize = 73;        // 3 bytes
export const IDC_CMIC: usize = 76;        // u8
export const IDC_MDTS: usize = 77;        // u8: 2^n units of the minimum page size (4 KiB), 0 = no limit
export const IDC_CNTLID: usize = 78;      // u16
export const IDC_VER: usize = 80;         // u32
export const IDC_OAES: usize = 92;        // u32: bit 8 namespace attribute notices
export const IDC_CTRATT: usize = 96;      // u32
export const IDC_CNTRLTYPE: usize = 111;  // u8: 1 I/O, 2 discovery
export const IDC_ACL: usize = 258;        // u8: abort limit, 0's based
export const IDC_AERL: usize = 259;       // u8: AER limit, 0's based
export const IDC_FRMW: usize = 260;       // u8
export const IDC_LPA: usize = 261;        // u8: bit 2 extended data for Get Log Page
export const IDC_ELPE: usize = 262;       // u8: error log entries, 0's based
export const IDC_KAS: usize = 320;        // u16: keep alive granularity, 100 ms units
export const IDC_SQES: usize = 512;       // u8: max << 4 | required (log2)
export const IDC_CQES: usize = 513;       // u8
export const IDC_MAXCMD: usize = 514;     // u16
export const IDC_NN: usize = 516;         // u32: highest namespace id
export const IDC_ONCS: usize = 520;       // u16: bit 2 DSM, bit 3 write zeroes
export const IDC_FUSES: usize = 522;      // u16
export const IDC_VWC: usize = 525;        // u8: bit 0 volatile write cache present
export const IDC_SGLS: usize = 536;       // u32
export const IDC_SUBNQN: usize = 768;     // 256 bytes
export const IDC_IOCCSZ: usize = 1792;    // u32: capsule size in 16-byte units (SQE + in-capsule data)
export const IDC_IORCSZ: usize = 1796;    // u32: response capsule in 16-byte units
export const IDC_ICDOFF: usize = 1800;    // u16
export const IDC_FCATT: usize = 1802;     // u8
export const IDC_MSDBD: usize = 1803;     // u8
export const IDC_SN_BYTES: u32 = 20;
export const IDC_MN_BYTES: u32 = 40;
export const IDC_FR_BYTES: u32 = 8;
export const CNTRLTYPE_IO: u8 = 1;
export const CNTRLTYPE_DISCOVERY: u8 = 2;
export const ONCS_DSM: u16 = 1 << 2;
export const ONCS_WRITE_ZEROES: u16 = 1 << 3;
export const OAES_NS_ATTRIBUTE: u32 = 1 << 8;

// ---- Identify namespace ----
export const IDN_NSZE: usize = 0;         // u64 blocks
export const IDN_NCAP: usize = 8;         // u64
export const IDN_NUSE: usize = 16;        // u64
export const IDN_NSFEAT: usize = 24;      // u8: bit 0 thin provisioning
export const IDN_NLBAF: usize = 25;       // u8: formats, 0's based
export const IDN_FLBAS: usize = 26;       // u8: the format in use
export const IDN_NMIC: usize = 30;        // u8: bit 0 the namespace may be attached to several controllers
export const IDN_DLFEAT: usize = 33;      // u8: bit 3 write zeroes deallocates, bits 0-2 read of deallocated
export const IDN_NOIOB: usize = 72;       // u16: optimal I/O boundary in blocks, 0 = none reported
export const IDN_NGUID: usize = 104;      // 16 bytes
export const IDN_EUI64: usize = 120;      // 8 bytes
export const IDN_LBAF0: usize = 128;      // u32: MS 0-15, LBADS 16-23 (log2 block size), RP 24-25
export const NSFEAT_DAE: u8 = 1 << 2;     // Deallocated or Unwritten Logical Block errors are reported
export const NMIC_SHARED: u8 = 1 << 0;
export const DLFEAT_READS_ZEROES: u8 = 1; // bits 0-2 = 001b: a deallocated block reads as zeroes

// ---- Namespace identification descriptor list (CNS 3): {u8 type, u8 length, u16 0, id}, 4096 bytes ----
export const NIDT_EUI64: u8 = 1;
export const NIDT_NGUID: u8 = 2;
export const NIDT_UUID: u8 = 3;
export const NID_HEADER_BYTES: u32 = 4;
/** Length of a descriptor's id by type. */
export function nidLength(type: u8): u32 {
  assert(type >= NIDT_EUI64 && type <= NIDT_UUID, "nidLength: EUI64, NGUID or UUID");
  return type == NIDT_EUI64 ? 8 : 16;
}
/** Append a descriptor at `at` inside a 4096-byte list; the next free offset. */
export function nidAppend(list: usize, at: u32, type: u8, id: usize): u32 {
  const len = nidLength(type);
  assert(at + NID_HEADER_BYTES + len <= IDENTIFY_BYTES, "nidAppend: the list is 4096 bytes");
  store<u8>(list + at, type);
  store<u8>(list + at, <u8>len, 1);
  store<u16>(list + at, 0, 2);
  memory.copy(list + at + NID_HEADER_BYTES, id, len);
  return at + NID_HEADER_BYTES + len;
}

/** Copy `bytes` ASCII bytes into a field of `cap` bytes, space padded (Identify SN/MN/FR, discovery TRADDR/TRSVCID). */
export function putSpacePadded(field: usize, cap: u32, ascii: usize, bytes: u32): void {
  const n = min(bytes, cap);
  memory.copy(field, ascii, n);
  memory.fill(field + n, 0x20, cap - n);
}

// ---- Log pages ----
export const LID_ERROR: u8 = 0x01;
export const LID_SMART: u8 = 0x02;
export const LID_FIRMWARE: u8 = 0x03;
export const LID_CHANGED_NS: u8 = 0x04;
export const LID_DISCOVERY: u8 = 0x70;
/** Get Log Page dwords: LID in CDW10 bits 0-7, NUMDL bits 16-31, NUMDU CDW11 bits 0-15 (dwords, 0's based), LPOL/LPOU CDW12/13. */
export function logPageId(cdw10: u32): u8 { return <u8>(cdw10 & 0xff); }
export function logPageBytes(cdw10: u32, cdw11: u32): u64 { return ((<u64>(cdw11 & 0xffff) << 16 | <u64>(cdw10 >> 16)) + 1) << 2; }
export function logPageOffset(cdw12: u32, cdw13: u32): u64 { return <u64>cdw13 << 32 | <u64>cdw12; }

export const ERROR_LOG_ENTRY_BYTES: u32 = 64;
export const ELE_ERROR_COUNT: usize = 0;  // u64
export const ELE_SQID: usize = 8;         // u16
export const ELE_CID: usize = 10;         // u16
export const ELE_STATUS: usize = 12;      // u16
export const ELE_LBA: usize = 16;         // u64
export const ELE_NSID: usize = 24;        // u32

export const SMART_LOG_BYTES: u32 = 512;
export const SMART_CRITICAL_WARNING: usize = 0;  // u8
export const SMART_TEMPERATURE: usize = 1;       // u16 kelvin
export const SMART_AVAILABLE_SPARE: usize = 3;   // u8 percent
export const SMART_SPARE_THRESHOLD: usize = 4;   // u8
export const SMART_PERCENT_USED: usize = 5;      // u8
export const SMART_DATA_UNITS_READ: usize = 32;  // 16 bytes, thousands of 512-byte units
export const SMART_DATA_UNITS_WRITTEN: usize = 48;
export const SMART_HOST_READS: usize = 64;
export const SMART_HOST_WRITES: usize = 80;
export const SMART_POWER_ON_HOURS: usize = 128;

/** Changed namespace list: up to 1024 u32 NSIDs; 0xffffffff in the first entry means "more than 1024 changed". */
export const CHANGED_NS_LIST_BYTES: u32 = 4096;
export const CHANGED_NS_MAX: u32 = 1024;
export const CHANGED_NS_OVERFLOW: u32 = 0xffffffff;

export const DISCOVERY_HEADER_BYTES: u32 = 1024;
export const DLH_GENCTR: usize = 0;       // u64
export const DLH_NUMREC: usize = 8;       // u64
export const DLH_RECFMT: usize = 16;      // u16
export const DISCOVERY_ENTRY_BYTES: u32 = 1024;
export const DLE_TRTYPE: usize = 0;       // u8
export const DLE_ADRFAM: usize = 1;       // u8
export const DLE_SUBTYPE: usize = 2;      // u8: 1 discovery referral / discovery, 2 NVM subsystem
export const DLE_TREQ: usize = 3;         // u8: bits 0-1 secure channel (2 = not required)
export const DLE_PORTID: usize = 4;       // u16
export const DLE_CNTLID: usize = 6;       // u16 (0xffff dynamic)
export const DLE_ASQSZ: usize = 8;        // u16
export const DLE_TRSVCID: usize = 32;     // 32 bytes ASCII, space padded
// SUBNQN before TRADDR (Linux's struct nvmf_disc_rsp_page_entry; nvme discover read them swapped when
// these were the other way round).
export const DLE_SUBNQN: usize = 256;     // 256 bytes, NUL padded
export const DLE_TRADDR: usize = 512;     // 256 bytes ASCII, space padded
export const DLE_TSAS: usize = 768;       // 256 bytes: TCP: byte 0 SECTYPE
export const DLE_TRSVCID_BYTES: u32 = 32;
export const DLE_TRADDR_BYTES: u32 = 256;
export const SUBTYPE_DISCOVERY: u8 = 1;
export const SUBTYPE_NVME: u8 = 2;
export const TREQ_NOT_REQUIRED: u8 = 2;

/** Where entry `i` of a discovery log page begins (after the 1024-byte header). */
export function discoveryEntryOffset(i: u32): u64 { return <u64>DISCOVERY_HEADER_BYTES + <u64>i * <u64>DISCOVERY_ENTRY_BYTES; }
