// Test hooks for the NVMe/TCP transport's connection state machine (tests/unit/nvmf-tcp-conn.test.ts):
// a wire driven by hand instead of a socket. The test feeds the bytes a host would send, takes the
// bytes the connection sends (all, or only some: a short send), and polls the harness's threads.
// Every wire result is delivered by a message on the connection's thread, as a real wire does.

import { heapAllocZeroed, heapFree, ECANCELED } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import { NvmfTransportLimits, NvmfQpair, TRTYPE_TCP, QPAIR_CONNECTED } from "../../assembly/nvme/transport";
import { TcpWire, TcpConn, TcpTransport } from "../../assembly/nvme/tcp/types";
import { TcpOptions, tcpTransportNew, tcpGroupNew, tcpGroupStart, tcpGroupAt } from "../../assembly/nvme/tcp/group";
import { connCreate, connRecvDone, connWireQuiet, connWireClosed, connReqAt } from "../../assembly/nvme/tcp/conn";
import { connSendDone } from "../../assembly/nvme/tcp/conn-send";
import { TcpBufPool } from "../../assembly/nvme/tcp/bufpool";

@unmanaged class HandWire {
  thread: usize;
  conn: usize;
  recvBuf: usize;
  recvCap: u32;
  recvPosted: u32;
  sendIovs: usize;
  sendCnt: u32;
  sendPosted: u32;
  feedSrc: usize;      // bytes the test gave that the connection has not taken yet
  feedLeft: u32;
  sendResult: i32;     // what the next connSendDone reports
  shutdowns: u32;
  closed: u32;
  recvs: u32;
}

function wireOf(conn: usize): HandWire { return changetype<HandWire>(changetype<TcpConn>(conn).wireCtx); }

function handRecv(conn: usize, buf: usize, len: u32): void {
  const w = wireOf(conn);
  assert(w.recvPosted == 0, "hand wire: one recv at a time");
  w.recvBuf = buf;
  w.recvCap = len;
  w.recvPosted = 1;
  w.recvs++;
  if (w.feedLeft > 0) sendMsg(w.thread, deliverMsg, conn);
}
function handSendv(conn: usize, iovs: usize, iovcnt: u32): void {
  const w = wireOf(conn);
  assert(w.sendPosted == 0, "hand wire: one sendv at a time");
  w.sendIovs = iovs;
  w.sendCnt = iovcnt;
  w.sendPosted = 1;
}
function handShutdown(conn: usize): void {
  wireOf(conn).shutdowns++;
  sendMsg(wireOf(conn).thread, shutdownMsg, conn);
}
function shutdownMsg(conn: usize): void {
  const w = wireOf(conn);
  if (w.recvPosted != 0) { w.recvPosted = 0; connRecvDone(conn, -ECANCELED); }
  if (w.sendPosted != 0) { w.sendPosted = 0; connSendDone(conn, -ECANCELED); }
  connWireQuiet(conn);
}
function handClose(conn: usize): void { sendMsg(wireOf(conn).thread, closeMsg, conn); }
function closeMsg(conn: usize): void {
  const w = wireOf(conn);
  w.closed = 1;
  connWireClosed(conn);
  // the connection is freed now: the wire state stays for the test to read (htcp_wire_closed)
}

/** Hand the connection what the test fed, as much as its posted recv takes. */
function deliverMsg(conn: usize): void {
  const w = wireOf(conn);
  if (w.recvPosted == 0 || w.feedLeft == 0) return;
  const n = min(w.feedLeft, w.recvCap);
  memory.copy(w.recvBuf, w.feedSrc, n);
  w.feedSrc += n;
  w.feedLeft -= n;
  w.recvPosted = 0;
  connRecvDone(conn, <i32>n);
}

function handGroupStart(group: usize): i32 { return 0; }
function handGroupStop(group: usize): void {}

let handWireTable: usize = 0;
function handWire(): usize {
  if (handWireTable == 0) {
    const t = changetype<TcpWire>(heapAllocZeroed(offsetof<TcpWire>()));
    t.recv = changetype<usize>(handRecv);
    t.sendv = changetype<usize>(handSendv);
    t.shutdown = changetype<usize>(handShutdown);
    t.close = changetype<usize>(handClose);
    t.groupStart = changetype<usize>(handGroupStart);
    t.groupStop = changetype<usize>(handGroupStop);
    handWireTable = changetype<usize>(t);
  }
  return handWireTable;
}

/** A transport with one group on `thread` (a harness thread); its buffer pool is made by a message. */
export function htcp_transport_new(thread: usize, maxQueueDepth: u32, inCapsule: u32, maxIoSize: u32, ioUnit: u32,
  buffers: u32, c2hSuccess: u32): usize {
  const lp = heapAllocZeroed(offsetof<NvmfTransportLimits>() + offsetof<TcpOptions>());
  const l = changetype<NvmfTransportLimits>(lp);
  l.trtype = TRTYPE_TCP;
  l.maxQueueDepth = maxQueueDepth;
  l.maxIoQpairsPerCtrlr = 4;
  l.inCapsuleDataSize = inCapsule;
  l.maxIoSize = maxIoSize;
  l.ioUnitSize = ioUnit;
  l.maxAqDepth = 32;
  const o = changetype<TcpOptions>(lp + offsetof<NvmfTransportLimits>());
  o.c2hSuccess = c2hSuccess;
  o.numSharedBuffers = buffers;
  const t = tcpTransportNew(lp, 1, handWire());
  heapFree(lp);
  tcpGroupNew(t, 0, thread, -1);
  sendMsg(thread, startMsg, t);
  return t;
}
function startMsg(t: usize): void {
  assert(tcpGroupStart(changetype<usize>(tcpGroupAt(changetype<TcpTransport>(t), 0))) == 0, "ht: group start");
}

/** A connection on the transport's group over a fresh hand wire; returns the wire (htcp_conn gives the connection once made). */
export function htcp_conn_new(t: usize): usize {
  const w = changetype<HandWire>(heapAllocZeroed(offsetof<HandWire>()));
  w.thread = tcpGroupAt(changetype<TcpTransport>(t), 0).thread;
  store<usize>(changetype<usize>(w) + offsetof<HandWire>("conn"), t);   // the transport until made
  sendMsg(w.thread, connNewMsg, changetype<usize>(w));
  return changetype<usize>(w);
}
function connNewMsg(wp: usize): void {
  const w = changetype<HandWire>(wp);
  const t = changetype<TcpTransport>(w.conn);
  w.conn = 0;
  w.conn = connCreate(changetype<usize>(tcpGroupAt(t, 0)), wp, 7);
}
export function htcp_conn(wire: usize): usize { return changetype<HandWire>(wire).conn; }

/** Give the connection `n` bytes at `src` (the test keeps them alive until taken). */
export function htcp_feed(wire: usize, src: usize, n: u32): void {
  const w = changetype<HandWire>(wire);
  assert(w.feedLeft == 0, "htcp_feed: the previous bytes are not all taken");
  w.feedSrc = src;
  w.feedLeft = n;
  if (w.recvPosted != 0) sendMsg(w.thread, deliverMsg, w.conn);
}
export function htcp_feed_left(wire: usize): u32 { return changetype<HandWire>(wire).feedLeft; }
/** The host closes its end: the posted recv ends with 0. */
export function htcp_peer_close(wire: usize): void { sendMsg(changetype<HandWire>(wire).thread, peerCloseMsg, wire); }
function peerCloseMsg(wire: usize): void {
  const w = changetype<HandWire>(wire);
  if (w.recvPosted == 0) return;
  w.recvPosted = 0;
  connRecvDone(w.conn, 0);
}

/** Bytes of the sendv in flight (0: none). */
export function htcp_send_pending(wire: usize): u32 {
  const w = changetype<HandWire>(wire);
  if (w.sendPosted == 0) return 0;
  let n: u32 = 0;
  for (let i: u32 = 0; i < w.sendCnt; i++) n += load<u32>(w.sendIovs + (<usize>i << 3), 4);
  return n;
}
/** Copy up to `max` bytes of the sendv in flight into `out` and complete it with that count (a short send when fewer). */
export function htcp_take_sent(wire: usize, out: usize, max: u32): u32 {
  const w = changetype<HandWire>(wire);
  if (w.sendPosted == 0) return 0;
  let n: u32 = 0;
  for (let i: u32 = 0; i < w.sendCnt && n < max; i++) {
    const base = <usize>load<u32>(w.sendIovs + (<usize>i << 3));
    const len = min(load<u32>(w.sendIovs + (<usize>i << 3), 4), max - n);
    memory.copy(out + n, base, len);
    n += len;
  }
  w.sendResult = <i32>n;
  sendMsg(w.thread, sendDoneMsg, wire);
  return n;
}
function sendDoneMsg(wire: usize): void {
  const w = changetype<HandWire>(wire);
  w.sendPosted = 0;
  connSendDone(w.conn, w.sendResult);
}
export function htcp_wire_closed(wire: usize): u32 { return changetype<HandWire>(wire).closed; }
export function htcp_wire_shutdowns(wire: usize): u32 { return changetype<HandWire>(wire).shutdowns; }
export function htcp_wire_recv_posted(wire: usize): u32 { return changetype<HandWire>(wire).recvPosted; }

export function htcp_conn_state(conn: usize): u32 { return changetype<TcpConn>(conn).state; }
export function htcp_conn_reqs_made(conn: usize): u32 { return changetype<TcpConn>(conn).reqCount; }
export function htcp_conn_reqs_busy(conn: usize): u32 { return changetype<TcpConn>(conn).reqsBusy; }
export function htcp_conn_units(conn: usize): u32 { return changetype<TcpConn>(conn).unitsHeld; }
export function htcp_conn_req_state(conn: usize, i: u32): u32 { return connReqAt(changetype<TcpConn>(conn), i).state; }
export function htcp_transport_conns(t: usize): u32 { return atomic.load<u32>(t + offsetof<TcpTransport>("conns")); }
export function htcp_pool_free(t: usize): u32 {
  return changetype<TcpBufPool>(tcpGroupAt(changetype<TcpTransport>(t), 0).pool).free;
}
export function htcp_group_stat(t: usize, which: u32): f64 {
  const g = tcpGroupAt(changetype<TcpTransport>(t), 0);
  switch (which) {
    case 0: return <f64>g.accepted;
    case 1: return <f64>g.closed;
    case 2: return <f64>g.termReqsSent;
    case 3: return <f64>g.termReqsReceived;
    case 4: return <f64>g.commands;
    case 5: return <f64>g.errorCompletions;
    case 6: return <f64>g.bufferWaits;
  }
  return -1;
}
/** Pretend the core finished Connect for the qpair: connected with `sqsize` entries (the controller model is not here yet). */
export function htcp_qpair_connect(conn: usize, sqsize: u32): void {
  const q = changetype<NvmfQpair>(changetype<TcpConn>(conn).qpair);
  q.state = QPAIR_CONNECTED;
  q.sqsize = sqsize;
}

// ---- the transport's limits check (assembly/nvme/tcp/lifecycle.ts) ----
import { tcpLimitsProblem } from "../../assembly/nvme/tcp/lifecycle";
import { tcpStats, STATS_RECORD_BYTES } from "../../assembly/nvme/tcp/stats";
/** tcpLimitsProblem over limits written at `lp` (NvmfTransportLimits + TcpOptions): 0 or the reason (a static string). */
export function htcp_limits_problem(lp: usize): usize {
  const why = tcpLimitsProblem(lp);
  return why == null ? 0 : changetype<usize>(why);
}
export function htcp_limits_bytes(): u32 { return offsetof<NvmfTransportLimits>() + offsetof<TcpOptions>(); }
export function htcp_stats(t: usize, buf: usize, cap: u32): i32 { return tcpStats(t, buf, cap); }
export function htcp_stats_record_bytes(): u32 { return STATS_RECORD_BYTES; }
