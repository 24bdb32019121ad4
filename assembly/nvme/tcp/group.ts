// Poll groups: one lightweight thread per reactor serving the connections handed to it, with its
// own data-buffer pool. Set-up and teardown run on the group's thread; the socket channel is the
// wire's (sock-wire.ts), so this file knows no socket.

import { heapAllocZeroed, heapFree } from "../../runtime";
import { contextThread } from "../../runtime/context";
import { NvmfTransportLimits, NvmfTransportOps } from "../transport";
import { TcpGroup, TcpTransport, TcpConn, TcpWire, CONN_CLOSING } from "./types";
import { bufPoolCreate, bufPoolDestroy } from "./bufpool";
import { reqBuffersReady, reqComplete } from "./request";
import { connDisconnect, connClose } from "./conn";
import { LEVEL_INFO } from "../../runtime";

/** The TCP options a host gives nvmf_tcp_create after the NvmfTransportLimits (host/nvmf-tcp.ts writes both). */
@unmanaged export class TcpOptions {
  c2hSuccess: u32;
  sockPriority: u32;
  numSharedBuffers: u32;
  bufCacheSize: u32;
}

/** A transport with `groupCount` group slots, its limits from `limitsPtr` and its wire's ops from `wire` (both copied); 0 without memory. */
export function tcpTransportNew(limitsPtr: usize, groupCount: u32, wire: usize): usize {
  const bytes = <usize>offsetof<TcpTransport>() + offsetof<NvmfTransportLimits>() + offsetof<NvmfTransportOps>() +
    offsetof<TcpWire>() + (<usize>groupCount << 2);
  const block = heapAllocZeroed(bytes);
  if (block == 0) return 0;
  const t = changetype<TcpTransport>(block);
  let at = block + offsetof<TcpTransport>();
  t.limits = at; at += offsetof<NvmfTransportLimits>();
  t.ops = at; at += offsetof<NvmfTransportOps>();
  t.wire = at; at += offsetof<TcpWire>();
  t.groups = at;
  memory.copy(t.wire, wire, offsetof<TcpWire>());
  memory.copy(t.limits, limitsPtr, offsetof<NvmfTransportLimits>());
  const opts = changetype<TcpOptions>(limitsPtr + offsetof<NvmfTransportLimits>());
  t.c2hSuccess = opts.c2hSuccess;
  t.sockPriority = opts.sockPriority;
  t.numSharedBuffers = opts.numSharedBuffers;
  t.bufCacheSize = opts.bufCacheSize;
  const limits = changetype<NvmfTransportLimits>(t.limits);
  const unitsPerIo = (limits.maxIoSize + limits.ioUnitSize - 1) / limits.ioUnitSize;
  // A connection may hold a quarter of its group's buffers, and always enough for one largest I/O.
  t.unitsPerConnMax = min(t.numSharedBuffers, max(unitsPerIo, t.numSharedBuffers / 4));
  const ops = changetype<NvmfTransportOps>(t.ops);
  ops.complete = changetype<usize>(reqComplete);
  ops.disconnect = changetype<usize>(connDisconnect);
  ops.limits = t.limits;
  t.groupCount = groupCount;
  return block;
}

export function tcpTransportFree(transport: usize): void { heapFree(transport); }

export function tcpGroupAt(t: TcpTransport, i: u32): TcpGroup {
  assert(i < t.groupCount, "tcpGroupAt: a group of this transport");
  return changetype<TcpGroup>(load<usize>(t.groups + (<usize>i << 2)));
}

/** Make group `index` for `thread` (its buffers are made on that thread by tcpGroupStart). */
export function tcpGroupNew(transport: usize, index: u32, thread: usize, reactor: i32): usize {
  const g = changetype<TcpGroup>(heapAllocZeroed(offsetof<TcpGroup>()));
  if (changetype<usize>(g) == 0) return 0;
  g.transport = transport;
  g.index = index;
  g.thread = thread;
  g.reactor = reactor;
  store<usize>(changetype<TcpTransport>(transport).groups + (<usize>index << 2), changetype<usize>(g));
  return changetype<usize>(g);
}

/** On the group's thread: its buffer pool. 0 or -ENOMEM. */
export function tcpGroupStart(group: usize): i32 {
  const g = changetype<TcpGroup>(group);
  assert(contextThread() == g.thread, "tcpGroupStart: on the group's thread");
  const t = changetype<TcpTransport>(g.transport);
  const limits = changetype<NvmfTransportLimits>(t.limits);
  g.pool = bufPoolCreate(limits.ioUnitSize, t.numSharedBuffers, t.unitsPerConnMax, reqBuffersReady);
  return g.pool == 0 ? -12 : 0;
}

/** On the group's thread: close every connection; `gone(group)` runs after each is freed. */
export function tcpGroupCloseAll(group: usize, gone: (group: usize) => void): void {
  const g = changetype<TcpGroup>(group);
  assert(contextThread() == g.thread, "tcpGroupCloseAll: on the group's thread");
  g.connGone = changetype<usize>(gone);
  let at = g.conns;
  for (let n: u32 = 0; at != 0 && n <= g.connCount; n++) {
    const c = changetype<TcpConn>(at);
    at = c.next;
    if (c.state < CONN_CLOSING) connClose(c, "the transport is being destroyed", LEVEL_INFO);
  }
}

/** On the group's thread, once it has no connection: free its buffers and the group. */
export function tcpGroupFree(group: usize): void {
  const g = changetype<TcpGroup>(group);
  assert(g.connCount == 0 && g.conns == 0, "tcpGroupFree: no connection left");
  if (g.pool != 0) bufPoolDestroy(g.pool);
  heapFree(group);
}
