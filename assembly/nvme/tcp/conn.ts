// One NVMe/TCP connection's life: made on its poll group's thread with its qpair, the IC exchange,
// a fatal error answered by a C2HTermReq, and the close chain (wire quiet -> qpair closed -> socket
// closed -> freed) that runs once whatever ended it. Receiving is conn-recv.ts, sending conn-send.ts,
// commands request.ts.

import { heapAllocZeroed, heapFree, report, LEVEL_INFO, LEVEL_WARN } from "../../runtime";
import { contextThread } from "../../runtime/context";
import { sendMsg, pollerRegister, pollerUnregister, POLLER_BUSY } from "../../thread";
import { NvmfQpair, NvmfTransportLimits } from "../transport";
import { nvmfQpairInit } from "../target";
import { nvmfQpairClose } from "../qpair-close";
import { reportAscii, reportAsciiWhy } from "../report";
import {
  TcpConn, TcpGroup, TcpTransport, TcpWire, TcpReq, WireRecvFn, WireConnFn,
  CONN_IC_WAIT, CONN_READY, CONN_TERMINATING, CONN_CLOSING, CONN_CLOSED, PHASE_HEADER,
  RECV_BUFFER_BYTES, SEND_IOV_MAX, PEER_ADDR_BYTES, TERM_LINGER_US, H2C_DATA_MAX,
} from "./types";
import { PduRules, verdictFes, verdictFei, verdictText } from "./pdu-check";
import { RECV_HEADER_MAX, DIGEST_BYTES, IC_BYTES, TERM_REQ_MAX_BYTES, pduWriteIcResp, pduWriteTermReq, icPda, icDigests, IC_DGST_HEADER, IC_DGST_DATA } from "./pdu";
import { connParse } from "./conn-recv";
import { connSendKick, connSendReset } from "./conn-send";
import { reqDropAll, reqFreeAll } from "./request";

const HDR_BYTES: u32 = RECV_HEADER_MAX + DIGEST_BYTES;

/** Where each part of a connection's one block sits, from its limits. */
function connBlockBytes(limits: NvmfTransportLimits): usize {
  return <usize>offsetof<TcpConn>() + offsetof<NvmfQpair>() + offsetof<PduRules>() + RECV_BUFFER_BYTES + HDR_BYTES +
    (SEND_IOV_MAX << 3) + IC_BYTES + TERM_REQ_MAX_BYTES + (<usize>limits.maxQueueDepth << 2) + PEER_ADDR_BYTES;
}

/**
 * A connection on this (the group's) thread over the transport's wire (`wireCtx`: its state for this
 * connection, already connected); its qpair is
 * initialised here and it starts reading. 0 when out of memory (the caller closes the socket).
 */
export function connCreate(group: usize, wireCtx: usize, listener: u32): usize {
  const g = changetype<TcpGroup>(group);
  assert(contextThread() == g.thread, "connCreate: not on the group's thread");
  const t = changetype<TcpTransport>(g.transport);
  const limits = changetype<NvmfTransportLimits>(t.limits);
  const block = heapAllocZeroed(connBlockBytes(limits));
  if (block == 0) return 0;
  const c = changetype<TcpConn>(block);
  let at = block + offsetof<TcpConn>();
  c.qpair = at; at += offsetof<NvmfQpair>();
  c.rules = at; at += offsetof<PduRules>();
  c.rbuf = at; at += RECV_BUFFER_BYTES;
  c.hdr = at; at += HDR_BYTES;
  c.iovs = at; at += SEND_IOV_MAX << 3;
  c.icResp = at; at += IC_BYTES;
  c.termReq = at; at += TERM_REQ_MAX_BYTES;
  c.reqs = at; at += <usize>limits.maxQueueDepth << 2;
  c.peerAddr = at;
  c.group = group;
  c.transport = g.transport;
  c.wire = t.wire;
  c.wireCtx = wireCtx;
  c.listener = listener;
  c.state = CONN_IC_WAIT;
  c.phase = PHASE_HEADER;
  const rules = changetype<PduRules>(c.rules);
  rules.maxInCapsule = limits.inCapsuleDataSize;
  rules.maxH2cData = H2C_DATA_MAX;
  nvmfQpairInit(c.qpair, t.ops, block, listener);
  c.next = g.conns;
  if (g.conns != 0) changetype<TcpConn>(g.conns).prev = block;
  g.conns = block;
  g.connCount++;
  g.accepted++;
  atomic.add<u32>(changetype<usize>(t) + offsetof<TcpTransport>("conns"), 1);
  connRecvPost(c);
  return block;
}

/** The peer's address for get_qpairs (NUL-terminated ASCII, truncated to fit) and port. */
export function connSetPeer(conn: usize, addr: usize, port: u32): void {
  const c = changetype<TcpConn>(conn);
  let n: u32 = 0;
  while (n < PEER_ADDR_BYTES - 1 && load<u8>(addr + n) != 0) n++;
  memory.copy(c.peerAddr, addr, n);
  store<u8>(c.peerAddr + n, 0);
  const q = changetype<NvmfQpair>(c.qpair);
  q.peerAddr = c.peerAddr;
  q.peerPort = port;
}

// ---- receiving: the wire's results ----

/** Post the next recv into the free end of the receive buffer (none while full or ending). */
export function connRecvPost(c: TcpConn): void {
  if (c.recvPosted != 0 || c.state >= CONN_TERMINATING) return;
  const space = RECV_BUFFER_BYTES - c.rTail;
  if (space == 0) return;                   // parsing is paused on a busy queue: resumes when a request frees
  c.recvPosted = 1;
  changetype<WireRecvFn>(changetype<TcpWire>(c.wire).recv)(changetype<usize>(c), c.rbuf + c.rTail, space);
}

export function connRecvDone(conn: usize, res: i32): void {
  const c = changetype<TcpConn>(conn);
  assert(c.recvPosted == 1 && c.state != CONN_CLOSED, "connRecvDone: no recv was posted");
  c.recvPosted = 0;
  if (c.state >= CONN_CLOSING) return;
  if (res <= 0) {
    connClose(c, res == 0 ? "the host closed the connection" : "receiving failed", res == 0 ? LEVEL_INFO : LEVEL_WARN);
    return;
  }
  if (c.state == CONN_TERMINATING) return;  // nothing more is read after a TermReq
  assert(<u32>res <= RECV_BUFFER_BYTES - c.rTail, "connRecvDone: more bytes than the buffer had room for");
  c.rTail += <u32>res;
  connParseAndCompact(c);
}

function connParseAndCompact(c: TcpConn): void {
  connParse(c);
  if (c.state >= CONN_TERMINATING) return;
  // A recv in flight writes at the rTail it was posted with: nothing may move until it lands.
  if (c.recvPosted != 0) return;
  if (c.rHead == c.rTail) {
    c.rHead = 0;
    c.rTail = 0;
  } else if (c.rHead > 0) {
    memory.copy(c.rbuf, c.rbuf + c.rHead, c.rTail - c.rHead);
    c.rTail -= c.rHead;
    c.rHead = 0;
  }
  connRecvPost(c);
}

/** A request came free while parsing waited for one: continue from a message (never re-entered). */
export function connResumeLater(c: TcpConn): void {
  if (c.resumePosted != 0) return;
  c.resumePosted = 1;
  c.msgsPending++;
  sendMsg(changetype<TcpGroup>(c.group).thread, connResume, changetype<usize>(c));
}

function connResume(conn: usize): void {
  const c = changetype<TcpConn>(conn);
  c.resumePosted = 0;
  c.msgsPending--;
  if (c.state == CONN_CLOSED) { connFreeIfIdle(c); return; }
  if (c.state >= CONN_TERMINATING || c.waitingForReq == 0) return;
  c.waitingForReq = 0;
  connParseAndCompact(c);
}

// ---- the IC exchange ----

/** ICReq (already checked): take the host's HPDA and digests, answer with ICResp. */
export function connIcReq(c: TcpConn, hdr: usize): void {
  const rules = changetype<PduRules>(c.rules);
  const digests = icDigests(hdr) & (IC_DGST_HEADER | IC_DGST_DATA);
  c.hpda = icPda(hdr);
  c.hdgst = (digests & IC_DGST_HEADER) != 0 ? 1 : 0;
  c.ddgst = (digests & IC_DGST_DATA) != 0 ? 1 : 0;
  rules.hdgst = c.hdgst;
  rules.ddgst = c.ddgst;
  rules.cpda = 0;
  rules.icDone = 1;
  c.state = CONN_READY;
  c.icRespBytes = pduWriteIcResp(c.icResp, 0, digests, H2C_DATA_MAX);
  connSendKick(c);
}

// ---- endings ----

/**
 * A fatal protocol error: report it, send a C2HTermReq with its FES/FEI and the start of the
 * offending PDU, read nothing more, and close once it has left (or after TERM_LINGER_US).
 */
export function connFatal(c: TcpConn, verdict: u32, offending: usize, offendingBytes: u32): void {
  if (c.state >= CONN_TERMINATING) return;
  const g = changetype<TcpGroup>(c.group);
  reportAsciiWhy(LEVEL_WARN, -71, "nvmf_tcp: connection from %s: %s; sending a TermReq and closing", c.peerAddr, verdictText(verdict));
  g.termReqsSent++;
  c.termReqBytes = pduWriteTermReq(c.termReq, verdictFes(verdict), verdictFei(verdict), offending, offendingBytes);
  c.state = CONN_TERMINATING;
  c.closeReason = changetype<usize>("a TermReq was sent");
  c.linger = pollerRegister(connLingerExpired, changetype<usize>(c), TERM_LINGER_US, "nvmf_tcp_linger");
  connSendKick(c);
}

function connLingerExpired(conn: usize): i32 {
  connClose(changetype<TcpConn>(conn), "the host did not take the TermReq in time", LEVEL_WARN);
  return POLLER_BUSY;
}

/** The TermReq left (conn-send.ts): the connection ends. */
export function connTermReqSent(c: TcpConn): void {
  connClose(c, "the TermReq was sent", LEVEL_INFO);
}

/** The host sent a TermReq: the connection ends (the spec: no answer). */
export function connTermReqReceived(c: TcpConn, fes: u16): void {
  changetype<TcpGroup>(c.group).termReqsReceived++;
  reportAscii(LEVEL_INFO, 0, "nvmf_tcp: connection from %s: the host sent a TermReq (FES %d)", c.peerAddr, 0, <f64>fes);
  connClose(c, "the host sent a TermReq", LEVEL_INFO);
}

/** The core asks for the connection to go (ops.disconnect). */
export function connDisconnect(qpair: usize): void {
  const c = changetype<TcpConn>(changetype<NvmfQpair>(qpair).transportCtx);
  connClose(c, "the controller dropped the connection", LEVEL_INFO);
}

/** Start the close chain once, whatever ended the connection. */
export function connClose(c: TcpConn, why: string, level: i32): void {
  if (c.state >= CONN_CLOSING) return;
  c.state = CONN_CLOSING;
  c.closeReason = changetype<usize>(why);
  if (level <= LEVEL_WARN) reportAsciiWhy(level, 0, "nvmf_tcp: connection from %s closes: %s", c.peerAddr, why);
  if (c.linger != 0) {
    pollerUnregister(c.linger);
    c.linger = 0;
  }
  changetype<WireConnFn>(changetype<TcpWire>(c.wire).shutdown)(changetype<usize>(c));
}

/** No op of the wire is in flight any more: give back what the transport holds, then close the qpair. */
export function connWireQuiet(conn: usize): void {
  const c = changetype<TcpConn>(conn);
  assert(c.state == CONN_CLOSING && c.recvPosted == 0, "connWireQuiet: closing, no recv in flight");
  connSendReset(c);
  reqDropAll(c);
  c.msgsPending++;
  nvmfQpairClose(c.qpair, connQpairClosed, conn);
}

/** The core holds no request of the qpair and has detached it: close the socket. */
function connQpairClosed(conn: usize): void {
  const c = changetype<TcpConn>(conn);
  c.msgsPending--;
  changetype<WireConnFn>(changetype<TcpWire>(c.wire).close)(conn);
}

/** The socket is closed: leave the group and free everything once no message to it is pending. */
export function connWireClosed(conn: usize): void {
  const c = changetype<TcpConn>(conn);
  const g = changetype<TcpGroup>(c.group);
  if (c.prev != 0) changetype<TcpConn>(c.prev).next = c.next; else g.conns = c.next;
  if (c.next != 0) changetype<TcpConn>(c.next).prev = c.prev;
  assert(g.connCount > 0, "connWireClosed: the group counts its connections");
  g.connCount--;
  g.closed++;
  atomic.sub<u32>(changetype<usize>(c.transport) + offsetof<TcpTransport>("conns"), 1);
  c.state = CONN_CLOSED;
  connFreeIfIdle(c);
}

function connFreeIfIdle(c: TcpConn): void {
  if (c.msgsPending != 0) return;            // connResume frees it when it runs
  reqFreeAll(c);
  const g = changetype<TcpGroup>(c.group);
  heapFree(changetype<usize>(c));
  if (g.connGone != 0) changetype<(group: usize) => void>(g.connGone)(changetype<usize>(g));   // a destroy may wait for the last
}

export function connReqAt(c: TcpConn, index: u32): TcpReq { return changetype<TcpReq>(load<usize>(c.reqs + (<usize>index << 2))); }
