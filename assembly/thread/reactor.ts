// Reactors: one per worker thread (Wasm instance). A reactor owns a list of lightweight threads and
// polls only those; other instances reach it through its event ring and its doorbell. When nothing is
// busy it spins for a bounded time, then sleeps with a finite timeout. Where the host can (Node with
// the addon), it sleeps in the kernel, inside its own io_uring: a completion of its I/O, a watched
// eventfd (vhost kicks) or its wake eventfd ends the sleep, so I/O in flight needs no spinning
// reactor. Elsewhere it sleeps on the doorbell (Atomics.wait), checking every wait's result (Node 20's
// Liftoff can lose a wake-up of a wait whose result is ignored).

import {
  REACTOR_TABLE, MAX_REACTORS, heapAllocZeroed, ringCreate, ringPost, ringDequeue, ringCapacityValid, ringOutA, ringOutB, ringCount,
  fatal, report, LEVEL_ERROR, EINVAL, ENOMEM, ERANGE, host_reactor_wait, host_reactor_wake, host_fd_watch,
  hostBellRingIfOwed,
} from "../runtime";
import { Thread, MsgFn, NO_REACTOR, THREAD_RUNNING } from "./types";
import { threadPoll, threadAlloc, threadDestroy, threadIsExited, threadPending, sendMsg, threadExit, DEFAULT_RING_SIZE } from "./thread";
import { nextTimedDeadline } from "./poller";
import { clockTick } from "./clock";
import { registrySetReactorCount, registryReactorCount, registryMsgRingSize, registrySetMsgRingSize } from "./registry";

// As in Thread: what other instances read on every send (sleeping, events) is kept off the lines the
// reactor writes on every loop (its statistics).
@unmanaged export class Reactor {
  // -- read by senders --
  id: u32;
  doorbell: i32;          // atomic: bumped and notified to wake a sleeping reactor
  sleeping: i32;          // atomic: 1 while the reactor may be inside wait
  stopRequested: i32;     // atomic
  events: usize;          // MPSC ring of (fn, ctx) run outside any thread
  wakeFd: i32;            // atomic: the eventfd its kernel sleep watches, -1 while it sleeps on the doorbell
  wakeSent: i32;          // atomic: 1 once a sender wrote wakeFd for this sleep (one syscall per sleep)
  _pad0: u64; _pad1: u64; _pad2: u64; _pad3: u64; _pad4: u64; _pad5: u64; _pad6: u64; _pad7: u64;
  _pad8: u64;
  // -- written by the reactor itself --
  threads: usize;         // owned threads (Thread.nextLocal), touched only by this reactor
  threadCount: u32;
  idleSpinUs: u32;        // bounded spin before sleeping
  maxSleepUs: u32;        // cap on one wait, so a lost wake costs at most this much latency
  loops: u64;
  busyLoops: u64;
  sleeps: u64;
  wakesNotified: u64;     // wait returned "ok" (notified)
  wakesNotEqual: u64;     // the doorbell moved before we slept
  wakesTimedOut: u64;
  busyUs: u64;
  idleUs: u64;
}

export const REACTOR_EVENT_RING_SIZE: u32 = 1024;
export const DEFAULT_IDLE_SPIN_US: u32 = 100;
export const DEFAULT_MAX_SLEEP_US: u32 = 10_000;

/** The reactor this instance runs, or NO_REACTOR (host control instance, test harness). */
let myReactorId: i32 = NO_REACTOR;

export function currentReactorId(): i32 { return myReactorId; }
/** Test harness: act as reactor `id` (threads owned by other ids are then refused). */
export function reactorSetCurrent(id: i32): void { myReactorId = id; }

function reactorAt(id: i32): usize {
  if (id < 0 || <u32>id >= MAX_REACTORS) return 0;
  return atomic.load<usize>(REACTOR_TABLE + (<usize>id << alignof<usize>()));
}

/** Create reactors 0..count-1 (host control instance, before the workers start). */
export function reactorsCreate(count: u32): i32 {
  if (count == 0 || count > MAX_REACTORS) return -ERANGE;
  for (let i: u32 = 0; i < count; i++) {
    if (reactorAt(<i32>i) != 0) continue;
    const r = changetype<Reactor>(heapAllocZeroed(offsetof<Reactor>()));
    if (changetype<usize>(r) == 0) return -ENOMEM;
    r.id = i;
    r.events = ringCreate(REACTOR_EVENT_RING_SIZE);
    if (r.events == 0) return -ENOMEM;
    r.wakeFd = -1;
    r.idleSpinUs = DEFAULT_IDLE_SPIN_US;
    r.maxSleepUs = DEFAULT_MAX_SLEEP_US;
    atomic.store<usize>(REACTOR_TABLE + (<usize>i << alignof<usize>()), changetype<usize>(r));
  }
  registrySetReactorCount(count);
  return 0;
}

export function reactorCount(): u32 { return registryReactorCount(); }

/** Bind this instance to reactor `id` (its worker calls this once, before reactorRun). */
export function reactorBind(id: i32): void {
  if (reactorAt(id) == 0) fatal(-EINVAL, "reactorBind: reactor %d does not exist", 0, 0, <f64>id);
  myReactorId = id;
}

function ring(r: usize): void {
  atomic.add<i32>(r + offsetof<Reactor>("doorbell"), 1);
  const fd = atomic.load<i32>(r + offsetof<Reactor>("wakeFd"));
  if (fd < 0) {
    atomic.notify(r + offsetof<Reactor>("doorbell"), 1);
  } else if (atomic.cmpxchg<i32>(r + offsetof<Reactor>("wakeSent"), 0, 1) == 0) {
    host_reactor_wake(fd);
  }
}

/** Wake reactor `id` if it is asleep. Cheap when it is awake: one atomic load. */
export function reactorWake(id: i32): void {
  const r = reactorAt(id);
  if (r == 0) return;
  if (atomic.load<i32>(r + offsetof<Reactor>("sleeping")) != 0) ring(r);
}

/**
 * Let this instance's reactor sleep in the kernel, woken through eventfd `wakeFd` (its worker calls
 * this once, before reactorRun; the fd stays open until every instance is gone). 0, or -errno when the
 * host cannot (the reactor then keeps sleeping on its doorbell).
 */
export function reactorSleepInKernel(wakeFd: i32): i32 {
  const rp = reactorAt(myReactorId);
  if (rp == 0) return -EINVAL;
  const id = host_fd_watch(wakeFd);
  if (id < 0) return id;
  atomic.store<i32>(rp + offsetof<Reactor>("wakeFd"), wakeFd);
  return 0;
}

/** How long this instance's reactor spins with nothing to do before it sleeps (0 outside a reactor). */
export function reactorIdleSpinUs(): u32 {
  const rp = reactorAt(myReactorId);
  return rp == 0 ? 0 : changetype<Reactor>(rp).idleSpinUs;
}

/**
 * Whether this instance's reactor sleeps in the kernel: then a poller waiting only for io_uring
 * completions or watched eventfds may report idle, and the sleep still ends when they come.
 */
export function reactorSleepsInKernel(): bool {
  const rp = reactorAt(myReactorId);
  return rp != 0 && atomic.load<i32>(rp + offsetof<Reactor>("wakeFd")) >= 0;
}

/** Whether reactor `id` has announced it is going to sleep (tests, statistics). */
export function reactorSleeping(id: i32): bool {
  const r = reactorAt(id);
  return r != 0 && atomic.load<i32>(r + offsetof<Reactor>("sleeping")) != 0;
}

/** Run fn(ctx) on reactor `id`, outside any thread; cannot fail (the event ring overflows in order). */
export function reactorSendEvent(id: i32, fn: MsgFn, ctx: usize): void {
  const r = reactorAt(id);
  assert(r != 0, "reactorSendEvent: no such reactor");
  ringPost(changetype<Reactor>(r).events, <u32>changetype<usize>(fn), <u32>ctx);
  reactorWake(id);
}

function adoptThreadEvent(thread: usize): void {
  const r = changetype<Reactor>(reactorAt(myReactorId));
  const t = changetype<Thread>(thread);
  assert(t.owner == myReactorId, "adopting a thread owned elsewhere");
  t.nextLocal = r.threads;
  r.threads = thread;
  r.threadCount++;
}

/**
 * Every thread created from now on without a ring size gets rings of `entries` (a power of two, 2 to
 * RING_MAX_CAPACITY): the host sets it before start-up (a test of the overflow sets it tiny). -EINVAL otherwise.
 */
export function threadSetDefaultRingSize(entries: u32): i32 {
  if (ringCapacityValid(entries) != 0) return -EINVAL;
  registrySetMsgRingSize(entries);
  return 0;
}

/**
 * Create a thread and give it to reactor `reactorId` (from any instance). Returns the thread or 0.
 * Messages may be sent to it at once: they wait in its ring until the reactor adopts it.
 */
export function threadCreateOn(reactorId: i32, name: string, ringSize: u32 = 0): usize {
  if (ringSize == 0) ringSize = registryMsgRingSize();
  if (ringSize == 0) ringSize = DEFAULT_RING_SIZE;
  if (reactorAt(reactorId) == 0) {
    report(LEVEL_ERROR, -EINVAL, "thread %s: no reactor %d to run it", changetype<usize>(name), 0, <f64>reactorId);
    return 0;
  }
  const t = threadAlloc(name, reactorId, ringSize);
  if (t == 0) return 0;
  reactorSendEvent(reactorId, adoptThreadEvent, t);
  return t;
}

const EVENT_BATCH: u32 = 32;

function drainEvents(r: Reactor): i32 {
  let n: i32 = 0;
  while (<u32>n < EVENT_BATCH && ringDequeue(r.events)) {
    changetype<MsgFn>(<usize>ringOutA)(<usize>ringOutB);
    n++;
  }
  return n;
}

function exitMsg(_ctx: usize): void { threadExit(); }

/**
 * Poll every owned thread once. Exited threads are destroyed; threads that asked to move are handed
 * to their target. On stop, each running thread is asked (by message) to exit.
 */
function pollThreads(r: Reactor, nowUs: u64, stopping: bool): i32 {
  let work: i32 = 0;
  let link = changetype<usize>(r) + offsetof<Reactor>("threads");
  let cur = r.threads;
  while (cur != 0) {
    const t = changetype<Thread>(cur);
    const next = t.nextLocal;
    if (stopping && t.state == THREAD_RUNNING && t.exitRequested == 0) {
      sendMsg(cur, exitMsg, 0);
      t.exitRequested = 1;
    }
    const rc = threadPoll(cur, 0, nowUs);
    if (rc > 0) work += rc;
    if (threadIsExited(cur)) {
      store<usize>(link, next);
      r.threadCount--;
      threadDestroy(cur);
      work++;
    } else if (t.moveTarget != NO_REACTOR && t.moveTarget != myReactorId) {
      const target = t.moveTarget;
      t.moveTarget = NO_REACTOR;
      atomic.store<i32>(cur + offsetof<Thread>("owner"), target);
      reactorSendEvent(target, adoptThreadEvent, cur);
      store<usize>(link, next);
      r.threadCount--;
      work++;
    } else {
      link = cur + offsetof<Thread>("nextLocal");
    }
    cur = next;
  }
  return work;
}

function anythingPending(r: Reactor): bool {
  if (ringCount(r.events) != 0) return true;
  for (let cur = r.threads; cur != 0; cur = changetype<Thread>(cur).nextLocal) {
    if (threadPending(cur) != 0) return true;
  }
  return false;
}

function earliestDeadline(r: Reactor): u64 {
  let best = u64.MAX_VALUE;
  for (let cur = r.threads; cur != 0; cur = changetype<Thread>(cur).nextLocal) {
    const d = nextTimedDeadline(changetype<Thread>(cur));
    if (d < best) best = d;
  }
  return best;
}

/** Sleep until woken, the next timed poller is due, or maxSleepUs passes. */
function sleep(r: Reactor, nowUs: u64): void {
  const rp = changetype<usize>(r);
  atomic.store<i32>(rp + offsetof<Reactor>("sleeping"), 1);
  const bell = atomic.load<i32>(rp + offsetof<Reactor>("doorbell"));
  // Re-check after announcing the sleep: a sender that enqueued before reading `sleeping` is seen here;
  // one that enqueues after will bump the doorbell, and the wait below returns at once.
  if (anythingPending(r) || atomic.load<i32>(rp + offsetof<Reactor>("stopRequested")) != 0) {
    atomic.store<i32>(rp + offsetof<Reactor>("sleeping"), 0);
    return;
  }
  let timeoutUs = <u64>r.maxSleepUs;
  const deadline = earliestDeadline(r);
  if (deadline <= nowUs) timeoutUs = 0;
  else if (deadline - nowUs < timeoutUs) timeoutUs = deadline - nowUs;
  r.sleeps++;
  if (atomic.load<i32>(rp + offsetof<Reactor>("wakeFd")) >= 0) {
    // The wait returns early for anything ready (a completion, a kick, the wake fd); which one does
    // not matter: the loop polls everything.
    const result = host_reactor_wait(<u32>timeoutUs);
    if (result > 0) r.wakesNotified++;
    else if (result == 0) r.wakesTimedOut++;
    else {
      // Not expected once the watch worked; sleeping on the doorbell still works (senders that saw
      // the fd write it harmlessly until they see -1).
      report(LEVEL_ERROR, result, "reactor %d: its kernel sleep failed; it sleeps on its doorbell from now on", 0, 0, <f64>r.id);
      atomic.store<i32>(rp + offsetof<Reactor>("wakeFd"), -1);
    }
  } else {
    const result = memory.atomic.wait32(rp + offsetof<Reactor>("doorbell"), bell, <i64>timeoutUs * 1000);
    if (result == AtomicWaitResult.OK) r.wakesNotified++;
    else if (result == AtomicWaitResult.NOT_EQUAL) r.wakesNotEqual++;
    else r.wakesTimedOut++;
  }
  atomic.store<i32>(rp + offsetof<Reactor>("sleeping"), 0);
  atomic.store<i32>(rp + offsetof<Reactor>("wakeSent"), 0);
}

/**
 * The reactor loop. Returns when a stop was requested and every owned thread has exited and been
 * destroyed (threads that ignore the exit are forced out after their exit timeout, with a report).
 */
export function reactorRun(): i32 {
  const rp = reactorAt(myReactorId);
  if (rp == 0) fatal(-EINVAL, "reactorRun: instance is not bound to a reactor");
  const r = changetype<Reactor>(rp);
  let lastBusyUs = clockTick();
  let prevUs = lastBusyUs;
  while (true) {
    const nowUs = clockTick();
    const stopping = atomic.load<i32>(rp + offsetof<Reactor>("stopRequested")) != 0;
    const work = drainEvents(r) + pollThreads(r, nowUs, stopping);
    r.loops++;
    hostBellRingIfOwed();
    if (work > 0) {
      r.busyLoops++;
      r.busyUs += nowUs - prevUs;
      lastBusyUs = nowUs;
    } else {
      r.idleUs += nowUs - prevUs;
    }
    prevUs = nowUs;
    if (stopping && r.threads == 0 && ringCount(r.events) == 0) break;
    if (work == 0 && nowUs - lastBusyUs >= <u64>r.idleSpinUs) {
      sleep(r, nowUs);
      prevUs = clockTick();
    }
  }
  return 0;
}

/** Ask reactor `id` to stop (any instance). */
export function reactorRequestStop(id: i32): void {
  const r = reactorAt(id);
  if (r == 0) return;
  atomic.store<i32>(r + offsetof<Reactor>("stopRequested"), 1);
  ring(r);
}

export const STAT_LOOPS: u32 = 0;
export const STAT_BUSY_LOOPS: u32 = 1;
export const STAT_SLEEPS: u32 = 2;
export const STAT_WAKES_NOTIFIED: u32 = 3;
export const STAT_WAKES_NOT_EQUAL: u32 = 4;
export const STAT_WAKES_TIMED_OUT: u32 = 5;
export const STAT_BUSY_US: u32 = 6;
export const STAT_IDLE_US: u32 = 7;
export const STAT_THREADS: u32 = 8;

/** One statistic of a reactor for the host (host/engine.ts names them); NaN for a bad id or field. */
export function reactorStat(id: i32, which: u32): f64 {
  const rp = reactorAt(id);
  if (rp == 0) return NaN;
  const r = changetype<Reactor>(rp);
  switch (which) {
    case STAT_LOOPS: return <f64>r.loops;
    case STAT_BUSY_LOOPS: return <f64>r.busyLoops;
    case STAT_SLEEPS: return <f64>r.sleeps;
    case STAT_WAKES_NOTIFIED: return <f64>r.wakesNotified;
    case STAT_WAKES_NOT_EQUAL: return <f64>r.wakesNotEqual;
    case STAT_WAKES_TIMED_OUT: return <f64>r.wakesTimedOut;
    case STAT_BUSY_US: return <f64>r.busyUs;
    case STAT_IDLE_US: return <f64>r.idleUs;
    case STAT_THREADS: return <f64>r.threadCount;
    default: return NaN;
  }
}

export function reactorSetIdlePolicy(id: i32, idleSpinUs: u32, maxSleepUs: u32): void {
  const r = reactorAt(id);
  if (r == 0) return;
  changetype<Reactor>(r).idleSpinUs = idleSpinUs;
  changetype<Reactor>(r).maxSleepUs = maxSleepUs == 0 ? DEFAULT_MAX_SLEEP_US : maxSleepUs;
}

