// Test hooks for the NVMe-oF target's controllers (tests/integration/nvmf-*.test.ts): a fake, in-memory
// transport. It owns qpairs and requests in Wasm memory (SQE, CQE, data buffers), sets the data
// direction from the opcode as a transport does, hands them to the real core (nvmfQpairInit,
// nvmfReqExec, nvmfQpairClose) by message on their thread, and counts what the core gives back:
// completions per request, disconnect requests and closes per qpair. Everything below it is the core.
import { heapAllocZeroed } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import {
  NvmfQpair, NvmfReq, NvmfTransportOps, NvmfTransportLimits, SQE_BYTES, CQE_BYTES, opcodeXfer, sqeOpcode, OPC_FABRICS,
  fabricsType, FCTYPE_CONNECT, XFER_HOST_TO_CTRLR, nvmfQpairInit, nvmfReqExec, nvmfQpairClose,
} from "../../assembly/nvme";

/** The fake transport's connection (NvmfQpair.transportCtx). */
@unmanaged class FakeConn { listener: u32; disconnects: u32; closed: u32; completions: u32; peerAddr: usize; peerPort: u32; }
/** The fake transport's request (NvmfReq.transportCtx). */
@unmanaged class FakeReq { completions: u32; }

function fakeComplete(req: usize): void {
  const r = changetype<NvmfReq>(req);
  changetype<FakeReq>(r.transportCtx).completions++;
  changetype<FakeConn>(changetype<NvmfQpair>(r.qpair).transportCtx).completions++;
}
function fakeDisconnect(qpair: usize): void { changetype<FakeConn>(changetype<NvmfQpair>(qpair).transportCtx).disconnects++; }

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
  const conn = q.transportCtx;
  nvmfQpairInit(qpair, q.ops, conn, changetype<FakeConn>(conn).listener);
  // The transport's own fields, after the core's init cleared the qpair.
  q.peerAddr = changetype<FakeConn>(conn).peerAddr;
  q.peerPort = changetype<FakeConn>(conn).peerPort;
}
/** A new connection through listener `listener`, its qpair initialised on `thread` (by message). */
export function hc_qpair_new(ops: usize, thread: usize, listener: u32, peerAddr: usize, peerPort: u32): usize {
  const q = changetype<NvmfQpair>(heapAllocZeroed(offsetof<NvmfQpair>()));
  const conn = changetype<FakeConn>(heapAllocZeroed(offsetof<FakeConn>()));
  conn.listener = listener;
  conn.peerAddr = peerAddr;
  conn.peerPort = peerPort;
  q.ops = ops;
  q.transportCtx = changetype<usize>(conn);
  sendMsg(thread, initMsg, changetype<usize>(q));
  return changetype<usize>(q);
}
export function hc_qpair_state(q: usize): u32 { return changetype<NvmfQpair>(q).state; }
export function hc_qpair_outstanding(q: usize): u32 { return changetype<NvmfQpair>(q).outstanding; }
export function hc_qpair_ctrlr(q: usize): usize { return changetype<NvmfQpair>(q).ctrlr; }
export function hc_qpair_qid(q: usize): u32 { return changetype<NvmfQpair>(q).qid; }
export function hc_conn_disconnects(q: usize): u32 { return changetype<FakeConn>(changetype<NvmfQpair>(q).transportCtx).disconnects; }
export function hc_conn_closed(q: usize): u32 { return changetype<FakeConn>(changetype<NvmfQpair>(q).transportCtx).closed; }
export function hc_conn_completions(q: usize): u32 { return changetype<FakeConn>(changetype<NvmfQpair>(q).transportCtx).completions; }

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

/** As a transport: the data direction from the opcode (Connect and Property Set carry host data), the whole buffer as length. */
function execMsg(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const opc = sqeOpcode(r.sqe);
  r.xfer = opc == OPC_FABRICS ? (fabricsType(r.sqe) == FCTYPE_CONNECT ? XFER_HOST_TO_CTRLR : 0) : opcodeXfer(opc);
  r.length = 0;
  for (let i: u32 = 0; i < r.iovcnt; i++) r.length += load<u32>(r.iovs + (<usize>i << 3), 4);
  nvmfReqExec(req);
}
/** Run `req` by message on its qpair's thread. */
export function hc_exec(req: usize): void { sendMsg(changetype<NvmfQpair>(changetype<NvmfReq>(req).qpair).thread, execMsg, req); }

function closeDone(qpair: usize): void { changetype<FakeConn>(changetype<NvmfQpair>(qpair).transportCtx).closed++; }
function closeMsg(qpair: usize): void { nvmfQpairClose(qpair, closeDone, qpair); }
/** The connection ends: nvmfQpairClose on its thread (by message); hc_conn_closed counts its done. */
export function hc_close(qpair: usize): void { sendMsg(changetype<NvmfQpair>(qpair).thread, closeMsg, qpair); }
