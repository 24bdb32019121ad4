// An attached NVMe/TCP controller on the app thread (its owner): attach (the host layer's bring-up,
// then the controller's io_device for the channels), one bdev per namespace the host names, the
// keep-alive poller at KATO/2, and detach as a chain of messages and callbacks: bdevs unregistered ->
// channels gone (each closes its own qpair) -> io_device unregistered -> admin qpair closed -> freed.

import { heapAllocZeroed, heapFree, report, LEVEL_ERROR, LEVEL_INFO, ENOMEM, EINVAL, ENODEV, EBUSY, requestDone } from "../../runtime";
import { threadGet, pollerRegister, pollerUnregister, pollerSetPeriod, ioDeviceRegister, ioDeviceUnregister, POLLER_IDLE, POLLER_BUSY } from "../../thread";
import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import { BdevModule, Bdev, IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES } from "../types";
import { bdevAlloc, bdevRegister, bdevUnregister } from "../bdev";
import { sqeInit } from "../../nvme/spec";
import { ONCS_DSM, ONCS_WRITE_ZEROES, CNTLID_DYNAMIC, NQN_FIELD_BYTES, HOSTID_BYTES } from "../../nvme";
import {
  HostQpairOpts, HostCtrlr, HostNs, HostReq, HOST_REQ_BYTES, hostReqSqe, hostQpairSubmit, hostCtrlrNew, hostCtrlrStart, hostCtrlrClose,
  hostCtrlrFree, hostCtrlrNs, hostCtrlrOnLost,
} from "../../nvme/host";
import { NvmeBdevCtrlr, NvmeNsBdev, NvmeChannel, NVME_IO_QUEUE_ENTRIES, NVME_KATO_MS, NVME_NS_MAX, NC_ATTACHING, NC_READY, NC_FAILED, NC_DETACHING, NC_RESETTING } from "./types";
import { resetStart, resetTick, RESET_TICK_US } from "./reset";
import { adminListAdd, adminListRemove } from "./admin";
import { nvmeChannelCreate, nvmeChannelDestroy } from "./channel";
import { nvmeSubmit } from "./io";

const ADMIN_KEEP_ALIVE: u8 = 0x18;
const NVME_KEY = memory.data(MODULE_KEY_BYTES);
function nvmeModule(): BdevModule { return moduleTable(NVME_KEY, "nvme", nvmeSubmit, nvmeChannelKey, nvmeDestruct, null); }
function nvmeChannelKey(bdev: usize): usize { return changetype<NvmeNsBdev>(changetype<Bdev>(bdev).ctx).ctrlr; }
function nvmeDestruct(bdev: usize): void { heapFree(changetype<Bdev>(bdev).ctx); }
export function isNvmeBdev(bdev: usize): bool { return isModule(changetype<Bdev>(bdev).module, NVME_KEY); }

/** Copy a NUL-terminated string of fewer than `cap` bytes into `to`; false when it is longer. */
function copyText(to: usize, from: usize, cap: u32): bool {
  for (let i: u32 = 0; i < cap; i++) {
    const c = load<u8>(from + i);
    store<u8>(to + i, c);
    if (c == 0) return true;
  }
  return false;
}

const TEXT_BYTES: u32 = NQN_FIELD_BYTES;

/**
 * Attach (on the app thread): the request `reqId` ends with value = the controller's handle once it is
 * up (its namespaces then listed by nvmeCtrlrNsCount/Info), or with the -errno of its refusal.
 */
export function nvmeCtrlrAttach(reqId: u32, addrText: usize, port: u32, subnqn: usize, hostnqn: usize, hostId: usize, digests: u32,
  connectTimeoutUs: u64, lossTimeoutSec: i32, reconnectDelaySec: u32, fastIoFailSec: u32): void {
  const optsBytes = (offsetof<HostQpairOpts>() + 7) & ~7;
  const head = (offsetof<NvmeBdevCtrlr>() + 7) & ~7;
  const block = heapAllocZeroed(head + optsBytes + 3 * TEXT_BYTES + HOSTID_BYTES + NVME_NS_MAX * 4 + HOST_REQ_BYTES);
  if (block == 0) { requestDone(reqId, -ENOMEM, 0); return; }
  const c = changetype<NvmeBdevCtrlr>(block);
  c.key = block;
  c.thread = threadGet();
  c.reqId = reqId;
  c.opts = block + head;
  c.addrText = c.opts + optsBytes;
  c.subnqn = c.addrText + TEXT_BYTES;
  c.hostnqn = c.subnqn + TEXT_BYTES;
  c.hostId = c.hostnqn + TEXT_BYTES;
  c.bdevs = c.hostId + HOSTID_BYTES;
  c.kaReq = c.bdevs + NVME_NS_MAX * 4;
  c.lossTimeoutSec = lossTimeoutSec;
  c.reconnectDelayUs = <u64>reconnectDelaySec * 1000000;
  c.fastIoFailUs = <u64>fastIoFailSec * 1000000;
  if (!copyText(c.addrText, addrText, TEXT_BYTES) || !copyText(c.subnqn, subnqn, TEXT_BYTES) || !copyText(c.hostnqn, hostnqn, TEXT_BYTES)) {
    heapFree(block);
    requestDone(reqId, -EINVAL, 0);
    return;
  }
  memory.copy(c.hostId, hostId, HOSTID_BYTES);
  const o = changetype<HostQpairOpts>(c.opts);
  o.addrText = c.addrText; o.port = port; o.subnqn = c.subnqn; o.hostnqn = c.hostnqn; o.hostId = c.hostId;
  o.qid = 0; o.cntlid = CNTLID_DYNAMIC; o.entries = 32; o.katoMs = NVME_KATO_MS; o.digests = digests;
  o.connectTimeoutUs = connectTimeoutUs;
  c.host = hostCtrlrNew(c.opts);
  if (c.host == 0) { heapFree(block); requestDone(reqId, -ENOMEM, 0); return; }
  c.state = NC_ATTACHING;
  hostCtrlrStart(c.host, attachDone, block);
}

function attachDone(host: usize, ctx: usize, res: i32): void {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  if (c.state != NC_ATTACHING) { lostOrClosed(c, res); return; }
  if (res != 0) {
    const id = c.reqId;
    hostCtrlrFree(host);
    heapFree(ctx);
    requestDone(id, res, 0);
    return;
  }
  nvmeCtrlrTakeIdentity(c, host);
  c.nsCount = changetype<HostCtrlr>(host).nsCount;
  if (ioDeviceRegister(ctx, nvmeChannelCreate, nvmeChannelDestroy, <u32>offsetof<NvmeChannel>(), "nvme_ctrlr") != 0) {
    report(LEVEL_ERROR, -ENOMEM, "nvme: no memory for controller %d's io_device", 0, 0, <f64>c.cntlid);
    c.state = NC_DETACHING;
    c.failRes = -ENOMEM;
    hostCtrlrClose(host, attachUndone, ctx);
    return;
  }
  c.deviceRegistered = 1;
  hostCtrlrOnLost(host, adminLost, ctx);
  // Keep-alive at half the KATO the Connect asked for (SPDK does the same).
  c.kaPeriodUs = <u64>NVME_KATO_MS * 500;
  c.keepAlive = pollerRegister(keepAlive, ctx, c.kaPeriodUs, "nvme_keep_alive");
  c.resetPoller = pollerRegister(resetTick, ctx, RESET_TICK_US, "nvme_reset");
  atomic.store<u32>(ctx + offsetof<NvmeBdevCtrlr>("state"), NC_READY);
  adminListAdd(c);
  const id = c.reqId;
  c.reqId = 0;
  requestDone(id, 0, <f64>ctx);
}

/** What a (re)connected controller said: its id, limits, queue size; I/O queue ids start again at 1. */
export function nvmeCtrlrTakeIdentity(c: NvmeBdevCtrlr, host: usize): void {
  const h = changetype<HostCtrlr>(host);
  c.cntlid = h.cntlid;
  c.inCapsuleBytes = h.inCapsuleBytes;
  c.maxTransferBytes = h.maxTransferBytes;
  c.ioEntries = min(NVME_IO_QUEUE_ENTRIES, h.queueEntriesMax);
  c.qidMax = 65535;
  atomic.store<u32>(changetype<usize>(c) + offsetof<NvmeBdevCtrlr>("nextQid"), 1);
}

/** A reset's end: the lost callback again on the new admin qpair, and a detach that waited goes now. */
export function nvmeCtrlrResetEnded(c: NvmeBdevCtrlr): void {
  if (c.host != 0) hostCtrlrOnLost(c.host, adminLost, changetype<usize>(c));
  if (c.detachReq != 0) {
    const id = c.detachReq;
    c.detachReq = 0;
    nvmeCtrlrDetach(id, changetype<usize>(c));
  }
}

function attachUndone(host: usize, ctx: usize, res: i32): void {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  const id = c.reqId;
  const rc = c.failRes;
  hostCtrlrFree(host);
  heapFree(ctx);
  requestDone(id, rc, 0);
}

function adminLost(host: usize, ctx: usize, res: i32): void { lostOrClosed(changetype<NvmeBdevCtrlr>(ctx), res); }

/**
 * The admin qpair went by itself (transport failure): reset (reconnect with the policy), or with
 * ctrlr_loss_timeout_sec 0 the controller is gone for good and its I/O fails.
 */
function lostOrClosed(c: NvmeBdevCtrlr, res: i32): void {
  if (c.state != NC_READY) return;
  if (c.lossTimeoutSec != 0) {
    report(LEVEL_ERROR, res, "nvme: controller %d lost its admin queue; reconnecting (I/O is held)", 0, 0, <f64>c.cntlid);
    resetStart(c);
    return;
  }
  report(LEVEL_ERROR, res, "nvme: controller %d lost its admin queue; its bdevs fail I/O until it is detached", 0, 0, <f64>c.cntlid);
  atomic.store<u32>(changetype<usize>(c) + offsetof<NvmeBdevCtrlr>("state"), NC_FAILED);
}

function keepAlive(ctx: usize): i32 {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  if (c.kaBusy != 0 || c.host == 0 || atomic.load<u32>(ctx + offsetof<NvmeBdevCtrlr>("state")) != NC_READY) return POLLER_IDLE;
  const r = changetype<HostReq>(c.kaReq);
  sqeInit(hostReqSqe(c.kaReq), ADMIN_KEEP_ALIVE, 0);
  r.cb = changetype<usize>(keepAliveDone);
  r.ctx = ctx;
  r.iovs = 0; r.iovcnt = 0; r.iovOffset = 0; r.length = 0;
  if (hostQpairSubmit(changetype<HostCtrlr>(c.host).admin, c.kaReq) == 0) c.kaBusy = 1;
  return POLLER_BUSY;
}
function keepAliveDone(req: usize): void {
  const c = changetype<NvmeBdevCtrlr>(changetype<HostReq>(req).ctx);
  c.kaBusy = 0;
  if (changetype<HostReq>(req).status != 0 && c.state == NC_READY) {
    report(LEVEL_ERROR, -5, "nvme: controller %d did not take a keep-alive (status 0x%d)", 0, 0, <f64>c.cntlid, <f64>changetype<HostReq>(req).status);
  }
}

/** Namespaces the controller attached. */
export function nvmeCtrlrNsCount(ctrlr: usize): u32 { return changetype<NvmeBdevCtrlr>(ctrlr).nsCount; }
/** Namespace `i`: 0 nsid, 1 block bytes, 2 blocks, 3 bdev id (0: none yet). */
export function nvmeCtrlrNsInfo(ctrlr: usize, i: u32, which: u32): f64 {
  const c = changetype<NvmeBdevCtrlr>(ctrlr);
  if (i >= c.nsCount) return -1;
  const n = changetype<HostNs>(hostCtrlrNs(c.host, i));
  if (which == 0) return <f64>n.nsid;
  if (which == 1) return <f64>n.blockBytes;
  if (which == 2) return <f64>n.blockCount;
  const b = load<usize>(c.bdevs + (<usize>i << 2));
  return b == 0 ? 0 : <f64>changetype<Bdev>(b).id;
}
export function nvmeCtrlrCntlid(ctrlr: usize): u32 { return changetype<NvmeBdevCtrlr>(ctrlr).cntlid; }
export function nvmeCtrlrId(ctrlr: usize): u32 { return changetype<NvmeBdevCtrlr>(ctrlr).id; }
export function nvmeCtrlrResets(ctrlr: usize): u32 { return changetype<NvmeBdevCtrlr>(ctrlr).resets; }
export function nvmeCtrlrState(ctrlr: usize): u32 { return atomic.load<u32>(ctrlr + offsetof<NvmeBdevCtrlr>("state")); }

/** The bdev of namespace `i`, named `name` (the host's string); its id, or -errno. App thread. */
export function nvmeNsBdevCreate(ctrlr: usize, i: u32, name: usize): i32 {
  const c = changetype<NvmeBdevCtrlr>(ctrlr);
  if (c.state != NC_READY || i >= c.nsCount) return -ENODEV;
  if (load<usize>(c.bdevs + (<usize>i << 2)) != 0) return -EBUSY;
  const h = changetype<HostCtrlr>(c.host);
  const n = changetype<HostNs>(hostCtrlrNs(c.host, i));
  const ctx = heapAllocZeroed(offsetof<NvmeNsBdev>());
  if (ctx == 0) return -ENOMEM;
  const ns = changetype<NvmeNsBdev>(ctx);
  ns.ctrlr = ctrlr; ns.nsid = n.nsid; ns.blockBytes = n.blockBytes; ns.blockCount = n.blockCount;
  const bdev = bdevAlloc(nvmeModule(), name, n.blockBytes, n.blockCount, ctx);
  if (bdev == 0) { heapFree(ctx); return -ENOMEM; }
  const b = changetype<Bdev>(bdev);
  b.ioTypes = (1 << IO_READ) | (1 << IO_WRITE) | (h.vwc != 0 ? 1 << IO_FLUSH : 0)
    | ((h.oncs & ONCS_DSM) != 0 ? 1 << IO_UNMAP : 0) | ((h.oncs & ONCS_WRITE_ZEROES) != 0 ? 1 << IO_WRITE_ZEROES : 0);
  b.writeCache = h.vwc;
  const rc = bdevRegister(bdev);
  if (rc != 0) { heapFree(ctx); heapFree(bdev); return rc; }
  store<usize>(c.bdevs + (<usize>i << 2), bdev);
  c.bdevsLive++;
  return <i32>b.id;
}

/**
 * Detach (app thread): the request ends once every bdev is unregistered, every channel gone, the
 * admin qpair closed and the controller freed. Commands in flight complete once each on the way.
 */
export function nvmeCtrlrDetach(reqId: u32, ctrlr: usize): void {
  const c = changetype<NvmeBdevCtrlr>(ctrlr);
  if (c.state == NC_DETACHING || c.state == NC_ATTACHING || c.detachReq != 0) { requestDone(reqId, -EBUSY, 0); return; }
  if (c.state == NC_RESETTING) { c.detachReq = reqId; return; }    // started when the reset ends
  if (c.resetPoller != 0) pollerUnregister(c.resetPoller);
  c.resetPoller = 0;
  c.reqId = reqId;
  atomic.store<u32>(ctrlr + offsetof<NvmeBdevCtrlr>("state"), NC_DETACHING);
  adminListRemove(c);       // admin requests from other threads find it no more (this is their lookup's thread)
  if (c.keepAlive != 0) pollerUnregister(c.keepAlive);
  c.keepAlive = 0;
  let asked: u32 = 0;
  for (let i: u32 = 0; i < c.nsCount; i++) {
    const b = load<usize>(c.bdevs + (<usize>i << 2));
    if (b == 0) continue;
    if (bdevUnregister(b, bdevGone, ctrlr) == 0) asked++;
    else { store<usize>(c.bdevs + (<usize>i << 2), 0); c.bdevsLive--; }   // already being removed by someone else
  }
  if (asked == 0) bdevsGone(c);
}

function bdevGone(ctx: usize): void {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  assert(c.bdevsLive > 0, "nvme detach: a bdev the controller counted");
  c.bdevsLive--;
  if (c.bdevsLive == 0) bdevsGone(c);
}

function bdevsGone(c: NvmeBdevCtrlr): void {
  for (let i: u32 = 0; i < NVME_NS_MAX; i++) store<usize>(c.bdevs + (<usize>i << 2), 0);
  if (c.deviceRegistered == 0) { closeAdmin(c); return; }
  c.deviceRegistered = 0;
  ioDeviceUnregister(changetype<usize>(c), deviceGone, changetype<usize>(c));
}

function deviceGone(ctx: usize): void { closeAdmin(changetype<NvmeBdevCtrlr>(ctx)); }

function closeAdmin(c: NvmeBdevCtrlr): void {
  if (c.host == 0) { adminClosed(0, changetype<usize>(c), 0); return; }   // a reset that gave up left none
  hostCtrlrClose(c.host, adminClosed, changetype<usize>(c));
}

function adminClosed(host: usize, ctx: usize, res: i32): void {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  const id = c.reqId;
  if (host != 0) hostCtrlrFree(host);
  report(LEVEL_INFO, 0, "nvme: controller %d detached", 0, 0, <f64>c.cntlid);
  heapFree(ctx);
  requestDone(id, 0, 0);
}
