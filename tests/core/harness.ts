// Hooks for the deterministic harness (tests/unit/*.test.ts): one instance on its own memory, threads
// owned by no reactor (or by a pretend one), polled by hand, with a frozen clock the test advances.

import {
  heapAlloc, heapFree, heapBlockBytes, heapLiveBlocks, pagesInUse, heapAllocZeroed,
  ringCreate, ringEnqueue, ringDequeue, ringOutA, ringOutB, ringCount, ringDestroy, ringEnqueueBatch, ringPost, ringOverflowing,
  spscCreate, spscEnqueue, spscDequeue, spscOutA, spscOutB,
  poolCreate, poolGet, poolPut, poolFlushCache, poolSharedFree, poolDestroy, poolCachedHere,
  SpinLock, spinInit, spinLock, spinUnlock, spinDestroy, spinHeld, host_event,
} from "../../assembly/runtime";
import {
  threadAlloc, threadPoll, threadDestroy, threadState, threadPending, threadExit, threadGet, threadSetExitTimeout,
  sendMsg, sendMsgs, pollerRegister, pollerUnregister, POLLER_BUSY, POLLER_IDLE,
  ioDeviceRegister, ioDeviceUnregister, getIoChannel, putIoChannel, ioChannelCtx,
  forEachThread, forEachChannel, forEachChannelContinue, forEachChannelCtx, forEachChannelIoChannel,
  reactorSetCurrent, clockSetManual, threadNowUs, threadId, currentReactorId, Thread,
} from "../../assembly/thread";
import { EVENT_TEST } from "../../assembly/runtime";

// ---- clock, identity ----
export function h_clock_set(us: f64): void { clockSetManual(<u64>us); }
export function h_set_reactor(id: i32): void { reactorSetCurrent(id); }

// ---- heap ----
export function h_alloc(size: usize): usize { return heapAlloc(size); }
export function h_free(ptr: usize): void { heapFree(ptr); }
export function h_block_bytes(ptr: usize): usize { return heapBlockBytes(ptr); }
export function h_live_blocks(): i32 { return heapLiveBlocks(); }
export function h_pages_in_use(): u32 { return pagesInUse(); }
/** A managed array: proves __new hands out zeroed memory even when the block was used before. */
export function h_new_array_sum(length: i32): i32 {
  const a = new StaticArray<i32>(length);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += a[i];
  for (let i = 0; i < length; i++) a[i] = 0x5a5a5a5a;   // dirty it for the next allocation
  heapFree(changetype<usize>(a) - 16);
  return sum;
}

// ---- rings ----
export function h_ring_create(capacity: u32): usize { return ringCreate(capacity); }
export function h_ring_destroy(ring: usize): void { ringDestroy(ring); }
export function h_ring_enqueue(ring: usize, a: u32, b: u32): i32 { return ringEnqueue(ring, a, b); }
export function h_ring_enqueue_batch(ring: usize, a: u32, values: usize, n: u32): i32 { return ringEnqueueBatch(ring, a, values, n); }
export function h_ring_dequeue(ring: usize): bool { return ringDequeue(ring); }
export function h_ring_out_a(): u32 { return ringOutA; }
export function h_ring_out_b(): u32 { return ringOutB; }
export function h_ring_count(ring: usize): u32 { return ringCount(ring); }
export function h_ring_post(ring: usize, a: u32, b: u32): void { ringPost(ring, a, b); }
export function h_ring_overflowing(ring: usize): bool { return ringOverflowing(ring); }
export function h_spsc_create(capacity: u32): usize { return spscCreate(capacity); }
export function h_spsc_enqueue(ring: usize, a: u32, b: u32): bool { return spscEnqueue(ring, a, b); }
export function h_spsc_dequeue(ring: usize): bool { return spscDequeue(ring); }
export function h_spsc_out_a(): u32 { return spscOutA; }
export function h_spsc_out_b(): u32 { return spscOutB; }

// ---- pools ----
export function h_pool_create(objBytes: u32, count: u32, cacheSize: u32): usize { return poolCreate("test_pool", objBytes, count, cacheSize); }
export function h_pool_get(pool: usize): usize { return poolGet(pool); }
export function h_pool_put(pool: usize, obj: usize): void { poolPut(pool, obj); }
export function h_pool_flush(pool: usize): void { poolFlushCache(pool); }
export function h_pool_shared_free(pool: usize): u32 { return poolSharedFree(pool); }
export function h_pool_cached_here(pool: usize): u32 { return poolCachedHere(pool); }
export function h_pool_destroy(pool: usize): void { poolDestroy(pool); }

// ---- threads ----
function threadName(i: u32): string {
  switch (i) {
    case 0: return "app_thread";
    case 1: return "worker_a";
    case 2: return "worker_b";
    default: return "worker_n";
  }
}
export function h_thread_create(nameIndex: u32, owner: i32, ringSize: u32): usize { return threadAlloc(threadName(nameIndex), owner, ringSize); }
export function h_poll(thread: usize, maxMsgs: u32): i32 { return threadPoll(thread, maxMsgs, threadNowUs()); }
export function h_thread_state(thread: usize): u32 { return threadState(thread); }
export function h_thread_pending(thread: usize): u32 { return threadPending(thread); }
export function h_thread_destroy(thread: usize): i32 { return threadDestroy(thread); }
export function h_thread_id(thread: usize): u32 { return threadId(thread); }
/** The thread's name (a static string), for the harness's reports of threads still busy. */
export function h_thread_name(thread: usize): usize { return changetype<Thread>(thread).name; }
export function h_thread_set_exit_timeout(thread: usize, us: f64): void { threadSetExitTimeout(thread, <u64>us); }

/** Message: add 1 to the u32 at ctx. */
function incrMsg(cell: usize): void { store<u32>(cell, load<u32>(cell) + 1); }
export function h_send_incr(thread: usize, cell: usize): void { sendMsg(thread, incrMsg, cell); }
/** n messages in one claim: each adds 1 to the u32 whose address is in cells[i]. */
export function h_send_incr_batch(thread: usize, cells: usize, n: u32): void { sendMsgs(thread, incrMsg, cells, n); }

/** Message: ctx is {u32 log, u32 value}; appends value to the log ({u32 count, u32 values[]}). */
function appendMsg(ctx: usize): void {
  const log = <usize>load<u32>(ctx);
  const n = load<u32>(log);
  store<u32>(log + 4 + (<usize>n << 2), load<u32>(ctx, 4));
  store<u32>(log, n + 1);
}
export function h_send_append(thread: usize, record: usize): void { sendMsg(thread, appendMsg, record); }
/** n records in one send: records[i] is the address of record i. */
export function h_send_append_batch(thread: usize, records: usize, n: u32): void { sendMsgs(thread, appendMsg, records, n); }
export function h_thread_overflowing(thread: usize): bool { return ringOverflowing(changetype<Thread>(thread).ring); }

/** Message: record the running thread's id and the thread pointer in ctx[0], ctx[4]. */
function whoMsg(ctx: usize): void { store<u32>(ctx, threadId(threadGet())); store<usize>(ctx, threadGet(), 4); }
export function h_send_who(thread: usize, ctx: usize): void { sendMsg(thread, whoMsg, ctx); }

function exitMsg(ctx: usize): void { store<i32>(ctx, threadExit()); }
export function h_send_exit(thread: usize, result: usize): void { sendMsg(thread, exitMsg, result); }

// ---- pollers ----
// A test poller's ctx: [0] runs, [4] 1 = report busy, [8] poller ptr, [12] 1 = unregister itself on next run,
// [16] period (us, f64 as u64), [24] name index
function testPoller(ctx: usize): i32 {
  store<u32>(ctx, load<u32>(ctx) + 1);
  if (load<u32>(ctx, 12) != 0) { pollerUnregister(load<usize>(ctx, 8)); store<u32>(ctx, 0, 12); }
  return load<u32>(ctx, 4) != 0 ? POLLER_BUSY : POLLER_IDLE;
}
function registerMsg(ctx: usize): void {
  const name = load<u32>(ctx, 24) == 0 ? "test_poller" : "timed_poller";
  store<usize>(ctx, pollerRegister(testPoller, ctx, load<u64>(ctx, 16), name), 8);
}
export function h_send_register_poller(thread: usize, ctx: usize): void { sendMsg(thread, registerMsg, ctx); }
function unregisterMsg(ctx: usize): void { pollerUnregister(load<usize>(ctx, 8)); }
export function h_send_unregister_poller(thread: usize, ctx: usize): void { sendMsg(thread, unregisterMsg, ctx); }

// ---- io_devices / channels ----
// A test device is a block: [0] channels created, [4] destroyed, [8] unregister done, [12] 1 = create fails,
// [16] ctxBytes.
function channelCreate(dev: usize, ctxBuf: usize): i32 {
  if (load<u32>(dev, 12) != 0) return -5;
  store<u32>(dev, load<u32>(dev) + 1);
  store<u32>(ctxBuf, 0xc0ffee);
  return 0;
}
function channelDestroy(dev: usize, ctxBuf: usize): void {
  assert(load<u32>(ctxBuf) == 0xc0ffee, "channel context was not the one create filled");
  store<u32>(dev, load<u32>(dev, 4) + 1, 4);
}
export function h_device_register(dev: usize): i32 { return ioDeviceRegister(dev, channelCreate, channelDestroy, load<u32>(dev, 16), "test_device"); }

// Channel op ctx: [0] device, [4] out channel, [8] result
function getChannelMsg(ctx: usize): void {
  const ch = getIoChannel(load<usize>(ctx));
  store<usize>(ctx, ch, 4);
  store<u32>(ctx, ch == 0 ? 0 : load<u32>(ioChannelCtx(ch)), 8);
}
export function h_send_get_channel(thread: usize, ctx: usize): void { sendMsg(thread, getChannelMsg, ctx); }
function putChannelMsg(ctx: usize): void { putIoChannel(load<usize>(ctx, 4)); }
export function h_send_put_channel(thread: usize, ctx: usize): void { sendMsg(thread, putChannelMsg, ctx); }
/** Put then get again in the same message: the deferred destroy must not destroy a revived channel. */
function putGetMsg(ctx: usize): void {
  putIoChannel(load<usize>(ctx, 4));
  store<usize>(ctx, getIoChannel(load<usize>(ctx)), 4);
}
export function h_send_put_get_channel(thread: usize, ctx: usize): void { sendMsg(thread, putGetMsg, ctx); }
function unregisterDone(dev: usize): void { store<u32>(dev, load<u32>(dev, 8) + 1, 8); }
function unregisterDeviceMsg(ctx: usize): void { store<i32>(ctx, ioDeviceUnregister(load<usize>(ctx), unregisterDone, load<usize>(ctx)), 8); }
export function h_send_unregister_device(thread: usize, ctx: usize): void { sendMsg(thread, unregisterDeviceMsg, ctx); }
/** Unregister with no thread: must be refused, not crash. */
export function h_unregister_device_outside(dev: usize): i32 { return ioDeviceUnregister(dev, unregisterDone, dev); }

// for_each ctx: [0] visits, [4] done count, [8] status, [12] device, [16..] ids of visited threads (up to 8)
function visitThread(ctx: usize): void {
  const n = load<u32>(ctx);
  if (n < 8) store<u32>(ctx + 16 + (<usize>n << 2), threadId(threadGet()));
  store<u32>(ctx, n + 1);
}
function walkDone(ctx: usize): void { store<u32>(ctx, load<u32>(ctx, 4) + 1, 4); }
function forEachThreadMsg(ctx: usize): void { store<i32>(ctx, forEachThread(visitThread, ctx, walkDone), 8); }
export function h_send_for_each_thread(thread: usize, ctx: usize): void { sendMsg(thread, forEachThreadMsg, ctx); }

function visitChannel(iter: usize): void {
  const ctx = forEachChannelCtx(iter);
  assert(forEachChannelIoChannel(iter) != 0);
  visitThread(ctx);
  // A status other than 0 stops the walk: the test sets [12]'s high bit to ask for it after one visit.
  forEachChannelContinue(iter, (load<u32>(ctx, 12) & 0x80000000) != 0 ? -125 : 0);
}
function channelWalkDone(iter: usize, status: i32): void {
  const ctx = forEachChannelCtx(iter);
  store<i32>(ctx, status, 8);
  walkDone(ctx);
}
function forEachChannelMsg(ctx: usize): void {
  const rc = forEachChannel(load<usize>(ctx, 12) & 0x7fffffff, visitChannel, ctx, channelWalkDone);
  if (rc != 0) { store<i32>(ctx, rc, 8); }
}
export function h_send_for_each_channel(thread: usize, ctx: usize): void { sendMsg(thread, forEachChannelMsg, ctx); }

// ---- spinlock misuse: each case runs as a message on `thread` (or outside any thread) ----
const CASE_OK: u32 = 0;
const CASE_DEADLOCK: u32 = 1;
const CASE_WRONG_THREAD: u32 = 2;
const CASE_DESTROY_HELD: u32 = 3;
const CASE_HOLD_OFF_CPU: u32 = 4;
const CASE_AFTER_DESTROY: u32 = 5;
const CASE_NOT_INITIALIZED: u32 = 6;

// ctx: [0] case, [4] result; the lock itself follows at +16
function spinCaseMsg(ctx: usize): void {
  const lock = changetype<SpinLock>(ctx + 16);
  const which = load<u32>(ctx);
  if (which != CASE_NOT_INITIALIZED && which != CASE_WRONG_THREAD) spinInit(lock, "test_lock");
  if (which == CASE_WRONG_THREAD) spinInit(lock, "test_lock");
  switch (which) {
    case CASE_OK: {
      spinLock(lock);
      store<u32>(ctx, spinHeld(lock) ? 1 : 0, 4);
      spinUnlock(lock);
      spinDestroy(lock);
      break;
    }
    case CASE_DEADLOCK: { spinLock(lock); spinLock(lock); break; }
    case CASE_WRONG_THREAD: { spinUnlock(lock); break; }    // held by nobody: not this thread's to unlock
    case CASE_DESTROY_HELD: { spinLock(lock); spinDestroy(lock); break; }
    case CASE_HOLD_OFF_CPU: { spinLock(lock); break; }      // returns with the lock held
    case CASE_AFTER_DESTROY: { spinDestroy(lock); spinLock(lock); break; }
    case CASE_NOT_INITIALIZED: { store<u32>(ctx + 16 + 4, 0x1234); spinLock(lock); break; }
    default: break;
  }
}
export function h_send_spin_case(thread: usize, ctx: usize): void { sendMsg(thread, spinCaseMsg, ctx); }
/** A spinlock taken outside any lightweight thread. */
export function h_spin_outside_thread(ctx: usize): void {
  const lock = changetype<SpinLock>(ctx + 16);
  spinInit(lock, "test_lock");
  spinLock(lock);
}

// ---- real-worker hooks (driven from the host's control instance) ----
export { threadCreateOn as t_thread_create_raw } from "../../assembly/thread";
import { threadCreateOn, threadRequestMove, reactorCount, reactorWake } from "../../assembly/thread";

export function t_thread_create(reactor: i32): usize { return threadCreateOn(reactor, "test_thread"); }

/** Message: emit EVENT_TEST(seq, reactor, thread id). */
function pingMsg(seq: usize): void { host_event(EVENT_TEST, <f64>seq, <f64>currentReactorId(), <f64>threadId(threadGet())); }
export function t_ping(thread: usize, seq: u32): void { sendMsg(thread, pingMsg, seq); }

// Mover: hops from reactor to reactor `hops` times, reporting where each hop ran.
// ctx: [0] hops left, [4] step
function hopMsg(ctx: usize): void {
  const step = load<u32>(ctx, 4);
  host_event(EVENT_TEST, <f64>step, <f64>currentReactorId(), <f64>threadId(threadGet()));
  const left = load<u32>(ctx);
  if (left == 0) { heapFree(ctx); return; }
  store<u32>(ctx, left - 1);
  store<u32>(ctx, step + 1, 4);
  threadRequestMove((currentReactorId() + 1) % <i32>reactorCount());
  // Queued now, run after the move: the message travels with the thread.
  sendMsg(threadGet(), hopMsg, ctx);
}
export function t_mover_start(hops: u32): i32 {
  const t = threadCreateOn(0, "mover");
  if (t == 0) return -12;
  const ctx = heapAllocZeroed(16);
  store<u32>(ctx, hops);
  sendMsg(t, hopMsg, ctx);
  return 0;
}

// The wrong pattern (LESSONS 3): a thread on reactor 0 polls a thread that reactor 1 owns.
// ctx: [0] victim thread
function wrongPollMsg(ctx: usize): void {
  const rc = threadPoll(load<usize>(ctx), 0, threadNowUs());
  host_event(EVENT_TEST, <f64>rc, <f64>currentReactorId(), 0);
  heapFree(ctx);
}
export function t_wrong_poll(app: usize, victim: usize): i32 {
  const ctx = heapAllocZeroed(16);
  store<usize>(ctx, victim);
  sendMsg(app, wrongPollMsg, ctx);
  return 0;
}

/** Is reactor `id` asleep right now (for the wake regression test)? */
import { reactorSleeping } from "../../assembly/thread";
export function t_reactor_sleeping(id: i32): i32 { return reactorSleeping(id) ? 1 : 0; }
export function t_reactor_wake(id: i32): void { reactorWake(id); }

/** Message: trap (a reactor crash the engine must survive and report). */
function trapMsg(_ctx: usize): void { unreachable(); }
export function t_trap(thread: usize): void { sendMsg(thread, trapMsg, 0); }

/** Message: take a spinlock and return holding it (the engine must stop with the lock's name). */
function holdLockMsg(ctx: usize): void {
  const lock = changetype<SpinLock>(ctx);
  spinInit(lock, "held_lock");
  spinLock(lock);
}
export function t_hold_lock(thread: usize): void { sendMsg(thread, holdLockMsg, heapAllocZeroed(32)); }

/** Message: register a poller that never unregisters, then exit (the leak report must name it). */
function leakyPoller(_ctx: usize): i32 { return POLLER_IDLE; }
function leakMsg(_ctx: usize): void { pollerRegister(leakyPoller, 0, 0, "leaky_poller"); threadSetExitTimeout(threadGet(), 200_000); }
export function t_leak_poller(thread: usize): void { sendMsg(thread, leakMsg, 0); }
