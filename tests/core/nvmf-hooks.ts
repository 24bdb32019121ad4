// Test hooks for the NVMe-oF target's controllers (tests/integration/nvmf-*.test.ts): a fake, in-memory
// transport. It owns qpairs and requests in Wasm memory (SQE, CQE, data buffers), sets the data
// direction from the opcode as a transport does, hands them to the real core (nvmfQpairInit,
// nvmfReqExec, nvmfQpairClose) by message on their thread, and counts what the core gives back:
// completions per request, disconnect requests and closes per qpair. Everything below it is the core.
// A transport made "closing" (hc_transport_auto_close) acts on ops.disconnect as a real one does: it
// closes the connection (by message, later) and passes no further command of it to the core.
import { heapAllocZeroed, heapFree } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import {
  NvmfQpair, NvmfReq, NvmfTransportOps, NvmfTransportLimits, SQE_BYTES, CQE_BYTES, sqeXfer, nvmfQpairInit, nvmfReqExec, nvmfQpairClose,
} from "../../assembly/nvme";

/**
 * The fake transport's connection (NvmfQpair.transportCtx), in one block right after its qpair. Found
 * from the qpair's address, never by reading the qpair: nvmfQpairInit clears the whole qpair on its
 * thread (transportCtx and thread included) while the test's thread may be posting commands for it.
 */
@unmanaged class FakeConn {
  listener: u32; disconnects: u32; closed: u32; completions: u32; peerAddr: usize; peerPort: u32;
  ops: usize;           // NvmfTransportOps, for the init
  thread: usize;        // the thread the qpair is initialised on and runs on
  posted: u32;          // messages hc_exec/hc_close posted for it that have not run yet (atomic): freed only at 0
  closing: u32;         // the transport began closing it (nvmfQpairClose is called once, from then on)
}
/** The fake transport's request (NvmfReq.transportCtx). */
@unmanaged class FakeReq { completions: u32; dropped: u32; }   // dropped: its connection was closing, the core never saw it

function fakeComplete(req: usize): void {
  const r = changetype<NvmfReq>(req);
  changetype<FakeReq>(r.transportCtx).completions++;
  connOf(r.qpair).completions++;
}
function fakeDisconnect(qpair: usize): void { connOf(qpair).disconnects++; }
function fakeDisconnectAndClose(qpair: usize): void {
  const conn = connOf(qpair);
  conn.disconnects++;
  if (conn.closing != 0) return;
  conn.closing = 1;
  sendMsg(conn.thread, closeNowMsg, qpair);
}
const QPAIR_BYTES: usize = (offsetof<NvmfQpair>() + 7) & ~7;
function connOf(qpair: usize): FakeConn { return changetype<FakeConn>(qpair + QPAIR_BYTES); }
function connPost(qpair: usize, fn: (ctx: usize) => void, ctx: usize): void {
  const conn = connOf(qpair);
  atomic.add<u32>(changetype<usize>(conn) + offsetof<FakeConn>("posted"), 1);
  sendMsg(conn.thread, fn, ctx);
}
function connPostRan(qpair: usize): void {
  const was = atomic.sub<u32>(changetype<usize>(connOf(qpair)) + offsetof<FakeConn>("posted"), 1);
  assert(was > 0, "nvmf fake transport: a message ran that was not posted");
}

/** A transport's ops and limits (what nvmf_create_transport would fix). */
export function hc_transport_new(maxQueueDepth: u32, maxAqDepth: u32, maxIoQpairs: u32, inCapsule: u32, maxIo: u32): usize {
  const ops = changetype<NvmfTransportOps>(heapAllocZeroed(offsetof<NvmfTransportOps>()));
  const l = changetype<NvmfTransportLimits>(heapAllocZeroed(offsetof<NvmfTransportLimits>()));
  l.trtype = 3;
  l.maxQueueDepth = maxQueueDepth;
  l.maxAqDepth = maxAqDepth;
  l.maxIoQpairsPerCtrlr = maxIoQpairs;
  l.inCapsuleDataSize = inCapsule;
  l.maxIoSize = maxIo;
  l.ioUnitSize = 8192;
  ops.complete = changetype<usize>(fakeComplete);
  ops.disconnect = changetype<usize>(fakeDisconnect);
  ops.limits = changetype<usize>(l);
  return changetype<usize>(ops);
}

function initMsg(qpair: usize): void {
  const q = changetype<NvmfQpair>(qpair);
  const conn = connOf(qpair);
  nvmfQpairInit(qpair, conn.ops, changetype<usize>(conn), conn.listener);
  // The transport's own fields, after the core's init cleared the qpair.
  q.peerAddr = conn.peerAddr;
  q.peerPort = conn.peerPort;
}
/** A new connection through listener `listener`, its qpair initialised on `thread` (by message). */
export function hc_qpair_new(ops: usize, thread: usize, listener: u32, peerAddr: usize, peerPort: u32): usize {
  const q = heapAllocZeroed(QPAIR_BYTES + offsetof<FakeConn>());
  const conn = connOf(q);
  conn.listener = listener;
  conn.peerAddr = peerAddr;
  conn.peerPort = peerPort;
  conn.ops = ops;
  conn.thread = thread;
  sendMsg(thread, initMsg, q);
  return q;
}
/** From now on the transport closes a connection when the core asks it to (ops.disconnect). */
export function hc_transport_auto_close(ops: usize): void { changetype<NvmfTransportOps>(ops).disconnect = changetype<usize>(fakeDisconnectAndClose); }
/** Whether a connection may be freed: its close is done and no message the test posted for it is still on its way. */
export function hc_conn_idle(q: usize): u32 {
  const conn = connOf(q);
  return conn.closed == 1 && atomic.load<u32>(changetype<usize>(conn) + offsetof<FakeConn>("posted")) == 0 ? 1 : 0;
}
/** Free a qpair that is idle (hc_conn_idle), with its connection. */
export function hc_qpair_free(q: usize): void {
  assert(hc_conn_idle(q) == 1, "hc_qpair_free: the qpair's close is not done, or a message for it is on its way");
  heapFree(q);
}
export function hc_qpair_state(q: usize): u32 { return changetype<NvmfQpair>(q).state; }
export function hc_qpair_outstanding(q: usize): u32 { return changetype<NvmfQpair>(q).outstanding; }
export function hc_qpair_ctrlr(q: usize): usize { return changetype<NvmfQpair>(q).ctrlr; }
export function hc_qpair_qid(q: usize): u32 { return changetype<NvmfQpair>(q).qid; }
export function hc_conn_disconnects(q: usize): u32 { return connOf(q).disconnects; }
export function hc_conn_closed(q: usize): u32 { return connOf(q).closed; }
export function hc_conn_completions(q: usize): u32 { return connOf(q).completions; }

/** A request of `qpair` with `iovcnt` separate data buffers of `iovBytes` each; the SQE is for the test to fill. */
export function hc_req_new(qpair: usize, iovcnt: u32, iovBytes: u32): usize {
  const r = changetype<NvmfReq>(heapAllocZeroed(offsetof<NvmfReq>()));
  r.qpair = qpair;
  r.sqe = heapAllocZeroed(SQE_BYTES);
  r.cqe = heapAllocZeroed(CQE_BYTES);
  r.transportCtx = heapAllocZeroed(offsetof<FakeReq>());
  r.iovs = heapAllocZeroed((<usize>iovcnt << 3) + 8);
  for (let i: u32 = 0; i < iovcnt; i++) {
    store<u32>(r.iovs + (<usize>i << 3), <u32>heapAllocZeroed(<usize>iovBytes + 64));
    store<u32>(r.iovs + (<usize>i << 3), iovBytes, 4);
  }
  r.iovcnt = iovcnt;
  return changetype<usize>(r);
}
export function hc_req_sqe(req: usize): usize { return changetype<NvmfReq>(req).sqe; }
export function hc_req_cqe(req: usize): usize { return changetype<NvmfReq>(req).cqe; }
export function hc_req_iovs(req: usize): usize { return changetype<NvmfReq>(req).iovs; }
export function hc_req_length(req: usize): u32 { return changetype<NvmfReq>(req).length; }
export function hc_req_completions(req: usize): u32 { return changetype<FakeReq>(changetype<NvmfReq>(req).transportCtx).completions; }
export function hc_req_dropped(req: usize): u32 { return changetype<FakeReq>(changetype<NvmfReq>(req).transportCtx).dropped; }
/** Free a request the core gave back (or never took), with its SQE, CQE and buffers. */
export function hc_req_free(req: usize): void {
  const r = changetype<NvmfReq>(req);
  for (let i: u32 = 0; i < r.iovcnt; i++) heapFree(<usize>load<u32>(r.iovs + (<usize>i << 3)));
  heapFree(r.iovs); heapFree(r.sqe); heapFree(r.cqe); heapFree(r.transportCtx); heapFree(req);
}

/** As a transport: the data direction from the opcode (Connect and Property Set carry host data), the whole buffer as length. */
function execMsg(req: usize): void {
  const r = changetype<NvmfReq>(req);
  connPostRan(r.qpair);
  if (connOf(r.qpair).closing != 0) { changetype<FakeReq>(r.transportCtx).dropped++; return; }
  r.xfer = sqeXfer(r.sqe);
  r.length = 0;
  for (let i: u32 = 0; i < r.iovcnt; i++) r.length += load<u32>(r.iovs + (<usize>i << 3), 4);
  nvmfReqExec(req);
}
/** Run `req` by message on its qpair's thread. */
export function hc_exec(req: usize): void { connPost(changetype<NvmfReq>(req).qpair, execMsg, req); }

function closeDone(qpair: usize): void { connOf(qpair).closed++; }
function closeNowMsg(qpair: usize): void { nvmfQpairClose(qpair, closeDone, qpair); }
function closeMsg(qpair: usize): void {
  connPostRan(qpair);
  const conn = connOf(qpair);
  if (conn.closing != 0) return;          // closing already (the core asked): a transport closes once
  conn.closing = 1;
  closeNowMsg(qpair);
}
/** The connection ends: nvmfQpairClose on its thread (by message) unless it is closing already; hc_conn_closed counts its done. */
export function hc_close(qpair: usize): void { connPost(qpair, closeMsg, qpair); }
