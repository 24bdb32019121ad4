// The send side of a connection: a queue of requests with a PDU to send (R2T, C2HData, CapsuleResp)
// and the connection's own ICResp/TermReq, gathered into batches of at most SEND_IOV_MAX iovecs, one
// sendv in flight, a short send continued where it stopped. The queue holds at most one entry per
// request, so it is bounded by the queue depth; a host that stops reading stalls only this queue.

import { LEVEL_WARN, LEVEL_INFO } from "../../runtime";
import { iovSlice, iovPut, iovAdvance } from "../iov-slice";
import { NvmfReq } from "../transport";
import {
  TcpConn, TcpReq, TcpTransport, TcpWire, WireSendvFn, CONN_TERMINATING, CONN_CLOSING, SEND_IOV_MAX, C2H_DATA_MAX,
  SEND_R2T, SEND_C2H, SEND_RESP, BATCH_IC_RESP, BATCH_TERM_REQ,
} from "./types";
import { SEND_HEADER_MAX, DIGEST_BYTES, pduWriteR2t, pduWriteC2HData, pduWriteCapsuleResp } from "./pdu";
import { TcpBufPool } from "./bufpool";
import { TcpGroup } from "./types";
// finishBatch never starts a batch itself (it walks the old one): connSendDone kicks after it.
import { connClose, connTermReqSent } from "./conn";
import { reqRelease } from "./request";

/** Queue the request's next PDU (its sendWhat) and send when the wire is free. */
export function connSendQueue(c: TcpConn, r: TcpReq): void {
  enqueue(c, r);
  connSendKick(c);
}

function enqueue(c: TcpConn, r: TcpReq): void {
  r.next = 0;
  if (c.sendTail != 0) changetype<TcpReq>(c.sendTail).next = changetype<usize>(r); else c.sendHead = changetype<usize>(r);
  c.sendTail = changetype<usize>(r);
}

/** Close chain: forget the queue and the batch (the requests in them are released by reqDropAll). */
export function connSendReset(c: TcpConn): void {
  c.sendHead = 0;
  c.sendTail = 0;
  c.batchHead = 0;
  c.batchTail = 0;
  c.batchCtrl = 0;
  c.iovCount = 0;
}

function addIov(c: TcpConn, base: usize, len: u32): void {
  iovPut(c.iovs, c.iovCount, SEND_IOV_MAX, base, len);
  c.iovCount++;
}

function unitBytes(c: TcpConn): u32 { return changetype<TcpBufPool>(changetype<TcpGroup>(c.group).pool).unitBytes; }

/** Iovecs the request's next PDU takes at most (header, data pieces, digest, CapsuleResp). */
function iovsNeeded(c: TcpConn, r: TcpReq): u32 {
  if (r.sendWhat != SEND_C2H) return 1;
  const chunk = min(C2H_DATA_MAX, r.length - r.c2hDone);
  return 4 + (chunk + unitBytes(c) - 1) / unitBytes(c) + 1;
}

/** Start a batch if none is in flight: the connection's own PDUs first, then queued requests in order. */
export function connSendKick(c: TcpConn): void {
  if (c.sendBusy != 0 || c.state >= CONN_CLOSING) return;
  c.iovCount = 0;
  c.iovFirst = 0;
  c.batchCtrl = 0;
  c.batchHead = 0;
  c.batchTail = 0;
  if (c.icRespBytes > 0) {
    addIov(c, c.icResp, c.icRespBytes);
    c.batchCtrl |= BATCH_IC_RESP;
  }
  if (c.state == CONN_TERMINATING) {
    // Nothing else goes out after a fatal error: the TermReq, then the close.
    if (c.termReqBytes > 0) {
      addIov(c, c.termReq, c.termReqBytes);
      c.batchCtrl |= BATCH_TERM_REQ;
    }
  } else {
    for (let n: u32 = 0; c.sendHead != 0 && n < SEND_IOV_MAX; n++) {
      const r = changetype<TcpReq>(c.sendHead);
      if (c.iovCount + iovsNeeded(c, r) > SEND_IOV_MAX) break;
      c.sendHead = r.next;
      if (c.sendHead == 0) c.sendTail = 0;
      r.next = 0;
      prepare(c, r);
      r.batchWhat = r.sendWhat;
      r.batchNext = 0;
      if (c.batchTail != 0) changetype<TcpReq>(c.batchTail).batchNext = changetype<usize>(r); else c.batchHead = changetype<usize>(r);
      c.batchTail = changetype<usize>(r);
    }
  }
  if (c.iovCount == 0) return;
  c.sendBusy = 1;
  changetype<WireSendvFn>(changetype<TcpWire>(c.wire).sendv)(changetype<usize>(c), c.iovs, c.iovCount);
}

/** Write the request's next PDU header(s) and add its iovecs. */
function prepare(c: TcpConn, r: TcpReq): void {
  const n = changetype<NvmfReq>(r.nvmf);
  const hdgst = c.hdgst != 0;
  if (r.sendWhat == SEND_R2T) {
    addIov(c, r.hdr, pduWriteR2t(r.hdr, <u16>r.cid, <u16>r.index, 0, r.length, hdgst));
    return;
  }
  if (r.sendWhat == SEND_RESP) {
    addIov(c, r.hdr, pduWriteCapsuleResp(r.hdr, n.cqe, hdgst));
    return;
  }
  assert(r.sendWhat == SEND_C2H && r.c2hDone < r.length, "prepare: read data left to send");
  const chunk = min(C2H_DATA_MAX, r.length - r.c2hDone);
  const last = r.c2hDone + chunk == r.length;
  const success = last && changetype<TcpTransport>(c.transport).c2hSuccess != 0;
  const ddgst = c.ddgst != 0;
  addIov(c, r.hdr, pduWriteC2HData(r.hdr, <u16>r.cid, r.c2hDone, chunk, last, success, hdgst, ddgst, c.hpda));
  const crc = addDataIovs(c, r, r.c2hDone, chunk, ddgst);
  const trailer = r.hdr + SEND_HEADER_MAX;
  if (ddgst) {
    store<u32>(trailer, crc);
    addIov(c, trailer, DIGEST_BYTES);
  }
  if (last && !success) addIov(c, trailer + DIGEST_BYTES, pduWriteCapsuleResp(trailer + DIGEST_BYTES, n.cqe, hdgst));
  r.chunk = chunk;
}

/** The iovecs of data bytes [from, from + bytes) of the request's buffers; their CRC32C when asked. */
function addDataIovs(c: TcpConn, r: TcpReq, from: u32, bytes: u32, digest: bool): u32 {
  const n = changetype<NvmfReq>(r.nvmf);
  const got = iovSlice(n.iovs, n.iovcnt, from, bytes, c.iovs + (<usize>c.iovCount << 3), SEND_IOV_MAX - c.iovCount, 0, digest);
  c.iovCount += <u32>(got >> 32);
  return <u32>got;
}

/** The sendv's result: continue a short send, or finish the batch and start the next. */
export function connSendDone(conn: usize, res: i32): void {
  const c = changetype<TcpConn>(conn);
  assert(c.sendBusy == 1, "connSendDone: no sendv was in flight");
  c.sendBusy = 0;
  if (c.state >= CONN_CLOSING) return;
  if (res <= 0) {
    connClose(c, res == 0 ? "the host stopped taking data" : "sending failed", res == 0 ? LEVEL_INFO : LEVEL_WARN);
    return;
  }
  c.iovFirst = iovAdvance(c.iovs, c.iovFirst, c.iovCount, <u32>res);
  if (c.iovFirst < c.iovCount) {
    c.sendBusy = 1;
    changetype<WireSendvFn>(changetype<TcpWire>(c.wire).sendv)(conn, c.iovs + (<usize>c.iovFirst << 3), c.iovCount - c.iovFirst);
    return;
  }
  finishBatch(c);
  if (c.state < CONN_CLOSING) connSendKick(c);
}

function finishBatch(c: TcpConn): void {
  if ((c.batchCtrl & BATCH_IC_RESP) != 0) c.icRespBytes = 0;
  let at = c.batchHead;
  c.batchHead = 0;
  c.batchTail = 0;
  for (let n: u32 = 0; at != 0 && n < SEND_IOV_MAX; n++) {
    const r = changetype<TcpReq>(at);
    at = r.batchNext;
    r.batchNext = 0;
    if (r.batchWhat == SEND_R2T) continue;   // the request waits for H2CData (it may be past that already)
    if (r.batchWhat == SEND_C2H) {
      r.c2hDone += r.chunk;
      if (r.c2hDone < r.length && c.state < CONN_TERMINATING) {
        enqueue(c, r);                        // the next C2HData of a long read (sent by the caller's kick)
        continue;
      }
    }
    reqRelease(r);
  }
  if ((c.batchCtrl & BATCH_TERM_REQ) != 0) {
    c.termReqBytes = 0;
    connTermReqSent(c);
  }
}
