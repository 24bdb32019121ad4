// Test hooks for the NVMe/TCP host (assembly/nvme/host): a controller brought up on one thread, and I/O
// jobs on any thread, each with its own I/O qpair, writing patterned data then reading it back and
// checking every byte, with every request's callbacks counted (each must come exactly once).

import { heapAllocZeroed, heapFree } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import { OPC_WRITE, OPC_READ, sqeInit, sqeSetCdw } from "../../assembly/nvme/spec";
import {
  HostReq, HostQpairOpts, HostCtrlr, HostNs, HOST_REQ_BYTES, QEV_READY, QEV_CLOSED, hostReqSqe, hostQpairNew, hostQpairConnect,
  hostQpairDisconnect, hostQpairFree, hostQpairState, hostQpairSetInCapsule, hostQpairSubmit, hostQpairDigests, hostCtrlrNew, hostCtrlrStart,
  hostCtrlrClose, hostCtrlrFree, hostCtrlrNs,
} from "../../assembly/nvme/host";

@unmanaged class HnClient {
  thread: usize;
  opts: usize;        // HostQpairOpts
  hostId: usize;
  ctrlr: usize;
  startRes: i32;      // 1: not yet
  closeRes: i32;      // 1: not yet
}

/** A controller on `thread` at addr:port (NUL-terminated strings the test keeps alive). */
export function hn_ctrlr_start(thread: usize, addr: usize, port: u32, subnqn: usize, hostnqn: usize, digests: u32, timeoutMs: u32): usize {
  const block = heapAllocZeroed(offsetof<HnClient>() + offsetof<HostQpairOpts>() + 16 + 16);
  const c = changetype<HnClient>(block);
  c.thread = thread;
  c.opts = block + ((offsetof<HnClient>() + 7) & ~7);
  c.hostId = c.opts + ((offsetof<HostQpairOpts>() + 7) & ~7);
  for (let i: u32 = 0; i < 16; i++) store<u8>(c.hostId + i, <u8>(i * 17 + 3));
  c.startRes = 1;
  c.closeRes = 1;
  const o = changetype<HostQpairOpts>(c.opts);
  o.addrText = addr; o.port = port; o.subnqn = subnqn; o.hostnqn = hostnqn; o.hostId = c.hostId;
  o.qid = 0; o.entries = 32; o.katoMs = 0; o.digests = digests; o.connectTimeoutUs = <u64>timeoutMs * 1000;
  sendMsg(thread, ctrlrStartMsg, block);
  return block;
}
function ctrlrStartMsg(block: usize): void {
  const c = changetype<HnClient>(block);
  c.ctrlr = hostCtrlrNew(c.opts);
  if (c.ctrlr == 0) { c.startRes = -12; return; }
  hostCtrlrStart(c.ctrlr, ctrlrStarted, block);
}
function ctrlrStarted(ctrlr: usize, ctx: usize, res: i32): void { changetype<HnClient>(ctx).startRes = res; }

export function hn_ctrlr_close(block: usize): void { sendMsg(changetype<HnClient>(block).thread, ctrlrCloseMsg, block); }
function ctrlrCloseMsg(block: usize): void {
  const c = changetype<HnClient>(block);
  if (c.ctrlr == 0) { c.closeRes = 0; return; }
  hostCtrlrClose(c.ctrlr, ctrlrClosed, block);
}
function ctrlrClosed(ctrlr: usize, ctx: usize, res: i32): void {
  const c = changetype<HnClient>(ctx);
  c.closeRes = res;
  hostCtrlrFree(ctrlr);
  c.ctrlr = 0;
}

/** 0 start result, 1 close result, 2 namespaces, 3 ns0 block bytes, 4 ns0 blocks, 5 in-capsule bytes, 6 ONCS, 7 VWC, 8 cntlid, 9 NN, 10 MDTS bytes. */
export function hn_ctrlr_stat(block: usize, which: u32): f64 {
  const c = changetype<HnClient>(block);
  if (which == 0) return <f64>c.startRes;
  if (which == 1) return <f64>c.closeRes;
  if (c.ctrlr == 0) return -1;
  const ct = changetype<HostCtrlr>(c.ctrlr);
  switch (which) {
    case 2: return <f64>ct.nsCount;
    case 3: return ct.nsCount > 0 ? <f64>changetype<HostNs>(hostCtrlrNs(c.ctrlr, 0)).blockBytes : -1;
    case 4: return ct.nsCount > 0 ? <f64>changetype<HostNs>(hostCtrlrNs(c.ctrlr, 0)).blockCount : -1;
    case 5: return <f64>ct.inCapsuleBytes;
    case 6: return <f64>ct.oncs;
    case 7: return <f64>ct.vwc;
    case 8: return <f64>ct.cntlid;
    case 9: return <f64>ct.nn;
    case 10: return <f64>ct.maxTransferBytes;
    case 11: return <f64>ct.state;
    case 12: return <f64>hostQpairState(ct.admin);
  }
  return -1;
}
export function hn_ctrlr_free(block: usize): void { heapFree(block); }

// ---- I/O jobs ----
/** Blocks of the namespace one job writes in (the test gives each job its own region). */
const REGION_BLOCKS: u32 = 8192;
const SLOT_HEAD: usize = ((<usize>HOST_REQ_BYTES + 7) & ~7) + 16;   // the request, its iov, index + callback count

@unmanaged class HnJob {
  thread: usize;
  client: usize;
  opts: usize;
  qpair: usize;
  ioBytes: u32;
  count: u32;         // writes, then as many reads
  qd: u32;
  seed: u32;
  lbaStart: u32;
  slots: usize;
  slotBytes: usize;
  issued: u32;        // of 2 * count
  completed: u32;
  inFlight: u32;
  errors: u32;
  firstError: u32;
  mismatches: u32;
  doubles: u32;       // a callback for a request already called back
  submitRefused: u32;
  ready: u32;
  closedRes: i32;     // 1: not closed
  digests: u32;
  stopping: u32;
}

function slotAt(j: HnJob, i: u32): usize { return j.slots + <usize>i * j.slotBytes; }
function patternAt(j: HnJob, io: u32, k: u32): u8 { return <u8>((io * 131 + k * 7 + (k >> 9) * 3 + j.seed) & 0xff); }

/** `count` writes of `ioBytes` (block-aligned runs, one after the other from `lbaStart`) then reads of each, `qd` at a time. */
export function hn_job_start(thread: usize, client: usize, qid: u32, lbaStart: u32, ioBytes: u32, count: u32, qd: u32, entries: u32, seed: u32): usize {
  const slotBytes = SLOT_HEAD + <usize>ioBytes;
  const block = heapAllocZeroed(((offsetof<HnJob>() + 7) & ~7) + ((offsetof<HostQpairOpts>() + 7) & ~7) + <usize>qd * slotBytes);
  const j = changetype<HnJob>(block);
  j.lbaStart = lbaStart;
  j.thread = thread; j.client = client; j.ioBytes = ioBytes; j.count = count; j.qd = qd; j.seed = seed;
  j.opts = block + ((offsetof<HnJob>() + 7) & ~7);
  j.slots = j.opts + ((offsetof<HostQpairOpts>() + 7) & ~7);
  j.slotBytes = slotBytes;
  j.closedRes = 1;
  const c = changetype<HnClient>(client);
  memory.copy(j.opts, c.opts, offsetof<HostQpairOpts>());
  const o = changetype<HostQpairOpts>(j.opts);
  o.qid = qid;
  o.entries = entries;
  o.cntlid = changetype<HostCtrlr>(c.ctrlr).cntlid;
  o.eventCb = changetype<usize>(jobEvent);
  o.eventCtx = block;
  sendMsg(thread, jobStartMsg, block);
  return block;
}
function jobStartMsg(block: usize): void {
  const j = changetype<HnJob>(block);
  j.qpair = hostQpairNew(j.opts);
  if (j.qpair == 0) { j.closedRes = -12; return; }
  hostQpairConnect(j.qpair);
}
function jobEvent(qpair: usize, ctx: usize, event: u32, res: i32): void {
  const j = changetype<HnJob>(ctx);
  if (event == QEV_READY) {
    j.ready = 1;
    j.digests = hostQpairDigests(qpair);
    const c = changetype<HnClient>(j.client);
    hostQpairSetInCapsule(qpair, changetype<HostCtrlr>(c.ctrlr).inCapsuleBytes);
    for (let i: u32 = 0; i < j.qd && j.issued < 2 * j.count; i++) issue(j, i);
    return;
  }
  assert(event == QEV_CLOSED);
  j.closedRes = res;
  hostQpairFree(qpair);
  j.qpair = 0;
}

function nsBlockBytes(j: HnJob): u32 {
  const c = changetype<HnClient>(j.client);
  return changetype<HostNs>(hostCtrlrNs(c.ctrlr, 0)).blockBytes;
}

function issue(j: HnJob, slot: u32): void {
  if (j.stopping != 0) return;
  const s = slotAt(j, slot);
  const r = changetype<HostReq>(s);
  const iov = s + ((<usize>HOST_REQ_BYTES + 7) & ~7);
  const buf = s + SLOT_HEAD;
  const n = j.issued++;
  const io = n < j.count ? n : n - j.count;
  const write = n < j.count;
  store<u32>(iov + 8, io);
  store<u32>(iov + 12, 0);       // callbacks for this issue
  const blocks = j.ioBytes / nsBlockBytes(j);
  const runs = max<u32>(1, REGION_BLOCKS / blocks);    // a long job goes round its region (its reads check the last pass only when count <= runs)
  const lba = <u64>j.lbaStart + <u64>(io % runs) * blocks;
  const sqe = hostReqSqe(s);
  sqeInit(sqe, write ? OPC_WRITE : OPC_READ, changetype<HostNs>(hostCtrlrNs(changetype<HnClient>(j.client).ctrlr, 0)).nsid);
  sqeSetCdw(sqe, 10, <u32>lba);
  sqeSetCdw(sqe, 11, <u32>(lba >> 32));
  sqeSetCdw(sqe, 12, blocks - 1);
  if (write) for (let k: u32 = 0; k < j.ioBytes; k++) store<u8>(buf + k, patternAt(j, io, k));
  else memory.fill(buf, 0, j.ioBytes);
  store<u32>(iov, <u32>buf);
  store<u32>(iov, j.ioBytes, 4);
  r.cb = changetype<usize>(ioDone);
  r.ctx = changetype<usize>(j);
  r.iovs = iov;
  r.iovcnt = 1;
  r.length = j.ioBytes;
  store<u32>(iov + 12, 0);
  j.inFlight++;
  if (hostQpairSubmit(j.qpair, s) != 0) { j.inFlight--; j.submitRefused++; }
}

function ioDone(req: usize): void {
  const r = changetype<HostReq>(req);
  const j = changetype<HnJob>(r.ctx);
  const iov = req + ((<usize>HOST_REQ_BYTES + 7) & ~7);
  const calls = load<u32>(iov + 12) + 1;
  store<u32>(iov + 12, calls);
  if (calls > 1) { j.doubles++; return; }
  j.inFlight--;
  j.completed++;
  const isRead = load<u8>(hostReqSqe(req)) == OPC_READ;
  if (r.status != 0) {
    if (j.errors == 0) j.firstError = r.status;
    j.errors++;
    return;                       // a failed job stops issuing
  }
  if (isRead) {
    const io = load<u32>(iov + 8);
    const buf = req + SLOT_HEAD;
    for (let k: u32 = 0; k < j.ioBytes; k++) if (load<u8>(buf + k) != patternAt(j, io, k)) { j.mismatches++; break; }
  }
  const slot = <u32>((req - j.slots) / j.slotBytes);
  // Writes first, every one of them done before the reads start, so each read finds its data.
  if (j.issued < j.count) { issue(j, slot); return; }
  if (j.completed == j.count) { for (let i: u32 = 0; i < j.qd && j.issued < 2 * j.count; i++) issue(j, i); return; }
  if (j.completed > j.count && j.issued < 2 * j.count) issue(j, slot);
}

/** Close the job's qpair now (I/O in flight completes aborted). */
export function hn_job_stop(block: usize): void { sendMsg(changetype<HnJob>(block).thread, jobStopMsg, block); }
function jobStopMsg(block: usize): void {
  const j = changetype<HnJob>(block);
  j.stopping = 1;
  if (j.qpair != 0) hostQpairDisconnect(j.qpair);
}

/** 0 ready, 1 completed, 2 errors, 3 first error status, 4 mismatches, 5 doubles, 6 closed result (1: open), 7 in flight, 8 refused submits, 9 digests. */
export function hn_job_stat(block: usize, which: u32): f64 {
  const j = changetype<HnJob>(block);
  switch (which) {
    case 0: return <f64>j.ready;
    case 1: return <f64>j.completed;
    case 2: return <f64>j.errors;
    case 3: return <f64>j.firstError;
    case 4: return <f64>j.mismatches;
    case 5: return <f64>j.doubles;
    case 6: return <f64>j.closedRes;
    case 7: return <f64>j.inFlight;
    case 8: return <f64>j.submitRefused;
    case 9: return <f64>j.digests;
  }
  return -1;
}
export function hn_job_free(block: usize): void { heapFree(block); }
