// The shared page allocator: hands out runs of 64 KiB pages to every instance on the memory.
// Its root lives at a fixed address and is initialised exactly once (compare-and-swap on initState),
// unlike asc's stock runtimes whose per-instance globals all start a heap at the same __heap_base.

import { PAGE_ROOT, PAGE_SIZE, PAGE_SHIFT } from "./layout";
import { rawLock, rawUnlock } from "./rawlock";

@unmanaged class PageRoot {
  lock: i32;
  initState: i32;      // 0 new, 1 initialising, 2 ready
  heapStart: usize;    // first page the allocator owns (64 KiB aligned, above __heap_base)
  top: usize;          // first never-used address
  freeRuns: usize;     // address-ordered list of free runs (FreeRun at each run's base)
  pagesInUse: u32;
  pagesFree: u32;
  growFailures: u32;
  limitPages: u32;     // the memory's maximum as the host created it (0: not told, the module's 4 GiB)
}

@unmanaged class FreeRun {
  pageCount: u32;
  next: usize;
}

// @ts-ignore: decorator
@inline function root(): PageRoot { return changetype<PageRoot>(PAGE_ROOT); }

const INIT_NEW: i32 = 0;
const INIT_BUSY: i32 = 1;
const INIT_READY: i32 = 2;

/** Idempotent and safe to race: the first caller initialises, the others spin until it is done. */
export function pagesInit(): void {
  const stateAddr = PAGE_ROOT + offsetof<PageRoot>("initState");
  if (atomic.load<i32>(stateAddr) == INIT_READY) return;
  if (atomic.cmpxchg<i32>(stateAddr, INIT_NEW, INIT_BUSY) == INIT_NEW) {
    const r = root();
    const start = (__heap_base + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    r.heapStart = start;
    r.top = start;
    r.freeRuns = 0;
    r.pagesInUse = 0;
    r.pagesFree = 0;
    atomic.store<i32>(stateAddr, INIT_READY);
    return;
  }
  // Spin, not wait: a browser page's main thread may not block, and this window is a few stores long.
  while (atomic.load<i32>(stateAddr) != INIT_READY) {}
}

/** Make sure [0, end) is inside the memory, growing it if needed. Caller holds the lock. */
function ensureMemory(end: usize): bool {
  const have = <usize>memory.size() << PAGE_SHIFT;
  if (end <= have) return true;
  const needPages = <i32>((end - have + PAGE_SIZE - 1) >> PAGE_SHIFT);
  return memory.grow(needPages) >= 0;
}

/** A run of `count` zero-or-garbage pages, 64 KiB aligned, or 0 when the memory cannot grow. */
export function pagesAlloc(count: u32): usize {
  assert(count > 0);
  const r = root();
  rawLock(PAGE_ROOT);
  // First fit over the free runs.
  let prevLink = PAGE_ROOT + offsetof<PageRoot>("freeRuns");
  let run = r.freeRuns;
  while (run != 0) {
    const fr = changetype<FreeRun>(run);
    if (fr.pageCount >= count) {
      if (fr.pageCount == count) {
        store<usize>(prevLink, fr.next);
      } else {
        const rest = changetype<FreeRun>(run + (<usize>count << PAGE_SHIFT));
        rest.pageCount = fr.pageCount - count;
        rest.next = fr.next;
        store<usize>(prevLink, changetype<usize>(rest));
      }
      r.pagesFree -= count;
      r.pagesInUse += count;
      rawUnlock(PAGE_ROOT);
      return run;
    }
    prevLink = run + offsetof<FreeRun>("next");
    run = fr.next;
  }
  const base = r.top;
  const end = base + (<usize>count << PAGE_SHIFT);
  // end < base: the request wrapped past 4 GiB.
  if (end < base || !ensureMemory(end)) {
    r.growFailures++;
    rawUnlock(PAGE_ROOT);
    return 0;
  }
  r.top = end;
  r.pagesInUse += count;
  rawUnlock(PAGE_ROOT);
  return base;
}

/** Return a run to the allocator; neighbours are merged so large runs can be found again. */
export function pagesFree(base: usize, count: u32): void {
  const r = root();
  assert((base & (PAGE_SIZE - 1)) == 0 && base >= r.heapStart && base < r.top, "pagesFree: not a page run");
  rawLock(PAGE_ROOT);
  let prevLink = PAGE_ROOT + offsetof<PageRoot>("freeRuns");
  let prev: usize = 0;
  let next = r.freeRuns;
  while (next != 0 && next < base) {
    prev = next;
    prevLink = next + offsetof<FreeRun>("next");
    next = changetype<FreeRun>(next).next;
  }
  const end = base + (<usize>count << PAGE_SHIFT);
  assert(next == 0 || end <= next, "pagesFree: run overlaps a free run (double free)");
  const node = changetype<FreeRun>(base);
  node.pageCount = count;
  node.next = next;
  if (next == end) {
    node.pageCount += changetype<FreeRun>(next).pageCount;
    node.next = changetype<FreeRun>(next).next;
  }
  const prevEnd: usize = prev == 0 ? 0 : prev + (<usize>changetype<FreeRun>(prev).pageCount << PAGE_SHIFT);
  assert(prevEnd <= base, "pagesFree: run overlaps a free run (double free)");
  if (prev != 0 && prevEnd == base) {
    changetype<FreeRun>(prev).pageCount += node.pageCount;
    changetype<FreeRun>(prev).next = node.next;
  } else {
    store<usize>(prevLink, base);
  }
  r.pagesInUse -= count;
  r.pagesFree += count;
  rawUnlock(PAGE_ROOT);
}

export function pagesInUse(): u32 { return atomic.load<u32>(PAGE_ROOT + offsetof<PageRoot>("pagesInUse")); }
export function pagesFreeCount(): u32 { return atomic.load<u32>(PAGE_ROOT + offsetof<PageRoot>("pagesFree")); }
export function heapStart(): usize { return root().heapStart; }

/** 4 GiB in pages: the most a 32-bit memory can have, and what asc declares as the maximum. */
const ADDRESS_SPACE_PAGES: u32 = 65536;

/**
 * The host tells the core the maximum it created the shared memory with (Wasm cannot read it back),
 * so the heap knows what it can never hold. Any instance may call it; the value is shared.
 */
export function pagesSetLimit(pages: u32): void {
  assert(pages > 0 && pages <= ADDRESS_SPACE_PAGES, "pagesSetLimit: not a Wasm memory size");
  atomic.store<u32>(PAGE_ROOT + offsetof<PageRoot>("limitPages"), pages);
}

/** Bytes the heap could hold with everything in it freed: the memory's maximum above heapStart. */
export function heapCapacityBytes(): u64 {
  const limit = atomic.load<u32>(PAGE_ROOT + offsetof<PageRoot>("limitPages"));
  const bytes = <u64>(limit != 0 ? limit : ADDRESS_SPACE_PAGES) << PAGE_SHIFT;
  const start = <u64>root().heapStart;
  return bytes > start ? bytes - start : 0;
}
export function heapTop(): usize { return atomic.load<usize>(PAGE_ROOT + offsetof<PageRoot>("top")); }

/**
 * The most pages one pagesAlloc could return now: the longest free run, or the room between the top and
 * the memory's maximum, whichever is longer (for errors that say how much would fit).
 */
export function pagesLargestRun(): u32 {
  const r = root();
  rawLock(PAGE_ROOT);
  let most: u32 = 0;
  for (let run = r.freeRuns; run != 0; run = changetype<FreeRun>(run).next) most = max(most, changetype<FreeRun>(run).pageCount);
  const limit = r.limitPages != 0 ? r.limitPages : ADDRESS_SPACE_PAGES;
  const topPage = <u32>(r.top >> PAGE_SHIFT);
  rawUnlock(PAGE_ROOT);
  return max(most, limit > topPage ? limit - topPage : 0);
}
