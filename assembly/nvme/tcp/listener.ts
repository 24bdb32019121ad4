// A listener of the transport (nvmf_tcp_listen / nvmf_tcp_unlisten): the accept loop on the first
// poll group's thread, each connection handed round-robin to a poll group by a message, where it
// lives; unlisten cancels the accept and closes the socket (connections already made stay, as SPDK).

import {
  heapAllocZeroed, heapFree, report, requestDone, host_fd_close, LEVEL_ERROR, LEVEL_WARN, EINVAL, ENOENT, ECANCELED, ENOMEM,
} from "../../runtime";
import { sendMsg, pollerRegister, pollerUnregister, POLLER_BUSY } from "../../thread";
import { SockOp, SOCK_OP_BYTES, sockOpInit, sockAccept, sockCancel, sockClose, sockPeerName } from "../../sock";
import { TcpTransport, TcpGroup, CONNS_MAX, PEER_ADDR_BYTES } from "./types";
import { tcpGroupAt } from "./group";
import { connCreate, connSetPeer } from "./conn";
import { sockConnNew, sockConnFree } from "./sock-wire";

/** After an accept error other than a cancel (EMFILE, ENFILE, ENOBUFS), wait this long before the next. */
const ACCEPT_RETRY_US: u64 = 10000;

@unmanaged export class TcpListener {
  transport: usize;
  id: u32;
  fd: i32;
  group: usize;             // the group whose thread runs the accept loop
  stopping: u32;
  req: u32;                 // unlisten's request
  retry: usize;             // poller after an accept error
  next: usize;              // transport's list (control instance only)
  acceptOp: usize;          // SockOp (in this block), and two after it
  cancelOp: usize;
  closeOp: usize;
  failures: u32;
}

/** A connection on its way to its group: the fd the accept made. */
@unmanaged class Handoff {
  group: usize;
  fd: i32;
  listener: u32;
}

/** On the control instance: accept on `fd` (now the transport's to close, even on failure) for listener `id`. 0 or -errno. */
export function tcpListen(req: u32, transport: usize, id: u32, fd: i32): i32 {
  const t = changetype<TcpTransport>(transport);
  if (findListener(t, id) != 0 || t.destroying != 0) {
    report(LEVEL_ERROR, -EINVAL, "nvmf_tcp_listen: listener %d already listens on this transport, or it is being destroyed", 0, 0, <f64>id);
    host_fd_close(fd);
    return -EINVAL;
  }
  const block = heapAllocZeroed(<usize>offsetof<TcpListener>() + 3 * SOCK_OP_BYTES);
  if (block == 0) { host_fd_close(fd); return -ENOMEM; }
  const l = changetype<TcpListener>(block);
  l.transport = transport;
  l.id = id;
  l.fd = fd;
  l.group = changetype<usize>(tcpGroupAt(t, 0));
  l.req = req;
  l.acceptOp = block + offsetof<TcpListener>();
  l.cancelOp = l.acceptOp + SOCK_OP_BYTES;
  l.closeOp = l.cancelOp + SOCK_OP_BYTES;
  sockOpInit(l.acceptOp, acceptDone, block);
  sockOpInit(l.cancelOp, cancelDone, block);
  sockOpInit(l.closeOp, closeDone, block);
  l.next = t.listeners;
  t.listeners = block;
  sendMsg(changetype<TcpGroup>(l.group).thread, listenStart, block);
  return 0;
}

function findListener(t: TcpTransport, id: u32): usize {
  let at = t.listeners;
  for (let n: u32 = 0; at != 0 && n < 65536; n++) {
    if (changetype<TcpListener>(at).id == id) return at;
    at = changetype<TcpListener>(at).next;
  }
  return 0;
}

function listenStart(listener: usize): void {
  const l = changetype<TcpListener>(listener);
  postAccept(l);
  requestDone(l.req, 0, <f64>listener);
}

function postAccept(l: TcpListener): void {
  sockAccept(changetype<TcpGroup>(l.group).sockChannel, l.acceptOp, l.fd);
}

function acceptDone(op: usize): void {
  const l = changetype<TcpListener>(changetype<SockOp>(op).ctx);
  const fd = changetype<SockOp>(op).res;
  if (l.stopping != 0) {
    if (fd >= 0) host_fd_close(fd);         // came in as we stopped: nobody will serve it
    return;
  }
  if (fd < 0) {
    if (fd != -ECANCELED && l.failures++ < 8) report(LEVEL_WARN, fd, "nvmf_tcp: listener %d: accept failed; retrying", 0, 0, <f64>l.id);
    l.retry = pollerRegister(acceptRetry, changetype<usize>(l), ACCEPT_RETRY_US, "nvmf_tcp_accept_retry");
    return;
  }
  l.failures = 0;
  handOff(l, fd);
  postAccept(l);
}

function acceptRetry(listener: usize): i32 {
  const l = changetype<TcpListener>(listener);
  pollerUnregister(l.retry);
  l.retry = 0;
  if (l.stopping == 0) postAccept(l);
  return POLLER_BUSY;
}

/** To the next group in turn, unless the transport serves CONNS_MAX connections already. */
function handOff(l: TcpListener, fd: i32): void {
  const t = changetype<TcpTransport>(l.transport);
  if (atomic.load<u32>(changetype<usize>(t) + offsetof<TcpTransport>("conns")) >= CONNS_MAX) {
    report(LEVEL_WARN, -ENOMEM, "nvmf_tcp: listener %d: %d connections already; refusing another", 0, 0, <f64>l.id, <f64>CONNS_MAX);
    host_fd_close(fd);
    return;
  }
  const h = changetype<Handoff>(heapAllocZeroed(offsetof<Handoff>()));
  if (changetype<usize>(h) == 0) {
    host_fd_close(fd);
    return;
  }
  const g = tcpGroupAt(t, t.nextGroup % t.groupCount);
  t.nextGroup++;
  h.group = changetype<usize>(g);
  h.fd = fd;
  h.listener = l.id;
  sendMsg(g.thread, adopt, changetype<usize>(h));
}

/** On the chosen group's thread: the connection and its qpair, for their whole life. */
function adopt(handoff: usize): void {
  const h = changetype<Handoff>(handoff);
  const g = changetype<TcpGroup>(h.group);
  const fd = h.fd;
  const listener = h.listener;
  heapFree(handoff);
  if (changetype<TcpTransport>(g.transport).destroying != 0) { host_fd_close(fd); return; }
  const sc = sockConnNew(changetype<usize>(g), fd);
  const conn = sc == 0 ? <usize>0 : connCreate(changetype<usize>(g), sc, listener);
  if (conn == 0) {
    if (sc != 0) sockConnFree(sc);
    report(LEVEL_ERROR, -ENOMEM, "nvmf_tcp: no memory for a new connection; closed it");
    host_fd_close(fd);
    return;
  }
  const addr = heapAllocZeroed(PEER_ADDR_BYTES);
  if (addr != 0) {
    const port = sockPeerName(fd, addr, PEER_ADDR_BYTES);
    if (port >= 0) connSetPeer(conn, addr, <u32>port);
    else report(LEVEL_WARN, port, "nvmf_tcp: listener %d: the new connection's peer address is unknown", 0, 0, <f64>listener);
    heapFree(addr);
  }
}

/** On the control instance: stop accepting on listener `id`, close its socket. 0 or -ENOENT. */
export function tcpUnlisten(req: u32, transport: usize, id: u32): i32 {
  const t = changetype<TcpTransport>(transport);
  const at = findListener(t, id);
  if (at == 0) {
    report(LEVEL_ERROR, -ENOENT, "nvmf_tcp_unlisten: listener %d does not listen on this transport", 0, 0, <f64>id);
    return -ENOENT;
  }
  let prev: usize = 0;
  let walk = t.listeners;
  while (walk != at) { prev = walk; walk = changetype<TcpListener>(walk).next; }
  if (prev == 0) t.listeners = changetype<TcpListener>(at).next; else changetype<TcpListener>(prev).next = changetype<TcpListener>(at).next;
  const l = changetype<TcpListener>(at);
  l.req = req;
  sendMsg(changetype<TcpGroup>(l.group).thread, unlistenMsg, at);
  return 0;
}

function unlistenMsg(listener: usize): void {
  const l = changetype<TcpListener>(listener);
  l.stopping = 1;
  if (l.retry != 0) { pollerUnregister(l.retry); l.retry = 0; }
  sockCancel(changetype<TcpGroup>(l.group).sockChannel, l.cancelOp, l.fd);
}

/** The accept has ended (the contract: before this runs): close the socket. */
function cancelDone(op: usize): void {
  const l = changetype<TcpListener>(changetype<SockOp>(op).ctx);
  sockClose(changetype<TcpGroup>(l.group).sockChannel, l.closeOp, l.fd);
}

function closeDone(op: usize): void {
  const listener = changetype<SockOp>(op).ctx;
  const req = changetype<TcpListener>(listener).req;
  heapFree(listener);
  requestDone(req, 0, 0);
}
