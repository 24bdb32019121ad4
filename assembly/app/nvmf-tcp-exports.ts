// The NVMe/TCP transport's exports (host/nvmf-tcp.ts). Each `req` export answers through
// EVENT_REQUEST_DONE(req, rc, value) unless it returns -errno at once (after a report naming why).

import { heapAllocZeroed, heapFree, ENOMEM } from "../runtime";
import { tcpCreate, tcpDestroy, tcpListen, tcpUnlisten, tcpStats, sockWireFill, TcpWire } from "../nvme/tcp";

/**
 * A transport from the NvmfTransportLimits at `limitsPtr` followed by TcpOptions (c2hSuccess,
 * sockPriority, numSharedBuffers, bufCacheSize: u32 each), copied; a poll group on every reactor.
 * Value: the transport.
 */
export function nvmf_tcp_create(req: u32, limitsPtr: usize): i32 {
  const wire = heapAllocZeroed(offsetof<TcpWire>());
  if (wire == 0) return -ENOMEM;
  sockWireFill(wire);
  const rc = tcpCreate(req, limitsPtr, wire);
  heapFree(wire);
  return rc;
}

/** Accept on `fd` (the host's listening socket, the transport's to close from now on) for listener `listenerId`. */
export function nvmf_tcp_listen(req: u32, transport: usize, listenerId: u32, fd: i32): i32 {
  return tcpListen(req, transport, listenerId, fd);
}

/** Stop accepting for `listenerId` and close its socket; its connections stay. */
export function nvmf_tcp_unlisten(req: u32, transport: usize, listenerId: u32): i32 {
  return tcpUnlisten(req, transport, listenerId);
}

/** Close every connection, then free the groups and the transport (unlisten every listener first: else -EBUSY). */
export function nvmf_tcp_destroy(req: u32, transport: usize): i32 { return tcpDestroy(req, transport); }

/** Per poll group records (assembly/nvme/tcp/stats.ts): bytes written or -ENOSPC. */
export function nvmf_tcp_stats(transport: usize, buf: usize, cap: u32): i32 { return tcpStats(transport, buf, cap); }
