// NVMe over Fabrics command facts: the Fabrics command's FCTYPE, Connect (its SQE fields and its
// 1024-byte data), Property Get/Set and the controller properties, and NQN validation. Read and
// written only through these accessors. Sources: NVMe-oF 1.1 (Connect, Property Get/Set figures),
// SPDK include/spdk/nvmf_spec.h.

import { OPC_FABRICS, sqeOpcode, opcodeXfer } from "./spec";

// ---- the Fabrics command (opcode 0x7f): FCTYPE at byte 4, where other commands have the NSID ----
const FAB_FCTYPE: usize = 4;                      // u8
export const FCTYPE_PROPERTY_SET: u8 = 0x00;
export const FCTYPE_CONNECT: u8 = 0x01;
export const FCTYPE_PROPERTY_GET: u8 = 0x04;
export const FCTYPE_AUTH_SEND: u8 = 0x05;
export const FCTYPE_AUTH_RECV: u8 = 0x06;
export function fabricsType(sqe: usize): u8 { return load<u8>(sqe + FAB_FCTYPE); }
/**
 * A command's data direction (spec.ts XFER_*): its opcode's low two bits, or for a Fabrics command
 * its FCTYPE's (NVMe-oF 1.1: Connect and Authentication Send carry host data, Property Get/Set none).
 */
export function sqeXfer(sqe: usize): u32 {
  const opc = sqeOpcode(sqe);
  return opc == OPC_FABRICS ? <u32>fabricsType(sqe) & 3 : opcodeXfer(opc);
}
export function fabricsSetType(sqe: usize, fctype: u8): void { store<u8>(sqe + FAB_FCTYPE, fctype); }

// ---- Connect SQE ----
const CONNECT_RECFMT: usize = 40;                 // u16
const CONNECT_QID: usize = 42;                    // u16
const CONNECT_SQSIZE: usize = 44;                 // u16: entries - 1
const CONNECT_CATTR: usize = 46;                  // u8
const CONNECT_KATO: usize = 48;                   // u32, milliseconds
export function connectRecfmt(sqe: usize): u16 { return load<u16>(sqe + CONNECT_RECFMT); }
export function connectQid(sqe: usize): u16 { return load<u16>(sqe + CONNECT_QID); }
/** Entries the host asks for (SQSIZE is 0's based). */
export function connectQueueEntries(sqe: usize): u32 { return <u32>load<u16>(sqe + CONNECT_SQSIZE) + 1; }
export function connectCattr(sqe: usize): u8 { return load<u8>(sqe + CONNECT_CATTR); }
export function connectKatoMs(sqe: usize): u32 { return load<u32>(sqe + CONNECT_KATO); }
/** A host's Connect fields (the SQE already has opcode 0x7f and FCTYPE Connect): queue `qid` of `entries`. */
export function connectSetFields(sqe: usize, qid: u16, entries: u32, katoMs: u32): void {
  assert(entries >= 2 && entries <= 65536, "connectSetFields: 2..65536 entries");
  store<u16>(sqe + CONNECT_RECFMT, 0);
  store<u16>(sqe + CONNECT_QID, qid);
  store<u16>(sqe + CONNECT_SQSIZE, <u16>(entries - 1));
  store<u8>(sqe + CONNECT_CATTR, 0);
  store<u32>(sqe + CONNECT_KATO, katoMs);
}

// ---- Connect data (1024 bytes, host to controller) ----
export const CONNECT_DATA_BYTES: u32 = 1024;
export const NQN_FIELD_BYTES: u32 = 256;          // subnqn and hostnqn fields, NUL padded
const CD_HOSTID: usize = 0;                       // 16 bytes
const CD_CNTLID: usize = 16;                      // u16: 0xffff = dynamic controller (admin Connect)
const CD_SUBNQN: usize = 256;
const CD_HOSTNQN: usize = 512;
export const HOSTID_BYTES: u32 = 16;
export const CNTLID_DYNAMIC: u16 = 0xffff;
export function connectDataHostId(data: usize): usize { return data + CD_HOSTID; }
export function connectDataCntlid(data: usize): u16 { return load<u16>(data + CD_CNTLID); }
export function connectDataSubnqn(data: usize): usize { return data + CD_SUBNQN; }
export function connectDataHostnqn(data: usize): usize { return data + CD_HOSTNQN; }
/** A host's Connect data: the 16-byte host id, the controller id, and the NUL-terminated NQNs (each < 256 bytes). */
export function connectDataWrite(data: usize, hostId: usize, cntlid: u16, subnqn: usize, hostnqn: usize): void {
  memory.fill(data, 0, CONNECT_DATA_BYTES);
  memory.copy(data + CD_HOSTID, hostId, HOSTID_BYTES);
  store<u16>(data + CD_CNTLID, cntlid);
  const subBytes = fieldLength(subnqn, NQN_FIELD_BYTES);
  const hostBytes = fieldLength(hostnqn, NQN_FIELD_BYTES);
  assert(subBytes < NQN_FIELD_BYTES && hostBytes < NQN_FIELD_BYTES, "connectDataWrite: NQNs fit their fields with a NUL");
  memory.copy(data + CD_SUBNQN, subnqn, subBytes);
  memory.copy(data + CD_HOSTNQN, hostnqn, hostBytes);
}

// ---- Connect response DW0: the controller id on success, or where the bad parameter is ----
/** Connect-specific status codes (SCT 1). */
export const SC_CONNECT_INCOMPATIBLE_FORMAT: u32 = 0x80;
export const SC_CONNECT_CONTROLLER_BUSY: u32 = 0x81;
export const SC_CONNECT_INVALID_PARAMETERS: u32 = 0x82;
export const SC_CONNECT_RESTART_DISCOVERY: u32 = 0x83;
export const SC_CONNECT_INVALID_HOST: u32 = 0x84;
/** IATTR: 0 the parameter is in the command (SQE), 1 in the Connect data. */
export const IATTR_COMMAND: u32 = 0;
export const IATTR_DATA: u32 = 1;
/** DW0 of an Invalid Parameters refusal: IPO (byte offset of the bad field) in bits 0-15, IATTR in bit 16. */
export function connectInvalidParamDw0(iattr: u32, ipo: u32): u32 {
  assert(iattr <= 1 && ipo < CONNECT_DATA_BYTES, "connectInvalidParamDw0: IATTR 0/1, IPO inside the command or its data");
  return (iattr << 16) | ipo;
}
/** Offsets a refusal names (IPO). */
export const IPO_QID: u32 = <u32>CONNECT_QID;
export const IPO_SQSIZE: u32 = <u32>CONNECT_SQSIZE;
export const IPO_CNTLID: u32 = <u32>CD_CNTLID;
export const IPO_SUBNQN: u32 = <u32>CD_SUBNQN;
export const IPO_HOSTNQN: u32 = <u32>CD_HOSTNQN;

// ---- Property Get/Set ----
const PROP_ATTRIB: usize = 40;                    // u8: bits 0-2 size, 0 = 4 bytes, 1 = 8 bytes
const PROP_OFST: usize = 44;                      // u32
const PROP_VALUE: usize = 48;                     // u64 (Set)
export function propertyIs8Bytes(sqe: usize): bool { return (load<u8>(sqe + PROP_ATTRIB) & 7) == 1; }
export function propertyOffset(sqe: usize): u32 { return load<u32>(sqe + PROP_OFST); }
export function propertyValue(sqe: usize): u64 { return load<u64>(sqe + PROP_VALUE); }
/** A host's Property Get/Set fields (the SQE already has opcode 0x7f and its FCTYPE). */
export function propertySetFields(sqe: usize, ofst: u32, value: u64): void {
  const bytes = propertyBytes(ofst);
  assert(bytes != 0, "propertySetFields: a property Fabrics has");
  store<u8>(sqe + PROP_ATTRIB, bytes == 8 ? 1 : 0);
  store<u32>(sqe + PROP_OFST, ofst);
  store<u64>(sqe + PROP_VALUE, value);
}

/** Controller properties (the register map of NVMe base spec 3.1), as Fabrics Property Get/Set names them. */
export const PROP_CAP: u32 = 0x00;                // 8 bytes
export const PROP_VS: u32 = 0x08;
export const PROP_CC: u32 = 0x14;
export const PROP_CSTS: u32 = 0x1c;
export const PROP_NSSR: u32 = 0x20;
export const PROP_AQA: u32 = 0x24;                // kept for hosts that write them (SPDK does); unused over Fabrics
export const PROP_ASQ: u32 = 0x28;                // 8 bytes
export const PROP_ACQ: u32 = 0x30;                // 8 bytes
/** The width in bytes of property `ofst` (0 for one Fabrics does not have). */
export function propertyBytes(ofst: u32): u32 {
  if (ofst == PROP_CAP || ofst == PROP_ASQ || ofst == PROP_ACQ) return 8;
  if (ofst == PROP_VS || ofst == PROP_CC || ofst == PROP_CSTS || ofst == PROP_NSSR || ofst == PROP_AQA) return 4;
  return 0;
}

/** CAP: MQES 0-15 (entries - 1), CQR 16, TO 24-31 (500 ms units), CSS 37-44 (bit 0: NVM command set). */
export function capValue(maxQueueEntries: u32, timeoutHalfSeconds: u32): u64 {
  assert(maxQueueEntries >= 2 && maxQueueEntries <= 65536, "CAP.MQES: 2..65536 entries");
  assert(timeoutHalfSeconds >= 1 && timeoutHalfSeconds <= 255, "CAP.TO: 1..255 half-seconds");
  return <u64>(maxQueueEntries - 1) | (<u64>1 << 16) | (<u64>timeoutHalfSeconds << 24) | (<u64>1 << 37);
}
/** CAP.MQES + 1: the most entries a queue may have. */
export function capQueueEntriesMax(cap: u64): u32 { return <u32>(cap & 0xffff) + 1; }
/** CAP.TO: how long CSTS.RDY may take to follow CC.EN, in microseconds. */
export function capReadyTimeoutUs(cap: u64): u64 { return ((cap >> 24) & 0xff) * 500000; }
export const VS_1_3: u32 = 0x00010300;
// CC fields
export function ccEnabled(cc: u32): bool { return (cc & 1) != 0; }
export function ccShn(cc: u32): u32 { return (cc >> 14) & 3; }
export function ccIosqes(cc: u32): u32 { return (cc >> 16) & 0xf; }
export function ccIocqes(cc: u32): u32 { return (cc >> 20) & 0xf; }
/** CSS bits 4-6, MPS 7-10, AMS 11-13: this target has the NVM command set, 4 KiB pages, round robin only (all 0). */
export function ccCssMpsAms(cc: u32): u32 { return (cc >> 4) & 0x3ff; }
export const CC_EN: u32 = 1;
export const CC_IOSQES_64B: u32 = 6;              // log2 of SQE_BYTES
export const CC_IOCQES_16B: u32 = 4;              // log2 of CQE_BYTES
// CSTS fields
export const CSTS_RDY: u32 = 1;
export const CSTS_CFS: u32 = 2;
export const CSTS_SHST_SHIFT: u32 = 2;
export const CSTS_SHST_MASK: u32 = 3 << 2;
export const SHST_NORMAL: u32 = 0;
export const SHST_OCCURRING: u32 = 1;
export const SHST_COMPLETE: u32 = 2;

// ---- NQNs ----
/** An NQN's longest form, without its NUL (NVMe base spec 4.5). */
export const NQN_MAX_BYTES: u32 = 223;
export const DISCOVERY_NQN: string = "nqn.2014-08.org.nvmexpress.discovery";

/** Why an NQN is refused: null when it is valid ("nqn." then "yyyy-mm." then a domain, or "nqn.2014-08.org.nvmexpress:uuid:"). */
export function nqnProblem(ascii: usize, bytes: u32): string | null {
  if (bytes == 0) return "an NQN may not be empty";
  if (bytes > NQN_MAX_BYTES) return "an NQN is at most 223 bytes";
  for (let i: u32 = 0; i < bytes; i++) {
    const c = load<u8>(ascii + i);
    if (c < 0x21 || c > 0x7e) return "an NQN holds printable ASCII only, without spaces";
  }
  if (!startsWith(ascii, bytes, "nqn.")) return "an NQN starts with \"nqn.\"";
  if (startsWith(ascii, bytes, "nqn.2014-08.org.nvmexpress:uuid:")) return bytes == 32 + 36 ? null : "a UUID NQN ends with a 36-character UUID";
  // "nqn." yyyy "-" mm "." then at least one character of reverse domain
  if (bytes < 13) return "an NQN reads nqn.yyyy-mm.<reverse domain>";
  for (let i: u32 = 4; i < 11; i++) {
    const c = load<u8>(ascii + i);
    const want: bool = i == 8 ? c == 0x2d : i < 8 || i > 8 ? (c >= 0x30 && c <= 0x39) : false;
    if (!want) return "an NQN reads nqn.yyyy-mm.<reverse domain>";
  }
  if (load<u8>(ascii + 11) != 0x2e) return "an NQN reads nqn.yyyy-mm.<reverse domain>";
  return null;
}

/** Bytes before the NUL of a NUL-padded field of `cap` bytes (cap when it has none: refused by nqnProblem's length check). */
export function fieldLength(field: usize, cap: u32): u32 {
  for (let i: u32 = 0; i < cap; i++) if (load<u8>(field + i) == 0) return i;
  return cap;
}

function startsWith(ascii: usize, bytes: u32, prefix: string): bool {
  if (<u32>prefix.length > bytes) return false;
  for (let i = 0; i < prefix.length; i++) if (load<u8>(ascii + <usize>i) != <u8>prefix.charCodeAt(i)) return false;
  return true;
}
