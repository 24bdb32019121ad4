// A thread's socket channel: ops go on a pending list, each poll stages them as descriptors of the
// reactor's io_uring with one submit, and completions (reaped by any poller of the reactor) come back
// to the channel of the thread that submitted them, whose poller runs their callbacks. A result of
// -EAGAIN (the fallback's nonblocking sockets) is retried, never handed out.

import { heapAllocZeroed, heapFree, host_uring_submit, report, LEVEL_ERROR, EAGAIN, ECANCELED, ENOENT, EIO } from "../runtime";
import { pollerRegister, pollerUnregister, POLLER_BUSY, POLLER_IDLE, reactorSleepsInKernel } from "../thread";
import { ringReap, ringHandlerSet, ringUserData, RING_TAG_SOCK } from "../uring";
import * as wire from "../bdev/uring/wire";
import { SockOp, SockChannel, STAGE_SLOTS, OP_IDLE, OP_PENDING, OP_KERNEL, OP_DONE, OP_WAITING } from "./types";

/** Ops one channel may walk in a list: well past anything a thread holds (two per connection). */
const LIST_MAX: u32 = 1 << 20;

export function channelCreate(_key: usize, ctx: usize): i32 {
  const ch = changetype<SockChannel>(ctx);
  ch.descs = heapAllocZeroed(<usize>STAGE_SLOTS * wire.DESC_BYTES);
  ch.cqes = heapAllocZeroed(<usize>STAGE_SLOTS * wire.CQE_BYTES);
  ch.stagedOps = heapAllocZeroed(<usize>STAGE_SLOTS * sizeof<usize>());
  ringHandlerSet(RING_TAG_SOCK, opReaped);
  ch.poller = pollerRegister(channelPoll, ctx, 0, "sock");
  if (ch.descs == 0 || ch.cqes == 0 || ch.stagedOps == 0 || ch.poller == 0) {
    heapFree(ch.descs); heapFree(ch.cqes); heapFree(ch.stagedOps);
    if (ch.poller != 0) pollerUnregister(ch.poller);
    return -12;
  }
  return 0;
}

export function channelDestroy(_key: usize, ctx: usize): void {
  const ch = changetype<SockChannel>(ctx);
  // Every op holds caller memory: a channel released with ops alive is its user's bug, and their
  // completions would reach freed memory. Say so; the reap handler trips on them if they come.
  if (ch.pending != 0 || ch.inKernel != 0 || ch.done != 0) {
    report(LEVEL_ERROR, -EIO, "sock: channel released with %d ops in the ring and others pending", 0, 0, <f64>ch.inKernel);
  }
  pollerUnregister(ch.poller);
  heapFree(ch.descs);
  heapFree(ch.cqes);
  heapFree(ch.stagedOps);
}

/** Queue `op` (its kind, fd, buf and len set) on `ch`; it goes to the ring at the channel's next poll. */
export function opSubmit(ch: SockChannel, opPtr: usize): void {
  const op = changetype<SockOp>(opPtr);
  assert(op.state == OP_IDLE, "a SockOp is submitted again before its callback ran");
  op.channel = changetype<usize>(ch);
  op.res = 0;
  if (op.kind == wire.OP_CANCEL_FD) {
    // What has not reached the ring yet never will: it ends here, before the cancel.
    sweepPending(ch, op.fd);
    op.cancelNext = ch.cancels;
    ch.cancels = opPtr;
  }
  pendingAppend(ch, opPtr);
}

function pendingAppend(ch: SockChannel, opPtr: usize): void {
  const op = changetype<SockOp>(opPtr);
  op.state = OP_PENDING;
  op.next = 0;
  if (ch.pendingTail == 0) ch.pending = opPtr; else changetype<SockOp>(ch.pendingTail).next = opPtr;
  ch.pendingTail = opPtr;
}

function doneAppend(ch: SockChannel, opPtr: usize, res: i32): void {
  const op = changetype<SockOp>(opPtr);
  op.res = res;
  op.state = OP_DONE;
  op.next = 0;
  if (ch.doneTail == 0) ch.done = opPtr; else changetype<SockOp>(ch.doneTail).next = opPtr;
  ch.doneTail = opPtr;
}

/** Pending ops of `fd` (but cancels) end as -ECANCELED. */
function sweepPending(ch: SockChannel, fd: i32): void {
  let at = ch.pending;
  ch.pending = 0;
  ch.pendingTail = 0;
  for (let n: u32 = 0; at != 0; n++) {
    assert(n < LIST_MAX);
    const next = changetype<SockOp>(at).next;
    if (changetype<SockOp>(at).fd == fd && changetype<SockOp>(at).kind != wire.OP_CANCEL_FD) doneAppend(ch, at, -ECANCELED);
    else pendingAppend(ch, at);
    at = next;
  }
}

function stage(ch: SockChannel, slot: u32, opPtr: usize): void {
  const op = changetype<SockOp>(opPtr);
  const d = ch.descs + <usize>slot * wire.DESC_BYTES;
  memory.fill(d, 0, wire.DESC_BYTES);
  store<u8>(d + wire.DESC_OP_OFF, op.kind);
  store<i32>(d + wire.DESC_FD_OFF, op.fd);
  if (op.kind == wire.OP_RECV || op.kind == wire.OP_CONNECT) {
    store<u32>(d + wire.DESC_BUF_OFF, <u32>op.buf);
    store<u32>(d + wire.DESC_LEN_OFF, op.len);
  } else if (op.kind == wire.OP_SENDMSG) {
    store<u32>(d + wire.DESC_BUF_OFF, <u32>op.buf);
    store<u16>(d + wire.DESC_IOVCNT_OFF, <u16>op.len);
  }
  store<u32>(d + wire.DESC_USER_OFF, ringUserData(opPtr, RING_TAG_SOCK));
  store<usize>(ch.stagedOps + <usize>slot * sizeof<usize>(), opPtr);
}

/** Everything pending to the ring, STAGE_SLOTS at a time, until the ring takes no more. Returns how many went. */
function submitPending(ch: SockChannel): i32 {
  let sent = 0;
  for (let round: u32 = 0; ch.pending != 0 && round < LIST_MAX / STAGE_SLOTS; round++) {
    let staged: u32 = 0;
    while (ch.pending != 0 && staged < STAGE_SLOTS) {
      const op = ch.pending;
      ch.pending = changetype<SockOp>(op).next;
      if (ch.pending == 0) ch.pendingTail = 0;
      stage(ch, staged++, op);
    }
    const accepted = host_uring_submit(ch.descs, staged, <u32>memory.size());
    if (accepted < 0) {
      // No ring on this instance at all: every op fails rather than waits forever.
      report(LEVEL_ERROR, accepted, "sock: io_uring submit failed on this reactor; failing %d socket ops", 0, 0, <f64>staged);
      for (let i: u32 = 0; i < staged; i++) doneAppend(ch, stagedAt(ch, i), accepted);
      return sent;
    }
    for (let i: u32 = 0; i < <u32>accepted; i++) kernelAdd(ch, stagedAt(ch, i));
    sent += accepted;
    if (<u32>accepted < staged) {
      // The ring is full: what it did not take goes back to the front of pending, in order.
      let i = staged;
      while (i > <u32>accepted) {
        i--;
        const op = stagedAt(ch, i);
        changetype<SockOp>(op).state = OP_PENDING;
        changetype<SockOp>(op).next = ch.pending;
        if (ch.pending == 0) ch.pendingTail = op;
        ch.pending = op;
      }
      return sent;
    }
  }
  return sent;
}

function stagedAt(ch: SockChannel, i: u32): usize { return load<usize>(ch.stagedOps + <usize>i * sizeof<usize>()); }

function kernelAdd(ch: SockChannel, opPtr: usize): void {
  const op = changetype<SockOp>(opPtr);
  op.state = OP_KERNEL;
  op.prev = 0;
  op.next = ch.kernel;
  if (ch.kernel != 0) changetype<SockOp>(ch.kernel).prev = opPtr;
  ch.kernel = opPtr;
  ch.inKernel++;
}

function kernelRemove(ch: SockChannel, opPtr: usize): void {
  const op = changetype<SockOp>(opPtr);
  assert(op.state == OP_KERNEL && ch.inKernel > 0, "a socket completion for an op not in the ring");
  if (op.prev != 0) changetype<SockOp>(op.prev).next = op.next; else ch.kernel = op.next;
  if (op.next != 0) changetype<SockOp>(op.next).prev = op.prev;
  op.next = 0;
  op.prev = 0;
  ch.inKernel--;
}

/** Whether an op of `fd` other than cancels is still in the ring. */
function fdInKernel(ch: SockChannel, fd: i32): bool {
  let at = ch.kernel;
  for (let n: u32 = 0; at != 0; n++) {
    assert(n < LIST_MAX);
    const op = changetype<SockOp>(at);
    if (op.fd == fd && op.kind != wire.OP_CANCEL_FD) return true;
    at = op.next;
  }
  return false;
}

/** Whether a cancel of `fd` has been submitted and not yet called back. */
function fdCancelling(ch: SockChannel, fd: i32): bool {
  let at = ch.cancels;
  for (let n: u32 = 0; at != 0; n++) {
    assert(n < LIST_MAX);
    if (changetype<SockOp>(at).fd == fd) return true;
    at = changetype<SockOp>(at).cancelNext;
  }
  return false;
}

/** A cancel leaves the cancel set and is called back (0: whatever the kernel counted). */
function cancelFinish(ch: SockChannel, opPtr: usize): void {
  let link = changetype<usize>(ch) + offsetof<SockChannel>("cancels");
  for (let n: u32 = 0; load<usize>(link) != opPtr; n++) {
    assert(n < LIST_MAX && load<usize>(link) != 0, "a cancel missing from its channel's set");
    link = load<usize>(link) + offsetof<SockOp>("cancelNext");
  }
  store<usize>(link, changetype<SockOp>(opPtr).cancelNext);
  changetype<SockOp>(opPtr).cancelNext = 0;
  doneAppend(ch, opPtr, 0);
}

/** Cancels of `fd` that waited for its ops: called back once none is left in the ring. */
function releaseWaitingCancels(ch: SockChannel, fd: i32): void {
  if (fdInKernel(ch, fd)) return;
  let at = ch.cancels;
  for (let n: u32 = 0; at != 0; n++) {
    assert(n < LIST_MAX);
    const next = changetype<SockOp>(at).cancelNext;
    if (changetype<SockOp>(at).fd == fd && changetype<SockOp>(at).state == OP_WAITING) cancelFinish(ch, at);
    at = next;
  }
}

/** The ring's handler for RING_TAG_SOCK, on whichever thread of the reactor reaped it. */
function opReaped(opPtr: usize, res: i32): void {
  const op = changetype<SockOp>(opPtr);
  const ch = changetype<SockChannel>(op.channel);
  kernelRemove(ch, opPtr);
  if (op.kind == wire.OP_CANCEL_FD) {
    if (res < 0 && res != -ENOENT) report(LEVEL_ERROR, res, "sock: cancelling the ops of fd %d failed", 0, 0, <f64>op.fd);
    // The kernel may post the cancel's completion before those of the ops it cancelled.
    if (fdInKernel(ch, op.fd)) op.state = OP_WAITING; else cancelFinish(ch, opPtr);
    return;
  }
  if (res == -EAGAIN) {
    // Only the fallback's nonblocking calls say this: try again at the next poll, unless cancelled.
    if (fdCancelling(ch, op.fd)) doneAppend(ch, opPtr, -ECANCELED); else pendingAppend(ch, opPtr);
  } else {
    doneAppend(ch, opPtr, res);
  }
  if (ch.cancels != 0) releaseWaitingCancels(ch, op.fd);
}

/** Run the callbacks that are due. Returns how many ran. */
function runDone(ch: SockChannel): i32 {
  let at = ch.done;
  ch.done = 0;
  ch.doneTail = 0;
  let n = 0;
  while (at != 0) {
    const op = changetype<SockOp>(at);
    const next = op.next;
    op.state = OP_IDLE;
    op.next = 0;
    changetype<(op: usize) => void>(op.cb)(at);      // may submit again (the op, or others)
    at = next;
    n++;
  }
  return n;
}

function channelPoll(ctx: usize): i32 {
  const ch = changetype<SockChannel>(ctx);
  let work = 0;
  if (ch.inKernel > 0) work += ringReap(ch.cqes, STAGE_SLOTS);
  work += runDone(ch);
  // After the callbacks, so what they submitted goes out in this poll.
  if (ch.pending != 0) work += submitPending(ch);
  // An op waiting in the kernel keeps the reactor polling only if it sleeps on its doorbell, which a
  // completion does not ring; a sleep in the ring ends when a completion is posted.
  const waiting = ch.inKernel > 0 && !reactorSleepsInKernel();
  return work > 0 || waiting || ch.pending != 0 || ch.done != 0 ? POLLER_BUSY : POLLER_IDLE;
}
