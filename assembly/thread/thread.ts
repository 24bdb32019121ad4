// Lightweight threads (SPDK's spdk_thread): a message ring plus pollers, polled by exactly one reactor
// at a time. Cross-thread work goes only through sendMsg. Teardown follows SPDK's order:
// put_io_channel -> threadExit -> (thread becomes exited) -> threadDestroy -> io_device_unregister.

import {
  heapAllocZeroed, heapFree, heapArenaId, ringCreate, ringDestroy, ringPost, ringPostBatch, ringDequeue, ringOverflowTotal, ringOutA, ringOutB, ringCount,
  contextSwitchTo, contextThread, spinCheckOffCpu, fatal, report, LEVEL_ERROR, LEVEL_WARN,
  EINVAL, EIO, EPERM, EBUSY,
} from "../runtime";
import { Thread, MsgFn, THREAD_RUNNING, THREAD_EXITING, THREAD_EXITED, NO_REACTOR } from "./types";
import { registryAddThread, registryRemoveThread, registryLock, registryUnlock } from "./registry";
import { runActivePollers, runTimedPollers, livePollerCount, reportLivePollers, freeAllPollers } from "./poller";
import { channelCount, reportLiveChannels, detachAllChannels } from "./io_channel";
import { cachedNowUs } from "./clock";
import { currentReactorId, reactorWake } from "./reactor";

/** Messages handled per poll before pollers get their turn (SPDK: SPDK_MSG_BATCH_SIZE). */
export const MSG_BATCH: u32 = 8;
/** Default message ring size per thread. */
export const DEFAULT_RING_SIZE: u32 = 4096;
/** SPDK's exit timeout: a thread still holding pollers or channels is forced out after this. */
export const DEFAULT_EXIT_TIMEOUT_US: u64 = 5_000_000;

/**
 * A new thread owned by reactor `owner` (or NO_REACTOR for the test harness), with a ring of
 * `ringSize` messages. Returns 0 when out of memory. The caller hands it to its reactor (reactor.ts).
 */
export function threadAlloc(name: string, owner: i32, ringSize: u32): usize {
  const t = changetype<Thread>(heapAllocZeroed(offsetof<Thread>()));
  if (changetype<usize>(t) == 0) return 0;
  t.ring = ringCreate(ringSize);
  if (t.ring == 0) { heapFree(changetype<usize>(t)); return 0; }
  t.name = changetype<usize>(name);
  t.owner = owner;
  t.moveTarget = NO_REACTOR;
  t.state = THREAD_RUNNING;
  t.exitTimeoutUs = DEFAULT_EXIT_TIMEOUT_US;
  registryAddThread(t);
  return changetype<usize>(t);
}

/** The thread running on this instance right now, or 0. */
export function threadGet(): usize { return contextThread(); }

/**
 * A send to an exited thread is a bug of the sender's (SPDK's send_msg fails it with "thread is marked
 * as exited"; here its memory may already be reused): stop with the thread's name.
 */
function checkSendable(thread: usize): void {
  // Thread 0 is a pointer read before whoever owns it set it: a post there would land among the fixed
  // control blocks at the bottom of memory and be lost (a stall, later a corrupted allocator).
  if (thread == 0) fatal(-EINVAL, "send_msg: no thread (a thread pointer read as 0: read before it was set?)");
  if (atomic.load<u32>(thread + offsetof<Thread>("state")) == THREAD_EXITED) {
    fatal(-EIO, "send_msg: thread %s is marked as exited (a message to it would be lost)", changetype<Thread>(thread).name);
  }
}

/** Wake the reactor that owns the thread, if it sleeps. Read after the enqueue (see reactor.ts). */
function wakeOwner(thread: usize): void {
  const owner = atomic.load<i32>(thread + offsetof<Thread>("owner"));
  if (owner != NO_REACTOR) reactorWake(owner);
}

/**
 * Queue fn(ctx) on `thread`. Delivery cannot fail: a full ring overflows in order (runtime/ring.ts), so
 * no caller needs a fallback. The thread must not have exited.
 */
export function sendMsg(thread: usize, fn: MsgFn, ctx: usize): void {
  checkSendable(thread);
  ringPost(changetype<Thread>(thread).ring, <u32>changetype<usize>(fn), <u32>ctx);
  wakeOwner(thread);
}

/**
 * Queue fn(ctxs[i]) for i < n on `thread`, in order, with one claim of its ring when they fit. Cheaper
 * than n sendMsg calls when a producer has a burst for one thread (completions, for instance).
 */
export function sendMsgs(thread: usize, fn: MsgFn, ctxs: usize, n: u32): void {
  checkSendable(thread);
  ringPostBatch(changetype<Thread>(thread).ring, <u32>changetype<usize>(fn), ctxs, n);
  wakeOwner(thread);
}

/**
 * One timeslice: up to maxMsgs messages, then every period-0 poller, then the due timed pollers.
 * Returns the amount of work done (0 = idle) or a negative errno if this instance may not poll it.
 */
export function threadPoll(thread: usize, maxMsgs: u32, nowUs: u64): i32 {
  const t = changetype<Thread>(thread);
  const me = currentReactorId();
  const owner = atomic.load<i32>(thread + offsetof<Thread>("owner"));
  if (owner != me) {
    report(LEVEL_ERROR, -EPERM,
      "thread %s belongs to another reactor: reactor %d may not poll it (send it a message instead; owner is reactor %d)",
      t.name, 0, <f64>me, <f64>owner);
    return -EPERM;
  }
  const claim = <i32>heapArenaId() + 1;
  if (atomic.cmpxchg<i32>(thread + offsetof<Thread>("pollingBy"), 0, claim) != 0) {
    report(LEVEL_ERROR, -EBUSY, "thread %s is being polled elsewhere: one poller at a time", t.name);
    return -EBUSY;
  }
  const outer = contextThread();
  if (outer != 0) fatal(-EINVAL, "threadPoll(%s) called from inside thread %s", t.name, changetype<Thread>(outer).name);
  contextSwitchTo(thread, t.name, t.id);

  let work: i32 = 0;
  // Only what was queued before this poll: a message a handler sends to its own thread runs next
  // timeslice (after a requested move, for instance), as with SPDK's batch dequeue.
  const batch = min(maxMsgs == 0 ? MSG_BATCH : maxMsgs, ringCount(t.ring));
  for (let i: u32 = 0; i < batch; i++) {
    if (!ringDequeue(t.ring)) break;
    changetype<MsgFn>(<usize>ringOutA)(<usize>ringOutB);
    work++;
  }
  t.msgCount += <u64>work;
  spinCheckOffCpu();
  work += runActivePollers(t);
  work += runTimedPollers(t, nowUs);
  if (t.state == THREAD_EXITING) checkExit(t, nowUs);

  if (work > 0) t.busyCount++; else t.idleCount++;
  contextSwitchTo(0, 0, 0);
  atomic.store<i32>(thread + offsetof<Thread>("pollingBy"), 0);
  return work;
}

/** Start the exit of the current thread; it becomes exited once its pollers and channels are gone. */
export function threadExit(): i32 {
  const thread = contextThread();
  if (thread == 0) fatal(-EINVAL, "threadExit called outside a lightweight thread");
  const t = changetype<Thread>(thread);
  if (t.state != THREAD_RUNNING) {
    report(LEVEL_WARN, -EINVAL, "thread %s is already exiting", t.name);
    return -EINVAL;
  }
  // The loop's clock, the one threadPoll compares with: a fresh sample could be ahead of it.
  t.exitStartUs = cachedNowUs();
  atomic.store<u32>(thread + offsetof<Thread>("state"), THREAD_EXITING);
  return 0;
}

function checkExit(t: Thread, nowUs: u64): void {
  const busy = livePollerCount(t) != 0 || channelCount(t) != 0 || ringCount(t.ring) != 0 || t.pendingUnregisters != 0
    || atomic.load<u32>(changetype<usize>(t) + offsetof<Thread>("forEachRefs")) != 0;
  const waitedUs = nowUs > t.exitStartUs ? nowUs - t.exitStartUs : 0;
  if (busy && waitedUs < t.exitTimeoutUs) return;
  if (busy) {
    report(LEVEL_ERROR, -EBUSY, "thread %s got timeout, and move it to the exited state forcefully", t.name);
    reportLivePollers(t, LEVEL_ERROR);
    reportLiveChannels(t, LEVEL_ERROR);
    if (t.pendingUnregisters != 0) report(LEVEL_ERROR, -EBUSY, "thread %s exits with %d io_device unregisters not done", t.name, 0, <f64>t.pendingUnregisters);
  }
  // A for_each walk takes its reference under the registry lock and skips exited threads, so the
  // last look at the references and the state change happen under it too: no walk can choose this
  // thread after the look and then message it once it has exited. A walk's visit is one message away,
  // so even a forced exit waits for it.
  registryLock();
  const walked = atomic.load<u32>(changetype<usize>(t) + offsetof<Thread>("forEachRefs")) != 0;
  if (!walked) atomic.store<u32>(changetype<usize>(t) + offsetof<Thread>("state"), THREAD_EXITED);
  registryUnlock();
}

/**
 * Free an exited thread. Pollers and channels still attached are reported by name (SPDK's thread_free);
 * pollers are freed, channels are left allocated and detached: destroying them would run device
 * callbacks outside any thread, and their devices would then wrongly look free to unregister.
 */
export function threadDestroy(thread: usize): i32 {
  const t = changetype<Thread>(thread);
  if (t.state != THREAD_EXITED) {
    report(LEVEL_ERROR, -EBUSY, "thread %s destroyed before it exited (call threadExit and poll it first)", t.name);
    return -EBUSY;
  }
  if (atomic.load<i32>(thread + offsetof<Thread>("pollingBy")) != 0) {
    fatal(-EBUSY, "thread %s destroyed while being polled", t.name);
  }
  reportLivePollers(t, LEVEL_ERROR);
  reportLiveChannels(t, LEVEL_ERROR);
  freeAllPollers(t);
  detachAllChannels(t);
  registryRemoveThread(t);
  ringDestroy(t.ring);
  heapFree(thread);
  return 0;
}

export function threadIsExited(thread: usize): bool {
  return atomic.load<u32>(thread + offsetof<Thread>("state")) == THREAD_EXITED;
}

/** Messages that ever went through the ring's overflow (statistics, tests). */
export function threadOverflowTotal(thread: usize): u32 { return ringOverflowTotal(changetype<Thread>(thread).ring); }

/** Messages waiting in the thread's ring (for the reactor's sleep decision). */
export function threadPending(thread: usize): u32 { return ringCount(changetype<Thread>(thread).ring); }

/**
 * Ask the owner reactor to hand the current thread to `target` after this timeslice (the scheduler's
 * primitive). Only the thread itself may ask, so nobody else races with its owner field.
 */
export function threadRequestMove(target: i32): i32 {
  const thread = contextThread();
  if (thread == 0) return -EINVAL;
  changetype<Thread>(thread).moveTarget = target;
  return 0;
}

export function threadSetExitTimeout(thread: usize, us: u64): void { changetype<Thread>(thread).exitTimeoutUs = us; }
export function threadId(thread: usize): u32 { return changetype<Thread>(thread).id; }
export function threadOwner(thread: usize): i32 { return atomic.load<i32>(thread + offsetof<Thread>("owner")); }
export function threadSetOwner(thread: usize, owner: i32): void { atomic.store<i32>(thread + offsetof<Thread>("owner"), owner); }
export function threadState(thread: usize): u32 { return atomic.load<u32>(thread + offsetof<Thread>("state")); }

