// A command's way through the transport: its CapsuleCmd (the SGL checked against the transport's
// limits), data buffers from the group's pool, R2T and H2CData for a write, exec in the core, and
// its completion turned into PDUs to send. One TcpReq per queue entry, made lazily.

import { heapAllocZeroed, heapFree, report, LEVEL_ERROR, ENOMEM } from "../../runtime";
import { NvmfReq, NvmfQpair, NvmfTransportLimits, QPAIR_CONNECTED } from "../transport";
import { nvmfReqExec } from "../target";
import { nvmfReqCompleteError } from "../complete";
import { reportAscii } from "../report";
import {
  SQE_BYTES, CQE_BYTES, XFER_NONE, XFER_HOST_TO_CTRLR, XFER_CTRLR_TO_HOST, XFER_BIDIRECTIONAL, STATUS_SUCCESS,
  STATUS_INVALID_FIELD, STATUS_DATA_SGL_LENGTH_INVALID, STATUS_SGL_DESCRIPTOR_TYPE_INVALID, STATUS_INVALID_SGL_OFFSET,
  SGL_TYPE_DATA_BLOCK, SGL_TYPE_TRANSPORT_DATA_BLOCK, SGL_SUBTYPE_OFFSET, SGL_SUBTYPE_TRANSPORT,
  sqeCid, sqeDptr, sglAddress, sglLength, sglType, sglSubtype, cqeStatus,
} from "../spec";
import { sqeXfer } from "../fabrics";
import {
  TcpConn, TcpReq, TcpGroup, TcpTransport, CONN_TERMINATING, REQ_FREE, REQ_CAPSULE, REQ_WAIT_BUFFER, REQ_R2T, REQ_EXEC,
  REQ_SEND, REQ_DROPPED, SEND_R2T, SEND_C2H, SEND_RESP,
} from "./types";
import { BAD_QUEUE_OVERRUN, BAD_DATA_TTAG, BAD_DATA_CID, BAD_DATA_OFFSET, BAD_DATA_RANGE } from "./pdu-check";
import { SEND_HEADER_MAX, DIGEST_BYTES, CAPSULE_RESP_HLEN, capsuleSqe, dataCccid, dataTtag, dataOffset, dataLength } from "./pdu";
import { connFatal, connClose, connReqAt, connResumeLater } from "./conn";
import { connSendQueue } from "./conn-send";
import { bufPoolTake, bufPoolGive, bufPoolCancel, bufUnitsFor, TcpBufPool } from "./bufpool";
import { planted, PLANT_STALE_LENGTH } from "../../runtime/planted";

export const START_OK: u32 = 0;
export const START_STALL: u32 = 1;   // no request free yet: parse again when one frees
export const START_FATAL: u32 = 2;   // the connection is ending

/** Header scratch of a request: its PDU header, then the data digest, then a CapsuleResp. */
export const REQ_HDR_BYTES: u32 = SEND_HEADER_MAX + DIGEST_BYTES + CAPSULE_RESP_HLEN + DIGEST_BYTES;

function limitsOf(c: TcpConn): NvmfTransportLimits {
  return changetype<NvmfTransportLimits>(changetype<TcpTransport>(c.transport).limits);
}
function poolOf(c: TcpConn): usize { return changetype<TcpGroup>(c.group).pool; }

/** Requests the queue may have outstanding now: its SQSIZE once connected, one before Connect. */
function queueEntries(c: TcpConn): u32 {
  const q = changetype<NvmfQpair>(c.qpair);
  const depth = limitsOf(c).maxQueueDepth;
  return q.state == QPAIR_CONNECTED && q.sqsize > 0 ? min(q.sqsize, depth) : 1;
}

function reqAlloc(c: TcpConn): TcpReq | null {
  const limits = limitsOf(c);
  const units = max<u32>(1, bufUnitsFor(poolOf(c), limits.maxIoSize));
  const bytes = <usize>offsetof<TcpReq>() + offsetof<NvmfReq>() + SQE_BYTES + CQE_BYTES + REQ_HDR_BYTES +
    (<usize>units << 3) + limits.inCapsuleDataSize;
  const block = heapAllocZeroed(bytes);
  if (block == 0) return null;
  const r = changetype<TcpReq>(block);
  let at = block + offsetof<TcpReq>();
  r.nvmf = at; at += offsetof<NvmfReq>();
  const n = changetype<NvmfReq>(r.nvmf);
  n.sqe = at; at += SQE_BYTES;
  n.cqe = at; at += CQE_BYTES;
  r.hdr = at; at += REQ_HDR_BYTES;
  r.iovs = at; at += <usize>units << 3;
  r.icd = at;
  n.qpair = c.qpair;
  n.transportCtx = block;
  r.conn = changetype<usize>(c);
  r.index = c.reqCount;
  store<usize>(c.reqs + (<usize>c.reqCount << 2), block);
  c.reqCount++;
  return r;
}

/** A free request (the queue has room: checked by the caller), made on first use; null without memory. */
function reqGet(c: TcpConn): TcpReq | null {
  let r: TcpReq | null = null;
  if (c.freeReqs != 0) {
    r = changetype<TcpReq>(c.freeReqs);
    c.freeReqs = r.next;
  } else {
    assert(c.reqCount < limitsOf(c).maxQueueDepth, "reqGet: a request per queue entry at most");
    r = reqAlloc(c);
    if (r == null) return null;
  }
  assert(r.state == REQ_FREE && r.units == 0, "reqGet: a free request holds nothing");
  r.next = 0;
  c.reqsBusy++;
  return r;
}

// ---- CapsuleCmd ----

/** A CapsuleCmd's header is in: take a request for it and check its SGL. */
export function reqCapsuleStart(c: TcpConn, hdr: usize, dataBytes: u32): u32 {
  if (c.reqsBusy >= queueEntries(c)) {
    // Responses still being sent hold their entries: the host may have them already and be right.
    if (c.sendBusy != 0 || c.sendHead != 0) return START_STALL;
    connFatal(c, BAD_QUEUE_OVERRUN, hdr, c.hdrBytes);
    return START_FATAL;
  }
  const r = reqGet(c);
  if (r == null) {
    reportAscii(LEVEL_ERROR, -ENOMEM, "nvmf_tcp: connection from %s: no memory for a request", c.peerAddr);
    connClose(c, "out of memory for a request", LEVEL_ERROR);
    return START_FATAL;
  }
  const n = changetype<NvmfReq>(r.nvmf);
  memory.copy(n.sqe, capsuleSqe(hdr), SQE_BYTES);
  // A request from the free list still has its last command's length: a command refused before it
  // runs (reqExec sets it) must not complete with that one (found by `wstor fuzz nvmf-tcp`).
  if (!planted(PLANT_STALE_LENGTH)) n.length = 0;
  r.cid = sqeCid(n.sqe);
  r.state = REQ_CAPSULE;
  r.received = 0;
  r.c2hDone = 0;
  r.errorStatus = sglCheck(c, r, n.sqe, dataBytes);
  c.pduReq = changetype<usize>(r);
  if (dataBytes > 0 && r.errorStatus == STATUS_SUCCESS) c.dataReq = changetype<usize>(r);   // else read and dropped
  return START_OK;
}

/**
 * What NVMe/TCP allows a command's SGL1 to be (the transport spec, 7.4.3): in-capsule data (data
 * block, offset subtype, offset 0, length = the capsule's data) or data by R2T/C2HData (transport
 * data block); its length within max_io_size. Sets xfer, length, inCapsule; a status otherwise.
 */
function sglCheck(c: TcpConn, r: TcpReq, sqe: usize, dataBytes: u32): u32 {
  const xfer = sqeXfer(sqe);
  const sgl = sqeDptr(sqe);
  const length = sglLength(sgl);
  r.xfer = xfer;
  r.length = 0;
  r.inCapsule = 0;
  if (xfer == XFER_NONE || length == 0) {
    r.xfer = XFER_NONE;
    return dataBytes == 0 ? STATUS_SUCCESS : STATUS_DATA_SGL_LENGTH_INVALID;
  }
  if (xfer == XFER_BIDIRECTIONAL) return STATUS_INVALID_FIELD;
  if (length > limitsOf(c).maxIoSize) return STATUS_DATA_SGL_LENGTH_INVALID;
  const type = sglType(sgl);
  const subtype = sglSubtype(sgl);
  if (type == SGL_TYPE_DATA_BLOCK && subtype == SGL_SUBTYPE_OFFSET) {
    if (xfer != XFER_HOST_TO_CTRLR) return STATUS_SGL_DESCRIPTOR_TYPE_INVALID;
    if (sglAddress(sgl) != 0) return STATUS_INVALID_SGL_OFFSET;
    if (length > limitsOf(c).inCapsuleDataSize || length != dataBytes) return STATUS_DATA_SGL_LENGTH_INVALID;
    r.inCapsule = 1;
  } else if (type == SGL_TYPE_TRANSPORT_DATA_BLOCK && subtype == SGL_SUBTYPE_TRANSPORT) {
    if (dataBytes != 0) return STATUS_DATA_SGL_LENGTH_INVALID;   // data in the capsule, an SGL asking for R2T
  } else {
    return STATUS_SGL_DESCRIPTOR_TYPE_INVALID;
  }
  r.length = length;
  return STATUS_SUCCESS;
}

/** The whole CapsuleCmd is in (data included): refuse it, run it, or get its data buffers. */
export function reqCapsuleEnd(c: TcpConn): void {
  const r = changetype<TcpReq>(c.pduReq);
  const g = changetype<TcpGroup>(c.group);
  g.commands++;
  if (r.errorStatus != STATUS_SUCCESS) {
    g.errorCompletions++;
    nvmfReqCompleteError(r.nvmf, r.errorStatus);
    return;
  }
  if (r.length == 0 || r.inCapsule != 0) {
    if (r.inCapsule != 0) {
      store<u32>(r.iovs, <u32>r.icd);
      store<u32>(r.iovs, r.length, 4);
    }
    reqExec(r);
    return;
  }
  if (bufPoolTake(poolOf(c), r)) reqBuffersReady(changetype<usize>(r));
  else g.bufferWaits++;
}

/** The request holds its buffers (at once, or from the pool's wait list): fetch a write's data or run it. */
export function reqBuffersReady(req: usize): void {
  const r = changetype<TcpReq>(req);
  const c = changetype<TcpConn>(r.conn);
  if (r.state != REQ_CAPSULE && r.state != REQ_WAIT_BUFFER) return;
  if (c.state >= CONN_TERMINATING) {        // closed while it waited: the close left it to us
    reqRelease(r);
    return;
  }
  if (r.xfer == XFER_HOST_TO_CTRLR) {
    r.state = REQ_R2T;
    r.sendWhat = SEND_R2T;
    connSendQueue(c, r);
    return;
  }
  reqExec(r);
}

// ---- H2CData ----

/** An H2CData header: it must answer this connection's R2T, in order, inside its length. */
export function reqH2cStart(c: TcpConn, hdr: usize): u32 {
  const ttag = <u32>dataTtag(hdr);
  const r = ttag < c.reqCount ? connReqAt(c, ttag) : null;
  if (r == null || r.state != REQ_R2T) {
    connFatal(c, BAD_DATA_TTAG, hdr, c.hdrBytes);
    return START_FATAL;
  }
  if (<u32>dataCccid(hdr) != r.cid) {
    connFatal(c, BAD_DATA_CID, hdr, c.hdrBytes);
    return START_FATAL;
  }
  const datao = dataOffset(hdr);
  if (datao != r.received) {
    connFatal(c, BAD_DATA_OFFSET, hdr, c.hdrBytes);
    return START_FATAL;
  }
  if (<u64>datao + <u64>dataLength(hdr) > <u64>r.length) {
    connFatal(c, BAD_DATA_RANGE, hdr, c.hdrBytes);
    return START_FATAL;
  }
  c.pduReq = changetype<usize>(r);
  c.dataReq = changetype<usize>(r);
  c.dataAt = datao;
  return START_OK;
}

export function reqH2cEnd(c: TcpConn): void {
  const r = changetype<TcpReq>(c.pduReq);
  r.received += dataLength(c.hdr);
  if (r.received == r.length) reqExec(r);
}

/** Copy `n` received bytes to offset `at` of the request's data. */
export function reqDataWrite(r: TcpReq, at: u32, src: usize, n: u32): void {
  assert(<u64>at + <u64>n <= <u64>r.length, "reqDataWrite: inside the request's data");
  if (r.inCapsule != 0) {
    memory.copy(r.icd + at, src, n);
    return;
  }
  const unit = changetype<TcpBufPool>(poolOf(changetype<TcpConn>(r.conn))).unitBytes;
  let done: u32 = 0;
  while (done < n) {
    const pos = at + done;
    const i = pos / unit;
    const within = pos - i * unit;
    const len = min(n - done, unit - within);
    memory.copy(<usize>load<u32>(r.iovs + (<usize>i << 3)) + within, src + done, len);
    done += len;
  }
}

// ---- the core ----

function reqExec(r: TcpReq): void {
  const n = changetype<NvmfReq>(r.nvmf);
  n.length = r.length;
  n.xfer = r.length > 0 ? r.xfer : XFER_NONE;
  n.iovcnt = r.length == 0 ? 0 : (r.inCapsule != 0 ? 1 : r.units);
  n.iovs = r.length > 0 ? r.iovs : 0;
  r.state = REQ_EXEC;
  nvmfReqExec(r.nvmf);
}

/** ops.complete: the core (or nvmfReqCompleteError) is done with it; send its data and response. */
export function reqComplete(req: usize): void {
  const n = changetype<NvmfReq>(req);
  const r = changetype<TcpReq>(n.transportCtx);
  const c = changetype<TcpConn>(r.conn);
  assert(r.state == REQ_EXEC || r.state == REQ_CAPSULE || r.state == REQ_DROPPED, "reqComplete: a request the core held");
  if (r.state == REQ_DROPPED || c.state >= CONN_TERMINATING) {
    reqRelease(r);
    return;
  }
  assert(n.length <= r.length, "reqComplete: the core may lower length, never raise it");
  const ok = cqeStatus(n.cqe) == STATUS_SUCCESS;
  if (r.xfer == XFER_CTRLR_TO_HOST && ok && n.length > 0 && r.state == REQ_EXEC) {
    r.length = n.length;
    r.sendWhat = SEND_C2H;
  } else {
    r.sendWhat = SEND_RESP;
  }
  r.state = REQ_SEND;
  connSendQueue(c, r);
}

/** The request is done with (sent, refused, or its connection closed): back to the free list. */
export function reqRelease(r: TcpReq): void {
  const c = changetype<TcpConn>(r.conn);
  assert(r.state != REQ_FREE && c.reqsBusy > 0, "reqRelease: a busy request");
  if (r.units > 0) bufPoolGive(poolOf(c), r);
  r.state = REQ_FREE;
  r.next = c.freeReqs;
  c.freeReqs = changetype<usize>(r);
  c.reqsBusy--;
  if (c.waitingForReq != 0) connResumeLater(c);
}

/** The wire is quiet (close chain): release what the transport holds; what the core holds is dropped later. */
export function reqDropAll(c: TcpConn): void {
  for (let i: u32 = 0; i < c.reqCount; i++) {
    const r = connReqAt(c, i);
    switch (r.state) {
      case REQ_FREE: break;
      case REQ_EXEC: r.state = REQ_DROPPED; break;
      case REQ_WAIT_BUFFER:
        // Served by a drain that has not told it yet: reqBuffersReady releases it.
        if (r.units == 0) { bufPoolCancel(poolOf(c), r); reqRelease(r); }
        break;
      default: reqRelease(r);                // capsule half read, R2T outstanding, response unsent
    }
  }
}

/** Free every request block (the connection is being freed: none may be busy). */
export function reqFreeAll(c: TcpConn): void {
  for (let i: u32 = 0; i < c.reqCount; i++) {
    const r = connReqAt(c, i);
    assert(r.state == REQ_FREE, "reqFreeAll: every request was released");
    heapFree(changetype<usize>(r));
  }
  c.reqCount = 0;
  c.freeReqs = 0;
}
