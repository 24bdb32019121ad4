// The engine-level exports: attaching an instance to the shared memory, reactors and their
// statistics, the heap as the host sees it, the app thread, the host's completion queue, and the
// control instance's recovery after a trap (host/control-guard.ts).

import { heapAttach, heapLiveBlocks, heapLiveBlocksAll, pagesInUse, pagesInit, pagesAlloc, pagesFree, pagesSetLimit, pagesLargestRun, PAGE_SIZE, heapStackMark, heapStackReset, rawLocksHeld, EINVAL } from "../runtime";
import { newObjectOrNull } from "../runtime/rt";
import { registryInit, threadSetDefaultRingSize, reactorsCreate, reactorBind, reactorRun, reactorRequestStop, reactorStat, reactorSetIdlePolicy, registryThreadCount, reactorSleepInKernel } from "../thread";
import { demoStart } from "./demo";
import { blobAttach } from "../blob";
import { completionsCreate, completionsBlock, completionsDrain, completionsPending, completionsQueued } from "./completions";
import { heapAlloc as coreHeapAlloc, heapFree as coreHeapFree } from "../runtime";
import { appThreadCreate } from "./request";

/** Attach this instance to the shared memory as arena `arenaId` (reactor i uses arena i). */
export function wstor_attach(arenaId: u32): void {
  pagesInit();
  heapAttach(arenaId);
  registryInit();
  blobAttach();
}

/** The maximum (64 KiB pages) the host created the shared memory with: what the heap can never exceed. */
export function wstor_memory_limit(pages: u32): void { pagesSetLimit(pages); }

/** Control instance, before any thread exists: the message ring size of threads (0 or -EINVAL). */
export function thread_set_default_ring_size(entries: u32): i32 { return threadSetDefaultRingSize(entries); }

/** Record this instance's shadow stack pointer at rest: called once, between calls, after wstor_attach. */
export function wstor_stack_mark(): void { heapStackMark(); }

/** Undo what a trap left on this instance's shadow stack (frames it unwound without popping). */
export function wstor_stack_reset(): void { heapStackReset(); }

/** Raw locks this instance holds: 0 between calls, unless a trap cut a critical section short. */
export function wstor_locks_held(): u32 { return rawLocksHeld(); }

/** The most bytes one allocation of whole pages could get now (a malloc bdev's data, a mapping). */
export function pages_room_bytes(): f64 { return <f64>pagesLargestRun() * <f64>PAGE_SIZE; }

/** Control instance: create the reactors before the workers start. */
export function wstor_create_reactors(count: u32): i32 { return reactorsCreate(count); }

export function reactor_bind(id: i32): void { reactorBind(id); }

/** This instance's reactor sleeps in the kernel, woken through eventfd `wakeFd`: 0 or -errno. */
export function reactor_sleep_in_kernel(wakeFd: i32): i32 { return reactorSleepInKernel(wakeFd); }

export function reactor_run(): i32 { return reactorRun(); }

export function reactor_request_stop(id: i32): void { reactorRequestStop(id); }

export function reactor_stat(id: i32, which: u32): f64 { return reactorStat(id, which); }

export function reactor_set_idle_policy(id: i32, idleSpinUs: u32, maxSleepUs: u32): void { reactorSetIdlePolicy(id, idleSpinUs, maxSleepUs); }

export function heap_live_blocks(): i32 { return heapLiveBlocks(); }

export function heap_live_blocks_all(): i32 { return heapLiveBlocksAll(); }

export function heap_pages_in_use(): u32 { return pagesInUse(); }

export function thread_count(): u32 { return registryThreadCount(); }

export function demo_start(rounds: u32, workerReactor: i32): i32 { return demoStart(rounds, workerReactor); }

/** A string object the host fills with `byteLength` bytes of UTF-16 (bdev names and the like); 0 without memory. */
export function wstor_string_new(byteLength: u32): usize { return newObjectOrNull(byteLength, idof<String>()); }

export function wstor_alloc(bytes: u32): usize { return coreHeapAlloc(bytes); }

export function wstor_free(ptr: usize): void { coreHeapFree(ptr); }

export function wstor_app_thread_create(): i32 { return appThreadCreate(); }

// The host's completion queue for blob I/O (app/completions.ts).
export function completions_create(): i32 { return completionsCreate(); }

export function completions_block(): usize { return completionsBlock(); }

export function completions_drain(out: usize, max: u32): u32 { return completionsDrain(out, max); }

export function completions_pending(): u32 { return completionsPending(); }

export function completions_queued(): f64 { return completionsQueued(); }

/** Reserve whole pages for `bytes` (a file the host maps there): the address, or 0 when there is no room. */
export function pages_reserve(bytes: f64): usize {
  const pages = Math.ceil(bytes / <f64>PAGE_SIZE);
  if (!(pages >= 1 && pages <= 65535)) return 0;
  return pagesAlloc(<u32>pages);
}

/** Give back what pages_reserve(bytes) returned (after the host unmapped it). */
export function pages_release(base: usize, bytes: f64): void {
  pagesFree(base, <u32>Math.ceil(bytes / <f64>PAGE_SIZE));
}
