// core.wasm's exports: the small integer-only interface the host calls. Every reactor worker and the
// host's control instance instantiate this same module over one shared memory.

import { heapAttach, heapLiveBlocks, pagesInUse, pagesInit } from "./runtime";
import {
  registryInit, reactorsCreate, reactorBind, reactorRun, reactorRequestStop, reactorStat, reactorSetIdlePolicy,
  registryThreadCount,
} from "./thread";
import { demoStart } from "./app/demo";

/** Attach this instance to the shared memory as arena `arenaId` (reactor i uses arena i). */
export function wstor_attach(arenaId: u32): void {
  pagesInit();
  heapAttach(arenaId);
  registryInit();
}

/** Control instance: create the reactors before the workers start. */
export function wstor_create_reactors(count: u32): i32 { return reactorsCreate(count); }

export function reactor_bind(id: i32): void { reactorBind(id); }
export function reactor_run(): i32 { return reactorRun(); }
export function reactor_request_stop(id: i32): void { reactorRequestStop(id); }
export function reactor_stat(id: i32, which: u32): f64 { return reactorStat(id, which); }
export function reactor_set_idle_policy(id: i32, idleSpinUs: u32, maxSleepUs: u32): void { reactorSetIdlePolicy(id, idleSpinUs, maxSleepUs); }

export function heap_live_blocks(): i32 { return heapLiveBlocks(); }
export function heap_pages_in_use(): u32 { return pagesInUse(); }
export function thread_count(): u32 { return registryThreadCount(); }

export function demo_start(rounds: u32, workerReactor: i32): i32 { return demoStart(rounds, workerReactor); }

// ---- bdevs (control plane: called by the host's control instance) ----
import { bdevById, bdevStatsRead, STATS_BLOCK_BYTES, Bdev } from "./bdev";
import { nullBdevCreate } from "./bdev/null";
import { mallocBdevCreate } from "./bdev/malloc";
import { heapAlloc as coreHeapAlloc, heapFree as coreHeapFree } from "./runtime";

/** A string object the host fills with `byteLength` bytes of UTF-16 (bdev names and the like). */
export function wstor_string_new(byteLength: u32): usize { return __new(byteLength, idof<String>()); }
export function wstor_alloc(bytes: u32): usize { return coreHeapAlloc(bytes); }
export function wstor_free(ptr: usize): void { coreHeapFree(ptr); }

export function bdev_null_create(name: usize, blockSize: u32, blockCount: f64): i32 {
  const b = nullBdevCreate(name, blockSize, <u64>blockCount);
  return b == 0 ? -22 : <i32>changetype<Bdev>(b).id;
}
export function bdev_malloc_create(name: usize, blockSize: u32, blockCount: f64): i32 {
  const b = mallocBdevCreate(name, blockSize, <u64>blockCount);
  return b == 0 ? -12 : <i32>changetype<Bdev>(b).id;
}
/** Geometry of bdev `id`: 0 block size, 1 block count, 2 io types mask, 3 open descriptors; NaN if none. */
export function bdev_info(id: u32, which: u32): f64 {
  const p = bdevById(id);
  if (p == 0) return NaN;
  const b = changetype<Bdev>(p);
  switch (which) {
    case 0: return <f64>b.blockSize;
    case 1: return <f64>b.blockCount;
    case 2: return <f64>b.ioTypes;
    case 3: return <f64>b.openCount;
    default: return NaN;
  }
}
/** Statistics of bdev `id` into out (bdev_stats_bytes()); -19 if there is no such bdev. */
export function bdev_stats(id: u32, out: usize): i32 {
  const p = bdevById(id);
  if (p == 0) return -19;
  bdevStatsRead(p, out);
  return 0;
}
export function bdev_stats_bytes(): u32 { return <u32>STATS_BLOCK_BYTES; }
