// Single-producer / single-consumer ring of two-word entries: the cheapest queue between exactly two
// parties (a reactor and its host side, or two fixed reactors). Each side owns one index; the other
// side only reads it. Also the baseline the message benchmarks compare the MPSC ring with.

import { heapAlloc, heapFree } from "./heap";

const SPSC_MASK_OFF: usize = 0;
const SPSC_SLOTS_OFF: usize = 4;
// Each side's index and its cached copy of the other side's index share a line that only that side
// writes: the other side's line is read again only when the cached copy says full (or empty).
const SPSC_TAIL_OFF: usize = 64;          // producer: next slot to write
const SPSC_HEAD_CACHE_OFF: usize = 68;    // producer: last head it read
const SPSC_HEAD_OFF: usize = 128;         // consumer: next slot to read
const SPSC_TAIL_CACHE_OFF: usize = 132;   // consumer: last tail it read
const SPSC_HEADER_BYTES: usize = 192;
const SPSC_SLOT_BYTES: usize = 8;

export function spscCreate(capacity: u32): usize {
  assert(capacity >= 2 && popcnt(capacity) == 1, "spscCreate: capacity must be a power of two");
  const ring = heapAlloc(SPSC_HEADER_BYTES + <usize>capacity * SPSC_SLOT_BYTES);
  if (ring == 0) return 0;
  memory.fill(ring, 0, SPSC_HEADER_BYTES);
  store<u32>(ring, capacity - 1, SPSC_MASK_OFF);
  store<usize>(ring, ring + SPSC_HEADER_BYTES, SPSC_SLOTS_OFF);
  return ring;
}

export function spscDestroy(ring: usize): void { heapFree(ring); }

export function spscEnqueue(ring: usize, a: u32, b: u32): bool {
  const tail = load<u32>(ring, SPSC_TAIL_OFF);
  const mask = load<u32>(ring, SPSC_MASK_OFF);
  if (tail - load<u32>(ring, SPSC_HEAD_CACHE_OFF) > mask) {
    const head = atomic.load<u32>(ring + SPSC_HEAD_OFF);
    store<u32>(ring, head, SPSC_HEAD_CACHE_OFF);
    if (tail - head > mask) return false;
  }
  const slot = load<usize>(ring, SPSC_SLOTS_OFF) + <usize>(tail & mask) * SPSC_SLOT_BYTES;
  store<u32>(slot, a);
  store<u32>(slot, b, 4);
  atomic.store<u32>(ring + SPSC_TAIL_OFF, tail + 1);
  return true;
}

/** The dequeued entry (per-instance globals, see ring.ts). */
export let spscOutA: u32 = 0;
export let spscOutB: u32 = 0;

export function spscDequeue(ring: usize): bool {
  const head = load<u32>(ring, SPSC_HEAD_OFF);
  if (head == load<u32>(ring, SPSC_TAIL_CACHE_OFF)) {
    const tail = atomic.load<u32>(ring + SPSC_TAIL_OFF);
    store<u32>(ring, tail, SPSC_TAIL_CACHE_OFF);
    if (head == tail) return false;
  }
  const slot = load<usize>(ring, SPSC_SLOTS_OFF) + <usize>(head & load<u32>(ring, SPSC_MASK_OFF)) * SPSC_SLOT_BYTES;
  spscOutA = load<u32>(slot);
  spscOutB = load<u32>(slot, 4);
  atomic.store<u32>(ring + SPSC_HEAD_OFF, head + 1);
  return true;
}
