// Fixed-size object pool with per-instance caches (SPDK's spdk_mempool with its per-core cache).
// All objects are allocated at creation; get/put never touch the heap. The common path uses only
// this instance's cache; the shared stack behind it is taken under a short raw lock, in batches.
// An empty pool returns 0: callers queue or fail with -ENOMEM, they never wait here.

import { heapAlloc, heapAllocZeroed, heapFree, heapArenaId } from "./heap";
import { MAX_ARENAS } from "./layout";
import { rawLock, rawUnlock } from "./rawlock";
import { fatal } from "./host";
import { EINVAL } from "./errno";

const POOL_LOCK_OFF: usize = 0;
const POOL_OBJ_BYTES_OFF: usize = 4;
const POOL_COUNT_OFF: usize = 8;
const POOL_FREE_OFF: usize = 12;       // entries on the shared stack
const POOL_STACK_OFF: usize = 16;
const POOL_CACHE_SIZE_OFF: usize = 20;
const POOL_CACHES_OFF: usize = 24;
const POOL_STORAGE_OFF: usize = 28;
const POOL_NAME_OFF: usize = 32;
const POOL_HEADER_BYTES: usize = 64;

/** Largest per-instance cache; SPDK's default per-core cache is 512 for its message pool. */
export const POOL_CACHE_MAX: u32 = 512;

function cacheOf(pool: usize): usize {
  const stride: usize = 4 + (<usize>load<u32>(pool, POOL_CACHE_SIZE_OFF) << 2);
  return load<usize>(pool, POOL_CACHES_OFF) + <usize>heapArenaId() * stride;
}

/** A pool of `count` zeroed objects of `objBytes` (rounded up to 16); 0 if out of memory. */
export function poolCreate(name: string, objBytes: u32, count: u32, cacheSize: u32): usize {
  assert(objBytes > 0 && count > 0 && cacheSize <= POOL_CACHE_MAX, "poolCreate: bad sizes");
  const stride = (<usize>objBytes + 15) & ~<usize>15;
  const pool = heapAllocZeroed(POOL_HEADER_BYTES);
  if (pool == 0) return 0;
  const stack = heapAlloc(<usize>count << 2);
  const caches = heapAllocZeroed(<usize>MAX_ARENAS * (4 + (<usize>cacheSize << 2)));
  const storage = heapAllocZeroed(stride * count);
  if (stack == 0 || caches == 0 || storage == 0) {
    heapFree(stack); heapFree(caches); heapFree(storage); heapFree(pool);
    return 0;
  }
  for (let i: u32 = 0; i < count; i++) store<usize>(stack + (<usize>i << 2), storage + <usize>i * stride);
  store<u32>(pool, <u32>stride, POOL_OBJ_BYTES_OFF);
  store<u32>(pool, count, POOL_COUNT_OFF);
  store<u32>(pool, count, POOL_FREE_OFF);
  store<usize>(pool, stack, POOL_STACK_OFF);
  store<u32>(pool, cacheSize, POOL_CACHE_SIZE_OFF);
  store<usize>(pool, caches, POOL_CACHES_OFF);
  store<usize>(pool, storage, POOL_STORAGE_OFF);
  store<usize>(pool, changetype<usize>(name), POOL_NAME_OFF);
  return pool;
}

/** Free the pool. Every object must have been returned (checked: a missing one is a leak). */
export function poolDestroy(pool: usize): void {
  poolFlushCache(pool);
  const count = load<u32>(pool, POOL_COUNT_OFF);
  const free = load<u32>(pool, POOL_FREE_OFF);
  if (free != count) {
    fatal(-EINVAL, "pool %s destroyed with %d objects still in use", load<usize>(pool, POOL_NAME_OFF), 0, <f64>(count - free));
  }
  heapFree(load<usize>(pool, POOL_STACK_OFF));
  heapFree(load<usize>(pool, POOL_CACHES_OFF));
  heapFree(load<usize>(pool, POOL_STORAGE_OFF));
  heapFree(pool);
}

/** Move up to `want` objects from the shared stack into the cache. Returns how many moved. */
function refill(pool: usize, cache: usize, want: u32): u32 {
  rawLock(pool + POOL_LOCK_OFF);
  const free = load<u32>(pool, POOL_FREE_OFF);
  const take = min(want, free);
  const stack = load<usize>(pool, POOL_STACK_OFF);
  const n = load<u32>(cache);
  for (let i: u32 = 0; i < take; i++) {
    store<usize>(cache + 4 + (<usize>(n + i) << 2), load<usize>(stack + (<usize>(free - 1 - i) << 2)));
  }
  store<u32>(pool, free - take, POOL_FREE_OFF);
  rawUnlock(pool + POOL_LOCK_OFF);
  store<u32>(cache, n + take);
  return take;
}

/** Move `count` objects from the top of the cache back to the shared stack. */
function spill(pool: usize, cache: usize, count: u32): void {
  const n = load<u32>(cache);
  assert(count <= n);
  rawLock(pool + POOL_LOCK_OFF);
  const free = load<u32>(pool, POOL_FREE_OFF);
  const stack = load<usize>(pool, POOL_STACK_OFF);
  for (let i: u32 = 0; i < count; i++) {
    store<usize>(stack + (<usize>(free + i) << 2), load<usize>(cache + 4 + (<usize>(n - 1 - i) << 2)));
  }
  store<u32>(pool, free + count, POOL_FREE_OFF);
  rawUnlock(pool + POOL_LOCK_OFF);
  store<u32>(cache, n - count);
}

/** An object (contents as last put), or 0 if the pool is empty. */
export function poolGet(pool: usize): usize {
  const cacheSize = load<u32>(pool, POOL_CACHE_SIZE_OFF);
  if (cacheSize == 0) {
    rawLock(pool + POOL_LOCK_OFF);
    const free = load<u32>(pool, POOL_FREE_OFF);
    let obj: usize = 0;
    if (free > 0) {
      obj = load<usize>(load<usize>(pool, POOL_STACK_OFF) + (<usize>(free - 1) << 2));
      store<u32>(pool, free - 1, POOL_FREE_OFF);
    }
    rawUnlock(pool + POOL_LOCK_OFF);
    return obj;
  }
  const cache = cacheOf(pool);
  let n = load<u32>(cache);
  if (n == 0) {
    n = refill(pool, cache, (cacheSize + 1) >> 1);
    if (n == 0) return 0;
  }
  store<u32>(cache, n - 1);
  return load<usize>(cache + 4 + (<usize>(n - 1) << 2));
}

export function poolPut(pool: usize, obj: usize): void {
  const storage = load<usize>(pool, POOL_STORAGE_OFF);
  const stride = <usize>load<u32>(pool, POOL_OBJ_BYTES_OFF);
  const count = load<u32>(pool, POOL_COUNT_OFF);
  if (obj < storage || obj >= storage + stride * count || (obj - storage) % stride != 0) {
    fatal(-EINVAL, "pool %s: put of %d, which is not one of its objects", load<usize>(pool, POOL_NAME_OFF), 0, <f64>obj);
  }
  const cacheSize = load<u32>(pool, POOL_CACHE_SIZE_OFF);
  if (cacheSize == 0) {
    rawLock(pool + POOL_LOCK_OFF);
    const free = load<u32>(pool, POOL_FREE_OFF);
    assert(free < count, "pool: more puts than gets");
    store<usize>(load<usize>(pool, POOL_STACK_OFF) + (<usize>free << 2), obj);
    store<u32>(pool, free + 1, POOL_FREE_OFF);
    rawUnlock(pool + POOL_LOCK_OFF);
    return;
  }
  const cache = cacheOf(pool);
  if (load<u32>(cache) == cacheSize) spill(pool, cache, cacheSize >> 1);
  const n = load<u32>(cache);
  store<usize>(cache + 4 + (<usize>n << 2), obj);
  store<u32>(cache, n + 1);
}

/** Return this instance's cached objects to the shared stack (before teardown, or to rebalance). */
export function poolFlushCache(pool: usize): void {
  if (load<u32>(pool, POOL_CACHE_SIZE_OFF) == 0) return;
  const cache = cacheOf(pool);
  spill(pool, cache, load<u32>(cache));
}

/** Objects on the shared stack (excludes objects sitting in instance caches). */
export function poolSharedFree(pool: usize): u32 { return atomic.load<u32>(pool + POOL_FREE_OFF); }
export function poolCount(pool: usize): u32 { return load<u32>(pool, POOL_COUNT_OFF); }
export function poolCachedHere(pool: usize): u32 {
  return load<u32>(pool, POOL_CACHE_SIZE_OFF) == 0 ? 0 : load<u32>(cacheOf(pool));
}
