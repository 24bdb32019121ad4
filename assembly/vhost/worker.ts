// Queue workers: a controller's rings are served on every reactor, one lightweight thread per reactor
// with its own channel on the bdev. A ring is attached to its worker (by message) when it starts and
// detached when it stops; only the worker then touches the ring's avail and used sides and its
// requests, which complete on the worker's thread. The controller's thread keeps the socket and the
// messages, and learns by message that a ring is detached (its I/O drained) before it answers
// GET_VRING_BASE or lets a session go: nothing waits on any reactor.
//
// A busy ring is polled (the guest is told not to kick). On a reactor that sleeps in the kernel, a
// ring that found nothing for a while asks the guest to kick again and its kick fd is watched, so the
// reactor may sleep: the next chain's kick, or a completion of the I/O it started, wakes it. On a
// reactor that sleeps on its doorbell a keepalive poller looks at the rings every KEEPALIVE_US.

import { heapAllocZeroed, heapFree, report, LEVEL_ERROR, LEVEL_WARN, ENOMEM, host_fd_watch, host_fd_unwatch } from "../runtime";
import {
  threadCreateOn, sendMsg, pollerRegister, pollerUnregister, threadExit, getIoChannel, putIoChannel, POLLER_BUSY, POLLER_IDLE,
  reactorSleepsInKernel, reactorIdleSpinUs, cachedNowUs,
} from "../thread";
import { BlkTarget, blkTargetNew, blkTargetFree, blkProcess, blkSignal } from "./blk";
import { Vring, vringReady, vringEnableKicks, vringSuppressKicks } from "./vring";

/** Rings one worker may serve (the session's queue limit). */
const MAX_RINGS: u32 = 8;
/** Keeps a reactor that sleeps on its doorbell looking at its rings (a kick does not ring it). */
const KEEPALIVE_US: u64 = 250;
/**
 * A ring that took nothing for this long asks the guest to kick: half the reactor's idle spin, so
 * every ring has asked (and looked once more) before the reactor decides to sleep.
 */
function kicksAfterIdleUs(): u64 { return <u64>(reactorIdleSpinUs() >> 1); }

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
  dropMsg: usize;        // RingMsg of a channel drop waiting for this worker's bdev I/O (the bdev went)
}

@unmanaged class RingMsg { worker: usize; ring: usize; mem: usize; done: usize; doneCtx: usize; next: usize; }

/** (ctx) on the controller's thread once the worker stopped serving the ring. */
export type DetachedFn = (ctx: usize) => void;

function ringAt(w: QueueWorker, i: u32): Vring { return changetype<Vring>(load<usize>(w.rings + (<usize>i << 2))); }

/**
 * On a reactor that sleeps in the kernel: a ring that took chains is polled (kicks off); one idle for
 * kicksAfterIdleUs() asks for kicks, which counts as work so the next loop looks at it once more.
 */
function kickPolicy(v: Vring, took: u32): u32 {
  if (v.kickWatch < 0) return 0;
  const now = cachedNowUs();
  if (took > 0) {
    v.lastWorkUs = now;
    if (v.kicksOn != 0) { vringSuppressKicks(v); v.kicksOn = 0; }
    return 0;
  }
  if (v.kicksOn != 0 || now - v.lastWorkUs < kicksAfterIdleUs() || !vringReady(v)) return 0;
  vringEnableKicks(v);
  v.kicksOn = 1;
  return 1;
}

function poll(ctx: usize): i32 {
  const w = changetype<QueueWorker>(ctx);
  const t = changetype<BlkTarget>(w.target);
  let n: u32 = 0, inflight: u32 = 0, held: u32 = 0;
  for (let i: u32 = 0; i < w.count; i++) {
    const v = ringAt(w, i);
    const took = blkProcess(t, v);
    n += took + kickPolicy(v, took);
    blkSignal(t, v);
    held += v.signalPending;
    inflight += v.inflight;
  }
  if (w.detaching != 0) finishDetaches(w);
  if (w.dropMsg != 0) finishDrop(w);
  if (n > 0 || held > 0) return POLLER_BUSY;        // a coalesced interrupt waits for its time
  // I/O in flight: its completion ends a kernel sleep, but does not ring a doorbell.
  return inflight > 0 && w.keepalive != 0 ? POLLER_BUSY : POLLER_IDLE;
}

/** Let the ring's kicks wake this reactor; without a watch the worker falls back to its keepalive. */
function watchKicks(w: QueueWorker, v: Vring): void {
  v.kicksOn = 0;
  v.lastWorkUs = cachedNowUs();
  if (w.keepalive != 0) return;
  const id = v.kickFd >= 0 ? host_fd_watch(v.kickFd) : -1;
  if (id >= 0) { v.kickWatch = id; return; }
  report(LEVEL_WARN, id, "vhost: vring %d's kick fd cannot wake its reactor; its worker polls every %d us instead", 0, 0, <f64>v.index, <f64>KEEPALIVE_US);
  w.keepalive = pollerRegister(poll, changetype<usize>(w), KEEPALIVE_US, "vhost_queue_keepalive");
}

function unwatchKicks(v: Vring): void {
  if (v.kickWatch < 0) return;
  host_fd_unwatch(v.kickWatch);
  v.kickWatch = -1;
  // Polled again from its next start: the guest need not kick meanwhile.
  if (v.kicksOn != 0) { vringSuppressKicks(v); v.kicksOn = 0; }
}

// Rings being detached stay in the list (their completions still signal) until their I/O drained.
// The list links the detach messages themselves: nothing is allocated on the way out.
let pendingHead: usize = 0;                    // per instance: this reactor's workers' pending detaches (RingMsg)

function finishDetaches(w: QueueWorker): void {
  let prev: usize = 0;
  for (let p = pendingHead; p != 0;) {
    const m = changetype<RingMsg>(p);
    const next = m.next;
    const v = changetype<Vring>(m.ring);
    if (m.worker == changetype<usize>(w) && v.inflight == 0) {
      blkSignal(changetype<BlkTarget>(w.target), v);
      unwatchKicks(v);
      removeRing(w, v);
      w.detaching--;
      if (prev == 0) pendingHead = next; else changetype<RingMsg>(prev).next = next;
      sendMsg(w.ctrlrThread, changetype<DetachedFn>(m.done), m.doneCtx);
      heapFree(p);
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
  watchKicks(w, changetype<Vring>(m.ring));
  heapFree(msg);
}

function detachOnWorker(msg: usize): void {
  const m = changetype<RingMsg>(msg);
  const w = changetype<QueueWorker>(m.worker);
  m.next = pendingHead;
  pendingHead = msg;
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
  sendMsg(w.thread, fn, changetype<usize>(m));
  return 0;
}

// ---- the bdev went (hot remove) ----

function dropOnWorker(msg: usize): void {
  const w = changetype<QueueWorker>(changetype<RingMsg>(msg).worker);
  assert(w.dropMsg == 0, "a second channel drop for one worker");
  changetype<BlkTarget>(w.target).desc = 0;        // from now on every request fails at once (blk.ts)
  w.dropMsg = msg;
  finishDrop(w);
}

/** Once none of this worker's requests is with the bdev any more, give the channel back and say so. */
function finishDrop(w: QueueWorker): void {
  const t = changetype<BlkTarget>(w.target);
  if (t.onBdev != 0) return;
  if (t.channel != 0) putIoChannel(t.channel);
  t.channel = 0;
  const m = changetype<RingMsg>(w.dropMsg);
  w.dropMsg = 0;
  sendMsg(w.ctrlrThread, changetype<DetachedFn>(m.done), m.doneCtx);
  heapFree(changetype<usize>(m));
}

/**
 * The bdev is being removed: `w` fails new requests at once, and once the ones it handed to the bdev
 * completed (the bdev fails them) it releases its channel; then `done(ctx)` runs on the controller's thread.
 */
export function workerDropChannel(w: QueueWorker, done: DetachedFn, ctx: usize): i32 {
  return post(w, dropOnWorker, changetype<Vring>(0), 0, done, ctx);
}

/** Serve `ring` (of a session whose memory is `mem`) on worker `w` from its next poll. */
/**
 * Hand `ring` to the worker. Its detach message is taken now too, so workerDetach cannot fail later
 * (a ring that could not be let go would keep its session forever). -ENOMEM, nothing changed.
 */
export function workerAttach(w: QueueWorker, ring: Vring, mem: usize): i32 {
  assert(ring.detachMsg == 0, "a ring attached twice");
  const d = changetype<RingMsg>(heapAllocZeroed(offsetof<RingMsg>()));
  if (changetype<usize>(d) == 0) return -ENOMEM;
  const rc = post(w, attachOnWorker, ring, mem, null, 0);
  if (rc != 0) { heapFree(changetype<usize>(d)); return rc; }
  d.worker = changetype<usize>(w);
  d.ring = changetype<usize>(ring);
  ring.detachMsg = changetype<usize>(d);
  return 0;
}

/** Stop serving `ring`; `done(ctx)` runs on the controller's thread once its I/O drained. Cannot fail. */
export function workerDetach(w: QueueWorker, ring: Vring, done: DetachedFn, ctx: usize): void {
  const d = changetype<RingMsg>(ring.detachMsg);
  assert(changetype<usize>(d) != 0 && d.worker == changetype<usize>(w), "a detach of a ring this worker was not given");
  ring.detachMsg = 0;
  d.done = changetype<usize>(done);
  d.doneCtx = ctx;
  sendMsg(w.thread, detachOnWorker, changetype<usize>(d));
}

// ---- life ----

function startOnWorker(ctx: usize): void {
  const w = changetype<QueueWorker>(ctx);
  const t = changetype<BlkTarget>(w.target);
  t.channel = getIoChannel(t.bdev);
  w.busyPoller = pollerRegister(poll, ctx, 0, "vhost_queue");
  if (!reactorSleepsInKernel()) w.keepalive = pollerRegister(poll, ctx, KEEPALIVE_US, "vhost_queue_keepalive");
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
  t.name = like.name;
  t.refusedLog = like.refusedLog;
  t.droppedLog = like.droppedLog;
  memory.copy(t.id, like.id, 20);
  w.target = changetype<usize>(t);
  w.reactor = reactor;
  w.ctrlrThread = ctrlrThread;
  w.thread = threadCreateOn(reactor, "vhost_queue");
  if (w.thread == 0) {
    blkTargetFree(t); heapFree(w.rings); heapFree(changetype<usize>(w));
    return changetype<QueueWorker>(0);
  }
  sendMsg(w.thread, startOnWorker, changetype<usize>(w));
  return w;
}

function stopOnWorker(ctx: usize): void {
  const w = changetype<QueueWorker>(ctx);
  assert(w.count == 0);
  assert(w.dropMsg == 0, "a worker stopped with its channel drop unanswered");
  pollerUnregister(w.busyPoller);
  if (w.keepalive != 0) pollerUnregister(w.keepalive);
  const t = changetype<BlkTarget>(w.target);
  if (t.channel != 0) putIoChannel(t.channel);
  blkTargetFree(t);
  heapFree(w.rings);
  heapFree(ctx);
  threadExit();
}

/** End a worker with no rings attached (the controller is going). */
export function workerStop(w: QueueWorker): void {
  sendMsg(w.thread, stopOnWorker, changetype<usize>(w));
}

/** The worker's request counters (for vhost_get_controllers). */
export function workerTarget(w: QueueWorker): BlkTarget { return changetype<BlkTarget>(w.target); }
