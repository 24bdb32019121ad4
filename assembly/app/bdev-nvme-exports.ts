// The nvme bdev module's control exports (host/bdev-nvme.ts). Strings are NUL-terminated ASCII the host
// frees after the request ends (the core copies what it keeps). Each `req` export runs on the app thread
// (the controllers' owner) and ends with EVENT_REQUEST_DONE(req, rc, value); plain calls only read.
import { heapAlloc, heapFree, ENOMEM } from "../runtime";
import { onAppThread, requestDone } from "./request";
import {
  nvmeCtrlrAttach, nvmeCtrlrDetach, nvmeCtrlrNsCount, nvmeCtrlrNsInfo, nvmeCtrlrCntlid, nvmeCtrlrState, nvmeNsBdevCreate, nvmeCtrlrReset,
  nvmeCtrlrResets, nvmeCtrlrId,
} from "../bdev/nvme";

@unmanaged class NvmeArgs { id: u32; port: u32; digests: u32; index: u32; p0: usize; p1: usize; p2: usize; p3: usize; t0: f64; loss: i32; delay: u32; fastFail: u32; }

function post(fn: (ctx: usize) => void, a: NvmeArgs): i32 {
  const rc = onAppThread(fn, changetype<usize>(a));
  if (rc != 0) heapFree(changetype<usize>(a));
  return rc;
}
function newArgs(id: u32): NvmeArgs {
  const a = changetype<NvmeArgs>(heapAlloc(offsetof<NvmeArgs>()));
  if (changetype<usize>(a) != 0) { a.id = id; a.port = 0; a.digests = 0; a.index = 0; a.p0 = 0; a.p1 = 0; a.p2 = 0; a.p3 = 0; a.t0 = 0; a.loss = 0; a.delay = 0; a.fastFail = 0; }
  return a;
}

function attachMsg(ctx: usize): void {
  const a = changetype<NvmeArgs>(ctx);
  nvmeCtrlrAttach(a.id, a.p0, a.port, a.p1, a.p2, a.p3, a.digests, <u64>a.t0, a.loss, a.delay, a.fastFail);
  heapFree(ctx);
}

/**
 * Attach the NVMe/TCP controller at traddr:port (an IP literal) for subnqn as hostnqn (hostId: 16 bytes);
 * `portDigests`: the port in bits 0-15, digests in bit 16 (header) and 17 (data); the reconnect policy (SPDK's ctrlr_loss_timeout_sec, -1 forever;
 * reconnect_delay_sec; fast_io_fail_timeout_sec); value = the controller's handle.
 */
export function bdev_nvme_attach(req: u32, traddr: usize, portDigests: u32, subnqn: usize, hostnqn: usize, hostId: usize,
  connectTimeoutUs: f64, lossTimeoutSec: i32, reconnectDelaySec: u32, fastIoFailSec: u32): i32 {
  const a = newArgs(req);
  if (changetype<usize>(a) == 0) return -ENOMEM;
  a.p0 = traddr; a.port = portDigests & 0xffff; a.p1 = subnqn; a.p2 = hostnqn; a.p3 = hostId; a.digests = (portDigests >> 16) & 3;
  a.t0 = connectTimeoutUs;
  a.loss = lossTimeoutSec; a.delay = reconnectDelaySec; a.fastFail = fastIoFailSec;
  return post(attachMsg, a);
}

function nsBdevMsg(ctx: usize): void {
  const a = changetype<NvmeArgs>(ctx);
  const rc = nvmeNsBdevCreate(a.p0, a.index, a.p1);
  requestDone(a.id, rc < 0 ? rc : 0, rc < 0 ? 0 : <f64>rc);
  heapFree(ctx);
}

/** The bdev of the controller's namespace `index`, named by the host's core string `name`; value = the bdev id. */
export function bdev_nvme_ns_bdev(req: u32, ctrlr: usize, index: u32, name: usize): i32 {
  const a = newArgs(req);
  if (changetype<usize>(a) == 0) return -ENOMEM;
  a.p0 = ctrlr; a.index = index; a.p1 = name;
  return post(nsBdevMsg, a);
}

function detachMsg(ctx: usize): void { const a = changetype<NvmeArgs>(ctx); nvmeCtrlrDetach(a.id, a.p0); heapFree(ctx); }
function resetMsg(ctx: usize): void { const a = changetype<NvmeArgs>(ctx); nvmeCtrlrReset(a.id, a.p0); heapFree(ctx); }

function postOnCtrlr(fn: (ctx: usize) => void, req: u32, ctrlr: usize): i32 {
  const a = newArgs(req);
  if (changetype<usize>(a) == 0) return -ENOMEM;
  a.p0 = ctrlr;
  return post(fn, a);
}

/** Detach: every bdev of the controller unregistered, its qpairs closed; ends once it is freed. */
export function bdev_nvme_detach(req: u32, ctrlr: usize): i32 { return postOnCtrlr(detachMsg, req, ctrlr); }

/** Reset: every qpair dropped and made again (I/O held meanwhile); ends when the controller is back. */
export function bdev_nvme_reset(req: u32, ctrlr: usize): i32 { return postOnCtrlr(resetMsg, req, ctrlr); }

/** The controller's namespaces attached. */
export function bdev_nvme_ns_count(ctrlr: usize): u32 { return nvmeCtrlrNsCount(ctrlr); }
/** Namespace `i`: 0 nsid, 1 block bytes, 2 blocks, 3 its bdev id (0: none). */
export function bdev_nvme_ns_info(ctrlr: usize, i: u32, which: u32): f64 { return nvmeCtrlrNsInfo(ctrlr, i, which); }
/** 0 cntlid, 1 state (0 attaching, 1 ready, 2 failed, 3 detaching, 4 resetting), 2 resets done, 3 its id for admin requests. */
export function bdev_nvme_ctrlr_info(ctrlr: usize, which: u32): f64 {
  if (which == 0) return <f64>nvmeCtrlrCntlid(ctrlr);
  if (which == 1) return <f64>nvmeCtrlrState(ctrlr);
  if (which == 2) return <f64>nvmeCtrlrResets(ctrlr);
  return <f64>nvmeCtrlrId(ctrlr);
}
