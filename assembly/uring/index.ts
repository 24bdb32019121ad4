// The reactor's io_uring is shared by every module that submits to it (file bdevs, sockets): any of
// their pollers may reap a completion of another's. Each submitter tags its descriptors' user_data in
// the low bits (its pointers are at least 4-byte aligned), and the reap here hands each completion to
// the handler of its tag, which routes it to the thread that owns it.

import { host_uring_reap, fatal, EINVAL } from "../runtime";

/** BdevIo pointers (16-byte aligned): their user_data is the pointer itself. */
export const RING_TAG_BDEV: u32 = 0;
/** SockOp pointers (4-byte aligned at least) | 1. */
export const RING_TAG_SOCK: u32 = 1;
export const RING_TAG_MASK: u32 = 3;
const TAGS: u32 = 4;

/** (ptr: usize, res: i32) => void: the completion of the object at ptr (tag bits cleared). */
export type RingCompleteFn = (ptr: usize, res: i32) => void;

/** Handler function-table indices by tag, shared by every instance (one module, one table). */
const HANDLERS = memory.data(TAGS * 4);

/** `user_data` for `ptr` with `tag`; traps if ptr would lose bits (an invariant of the submitter). */
export function ringUserData(ptr: usize, tag: u32): u32 {
  assert((<u32>ptr & RING_TAG_MASK) == 0 && tag < TAGS);
  return <u32>ptr | tag;
}

/** Let completions tagged `tag` reach `fn` (idempotent: every instance sets the same index). */
export function ringHandlerSet(tag: u32, fn: RingCompleteFn): void {
  assert(tag < TAGS);
  atomic.store<u32>(HANDLERS + <usize>tag * 4, <u32>changetype<usize>(fn));
}

/**
 * Reap up to `max` completions into `cqes` (8 bytes each: {u32 user_data, i32 res}) and hand each to
 * its tag's handler. Returns how many. A tag nobody set is a broken submitter: fatal.
 */
export function ringReap(cqes: usize, max: u32): i32 {
  const n = host_uring_reap(cqes, max);
  for (let i: i32 = 0; i < n; i++) {
    const c = cqes + <usize>i * 8;
    const userData = load<u32>(c);
    const tag = userData & RING_TAG_MASK;
    const fn = atomic.load<u32>(HANDLERS + <usize>tag * 4);
    if (fn == 0) fatal(-EINVAL, "io_uring completion with tag %d has no handler", 0, 0, <f64>tag);
    changetype<RingCompleteFn>(<usize>fn)(<usize>(userData & ~RING_TAG_MASK), load<i32>(c, 4));
  }
  return n;
}
