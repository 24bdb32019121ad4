// Bounded multi-producer / single-consumer ring of two-word entries (a function and its argument,
// or any pair of u32). Producers on any instance claim a slot with one compare-and-swap on the tail and
// publish it through the slot's sequence number (Vyukov's bounded queue); the single consumer needs no
// atomic read-modify-write on its fast path.
//
// Two ways in: `ringEnqueue` refuses a full ring (-ENOMEM, never an overwrite); `ringPost` cannot fail
// (message rings: a lost message is a hung operation). A post that finds the ring full closes the ring
// by pushing its entry on an overflow stack; while the ring is closed every post goes there. The
// consumer drains the ring, then in one compare-and-swap takes the whole stack and reopens the ring,
// and consumes what it took (oldest first) before anything claimed after. The gate (0: open, else the
// newest overflow entry) shares one 64-bit word with the tail position, so "claim a slot" and "the
// ring is open" are one atomic step: a producer's entries keep their order across the overflow and
// back (the proof is at ringDequeue). Overflow entries come from the heap; only running out of memory
// there is fatal.

import { heapAlloc, heapFree } from "./heap";
import { ENOMEM, EINVAL } from "./errno";
import { fatal, report, LEVEL_WARN } from "./host";

// Header layout: producers' and the consumer's fields sit on separate 64-byte lines.
const RING_CAPACITY_OFF: usize = 0;
const RING_MASK_OFF: usize = 4;
const RING_SLOTS_OFF: usize = 8;
const RING_TAIL_OFF: usize = 64;            // u64: next position to claim (high 32) | gate (low 32)
const RING_OVERFLOW_COUNT_OFF: usize = 72;  // u32, atomic: entries pushed on the overflow stack, not yet taken
const RING_OVERFLOW_TOTAL_OFF: usize = 76;  // u32, atomic: entries that ever went through the overflow (wraps)
const RING_HEAD_OFF: usize = 128;           // next position to read (consumer)
const RING_BACKLOG_OFF: usize = 132;        // consumer: taken overflow entries, oldest first
const RING_BACKLOG_COUNT_OFF: usize = 136;
const RING_HEADER_BYTES: usize = 192;

// The gate, the tail word's low half: open, or closed with the overflow stack's newest entry there.
const GATE_OPEN: u32 = 0;
const POS_ONE: u64 = <u64>1 << 32;
const POS_MASK: u64 = ~<u64>u32.MAX_VALUE;

const SLOT_SEQ_OFF: usize = 0;
const SLOT_A_OFF: usize = 4;
const SLOT_B_OFF: usize = 8;
export const RING_SLOT_BYTES: usize = 16;

// An overflow entry: {next (older on the stack, newer in the backlog), a, b}.
const NODE_NEXT_OFF: usize = 0;
const NODE_A_OFF: usize = 4;
const NODE_B_OFF: usize = 8;
const NODE_BYTES: usize = 12;

export const RING_MAX_CAPACITY: u32 = 1 << 20;
/** Overflow depth at which a warning is first reported (then at each doubling). */
const OVERFLOW_WARN_AT: u32 = 1 << 16;

@inline function tailPos(word: u64): u32 { return <u32>(word >> 32); }
@inline function tailGate(word: u64): u32 { return <u32>word; }

/** A ring of `capacity` entries (a power of two, 2..RING_MAX_CAPACITY), or 0 if out of memory. */
export function ringCreate(capacity: u32): usize {
  assert(capacity >= 2 && capacity <= RING_MAX_CAPACITY && popcnt(capacity) == 1, "ringCreate: capacity must be a power of two");
  const ring = heapAlloc(RING_HEADER_BYTES + <usize>capacity * RING_SLOT_BYTES);
  if (ring == 0) return 0;
  assert((ring & 7) == 0, "ringCreate: the tail word must be 8-byte aligned for its atomics");
  memory.fill(ring, 0, RING_HEADER_BYTES);
  const slots = ring + RING_HEADER_BYTES;
  store<u32>(ring, capacity, RING_CAPACITY_OFF);
  store<u32>(ring, capacity - 1, RING_MASK_OFF);
  store<usize>(ring, slots, RING_SLOTS_OFF);
  for (let i: u32 = 0; i < capacity; i++) {
    store<u32>(slots + <usize>i * RING_SLOT_BYTES, i, SLOT_SEQ_OFF);
  }
  return ring;
}

/** Free the ring and any overflow entries nobody consumed (the consumer is gone). */
export function ringDestroy(ring: usize): void {
  freeNodes(load<u32>(ring, RING_BACKLOG_OFF));
  freeNodes(tailGate(atomic.load<u64>(ring + RING_TAIL_OFF)));
  heapFree(ring);
}

function freeNodes(node: u32): void {
  let n: u32 = 0;
  while (node != 0) {
    assert(++n <= 1 << 30, "ring overflow list does not end");
    const next = load<u32>(<usize>node, NODE_NEXT_OFF);
    heapFree(<usize>node);
    node = next;
  }
}

/**
 * Claim `n` consecutive slots while the ring is open. Returns the first position, or -1 if the ring is
 * closed (an overflow holds older entries) or lacks n free slots.
 */
function claim(ring: usize, n: u32): i64 {
  const mask = load<u32>(ring, RING_MASK_OFF);
  const slots = load<usize>(ring, RING_SLOTS_OFF);
  let word = atomic.load<u64>(ring + RING_TAIL_OFF);
  while (true) {
    if (tailGate(word) != GATE_OPEN) return -1;
    const pos = tailPos(word);
    // The consumer frees slots in order, so if the last slot of the range is free, all of it is.
    const last = pos + n - 1;
    const seq = atomic.load<u32>(slots + <usize>(last & mask) * RING_SLOT_BYTES + SLOT_SEQ_OFF);
    const diff = <i32>(seq - last);
    if (diff == 0) {
      const was = atomic.cmpxchg<u64>(ring + RING_TAIL_OFF, word, word + <u64>n * POS_ONE);
      if (was == word) return <i64>pos;
      word = was;
    } else if (diff < 0) {
      return -1;                            // the slot still holds an entry a lap behind: full
    } else {
      word = atomic.load<u64>(ring + RING_TAIL_OFF);
    }
  }
}

function publish(ring: usize, pos: u32, a: u32, b: u32): void {
  const slot = load<usize>(ring, RING_SLOTS_OFF) + <usize>(pos & load<u32>(ring, RING_MASK_OFF)) * RING_SLOT_BYTES;
  store<u32>(slot, a, SLOT_A_OFF);
  store<u32>(slot, b, SLOT_B_OFF);
  atomic.store<u32>(slot + SLOT_SEQ_OFF, pos + 1);
}

/** Add (a, b). 0 on success, -ENOMEM if the ring is full (or closed). Safe from any number of instances. */
export function ringEnqueue(ring: usize, a: u32, b: u32): i32 {
  const pos = claim(ring, 1);
  if (pos < 0) return -ENOMEM;
  publish(ring, <u32>pos, a, b);
  return 0;
}

/**
 * Add n entries (a, values[i]) with one claim on the tail: all or none. 0, or -ENOMEM if fewer than n
 * slots are free. -EINVAL if n exceeds the capacity. `values` points at n u32s.
 */
export function ringEnqueueBatch(ring: usize, a: u32, values: usize, n: u32): i32 {
  if (n == 0) return 0;
  if (n > load<u32>(ring, RING_CAPACITY_OFF)) return -EINVAL;
  const pos = claim(ring, n);
  if (pos < 0) return -ENOMEM;
  for (let i: u32 = 0; i < n; i++) publish(ring, <u32>pos + i, a, load<u32>(values + (<usize>i << 2)));
  return 0;
}

/** Add (a, b); never fails (a full ring overflows to the heap, in order). */
export function ringPost(ring: usize, a: u32, b: u32): void {
  if (ringEnqueue(ring, a, b) != 0) overflowPush(ring, a, b);
}

/** Add n entries (a, values[i]), in order; never fails. One claim when they fit. */
export function ringPostBatch(ring: usize, a: u32, values: usize, n: u32): void {
  if (n == 0) return;
  if (n <= load<u32>(ring, RING_CAPACITY_OFF) && ringEnqueueBatch(ring, a, values, n) == 0) return;
  for (let i: u32 = 0; i < n; i++) overflowPush(ring, a, load<u32>(values + (<usize>i << 2)));
}

/** Push (a, b) on the overflow stack, closing the ring if it was open. */
function overflowPush(ring: usize, a: u32, b: u32): void {
  const node = heapAlloc(NODE_BYTES);
  if (node == 0) fatal(-ENOMEM, "out of memory: a message for a full ring could not be queued (%d entries are waiting)", 0, 0, <f64>ringCount(ring));
  assert(node != GATE_OPEN && node <= <usize>u32.MAX_VALUE);
  store<u32>(node, a, NODE_A_OFF);
  store<u32>(node, b, NODE_B_OFF);
  // Counted before it is linked, so the count never runs below what the stack holds.
  const waiting = atomic.add<u32>(ring + RING_OVERFLOW_COUNT_OFF, 1) + 1;
  // Nothing bounds the overflow but memory (senders are bounded by their own pools and queue depths):
  // say so when a consumer falls far behind, once per doubling.
  if (waiting >= OVERFLOW_WARN_AT && popcnt(waiting) == 1) {
    report(LEVEL_WARN, -ENOMEM, "a message ring's consumer is falling behind: %d messages wait in its overflow", 0, 0, <f64>waiting);
  }
  atomic.add<u32>(ring + RING_OVERFLOW_TOTAL_OFF, 1);
  let word = atomic.load<u64>(ring + RING_TAIL_OFF);
  while (true) {
    store<u32>(node, tailGate(word), NODE_NEXT_OFF);
    const was = atomic.cmpxchg<u64>(ring + RING_TAIL_OFF, word, (word & POS_MASK) | <u64>node);
    if (was == word) return;
    word = was;
  }
}

// The dequeued entry. Wasm globals are per instance, so unlike a static buffer in the shared memory
// these cannot be clobbered by another reactor.
export let ringOutA: u32 = 0;
export let ringOutB: u32 = 0;

/**
 * Take the oldest entry into (ringOutA, ringOutB). Returns false if none is published yet. Only the
 * ring's single consumer may call this.
 *
 * Order: every post is one CAS on the tail word (a claim while open, a push while closed), so posts
 * have one order. The ring closes at position P; the take (a CAS reopening it) happens only with
 * head == P, so every claim before the close is consumed first; the taken stack holds exactly the
 * pushes since the close and is consumed, in push order, before any slot from P on, all claimed after
 * the take. Entries are thus consumed in the order they were posted, and each producer's in its own.
 */
export function ringDequeue(ring: usize): bool {
  if (takeBacklog(ring)) return true;
  const pos = load<u32>(ring, RING_HEAD_OFF);
  const slot = load<usize>(ring, RING_SLOTS_OFF) + <usize>(pos & load<u32>(ring, RING_MASK_OFF)) * RING_SLOT_BYTES;
  const seq = atomic.load<u32>(slot + SLOT_SEQ_OFF);
  if (<i32>(seq - (pos + 1)) >= 0) {
    ringOutA = load<u32>(slot, SLOT_A_OFF);
    ringOutB = load<u32>(slot, SLOT_B_OFF);
    atomic.store<u32>(slot + SLOT_SEQ_OFF, pos + load<u32>(ring, RING_CAPACITY_OFF));   // free the slot for the next lap
    atomic.store<u32>(ring + RING_HEAD_OFF, pos + 1);
    return true;
  }
  return takeOverflow(ring, pos) && takeBacklog(ring);
}

/** The oldest taken overflow entry, if any. */
function takeBacklog(ring: usize): bool {
  const node = <usize>load<u32>(ring, RING_BACKLOG_OFF);
  if (node == 0) return false;
  ringOutA = load<u32>(node, NODE_A_OFF);
  ringOutB = load<u32>(node, NODE_B_OFF);
  store<u32>(ring, load<u32>(node, NODE_NEXT_OFF), RING_BACKLOG_OFF);
  const left = load<u32>(ring, RING_BACKLOG_COUNT_OFF);
  assert(left > 0, "ring backlog count out of step");
  store<u32>(ring, left - 1, RING_BACKLOG_COUNT_OFF);
  heapFree(node);
  return true;
}

/**
 * With the ring drained to `head` and closed: reopen it and move the overflow stack to the backlog,
 * both in one CAS. False while the ring is open or claimed slots are not yet published.
 */
function takeOverflow(ring: usize, head: u32): bool {
  let word = atomic.load<u64>(ring + RING_TAIL_OFF);
  while (true) {
    if (tailGate(word) == GATE_OPEN || tailPos(word) != head) return false;
    const was = atomic.cmpxchg<u64>(ring + RING_TAIL_OFF, word, word & POS_MASK);
    if (was == word) break;
    word = was;
  }
  // Reverse the stack (newest first) into the backlog (oldest first).
  let node = tailGate(word), oldest: u32 = 0, n: u32 = 0;
  while (node != 0) {
    const older = load<u32>(<usize>node, NODE_NEXT_OFF);
    store<u32>(<usize>node, oldest, NODE_NEXT_OFF);
    oldest = node;
    node = older;
    n++;
  }
  assert(load<u32>(ring, RING_BACKLOG_OFF) == 0, "ring overflow taken over a backlog");
  store<u32>(ring, oldest, RING_BACKLOG_OFF);
  store<u32>(ring, n, RING_BACKLOG_COUNT_OFF);
  const pushed = atomic.sub<u32>(ring + RING_OVERFLOW_COUNT_OFF, n);
  assert(pushed >= n, "ring overflow count out of step");
  return true;
}

/** Entries waiting: claimed but not yet consumed, plus overflow (a snapshot; exact only when producers are quiet). */
export function ringCount(ring: usize): u32 {
  return tailPos(atomic.load<u64>(ring + RING_TAIL_OFF)) - atomic.load<u32>(ring + RING_HEAD_OFF)
    + load<u32>(ring, RING_BACKLOG_COUNT_OFF) + atomic.load<u32>(ring + RING_OVERFLOW_COUNT_OFF);
}

/** Whether posts are going to the overflow stack right now (tests, statistics). */
export function ringOverflowing(ring: usize): bool {
  return tailGate(atomic.load<u64>(ring + RING_TAIL_OFF)) != GATE_OPEN || load<u32>(ring, RING_BACKLOG_OFF) != 0;
}

/** Entries that ever went through the overflow (statistics, tests; wraps at 2^32). */
export function ringOverflowTotal(ring: usize): u32 { return atomic.load<u32>(ring + RING_OVERFLOW_TOTAL_OFF); }

export function ringCapacity(ring: usize): u32 { return load<u32>(ring, RING_CAPACITY_OFF); }

/** Checked variant of ringCreate for callers that take a capacity from outside. */
export function ringCapacityValid(capacity: u32): i32 {
  return capacity >= 2 && capacity <= RING_MAX_CAPACITY && popcnt(capacity) == 1 ? 0 : -EINVAL;
}
