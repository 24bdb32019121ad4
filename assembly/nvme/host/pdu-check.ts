// The host's checks on every PDU a controller sends (type and order, hlen, plen, pdo and flags, the
// ICResp's fields, digests, data PDUs and R2Ts against the command they name): each refusal a verdict
// with the H2CTermReq FES it calls for and a sentence saying what was wrong. The framing is the
// target's own (nvme/tcp/pdu-check.ts pduCheckFraming): one rule for both directions.

import {
  PDU_IC_RESP, PDU_C2H_TERM_REQ, PDU_CAPSULE_RESP, PDU_C2H_DATA, PDU_R2T, FLAG_LAST_PDU, FLAG_SUCCESS,
  IC_BYTES, TERM_REQ_HLEN, TERM_REQ_MAX_BYTES, DIGEST_BYTES, PDA_MAX, PFV_1_0, IC_DGST_HEADER, IC_DGST_DATA,
  FES_INVALID_HEADER_FIELD, FES_PDU_SEQUENCE_ERROR, FES_HEADER_DIGEST_ERROR, FES_DATA_OUT_OF_RANGE,
  pduType, pduFlags, pduHlen, pduPlen, icPfv, icPda, icDigests, icRespMaxH2cData, dataOffset, dataLength, headerDigestOk,
} from "../tcp/pdu";
import {
  PDU_OK, BAD_TYPE_UNKNOWN, BAD_HLEN, BAD_HDGSTF, BAD_DDGSTF, BAD_PLEN_SHORT, BAD_PDO, BAD_NO_DATA, BAD_HEADER_DIGEST,
  pduFixedHlen, pduCheckFraming, pduFramedDataBytes,
} from "../tcp/pdu-check";

export { PDU_OK } from "../tcp/pdu-check";

/** What the host negotiated: the checks' only inputs besides the bytes. */
@unmanaged export class HostPduRules {
  icDone: u32;          // the ICResp came and passed
  digestsAsked: u32;    // IC_DGST_* bits the ICReq asked for
  hdgst: u32;           // header digests on (the ICResp's answer)
  ddgst: u32;           // data digests on
  hpda: u32;            // the alignment the host asked of the controller's data (ICReq HPDA)
}

// ---- verdicts of the host's own (the framing ones are pdu-check.ts's BAD_*) ----
export const HBAD_TYPE_H2C: u32 = 101;
export const HBAD_BEFORE_IC: u32 = 102;
export const HBAD_IC_AGAIN: u32 = 103;
export const HBAD_PLEN_IC: u32 = 104;
export const HBAD_PLEN_TERM_REQ: u32 = 105;
export const HBAD_DATA_WHERE_NONE: u32 = 106;
export const HBAD_IC_PFV: u32 = 107;
export const HBAD_IC_CPDA: u32 = 108;
export const HBAD_IC_DIGESTS: u32 = 109;
export const HBAD_IC_MAXH2CDATA: u32 = 110;
export const HBAD_C2H_DATAL: u32 = 111;
export const HBAD_SUCCESS_NOT_LAST: u32 = 112;
export const HBAD_R2TL_ZERO: u32 = 113;
export const HBAD_CID: u32 = 114;
export const HBAD_DATA_DIRECTION: u32 = 115;
export const HBAD_DATA_OFFSET: u32 = 116;
export const HBAD_DATA_RANGE: u32 = 117;
export const HBAD_R2T_LIMIT: u32 = 118;
export const HBAD_RESP_DATA_SHORT: u32 = 119;
export const HBAD_DATA_DIGEST: u32 = 120;
export const HBAD_R2T_UNSENT: u32 = 121;

/** The smallest MAXH2CDATA a controller may give (NVMe/TCP 1.0: at least 4096, a multiple of 4). */
export const MAXH2CDATA_MIN: u32 = 4096;

/** The FES of the H2CTermReq a refusal calls for. */
export function hostVerdictFes(v: u32): u16 {
  assert(v != PDU_OK, "hostVerdictFes: a refusal");
  // A data digest error ends the connection as a header digest error does (as the target does, after SPDK and Linux nvmet).
  if (v == BAD_HEADER_DIGEST || v == HBAD_DATA_DIGEST) return FES_HEADER_DIGEST_ERROR;
  if (v == HBAD_R2T_LIMIT || v == HBAD_RESP_DATA_SHORT || v == HBAD_R2T_UNSENT) return FES_PDU_SEQUENCE_ERROR;
  if (v == HBAD_TYPE_H2C || v == HBAD_BEFORE_IC || v == HBAD_IC_AGAIN || v == HBAD_CID || v == HBAD_DATA_DIRECTION) return FES_PDU_SEQUENCE_ERROR;
  if (v == HBAD_DATA_OFFSET || v == HBAD_DATA_RANGE) return FES_DATA_OUT_OF_RANGE;
  return FES_INVALID_HEADER_FIELD;
}

/** What was wrong, for the report that fails the qpair. */
export function hostVerdictText(v: u32): string {
  switch (v) {
    case BAD_TYPE_UNKNOWN: return "unknown PDU type";
    case HBAD_TYPE_H2C: return "a PDU type only a host sends";
    case HBAD_BEFORE_IC: return "a PDU before the ICResp";
    case HBAD_IC_AGAIN: return "a second ICResp";
    case BAD_HLEN: return "hlen is not the PDU type's header length";
    case HBAD_PLEN_IC: return "an ICResp's plen is not 128";
    case HBAD_PLEN_TERM_REQ: return "a TermReq's plen is outside 24..152";
    case BAD_HDGSTF: return "HDGSTF does not match the header digest the ICResp agreed";
    case BAD_DDGSTF: return "DDGSTF does not match the data digest the ICResp agreed and the PDU's data";
    case BAD_PLEN_SHORT: return "plen is shorter than the header";
    case BAD_PDO: return "pdo is not where the data must start (after the header, its digest and HPDA padding; 0 without data)";
    case BAD_NO_DATA: return "a C2HData without data";
    case HBAD_DATA_WHERE_NONE: return "data in a CapsuleResp or an R2T";
    case BAD_HEADER_DIGEST: return "wrong header digest";
    case HBAD_IC_PFV: return "ICResp PFV is not 0 (NVMe/TCP 1.0)";
    case HBAD_IC_CPDA: return "ICResp CPDA is over 31";
    case HBAD_IC_DIGESTS: return "ICResp turns on a digest the ICReq did not ask for";
    case HBAD_IC_MAXH2CDATA: return "ICResp MAXH2CDATA is under 4096 or not a multiple of 4";
    case HBAD_C2H_DATAL: return "C2HData datal does not match its plen";
    case HBAD_SUCCESS_NOT_LAST: return "C2HData SUCCESS without LAST_PDU";
    case HBAD_R2TL_ZERO: return "an R2T for 0 bytes";
    case HBAD_CID: return "a CapsuleResp, C2HData or R2T for a command ID not in flight";
    case HBAD_DATA_DIRECTION: return "C2HData for a command that sends data, or an R2T for one that receives";
    case HBAD_DATA_OFFSET: return "data offset is not where the command's data continues";
    case HBAD_DATA_RANGE: return "data beyond the command's length";
    case HBAD_R2T_LIMIT: return "an R2T while the command's last one is still being answered (the ICReq allowed one: MAXR2T 0)";
    case HBAD_RESP_DATA_SHORT: return "a successful completion before all of the command's data moved";
    case HBAD_DATA_DIGEST: return "wrong data digest";
    case HBAD_R2T_UNSENT: return "an R2T for a command whose capsule was not sent yet";
  }
  assert(false, "hostVerdictText: a refusal");
  return "";
}

/** Types a host receives. */
function controllerToHost(type: u8): bool {
  return type == PDU_IC_RESP || type == PDU_C2H_TERM_REQ || type == PDU_CAPSULE_RESP || type == PDU_C2H_DATA || type == PDU_R2T;
}
/** The IC exchange and TermReqs are never digested. */
export function hostPduDigested(type: u8): bool { return type == PDU_CAPSULE_RESP || type == PDU_C2H_DATA || type == PDU_R2T; }

/** Header bytes (with the digest when on) to read before hostCheckHeader can run. */
export function hostPduHeaderBytes(ch: usize, rules: HostPduRules): u32 {
  return pduHlen(ch) + (hostPduDigested(pduType(ch)) && rules.hdgst != 0 ? DIGEST_BYTES : 0);
}

/** Data bytes of a PDU that passed hostCheckCommon (without padding and digest; a TermReq: what follows its header). */
export function hostPduDataBytes(ch: usize, rules: HostPduRules): u32 {
  if (!hostPduDigested(pduType(ch))) return pduPlen(ch) - pduHlen(ch);
  return pduFramedDataBytes(ch, rules.ddgst != 0);
}

/** What the 8-byte common header alone shows, before the qpair waits for more bytes. PDU_OK or a refusal. */
export function hostCheckCommon(ch: usize, rules: HostPduRules): u32 {
  const type = pduType(ch);
  const hlen = pduFixedHlen(type);
  if (hlen == 0) return BAD_TYPE_UNKNOWN;
  if (!controllerToHost(type)) return HBAD_TYPE_H2C;
  if (type == PDU_IC_RESP && rules.icDone != 0) return HBAD_IC_AGAIN;
  if (type != PDU_IC_RESP && type != PDU_C2H_TERM_REQ && rules.icDone == 0) return HBAD_BEFORE_IC;
  if (pduHlen(ch) != hlen) return BAD_HLEN;
  const plen = pduPlen(ch);
  if (type == PDU_IC_RESP) return plen == IC_BYTES ? PDU_OK : HBAD_PLEN_IC;
  if (type == PDU_C2H_TERM_REQ) return plen >= TERM_REQ_HLEN && plen <= TERM_REQ_MAX_BYTES ? PDU_OK : HBAD_PLEN_TERM_REQ;
  const framing = pduCheckFraming(ch, hlen, rules.hdgst != 0, rules.ddgst != 0, rules.hpda);
  if (framing != PDU_OK) return framing;
  const dataBytes = pduFramedDataBytes(ch, rules.ddgst != 0);
  if (type == PDU_C2H_DATA) return dataBytes > 0 ? PDU_OK : BAD_NO_DATA;
  return dataBytes == 0 ? PDU_OK : HBAD_DATA_WHERE_NONE;
}

/** Once the whole header (hostPduHeaderBytes) is in: its digest and the fields of its type. */
export function hostCheckHeader(hdr: usize, rules: HostPduRules): u32 {
  const type = pduType(hdr);
  if (hostPduDigested(type) && rules.hdgst != 0 && !headerDigestOk(hdr)) return BAD_HEADER_DIGEST;
  if (type == PDU_IC_RESP) return checkIcResp(hdr, rules);
  if (type == PDU_C2H_DATA) {
    if (dataLength(hdr) != hostPduDataBytes(hdr, rules)) return HBAD_C2H_DATAL;
    if ((pduFlags(hdr) & FLAG_SUCCESS) != 0 && (pduFlags(hdr) & FLAG_LAST_PDU) == 0) return HBAD_SUCCESS_NOT_LAST;
  }
  if (type == PDU_R2T && dataLength(hdr) == 0) return HBAD_R2TL_ZERO;
  return PDU_OK;
}

function checkIcResp(hdr: usize, rules: HostPduRules): u32 {
  if (icPfv(hdr) != PFV_1_0) return HBAD_IC_PFV;
  if (icPda(hdr) > PDA_MAX) return HBAD_IC_CPDA;
  const digests = <u32>icDigests(hdr);
  if ((digests & ~rules.digestsAsked & 0xff) != 0 || (digests & ~<u32>(IC_DGST_HEADER | IC_DGST_DATA)) != 0) return HBAD_IC_DIGESTS;
  const maxH2cData = icRespMaxH2cData(hdr);
  if (maxH2cData < MAXH2CDATA_MIN || (maxH2cData & 3) != 0) return HBAD_IC_MAXH2CDATA;
  return PDU_OK;
}

/**
 * A C2HData or R2T (header checked) against its command: `commandBytes` of data, `doneBytes` of it
 * received (C2HData) or asked for (R2T) so far, in order (NVMe/TCP 1.0 sends a command's data in order).
 */
export function hostCheckDataPlacement(hdr: usize, commandBytes: u32, doneBytes: u32): u32 {
  const offset = dataOffset(hdr);
  const length = dataLength(hdr);
  if (offset != doneBytes) return HBAD_DATA_OFFSET;
  if (<u64>offset + <u64>length > <u64>commandBytes) return HBAD_DATA_RANGE;
  return PDU_OK;
}
