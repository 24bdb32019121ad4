// What every fuzz target's core side shares: one lightweight thread polled by hand (no reactor), a
// frozen clock that jumps ahead when nothing is left to do (so timers fire without waiting), and a
// bound on every run so a stall is a finding instead of a hang.
import { threadAlloc, threadPoll, clockSetManual, reactorSetCurrent } from "../thread";

/** The clock a target starts at (µs), and how far it jumps when a round does no work. */
const CLOCK_START_US: u64 = 1_000_000;
const IDLE_JUMP_US: u64 = 10_000;

let nowUs: u64 = CLOCK_START_US;

/** The one thread a target runs on, owned by no reactor (like the deterministic test harness's). */
export function fuzzThreadNew(name: string): usize {
  reactorSetCurrent(-1);
  nowUs = CLOCK_START_US;
  clockSetManual(nowUs);
  const t = threadAlloc(name, -1, 1024);
  assert(t != 0, "fuzz: no memory for the target's thread");
  return t;
}

/**
 * Poll `thread` until `done(ctx)` holds, at most `roundsMax` rounds; idle rounds move the clock on.
 * Returns whether it got there (a target asserts on it, naming what never happened).
 */
export function fuzzPollUntil(thread: usize, done: (ctx: usize) => bool, ctx: usize, roundsMax: u32): bool {
  for (let round: u32 = 0; round < roundsMax; round++) {
    if (done(ctx)) return true;
    const work = threadPoll(thread, 0, nowUs);
    assert(work >= 0, "fuzz: polling the target's thread failed");
    nowUs += work == 0 ? IDLE_JUMP_US : 1;
    clockSetManual(nowUs);
  }
  return done(ctx);
}

/** Bytes of a NUL-terminated ASCII copy of `s` (set-up only: it allocates). */
export function fuzzCString(s: string): usize {
  const bytes = String.UTF8.encode(s, true);
  return changetype<usize>(bytes);
}

/**
 * Poll until `idleRounds` rounds in a row do no work (the clock jumping ahead each time, so timers
 * due within that span fire): what a closed connection or store still has in flight then ends, before
 * the runner checks the heap. At most `roundsMax` rounds; returns whether it got quiet.
 */
export function fuzzSettle(thread: usize, idleRounds: u32, roundsMax: u32): bool {
  let idle: u32 = 0;
  for (let round: u32 = 0; round < roundsMax && idle < idleRounds; round++) {
    const work = threadPoll(thread, 0, nowUs);
    assert(work >= 0, "fuzz: polling the target's thread failed");
    idle = work == 0 ? idle + 1 : 0;
    nowUs += work == 0 ? IDLE_JUMP_US : 1;
    clockSetManual(nowUs);
  }
  return idle >= idleRounds;
}
