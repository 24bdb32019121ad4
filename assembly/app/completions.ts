// Completions of high-rate host requests (blob I/O) through shared memory. An event per completion
// is a worker postMessage and a main-thread task each, which bounded the blob Node API near 100 k
// operations a second. Instead the reactor puts (request id, value) on one MPSC ring the host drains
// in batches, and rings the host's doorbell (runtime/host-bell.ts: once per reactor turn) only when
// the host said it is about to wait on it (Atomics.waitAsync): the same announce, re-check, wait
// pattern as a reactor's sleep.
// Failures still go as events: the host names each with the report that explains it, and the report
// travels the same way, in order.

import { HOST_COMPLETIONS, hostBellOwe, ringCreate, ringEnqueue, ringDequeue, ringOutA, ringOutB, ringCount } from "../runtime";
import { requestDone } from "./request";

const RING_OFF: usize = 0;       // usize: the ring, 0 until the host made it
// Words 1 and 2 (i32) are the doorbell and the host's waiting flag: runtime/host-bell.ts.
const QUEUED_OFF: usize = 16;    // u64: completions that went through the ring (statistics, tests)
const CAPACITY: u32 = 4096;

/** Host: where the queue's block is (the doorbell and the waiting flag are its i32 words 1 and 2). */
export function completionsBlock(): usize { return HOST_COMPLETIONS; }

/** Host, at start: make the ring. 0 or -ENOMEM. */
export function completionsCreate(): i32 {
  if (atomic.load<usize>(HOST_COMPLETIONS + RING_OFF) != 0) return 0;
  const ring = ringCreate(CAPACITY);
  if (ring == 0) return -12;
  atomic.store<usize>(HOST_COMPLETIONS + RING_OFF, ring);
  return 0;
}

/**
 * End host request `id`. A success with a small value goes through the ring; a failure, or a full
 * ring, goes as EVENT_REQUEST_DONE (requestDone), which the host handles the same way.
 */
export function requestDoneQuick(id: u32, rc: i32, value: u32): void {
  const ring = atomic.load<usize>(HOST_COMPLETIONS + RING_OFF);
  if (rc < 0 || ring == 0 || ringEnqueue(ring, id, value) != 0) { requestDone(id, rc, <f64>value); return; }
  atomic.add<u64>(HOST_COMPLETIONS + QUEUED_OFF, 1);
  hostBellOwe();
}

/** Host: move up to `max` completions to `out` as (u32 id, u32 value) pairs; how many. */
export function completionsDrain(out: usize, max: u32): u32 {
  const ring = atomic.load<usize>(HOST_COMPLETIONS + RING_OFF);
  if (ring == 0) return 0;
  let n: u32 = 0;
  while (n < max && ringDequeue(ring)) {
    store<u32>(out + (<usize>n << 3), ringOutA);
    store<u32>(out + (<usize>n << 3), ringOutB, 4);
    n++;
  }
  return n;
}

/** Host: completions waiting in the ring. */
export function completionsPending(): u32 {
  const ring = atomic.load<usize>(HOST_COMPLETIONS + RING_OFF);
  return ring == 0 ? 0 : ringCount(ring);
}

/** Completions that went through the ring since start (the rest went as events). */
export function completionsQueued(): f64 { return <f64>atomic.load<u64>(HOST_COMPLETIONS + QUEUED_OFF); }
