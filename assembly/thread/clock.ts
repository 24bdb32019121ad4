// The time threads see. Read once per reactor loop iteration (or set by the test harness), so every
// poller in one iteration sees the same "now" and the clock import is not called per poller.

import { now_us } from "../runtime";

let nowCache: u64 = 0;
let manual: bool = false;

export function threadNowUs(): u64 {
  return manual ? nowCache : (nowCache = now_us());
}

/** Refresh the cached clock (reactor loop). */
export function clockTick(): u64 {
  if (!manual) nowCache = now_us();
  return nowCache;
}

/** Deterministic harness: freeze the clock at `us` (tests advance it by hand). */
export function clockSetManual(us: u64): void {
  manual = true;
  nowCache = us;
}
