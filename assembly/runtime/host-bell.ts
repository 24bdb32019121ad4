// The host's doorbell for request completions (the block at HOST_COMPLETIONS; app/completions.ts
// owns its ring). A reactor owes the host a ring when it queued a completion; it rings once at the
// end of its turn, not per completion: a ring per completion woke the host after the first of a
// batch, and where the host and the reactor share a CPU the host's wake-up preempted the reactor
// each time, one completion per switch (measured: ~130 k reads/s instead of ~500 k). Each reactor
// is its own instance, so `owed` is per reactor.

import { HOST_COMPLETIONS } from "./layout";

export const HOST_BELL_OFF: usize = 4;       // i32: bumped and notified to wake the host
export const HOST_WAITING_OFF: usize = 8;    // i32: 1 while the host may be waiting on the bell

let owed = false;

/** A completion was queued for the host: ring before this turn ends. */
export function hostBellOwe(): void { owed = true; }

/**
 * End of a reactor turn: ring if owed and the host said it may be waiting. The completions were
 * queued before the flag is read (both sequentially consistent): the host either sees them when it
 * looks again after setting the flag, or we see the flag and wake it.
 */
export function hostBellRingIfOwed(): void {
  if (!owed) return;
  owed = false;
  if (atomic.load<i32>(HOST_COMPLETIONS + HOST_WAITING_OFF) != 0) {
    atomic.add<i32>(HOST_COMPLETIONS + HOST_BELL_OFF, 1);
    atomic.notify(HOST_COMPLETIONS + HOST_BELL_OFF, 1);
  }
}
