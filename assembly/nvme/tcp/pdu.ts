// NVMe/TCP PDUs (NVMe/TCP Transport Specification 1.0; SPDK nvmf_spec.h): every PDU's layout with
// its sizes, typed accessors, and the writers of both sides (the controller's here, the host's under
// "host side"), shared by the target (nvme/tcp) and the host (nvme/host). Nothing here knows a connection.

import { crc32c } from "../../runtime/crc32c";

// ---- PDU types ----
export const PDU_IC_REQ: u8 = 0x00;
export const PDU_IC_RESP: u8 = 0x01;
export const PDU_H2C_TERM_REQ: u8 = 0x02;
export const PDU_C2H_TERM_REQ: u8 = 0x03;
export const PDU_CAPSULE_CMD: u8 = 0x04;
export const PDU_CAPSULE_RESP: u8 = 0x05;
export const PDU_H2C_DATA: u8 = 0x06;
export const PDU_C2H_DATA: u8 = 0x07;
export const PDU_R2T: u8 = 0x09;

// ---- common-header flags ----
export const FLAG_HDGSTF: u8 = 0x01;   // a header digest follows the header
export const FLAG_DDGSTF: u8 = 0x02;   // a data digest follows the data
export const FLAG_LAST_PDU: u8 = 0x04; // H2CData/C2HData: the last data PDU of the command
export const FLAG_SUCCESS: u8 = 0x08;  // C2HData with LAST_PDU: the command succeeded, no CapsuleResp follows

// ---- TermReq fatal error status (FES) ----
export const FES_INVALID_HEADER_FIELD: u16 = 1;
export const FES_PDU_SEQUENCE_ERROR: u16 = 2;
export const FES_HEADER_DIGEST_ERROR: u16 = 3;
export const FES_DATA_OUT_OF_RANGE: u16 = 4;
export const FES_DATA_LIMIT_EXCEEDED: u16 = 5;
export const FES_UNSUPPORTED_PARAMETER: u16 = 6;

// ---- sizes ----
export const CH_BYTES: u32 = 8;              // the common header every PDU starts with
export const IC_BYTES: u32 = 128;            // ICReq and ICResp: hlen = plen = 128, never digested
export const CAPSULE_CMD_HLEN: u32 = 72;     // common header + 64-byte SQE
export const CAPSULE_RESP_HLEN: u32 = 24;    // common header + 16-byte CQE
export const DATA_HLEN: u32 = 24;            // H2CData, C2HData, R2T
export const TERM_REQ_HLEN: u32 = 24;
export const TERM_REQ_MAX_BYTES: u32 = 152;  // header + at most 128 bytes of the offending PDU
export const TERM_REQ_OFFENDING_MAX: u32 = TERM_REQ_MAX_BYTES - TERM_REQ_HLEN;
export const DIGEST_BYTES: u32 = 4;
export const PDA_MAX: u32 = 31;              // HPDA/CPDA: data aligned to (pda + 1) * 4 bytes
export const PFV_1_0: u16 = 0;               // the only PDU format version
/** The most header bytes (with digest) any PDU a controller receives can have: sizes a header buffer. */
export const RECV_HEADER_MAX: u32 = IC_BYTES;
/** The most header bytes (with digest and the widest padding) a PDU the controller sends can have. */
export const SEND_HEADER_MAX: u32 = 128;

// ---- the common header ----
const CH_TYPE: usize = 0;     // u8
const CH_FLAGS: usize = 1;    // u8
const CH_HLEN: usize = 2;     // u8
const CH_PDO: usize = 3;      // u8
const CH_PLEN: usize = 4;     // u32
export function pduType(pdu: usize): u8 { return load<u8>(pdu + CH_TYPE); }
export function pduFlags(pdu: usize): u8 { return load<u8>(pdu + CH_FLAGS); }
export function pduHlen(pdu: usize): u32 { return <u32>load<u8>(pdu + CH_HLEN); }
export function pduPdo(pdu: usize): u32 { return <u32>load<u8>(pdu + CH_PDO); }
export function pduPlen(pdu: usize): u32 { return load<u32>(pdu + CH_PLEN); }
function writeCommon(pdu: usize, type: u8, flags: u8, hlen: u32, pdo: u32, plen: u32): void {
  assert(hlen <= 255 && pdo <= 255, "writeCommon: hlen and pdo are bytes");
  store<u8>(pdu + CH_TYPE, type);
  store<u8>(pdu + CH_FLAGS, flags);
  store<u8>(pdu + CH_HLEN, <u8>hlen);
  store<u8>(pdu + CH_PDO, <u8>pdo);
  store<u32>(pdu + CH_PLEN, plen);
}

// ---- ICReq / ICResp (the same shape: PFV, a PDA, the digest bits, a 32-bit limit) ----
const IC_PFV: usize = 8;      // u16
const IC_PDA: usize = 10;     // u8: ICReq HPDA, ICResp CPDA
const IC_DGST: usize = 11;    // u8: bit 0 header digest, bit 1 data digest
const IC_LIMIT: usize = 12;   // u32: ICReq MAXR2T (0's based), ICResp MAXH2CDATA (bytes)
export const IC_DGST_HEADER: u8 = 1;
export const IC_DGST_DATA: u8 = 2;
export function icPfv(pdu: usize): u16 { return load<u16>(pdu + IC_PFV); }
export function icPda(pdu: usize): u32 { return <u32>load<u8>(pdu + IC_PDA); }
export function icDigests(pdu: usize): u8 { return load<u8>(pdu + IC_DGST); }
/** ICReq: R2Ts the host lets the controller have outstanding per command (MAXR2T + 1). */
export function icReqMaxR2t(pdu: usize): u64 { return <u64>load<u32>(pdu + IC_LIMIT) + 1; }
export function icRespMaxH2cData(pdu: usize): u32 { return load<u32>(pdu + IC_LIMIT); }
/** ICResp into a 128-byte buffer; the bytes to send (128). */
export function pduWriteIcResp(pdu: usize, cpda: u32, digests: u8, maxH2cData: u32): u32 {
  assert(cpda <= PDA_MAX && (digests & ~(IC_DGST_HEADER | IC_DGST_DATA)) == 0, "pduWriteIcResp: CPDA 0..31, digest bits 0-1");
  assert(maxH2cData >= 4096 && (maxH2cData & 3) == 0, "pduWriteIcResp: MAXH2CDATA is at least 4096 and a multiple of 4");
  memory.fill(pdu, 0, IC_BYTES);
  writeCommon(pdu, PDU_IC_RESP, 0, IC_BYTES, 0, IC_BYTES);
  store<u16>(pdu + IC_PFV, PFV_1_0);
  store<u8>(pdu + IC_PDA, <u8>cpda);
  store<u8>(pdu + IC_DGST, digests);
  store<u32>(pdu + IC_LIMIT, maxH2cData);
  return IC_BYTES;
}

// ---- CapsuleCmd / CapsuleResp ----
const CAPSULE_ENTRY: usize = 8;  // the SQE (CapsuleCmd) or the CQE (CapsuleResp)
export function capsuleSqe(pdu: usize): usize { return pdu + CAPSULE_ENTRY; }
/** CapsuleResp carrying the 16-byte `cqe`; the bytes to send (with the header digest when on). */
export function pduWriteCapsuleResp(pdu: usize, cqe: usize, hdgst: bool): u32 {
  const plen = CAPSULE_RESP_HLEN + (hdgst ? DIGEST_BYTES : 0);
  writeCommon(pdu, PDU_CAPSULE_RESP, hdgst ? FLAG_HDGSTF : 0, CAPSULE_RESP_HLEN, 0, plen);
  memory.copy(pdu + CAPSULE_ENTRY, cqe, CAPSULE_RESP_HLEN - CH_BYTES);
  if (hdgst) headerDigestWrite(pdu, CAPSULE_RESP_HLEN);
  return plen;
}

// ---- H2CData / C2HData / R2T (C2HData leaves TTAG reserved) ----
const DATA_CCCID: usize = 8;     // u16: the command's CID
const DATA_TTAG: usize = 10;     // u16: the R2T's transfer tag
const DATA_OFFSET: usize = 12;   // u32: DATAO / R2TO, from the start of the command's data
const DATA_LENGTH: usize = 16;   // u32: DATAL / R2TL
export function dataCccid(pdu: usize): u16 { return load<u16>(pdu + DATA_CCCID); }
export function dataTtag(pdu: usize): u16 { return load<u16>(pdu + DATA_TTAG); }
export function dataOffset(pdu: usize): u32 { return load<u32>(pdu + DATA_OFFSET); }
export function dataLength(pdu: usize): u32 { return load<u32>(pdu + DATA_LENGTH); }

/** Where data starts after a header of `hlen` (+ digest), aligned up to the receiver's (pda + 1) * 4 bytes. */
export function pduDataStart(hlen: u32, hdgst: bool, pda: u32): u32 {
  assert(pda <= PDA_MAX, "pduDataStart: PDA is 0..31");
  const align = (pda + 1) << 2;
  const end = hlen + (hdgst ? DIGEST_BYTES : 0);
  return (end + align - 1) / align * align;
}

/**
 * The header of a C2HData carrying `datal` bytes at `datao` (the data and its digest follow, sent
 * from the request's buffers); the header bytes to send, padding included (= PDO).
 */
export function pduWriteC2HData(pdu: usize, cccid: u16, datao: u32, datal: u32, last: bool, success: bool,
  hdgst: bool, ddgst: bool, hpda: u32): u32 {
  assert(!success || last, "pduWriteC2HData: SUCCESS only on the last PDU");
  return writeDataPdu(pdu, PDU_C2H_DATA, success ? FLAG_SUCCESS : 0, cccid, 0, datao, datal, last, hdgst, ddgst, hpda);
}

/** C2HData or H2CData's header, data aligned to the receiver's `pda`; the header bytes to send (= PDO). */
function writeDataPdu(pdu: usize, type: u8, typeFlags: u8, cccid: u16, ttag: u16, datao: u32, datal: u32, last: bool,
  hdgst: bool, ddgst: bool, pda: u32): u32 {
  assert(datal > 0, "a data PDU carries data");
  const pdo = pduDataStart(DATA_HLEN, hdgst, pda);
  assert(pdo <= SEND_HEADER_MAX, "the padded data PDU header fits SEND_HEADER_MAX");
  const plen = pdo + datal + (ddgst ? DIGEST_BYTES : 0);
  assert(plen > datal, "a data PDU's plen fits in 32 bits");
  const flags = (hdgst ? FLAG_HDGSTF : 0) | (ddgst ? FLAG_DDGSTF : 0) | (last ? FLAG_LAST_PDU : 0) | typeFlags;
  writeCommon(pdu, type, <u8>flags, DATA_HLEN, pdo, plen);
  writeDataFields(pdu, cccid, ttag, datao, datal);
  if (hdgst) headerDigestWrite(pdu, DATA_HLEN);
  const padFrom = DATA_HLEN + (hdgst ? DIGEST_BYTES : 0);
  memory.fill(pdu + padFrom, 0, pdo - padFrom);
  return pdo;
}

/** R2T asking for `r2tl` bytes at `r2to` under transfer tag `ttag`; the bytes to send. */
export function pduWriteR2t(pdu: usize, cccid: u16, ttag: u16, r2to: u32, r2tl: u32, hdgst: bool): u32 {
  assert(r2tl > 0, "pduWriteR2t: an R2T asks for data");
  const plen = DATA_HLEN + (hdgst ? DIGEST_BYTES : 0);
  writeCommon(pdu, PDU_R2T, hdgst ? FLAG_HDGSTF : 0, DATA_HLEN, 0, plen);
  writeDataFields(pdu, cccid, ttag, r2to, r2tl);
  if (hdgst) headerDigestWrite(pdu, DATA_HLEN);
  return plen;
}

function writeDataFields(pdu: usize, cccid: u16, ttag: u16, offset: u32, length: u32): void {
  store<u16>(pdu + DATA_CCCID, cccid);
  store<u16>(pdu + DATA_TTAG, ttag);
  store<u32>(pdu + DATA_OFFSET, offset);
  store<u32>(pdu + DATA_LENGTH, length);
  store<u32>(pdu + DATA_LENGTH + 4, 0);
}

// ---- H2CTermReq / C2HTermReq ----
const TERM_FES: usize = 8;    // u16
const TERM_FEI: usize = 10;   // u32: the offending field's byte offset (FES 1 and 6), else reserved
export function termFes(pdu: usize): u16 { return load<u16>(pdu + TERM_FES); }
export function termFei(pdu: usize): u32 { return load<u32>(pdu + TERM_FEI); }
/**
 * C2HTermReq with `fes`/`fei` and the first bytes of the offending PDU (at most 128, as the spec
 * bounds it); never digested. Returns the bytes to send (its plen).
 */
export function pduWriteTermReq(pdu: usize, fes: u16, fei: u32, offending: usize, offendingBytes: u32): u32 {
  return writeTermReq(pdu, PDU_C2H_TERM_REQ, fes, fei, offending, offendingBytes);
}
function writeTermReq(pdu: usize, type: u8, fes: u16, fei: u32, offending: usize, offendingBytes: u32): u32 {
  assert(fes >= FES_INVALID_HEADER_FIELD && fes <= FES_UNSUPPORTED_PARAMETER, "pduWriteTermReq: FES 1..6");
  const kept = min(offendingBytes, TERM_REQ_OFFENDING_MAX);
  const plen = TERM_REQ_HLEN + kept;
  memory.fill(pdu, 0, TERM_REQ_HLEN);
  writeCommon(pdu, type, 0, TERM_REQ_HLEN, 0, plen);
  store<u16>(pdu + TERM_FES, fes);
  if (fes == FES_INVALID_HEADER_FIELD || fes == FES_UNSUPPORTED_PARAMETER) store<u32>(pdu + TERM_FEI, fei);
  memory.copy(pdu + TERM_REQ_HLEN, offending, kept);
  return plen;
}

// ---- host side: ICReq, CapsuleCmd, H2CData ----
/** ICReq into a 128-byte buffer (HPDA, the digests asked for, MAXR2T as R2Ts per command); the bytes to send (128). */
export function pduWriteIcReq(pdu: usize, hpda: u32, digests: u8, maxR2tPerCommand: u32): u32 {
  assert(hpda <= PDA_MAX && (digests & ~(IC_DGST_HEADER | IC_DGST_DATA)) == 0, "pduWriteIcReq: HPDA 0..31, digest bits 0-1");
  assert(maxR2tPerCommand >= 1, "pduWriteIcReq: at least one R2T per command");
  memory.fill(pdu, 0, IC_BYTES);
  writeCommon(pdu, PDU_IC_REQ, 0, IC_BYTES, 0, IC_BYTES);
  store<u16>(pdu + IC_PFV, PFV_1_0);
  store<u8>(pdu + IC_PDA, <u8>hpda);
  store<u8>(pdu + IC_DGST, digests);
  store<u32>(pdu + IC_LIMIT, maxR2tPerCommand - 1);     // 0's based on the wire
  return IC_BYTES;
}

/**
 * The header of a CapsuleCmd carrying the 64-byte `sqe` and `inCapsuleBytes` of data (which, with
 * its digest, follows from the command's buffers); the header bytes to send, padding included.
 */
export function pduWriteCapsuleCmd(pdu: usize, sqe: usize, inCapsuleBytes: u32, hdgst: bool, ddgst: bool, cpda: u32): u32 {
  const hasData = inCapsuleBytes > 0;
  const pdo = hasData ? pduDataStart(CAPSULE_CMD_HLEN, hdgst, cpda) : 0;
  const headerEnd = CAPSULE_CMD_HLEN + (hdgst ? DIGEST_BYTES : 0);
  assert(max(pdo, headerEnd) <= SEND_HEADER_MAX, "pduWriteCapsuleCmd: the padded header fits SEND_HEADER_MAX");
  const plen = hasData ? pdo + inCapsuleBytes + (ddgst ? DIGEST_BYTES : 0) : headerEnd;
  const flags = (hdgst ? FLAG_HDGSTF : 0) | (hasData && ddgst ? FLAG_DDGSTF : 0);
  writeCommon(pdu, PDU_CAPSULE_CMD, <u8>flags, CAPSULE_CMD_HLEN, pdo, plen);
  memory.copy(pdu + CAPSULE_ENTRY, sqe, CAPSULE_CMD_HLEN - CH_BYTES);
  if (hdgst) headerDigestWrite(pdu, CAPSULE_CMD_HLEN);
  if (!hasData) return headerEnd;
  memory.fill(pdu + headerEnd, 0, pdo - headerEnd);
  return pdo;
}

/** The header of an H2CData answering R2T `ttag` with `datal` bytes at `datao`; the header bytes to send (= PDO). */
export function pduWriteH2CData(pdu: usize, cccid: u16, ttag: u16, datao: u32, datal: u32, last: bool,
  hdgst: bool, ddgst: bool, cpda: u32): u32 {
  return writeDataPdu(pdu, PDU_H2C_DATA, 0, cccid, ttag, datao, datal, last, hdgst, ddgst, cpda);
}

/** H2CTermReq (the host's, same shape as the controller's C2HTermReq); FEI 0. The bytes to send. */
export function pduWriteH2CTermReq(pdu: usize, fes: u16, offending: usize, offendingBytes: u32): u32 {
  return writeTermReq(pdu, PDU_H2C_TERM_REQ, fes, 0, offending, offendingBytes);
}

// ---- digests (CRC32C over the header / the data, stored little-endian right after it) ----
function headerDigestWrite(pdu: usize, hlen: u32): void { store<u32>(pdu + hlen, crc32c(pdu, hlen)); }
export function headerDigestOk(pdu: usize): bool {
  const hlen = pduHlen(pdu);
  return load<u32>(pdu + hlen) == crc32c(pdu, hlen);
}

// ---- the layout, checked once against the spec's figures (each field inside its header) ----
assert(CH_PLEN + 4 == CH_BYTES, "pdu: common header is 8 bytes");
assert(IC_LIMIT + 4 <= IC_BYTES, "pdu: IC fields inside 128 bytes");
assert(CAPSULE_ENTRY + 64 == CAPSULE_CMD_HLEN && CAPSULE_ENTRY + 16 == CAPSULE_RESP_HLEN, "pdu: capsule = header + SQE/CQE");
assert(DATA_LENGTH + 8 == DATA_HLEN, "pdu: data PDU header is 24 bytes");
assert(TERM_FEI + 4 <= TERM_REQ_HLEN, "pdu: TermReq fields inside 24 bytes");
assert(pduDataStart(DATA_HLEN, true, PDA_MAX) <= SEND_HEADER_MAX, "pdu: the widest C2HData header fits SEND_HEADER_MAX");
