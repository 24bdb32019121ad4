// A host qpair's command table: a CID per slot, requests that find no free slot waiting in order
// (io-wait, bounded by the callers' own requests), each request's SGL set for in-capsule or R2T data,
// and the one place a request completes, so each completes exactly once.

import {
  SGL_TYPE_DATA_BLOCK, SGL_SUBTYPE_OFFSET, SGL_TYPE_TRANSPORT_DATA_BLOCK, SGL_SUBTYPE_TRANSPORT, XFER_HOST_TO_CTRLR,
  XFER_CTRLR_TO_HOST, XFER_NONE, STATUS_ABORTED_SQ_DELETION, sqeSetCid, sqeDptr, sglSet,
} from "../spec";
import { EINVAL, ENXIO } from "../../runtime";
import { sqeXfer } from "../fabrics";
import { cachedNowUs, threadGet } from "../../thread";
import { HostQpair, HostCmd, HostReq, HOST_CMD_BYTES, HOST_REQ_IOV_MAX, QP_READY, QP_FABRIC_CONNECT, SEND_CAPSULE, SEND_NONE, hostReqSqe } from "./types";
import { sendQueue } from "./send";

/** Link every slot into the free list (at creation). */
export function cmdTableInit(q: HostQpair, table: usize, slots: u32): void {
  q.cmds = table;
  q.slots = slots;
  q.freeHead = 0;
  for (let i = <i32>slots - 1; i >= 0; i--) {
    const c = changetype<HostCmd>(table + <usize>i * HOST_CMD_BYTES);
    c.cid = <u32>i;
    c.hdr = changetype<usize>(c) + (offsetof<HostCmd>() + 7 & ~7);
    c.next = q.freeHead;
    q.freeHead = changetype<usize>(c);
  }
}

/** The slot of `cid` when a command holds it, else 0 (a PDU naming a CID not in flight). */
export function cmdInFlight(q: HostQpair, cid: u32): usize {
  if (cid >= q.slots) return 0;
  const c = q.cmds + <usize>cid * HOST_CMD_BYTES;
  return changetype<HostCmd>(c).req != 0 ? c : 0;
}

/**
 * Take `req` (its SQE filled but for CID and SGL): 0, and cb(req) runs exactly once later; or -errno
 * and it never will (-ENXIO: the qpair is not connected; -EINVAL: its data does not fit a command).
 * A full table queues it until a slot frees.
 */
export function hostQpairSubmit(qpair: usize, req: usize): i32 {
  const q = changetype<HostQpair>(qpair);
  const r = changetype<HostReq>(req);
  assert(threadGet() == q.thread, "hostQpairSubmit: a qpair takes commands only on its owner thread (send a message to it)");
  if (q.state != QP_READY && !(q.state == QP_FABRIC_CONNECT && req == q.connectReq)) return -ENXIO;
  if (r.iovcnt > HOST_REQ_IOV_MAX || (r.length > 0 && r.iovcnt == 0)) return -EINVAL;
  const xfer = sqeXfer(hostReqSqe(req));
  if (xfer == 3 || (xfer == XFER_NONE && r.length != 0)) return -EINVAL;
  r.next = 0;
  r.submitUs = cachedNowUs();
  if (q.freeHead == 0) {
    if (q.waitTail != 0) changetype<HostReq>(q.waitTail).next = req; else q.waitHead = req;
    q.waitTail = req;
    q.waiting++;
    return 0;
  }
  start(q, req);
  return 0;
}


function start(q: HostQpair, req: usize): void {
  const r = changetype<HostReq>(req);
  assert(q.freeHead != 0, "start: a free slot");
  const c = changetype<HostCmd>(q.freeHead);
  q.freeHead = c.next;
  q.inFlight++;
  assert(q.inFlight <= q.slots, "more commands in flight than slots");
  const sqe = hostReqSqe(req);
  c.req = req;
  c.xfer = sqeXfer(sqe);
  c.dataDone = 0;
  c.r2tEnd = 0;
  c.h2cAt = 0;
  c.respHeld = 0;
  c.inSend = 0;
  sqeSetCid(sqe, <u16>c.cid);
  const toCtrlr = c.xfer == XFER_HOST_TO_CTRLR && r.length > 0;
  c.inCapsule = toCtrlr && r.length <= q.inCapsuleMax ? r.length : 0;
  if (r.length == 0) sglSet(sqeDptr(sqe), 0, 0, SGL_TYPE_DATA_BLOCK, SGL_SUBTYPE_OFFSET);
  else if (c.inCapsule > 0) sglSet(sqeDptr(sqe), 0, r.length, SGL_TYPE_DATA_BLOCK, SGL_SUBTYPE_OFFSET);
  else sglSet(sqeDptr(sqe), 0, r.length, SGL_TYPE_TRANSPORT_DATA_BLOCK, SGL_SUBTYPE_TRANSPORT);
  if (c.inCapsule > 0) c.dataDone = r.length;   // every byte is going: an R2T for it is out of range
  assert(c.xfer != XFER_CTRLR_TO_HOST || c.inCapsule == 0, "a read carries no data in its capsule");
  c.sendWhat = SEND_CAPSULE;
  c.pduAt = 0;
  c.pduBytes = c.inCapsule;
  sendQueue(q, c);
}

/**
 * The command in `cmd` is over (status, dw0, dw1): free its slot, start the oldest waiting request in
 * it, then call the request back. Held while its PDU is still being sent (the kernel has its buffers).
 */
export function cmdComplete(q: HostQpair, cmd: usize, st: u32, dw0: u32, dw1: u32): void {
  const c = changetype<HostCmd>(cmd);
  assert(c.req != 0, "cmdComplete: a command in flight");
  if (c.inSend != 0) {
    c.respHeld = 1;
    c.respStatus = st;
    c.respDw0 = dw0;
    c.respDw1 = dw1;
    c.sendWhat = SEND_NONE;
    return;
  }
  const req = c.req;
  c.req = 0;
  c.sendWhat = SEND_NONE;
  c.next = q.freeHead;
  q.freeHead = cmd;
  assert(q.inFlight > 0, "cmdComplete: the in-flight count holds this command");
  q.inFlight--;
  if (q.waitHead != 0 && q.state == QP_READY) {
    const w = q.waitHead;
    q.waitHead = changetype<HostReq>(w).next;
    if (q.waitHead == 0) q.waitTail = 0;
    q.waiting--;
    start(q, w);
  }
  reqDone(req, st, dw0, dw1);
}

/** A held completion, now that the command's send is over. */
export function cmdReleaseHeld(q: HostQpair, cmd: usize): void {
  const c = changetype<HostCmd>(cmd);
  if (c.respHeld == 0 || c.req == 0) return;
  c.respHeld = 0;
  cmdComplete(q, cmd, c.respStatus, c.respDw0, c.respDw1);
}

function reqDone(req: usize, st: u32, dw0: u32, dw1: u32): void {
  const r = changetype<HostReq>(req);
  r.status = st;
  r.dw0 = dw0;
  r.dw1 = dw1;
  changetype<(req: usize) => void>(r.cb)(req);
}

/**
 * The qpair is dead and nothing of the kernel's points into it: every command in flight, then every
 * waiting request, completes once as aborted (SQ deletion).
 */
export function cmdAbortAll(q: HostQpair): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < q.slots; i++) {
    const c = changetype<HostCmd>(q.cmds + <usize>i * HOST_CMD_BYTES);
    c.inSend = 0;
    c.respHeld = 0;
    if (c.req != 0) { cmdComplete(q, changetype<usize>(c), STATUS_ABORTED_SQ_DELETION, 0, 0); n++; }
  }
  const waiting = q.waiting;
  for (let guard: u32 = 0; q.waitHead != 0; guard++) {
    assert(guard < waiting, "cmdAbortAll: the wait list is as long as its count");
    const w = q.waitHead;
    q.waitHead = changetype<HostReq>(w).next;
    q.waiting--;
    reqDone(w, STATUS_ABORTED_SQ_DELETION, 0, 0);
    n++;
  }
  q.waitTail = 0;
  assert(q.inFlight == 0 && q.waiting == 0, "cmdAbortAll: nothing left in flight");
  return n;
}
