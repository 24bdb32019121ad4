// The controller's checks on every PDU a host sends (hlen, pdo, plen and flags per type, the IC
// exchange, digests, data PDUs against the command they belong to), each refusal a verdict that
// carries its TermReq (FES, FEI) and a sentence saying what was wrong.

import {
  PDU_IC_REQ, PDU_IC_RESP, PDU_H2C_TERM_REQ, PDU_C2H_TERM_REQ, PDU_CAPSULE_CMD, PDU_CAPSULE_RESP, PDU_H2C_DATA, PDU_C2H_DATA, PDU_R2T,
  FLAG_HDGSTF, FLAG_DDGSTF, IC_BYTES, CAPSULE_CMD_HLEN, CAPSULE_RESP_HLEN, DATA_HLEN, TERM_REQ_HLEN, TERM_REQ_MAX_BYTES,
  DIGEST_BYTES, PDA_MAX, PFV_1_0, FES_INVALID_HEADER_FIELD, FES_PDU_SEQUENCE_ERROR, FES_HEADER_DIGEST_ERROR,
  FES_DATA_OUT_OF_RANGE, FES_DATA_LIMIT_EXCEEDED,
  pduType, pduFlags, pduHlen, pduPdo, pduPlen, pduDataStart, icPfv, icPda, dataLength, headerDigestOk,
} from "./pdu";

/** What one connection negotiated and allows: the checks' only inputs besides the bytes. */
@unmanaged export class PduRules {
  icDone: u32;          // the ICReq/ICResp exchange happened
  hdgst: u32;           // header digests on (1) or off (0)
  ddgst: u32;           // data digests on
  cpda: u32;            // the alignment the controller asked of the host's data (ICResp CPDA)
  maxInCapsule: u32;    // in-capsule data bytes a CapsuleCmd may carry
  maxH2cData: u32;      // data bytes one H2CData may carry (ICResp MAXH2CDATA)
}

// ---- verdicts ----
export const PDU_OK: u32 = 0;
export const BAD_TYPE_UNKNOWN: u32 = 1;
export const BAD_TYPE_C2H: u32 = 2;
export const BAD_BEFORE_IC: u32 = 3;
export const BAD_IC_AGAIN: u32 = 4;
export const BAD_HLEN: u32 = 5;
export const BAD_HDGSTF: u32 = 6;
export const BAD_DDGSTF: u32 = 7;
export const BAD_PLEN_SHORT: u32 = 8;
export const BAD_PLEN_IC: u32 = 9;
export const BAD_PLEN_TERM_REQ: u32 = 10;
export const BAD_PDO: u32 = 11;
export const BAD_NO_DATA: u32 = 12;
export const BAD_CAPSULE_DATA_LIMIT: u32 = 13;
export const BAD_H2C_DATA_LIMIT: u32 = 14;
export const BAD_HEADER_DIGEST: u32 = 15;
export const BAD_IC_PFV: u32 = 16;
export const BAD_IC_HPDA: u32 = 17;
export const BAD_DATAL: u32 = 18;
export const BAD_DATA_CID: u32 = 19;
export const BAD_DATA_TTAG: u32 = 20;
export const BAD_DATA_OFFSET: u32 = 21;
export const BAD_DATA_RANGE: u32 = 22;
export const BAD_DATA_DIGEST: u32 = 23;
export const BAD_QUEUE_OVERRUN: u32 = 24;
const VERDICT_COUNT: u32 = 25;

// Byte offsets the FEI names (the field at fault).
const FEI_FLAGS: u32 = 1;
const FEI_HLEN: u32 = 2;
const FEI_PDO: u32 = 3;
const FEI_PLEN: u32 = 4;
const FEI_PFV: u32 = 8;
const FEI_HPDA: u32 = 10;
const FEI_CCCID: u32 = 8;
const FEI_TTAG: u32 = 10;
const FEI_DATAO: u32 = 12;
const FEI_DATAL: u32 = 16;

/** FES of a verdict's TermReq in bits 0-15, FEI in bits 16-31. */
const VERDICTS = memory.data<u32>([
  0,
  FES_INVALID_HEADER_FIELD, FES_INVALID_HEADER_FIELD, FES_PDU_SEQUENCE_ERROR, FES_PDU_SEQUENCE_ERROR,
  FES_INVALID_HEADER_FIELD | FEI_HLEN << 16, FES_INVALID_HEADER_FIELD | FEI_FLAGS << 16, FES_INVALID_HEADER_FIELD | FEI_FLAGS << 16,
  FES_INVALID_HEADER_FIELD | FEI_PLEN << 16, FES_INVALID_HEADER_FIELD | FEI_PLEN << 16, FES_INVALID_HEADER_FIELD | FEI_PLEN << 16,
  FES_INVALID_HEADER_FIELD | FEI_PDO << 16, FES_INVALID_HEADER_FIELD | FEI_PLEN << 16,
  FES_DATA_LIMIT_EXCEEDED, FES_DATA_LIMIT_EXCEEDED, FES_HEADER_DIGEST_ERROR,
  FES_INVALID_HEADER_FIELD | FEI_PFV << 16, FES_INVALID_HEADER_FIELD | FEI_HPDA << 16, FES_INVALID_HEADER_FIELD | FEI_DATAL << 16,
  FES_INVALID_HEADER_FIELD | FEI_CCCID << 16, FES_INVALID_HEADER_FIELD | FEI_TTAG << 16,
  FES_DATA_OUT_OF_RANGE | FEI_DATAO << 16, FES_DATA_OUT_OF_RANGE | FEI_DATAL << 16,
  FES_HEADER_DIGEST_ERROR,      // a data digest error ends the connection as a header digest error does (SPDK, Linux nvmet)
  FES_PDU_SEQUENCE_ERROR,
]);

export function verdictFes(v: u32): u16 {
  assert(v > PDU_OK && v < VERDICT_COUNT, "verdictFes: a refusal");
  return <u16>(load<u32>(VERDICTS + (<usize>v << 2)) & 0xffff);
}
export function verdictFei(v: u32): u32 {
  assert(v > PDU_OK && v < VERDICT_COUNT, "verdictFei: a refusal");
  return load<u32>(VERDICTS + (<usize>v << 2)) >> 16;
}
/** What was wrong, for the report naming the connection. */
export function verdictText(v: u32): string {
  switch (v) {
    case BAD_TYPE_UNKNOWN: return "unknown PDU type";
    case BAD_TYPE_C2H: return "a PDU type only a controller sends";
    case BAD_BEFORE_IC: return "a PDU before the ICReq";
    case BAD_IC_AGAIN: return "a second ICReq";
    case BAD_HLEN: return "hlen is not the PDU type's header length";
    case BAD_HDGSTF: return "HDGSTF does not match the header digest negotiated in ICReq";
    case BAD_DDGSTF: return "DDGSTF does not match the data digest negotiated in ICReq and the PDU's data";
    case BAD_PLEN_SHORT: return "plen is shorter than the header";
    case BAD_PLEN_IC: return "an ICReq's plen is not 128";
    case BAD_PLEN_TERM_REQ: return "a TermReq's plen is outside 24..152";
    case BAD_PDO: return "pdo is not where the data must start (after the header, its digest and CPDA padding; 0 without data)";
    case BAD_NO_DATA: return "plen leaves data where the PDU type carries none, or none where it must";
    case BAD_CAPSULE_DATA_LIMIT: return "in-capsule data over the transport's in_capsule_data_size";
    case BAD_H2C_DATA_LIMIT: return "H2CData over MAXH2CDATA";
    case BAD_HEADER_DIGEST: return "wrong header digest";
    case BAD_IC_PFV: return "ICReq PFV is not 0 (NVMe/TCP 1.0)";
    case BAD_IC_HPDA: return "ICReq HPDA is over 31";
    case BAD_DATAL: return "H2CData datal does not match its plen";
    case BAD_DATA_CID: return "H2CData for a command with no R2T outstanding";
    case BAD_DATA_TTAG: return "H2CData with a transfer tag no R2T gave";
    case BAD_DATA_OFFSET: return "H2CData datao is not where the R2T's data continues";
    case BAD_DATA_RANGE: return "H2CData beyond the R2T's length";
    case BAD_DATA_DIGEST: return "wrong data digest";
    case BAD_QUEUE_OVERRUN: return "a command beyond the queue's entries (more outstanding than SQSIZE)";
  }
  assert(false, "verdictText: a refusal");
  return "";
}

/** The header length each type must have; 0 for a type that does not exist. */
export function pduFixedHlen(type: u8): u32 {
  switch (type) {
    case PDU_IC_REQ: case PDU_IC_RESP: return IC_BYTES;
    case PDU_CAPSULE_CMD: return CAPSULE_CMD_HLEN;
    case PDU_CAPSULE_RESP: return CAPSULE_RESP_HLEN;
    case PDU_H2C_TERM_REQ: case PDU_C2H_TERM_REQ: return TERM_REQ_HLEN;
    case PDU_H2C_DATA: case PDU_C2H_DATA: case PDU_R2T: return DATA_HLEN;
  }
  return 0;
}

/** Types a controller receives. */
function hostToController(type: u8): bool {
  return type == PDU_IC_REQ || type == PDU_H2C_TERM_REQ || type == PDU_CAPSULE_CMD || type == PDU_H2C_DATA;
}
/** The IC exchange and TermReqs are never digested. */
export function pduDigested(type: u8): bool { return type == PDU_CAPSULE_CMD || type == PDU_H2C_DATA; }

/** Header bytes (with the digest when negotiated) to read before pduCheckHeader can run. */
export function pduHeaderBytes(ch: usize, rules: PduRules): u32 {
  return pduHlen(ch) + (pduDigested(pduType(ch)) && rules.hdgst != 0 ? DIGEST_BYTES : 0);
}

/**
 * What the 8-byte common header alone shows, so a bad plen never makes the connection wait for
 * bytes it should not accept. PDU_OK or a refusal.
 */
export function pduCheckCommon(ch: usize, rules: PduRules): u32 {
  const type = pduType(ch);
  const hlen = pduFixedHlen(type);
  if (hlen == 0) return BAD_TYPE_UNKNOWN;
  if (!hostToController(type)) return BAD_TYPE_C2H;
  if (type == PDU_IC_REQ && rules.icDone != 0) return BAD_IC_AGAIN;
  if (type != PDU_IC_REQ && type != PDU_H2C_TERM_REQ && rules.icDone == 0) return BAD_BEFORE_IC;
  if (pduHlen(ch) != hlen) return BAD_HLEN;
  const plen = pduPlen(ch);
  if (type == PDU_IC_REQ) return plen == IC_BYTES ? PDU_OK : BAD_PLEN_IC;
  if (type == PDU_H2C_TERM_REQ) return plen >= TERM_REQ_HLEN && plen <= TERM_REQ_MAX_BYTES ? PDU_OK : BAD_PLEN_TERM_REQ;
  return checkDigestedCommon(ch, type, hlen, rules);
}

/** CapsuleCmd and H2CData: digest flags, plen against the header, pdo, and the data limits. */
function checkDigestedCommon(ch: usize, type: u8, hlen: u32, rules: PduRules): u32 {
  const framing = pduCheckFraming(ch, hlen, rules.hdgst != 0, rules.ddgst != 0, rules.cpda);
  if (framing != PDU_OK) return framing;
  const dataBytes = pduFramedDataBytes(ch, rules.ddgst != 0);
  if (dataBytes == 0) return type == PDU_H2C_DATA ? BAD_NO_DATA : PDU_OK;
  if (type == PDU_CAPSULE_CMD && dataBytes > rules.maxInCapsule) return BAD_CAPSULE_DATA_LIMIT;
  if (type == PDU_H2C_DATA && dataBytes > rules.maxH2cData) return BAD_H2C_DATA_LIMIT;
  return PDU_OK;
}

/**
 * The framing of a PDU of a type that may be digested, in either direction: digest flags as
 * negotiated, plen against the header, and pdo where the receiver's alignment `pda` puts the data
 * (0 without data). PDU_OK or a refusal; the type's own rules (data required, limits) are the caller's.
 */
export function pduCheckFraming(ch: usize, hlen: u32, hdgst: bool, ddgst: bool, pda: u32): u32 {
  const flags = pduFlags(ch);
  const plen = pduPlen(ch);
  if (((flags & FLAG_HDGSTF) != 0) != hdgst) return BAD_HDGSTF;
  const headerEnd = hlen + (hdgst ? DIGEST_BYTES : 0);
  if (plen < headerEnd) return BAD_PLEN_SHORT;
  const hasData = plen > headerEnd;
  if (((flags & FLAG_DDGSTF) != 0) != (hasData && ddgst)) return BAD_DDGSTF;
  const pdo = pduPdo(ch);
  if (!hasData) return pdo != 0 ? BAD_PDO : PDU_OK;
  if (pdo != pduDataStart(hlen, hdgst, pda)) return BAD_PDO;
  if (plen <= pdo + (ddgst ? DIGEST_BYTES : 0)) return BAD_NO_DATA;
  return PDU_OK;
}

/** Data bytes of a PDU whose framing passed pduCheckFraming (without padding and digest). */
export function pduFramedDataBytes(ch: usize, ddgst: bool): u32 {
  const pdo = pduPdo(ch);
  return pdo == 0 ? 0 : pduPlen(ch) - pdo - (ddgst ? DIGEST_BYTES : 0);
}

/** Data bytes of a PDU that passed pduCheckCommon (without padding and digest). */
export function pduDataBytes(ch: usize, rules: PduRules): u32 {
  const type = pduType(ch);
  if (!pduDigested(type)) return pduPlen(ch) - pduHlen(ch);   // a TermReq's offending header, IC: 0
  return pduFramedDataBytes(ch, rules.ddgst != 0);
}

/** Once the whole header (pduHeaderBytes) is in: its digest and the fields of its type. */
export function pduCheckHeader(hdr: usize, rules: PduRules): u32 {
  const type = pduType(hdr);
  if (pduDigested(type) && rules.hdgst != 0 && !headerDigestOk(hdr)) return BAD_HEADER_DIGEST;
  if (type == PDU_IC_REQ) {
    if (icPfv(hdr) != PFV_1_0) return BAD_IC_PFV;
    if (icPda(hdr) > PDA_MAX) return BAD_IC_HPDA;
  }
  if (type == PDU_H2C_DATA && dataLength(hdr) != pduDataBytes(hdr, rules)) return BAD_DATAL;
  return PDU_OK;
}
