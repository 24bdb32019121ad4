// Every registered bdev, for lookup by id from the host and for iteration. A raw lock guards the list;
// each bdev's own lock guards its descriptors and channel list.

import { rawLock, rawUnlock, heapAllocZeroed, BDEV_ROOT } from "../runtime";
import { Bdev } from "./types";

const BDEV_ROOT_SLOT: usize = BDEV_ROOT;   // zero-filled memory is a valid empty registry

@unmanaged class BdevRoot {
  lock: i32;
  nextId: u32;
  head: usize;
  count: u32;
  descTable: usize;     // MAX_DESCS slots of {u32 generation, u32 desc pointer}
  descNextFree: u32;    // hint for the next free slot search
}

/** Open descriptors, engine-wide. A handle is (generation << DESC_INDEX_BITS) | slot. */
export const MAX_DESCS: u32 = 4096;
const DESC_INDEX_BITS: u32 = 12;

function root(): BdevRoot { return changetype<BdevRoot>(BDEV_ROOT_SLOT); }

export function bdevRegistryAdd(b: Bdev): void {
  rawLock(BDEV_ROOT_SLOT);
  const r = root();
  b.id = ++r.nextId;
  b.next = r.head;
  r.head = changetype<usize>(b);
  r.count++;
  rawUnlock(BDEV_ROOT_SLOT);
}

export function bdevRegistryRemove(b: Bdev): void {
  rawLock(BDEV_ROOT_SLOT);
  let link = BDEV_ROOT_SLOT + offsetof<BdevRoot>("head");
  while (load<usize>(link) != 0 && load<usize>(link) != changetype<usize>(b)) link = load<usize>(link) + offsetof<Bdev>("next");
  assert(load<usize>(link) != 0, "bdevRegistryRemove: not registered");
  store<usize>(link, b.next);
  root().count--;
  rawUnlock(BDEV_ROOT_SLOT);
}

/** The bdev with this id, or 0. */
export function bdevById(id: u32): usize {
  rawLock(BDEV_ROOT_SLOT);
  let cur = root().head;
  while (cur != 0 && changetype<Bdev>(cur).id != id) cur = changetype<Bdev>(cur).next;
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
