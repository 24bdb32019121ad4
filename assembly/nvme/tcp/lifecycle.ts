// The transport's life (nvmf_tcp_create / nvmf_tcp_destroy): a poll group on every reactor, each
// set up on its own thread, the request answered once all are; destroy closes every connection and
// answers once the last group is gone. Nothing here blocks: every step is a message.

import { report, requestDone, LEVEL_ERROR, EINVAL, EBUSY, ENOMEM } from "../../runtime";
import { threadCreateOn, sendMsg, threadExit, reactorCount } from "../../thread";
import { NvmfTransportLimits, TRTYPE_TCP } from "../transport";
import { TcpTransport, TcpGroup, TcpWire } from "./types";
import { TcpOptions, tcpTransportNew, tcpTransportFree, tcpGroupNew, tcpGroupStart, tcpGroupAt, tcpGroupCloseAll, tcpGroupFree } from "./group";

export const MAX_QUEUE_DEPTH_MAX: u32 = 4096;        // entries: SQSIZE is 16 bits, and each entry costs a request
export const IO_SIZE_MAX: u32 = 1 << 20;             // bytes one command may move
export const IN_CAPSULE_MAX: u32 = 131072;           // in-capsule data bytes
export const SHARED_BUFFERS_MAX: u32 = 65536;

/** (group) => i32 / (group) => void: the wire's per-group set-up and teardown (its socket channel). */
export type WireGroupStartFn = (group: usize) => i32;
export type WireGroupStopFn = (group: usize) => void;

/** Why the limits cannot make a transport, or null. */
export function tcpLimitsProblem(limitsPtr: usize): string | null {
  const l = changetype<NvmfTransportLimits>(limitsPtr);
  const o = changetype<TcpOptions>(limitsPtr + offsetof<NvmfTransportLimits>());
  if (l.trtype != TRTYPE_TCP) return "trtype must be TCP";
  if (l.maxQueueDepth < 2 || l.maxQueueDepth > MAX_QUEUE_DEPTH_MAX) return "max_queue_depth must be 2..4096";
  if (l.maxAqDepth < 2 || l.maxAqDepth > l.maxQueueDepth) return "max_aq_depth must be 2..max_queue_depth";
  if (l.maxIoQpairsPerCtrlr < 1 || l.maxIoQpairsPerCtrlr > 65535) return "max_io_qpairs_per_ctrlr must be 1..65535";
  if (l.ioUnitSize < 4096 || (l.ioUnitSize & 4095) != 0 || l.ioUnitSize > IO_SIZE_MAX) return "io_unit_size must be a multiple of 4096 up to 1 MiB";
  if (l.maxIoSize < 4096 || l.maxIoSize > IO_SIZE_MAX || (l.maxIoSize & 4095) != 0) return "max_io_size must be a multiple of 4096 up to 1 MiB";
  if (l.inCapsuleDataSize > IN_CAPSULE_MAX || (l.inCapsuleDataSize & 15) != 0) return "in_capsule_data_size must be a multiple of 16 up to 131072";
  const unitsPerIo = (l.maxIoSize + l.ioUnitSize - 1) / l.ioUnitSize;
  if (o.numSharedBuffers < unitsPerIo || o.numSharedBuffers > SHARED_BUFFERS_MAX) {
    return "num_shared_buffers must hold one max_io_size I/O (max_io_size / io_unit_size) and be at most 65536";
  }
  return null;
}

/** On the control instance: start making the transport. 0, or -errno after a report. */
export function tcpCreate(req: u32, limitsPtr: usize, wire: usize): i32 {
  const problem = tcpLimitsProblem(limitsPtr);
  if (problem != null) {
    report(LEVEL_ERROR, -EINVAL, "nvmf_create_transport: %s", changetype<usize>(problem));
    return -EINVAL;
  }
  const n = reactorCount();
  assert(n > 0, "tcpCreate: the engine has reactors");
  const t = changetype<TcpTransport>(tcpTransportNew(limitsPtr, n, wire));
  if (changetype<usize>(t) == 0) return -ENOMEM;
  t.createReq = req;
  for (let i: u32 = 0; i < n; i++) {
    const thread = threadCreateOn(<i32>i, "nvmf_tcp_poll_group");
    const g = thread == 0 ? <usize>0 : tcpGroupNew(changetype<usize>(t), i, thread, <i32>i);
    if (g == 0) {
      // Groups already made are started and then torn down; the request fails at the end.
      report(LEVEL_ERROR, -ENOMEM, "nvmf_create_transport: no memory for the poll group of reactor %d", 0, 0, <f64>i);
      t.createRc = -ENOMEM;
      t.groupCount = i;
      break;
    }
  }
  if (t.groupCount == 0) {
    tcpTransportFree(changetype<usize>(t));
    return -ENOMEM;
  }
  for (let i: u32 = 0; i < t.groupCount; i++) {
    const g = tcpGroupAt(t, i);
    sendMsg(g.thread, groupStartMsg, changetype<usize>(g));
  }
  return 0;
}

function groupStartMsg(group: usize): void {
  const g = changetype<TcpGroup>(group);
  const t = changetype<TcpTransport>(g.transport);
  let rc = tcpGroupStart(group);
  if (rc == 0) rc = changetype<WireGroupStartFn>(changetype<TcpWire>(t.wire).groupStart)(group);
  if (rc != 0) {
    report(LEVEL_ERROR, rc, "nvmf_create_transport: the poll group of reactor %d could not start", 0, 0, <f64>g.reactor);
    atomic.cmpxchg<i32>(changetype<usize>(t) + offsetof<TcpTransport>("createRc"), 0, rc);
  }
  if (atomic.add<u32>(changetype<usize>(t) + offsetof<TcpTransport>("groupsReady"), 1) + 1 < t.groupCount) return;
  // The last group to start answers (after a failure, by tearing everything down first).
  if (t.createRc == 0) {
    t.groupsReady = 0;
    requestDone(t.createReq, 0, <f64>changetype<usize>(t));
  } else {
    tcpDestroyGroups(t, t.createReq);
  }
}

/** On the control instance: close every connection, then free the groups and the transport. 0 or -EBUSY. */
export function tcpDestroy(req: u32, transport: usize): i32 {
  const t = changetype<TcpTransport>(transport);
  if (t.listeners != 0) {
    report(LEVEL_ERROR, -EBUSY, "nvmf_tcp_destroy: the transport still listens (unlisten every listener first)");
    return -EBUSY;
  }
  if (t.destroying != 0) {
    report(LEVEL_ERROR, -EBUSY, "nvmf_tcp_destroy: the transport is already being destroyed");
    return -EBUSY;
  }
  tcpDestroyGroups(t, req);
  return 0;
}

function tcpDestroyGroups(t: TcpTransport, req: u32): void {
  t.destroying = 1;
  t.createReq = req;
  atomic.store<u32>(changetype<usize>(t) + offsetof<TcpTransport>("groupsReady"), 0);
  for (let i: u32 = 0; i < t.groupCount; i++) {
    const g = tcpGroupAt(t, i);
    sendMsg(g.thread, groupStopMsg, changetype<usize>(g));
  }
}

function groupStopMsg(group: usize): void {
  const g = changetype<TcpGroup>(group);
  tcpGroupCloseAll(group, groupConnGone);
  if (g.connCount == 0) groupFinish(g);
}

function groupConnGone(group: usize): void {
  const g = changetype<TcpGroup>(group);
  if (g.connCount == 0) groupFinish(g);
}

/** On the group's thread, with no connection left: its socket channel, its buffers, its thread. */
function groupFinish(g: TcpGroup): void {
  const t = changetype<TcpTransport>(g.transport);
  g.connGone = 0;
  if (g.pool != 0) changetype<WireGroupStopFn>(changetype<TcpWire>(t.wire).groupStop)(changetype<usize>(g));
  tcpGroupFree(changetype<usize>(g));
  threadExit();
  if (atomic.add<u32>(changetype<usize>(t) + offsetof<TcpTransport>("groupsReady"), 1) + 1 < t.groupCount) return;
  const rc = t.createRc;
  const req = t.createReq;
  tcpTransportFree(changetype<usize>(t));
  requestDone(req, rc, 0);
}
