// A rate limit for the reports a guest can cause (refused chains, dropped interrupts): at most
// LOG_PER_WINDOW per LOG_WINDOW_US for one controller, whichever reactor its queues run on, and the
// number left out is given with the next report that goes through. One guest's noise then never
// floods the log, nor silences another guest's errors.

import { heapAllocZeroed } from "../runtime";

export const LOG_PER_WINDOW: u32 = 10;
export const LOG_WINDOW_US: u64 = 1_000_000;

/**
 * `window` packs the current window's number (its start / LOG_WINDOW_US, low 48 bits) with the
 * reports let through in it (high 16 bits), so one compare-and-swap moves both; any reactor may take.
 */
@unmanaged export class LogLimit {
  window: u64;
  suppressed: u32;      // refused since the last report let through
  _pad: u32;
}

const COUNT_SHIFT: u64 = 48;
const WINDOW_MASK: u64 = (<u64>1 << COUNT_SHIFT) - 1;
/** Bounds the compare-and-swap retries: reactors racing for one limit are few (one per reactor). */
const TAKE_TRIES: u32 = 64;

export function logLimitNew(): LogLimit { return changetype<LogLimit>(heapAllocZeroed(offsetof<LogLimit>())); }

/**
 * Whether a report may go out at `nowUs`. Returns -1 when it may not (it is counted as left out),
 * else how many were left out before it (now reset to 0): say so in the report.
 */
export function logLimitTake(l: LogLimit, nowUs: u64): i64 {
  const windowNow = (nowUs / LOG_WINDOW_US) & WINDOW_MASK;
  const at = changetype<usize>(l) + offsetof<LogLimit>("window");
  for (let i: u32 = 0; i < TAKE_TRIES; i++) {
    const seen = atomic.load<u64>(at);
    const count = (seen & WINDOW_MASK) == windowNow ? seen >> COUNT_SHIFT : 0;
    if (count >= <u64>LOG_PER_WINDOW) break;
    if (atomic.cmpxchg<u64>(at, seen, windowNow | ((count + 1) << COUNT_SHIFT)) == seen) {
      return <i64>atomic.xchg<u32>(changetype<usize>(l) + offsetof<LogLimit>("suppressed"), 0);
    }
  }
  atomic.add<u32>(changetype<usize>(l) + offsetof<LogLimit>("suppressed"), 1);
  return -1;
}
