// Kinds of host_event the core emits (the host reads them from here: scripts/core-constants.mjs), and
// the one every component ends a host request with.
export const EVENT_DEMO_STEP: i32 = 1;      // a: round, b: reactor that computed, c: result
export const EVENT_DEMO_DONE: i32 = 2;      // a: rounds, b: total round-trip microseconds, c: wrong answers
export const EVENT_THREAD_READY: i32 = 3;   // a: thread id, b: reactor
export const EVENT_TEST: i32 = 100;         // test hooks: a/b/c are test-defined
export const EVENT_PERF_JOB_DONE: i32 = 10;  // a: run, b: job, c: errors + mismatches
export const EVENT_REQUEST_DONE: i32 = 11;  // a: request id, b: rc, c: value (e.g. a bdev id)

import { host_event } from "./host";

/** End host request `id` with rc and a value: the engine settles the request's promise. */
export function requestDone(id: u32, rc: i32, value: f64): void {
  host_event(EVENT_REQUEST_DONE, <f64>id, <f64>rc, value);
}
