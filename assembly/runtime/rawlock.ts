// A bare test-and-set lock word for the runtime's own short critical sections (page allocator,
// registries). It knows nothing of threads; core code uses runtime/spinlock.ts, which adds SPDK's checks.

/** Acquire the lock word at `addr`. Holders never wait on anything, so spinning is bounded in practice. */
export function rawLock(addr: usize): void {
  while (atomic.cmpxchg<i32>(addr, 0, 1) != 0) {
    // Read-only spin until it looks free, so waiters do not hammer the line with writes.
    while (atomic.load<i32>(addr) != 0) {}
  }
}

export function rawTryLock(addr: usize): bool {
  return atomic.cmpxchg<i32>(addr, 0, 1) == 0;
}

export function rawUnlock(addr: usize): void {
  assert(atomic.load<i32>(addr) == 1, "rawUnlock of a free lock");
  atomic.store<i32>(addr, 0);
}
