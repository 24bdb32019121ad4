// The NVM I/O command set over a namespace's bdev (SPDK's ctrlr_bdev.c): Read, Write, Flush, Write
// Zeroes and Dataset Management (deallocate = unmap). Every field is checked before any bdev I/O; each
// request ends exactly once through nvmfReqComplete with the bdev's outcome as an NVMe status. A submit
// the bdev layer refuses for want of a bdev_io waits in the channel's line (bdev io-wait) and goes again;
// it never fails for that.
//
// FUA: a write with FUA on a bdev with a volatile write cache (Bdev.writeCache) is followed by a flush
// before it completes, so the data is durable when the host hears of it; on other bdevs a completed
// write is already durable and FUA needs nothing (as SPDK, which passes FUA to no bdev). A read's FUA
// needs nothing either: every bdev here reads the latest data, cached or not.

import { contextThread, report, LEVEL_ERROR, ENOMEM, ENOTSUP } from "../runtime";
import {
  Bdev, bdevSubmitBlocks, bdevFlush, bdevFreeIo, bdevIoStatus, bdevQueueIoWait,
  IO_READ, IO_WRITE, IO_UNMAP, IO_WRITE_ZEROES, IO_FLUSH, IO_ABORTED, IO_MAX_IOVS,
} from "../bdev";
import { NvmfReq } from "./transport";
import {
  sqeOpcode, sqeCdw, OPC_READ, OPC_WRITE, OPC_FLUSH, OPC_WRITE_ZEROES, OPC_DATASET_MANAGEMENT,
  STATUS_SUCCESS, STATUS_INVALID_OPCODE, STATUS_INVALID_NAMESPACE, STATUS_LBA_OUT_OF_RANGE,
  STATUS_DATA_SGL_LENGTH_INVALID, STATUS_INTERNAL_DEVICE_ERROR, STATUS_ABORTED_BY_REQUEST,
} from "./spec";
import { nvmfReqComplete } from "./complete";
import { NvmfNs, nsLbaRangeOk } from "./ns";
import { NsChannel, nsChannelGet, nsChannelWaitEntry, nsIoBegin, nsIoEnd } from "./ns-channels";
import {
  reqIoStart, reqChannel, reqWaitNext, reqSetWaitNext, reqDsmNext, reqSetDsmNext, reqDsmInflight, reqSetDsmInflight,
  reqFlushPhase, reqSetFlushPhase, reqFail, reqFailed, DSM_INFLIGHT_MAX,
} from "./io-req";
import { dsmCheck, dsmRangeCount, dsmRangeSlba, dsmRangeNlb, DSM_AD } from "./io-dsm";

const FUA_BIT: u32 = 1 << 30;             // CDW12 of Read and Write

function slbaOf(sqe: usize): u64 { return <u64>sqeCdw(sqe, 11) << 32 | <u64>sqeCdw(sqe, 10); }
/** CDW12 bits 0-15, 0's based. */
function nlbOf(sqe: usize): u64 { return <u64>(sqeCdw(sqe, 12) & 0xffff) + 1; }

function supports(ns: NvmfNs, type: u32): bool { return (changetype<Bdev>(ns.bdev).ioTypes & (1 << type)) != 0; }

/**
 * The status a command gets without any bdev I/O, or STATUS_SUCCESS when it goes to the bdev. A
 * Dataset Management without the deallocate attribute answers -1: success with nothing to do.
 */
function check(r: NvmfReq, ns: NvmfNs): i32 {
  const sqe = r.sqe;
  switch (sqeOpcode(sqe)) {
    case OPC_READ:
    case OPC_WRITE: {
      const nlb = nlbOf(sqe);
      if (!nsLbaRangeOk(ns, slbaOf(sqe), nlb)) return STATUS_LBA_OUT_OF_RANGE;
      if (nlb * <u64>ns.blockSize != <u64>r.length) return STATUS_DATA_SGL_LENGTH_INVALID;
      if (r.iovcnt == 0 || r.iovcnt > IO_MAX_IOVS) {
        report(LEVEL_ERROR, -22, "nvmf I/O: the transport gave %d data buffers; the bdev layer takes 1 to %d", 0, 0, <f64>r.iovcnt, <f64>IO_MAX_IOVS);
        return STATUS_INTERNAL_DEVICE_ERROR;
      }
      return STATUS_SUCCESS;
    }
    case OPC_FLUSH:
      return STATUS_SUCCESS;
    case OPC_WRITE_ZEROES:
      if (!supports(ns, IO_WRITE_ZEROES)) return STATUS_INVALID_OPCODE;
      return nsLbaRangeOk(ns, slbaOf(sqe), nlbOf(sqe)) ? STATUS_SUCCESS : STATUS_LBA_OUT_OF_RANGE;
    case OPC_DATASET_MANAGEMENT:
      if ((sqeCdw(sqe, 11) & DSM_AD) == 0) return -1;
      if (!supports(ns, IO_UNMAP)) return STATUS_INVALID_OPCODE;
      return dsmCheck(r, ns);
    default:
      return STATUS_INVALID_OPCODE;
  }
}

/**
 * Run I/O command `req` of namespace `ns` (0: none with that NSID) on the qpair's thread. The caller
 * counted it in its qpair's outstanding requests; it ends exactly once through nvmfReqComplete.
 */
export function nvmfIoExec(req: usize, nsPtr: usize): void {
  const r = changetype<NvmfReq>(req);
  if (nsPtr == 0 || atomic.load<u32>(nsPtr + offsetof<NvmfNs>("closing")) != 0) {
    nvmfReqComplete(req, STATUS_INVALID_NAMESPACE, 0);
    return;
  }
  const ns = changetype<NvmfNs>(nsPtr);
  const verdict = check(r, ns);
  if (verdict != STATUS_SUCCESS) {
    nvmfReqComplete(req, verdict < 0 ? STATUS_SUCCESS : <u32>verdict, 0);
    return;
  }
  // Flush on a bdev that has nothing to flush: done (SPDK answers success; the controller reports a
  // volatile write cache only where flush means something).
  if (sqeOpcode(r.sqe) == OPC_FLUSH && !supports(ns, IO_FLUSH)) { nvmfReqComplete(req, STATUS_SUCCESS, 0); return; }
  const ch = nsChannelGet(ns);
  if (changetype<usize>(ch) == 0) {
    const closing = atomic.load<u32>(nsPtr + offsetof<NvmfNs>("closing")) != 0;
    nvmfReqComplete(req, closing ? STATUS_INVALID_NAMESPACE : STATUS_INTERNAL_DEVICE_ERROR, 0);
    return;
  }
  nsIoBegin(ch);
  reqIoStart(r, ch);
  if (!kick(r)) park(r);
}

// ---- submitting ----

/** Submit the request's next bdev I/O (one of its ranges, for DSM): 0 or the submit's -errno. */
function submitNext(r: NvmfReq, ch: NsChannel): i32 {
  const ns = changetype<NvmfNs>(ch.ns);
  const sqe = r.sqe;
  const opc = sqeOpcode(sqe);
  const req = changetype<usize>(r);
  if (opc == OPC_FLUSH || reqFlushPhase(r)) return bdevFlush(ns.desc, ch.bdevChannel, bdevDone, req);
  if (opc == OPC_READ || opc == OPC_WRITE) {
    return bdevSubmitBlocks(ns.desc, ch.bdevChannel, opc == OPC_READ ? IO_READ : IO_WRITE, r.iovs, r.iovcnt,
      slbaOf(sqe), nlbOf(sqe), bdevDone, req);
  }
  if (opc == OPC_WRITE_ZEROES) return bdevSubmitBlocks(ns.desc, ch.bdevChannel, IO_WRITE_ZEROES, 0, 0, slbaOf(sqe), nlbOf(sqe), bdevDone, req);
  assert(opc == OPC_DATASET_MANAGEMENT, "nvmf I/O: submitNext of an opcode check() refused");
  const i = reqDsmNext(r);
  return bdevSubmitBlocks(ns.desc, ch.bdevChannel, IO_UNMAP, 0, 0, dsmRangeSlba(r, i), <u64>dsmRangeNlb(r, i), bdevDone, req);
}

function submitStatus(rc: i32): u32 { return rc == -ENOTSUP ? STATUS_INVALID_OPCODE : STATUS_INTERNAL_DEVICE_ERROR; }

/**
 * Move the request on: submit what it needs next, or complete it when nothing is left. False when it
 * must wait for a bdev_io and has nothing of its own in flight to resume it (the caller parks it).
 */
function kick(r: NvmfReq): bool {
  if (sqeOpcode(r.sqe) == OPC_DATASET_MANAGEMENT) return kickDsm(r);
  const rc = submitNext(r, reqChannel(r));
  if (rc == 0) return true;
  if (rc == -ENOMEM) return false;
  finish(r, submitStatus(rc));
  return true;
}

/** Unmap the next ranges, DSM_INFLIGHT_MAX at a time; complete once all are done or one failed. */
function kickDsm(r: NvmfReq): bool {
  const count = dsmRangeCount(r);
  let next = reqDsmNext(r);
  let inflight = reqDsmInflight(r);
  while (reqFailed(r) == 0 && next < count && inflight < DSM_INFLIGHT_MAX) {
    if (dsmRangeNlb(r, next) == 0) { next++; reqSetDsmNext(r, next); continue; }   // an empty range asks nothing
    const rc = submitNext(r, reqChannel(r));
    if (rc == -ENOMEM) {
      if (inflight == 0) return false;
      break;                                     // one of ours completing resumes it
    }
    if (rc != 0) { reqFail(r, submitStatus(rc)); break; }
    next++; inflight++;
    reqSetDsmNext(r, next);
    reqSetDsmInflight(r, inflight);
  }
  if (inflight == 0 && (next == count || reqFailed(r) != 0)) finish(r, reqFailed(r));
  return true;
}

function finish(r: NvmfReq, status: u32): void {
  const ch = reqChannel(r);
  nvmfReqComplete(changetype<usize>(r), status, 0);
  nsIoEnd(ch);
}

function completionStatus(bdevStatus: i32): u32 {
  return bdevStatus == IO_ABORTED ? STATUS_ABORTED_BY_REQUEST : STATUS_INTERNAL_DEVICE_ERROR;
}

function bdevDone(io: usize, success: bool, req: usize): void {
  const r = changetype<NvmfReq>(req);
  const status = success ? STATUS_SUCCESS : completionStatus(bdevIoStatus(io));
  bdevFreeIo(io);
  assert(reqChannel(r).thread == contextThread(), "nvmf I/O completed off its channel's thread");
  const opc = sqeOpcode(r.sqe);
  if (opc == OPC_DATASET_MANAGEMENT) {
    reqSetDsmInflight(r, reqDsmInflight(r) - 1);
    if (status != STATUS_SUCCESS) reqFail(r, status);
    if (!kickDsm(r)) park(r);
    return;
  }
  const ns = changetype<NvmfNs>(reqChannel(r).ns);
  if (status == STATUS_SUCCESS && opc == OPC_WRITE && !reqFlushPhase(r) && (sqeCdw(r.sqe, 12) & FUA_BIT) != 0 &&
      changetype<Bdev>(ns.bdev).writeCache != 0 && supports(ns, IO_FLUSH)) {
    reqSetFlushPhase(r);
    if (!kick(r)) park(r);
    return;
  }
  finish(r, status);
}

// ---- the channel's line of requests waiting for a bdev_io ----

/** The request could not get a bdev_io: it waits, in order, behind those already waiting. */
function park(r: NvmfReq): void {
  const ch = reqChannel(r);
  reqSetWaitNext(r, 0);
  const req = changetype<usize>(r);
  if (ch.waitTail == 0) ch.waitHead = req; else reqSetWaitNext(changetype<NvmfReq>(ch.waitTail), req);
  ch.waitTail = req;
  queueWait(ch);
}

/** Ask the bdev layer to call back when a bdev_io is freed; a line that cannot wait fails its head. */
function queueWait(ch: NsChannel): void {
  if (ch.waitQueued != 0) return;                 // queued already (a park nested in waitWake's loop)
  while (ch.waitHead != 0) {
    if (bdevQueueIoWait(ch.bdevChannel, nsChannelWaitEntry(ch), waitWake, changetype<usize>(ch)) == 0) {
      ch.waitQueued = 1;
      return;
    }
    // The pool is not empty: the -ENOMEM was memory no free bdev_io brings back (a bounce copy that can
    // never fit). Waiting would never end.
    report(LEVEL_ERROR, -ENOMEM, "nvmf I/O: the bdev refused a request for memory it can never have", 0, 0);
    finish(takeHead(ch), STATUS_INTERNAL_DEVICE_ERROR);
  }
}

function takeHead(ch: NsChannel): NvmfReq {
  const r = changetype<NvmfReq>(ch.waitHead);
  ch.waitHead = reqWaitNext(r);
  if (ch.waitHead == 0) ch.waitTail = 0;
  reqSetWaitNext(r, 0);
  return r;
}

/** A bdev_io was freed on this channel (or the bdev is going): the oldest waiting go again, in order. */
function waitWake(chPtr: usize): void {
  const ch = changetype<NsChannel>(chPtr);
  ch.waitQueued = 0;
  // Bounded: each turn takes a request out of the line or stops; none is added meanwhile but by park.
  while (ch.waitHead != 0) {
    const r = changetype<NvmfReq>(ch.waitHead);
    if (!kickFromLine(r)) { queueWait(ch); return; }
  }
}

/** kick() for the line's head: out of the line first, back at its head if it still has to wait. */
function kickFromLine(r: NvmfReq): bool {
  const ch = reqChannel(r);
  takeHead(ch);
  if (kick(r)) return true;
  reqSetWaitNext(r, ch.waitHead);
  ch.waitHead = changetype<usize>(r);
  if (ch.waitTail == 0) ch.waitTail = changetype<usize>(r);
  return false;
}
