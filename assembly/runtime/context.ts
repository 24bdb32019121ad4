// What is running on this instance right now: the lightweight thread being polled (or none) and how
// many spinlocks it holds. Per-instance globals: each reactor has its own copy.

let currentThread: usize = 0;
let currentThreadName: usize = 0;
let currentThreadId: u32 = 0;
let heldLocks: u32 = 0;
let lastLockName: usize = 0;     // most recently taken lock still held, for the off-CPU report

/** Called by the thread library as a thread goes on CPU (ptr != 0) and off CPU (ptr == 0). */
export function contextSwitchTo(thread: usize, name: usize, id: u32): void {
  currentThread = thread;
  currentThreadName = name;
  currentThreadId = id;
}

export function contextThread(): usize { return currentThread; }
export function contextThreadName(): usize { return currentThreadName; }
export function contextThreadId(): u32 { return currentThreadId; }
export function contextHeldLocks(): u32 { return heldLocks; }
export function contextLockTaken(name: usize): void { heldLocks++; lastLockName = name; }
export function contextLastLockName(): usize { return lastLockName; }
export function contextLockReleased(): void { heldLocks--; }
