// Every registered bdev, for lookup by id from the host and for iteration: a list, and a table of
// buckets by id (chained through Bdev.hashNext) so a lookup costs the same with 12 bdevs or 12,000
// (the host looks bdevs up by id for every field it lists: a walk of the list made that quadratic).
// A raw lock guards both; each bdev's own lock guards its descriptors and channel list.

import { rawLock, rawUnlock, heapAllocZeroed, heapFree, BDEV_ROOT, ENOMEM } from "../runtime";
import { Bdev } from "./types";

const BDEV_ROOT_SLOT: usize = BDEV_ROOT;   // zero-filled memory is a valid empty registry

@unmanaged class BdevRoot {
  lock: i32;
  nextId: u32;
  head: usize;
  count: u32;
  descTable: usize;     // MAX_DESCS slots of {u32 generation, u32 desc pointer}
  descNextFree: u32;    // hint for the next free slot search
  buckets: usize;       // bucketCount chain heads (Bdev.hashNext), by id & (bucketCount - 1); 0 until the first bdev
  bucketCount: u32;     // a power of two, grown to at least one bucket per bdev
}

/** Buckets of the first table; it doubles whenever there are more bdevs than buckets. */
const BUCKETS_MIN: u32 = 64;

// @ts-ignore: decorator
@inline function bucketOf(r: BdevRoot, id: u32): usize { return r.buckets + (<usize>(id & (r.bucketCount - 1)) << alignof<usize>()); }

/** Open descriptors, engine-wide. A handle is (generation << DESC_INDEX_BITS) | slot. */
export const MAX_DESCS: u32 = 4096;
const DESC_INDEX_BITS: u32 = 12;

function root(): BdevRoot { return changetype<BdevRoot>(BDEV_ROOT_SLOT); }

/** Put every registered bdev into `table` of `count` buckets (under the lock). */
function rehashLocked(r: BdevRoot, table: usize, count: u32): void {
  r.buckets = table;
  r.bucketCount = count;
  for (let b = r.head; b != 0; b = changetype<Bdev>(b).next) {
    const head = bucketOf(r, changetype<Bdev>(b).id);
    changetype<Bdev>(b).hashNext = load<usize>(head);
    store<usize>(head, b);
  }
}

/**
 * Room in the id table for one more bdev, called before a bdev registers (bdevRegister). The table is
 * allocated outside the lock and swapped in under it. A table that cannot grow only makes chains longer;
 * -ENOMEM only when there is no table at all yet.
 */
export function bdevRegistryReserve(): i32 {
  const r = root();
  rawLock(BDEV_ROOT_SLOT);
  const want: u32 = r.bucketCount == 0 ? BUCKETS_MIN : r.count + 1 > r.bucketCount ? r.bucketCount << 1 : 0;
  rawUnlock(BDEV_ROOT_SLOT);
  if (want == 0) return 0;
  let table = heapAllocZeroed(<usize>want << alignof<usize>());
  let old: usize = 0;
  rawLock(BDEV_ROOT_SLOT);
  if (table != 0 && r.bucketCount < want) {
    old = r.buckets;
    rehashLocked(r, table, want);
    table = 0;
  }
  const usable = r.bucketCount > 0;
  rawUnlock(BDEV_ROOT_SLOT);
  heapFree(old);
  heapFree(table);       // another instance grew it meanwhile
  return usable ? 0 : -ENOMEM;
}

export function bdevRegistryAdd(b: Bdev): void {
  rawLock(BDEV_ROOT_SLOT);
  const r = root();
  assert(r.bucketCount != 0, "bdevRegistryAdd: no id table (bdevRegistryReserve first)");
  b.id = ++r.nextId;
  b.next = r.head;
  r.head = changetype<usize>(b);
  const head = bucketOf(r, b.id);
  b.hashNext = load<usize>(head);
  store<usize>(head, changetype<usize>(b));
  r.count++;
  rawUnlock(BDEV_ROOT_SLOT);
}

/** Unlink `b` from the chain that starts at `link` (a list head or a bucket). */
function unlinkFrom(link: usize, b: Bdev, nextOff: usize, what: string): void {
  while (load<usize>(link) != 0 && load<usize>(link) != changetype<usize>(b)) link = load<usize>(link) + nextOff;
  assert(load<usize>(link) != 0, what);
  store<usize>(link, load<usize>(changetype<usize>(b) + nextOff));
}

export function bdevRegistryRemove(b: Bdev): void {
  rawLock(BDEV_ROOT_SLOT);
  const r = root();
  unlinkFrom(BDEV_ROOT_SLOT + offsetof<BdevRoot>("head"), b, offsetof<Bdev>("next"), "bdevRegistryRemove: not registered");
  unlinkFrom(bucketOf(r, b.id), b, offsetof<Bdev>("hashNext"), "bdevRegistryRemove: not in its bucket");
  r.count--;
  rawUnlock(BDEV_ROOT_SLOT);
}

/** The bdev with this id, or 0. */
export function bdevById(id: u32): usize {
  rawLock(BDEV_ROOT_SLOT);
  const r = root();
  let cur: usize = r.bucketCount == 0 ? 0 : load<usize>(bucketOf(r, id));
  while (cur != 0 && changetype<Bdev>(cur).id != id) cur = changetype<Bdev>(cur).hashNext;
  rawUnlock(BDEV_ROOT_SLOT);
  return cur;
}

export function bdevCount(): u32 { return atomic.load<u32>(BDEV_ROOT_SLOT + offsetof<BdevRoot>("count")); }


/**
 * A handle for `desc`: valid until descHandleRelease, after which lookups of it fail (the generation
 * moved on), so a closed descriptor is an error, never a use of freed memory. 0 if the table is full.
 */
export function descHandleAlloc(desc: usize): u32 {
  rawLock(BDEV_ROOT_SLOT);
  const r = root();
  if (r.descTable == 0) {
    r.descTable = heapAllocZeroed(<usize>MAX_DESCS << 3);
    if (r.descTable == 0) { rawUnlock(BDEV_ROOT_SLOT); return 0; }
  }
  let handle: u32 = 0;
  for (let n: u32 = 0; n < MAX_DESCS; n++) {
    const slot = (r.descNextFree + n) & (MAX_DESCS - 1);
    if (slot == 0) continue;                    // slot 0 unused: handle 0 means "none"
    const cell = r.descTable + (<usize>slot << 3);
    if (load<usize>(cell, 4) != 0) continue;
    const gen = (load<u32>(cell) + 1) & ((1 << (32 - DESC_INDEX_BITS - 1)) - 1);   // keep handles positive as i32
    store<u32>(cell, gen == 0 ? 1 : gen);
    store<usize>(cell, desc, 4);
    handle = (load<u32>(cell) << DESC_INDEX_BITS) | slot;
    r.descNextFree = slot + 1;
    break;
  }
  rawUnlock(BDEV_ROOT_SLOT);
  return handle;
}

/** The descriptor behind a live handle, or 0 for a closed, stale or made-up one. */
export function descFromHandle(handle: u32): usize {
  const table = atomic.load<usize>(BDEV_ROOT_SLOT + offsetof<BdevRoot>("descTable"));
  const slot = handle & (MAX_DESCS - 1);
  if (table == 0 || slot == 0) return 0;
  const cell = table + (<usize>slot << 3);
  if (atomic.load<u32>(cell) != (handle >> DESC_INDEX_BITS)) return 0;
  return atomic.load<usize>(cell + 4);
}

export function descHandleRelease(handle: u32): void {
  const table = root().descTable;
  const slot = handle & (MAX_DESCS - 1);
  rawLock(BDEV_ROOT_SLOT);
  const cell = table + (<usize>slot << 3);
  assert(load<u32>(cell) == (handle >> DESC_INDEX_BITS), "descHandleRelease: stale handle");
  store<u32>(cell, load<u32>(cell) + 1);        // invalidate the handle before the slot is reused
  store<usize>(cell, 0, 4);
  rawUnlock(BDEV_ROOT_SLOT);
}
