// Test hooks for the socket layer's connect (assembly/sock): a client on one reactor thread that makes a
// socket, connects, sends a patterned payload, reads it back from an echo peer and checks every byte,
// then cancels and closes. Its result and counters are read by the test; a cancel can be sent mid-connect.

import { heapAllocZeroed, heapFree } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import {
  SockOp, SOCK_OP_BYTES, SOCK_ADDR_BYTES, sockOpInit, sockChannelGet, sockChannelPut, sockTcpSocket, sockConnect, sockRecv,
  sockSendv, sockCancel, sockClose,
} from "../../assembly/sock";

const CLIENT_BUF_BYTES: u32 = 65536;

const STEP_CONNECTING: u32 = 1;
const STEP_TALKING: u32 = 2;
const STEP_SHUTTING: u32 = 3;
const STEP_DONE: u32 = 4;

@unmanaged class ConnectClient {
  thread: usize;
  channel: usize;
  addrText: usize;      // the test's, NUL-terminated
  port: u32;
  payloadBytes: u32;
  fd: i32;
  step: u32;
  connectOp: usize;
  sendOp: usize;
  recvOp: usize;
  cancelOp: usize;
  closeOp: usize;
  sockAddr: usize;
  iov: usize;
  sendBuf: usize;
  recvBuf: usize;
  sent: u32;
  received: u32;
  opsOut: u32;
  // results (read by the test)
  socketRes: i32;       // the fd or -errno from sockTcpSocket
  connectRes: i32;
  mismatches: u32;      // echoed bytes that differ from what was sent
  orderViolations: u32; // the cancel called back while an op of its fd was still out
  closeRes: i32;
}

/** The byte at `i` of the payload: a pattern no shift of which matches itself. */
function patternAt(i: u32): u8 { return <u8>((i * 7 + (i >> 8) * 13) & 0xff); }

/** A client on `thread` for `addrText`:`port` that sends `payloadBytes` (0: connect only) and checks the echo. */
export function hs_connect_start(thread: usize, addrText: usize, port: u32, payloadBytes: u32): usize {
  const block = heapAllocZeroed(offsetof<ConnectClient>() + 5 * SOCK_OP_BYTES + SOCK_ADDR_BYTES + 8 + 2 * CLIENT_BUF_BYTES);
  const c = changetype<ConnectClient>(block);
  c.thread = thread;
  c.addrText = addrText;
  c.port = port;
  c.payloadBytes = payloadBytes;
  c.fd = -1;
  c.connectOp = block + offsetof<ConnectClient>();
  c.sendOp = c.connectOp + SOCK_OP_BYTES;
  c.recvOp = c.sendOp + SOCK_OP_BYTES;
  c.cancelOp = c.recvOp + SOCK_OP_BYTES;
  c.closeOp = c.cancelOp + SOCK_OP_BYTES;
  c.sockAddr = c.closeOp + SOCK_OP_BYTES;
  c.iov = c.sockAddr + SOCK_ADDR_BYTES;
  c.sendBuf = c.iov + 8;
  c.recvBuf = c.sendBuf + CLIENT_BUF_BYTES;
  c.connectRes = 1;     // not called back yet
  c.closeRes = 1;
  sockOpInit(c.connectOp, connectDone, block);
  sockOpInit(c.sendOp, sendDone, block);
  sockOpInit(c.recvOp, recvDone, block);
  sockOpInit(c.cancelOp, cancelDone, block);
  sockOpInit(c.closeOp, closeDone, block);
  sendMsg(thread, startMsg, block);
  return block;
}

function startMsg(client: usize): void {
  const c = changetype<ConnectClient>(client);
  c.channel = sockChannelGet();
  const fd = sockTcpSocket(c.addrText, c.port, c.sockAddr);
  c.socketRes = fd;
  if (fd < 0) { finish(c); return; }
  c.fd = fd;
  c.step = STEP_CONNECTING;
  c.opsOut++;
  sockConnect(c.channel, c.connectOp, fd, c.sockAddr);
}

function connectDone(op: usize): void {
  const c = changetype<ConnectClient>(changetype<SockOp>(op).ctx);
  c.opsOut--;
  c.connectRes = changetype<SockOp>(op).res;
  if (c.step == STEP_SHUTTING) return;
  if (c.connectRes < 0 || c.payloadBytes == 0) { shut(c); return; }
  c.step = STEP_TALKING;
  postSend(c);
  postRecv(c);
}

function postSend(c: ConnectClient): void {
  const chunk = min(c.payloadBytes - c.sent, CLIENT_BUF_BYTES);
  for (let i: u32 = 0; i < chunk; i++) store<u8>(c.sendBuf + i, patternAt(c.sent + i));
  store<u32>(c.iov, <u32>c.sendBuf);
  store<u32>(c.iov, chunk, 4);
  c.opsOut++;
  sockSendv(c.channel, c.sendOp, c.fd, c.iov, 1);
}

function sendDone(op: usize): void {
  const c = changetype<ConnectClient>(changetype<SockOp>(op).ctx);
  const res = changetype<SockOp>(op).res;
  c.opsOut--;
  if (c.step != STEP_TALKING) return;
  if (res <= 0) { shut(c); return; }
  c.sent += <u32>res;     // a short send resends the rest: the pattern is a function of the offset
  if (c.sent < c.payloadBytes) postSend(c);
}

function postRecv(c: ConnectClient): void {
  c.opsOut++;
  sockRecv(c.channel, c.recvOp, c.fd, c.recvBuf, CLIENT_BUF_BYTES);
}

function recvDone(op: usize): void {
  const c = changetype<ConnectClient>(changetype<SockOp>(op).ctx);
  const res = changetype<SockOp>(op).res;
  c.opsOut--;
  if (c.step != STEP_TALKING) return;
  if (res <= 0) { shut(c); return; }
  for (let i: u32 = 0; i < <u32>res; i++) {
    if (load<u8>(c.recvBuf + i) != patternAt(c.received + i)) c.mismatches++;
  }
  c.received += <u32>res;
  if (c.received >= c.payloadBytes) shut(c); else postRecv(c);
}

function shut(c: ConnectClient): void {
  if (c.step == STEP_SHUTTING || c.step == STEP_DONE) return;
  c.step = STEP_SHUTTING;
  sockCancel(c.channel, c.cancelOp, c.fd);
}

function cancelDone(op: usize): void {
  const c = changetype<ConnectClient>(changetype<SockOp>(op).ctx);
  if (c.opsOut != 0) c.orderViolations++;
  sockClose(c.channel, c.closeOp, c.fd);
}

function closeDone(op: usize): void {
  const c = changetype<ConnectClient>(changetype<SockOp>(op).ctx);
  c.closeRes = changetype<SockOp>(op).res;
  c.fd = -1;
  finish(c);
}

function finish(c: ConnectClient): void {
  sockChannelPut(c.channel);
  c.step = STEP_DONE;
}

/** Give up now: a connect still under way ends as cancelled. */
export function hs_connect_cancel(client: usize): void { sendMsg(changetype<ConnectClient>(client).thread, cancelMsg, client); }
function cancelMsg(client: usize): void {
  const c = changetype<ConnectClient>(client);
  if (c.step == STEP_CONNECTING || c.step == STEP_TALKING) shut(c);
}

/** 0 done (1/0), 1 socket result, 2 connect result (1: not yet), 3 bytes received, 4 mismatches, 5 order violations, 6 close result. */
export function hs_connect_stat(client: usize, which: u32): f64 {
  const c = changetype<ConnectClient>(client);
  switch (which) {
    case 0: return c.step == STEP_DONE ? 1 : 0;
    case 1: return <f64>c.socketRes;
    case 2: return <f64>c.connectRes;
    case 3: return <f64>c.received;
    case 4: return <f64>c.mismatches;
    case 5: return <f64>c.orderViolations;
    case 6: return <f64>c.closeRes;
    default: return -1;
  }
}

export function hs_connect_free(client: usize): void { heapFree(client); }
