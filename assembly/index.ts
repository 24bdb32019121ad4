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
