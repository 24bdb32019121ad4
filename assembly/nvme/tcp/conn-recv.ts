// The receive side of a connection: whole PDUs out of the bytes in its receive buffer, in any split.
// Each header is checked (pdu-check.ts) before anything acts on it; data is copied into the request
// it belongs to while its digest is computed; a refusal ends the connection with a TermReq.

import { crc32cUpdate } from "../../runtime";
import {
  TcpConn, TcpReq, CONN_TERMINATING, PHASE_HEADER, PHASE_PAD, PHASE_DATA, PHASE_DDGST, RECV_BUFFER_BYTES,
} from "./types";
import {
  PduRules, PDU_OK, BAD_DATA_DIGEST, pduCheckCommon, pduCheckHeader, pduHeaderBytes, pduDataBytes, pduDigested,
} from "./pdu-check";
import {
  CH_BYTES, DIGEST_BYTES, TERM_REQ_OFFENDING_MAX, PDU_IC_REQ, PDU_H2C_TERM_REQ, PDU_CAPSULE_CMD, PDU_H2C_DATA,
  pduType, pduPdo, termFes,
} from "./pdu";
import { connFatal, connIcReq, connTermReqReceived } from "./conn";
import { reqCapsuleStart, reqCapsuleEnd, reqH2cStart, reqH2cEnd, reqDataWrite, START_OK, START_STALL } from "./request";

/** Steps one parse may take: each consumes bytes or finishes a PDU, so the buffer bounds it. */
const PARSE_STEPS_MAX: u32 = RECV_BUFFER_BYTES * 2;

/** Parse what the buffer holds; stops at a partial PDU, a stall (no free request) or a fatal error. */
export function connParse(c: TcpConn): void {
  for (let step: u32 = 0; step < PARSE_STEPS_MAX; step++) {
    if (c.state >= CONN_TERMINATING || c.waitingForReq != 0) return;
    const avail = c.rTail - c.rHead;
    let progressed = false;
    switch (c.phase) {
      case PHASE_HEADER: progressed = parseHeader(c, avail); break;
      case PHASE_PAD: progressed = parsePad(c, avail); break;
      case PHASE_DATA: progressed = parseData(c, avail); break;
      case PHASE_DDGST: progressed = parseDigest(c, avail); break;
      default: assert(false, "connParse: unknown phase");
    }
    if (!progressed) return;
  }
  assert(false, "connParse: more steps than the buffer can need");
}

function parseHeader(c: TcpConn, avail: u32): bool {
  if (avail < CH_BYTES) return false;
  const rules = changetype<PduRules>(c.rules);
  const ch = c.rbuf + c.rHead;
  let v = pduCheckCommon(ch, rules);
  if (v != PDU_OK) {
    connFatal(c, v, ch, min(avail, TERM_REQ_OFFENDING_MAX));
    return false;
  }
  const need = pduHeaderBytes(ch, rules);
  if (avail < need) return false;
  memory.copy(c.hdr, ch, need);
  c.hdrBytes = need;
  v = pduCheckHeader(c.hdr, rules);
  if (v != PDU_OK) {
    connFatal(c, v, c.hdr, need);
    return false;
  }
  const type = pduType(c.hdr);
  const dataBytes = pduDataBytes(c.hdr, rules);
  c.dataReq = 0;
  c.dataAt = 0;
  if (type == PDU_CAPSULE_CMD) {
    const started = reqCapsuleStart(c, c.hdr, dataBytes);
    if (started == START_STALL) { c.waitingForReq = 1; return false; }
    if (started != START_OK) return false;   // fatal: the connection is terminating
  } else if (type == PDU_H2C_DATA) {
    if (reqH2cStart(c, c.hdr) != START_OK) return false;
  }
  c.rHead += need;
  if (dataBytes == 0) {
    pduEnd(c);
    return true;
  }
  c.dataLeft = dataBytes;
  c.dataCrc = 0;
  c.skip = pduDigested(type) ? pduPdo(c.hdr) - need : 0;
  c.phase = c.skip > 0 ? PHASE_PAD : PHASE_DATA;
  return true;
}

function parsePad(c: TcpConn, avail: u32): bool {
  if (avail == 0) return false;
  const n = min(avail, c.skip);
  c.rHead += n;
  c.skip -= n;
  if (c.skip == 0) c.phase = PHASE_DATA;
  return true;
}

function parseData(c: TcpConn, avail: u32): bool {
  if (avail == 0) return false;
  const n = min(avail, c.dataLeft);
  const src = c.rbuf + c.rHead;
  if (c.ddgst != 0 && pduDigested(pduType(c.hdr))) c.dataCrc = crc32cUpdate(c.dataCrc, src, n);
  if (c.dataReq != 0) reqDataWrite(changetype<TcpReq>(c.dataReq), c.dataAt, src, n);
  c.rHead += n;
  c.dataAt += n;
  c.dataLeft -= n;
  if (c.dataLeft == 0) {
    if (c.ddgst != 0 && pduDigested(pduType(c.hdr))) c.phase = PHASE_DDGST;
    else pduEnd(c);
  }
  return true;
}

function parseDigest(c: TcpConn, avail: u32): bool {
  if (avail < DIGEST_BYTES) return false;
  const got = load<u32>(c.rbuf + c.rHead);
  if (got != c.dataCrc) {
    connFatal(c, BAD_DATA_DIGEST, c.hdr, c.hdrBytes);
    return false;
  }
  c.rHead += DIGEST_BYTES;
  pduEnd(c);
  return true;
}

/** A whole PDU is in: act on it. */
function pduEnd(c: TcpConn): void {
  c.phase = PHASE_HEADER;
  const type = pduType(c.hdr);
  if (type == PDU_IC_REQ) connIcReq(c, c.hdr);
  else if (type == PDU_H2C_TERM_REQ) connTermReqReceived(c, termFes(c.hdr));
  else if (type == PDU_CAPSULE_CMD) reqCapsuleEnd(c);
  else if (type == PDU_H2C_DATA) reqH2cEnd(c);
  else assert(false, "pduEnd: pduCheckCommon lets only host-to-controller types through");
}
