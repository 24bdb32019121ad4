// Sockets on the reactor's io_uring (accept, connect, recv, sendmsg, cancel, close), for NVMe/TCP's
// target and host sides.
// Each thread that uses them holds a channel; an op's callback runs on the thread that submitted it,
// from the channel's poller, never inside the submit call. -EAGAIN never reaches a caller (retried).
// A cancel waits for the ops of its fd submitted on the same channel; ops of one fd belong on one
// channel (a connection lives on one thread).

import { host_sock_peer_name, host_sock_tcp_socket } from "../runtime";
import { ioDeviceRegister, getIoChannel, putIoChannel, ioChannelCtx } from "../thread";
import * as wire from "../bdev/uring/wire";
import { SockOp, SockChannel } from "./types";
import { channelCreate, channelDestroy, opSubmit } from "./channel";

export { SockOp } from "./types";

/** Bytes to reserve for one SockOp inside a caller's block (keeps the next one aligned). */
export const SOCK_OP_BYTES: usize = (offsetof<SockOp>() + 7) & ~<usize>7;

/** Set up caller-owned op storage: `cb(op)` runs when an op submitted with it ends. */
export function sockOpInit(op: usize, cb: (op: usize) => void, ctx: usize): void {
  memory.fill(op, 0, offsetof<SockOp>());
  changetype<SockOp>(op).cb = changetype<usize>(cb);
  changetype<SockOp>(op).ctx = ctx;
}

/** The io_device key; its first word also says whether the device is registered. */
const SOCK_KEY = memory.data(8);

/** This thread's socket channel (one per thread, counted); 0 when out of memory. */
export function sockChannelGet(): usize {
  if (atomic.cmpxchg<u32>(SOCK_KEY, 0, 1) == 0) {
    if (ioDeviceRegister(SOCK_KEY, channelCreate, channelDestroy, <u32>offsetof<SockChannel>(), "sock") != 0) {
      atomic.store<u32>(SOCK_KEY, 0);
      return 0;
    }
  }
  return getIoChannel(SOCK_KEY);
}

/** Give back a channel from sockChannelGet, once none of its ops is alive. */
export function sockChannelPut(ch: usize): void { putIoChannel(ch); }

function submit(ch: usize, op: usize, kind: u8, fd: i32, buf: usize, len: u32): void {
  const o = changetype<SockOp>(op);
  o.kind = kind;
  o.fd = fd;
  o.buf = buf;
  o.len = len;
  opSubmit(changetype<SockChannel>(ioChannelCtx(ch)), op);
}

/** res = the new fd (CLOEXEC, nonblocking, TCP_NODELAY) or -errno. */
export function sockAccept(ch: usize, op: usize, listenFd: i32): void { submit(ch, op, wire.OP_ACCEPT, listenFd, 0, 0); }

/**
 * Room for a peer's address as sockTcpSocket writes it: {u32 len, sockaddr bytes}, an IPv6 sockaddr
 * (28 B) at most. Caller-owned; it stays put until the connect's callback.
 */
export const SOCK_ADDR_BYTES: u32 = 32;

/**
 * A new unconnected TCP socket (nonblocking, CLOEXEC, TCP_NODELAY) for the IP literal NUL-terminated at
 * `addrText` (never a name to look up), with the sockaddr of that address and `port` written to
 * `sockAddr` (SOCK_ADDR_BYTES) for sockConnect: the fd, or -errno (-EINVAL: no IP literal or a bad port).
 * A plain syscall, not a ring op: making a socket never waits.
 */
export function sockTcpSocket(addrText: usize, port: u32, sockAddr: usize): i32 {
  const fd = host_sock_tcp_socket(addrText, port, sockAddr, SOCK_ADDR_BYTES);
  assert(fd < 0 || (load<u32>(sockAddr) > 0 && load<u32>(sockAddr) + 4 <= SOCK_ADDR_BYTES), "a sockaddr that does not fit its room");
  return fd;
}

/**
 * Connect `fd` (from sockTcpSocket) to the address at `sockAddr`: res = 0 or -errno (-ECONNREFUSED,
 * -ETIMEDOUT, -ENETUNREACH, ...). A connect waits as long as the kernel's SYN retries allow (minutes
 * for a silent peer): bound it with a timer and sockCancel.
 */
export function sockConnect(ch: usize, op: usize, fd: i32, sockAddr: usize): void {
  const len = load<u32>(sockAddr);
  assert(len > 0 && len + 4 <= SOCK_ADDR_BYTES);
  submit(ch, op, wire.OP_CONNECT, fd, sockAddr + 4, len);
}

/** res = bytes received (0: the peer closed) or -errno. `len` ≥ 1. */
export function sockRecv(ch: usize, op: usize, fd: i32, buf: usize, len: u32): void {
  assert(len > 0);
  submit(ch, op, wire.OP_RECV, fd, buf, len);
}

/** `iovcnt` (1..64) {u32 base, u32 len} pairs at `iovs`; res = bytes sent (maybe short: send the rest) or -errno. */
export function sockSendv(ch: usize, op: usize, fd: i32, iovs: usize, iovcnt: u32): void {
  assert(iovcnt > 0 && iovcnt <= wire.IOV_MAX);
  submit(ch, op, wire.OP_SENDMSG, fd, iovs, iovcnt);
}

/**
 * Every op of `fd` on this channel ends (-ECANCELED, or its own result if it finished first) before
 * this op's callback runs: after it, no op of fd points into memory. res = 0.
 */
export function sockCancel(ch: usize, op: usize, fd: i32): void { submit(ch, op, wire.OP_CANCEL_FD, fd, 0, 0); }

/** Close `fd` (after its ops ended: cancel first). res = 0 or -errno. */
export function sockClose(ch: usize, op: usize, fd: i32): void { submit(ch, op, wire.OP_CLOSE, fd, 0, 0); }

/** The peer's numeric address, NUL-terminated in [addrBuf, addrBuf + cap), and its port; or -errno. */
export function sockPeerName(fd: i32, addrBuf: usize, cap: u32): i32 { return host_sock_peer_name(fd, addrBuf, cap); }
