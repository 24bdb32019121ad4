// Test hooks for NVMe-oF namespaces and the I/O command set (tests/integration/nvmf-io*.test.ts): a
// fake transport (a qpair, requests with their SQE, CQE and data buffers in Wasm memory, and an
// ops.complete that counts each request's completions and reports them as EVENT_TEST) over the real
// core's namespaces and bdevs. It stands in for a transport only; everything below it is the core.

import { heapAllocZeroed, host_event, EVENT_TEST } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import { Bdev, bdevById } from "../../assembly/bdev";
import { onAppThread } from "../../assembly/app/request";
import {
  NvmfQpair, NvmfReq, NvmfTransportOps, QPAIR_CONNECTED, SQE_BYTES, CQE_BYTES, cqeStatus, opcodeXfer, sqeOpcode,
  nvmfNsOpen, nvmfNsClose, nvmfNsIdentify, nvmfNsIdDescriptors, nvmfNsSupportsUnmap, nvmfNsSupportsWriteZeroes,
  nvmfNsSupportsFlush, nvmfIoExec, NvmfNs,
} from "../../assembly/nvme";

/** The fake transport's own request object (NvmfReq.transportCtx). */
@unmanaged class FakeReq {
  ns: usize;            // the namespace hn_exec runs it on (0: none)
  tag: u32;             // EVENT_TEST(tag, status, completions) at each completion
  completions: u32;
  status: u32;
  execd: u32;           // atomic: nvmfIoExec returned (the request is in flight or done)
}

/** Completions over every fake request (atomic): what a close's done saw. */
const COMPLETED = memory.data(8);

function fakeComplete(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const f = changetype<FakeReq>(r.transportCtx);
  f.completions++;
  f.status = cqeStatus(r.cqe);
  atomic.add<u32>(COMPLETED, 1);
  host_event(EVENT_TEST, <f64>f.tag, <f64>f.status, <f64>f.completions);
}
function fakeDisconnect(_qpair: usize): void { assert(false, "the I/O path asked the fake transport to disconnect"); }

/** A connected I/O qpair (qid 1) owned by `thread`, as a transport and the controller leave it. */
export function hn_qpair_new(thread: usize): usize {
  const ops = changetype<NvmfTransportOps>(heapAllocZeroed(offsetof<NvmfTransportOps>()));
  ops.complete = changetype<usize>(fakeComplete);
  ops.disconnect = changetype<usize>(fakeDisconnect);
  const q = changetype<NvmfQpair>(heapAllocZeroed(offsetof<NvmfQpair>()));
  q.ops = changetype<usize>(ops);
  q.thread = thread;
  q.state = QPAIR_CONNECTED;
  q.qid = 1;
  q.sqsize = 128;
  return changetype<usize>(q);
}
export function hn_qpair_outstanding(q: usize): u32 { return changetype<NvmfQpair>(q).outstanding; }

/**
 * A request of `qpair` whose data is `iovcnt` separate buffers of `iovBytes` each (0: none), apart in
 * memory so a path that runs past one buffer cannot land in the next. The SQE is for the test to fill.
 */
export function hn_req_new(qpair: usize, iovcnt: u32, iovBytes: u32, tag: u32): usize {
  const r = changetype<NvmfReq>(heapAllocZeroed(offsetof<NvmfReq>()));
  const f = changetype<FakeReq>(heapAllocZeroed(offsetof<FakeReq>()));
  f.tag = tag;
  r.qpair = qpair;
  r.sqe = heapAllocZeroed(SQE_BYTES);
  r.cqe = heapAllocZeroed(CQE_BYTES);
  r.transportCtx = changetype<usize>(f);
  if (iovcnt > 0) {
    r.iovs = heapAllocZeroed(<usize>iovcnt << 3);
    for (let i: u32 = 0; i < iovcnt; i++) {
      const buf = heapAllocZeroed(<usize>iovBytes + 64);
      store<u32>(r.iovs + (<usize>i << 3), <u32>buf);
      store<u32>(r.iovs + (<usize>i << 3), iovBytes, 4);
    }
  }
  r.iovcnt = iovcnt;
  r.length = iovcnt * iovBytes;
  return changetype<usize>(r);
}
export function hn_req_sqe(req: usize): usize { return changetype<NvmfReq>(req).sqe; }
export function hn_req_cqe(req: usize): usize { return changetype<NvmfReq>(req).cqe; }
export function hn_req_iovs(req: usize): usize { return changetype<NvmfReq>(req).iovs; }
/** Say the data is `bytes` long (a transport's SGL length that disagrees with NLB). */
export function hn_req_set_length(req: usize, bytes: u32): void { changetype<NvmfReq>(req).length = bytes; }
export function hn_req_completions(req: usize): u32 { return changetype<FakeReq>(changetype<NvmfReq>(req).transportCtx).completions; }
export function hn_req_status(req: usize): u32 { return changetype<FakeReq>(changetype<NvmfReq>(req).transportCtx).status; }
export function hn_req_execd(req: usize): u32 { return atomic.load<u32>(changetype<NvmfReq>(req).transportCtx + offsetof<FakeReq>("execd")); }
export function hn_completed(): u32 { return atomic.load<u32>(COMPLETED); }

/** As the controller does before dispatch: count it outstanding, then give it to the I/O path. */
function execMsg(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  r.xfer = opcodeXfer(sqeOpcode(r.sqe));
  q.outstanding++;
  const f = changetype<FakeReq>(r.transportCtx);
  nvmfIoExec(req, f.ns);
  atomic.store<u32>(changetype<usize>(f) + offsetof<FakeReq>("execd"), 1);
}
/** Run `req` on namespace `ns` (0: none), by message on its qpair's thread. */
export function hn_exec(req: usize, ns: usize): void {
  const r = changetype<NvmfReq>(req);
  changetype<FakeReq>(r.transportCtx).ns = ns;
  sendMsg(changetype<NvmfQpair>(r.qpair).thread, execMsg, req);
}

// ---- namespaces, on the app thread ----

@unmanaged class NsHook { tag: u32; bdevId: u32; nsid: u32; nqn: usize; ns: usize; }

function nsEvent(ctx: usize, ns: usize, kind: u32): void {
  host_event(EVENT_TEST, <f64>changetype<NsHook>(ctx).tag, <f64>kind, <f64>changetype<NvmfNs>(ns).blockCount);
}
function openMsg(ctx: usize): void {
  const h = changetype<NsHook>(ctx);
  const rc = nvmfNsOpen(ctx + offsetof<NsHook>("ns"), h.nqn, h.bdevId, h.nsid, 0, 0, 0, changetype<usize>(nsEvent), ctx);
  host_event(EVENT_TEST, <f64>h.tag, <f64>rc, <f64>(rc == 0 ? h.ns : 0));
}
/**
 * Open namespace `nsid` over bdev `bdevId` for subsystem `nqn` (NUL-terminated ASCII) on the app
 * thread: EVENT_TEST(tag, rc, ns); later its events as EVENT_TEST(tag, kind, blockCount).
 */
export function hn_ns_open(bdevId: u32, nsid: u32, nqn: usize, tag: u32): i32 {
  const h = changetype<NsHook>(heapAllocZeroed(offsetof<NsHook>()));
  h.tag = tag; h.bdevId = bdevId; h.nsid = nsid; h.nqn = nqn;
  return onAppThread(openMsg, changetype<usize>(h));
}

@unmanaged class CloseHook { ns: usize; tag: u32; }
function closeDone(ctx: usize): void {
  host_event(EVENT_TEST, <f64>changetype<CloseHook>(ctx).tag, 0, <f64>atomic.load<u32>(COMPLETED));
}
function closeMsg(ctx: usize): void { nvmfNsClose(changetype<CloseHook>(ctx).ns, closeDone, ctx); }
/** Close `ns` on the app thread: EVENT_TEST(tag, 0, completions so far) when done. */
export function hn_ns_close(ns: usize, tag: u32): i32 {
  const c = changetype<CloseHook>(heapAllocZeroed(offsetof<CloseHook>()));
  c.ns = ns; c.tag = tag;
  return onAppThread(closeMsg, changetype<usize>(c));
}

export function hn_ns_identify(ns: usize, buf: usize): void { nvmfNsIdentify(ns, buf); }
export function hn_ns_descriptors(ns: usize, buf: usize): void { nvmfNsIdDescriptors(ns, buf); }
/** Bits: 1 unmap, 2 write zeroes, 4 flush. */
export function hn_ns_supports(ns: usize): u32 {
  return (nvmfNsSupportsUnmap(ns) ? 1 : 0) | (nvmfNsSupportsWriteZeroes(ns) ? 2 : 0) | (nvmfNsSupportsFlush(ns) ? 4 : 0);
}

/** bdev_ios per channel of bdev `id` (before any channel exists): a small pool makes submits meet -ENOMEM. */
export function hn_bdev_pool_size(id: u32, n: u32): void { changetype<Bdev>(bdevById(id)).poolSize = n; }
/** The bdev's volatile write cache flag (FUA: the write is followed by a flush where it is set). */
export function hn_bdev_write_cache(id: u32, on: u32): void { changetype<Bdev>(bdevById(id)).writeCache = on; }
/** Whether an unmapped block of bdev `id` reads zeroes, and its optimal I/O boundary (blocks), as a module would set them. */
export function hn_bdev_unmap_zeroes(id: u32, on: u32): void { changetype<Bdev>(bdevById(id)).unmapZeroes = on; }
export function hn_bdev_optimal_boundary(id: u32, blocks: u32): void { changetype<Bdev>(bdevById(id)).optimalIoBoundary = blocks; }
/** The I/O types bdev `id` supports (bit per IO_*), as a module that lacks some would set them. */
export function hn_bdev_io_types(id: u32, mask: u32): void { changetype<Bdev>(bdevById(id)).ioTypes = mask; }
