// Kinds of host_event the core emits (mirrored in host/core-abi.ts; a test checks they agree).
export const EVENT_DEMO_STEP: i32 = 1;      // a: round, b: reactor that computed, c: result
export const EVENT_DEMO_DONE: i32 = 2;      // a: rounds, b: total round-trip microseconds, c: errors
export const EVENT_THREAD_READY: i32 = 3;   // a: thread id, b: reactor
export const EVENT_TEST: i32 = 100;         // test hooks: a/b/c are test-defined
export const EVENT_PERF_JOB_DONE: i32 = 10;  // a: run, b: job, c: errors + mismatches
export const EVENT_REQUEST_DONE: i32 = 11;  // a: request id, b: rc, c: value (e.g. a bdev id)
