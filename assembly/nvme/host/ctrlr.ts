// A controller's bring-up on its owner thread, over its admin qpair: Connect (cntlid 0xFFFF), CAP and VS,
// CC.EN = 1, CSTS.RDY polled until CAP.TO runs out, Identify Controller (IOCCSZ, MDTS, ONCS, VWC, NN),
// the active namespace list and Identify Namespace per namespace. One step per function, named after
// what just finished; any failure closes the admin qpair and the owner hears it once.

import { heapAllocZeroed, heapFree, report, LEVEL_ERROR, ETIMEDOUT, EIO, ECANCELED } from "../../runtime";
import { threadGet, pollerRegister, pollerUnregister, cachedNowUs, POLLER_IDLE, POLLER_BUSY } from "../../thread";
import { OPC_FABRICS, sqeInit, sqeSetCdw } from "../spec";
import {
  FCTYPE_PROPERTY_GET, FCTYPE_PROPERTY_SET, CNTLID_DYNAMIC, PROP_CAP, PROP_VS, PROP_CC, PROP_CSTS, CC_EN, CC_IOSQES_64B,
  CC_IOCQES_16B, CSTS_RDY, CSTS_CFS, fabricsSetType, propertySetFields, capQueueEntriesMax, capReadyTimeoutUs,
} from "../fabrics";
import {
  IDENTIFY_BYTES, CNS_NAMESPACE, CNS_CONTROLLER, CNS_ACTIVE_NS_LIST, IDC_MDTS, IDC_NN, IDC_ONCS, IDC_VWC, IDC_IOCCSZ, IDC_CNTLID,
  IDC_KAS, IDN_NSZE, IDN_FLBAS, IDN_LBAF0,
} from "../identify";
import { ADMIN_IDENTIFY } from "../admin";
import { SQE_BYTES } from "../spec";
import { HostQpairOpts, HostReq, HOST_REQ_BYTES, QEV_READY, QEV_CLOSED, hostReqSqe } from "./types";
import { hostQpairNew, hostQpairConnect, hostQpairDisconnect, hostQpairFree, hostQpairSetInCapsule, hostQpairCntlid } from "./qpair";
import { hostQpairSubmit } from "./cmd";

/** Namespaces one controller attaches (the active list holds up to 1024; more are reported and left out). */
export const HOST_NS_MAX: u32 = 64;
/** How often CSTS is read while waiting for RDY. */
const READY_POLL_US: u64 = 10000;

export const CTRLR_NEW: u32 = 0;
export const CTRLR_STARTING: u32 = 1;
export const CTRLR_READY: u32 = 2;
export const CTRLR_FAILING: u32 = 3;   // the admin qpair is closing
export const CTRLR_CLOSED: u32 = 4;

/** One namespace as Identify Namespace gave it. */
@unmanaged export class HostNs {
  nsid: u32;
  blockBytes: u32;
  blockCount: u64;
}
const HOST_NS_BYTES: u32 = (<u32>offsetof<HostNs>() + 7) & ~7;

/** (ctrlr, ctx, res): the bring-up is over (0), or failed and the admin qpair is closed (-errno); once. */
export type HostCtrlrDoneFn = (ctrlr: usize, ctx: usize, res: i32) => void;

@unmanaged export class HostCtrlr {
  thread: usize;
  state: u32;
  admin: usize;           // HostQpair
  adminOpts: usize;       // HostQpairOpts (in this block)
  req: usize;             // the bring-up's one admin command at a time (HOST_REQ_BYTES)
  buf: usize;             // IDENTIFY_BYTES
  iov: usize;
  nsList: usize;          // IDENTIFY_BYTES: the active namespace list
  poller: usize;
  readyDeadlineUs: u64;
  pollDue: u32;
  failRes: i32;
  // what the controller said
  cap: u64;
  vs: u32;
  cntlid: u32;
  queueEntriesMax: u32;
  inCapsuleBytes: u32;    // IOCCSZ * 16 - 64
  maxTransferBytes: u32;  // MDTS (0: no limit)
  oncs: u32;
  vwc: u32;
  nn: u32;
  kasMs: u32;
  ns: usize;              // HOST_NS_MAX HostNs
  nsCount: u32;
  nsAt: u32;              // the namespace being identified
  doneCb: usize;
  doneCtx: usize;
  lostCb: usize;          // HostCtrlrDoneFn: the admin qpair closed by itself after the bring-up
  lostCtx: usize;
}

/**
 * A controller on the calling thread (its owner), reached through `adminOpts` (qid 0; copied; its
 * eventCb and cntlid are set here). 0 when out of memory. Nothing is sent until hostCtrlrStart.
 */
export function hostCtrlrNew(adminOpts: usize): usize {
  const head = (offsetof<HostCtrlr>() + 7) & ~7;
  const optsBytes = (offsetof<HostQpairOpts>() + 7) & ~7;
  const block = heapAllocZeroed(head + optsBytes + HOST_REQ_BYTES + 2 * IDENTIFY_BYTES + 8 + HOST_NS_MAX * HOST_NS_BYTES);
  if (block == 0) return 0;
  const c = changetype<HostCtrlr>(block);
  c.thread = threadGet();
  c.adminOpts = block + head;
  memory.copy(c.adminOpts, adminOpts, offsetof<HostQpairOpts>());
  c.req = c.adminOpts + optsBytes;
  c.buf = c.req + HOST_REQ_BYTES;
  c.nsList = c.buf + IDENTIFY_BYTES;
  c.iov = c.nsList + IDENTIFY_BYTES;
  c.ns = c.iov + 8;
  const o = changetype<HostQpairOpts>(c.adminOpts);
  assert(o.qid == 0, "hostCtrlrNew: the admin queue's options");
  o.cntlid = CNTLID_DYNAMIC;
  o.eventCb = changetype<usize>(adminEvent);
  o.eventCtx = block;
  c.admin = hostQpairNew(c.adminOpts);
  c.poller = c.admin == 0 ? 0 : pollerRegister(readyPoll, block, READY_POLL_US, "nvme-host-ctrlr");
  if (c.poller == 0) {
    if (c.admin != 0) hostQpairFreeNew(c.admin);
    heapFree(block);
    return 0;
  }
  return block;
}

/** A qpair never connected: close it at once (its QEV_CLOSED comes now) and free it. */
function hostQpairFreeNew(qpair: usize): void {
  hostQpairDisconnect(qpair);
  hostQpairFree(qpair);
}

/** Bring the controller up; done(ctrlr, ctx, res) once. */
export function hostCtrlrStart(ctrlr: usize, done: HostCtrlrDoneFn, ctx: usize): void {
  const c = changetype<HostCtrlr>(ctrlr);
  assert(threadGet() == c.thread && c.state == CTRLR_NEW, "hostCtrlrStart: once, on the owner thread");
  c.doneCb = changetype<usize>(done);
  c.doneCtx = ctx;
  c.state = CTRLR_STARTING;
  hostQpairConnect(c.admin);
}

function adminEvent(qpair: usize, ctx: usize, event: u32, res: i32): void {
  const c = changetype<HostCtrlr>(ctx);
  if (event == QEV_READY) { c.cntlid = hostQpairCntlid(qpair); propertyGet(c, PROP_CAP, capDone); return; }
  assert(event == QEV_CLOSED, "adminEvent: ready or closed");
  const lost = c.state == CTRLR_READY;
  c.state = CTRLR_CLOSED;
  if (c.failRes == 0) c.failRes = res;
  if (lost && c.lostCb != 0) { changetype<HostCtrlrDoneFn>(c.lostCb)(changetype<usize>(c), c.lostCtx, res); return; }
  finish(c, c.failRes);     // the bring-up's or the close's callback, whichever is waiting
}

/** `lost(ctrlr, ctx, res)` runs once if the admin qpair fails by itself once the controller is up. */
export function hostCtrlrOnLost(ctrlr: usize, lost: HostCtrlrDoneFn, ctx: usize): void {
  const c = changetype<HostCtrlr>(ctrlr);
  c.lostCb = changetype<usize>(lost);
  c.lostCtx = ctx;
}

function finish(c: HostCtrlr, res: i32): void {
  const cb = c.doneCb;
  c.doneCb = 0;
  if (cb != 0) changetype<HostCtrlrDoneFn>(cb)(changetype<usize>(c), c.doneCtx, res);
}

/** A bring-up step failed: say which, close the admin qpair; the owner hears it when it is closed. */
function stepFailed(c: HostCtrlr, res: i32, step: string): void {
  report(LEVEL_ERROR, res, "nvme host: controller %d: %s", changetype<usize>(step), 0, <f64>c.cntlid);
  c.failRes = res;
  c.state = CTRLR_FAILING;
  hostQpairDisconnect(c.admin);
}

function submit(c: HostCtrlr, cb: (req: usize) => void, length: u32, step: string): void {
  const r = changetype<HostReq>(c.req);
  r.cb = changetype<usize>(cb);
  r.ctx = changetype<usize>(c);
  store<u32>(c.iov, <u32>c.buf);
  store<u32>(c.iov, length, 4);
  r.iovs = c.iov;
  r.iovcnt = length > 0 ? 1 : 0;
  r.length = length;
  const rc = hostQpairSubmit(c.admin, c.req);
  if (rc != 0) stepFailed(c, rc, step);
}

function ctrlrOf(req: usize): HostCtrlr { return changetype<HostCtrlr>(changetype<HostReq>(req).ctx); }
/** The step's command came back; false (and the controller failing) when it failed. */
function stepOk(req: usize, step: string): bool {
  const c = ctrlrOf(req);
  if (c.state != CTRLR_STARTING) return false;      // aborted on the way down
  const st = changetype<HostReq>(req).status;
  if (st == 0) return true;
  stepFailed(c, -EIO, step);
  return false;
}

function propertyGet(c: HostCtrlr, ofst: u32, cb: (req: usize) => void): void {
  const sqe = hostReqSqe(c.req);
  sqeInit(sqe, OPC_FABRICS, 0);
  fabricsSetType(sqe, FCTYPE_PROPERTY_GET);
  propertySetFields(sqe, ofst, 0);
  submit(c, cb, 0, "Property Get could not be sent");
}

function capDone(req: usize): void {
  if (!stepOk(req, "Property Get CAP failed")) return;
  const c = ctrlrOf(req);
  const r = changetype<HostReq>(req);
  c.cap = <u64>r.dw0 | (<u64>r.dw1 << 32);
  c.queueEntriesMax = capQueueEntriesMax(c.cap);
  propertyGet(c, PROP_VS, vsDone);
}

function vsDone(req: usize): void {
  if (!stepOk(req, "Property Get VS failed")) return;
  const c = ctrlrOf(req);
  c.vs = changetype<HostReq>(req).dw0;
  const sqe = hostReqSqe(c.req);
  sqeInit(sqe, OPC_FABRICS, 0);
  fabricsSetType(sqe, FCTYPE_PROPERTY_SET);
  propertySetFields(sqe, PROP_CC, <u64>(CC_EN | (CC_IOSQES_64B << 16) | (CC_IOCQES_16B << 20)));
  submit(c, enableDone, 0, "Property Set CC could not be sent");
}

function enableDone(req: usize): void {
  if (!stepOk(req, "Property Set CC.EN = 1 failed")) return;
  const c = ctrlrOf(req);
  c.readyDeadlineUs = cachedNowUs() + capReadyTimeoutUs(c.cap);
  propertyGet(c, PROP_CSTS, cstsDone);
}

function cstsDone(req: usize): void {
  if (!stepOk(req, "Property Get CSTS failed")) return;
  const c = ctrlrOf(req);
  const csts = changetype<HostReq>(req).dw0;
  if ((csts & CSTS_CFS) != 0) { stepFailed(c, -EIO, "the controller reports a fatal status (CSTS.CFS) after CC.EN"); return; }
  if ((csts & CSTS_RDY) != 0) { identify(c, CNS_CONTROLLER, 0, identifyCtrlrDone); return; }
  if (cachedNowUs() >= c.readyDeadlineUs) { stepFailed(c, -ETIMEDOUT, "CSTS.RDY did not follow CC.EN within CAP.TO"); return; }
  c.pollDue = 1;    // read CSTS again at the next poll tick
}

function readyPoll(ctx: usize): i32 {
  const c = changetype<HostCtrlr>(ctx);
  if (c.pollDue == 0) return POLLER_IDLE;
  c.pollDue = 0;
  if (c.state == CTRLR_STARTING) propertyGet(c, PROP_CSTS, cstsDone);
  return POLLER_BUSY;
}

function identify(c: HostCtrlr, cns: u32, nsid: u32, cb: (req: usize) => void): void {
  const sqe = hostReqSqe(c.req);
  sqeInit(sqe, ADMIN_IDENTIFY, nsid);
  sqeSetCdw(sqe, 10, cns);
  submit(c, cb, IDENTIFY_BYTES, "Identify could not be sent");
}

function identifyCtrlrDone(req: usize): void {
  if (!stepOk(req, "Identify Controller failed")) return;
  const c = ctrlrOf(req);
  const id = c.buf;
  const ioccsz = load<u32>(id + IDC_IOCCSZ);
  c.inCapsuleBytes = ioccsz * 16 > SQE_BYTES ? ioccsz * 16 - SQE_BYTES : 0;
  const mdts = <u32>load<u8>(id + IDC_MDTS);
  c.maxTransferBytes = mdts == 0 || mdts > 19 ? 0 : 4096 << mdts;   // 4 KiB pages (CAP.MPSMIN 0); over 2 GiB: no limit here
  c.oncs = <u32>load<u16>(id + IDC_ONCS);
  c.vwc = <u32>load<u8>(id + IDC_VWC) & 1;
  c.nn = load<u32>(id + IDC_NN);
  c.kasMs = <u32>load<u16>(id + IDC_KAS) * 100;
  assert(<u32>load<u16>(id + IDC_CNTLID) == c.cntlid || c.cntlid == 0, "Identify's CNTLID is Connect's");
  identify(c, CNS_ACTIVE_NS_LIST, 0, nsListDone);
}

function nsListDone(req: usize): void {
  if (!stepOk(req, "Identify active namespace list failed")) return;
  const c = ctrlrOf(req);
  memory.copy(c.nsList, c.buf, IDENTIFY_BYTES);
  let listed: u32 = 0;
  for (let i: u32 = 0; i < IDENTIFY_BYTES / 4; i++) {
    const nsid = load<u32>(c.nsList + (<usize>i << 2));
    if (nsid == 0) break;
    listed++;
  }
  if (listed > HOST_NS_MAX) {
    report(LEVEL_ERROR, 0, "nvme host: controller %d lists %d active namespaces; the first 64 are attached", 0, 0, <f64>c.cntlid, <f64>listed);
  }
  c.nsCount = 0;
  c.nsAt = 0;
  identifyNextNs(c, min(listed, HOST_NS_MAX));
}

function identifyNextNs(c: HostCtrlr, listed: u32): void {
  if (c.nsAt >= listed) { ready(c); return; }
  identify(c, CNS_NAMESPACE, load<u32>(c.nsList + (<usize>c.nsAt << 2)), nsDone);
}

function nsDone(req: usize): void {
  if (!stepOk(req, "Identify Namespace failed")) return;
  const c = ctrlrOf(req);
  const nsid = load<u32>(c.nsList + (<usize>c.nsAt << 2));
  const id = c.buf;
  const format = <u32>load<u8>(id + IDN_FLBAS) & 0xf;
  const lbads = (load<u32>(id + IDN_LBAF0 + (<usize>format << 2)) >> 16) & 0xff;
  const blocks = load<u64>(id + IDN_NSZE);
  if (lbads >= 9 && lbads <= 16 && blocks > 0) {
    const n = changetype<HostNs>(c.ns + <usize>(c.nsCount * HOST_NS_BYTES));
    n.nsid = nsid;
    n.blockBytes = 1 << lbads;
    n.blockCount = blocks;
    c.nsCount++;
  } else {
    report(LEVEL_ERROR, 0, "nvme host: controller %d namespace %d: block size 2^%d or size 0, left out", 0, 0, <f64>c.cntlid, <f64>nsid);
  }
  c.nsAt++;
  const listed = min(HOST_NS_MAX, countListed(c));
  identifyNextNs(c, listed);
}

function countListed(c: HostCtrlr): u32 {
  let n: u32 = 0;
  while (n < IDENTIFY_BYTES / 4 && load<u32>(c.nsList + (<usize>n << 2)) != 0) n++;
  return n;
}

function ready(c: HostCtrlr): void {
  hostQpairSetInCapsule(c.admin, min(c.inCapsuleBytes, 8192));
  c.state = CTRLR_READY;
  finish(c, 0);
}

/** Close the admin qpair (every admin command completes once, aborted); its closure is the end. */
export function hostCtrlrClose(ctrlr: usize, done: HostCtrlrDoneFn, ctx: usize): void {
  const c = changetype<HostCtrlr>(ctrlr);
  assert(threadGet() == c.thread, "hostCtrlrClose: on the owner thread");
  if (c.doneCb != 0) finish(c, -ECANCELED);   // a bring-up still under way ends here, once
  c.doneCb = changetype<usize>(done);
  c.doneCtx = ctx;
  if (c.state == CTRLR_CLOSED) { finish(c, 0); return; }
  c.state = CTRLR_FAILING;
  hostQpairDisconnect(c.admin);
}

export function hostCtrlrFree(ctrlr: usize): void {
  const c = changetype<HostCtrlr>(ctrlr);
  assert(threadGet() == c.thread && (c.state == CTRLR_CLOSED || c.state == CTRLR_NEW), "hostCtrlrFree: closed, on the owner thread");
  if (c.state == CTRLR_NEW) hostQpairFreeNew(c.admin); else hostQpairFree(c.admin);
  pollerUnregister(c.poller);
  heapFree(ctrlr);
}

export function hostCtrlrNs(ctrlr: usize, i: u32): usize {
  const c = changetype<HostCtrlr>(ctrlr);
  assert(i < c.nsCount, "hostCtrlrNs: an attached namespace");
  return c.ns + <usize>(i * HOST_NS_BYTES);
}
