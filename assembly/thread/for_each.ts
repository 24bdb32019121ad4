// for_each_thread and for_each_channel: visit threads one after another by message, then complete on
// the thread that started the walk. The walk keeps a thread id, not a pointer, so threads may come and
// go meanwhile; a visited thread holds a reference (forEachRefs) so it cannot exit under the message.

import { heapAlloc, heapAllocZeroed, heapFree, contextThread, fatal, report, LEVEL_ERROR, EINVAL, ENOMEM, ENOENT } from "../runtime";
import { Thread, IoDevice, MsgFn } from "./types";
import { registryLock, registryUnlock, registryThreadAfterLocked, registryFindDeviceLocked } from "./registry";
import { sendMsg, threadIsExited } from "./thread";
import { threadChannelFor } from "./io_channel";

/** (iterator) => void: called on each thread; must end with forEachChannelContinue(iter, status). */
export type ChannelIterFn = (iter: usize) => void;
/** (iterator, status) => void: called once on the starting thread. */
export type ChannelIterDoneFn = (iter: usize, status: i32) => void;

@unmanaged class Walk {
  fn: usize;
  ctx: usize;
  done: usize;
  origin: usize;        // thread that started the walk and gets the completion
  lastId: u32;          // id of the thread visited last
  current: usize;       // thread being visited (holds a forEachRefs reference)
  device: usize;        // IoDevice for a channel walk, 0 for a thread walk
  key: usize;
  status: i32;
}

function initWalk(w: Walk, fn: usize, ctx: usize, done: usize, device: usize, key: usize): void {
  const origin = contextThread();
  if (origin == 0) fatal(-EINVAL, "for_each called outside a lightweight thread");
  memory.fill(changetype<usize>(w), 0, offsetof<Walk>());
  w.fn = fn; w.ctx = ctx; w.done = done; w.origin = origin; w.device = device; w.key = key;
}

/**
 * Next thread to visit after w.lastId (one with a channel for the device, for a channel walk), with a
 * reference taken under the registry lock; 0 at the end.
 */
function nextStop(w: Walk): usize {
  registryLock();
  let t = registryThreadAfterLocked(w.lastId);
  while (t != 0 && (threadIsExited(t) || (w.device != 0 && threadChannelFor(t, w.key) == 0))) {
    t = registryThreadAfterLocked(changetype<Thread>(t).id);
  }
  if (t != 0) {
    w.lastId = changetype<Thread>(t).id;
    atomic.add<u32>(t + offsetof<Thread>("forEachRefs"), 1);
  }
  registryUnlock();
  return t;
}

function releaseStop(w: Walk): void {
  if (w.current != 0) atomic.sub<u32>(w.current + offsetof<Thread>("forEachRefs"), 1);
  w.current = 0;
}

/** Move to the next thread, or complete. Sends cannot fail, so a walk ends early only by a visit's status. */
function advance(w: Walk): void {
  releaseStop(w);
  if (w.status == 0) {
    const t = nextStop(w);
    if (t != 0) {
      w.current = t;
      sendMsg(t, visitMsg, changetype<usize>(w));
      return;
    }
  }
  sendMsg(w.origin, completeMsg, changetype<usize>(w));
}

function visitMsg(walk: usize): void {
  const w = changetype<Walk>(walk);
  if (w.device == 0) {
    changetype<MsgFn>(w.fn)(w.ctx);
    advance(w);
  } else if (threadChannelFor(w.current, w.key) == 0) {
    advance(w);                              // the channel went away after we chose this thread
  } else {
    changetype<ChannelIterFn>(w.fn)(walk);   // continues with forEachChannelContinue
  }
}

function completeMsg(walk: usize): void {
  const w = changetype<Walk>(walk);
  if (w.device == 0) {
    changetype<MsgFn>(w.done)(w.ctx);
  } else {
    registryLock();
    changetype<IoDevice>(w.device).forEachCount--;
    registryUnlock();
    changetype<ChannelIterDoneFn>(w.done)(walk, w.status);
  }
  heapFree(walk);
}

/**
 * fn(ctx) on every thread that has not exited when its turn comes, one at a time, then done(ctx) on
 * this thread. Everything the walk needs is allocated here: -ENOMEM (nothing visited) is the only
 * failure, and once started a thread walk always visits every thread (it has no early end).
 */
export function forEachThread(fn: MsgFn, ctx: usize, done: MsgFn): i32 {
  const walk = threadWalkAlloc();
  if (walk == 0) return -ENOMEM;
  forEachThreadWith(walk, fn, ctx, done);
  return 0;
}

/**
 * A thread walk's memory, taken ahead by an operation that will walk at a step where it can no longer
 * fail (after a durable change, say). 0 if out of memory. Give it to forEachThreadWith or threadWalkFree.
 */
export function threadWalkAlloc(): usize { return heapAllocZeroed(offsetof<Walk>()); }

/** Free a walk taken with threadWalkAlloc and never started. */
export function threadWalkFree(walk: usize): void { heapFree(walk); }

/** forEachThread on a walk taken ahead: cannot fail. The walk frees itself when done(ctx) has run. */
export function forEachThreadWith(walk: usize, fn: MsgFn, ctx: usize, done: MsgFn): void {
  assert(walk != 0, "forEachThreadWith: no walk");
  const w = changetype<Walk>(walk);
  initWalk(w, changetype<usize>(fn), ctx, changetype<usize>(done), 0, 0);
  advance(w);
}

/** fn(iter) on every thread holding a channel for `key`, then done(iter, status) on this thread. */
export function forEachChannel(key: usize, fn: ChannelIterFn, ctx: usize, done: ChannelIterDoneFn): i32 {
  registryLock();
  const dev = registryFindDeviceLocked(key);
  if (dev != 0) changetype<IoDevice>(dev).forEachCount++;
  registryUnlock();
  if (dev == 0) {
    report(LEVEL_ERROR, -ENOENT, "for_each_channel: io_device %d is not registered", 0, 0, <f64>key);
    return -ENOENT;
  }
  const w = changetype<Walk>(heapAlloc(offsetof<Walk>()));
  if (changetype<usize>(w) == 0) {
    registryLock();
    changetype<IoDevice>(dev).forEachCount--;
    registryUnlock();
    return -ENOMEM;
  }
  initWalk(w, changetype<usize>(fn), ctx, changetype<usize>(done), dev, key);
  advance(w);
  return 0;
}

/** Called by the per-channel function when it is done; a non-zero status ends the walk early. */
export function forEachChannelContinue(iter: usize, status: i32): void {
  const w = changetype<Walk>(iter);
  if (status != 0) w.status = status;
  advance(w);
}

export function forEachChannelCtx(iter: usize): usize { return changetype<Walk>(iter).ctx; }
export function forEachChannelIoChannel(iter: usize): usize {
  const w = changetype<Walk>(iter);
  return threadChannelFor(w.current, w.key);
}
