// A bare test-and-set lock word for the runtime's own short critical sections (page allocator,
// registries). It knows nothing of threads; core code uses runtime/spinlock.ts, which adds SPDK's checks.
// Each instance counts the locks it holds, so the host can tell whether a trap left one held.

/** Raw locks this instance holds now (a per-instance global). */
let held: u32 = 0;

/** How many raw locks this instance holds: 0 between calls, unless a trap cut a critical section short. */
export function rawLocksHeld(): u32 { return held; }

/** Acquire the lock word at `addr`. Holders never wait on anything, so spinning is bounded in practice. */
export function rawLock(addr: usize): void {
  while (atomic.cmpxchg<i32>(addr, 0, 1) != 0) {
    // Read-only spin until it looks free, so waiters do not hammer the line with writes.
    while (atomic.load<i32>(addr) != 0) {}
  }
  held++;
}

export function rawTryLock(addr: usize): bool {
  if (atomic.cmpxchg<i32>(addr, 0, 1) != 0) return false;
  held++;
  return true;
}

export function rawUnlock(addr: usize): void {
  assert(atomic.load<i32>(addr) == 1, "rawUnlock of a free lock");
  assert(held > 0, "rawUnlock: this instance holds no raw lock");
  held--;
  atomic.store<i32>(addr, 0);
}
