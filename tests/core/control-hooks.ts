// Test-only exports for the control instance's trap guard (host/control-guard.ts): traps, with and
// without a raw lock held, and one with a managed local (so the shadow stack has a frame to leave behind).
import { heapAlloc, rawLock, fatal, ENOMEM } from "../../assembly/runtime";

/** Trap: 0 with a fatal report (as an allocation failure makes), 1 bare (unreachable), 2 holding a raw lock. */
export function ht_control_trap(how: u32): void {
  if (how == 2) {
    const word = heapAlloc(16);
    store<i32>(word, 0);
    rawLock(word);
  }
  if (how == 0) fatal(-ENOMEM, "out of memory allocating %d bytes (test)", 0, 0, 12345);
  unreachable();
}

/** A frame on the shadow stack (managed locals kept across a call), then a trap: each call leaves the frame if not reset. */
export function ht_control_trap_with_frame(n: i32): i32 {
  const text = n.toString();
  const other = (n + 1).toString();
  if (text.length + other.length > 0) unreachable();
  return text.length;
}

/** Where this instance's shadow stack pointer is now (it must be the same between calls). */
export function ht_stack_pointer(): usize { return __stack_pointer; }
