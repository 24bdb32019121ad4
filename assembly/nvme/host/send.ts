// A host qpair's send side: commands with a PDU to send (CapsuleCmd with its in-capsule data, or one
// H2CData answering an R2T) gathered into one sendv of at most HOST_SEND_IOV_MAX iovecs, one sendv in
// flight, a short send continued where it stopped. A command is on the queue at most once, so the
// queue is bounded by the command table; the ICReq and a TermReq go before anything else.

import { iovSlice, iovPut, iovAdvance } from "../iov-slice";
import { SockOp, sockSendv } from "../../sock";
import { XFER_HOST_TO_CTRLR } from "../spec";
import { SEND_HEADER_MAX, DIGEST_BYTES, pduWriteCapsuleCmd, pduWriteH2CData } from "../tcp/pdu";
import { HostPduRules } from "./pdu-check";
import { HostQpair, HostCmd, HostReq, HOST_SEND_IOV_MAX, QP_FAILING, SEND_CAPSULE, SEND_H2C, SEND_NONE, hostReqSqe } from "./types";
import { cmdReleaseHeld } from "./cmd";
import { qpairFail, qpairCtrlSent } from "./qpair";

/** Queue the command's next PDU (its sendWhat, pduAt, pduBytes) and send when the socket is free. */
export function sendQueue(q: HostQpair, c: HostCmd): void {
  assert(c.sendWhat != SEND_NONE, "sendQueue: a PDU to send");
  c.next = 0;
  if (q.sendTail != 0) changetype<HostCmd>(q.sendTail).next = changetype<usize>(c); else q.sendHead = changetype<usize>(c);
  q.sendTail = changetype<usize>(c);
  sendKick(q);
}

function addIov(q: HostQpair, base: usize, len: u32): void {
  iovPut(q.iovs, q.iovCount, HOST_SEND_IOV_MAX, base, len);
  q.iovCount++;
}

/** Iovecs a command's PDU takes at most: header, a piece per buffer, digest. */
function iovsNeeded(c: HostCmd): u32 {
  return c.pduBytes == 0 ? 1 : 2 + changetype<HostReq>(c.req).iovcnt;
}

/** Start a sendv if none is in flight: the control PDU first, then queued commands in order. */
export function sendKick(q: HostQpair): void {
  if (q.sendBusy != 0 || q.state > QP_FAILING) return;
  q.iovCount = 0;
  q.iovFirst = 0;
  q.batchHead = 0;
  q.ctrlInBatch = 0;
  if (q.ctrlBytes > 0) {
    addIov(q, q.ctrlBuf, q.ctrlBytes);
    q.ctrlInBatch = 1;
  }
  if (q.state < QP_FAILING) {
    let tail: usize = 0;
    for (let n: u32 = 0; q.sendHead != 0 && n < HOST_SEND_IOV_MAX; n++) {
      const c = changetype<HostCmd>(q.sendHead);
      if (q.iovCount + iovsNeeded(c) > HOST_SEND_IOV_MAX) break;
      q.sendHead = c.next;
      if (q.sendHead == 0) q.sendTail = 0;
      c.next = 0;
      prepare(q, c);
      c.inSend = 1;
      c.batchNext = 0;
      if (tail != 0) changetype<HostCmd>(tail).batchNext = changetype<usize>(c); else q.batchHead = changetype<usize>(c);
      tail = changetype<usize>(c);
    }
  }
  if (q.iovCount == 0) return;
  q.sendBusy = 1;
  q.pdusOut++;
  sockSendv(q.sockChannel, q.sendOp, q.fd, q.iovs, q.iovCount);
}

/** Write the command's PDU header and add its iovecs (header, data, digest). */
function prepare(q: HostQpair, c: HostCmd): void {
  const rules = changetype<HostPduRules>(q.rules);
  const hdgst = rules.hdgst != 0, ddgst = rules.ddgst != 0;
  const req = changetype<HostReq>(c.req);
  if (c.sendWhat == SEND_CAPSULE) {
    addIov(q, c.hdr, pduWriteCapsuleCmd(c.hdr, hostReqSqe(c.req), c.pduBytes, hdgst, ddgst, q.cpda));
  } else {
    assert(c.sendWhat == SEND_H2C && c.xfer == XFER_HOST_TO_CTRLR, "prepare: H2CData for a write");
    const last = c.pduAt + c.pduBytes == c.r2tEnd;
    addIov(q, c.hdr, pduWriteH2CData(c.hdr, <u16>c.cid, <u16>c.ttag, c.pduAt, c.pduBytes, last, hdgst, ddgst, q.cpda));
  }
  if (c.pduBytes == 0) return;
  const crc = addDataIovs(q, req, c.pduAt, c.pduBytes, ddgst);
  if (ddgst) {
    const trailer = c.hdr + SEND_HEADER_MAX;
    store<u32>(trailer, crc);
    addIov(q, trailer, DIGEST_BYTES);
  }
}

/** The iovecs of data bytes [from, from + bytes) of the request's buffers; their CRC32C when asked. */
function addDataIovs(q: HostQpair, r: HostReq, from: u32, bytes: u32, digest: bool): u32 {
  const out = q.iovs + (<usize>q.iovCount << 3);
  const got = iovSlice(r.iovs, r.iovcnt, r.iovOffset + from, bytes, out, HOST_SEND_IOV_MAX - q.iovCount, 0, digest);
  q.iovCount += <u32>(got >> 32);
  return <u32>got;
}

/**
 * The sendv's callback: continue a short send, or finish the batch and start the next. sendBusy stays
 * set while the batch is released, so completions called back from here queue and do not send.
 */
export function sendDone(op: usize): void {
  const q = changetype<HostQpair>(changetype<SockOp>(op).ctx);
  const res = changetype<SockOp>(op).res;
  assert(q.sendBusy == 1, "sendDone: a sendv was in flight");
  if (res <= 0) {
    batchRelease(q, false);
    q.sendBusy = 0;
    qpairFail(q, res == 0 ? -32 : res, "sending to the controller failed");   // -EPIPE when nothing went
    return;
  }
  q.iovFirst = iovAdvance(q.iovs, q.iovFirst, q.iovCount, <u32>res);
  if (q.iovFirst < q.iovCount && q.state <= QP_FAILING) {
    sockSendv(q.sockChannel, q.sendOp, q.fd, q.iovs + (<usize>q.iovFirst << 3), q.iovCount - q.iovFirst);
    return;
  }
  const ctrl = q.ctrlInBatch != 0;
  if (ctrl) { q.ctrlBytes = 0; q.ctrlInBatch = 0; }
  batchRelease(q, q.state < QP_FAILING);
  q.sendBusy = 0;
  if (ctrl) qpairCtrlSent(q);
  sendKick(q);
}

/** The batch's commands are the qpair's again: the next H2CData of an R2T queued, held completions delivered. */
function batchRelease(q: HostQpair, goOn: bool): void {
  let at = q.batchHead;
  q.batchHead = 0;
  for (let n: u32 = 0; at != 0; n++) {
    assert(n < HOST_SEND_IOV_MAX, "batchRelease: a batch holds at most HOST_SEND_IOV_MAX commands");
    const c = changetype<HostCmd>(at);
    at = c.batchNext;
    c.batchNext = 0;
    c.inSend = 0;
    if (c.respHeld != 0) { cmdReleaseHeld(q, changetype<usize>(c)); continue; }
    if (!goOn) continue;
    if (c.sendWhat == SEND_H2C) c.h2cAt = c.pduAt + c.pduBytes;
    // More of the R2T being answered, or an R2T that came while the capsule was going: queued, sent by sendDone's kick.
    if (c.h2cAt < c.r2tEnd) { h2cNext(q, c); continue; }
    c.sendWhat = SEND_NONE;
  }
}

/** Queue the next H2CData of the R2T being answered (at most MAXH2CDATA bytes). */
export function h2cNext(q: HostQpair, c: HostCmd): void {
  assert(c.h2cAt < c.r2tEnd, "h2cNext: data of the R2T left to send");
  c.sendWhat = SEND_H2C;
  c.pduAt = c.h2cAt;
  c.pduBytes = min(q.maxH2cData, c.r2tEnd - c.h2cAt);
  sendQueue(q, c);    // (no send starts while sendDone releases a batch: sendBusy is still set)
}
