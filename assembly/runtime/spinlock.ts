// Spinlock with SPDK's misuse checks (spdk_spinlock). Allowed only on a lightweight thread, and only
// within one message or poller: every misuse stops the engine with the lock's and the thread's names
// instead of deadlocking silently.

import { contextThread, contextThreadName, contextThreadId, contextHeldLocks, contextLockTaken, contextLockReleased, contextLastLockName } from "./context";
import { fatal } from "./host";
import { rawLock, rawUnlock } from "./rawlock";

// SPDK's spin_error codes, in its order (reported as the `code` of the fatal report).
export const SPIN_ERR_NOT_SPDK_THREAD: i32 = 1;
export const SPIN_ERR_DEADLOCK: i32 = 2;
export const SPIN_ERR_WRONG_THREAD: i32 = 3;
export const SPIN_ERR_LOCK_HELD: i32 = 5;
export const SPIN_ERR_LOCK_COUNT: i32 = 6;
export const SPIN_ERR_HOLD_DURING_SWITCH: i32 = 7;
export const SPIN_ERR_DESTROYED: i32 = 8;
export const SPIN_ERR_NOT_INITIALIZED: i32 = 9;

const SPIN_READY: u32 = 0x5350494e;      // "SPIN"
const SPIN_DESTROYED: u32 = 0xdeadd0c5;

@unmanaged export class SpinLock {
  word: i32;        // raw lock word (rawlock.ts)
  state: u32;       // SPIN_READY / SPIN_DESTROYED / anything else = never initialised
  owner: usize;     // holding thread, 0 when free
  name: usize;      // static string naming the lock in reports
}

export function spinInit(lock: SpinLock, name: string): void {
  lock.word = 0;
  lock.owner = 0;
  lock.name = changetype<usize>(name);
  lock.state = SPIN_READY;
}

function checkUsable(lock: SpinLock, op: string): void {
  if (lock.state == SPIN_DESTROYED) {
    fatal(SPIN_ERR_DESTROYED, "spinlock %s: %s after destroy", lock.name, changetype<usize>(op));
  }
  if (lock.state != SPIN_READY) {
    fatal(SPIN_ERR_NOT_INITIALIZED, "spinlock at %d: %s before spinInit", changetype<usize>(op), 0, <f64>changetype<usize>(lock));
  }
  if (contextThread() == 0) {
    fatal(SPIN_ERR_NOT_SPDK_THREAD, "spinlock %s: %s outside a lightweight thread (not an SPDK thread)", lock.name, changetype<usize>(op));
  }
}

export function spinLock(lock: SpinLock): void {
  checkUsable(lock, "lock");
  const me = contextThread();
  if (atomic.load<usize>(changetype<usize>(lock) + offsetof<SpinLock>("owner")) == me) {
    fatal(SPIN_ERR_DEADLOCK, "spinlock %s: deadlock, thread %s locks it again while holding it", lock.name, contextThreadName(), <f64>contextThreadId());
  }
  rawLock(changetype<usize>(lock));
  atomic.store<usize>(changetype<usize>(lock) + offsetof<SpinLock>("owner"), me);
  contextLockTaken(lock.name);
}

export function spinUnlock(lock: SpinLock): void {
  checkUsable(lock, "unlock");
  const owner = atomic.load<usize>(changetype<usize>(lock) + offsetof<SpinLock>("owner"));
  if (owner != contextThread()) {
    fatal(SPIN_ERR_WRONG_THREAD, "spinlock %s: unlock on wrong thread %s (not the holder)", lock.name, contextThreadName(), <f64>contextThreadId());
  }
  if (contextHeldLocks() == 0) {
    fatal(SPIN_ERR_LOCK_COUNT, "spinlock %s: thread %s unlocks with no lock held", lock.name, contextThreadName(), <f64>contextThreadId());
  }
  atomic.store<usize>(changetype<usize>(lock) + offsetof<SpinLock>("owner"), 0);
  rawUnlock(changetype<usize>(lock));
  contextLockReleased();
}

export function spinHeld(lock: SpinLock): bool {
  return contextThread() != 0 && atomic.load<usize>(changetype<usize>(lock) + offsetof<SpinLock>("owner")) == contextThread();
}

export function spinDestroy(lock: SpinLock): void {
  if (lock.state == SPIN_DESTROYED) {
    fatal(SPIN_ERR_DESTROYED, "spinlock %s: destroyed twice", lock.name);
  }
  if (atomic.load<i32>(changetype<usize>(lock)) != 0) {
    fatal(SPIN_ERR_LOCK_HELD, "spinlock %s: destroying a held spinlock", lock.name);
  }
  lock.state = SPIN_DESTROYED;
}

/**
 * Asserted after every message batch and every poller: a lock may not stay held while the thread goes
 * off CPU (the next holder could be polled on this same reactor and spin forever).
 */
export function spinCheckOffCpu(): void {
  if (contextHeldLocks() != 0) {
    fatal(SPIN_ERR_HOLD_DURING_SWITCH, "Lock(s) held while SPDK thread going off CPU: lock %s held by thread %s (%d held) after a message or poller",
      contextLastLockName(), contextThreadName(), <f64>contextHeldLocks());
  }
}
