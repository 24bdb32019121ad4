// Test hooks for the socket layer (assembly/sock): an echo server on one reactor thread — accept, recv,
// send it all back (short sends continued), and on end of stream or error cancel then close — with
// counters the test reads. A cancel's callback checks that every op of its fd was called back first.

import { heapAllocZeroed, heapFree } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import {
  SockOp, SOCK_OP_BYTES, sockOpInit, sockChannelGet, sockChannelPut, sockAccept, sockRecv, sockSendv, sockCancel, sockClose, sockPeerName,
} from "../../assembly/sock";

const ECHO_BUF_BYTES: u32 = 65536;

@unmanaged class EchoServer {
  thread: usize;
  channel: usize;
  listenFd: i32;
  acceptOp: usize;
  cancelOp: usize;
  closeOp: usize;
  stopping: u32;
  accepting: u32;       // the accept op is out
  conns: usize;         // EchoConn list
  // counters (read by the test)
  accepted: u32;
  closed: u32;
  stopped: u32;
  orderViolations: u32; // a cancel called back while an op of its fd was still out
  peersKnown: u32;      // sockPeerName gave 127.0.0.1
  echoed: f64;
  cancelled: u32;       // ops that ended with -ECANCELED
}

@unmanaged class EchoConn {
  server: usize;
  fd: i32;
  recvOp: usize;
  sendOp: usize;
  cancelOp: usize;
  closeOp: usize;
  buf: usize;
  iov: usize;           // one {u32 base, u32 len} pair
  sendFrom: u32;
  sendTo: u32;
  recvOut: u32;
  sendOut: u32;
  shutting: u32;
  next: usize;
  prev: usize;
}

const ECANCELED: i32 = 125;

/** An echo server on `thread` accepting on `listenFd` (its to close). */
export function hs_echo_start(thread: usize, listenFd: i32): usize {
  const block = heapAllocZeroed(offsetof<EchoServer>() + 3 * SOCK_OP_BYTES);
  const s = changetype<EchoServer>(block);
  s.thread = thread;
  s.listenFd = listenFd;
  s.acceptOp = block + offsetof<EchoServer>();
  s.cancelOp = s.acceptOp + SOCK_OP_BYTES;
  s.closeOp = s.cancelOp + SOCK_OP_BYTES;
  sockOpInit(s.acceptOp, acceptDone, block);
  sockOpInit(s.cancelOp, listenCancelDone, block);
  sockOpInit(s.closeOp, listenCloseDone, block);
  sendMsg(thread, startMsg, block);
  return block;
}

function startMsg(server: usize): void {
  const s = changetype<EchoServer>(server);
  s.channel = sockChannelGet();
  postAccept(s);
}

function postAccept(s: EchoServer): void {
  s.accepting = 1;
  sockAccept(s.channel, s.acceptOp, s.listenFd);
}

function acceptDone(op: usize): void {
  const s = changetype<EchoServer>(changetype<SockOp>(op).ctx);
  const fd = changetype<SockOp>(op).res;
  s.accepting = 0;
  if (fd == -ECANCELED) s.cancelled++;
  if (fd >= 0) connStart(s, fd);
  if (s.stopping == 0) postAccept(s);
}

function connStart(s: EchoServer, fd: i32): void {
  const block = heapAllocZeroed(offsetof<EchoConn>() + 4 * SOCK_OP_BYTES + 8 + ECHO_BUF_BYTES);
  const c = changetype<EchoConn>(block);
  c.server = changetype<usize>(s);
  c.fd = fd;
  c.recvOp = block + offsetof<EchoConn>();
  c.sendOp = c.recvOp + SOCK_OP_BYTES;
  c.cancelOp = c.sendOp + SOCK_OP_BYTES;
  c.closeOp = c.cancelOp + SOCK_OP_BYTES;
  c.iov = c.closeOp + SOCK_OP_BYTES;
  c.buf = c.iov + 8;
  sockOpInit(c.recvOp, recvDone, block);
  sockOpInit(c.sendOp, sendDone, block);
  sockOpInit(c.cancelOp, connCancelDone, block);
  sockOpInit(c.closeOp, connCloseDone, block);
  c.next = s.conns;
  if (s.conns != 0) changetype<EchoConn>(s.conns).prev = block;
  s.conns = block;
  s.accepted++;
  const addr = heapAllocZeroed(64);
  if (sockPeerName(fd, addr, 64) > 0 && load<u32>(addr) == 0x2e373231 /* "127." */) s.peersKnown++;
  heapFree(addr);
  postRecv(c);
}

function serverOf(c: EchoConn): EchoServer { return changetype<EchoServer>(c.server); }

function postRecv(c: EchoConn): void {
  c.recvOut = 1;
  sockRecv(serverOf(c).channel, c.recvOp, c.fd, c.buf, ECHO_BUF_BYTES);
}

function postSend(c: EchoConn): void {
  store<u32>(c.iov, <u32>(c.buf + c.sendFrom));
  store<u32>(c.iov, c.sendTo - c.sendFrom, 4);
  c.sendOut = 1;
  sockSendv(serverOf(c).channel, c.sendOp, c.fd, c.iov, 1);
}

function recvDone(op: usize): void {
  const c = changetype<EchoConn>(changetype<SockOp>(op).ctx);
  const res = changetype<SockOp>(op).res;
  c.recvOut = 0;
  if (res == -ECANCELED) serverOf(c).cancelled++;
  if (c.shutting != 0) return;
  if (res <= 0) { shut(c); return; }
  c.sendFrom = 0;
  c.sendTo = <u32>res;
  postSend(c);
}

function sendDone(op: usize): void {
  const c = changetype<EchoConn>(changetype<SockOp>(op).ctx);
  const res = changetype<SockOp>(op).res;
  c.sendOut = 0;
  if (res == -ECANCELED) serverOf(c).cancelled++;
  if (c.shutting != 0) return;
  if (res < 0) { shut(c); return; }
  serverOf(c).echoed += <f64>res;
  c.sendFrom += <u32>res;
  if (c.sendFrom < c.sendTo) postSend(c); else postRecv(c);
}

function shut(c: EchoConn): void {
  if (c.shutting != 0) return;
  c.shutting = 1;
  sockCancel(serverOf(c).channel, c.cancelOp, c.fd);
}

function connCancelDone(op: usize): void {
  const c = changetype<EchoConn>(changetype<SockOp>(op).ctx);
  if (c.recvOut != 0 || c.sendOut != 0) serverOf(c).orderViolations++;
  sockClose(serverOf(c).channel, c.closeOp, c.fd);
}

function connCloseDone(op: usize): void {
  const block = changetype<SockOp>(op).ctx;
  const c = changetype<EchoConn>(block);
  const s = serverOf(c);
  if (c.prev != 0) changetype<EchoConn>(c.prev).next = c.next; else s.conns = c.next;
  if (c.next != 0) changetype<EchoConn>(c.next).prev = c.prev;
  s.closed++;
  heapFree(block);
  maybeStopped(s);
}

/** Shut every connection now, whatever its ops are doing (a recv waiting in the kernel, typically). */
export function hs_echo_kick(server: usize): void { sendMsg(changetype<EchoServer>(server).thread, kickMsg, server); }
function kickMsg(server: usize): void {
  let at = changetype<EchoServer>(server).conns;
  while (at != 0) { const next = changetype<EchoConn>(at).next; shut(changetype<EchoConn>(at)); at = next; }
}

/** Stop accepting (cancel the accept waiting in the kernel), close the listener, shut every connection. */
export function hs_echo_stop(server: usize): void { sendMsg(changetype<EchoServer>(server).thread, stopMsg, server); }
function stopMsg(server: usize): void {
  const s = changetype<EchoServer>(server);
  s.stopping = 1;
  kickMsg(server);
  sockCancel(s.channel, s.cancelOp, s.listenFd);
}

function listenCancelDone(op: usize): void {
  const s = changetype<EchoServer>(changetype<SockOp>(op).ctx);
  if (s.accepting != 0) s.orderViolations++;
  sockClose(s.channel, s.closeOp, s.listenFd);
}

function listenCloseDone(op: usize): void {
  const s = changetype<EchoServer>(changetype<SockOp>(op).ctx);
  s.listenFd = -1;
  maybeStopped(s);
}

function maybeStopped(s: EchoServer): void {
  if (s.stopping == 0 || s.listenFd >= 0 || s.conns != 0 || s.stopped != 0) return;
  sockChannelPut(s.channel);
  s.stopped = 1;
}

/** 0 accepted, 1 closed, 2 stopped, 3 order violations, 4 peers known, 5 bytes echoed, 6 cancelled ops. */
export function hs_echo_stat(server: usize, which: u32): f64 {
  const s = changetype<EchoServer>(server);
  switch (which) {
    case 0: return <f64>s.accepted;
    case 1: return <f64>s.closed;
    case 2: return <f64>s.stopped;
    case 3: return <f64>s.orderViolations;
    case 4: return <f64>s.peersKnown;
    case 5: return s.echoed;
    case 6: return <f64>s.cancelled;
    default: return -1;
  }
}

export function hs_echo_free(server: usize): void { heapFree(server); }
