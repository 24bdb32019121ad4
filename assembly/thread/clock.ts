// The time threads see. Read once per reactor loop iteration (or set by the test harness), so every
// poller in one iteration sees the same "now" and the clock import is not called per poller.

import { host_clock_us } from "../runtime";

let nowCache: u64 = 0;        // microseconds
let nowNsCache: u64 = 0;      // nanoseconds (same instant)
let manual: bool = false;

function sample(): void {
  const us = host_clock_us();
  nowCache = <u64>us;
  nowNsCache = <u64>(us * 1000.0);
}

/** Now, read afresh (not cached): for timestamps taken outside the loop's rhythm. */
export function threadNowUs(): u64 {
  if (!manual) sample();
  return nowCache;
}

/** The instant of the current loop iteration, in ns: the I/O path stamps with this, no clock call. */
export function cachedNowNs(): u64 { return nowNsCache; }
export function cachedNowUs(): u64 { return nowCache; }

/** Refresh the cached clock (reactor loop). */
export function clockTick(): u64 {
  if (!manual) sample();
  return nowCache;
}

/** Deterministic harness: freeze the clock at `us` (tests advance it by hand). */
export function clockSetManual(us: u64): void {
  manual = true;
  nowCache = us;
  nowNsCache = us * 1000;
}
