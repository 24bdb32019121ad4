// The wire over a real socket: each connection's recv and sendv as socket ops on its reactor's
// io_uring (assembly/sock, contract B), cancelled and waited for before the connection's memory is
// reused, then closed. A poll group's socket channel is made and put here.

import { heapAllocZeroed, heapFree, ENOMEM } from "../../runtime";
import { SockOp, SOCK_OP_BYTES, sockOpInit, sockChannelGet, sockChannelPut, sockRecv, sockSendv, sockCancel, sockClose } from "../../sock";
import { TcpConn, TcpGroup, TcpWire } from "./types";
import { connRecvDone, connWireQuiet, connWireClosed } from "./conn";
import { connSendDone } from "./conn-send";

/** A connection's socket: the fd and an op for each thing that may be in flight at once. */
@unmanaged class SockConn {
  fd: i32;
  channel: usize;
  conn: usize;
  recvOp: usize;    // SockOp (in this block), and the three after it
  sendOp: usize;
  cancelOp: usize;
  closeOp: usize;
}

/** The wire's state for a connection on `group` over `fd` (now the wire's to close); 0 without memory. */
export function sockConnNew(group: usize, fd: i32): usize {
  const block = heapAllocZeroed(<usize>offsetof<SockConn>() + 4 * SOCK_OP_BYTES);
  if (block == 0) return 0;
  const s = changetype<SockConn>(block);
  s.fd = fd;
  s.channel = changetype<TcpGroup>(group).sockChannel;
  s.recvOp = block + offsetof<SockConn>();
  s.sendOp = s.recvOp + SOCK_OP_BYTES;
  s.cancelOp = s.sendOp + SOCK_OP_BYTES;
  s.closeOp = s.cancelOp + SOCK_OP_BYTES;
  sockOpInit(s.recvOp, recvDone, block);
  sockOpInit(s.sendOp, sendDone, block);
  sockOpInit(s.cancelOp, cancelDone, block);
  sockOpInit(s.closeOp, closeDone, block);
  return block;
}
export function sockConnFree(sc: usize): void { heapFree(sc); }

function sockOf(conn: usize): SockConn {
  const s = changetype<SockConn>(changetype<TcpConn>(conn).wireCtx);
  s.conn = conn;
  return s;
}

function wireRecv(conn: usize, buf: usize, len: u32): void {
  const s = sockOf(conn);
  sockRecv(s.channel, s.recvOp, s.fd, buf, len);
}
function recvDone(op: usize): void {
  const s = changetype<SockConn>(changetype<SockOp>(op).ctx);
  connRecvDone(s.conn, changetype<SockOp>(op).res);
}

function wireSendv(conn: usize, iovs: usize, iovcnt: u32): void {
  const s = sockOf(conn);
  sockSendv(s.channel, s.sendOp, s.fd, iovs, iovcnt);
}
function sendDone(op: usize): void {
  const s = changetype<SockConn>(changetype<SockOp>(op).ctx);
  connSendDone(s.conn, changetype<SockOp>(op).res);
}

/** Every op of the fd ends before the cancel's own callback: then nothing points into the connection. */
function wireShutdown(conn: usize): void {
  const s = sockOf(conn);
  sockCancel(s.channel, s.cancelOp, s.fd);
}
function cancelDone(op: usize): void {
  const s = changetype<SockConn>(changetype<SockOp>(op).ctx);
  connWireQuiet(s.conn);
}

function wireClose(conn: usize): void {
  const s = sockOf(conn);
  sockClose(s.channel, s.closeOp, s.fd);
}
function closeDone(op: usize): void {
  const sc = changetype<SockOp>(op).ctx;
  const conn = changetype<SockConn>(sc).conn;
  heapFree(sc);
  connWireClosed(conn);
}

function groupStart(group: usize): i32 {
  const g = changetype<TcpGroup>(group);
  g.sockChannel = sockChannelGet();
  return g.sockChannel == 0 ? -ENOMEM : 0;
}
function groupStop(group: usize): void {
  const g = changetype<TcpGroup>(group);
  if (g.sockChannel != 0) sockChannelPut(g.sockChannel);
  g.sockChannel = 0;
}

/** Fill `w` with this wire's ops (the transport keeps its own copy). */
export function sockWireFill(w: usize): void {
  const t = changetype<TcpWire>(w);
  t.recv = changetype<usize>(wireRecv);
  t.sendv = changetype<usize>(wireSendv);
  t.shutdown = changetype<usize>(wireShutdown);
  t.close = changetype<usize>(wireClose);
  t.groupStart = changetype<usize>(groupStart);
  t.groupStop = changetype<usize>(groupStop);
}
