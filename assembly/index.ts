// core.wasm's exports: the small integer-only interface the host calls. Every reactor worker and the
// host's control instance instantiate this same module over one shared memory.

import {
  heapAttach, heapLiveBlocks, heapLiveBlocksAll, pagesInUse, pagesInit, pagesAlloc, pagesFree, pagesSetLimit, pagesLargestRun, PAGE_SIZE,
  heapStackMark, heapStackReset, rawLocksHeld, EINVAL, ENOMEM,
} from "./runtime";
import { newObjectOrNull } from "./runtime/rt";
import {
  registryInit, reactorsCreate, reactorBind, reactorRun, reactorRequestStop, reactorStat, reactorSetIdlePolicy,
  registryThreadCount, reactorSleepInKernel,
} from "./thread";
import { demoStart } from "./app/demo";
import { blobAttach } from "./blob";
import { completionsCreate, completionsBlock, completionsDrain, completionsPending, completionsQueued } from "./app/completions";

/** Attach this instance to the shared memory as arena `arenaId` (reactor i uses arena i). */
export function wstor_attach(arenaId: u32): void {
  pagesInit();
  heapAttach(arenaId);
  registryInit();
  blobAttach();
}

/** The maximum (64 KiB pages) the host created the shared memory with: what the heap can never exceed. */
export function wstor_memory_limit(pages: u32): void { pagesSetLimit(pages); }

// ---- the control instance after a trap (host/control-guard.ts) ----
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

// ---- bdevs (control plane: called by the host's control instance) ----
import { bdevById, bdevStatsRead, STATS_BLOCK_BYTES, Bdev } from "./bdev";
import { nullBdevCreate, isNullBdev } from "./bdev/null";
import { mallocBdevCreate } from "./bdev/malloc";
import { heapAlloc as coreHeapAlloc, heapFree as coreHeapFree } from "./runtime";

/** A string object the host fills with `byteLength` bytes of UTF-16 (bdev names and the like); 0 without memory. */
export function wstor_string_new(byteLength: u32): usize { return newObjectOrNull(byteLength, idof<String>()); }
export function wstor_alloc(bytes: u32): usize { return coreHeapAlloc(bytes); }
export function wstor_free(ptr: usize): void { coreHeapFree(ptr); }

/** A geometry the bdev layer takes: a power-of-two block size of at least 512, 1 to 2^53 - 1 blocks. */
function geometryOk(blockSize: u32, blockCount: f64): bool {
  return blockSize >= 512 && popcnt(blockSize) == 1 && blockCount >= 1 && blockCount <= 9007199254740991 && Math.floor(blockCount) == blockCount;
}
/** Bdev id, -EINVAL for a bad geometry, or -ENOMEM (the only other way it fails). */
export function bdev_null_create(name: usize, blockSize: u32, blockCount: f64): i32 {
  if (!geometryOk(blockSize, blockCount)) return -EINVAL;
  const b = nullBdevCreate(name, blockSize, <u64>blockCount);
  return b == 0 ? -ENOMEM : <i32>changetype<Bdev>(b).id;
}
/** Bdev id, -EINVAL for a bad geometry or more than the 4 GiB address space, or -ENOMEM. */
export function bdev_malloc_create(name: usize, blockSize: u32, blockCount: f64): i32 {
  if (!geometryOk(blockSize, blockCount) || blockCount * <f64>blockSize > <f64>0xf0000000) return -EINVAL;
  const b = mallocBdevCreate(name, blockSize, <u64>blockCount);
  return b == 0 ? -ENOMEM : <i32>changetype<Bdev>(b).id;
}
/** Geometry of bdev `id`: 0 block size, 1 block count, 2 io types mask, 3 open descriptors, 4 claimed, 5 being removed; NaN if none. */
export function bdev_info(id: u32, which: u32): f64 {
  const p = bdevById(id);
  if (p == 0) return NaN;
  const b = changetype<Bdev>(p);
  switch (which) {
    case 0: return <f64>b.blockSize;
    case 1: return <f64>b.blockCount;
    case 2: return <f64>b.ioTypes;
    case 3: return <f64>b.openCount;
    case 4: return b.claimed != 0 ? 1 : 0;
    case 5: return bdevIsRemoving(p) ? 1 : 0;
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

// ---- perf (bdevperf) ----
import { perfStart, perfStartBlob, perfStop, perfJobsDone, perfStat, perfHist, perfFree, lastPerfRun } from "./perf";
import { HIST_BUCKETS, histBucketStart } from "./runtime";
/**
 * Run handle (a positive number: the run's address, which may exceed 2^31) or a negative errno.
 * flags: 1 = reads without a buffer (the bdev lends its own: bdevperf's -Z).
 */
export function perf_start(bdevId: u32, reactors: u32, workload: u32, readPercent: u32, queueDepth: u32, ioBytes: u32, durationMs: u32, seed: u32, flags: u32): f64 {
  const rc = perfStart(bdevId, reactors, workload, readPercent, queueDepth, ioBytes, durationMs, seed, flags);
  return rc < 0 ? <f64>rc : <f64>changetype<usize>(lastPerfRun);
}
/** perf_start's jobs against an open blob (its handle) instead of a bdev. */
export function perf_start_blob(blob: usize, reactors: u32, workload: u32, readPercent: u32, queueDepth: u32, ioBytes: u32, durationMs: u32, seed: u32): f64 {
  const rc = perfStartBlob(changetype<Blob>(blob), reactors, workload, readPercent, queueDepth, ioBytes, durationMs, seed);
  return rc < 0 ? <f64>rc : <f64>changetype<usize>(lastPerfRun);
}
export function perf_stop(run: usize): void { perfStop(run); }
export function perf_jobs_done(run: usize): u32 { return perfJobsDone(run); }
export function perf_stat(run: usize, job: u32, field: u32): f64 { return perfStat(run, job, field); }
export function perf_hist(run: usize, job: u32): usize { return perfHist(run, job); }
export function perf_free(run: usize): i32 { return perfFree(run); }
export function hist_buckets(): u32 { return HIST_BUCKETS; }
export function hist_bucket_start(bucket: u32): f64 { return <f64>histBucketStart(bucket); }

// ---- app thread, requests, pass-through bdevs, delete ----
import { appThreadCreate, onAppThread, requestDone } from "./app/request";
import { errorBdevCreate, errorInject, isErrorBdev } from "./bdev/error";
import { delayBdevCreate, delayUpdateLatency, isDelayBdev } from "./bdev/delay";
import { crashBdevCreate, crashCut, isCrashBdev } from "./bdev/crash";
import { passthruError } from "./bdev/passthru";
import { bdevUnregister, bdevResize, bdevIsRemoving } from "./bdev";

export function wstor_app_thread_create(): i32 { return appThreadCreate(); }

// The host's completion queue for blob I/O (app/completions.ts).
export function completions_create(): i32 { return completionsCreate(); }
export function completions_block(): usize { return completionsBlock(); }
export function completions_drain(out: usize, max: u32): u32 { return completionsDrain(out, max); }
export function completions_pending(): u32 { return completionsPending(); }
export function completions_queued(): f64 { return completionsQueued(); }

// A request's parameters travel in a small block: [0] request id, [1] bdev id / base id, [2] name,
// [3..6] numbers. Freed by the message that runs it.
@unmanaged class Req { id: u32; a: u32; name: usize; n0: u32; n1: u32; n2: u32; n3: u32; big: u64; }
function newReq(id: u32, a: u32, name: usize, n0: u32, n1: u32, n2: u32, n3: u32): usize {
  const r = changetype<Req>(coreHeapAlloc(offsetof<Req>()));
  if (changetype<usize>(r) == 0) return 0;
  r.id = id; r.a = a; r.name = name; r.n0 = n0; r.n1 = n1; r.n2 = n2; r.n3 = n3; r.big = 0;
  return changetype<usize>(r);
}
function post(fn: (ctx: usize) => void, req: usize): i32 {
  if (req == 0) return -12;
  const rc = onAppThread(fn, req);
  if (rc != 0) coreHeapFree(req);
  return rc;
}
function createdDone(req: usize, bdev: usize): void {
  const r = changetype<Req>(req);
  requestDone(r.id, bdev == 0 ? (passthruError != 0 ? passthruError : -12) : 0, bdev == 0 ? 0 : <f64>changetype<Bdev>(bdev).id);
  coreHeapFree(req);
}
function errorCreateMsg(req: usize): void { const r = changetype<Req>(req); createdDone(req, errorBdevCreate(r.name, r.a)); }
function delayCreateMsg(req: usize): void { const r = changetype<Req>(req); createdDone(req, delayBdevCreate(r.name, r.a, r.n0, r.n1, r.n2, r.n3)); }
function crashCreateMsg(req: usize): void { const r = changetype<Req>(req); createdDone(req, crashBdevCreate(r.name, r.a, r.big)); }

/** Create an error bdev over base `baseId`; EVENT_REQUEST_DONE(reqId, rc, new id). Returns 0 or -errno (not posted). */
export function bdev_error_create(reqId: u32, name: usize, baseId: u32): i32 { return post(errorCreateMsg, newReq(reqId, baseId, name, 0, 0, 0, 0)); }
export function bdev_delay_create(reqId: u32, name: usize, baseId: u32, avgRead: u32, p99Read: u32, avgWrite: u32, p99Write: u32): i32 {
  return post(delayCreateMsg, newReq(reqId, baseId, name, avgRead, p99Read, avgWrite, p99Write));
}
export function bdev_crash_create(reqId: u32, name: usize, baseId: u32, maxCacheMiB: u32): i32 {
  const req = newReq(reqId, baseId, name, 0, 0, 0, 0);
  if (req != 0) changetype<Req>(req).big = <u64>maxCacheMiB << 20;
  return post(crashCreateMsg, req);
}
/** Inject errors: type IO_* or 255 for all; kind 1 failure, 2 pending, 3 corrupt. -19 no such error bdev. */
export function bdev_error_inject(id: u32, type: u32, kind: u32, count: u32): i32 {
  const b = bdevById(id);
  if (b == 0 || !isErrorBdev(b)) return -19;
  return errorInject(b, type, kind, count);
}
export function bdev_delay_update_latency(id: u32, which: u32, us: u32): i32 {
  const b = bdevById(id);
  if (b == 0 || !isDelayBdev(b)) return -19;
  return delayUpdateLatency(b, which, us);
}
function cutDone(req: usize, kept: u32, dropped: u32, torn: u32, failed: u32): void {
  // value packs the counts for the host: kept | dropped << 16 | torn << 32 (each < 65536 in tests)
  const r = changetype<Req>(req);
  requestDone(r.id, failed == 0 ? 0 : -5, <f64>kept + <f64>dropped * 65536.0 + <f64>torn * 4294967296.0);
  coreHeapFree(req);
}
function crashCutMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const rc = b == 0 || !isCrashBdev(b) ? -19 : crashCut(b, r.n0, r.n1, cutDone, req);
  if (rc != 0) { requestDone(r.id, rc, 0); coreHeapFree(req); }
}
/** Power cut on crash bdev `id`: mode 0 drop all, 1 keep all, 2 random from seed. */
export function bdev_crash_cut(reqId: u32, id: u32, mode: u32, seed: u32): i32 { return post(crashCutMsg, newReq(reqId, id, 0, mode, seed, 0, 0)); }
function deleteDone(req: usize): void { requestDone(changetype<Req>(req).id, 0, 0); coreHeapFree(req); }
function deleteMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const rc = b == 0 ? -19 : bdevUnregister(b, deleteDone, req);
  if (rc != 0) { requestDone(r.id, rc, 0); coreHeapFree(req); }
}
/** Hot remove bdev `id`; EVENT_REQUEST_DONE when it is gone (after every descriptor closed). */
export function bdev_delete(reqId: u32, id: u32): i32 { return post(deleteMsg, newReq(reqId, id, 0, 0, 0, 0, 0)); }

// ---- lvol bdevs (host/lvol.ts) ----
import { lvolBdevCreate, lvolBdevResized, lvolError, lvolFreeze, lvolUnfreeze, lvolDetach } from "./lvol";
import { Blob } from "./blob";
function lvolCreateMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = lvolBdevCreate(r.name, changetype<Blob>(<usize>r.big));
  requestDone(r.id, b == 0 ? lvolError : 0, b == 0 ? 0 : <f64>changetype<Bdev>(b).id);
  coreHeapFree(req);
}
/** An lvol bdev over open blob `blob` (on the app thread, the stores' md thread); EVENT_REQUEST_DONE(reqId, rc, bdev id). */
export function bdev_lvol_create(reqId: u32, name: usize, blob: usize): i32 {
  const req = newReq(reqId, 0, name, 0, 0, 0, 0);
  if (req != 0) changetype<Req>(req).big = <u64>blob;
  return post(lvolCreateMsg, req);
}
function freezeDone(req: usize, rc: i32): void { requestDone(<u32>req, rc, 0); }
function freezeMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const id = r.id, thaw = r.n0 != 0;
  coreHeapFree(req);
  const rc = b == 0 ? -19 : thaw ? lvolUnfreeze(b, freezeDone, <usize>id) : lvolFreeze(b, freezeDone, <usize>id);
  if (rc != 0) requestDone(id, rc, 0);
}
function detachMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const id = r.id;
  coreHeapFree(req);
  const rc = b == 0 ? -19 : lvolDetach(b, freezeDone, <usize>id);
  if (rc != 0) requestDone(id, rc, 0);
}
/**
 * Hot remove lvol bdev `id` as its lvstore goes (its base bdev is being deleted): EVENT_REQUEST_DONE once
 * its blob is no longer touched (the blob may be closed, the store unloaded), even if a user keeps it open.
 */
export function bdev_lvol_detach(reqId: u32, id: u32): i32 { return post(detachMsg, newReq(reqId, id, 0, 0, 0, 0, 0)); }
/** Hold (thaw 0) or release (thaw 1) the I/O of lvol bdev `id`; EVENT_REQUEST_DONE once none is in flight / all resumed. */
export function bdev_lvol_freeze(reqId: u32, id: u32, thaw: u32): i32 { return post(freezeMsg, newReq(reqId, id, 0, thaw, 0, 0, 0)); }
/** After its blob was resized: lvol bdev `id` takes the blob's size. */
export function bdev_lvol_resized(id: u32): i32 {
  const b = bdevById(id);
  return b == 0 ? -19 : lvolBdevResized(b);
}
/**
 * A null or file bdev gets `blockCount` blocks (bdev_null_resize; bdev_uring_rescan after the file
 * grew). -19 no such bdev, -95 a module whose size comes from its data (malloc, lvol, pass-throughs).
 */
export function bdev_resize(id: u32, blockCount: f64): i32 {
  const b = bdevById(id);
  if (b == 0) return -19;
  if (!isNullBdev(b) && uringBdevFd(b) < 0) return -95;
  return bdevResize(b, <u64>blockCount);
}

// ---- file bdevs through io_uring ----
import { uringBdevCreate, uringBdevFd } from "./bdev/uring";
/** A file bdev on an fd the host opened (and mapped at `map`, or 0). Bdev id or -errno. */
export function bdev_uring_create(name: usize, fd: i32, blockSize: u32, blockCount: f64, direct: u32, map: usize): i32 {
  if (fd < 0 || (direct != 0 && map != 0) || !geometryOk(blockSize, blockCount)) return -EINVAL;
  const b = uringBdevCreate(name, fd, blockSize, <u64>blockCount, direct != 0, map);
  return b == 0 ? -ENOMEM : <i32>changetype<Bdev>(b).id;
}
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
/** The fd behind file bdev `id` (the host closes it once the bdev is deleted), or -1. */
export function bdev_uring_fd(id: u32): i32 {
  const b = bdevById(id);
  return b == 0 ? -1 : uringBdevFd(b);
}

// ---- blobstore requests (host/blobstore.ts) ----
export {
  bs_init, bs_load, bs_unload, bs_free_clusters, bs_total_clusters, bs_grow, bs_cluster_bytes, bs_io_unit_bytes, blob_create, blob_open, blob_close,
  blob_sync, blob_resize, blob_delete, blob_set_xattr, blob_get_xattr, blob_remove_xattr, blob_clusters,
  bs_next_blob, blob_is_thin, blob_allocated_clusters, bs_set_super, bs_get_super,
  blob_snapshot, blob_clone, blob_parent, blob_is_snapshot, blob_inflate, blob_decouple, blob_xattr_names,
  bs_probe, blob_set_read_only, blob_is_read_only,
} from "./app/bs-requests";
export { bs_io_thread_create, blob_io_on, bs_io_release } from "./app/bs-io";
export { bdev_flush } from "./app/bdev-flush";

// ---- vhost-user-blk controllers (host/vhost.ts) ----
import { vhostCtrlrCreate, vhostCtrlrDelete, vhostCtrlrInfo, vhostCtrlrSetCoalescing } from "./vhost";
/** A controller over bdev `bdevId` on `reactor`, serving the host's listening socket `listenFd`; EVENT_REQUEST_DONE(req, rc, ctrlr). */
export function vhost_ctrlr_create(req: u32, name: usize, bdevId: u32, listenFd: i32, reactor: i32, readOnly: u32): i32 {
  return vhostCtrlrCreate(req, name, bdevId, listenFd, reactor, readOnly != 0);
}
export function vhost_ctrlr_delete(req: u32, ctrlr: usize, force: u32): i32 { return vhostCtrlrDelete(req, ctrlr, force != 0); }
export function vhost_ctrlr_info(ctrlr: usize, which: u32): f64 { return vhostCtrlrInfo(ctrlr, which); }
export function vhost_ctrlr_set_coalescing(ctrlr: usize, delayUs: u32, iopsThreshold: u32): void { vhostCtrlrSetCoalescing(ctrlr, delayUs, iopsThreshold); }
