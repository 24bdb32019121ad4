// Pollers: functions a thread runs on every poll (period 0) or every periodUs microseconds.
// Unregistering only marks a poller (a timed one also moves to the front of its list); the list walk
// unlinks and frees it, so a poller may unregister itself or any other poller of its thread from
// inside a run.

import { heapAllocZeroed, heapFree, contextThread, fatal, report, LEVEL_WARN, EINVAL, spinCheckOffCpu } from "../runtime";
import { Thread, Poller, PollerFn, POLLER_RUNNING, POLLER_UNREGISTERED, POLLER_BUSY } from "./types";
import { threadNowUs } from "./clock";

/** Register on the current thread. Returns the poller, or 0 if out of memory. */
export function pollerRegister(fn: PollerFn, ctx: usize, periodUs: u64, name: string): usize {
  const thread = contextThread();
  if (thread == 0) fatal(-EINVAL, "poller %s registered outside a lightweight thread", changetype<usize>(name));
  const p = changetype<Poller>(heapAllocZeroed(offsetof<Poller>()));
  if (changetype<usize>(p) == 0) return 0;
  p.fn = changetype<usize>(fn);
  p.ctx = ctx;
  p.thread = thread;
  p.name = changetype<usize>(name);
  p.state = POLLER_RUNNING;
  p.periodUs = periodUs;
  const t = changetype<Thread>(thread);
  if (periodUs == 0) {
    appendActive(t, p);
  } else {
    p.nextRunUs = threadNowUs() + periodUs;
    insertTimed(t, p);
  }
  return changetype<usize>(p);
}

/** Mark for removal; only the owning thread may do it (SPDK's wrong_thread check). */
export function pollerUnregister(poller: usize): void {
  const p = changetype<Poller>(poller);
  if (p.thread != contextThread()) {
    fatal(-EINVAL, "poller %s unregistered from wrong thread (only its own thread may)", p.name);
  }
  p.state = POLLER_UNREGISTERED;
  if (p.periodUs != 0) moveTimedToFront(changetype<Thread>(p.thread), p);
}

/**
 * A timed poller just unregistered goes to the front of its thread's list, due now, so the next
 * poll frees it: left in place it would hold its block until its own deadline (a controller's
 * keep-alive timer with a KATO of days, and a host connecting in a loop, would pile them up).
 * One that is running now is not in the list; its run's end frees it.
 */
function moveTimedToFront(t: Thread, p: Poller): void {
  let link = changetype<usize>(t) + offsetof<Thread>("timedPollers");
  while (load<usize>(link) != 0 && load<usize>(link) != changetype<usize>(p)) link = load<usize>(link) + offsetof<Poller>("next");
  if (load<usize>(link) == 0) return;
  store<usize>(link, p.next);
  p.nextRunUs = 0;
  p.next = t.timedPollers;
  t.timedPollers = changetype<usize>(p);
}

/**
 * Change a timed poller's period; it applies from the poller's next run on (the current schedule
 * stands). Only its own thread may, and a timed poller stays timed (period > 0).
 */
export function pollerSetPeriod(poller: usize, periodUs: u64): void {
  const p = changetype<Poller>(poller);
  if (p.thread != contextThread()) fatal(-EINVAL, "poller %s: period changed from the wrong thread", p.name);
  assert(p.periodUs != 0 && periodUs != 0, "only a timed poller's period changes, and it stays timed");
  p.periodUs = periodUs;
}

/**
 * Give a timed poller a new period starting now: its next run moves to now + periodUs (a poller kept
 * idle on a long period is woken this way without a new registration, which could fail for memory).
 * From inside its own run only the period changes: the run's end schedules it with that period.
 */
export function pollerReschedule(poller: usize, periodUs: u64): void {
  const p = changetype<Poller>(poller);
  pollerSetPeriod(poller, periodUs);
  if (p.state != POLLER_RUNNING) return;
  const t = changetype<Thread>(p.thread);
  let link = changetype<usize>(t) + offsetof<Thread>("timedPollers");
  while (load<usize>(link) != 0 && load<usize>(link) != poller) link = load<usize>(link) + offsetof<Poller>("next");
  if (load<usize>(link) == 0) return;          // running now: not in the list until its run ends
  store<usize>(link, p.next);
  p.nextRunUs = threadNowUs() + periodUs;
  insertTimed(t, p);
}

function appendActive(t: Thread, p: Poller): void {
  p.next = 0;
  let link = changetype<usize>(t) + offsetof<Thread>("activePollers");
  while (load<usize>(link) != 0) link = load<usize>(link) + offsetof<Poller>("next");
  store<usize>(link, changetype<usize>(p));
}

function insertTimed(t: Thread, p: Poller): void {
  let link = changetype<usize>(t) + offsetof<Thread>("timedPollers");
  while (load<usize>(link) != 0 && changetype<Poller>(load<usize>(link)).nextRunUs <= p.nextRunUs) {
    link = load<usize>(link) + offsetof<Poller>("next");
  }
  p.next = load<usize>(link);
  store<usize>(link, changetype<usize>(p));
}

function runOne(p: Poller): i32 {
  const rc = changetype<PollerFn>(p.fn)(p.ctx);
  spinCheckOffCpu();
  p.runCount++;
  if (rc == POLLER_BUSY) { p.busyCount++; return 1; }
  return 0;
}

/** Run every period-0 poller once; unlink the unregistered ones. Returns how many were busy. */
export function runActivePollers(t: Thread): i32 {
  let busy = 0;
  let link = changetype<usize>(t) + offsetof<Thread>("activePollers");
  let cur = load<usize>(link);
  while (cur != 0) {
    const p = changetype<Poller>(cur);
    if (p.state == POLLER_RUNNING) busy += runOne(p);
    // Re-read: the run may have unregistered this poller or appended new ones.
    if (p.state == POLLER_UNREGISTERED) {
      store<usize>(link, p.next);
      cur = p.next;
      heapFree(changetype<usize>(p));
      continue;
    }
    link = cur + offsetof<Poller>("next");
    cur = p.next;
  }
  return busy;
}

/** Run the timed pollers that are due at `nowUs`. Returns how many were busy. */
export function runTimedPollers(t: Thread, nowUs: u64): i32 {
  let busy = 0;
  // Bounded: each poller runs at most once per call, even with a period shorter than the run.
  let budget = countList(t.timedPollers);
  while (budget-- > 0) {
    const head = t.timedPollers;
    if (head == 0) break;
    const p = changetype<Poller>(head);
    if (p.state == POLLER_RUNNING && p.nextRunUs > nowUs) break;
    t.timedPollers = p.next;
    if (p.state == POLLER_RUNNING) {
      busy += runOne(p);
    }
    if (p.state == POLLER_UNREGISTERED) {
      heapFree(changetype<usize>(p));
    } else {
      p.nextRunUs = nowUs + p.periodUs;
      insertTimed(t, p);
    }
  }
  return busy;
}

/** Deadline of the earliest live timed poller, or u64.MAX_VALUE. */
export function nextTimedDeadline(t: Thread): u64 {
  for (let cur = t.timedPollers; cur != 0; cur = changetype<Poller>(cur).next) {
    if (changetype<Poller>(cur).state == POLLER_RUNNING) return changetype<Poller>(cur).nextRunUs;
  }
  return u64.MAX_VALUE;
}

function countList(head: usize): i32 {
  let n = 0;
  for (let cur = head; cur != 0; cur = changetype<Poller>(cur).next) n++;
  return n;
}

/** Live pollers of a thread (for the exit check). */
export function livePollerCount(t: Thread): u32 {
  let n: u32 = 0;
  for (let cur = t.activePollers; cur != 0; cur = changetype<Poller>(cur).next) if (changetype<Poller>(cur).state == POLLER_RUNNING) n++;
  for (let cur = t.timedPollers; cur != 0; cur = changetype<Poller>(cur).next) if (changetype<Poller>(cur).state == POLLER_RUNNING) n++;
  return n;
}

/** Report pollers still registered (SPDK: "poller %s still registered at thread exit"). */
export function reportLivePollers(t: Thread, level: i32): void {
  for (let cur = t.activePollers; cur != 0; cur = changetype<Poller>(cur).next) {
    if (changetype<Poller>(cur).state == POLLER_RUNNING) report(level, -EINVAL, "active poller %s still registered at exit of thread %s", changetype<Poller>(cur).name, t.name);
  }
  for (let cur = t.timedPollers; cur != 0; cur = changetype<Poller>(cur).next) {
    if (changetype<Poller>(cur).state == POLLER_RUNNING) report(level, -EINVAL, "timed poller %s still registered at exit of thread %s", changetype<Poller>(cur).name, t.name);
  }
}

/** Free every poller of a thread being destroyed. */
export function freeAllPollers(t: Thread): void {
  freeList(t.activePollers);
  freeList(t.timedPollers);
  t.activePollers = 0;
  t.timedPollers = 0;
}

function freeList(head: usize): void {
  let cur = head;
  while (cur != 0) {
    const next = changetype<Poller>(cur).next;
    heapFree(cur);
    cur = next;
  }
}

