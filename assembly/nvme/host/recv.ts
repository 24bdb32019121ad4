// A host qpair's receive side: whole PDUs out of the bytes in its receive buffer, in any split. Each
// header is checked (pdu-check.ts) before anything acts on it; a C2HData's data is copied into its
// command's buffers while its digest is computed; any refusal fails the qpair with an H2CTermReq.

import { crc32cUpdate, EPROTO } from "../../runtime";
import { SockOp, sockRecv } from "../../sock";
import { iovSlice } from "../iov-slice";
import { XFER_HOST_TO_CTRLR, XFER_CTRLR_TO_HOST, STATUS_SUCCESS, cqeCid, cqeStatus, cqeDw0, cqeDw1 } from "../spec";
import {
  CH_BYTES, DIGEST_BYTES, TERM_REQ_OFFENDING_MAX, PDU_IC_RESP, PDU_C2H_TERM_REQ, PDU_CAPSULE_RESP, PDU_C2H_DATA, PDU_R2T,
  FLAG_LAST_PDU, FLAG_SUCCESS, pduType, pduFlags, pduPdo, capsuleSqe, dataCccid, dataTtag, dataOffset, dataLength, termFes,
} from "../tcp/pdu";
import {
  HostPduRules, PDU_OK, HBAD_CID, HBAD_DATA_DIRECTION, HBAD_R2T_LIMIT, HBAD_RESP_DATA_SHORT, HBAD_DATA_DIGEST, HBAD_R2T_UNSENT,
  hostCheckCommon, hostCheckHeader, hostCheckDataPlacement, hostPduHeaderBytes, hostPduDataBytes, hostPduDigested,
  hostVerdictFes, hostVerdictText,
} from "./pdu-check";
import { HostQpair, HostCmd, HostReq, HOST_RECV_BUFFER_BYTES, QP_FAILING, RX_HEADER, RX_PAD, RX_DATA, RX_DDGST, SEND_NONE } from "./types";
import { cmdInFlight, cmdComplete } from "./cmd";
import { h2cNext } from "./send";
import { qpairFail, qpairFailPdu, qpairIcResp } from "./qpair";

/** The peer closed: what the owner hears (ECONNRESET; the core's errno table has no entry for it). */
const ECONNRESET_NEG: i32 = -104;

/** Steps one parse may take: each consumes bytes or finishes a PDU, so the buffer bounds it. */
const PARSE_STEPS_MAX: u32 = HOST_RECV_BUFFER_BYTES * 2;

/** Receive into the free end of the buffer. */
export function recvStart(q: HostQpair): void {
  assert(q.recvBusy == 0 && q.rTail < HOST_RECV_BUFFER_BYTES, "recvStart: one recv at a time, into room");
  q.recvBusy = 1;
  sockRecv(q.sockChannel, q.recvOp, q.fd, q.rbuf + q.rTail, HOST_RECV_BUFFER_BYTES - q.rTail);
}

export function recvDone(op: usize): void {
  const q = changetype<HostQpair>(changetype<SockOp>(op).ctx);
  const res = changetype<SockOp>(op).res;
  q.recvBusy = 0;
  if (q.state >= QP_FAILING) return;
  if (res <= 0) {
    qpairFail(q, res == 0 ? ECONNRESET_NEG : res, res == 0 ? "the controller closed the connection" : "receiving from the controller failed");
    return;
  }
  q.rTail += <u32>res;
  parse(q);
  if (q.state >= QP_FAILING) return;
  // Data is consumed as it comes, so only a partial header waits: move it to the front.
  const left = q.rTail - q.rHead;
  if (q.rHead > 0) memory.copy(q.rbuf, q.rbuf + q.rHead, left);
  q.rHead = 0;
  q.rTail = left;
  recvStart(q);
}

function refuse(q: HostQpair, v: u32, pdu: usize, bytes: u32): void {
  qpairFailPdu(q, -EPROTO, hostVerdictText(v), hostVerdictFes(v), pdu, min(bytes, TERM_REQ_OFFENDING_MAX));
}

function parse(q: HostQpair): void {
  for (let step: u32 = 0; step < PARSE_STEPS_MAX; step++) {
    if (q.state >= QP_FAILING) return;
    const avail = q.rTail - q.rHead;
    let progressed = false;
    switch (q.phase) {
      case RX_HEADER: progressed = parseHeader(q, avail); break;
      case RX_PAD: progressed = parsePad(q, avail); break;
      case RX_DATA: progressed = parseData(q, avail); break;
      case RX_DDGST: progressed = parseDigest(q, avail); break;
      default: assert(false, "parse: unknown phase");
    }
    if (!progressed) return;
  }
  assert(false, "parse: more steps than the buffer can need");
}

function parseHeader(q: HostQpair, avail: u32): bool {
  if (avail < CH_BYTES) return false;
  const rules = changetype<HostPduRules>(q.rules);
  const ch = q.rbuf + q.rHead;
  let v = hostCheckCommon(ch, rules);
  if (v != PDU_OK) { refuse(q, v, ch, avail); return false; }
  const need = hostPduHeaderBytes(ch, rules);
  if (avail < need) return false;
  memory.copy(q.hdr, ch, need);
  q.hdrBytes = need;
  v = hostCheckHeader(q.hdr, rules);
  if (v == PDU_OK) v = checkAgainstCommand(q, q.hdr);
  if (v != PDU_OK) { refuse(q, v, q.hdr, need); return false; }
  q.pdusIn++;
  q.rHead += need;
  const dataBytes = hostPduDataBytes(q.hdr, rules);
  if (dataBytes == 0) { pduEnd(q); return true; }
  const type = pduType(q.hdr);
  q.dataLeft = dataBytes;
  q.dataCrc = 0;
  q.dataAt = type == PDU_C2H_DATA ? dataOffset(q.hdr) : 0;
  q.dataCmd = type == PDU_C2H_DATA ? cmdInFlight(q, dataCccid(q.hdr)) : 0;
  q.skip = hostPduDigested(type) ? pduPdo(q.hdr) - need : 0;
  q.phase = q.skip > 0 ? RX_PAD : RX_DATA;
  return true;
}

/** A CapsuleResp, C2HData or R2T against the command it names. */
function checkAgainstCommand(q: HostQpair, hdr: usize): u32 {
  const type = pduType(hdr);
  if (type != PDU_CAPSULE_RESP && type != PDU_C2H_DATA && type != PDU_R2T) return PDU_OK;
  const cid = type == PDU_CAPSULE_RESP ? <u32>cqeCid(capsuleSqe(hdr)) : <u32>dataCccid(hdr);
  const cmd = cmdInFlight(q, cid);
  if (cmd == 0) return HBAD_CID;
  const c = changetype<HostCmd>(cmd);
  const r = changetype<HostReq>(c.req);
  if (type == PDU_CAPSULE_RESP) {
    if (cqeStatus(capsuleSqe(hdr)) == STATUS_SUCCESS && c.dataDone < r.length) return HBAD_RESP_DATA_SHORT;
    return PDU_OK;
  }
  if (type == PDU_C2H_DATA) {
    if (c.xfer != XFER_CTRLR_TO_HOST) return HBAD_DATA_DIRECTION;
    const v = hostCheckDataPlacement(hdr, r.length, c.dataDone);
    if (v != PDU_OK) return v;
    if ((pduFlags(hdr) & FLAG_SUCCESS) != 0 && c.dataDone + dataLength(hdr) < r.length) return HBAD_RESP_DATA_SHORT;
    return PDU_OK;
  }
  if (c.xfer != XFER_HOST_TO_CTRLR) return HBAD_DATA_DIRECTION;
  if (c.sendWhat != SEND_NONE && c.inSend == 0 && c.h2cAt >= c.r2tEnd) return HBAD_R2T_UNSENT;
  if (c.h2cAt < c.r2tEnd) return HBAD_R2T_LIMIT;
  return hostCheckDataPlacement(hdr, r.length, c.dataDone);
}

function parsePad(q: HostQpair, avail: u32): bool {
  if (avail == 0) return false;
  const n = min(avail, q.skip);
  q.rHead += n;
  q.skip -= n;
  if (q.skip == 0) q.phase = RX_DATA;
  return true;
}

function parseData(q: HostQpair, avail: u32): bool {
  if (avail == 0) return false;
  const n = min(avail, q.dataLeft);
  const src = q.rbuf + q.rHead;
  const digested = changetype<HostPduRules>(q.rules).ddgst != 0 && hostPduDigested(pduType(q.hdr));
  if (digested) q.dataCrc = crc32cUpdate(q.dataCrc, src, n);
  if (q.dataCmd != 0) scatterAt(changetype<HostReq>(changetype<HostCmd>(q.dataCmd).req), q.dataAt, src, n);
  q.rHead += n;
  q.dataAt += n;
  q.dataLeft -= n;
  if (q.dataLeft == 0) {
    if (digested) q.phase = RX_DDGST; else pduEnd(q);
  }
  return true;
}

/** Copy `n` bytes from `src` into the request's buffers at data offset `at`. */
function scatterAt(r: HostReq, at: u32, src: usize, n: u32): void { iovSlice(r.iovs, r.iovcnt, r.iovOffset + at, n, 0, 0, src, false); }

function parseDigest(q: HostQpair, avail: u32): bool {
  if (avail < DIGEST_BYTES) return false;
  if (load<u32>(q.rbuf + q.rHead) != q.dataCrc) { refuse(q, HBAD_DATA_DIGEST, q.hdr, q.hdrBytes); return false; }
  q.rHead += DIGEST_BYTES;
  pduEnd(q);
  return true;
}

/** A whole PDU is in: act on it. */
function pduEnd(q: HostQpair): void {
  q.phase = RX_HEADER;
  const hdr = q.hdr;
  const type = pduType(hdr);
  if (type == PDU_IC_RESP) { qpairIcResp(q, hdr); return; }
  if (type == PDU_C2H_TERM_REQ) {
    qpairFail(q, -EPROTO, termFes(hdr) == 3 ? "the controller ended the connection (TermReq: header digest error)" : "the controller ended the connection with a TermReq");
    return;
  }
  if (type == PDU_CAPSULE_RESP) {
    const cqe = capsuleSqe(hdr);
    cmdComplete(q, cmdInFlight(q, <u32>cqeCid(cqe)), cqeStatus(cqe), cqeDw0(cqe), cqeDw1(cqe));
    return;
  }
  const cmd = cmdInFlight(q, <u32>dataCccid(hdr));
  assert(cmd != 0, "pduEnd: checked against its command");
  const c = changetype<HostCmd>(cmd);
  if (type == PDU_C2H_DATA) {
    c.dataDone += dataLength(hdr);
    const flags = pduFlags(hdr);
    if ((flags & FLAG_SUCCESS) != 0 && (flags & FLAG_LAST_PDU) != 0) cmdComplete(q, cmd, STATUS_SUCCESS, 0, 0);
    return;
  }
  assert(type == PDU_R2T, "pduEnd: hostCheckCommon lets only controller-to-host types through");
  c.ttag = <u32>dataTtag(hdr);
  c.h2cAt = dataOffset(hdr);
  c.r2tEnd = c.h2cAt + dataLength(hdr);
  c.dataDone = c.r2tEnd;
  if (c.inSend == 0) h2cNext(q, c);   // else its capsule is still going: the send's end queues the data
}
