// Queue workers: a controller's rings are served on every reactor, one lightweight thread per reactor
// with its own channel on the bdev. A ring is attached to its worker (by message) when it starts and
// detached when it stops; only the worker then touches the ring's avail and used sides and its
// requests, which complete on the worker's thread. The controller's thread keeps the socket and the
// messages, and learns by message that a ring is detached (its I/O drained) before it answers
// GET_VRING_BASE or lets a session go: nothing waits on any reactor.

import { heapAllocZeroed, heapFree, report, LEVEL_ERROR, ENOMEM } from "../runtime";
import { threadCreateOn, sendMsg, pollerRegister, pollerUnregister, threadExit, getIoChannel, putIoChannel, POLLER_BUSY, POLLER_IDLE } from "../thread";
import { BlkTarget, blkTargetNew, blkTargetFree, blkProcess } from "./blk";
import { Vring, vringSignal } from "./vring";

/** Rings one worker may serve (the session's queue limit). */
const MAX_RINGS: u32 = 8;
/** Keeps a sleeping reactor looking at its rings (a guest's new request wakes nothing else). */
const KEEPALIVE_US: u64 = 250;

@unmanaged export class QueueWorker {
  thread: usize;
  reactor: i32;
  busyPoller: usize;
  keepalive: usize;
  target: usize;         // BlkTarget: this worker's channel; desc, bdev, id as the controller's
  rings: usize;          // MAX_RINGS Vring pointers
  count: u32;
  detaching: u32;        // rings asked to detach, waiting for their I/O
  ctrlrThread: usize;
}

@unmanaged class RingMsg { worker: usize; ring: usize; mem: usize; done: usize; doneCtx: usize; }

/** (ctx) on the controller's thread once the worker stopped serving the ring. */
export type DetachedFn = (ctx: usize) => void;

function ringAt(w: QueueWorker, i: u32): Vring { return changetype<Vring>(load<usize>(w.rings + (<usize>i << 2))); }

function poll(ctx: usize): i32 {
  const w = changetype<QueueWorker>(ctx);
  const t = changetype<BlkTarget>(w.target);
  let n: u32 = 0, inflight: u32 = 0;
  for (let i: u32 = 0; i < w.count; i++) {
    const v = ringAt(w, i);
    n += blkProcess(t, v);
    vringSignal(v);
    inflight += v.inflight;
  }
  if (w.detaching != 0) finishDetaches(w);
  return n > 0 || inflight > 0 ? POLLER_BUSY : POLLER_IDLE;
}

// Rings being detached stay in the list (their completions still signal) until their I/O drained.
@unmanaged class Pending { msg: usize; next: usize; }
let pendingHead: usize = 0;                    // per instance: this reactor's workers' pending detaches

function finishDetaches(w: QueueWorker): void {
  let prev: usize = 0;
  for (let p = pendingHead; p != 0;) {
    const next = changetype<Pending>(p).next;
    const m = changetype<RingMsg>(changetype<Pending>(p).msg);
    const v = changetype<Vring>(m.ring);
    if (m.worker == changetype<usize>(w) && v.inflight == 0) {
      vringSignal(v);
      removeRing(w, v);
      w.detaching--;
      if (prev == 0) pendingHead = next; else changetype<Pending>(prev).next = next;
      heapFree(p);
      if (sendMsg(w.ctrlrThread, changetype<DetachedFn>(m.done), m.doneCtx) != 0) report(LEVEL_ERROR, -ENOMEM, "vhost: a ring's detach could not be reported");
      heapFree(changetype<usize>(m));
    } else {
      prev = p;
    }
    p = next;
  }
}

function removeRing(w: QueueWorker, v: Vring): void {
  for (let i: u32 = 0; i < w.count; i++) {
    if (changetype<usize>(ringAt(w, i)) == changetype<usize>(v)) {
      w.count--;
      store<usize>(w.rings + (<usize>i << 2), load<usize>(w.rings + (<usize>w.count << 2)));
      return;
    }
  }
}

function attachOnWorker(msg: usize): void {
  const m = changetype<RingMsg>(msg);
  const w = changetype<QueueWorker>(m.worker);
  changetype<BlkTarget>(w.target).mem = m.mem;
  assert(w.count < MAX_RINGS);
  store<usize>(w.rings + (<usize>w.count << 2), m.ring);
  w.count++;
  heapFree(msg);
}

function detachOnWorker(msg: usize): void {
  const m = changetype<RingMsg>(msg);
  const w = changetype<QueueWorker>(m.worker);
  const p = changetype<Pending>(heapAllocZeroed(offsetof<Pending>()));
  assert(changetype<usize>(p) != 0);
  p.msg = msg;
  p.next = pendingHead;
  pendingHead = changetype<usize>(p);
  w.detaching++;
  finishDetaches(w);
}

function post(w: QueueWorker, fn: (msg: usize) => void, ring: Vring, mem: usize, done: DetachedFn | null, doneCtx: usize): i32 {
  const m = changetype<RingMsg>(heapAllocZeroed(offsetof<RingMsg>()));
  if (changetype<usize>(m) == 0) return -ENOMEM;
  m.worker = changetype<usize>(w);
  m.ring = changetype<usize>(ring);
  m.mem = mem;
  m.done = done == null ? 0 : changetype<usize>(done);
  m.doneCtx = doneCtx;
  const rc = sendMsg(w.thread, fn, changetype<usize>(m));
  if (rc != 0) heapFree(changetype<usize>(m));
  return rc;
}

/** Serve `ring` (of a session whose memory is `mem`) on worker `w` from its next poll. */
export function workerAttach(w: QueueWorker, ring: Vring, mem: usize): i32 { return post(w, attachOnWorker, ring, mem, null, 0); }

/** Stop serving `ring`; `done(ctx)` runs on the controller's thread once its I/O drained. */
export function workerDetach(w: QueueWorker, ring: Vring, done: DetachedFn, ctx: usize): i32 {
  return post(w, detachOnWorker, ring, 0, done, ctx);
}

// ---- life ----

function startOnWorker(ctx: usize): void {
  const w = changetype<QueueWorker>(ctx);
  const t = changetype<BlkTarget>(w.target);
  t.channel = getIoChannel(t.bdev);
  w.busyPoller = pollerRegister(poll, ctx, 0, "vhost_queue");
  w.keepalive = pollerRegister(poll, ctx, KEEPALIVE_US, "vhost_queue_keepalive");
  // Without a channel every request fails with IOERR (blk.ts checks) and this says why, once.
  if (t.channel == 0) report(LEVEL_ERROR, -ENOMEM, "vhost: a queue worker has no channel on its bdev; its rings' requests will fail");
}

/** A worker on `reactor` serving requests to `like`'s bdev through the same descriptor (its own channel, made on its thread). */
export function workerCreate(reactor: i32, like: BlkTarget, ctrlrThread: usize): QueueWorker {
  const w = changetype<QueueWorker>(heapAllocZeroed(offsetof<QueueWorker>()));
  if (changetype<usize>(w) == 0) return w;
  const t = blkTargetNew();
  w.rings = heapAllocZeroed(<usize>MAX_RINGS << 2);
  if (changetype<usize>(t) == 0 || w.rings == 0) { if (changetype<usize>(t) != 0) blkTargetFree(t); heapFree(w.rings); heapFree(changetype<usize>(w)); return changetype<QueueWorker>(0); }
  t.bdev = like.bdev;
  t.desc = like.desc;
  t.readOnly = like.readOnly;
  memory.copy(t.id, like.id, 20);
  w.target = changetype<usize>(t);
  w.reactor = reactor;
  w.ctrlrThread = ctrlrThread;
  w.thread = threadCreateOn(reactor, "vhost_queue");
  if (w.thread == 0 || sendMsg(w.thread, startOnWorker, changetype<usize>(w)) != 0) {
    blkTargetFree(t); heapFree(w.rings); heapFree(changetype<usize>(w));
    return changetype<QueueWorker>(0);
  }
  return w;
}

function stopOnWorker(ctx: usize): void {
  const w = changetype<QueueWorker>(ctx);
  assert(w.count == 0);
  pollerUnregister(w.busyPoller);
  pollerUnregister(w.keepalive);
  const t = changetype<BlkTarget>(w.target);
  if (t.channel != 0) putIoChannel(t.channel);
  blkTargetFree(t);
  heapFree(w.rings);
  heapFree(ctx);
  threadExit();
}

/** End a worker with no rings attached (the controller is going). */
export function workerStop(w: QueueWorker): void {
  if (sendMsg(w.thread, stopOnWorker, changetype<usize>(w)) != 0) report(LEVEL_ERROR, -ENOMEM, "vhost: a queue worker could not be stopped");
}

/** The worker's request counters (for vhost_get_controllers). */
export function workerTarget(w: QueueWorker): BlkTarget { return changetype<BlkTarget>(w.target); }
