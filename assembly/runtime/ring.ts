// Bounded multi-producer / single-consumer ring of two-word entries (a function and its argument,
// or any pair of u32). Producers on any instance claim a slot with one compare-and-swap on the tail and
// publish it through the slot's sequence number (Vyukov's bounded queue); the single consumer needs no
// atomic read-modify-write. A full ring is reported to the producer (-ENOMEM), never overwritten.

import { heapAlloc, heapFree } from "./heap";
import { ENOMEM, EINVAL } from "./errno";

// Header layout: producers' and the consumer's positions sit on separate 64-byte lines.
const RING_CAPACITY_OFF: usize = 0;
const RING_MASK_OFF: usize = 4;
const RING_SLOTS_OFF: usize = 8;
const RING_TAIL_OFF: usize = 64;       // next position to claim (producers)
const RING_HEAD_OFF: usize = 128;      // next position to read (consumer)
const RING_HEADER_BYTES: usize = 192;

const SLOT_SEQ_OFF: usize = 0;
const SLOT_A_OFF: usize = 4;
const SLOT_B_OFF: usize = 8;
export const RING_SLOT_BYTES: usize = 16;

export const RING_MAX_CAPACITY: u32 = 1 << 20;

/** A ring of `capacity` entries (a power of two, 2..RING_MAX_CAPACITY), or 0 if out of memory. */
export function ringCreate(capacity: u32): usize {
  assert(capacity >= 2 && capacity <= RING_MAX_CAPACITY && popcnt(capacity) == 1, "ringCreate: capacity must be a power of two");
  const ring = heapAlloc(RING_HEADER_BYTES + <usize>capacity * RING_SLOT_BYTES);
  if (ring == 0) return 0;
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

export function ringDestroy(ring: usize): void { heapFree(ring); }

/** Add (a, b). 0 on success, -ENOMEM if the ring is full. Safe from any number of instances. */
export function ringEnqueue(ring: usize, a: u32, b: u32): i32 {
  const mask = load<u32>(ring, RING_MASK_OFF);
  const slots = load<usize>(ring, RING_SLOTS_OFF);
  let pos = atomic.load<u32>(ring + RING_TAIL_OFF);
  let slot: usize;
  while (true) {
    slot = slots + <usize>(pos & mask) * RING_SLOT_BYTES;
    const seq = atomic.load<u32>(slot + SLOT_SEQ_OFF);
    const diff = <i32>(seq - pos);
    if (diff == 0) {
      const was = atomic.cmpxchg<u32>(ring + RING_TAIL_OFF, pos, pos + 1);
      if (was == pos) break;
      pos = was;
    } else if (diff < 0) {
      return -ENOMEM;                     // the slot still holds an entry a lap behind: full
    } else {
      pos = atomic.load<u32>(ring + RING_TAIL_OFF);
    }
  }
  store<u32>(slot, a, SLOT_A_OFF);
  store<u32>(slot, b, SLOT_B_OFF);
  atomic.store<u32>(slot + SLOT_SEQ_OFF, pos + 1);   // publish
  return 0;
}

// The dequeued entry. Wasm globals are per instance, so unlike a static buffer in the shared memory
// these cannot be clobbered by another reactor.
export let ringOutA: u32 = 0;
export let ringOutB: u32 = 0;

/**
 * Add n entries (a, values[i]) with one claim on the tail: all or none. 0, or -ENOMEM if fewer than n
 * slots are free. -EINVAL if n exceeds the capacity. `values` points at n u32s.
 */
export function ringEnqueueBatch(ring: usize, a: u32, values: usize, n: u32): i32 {
  if (n == 0) return 0;
  const capacity = load<u32>(ring, RING_CAPACITY_OFF);
  if (n > capacity) return -EINVAL;
  const mask = capacity - 1;
  const slots = load<usize>(ring, RING_SLOTS_OFF);
  let pos = atomic.load<u32>(ring + RING_TAIL_OFF);
  while (true) {
    // The consumer frees slots in order, so if the last slot of the range is free, all of it is.
    const last = pos + n - 1;
    const seq = atomic.load<u32>(slots + <usize>(last & mask) * RING_SLOT_BYTES + SLOT_SEQ_OFF);
    const diff = <i32>(seq - last);
    if (diff == 0) {
      const was = atomic.cmpxchg<u32>(ring + RING_TAIL_OFF, pos, pos + n);
      if (was == pos) break;
      pos = was;
    } else if (diff < 0) {
      return -ENOMEM;
    } else {
      pos = atomic.load<u32>(ring + RING_TAIL_OFF);
    }
  }
  for (let i: u32 = 0; i < n; i++) {
    const slot = slots + <usize>((pos + i) & mask) * RING_SLOT_BYTES;
    store<u32>(slot, a, SLOT_A_OFF);
    store<u32>(slot, load<u32>(values + (<usize>i << 2)), SLOT_B_OFF);
    atomic.store<u32>(slot + SLOT_SEQ_OFF, pos + i + 1);
  }
  return 0;
}

/**
 * Take the oldest entry into (ringOutA, ringOutB). Returns false if none is published yet. Only the
 * ring's single consumer may call this.
 */
export function ringDequeue(ring: usize): bool {
  const pos = load<u32>(ring, RING_HEAD_OFF);
  const slot = load<usize>(ring, RING_SLOTS_OFF) + <usize>(pos & load<u32>(ring, RING_MASK_OFF)) * RING_SLOT_BYTES;
  const seq = atomic.load<u32>(slot + SLOT_SEQ_OFF);
  if (<i32>(seq - (pos + 1)) < 0) return false;
  ringOutA = load<u32>(slot, SLOT_A_OFF);
  ringOutB = load<u32>(slot, SLOT_B_OFF);
  atomic.store<u32>(slot + SLOT_SEQ_OFF, pos + load<u32>(ring, RING_CAPACITY_OFF));   // free the slot for the next lap
  atomic.store<u32>(ring + RING_HEAD_OFF, pos + 1);
  return true;
}

/** Entries claimed but not yet consumed (a snapshot; exact only when producers are quiet). */
export function ringCount(ring: usize): u32 {
  return atomic.load<u32>(ring + RING_TAIL_OFF) - atomic.load<u32>(ring + RING_HEAD_OFF);
}

export function ringCapacity(ring: usize): u32 { return load<u32>(ring, RING_CAPACITY_OFF); }

/** Checked variant of ringCreate for callers that take a capacity from outside. */
export function ringCapacityValid(capacity: u32): i32 {
  return capacity >= 2 && capacity <= RING_MAX_CAPACITY && popcnt(capacity) == 1 ? 0 : -EINVAL;
}
