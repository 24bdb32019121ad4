// bdev lifecycle: register, open/close, the exclusive write claim, and unregister (hot remove).
// A bdev is an io_device; each thread that does I/O gets a bdev channel (channel.ts).

import {
  heapAllocZeroed, heapFree, rawLock, rawUnlock, report, LEVEL_ERROR, LEVEL_INFO,
  ENODEV, EPERM, EINVAL, ENOMEM, EBUSY, EBADF,
} from "../runtime";
import {
  MsgFn, ioDeviceRegister, ioDeviceUnregister, sendMsg, threadGet, forEachChannel, forEachChannelContinue,
  forEachChannelIoChannel, forEachChannelCtx, ioChannelCtx,
} from "../thread";
import {
  Bdev, BdevDesc, BdevModule, BdevEventCb, BdevChannel, BDEV_ACTIVE, BDEV_REMOVING, BDEV_EVENT_REMOVE, BDEV_EVENT_RESIZE,
  DestructFn, AbortQueuedFn,
} from "./types";
import { bdevRegistryReserve, bdevRegistryAdd, bdevRegistryRemove, descHandleAlloc, descFromHandle, descHandleRelease } from "./registry";
import { bdevChannelCreate, bdevChannelDestroy, BDEV_CHANNEL_BYTES } from "./channel";
import { bounceWaitAbort } from "./bounce-wait";
import { ioWaitWakeAll } from "./io-wait";
import { scratchWaitAbort } from "./scratch";

/** bdev_ios per channel unless the module asks otherwise (SPDK's bdev_io_cache_size is 256). */
export const DEFAULT_POOL_SIZE: u32 = 512;

/**
 * A new bdev for `module` (not yet registered). blockSize must be 512 or 4096 (or another power of
 * two >= 512); the caller fills ioTypes and optional fields, then calls bdevRegister.
 */
export function bdevAlloc(module: BdevModule, name: usize, blockSize: u32, blockCount: u64, ctx: usize): usize {
  if (blockSize < 512 || popcnt(blockSize) != 1 || blockCount == 0) return 0;
  const b = changetype<Bdev>(heapAllocZeroed(offsetof<Bdev>()));
  if (changetype<usize>(b) == 0) return 0;
  b.module = changetype<usize>(module);
  b.name = name;
  b.blockSize = blockSize;
  b.blockShift = ctz(blockSize);
  b.blockCount = blockCount;
  b.ctx = ctx;
  b.requiredAlign = 1;
  b.poolSize = DEFAULT_POOL_SIZE;
  b.state = BDEV_ACTIVE;
  return changetype<usize>(b);
}

/** Make the bdev visible: an io_device for its channels, and an entry in the registry. */
export function bdevRegister(bdev: usize): i32 {
  if (bdevRegistryReserve() != 0) return -ENOMEM;
  const rc = ioDeviceRegister(bdev, bdevChannelCreate, bdevChannelDestroy, <u32>BDEV_CHANNEL_BYTES, "bdev");
  if (rc != 0) return rc;
  bdevRegistryAdd(changetype<Bdev>(bdev));
  return 0;
}

/**
 * Open a descriptor on the current thread (or on none, for a host-side user that takes no events).
 * Returns its handle (> 0), or -ENODEV if the bdev is being removed, -EPERM for a writer while
 * another descriptor holds the claim, -ENOMEM.
 */
export function bdevOpen(bdev: usize, write: bool, eventCb: BdevEventCb | null, eventCtx: usize): i32 {
  const b = changetype<Bdev>(bdev);
  const lock = bdev + offsetof<Bdev>("lock");
  rawLock(lock);
  let rc: i32 = 0;
  if (atomic.load<u32>(bdev + offsetof<Bdev>("state")) != BDEV_ACTIVE) rc = -ENODEV;
  else if (write && b.claimed != 0) rc = -EPERM;
  let desc: BdevDesc = changetype<BdevDesc>(0);
  if (rc == 0) {
    desc = changetype<BdevDesc>(heapAllocZeroed(offsetof<BdevDesc>()));
    if (changetype<usize>(desc) == 0) rc = -ENOMEM;
  }
  if (rc == 0) {
    desc.handle = descHandleAlloc(changetype<usize>(desc));
    if (desc.handle == 0) { heapFree(changetype<usize>(desc)); rc = -ENOMEM; }
  }
  if (rc == 0) {
    desc.bdev = bdev;
    desc.thread = threadGet();
    desc.write = write ? 1 : 0;
    desc.eventCb = eventCb == null ? 0 : changetype<usize>(eventCb);
    desc.eventCtx = eventCtx;
    desc.next = b.descs;
    b.descs = changetype<usize>(desc);
    b.openCount++;
  }
  rawUnlock(lock);
  if (rc == -EPERM) report(LEVEL_ERROR, rc, "bdev %s is claimed for exclusive write; open it read-only", b.name);
  return rc == 0 ? <i32>desc.handle : rc;
}

/** Take the exclusive write claim: refused if another descriptor has it or another writer is open. */
export function bdevClaim(handle: u32): i32 {
  const descPtr = descFromHandle(handle);
  if (descPtr == 0) return -EBADF;
  const desc = changetype<BdevDesc>(descPtr);
  const b = changetype<Bdev>(desc.bdev);
  if (desc.write == 0) return -EINVAL;
  rawLock(desc.bdev + offsetof<Bdev>("lock"));
  let rc: i32 = 0;
  if (b.claimed != 0 && b.claimed != descPtr) rc = -EPERM;
  for (let d = b.descs; rc == 0 && d != 0; d = changetype<BdevDesc>(d).next) {
    if (d != descPtr && changetype<BdevDesc>(d).write != 0) rc = -EPERM;
  }
  if (rc == 0) b.claimed = descPtr;
  rawUnlock(desc.bdev + offsetof<Bdev>("lock"));
  if (rc != 0) report(LEVEL_ERROR, rc, "bdev %s: cannot claim for exclusive write: another writer has it open", b.name);
  return rc;
}

/** Close a descriptor (-EBADF if it is not open). The last close of a removed bdev finishes its removal. */
export function bdevClose(handle: u32): i32 {
  const descPtr = descFromHandle(handle);
  if (descPtr == 0) return -EBADF;
  descHandleRelease(handle);
  const desc = changetype<BdevDesc>(descPtr);
  const bdev = desc.bdev;
  const b = changetype<Bdev>(bdev);
  rawLock(bdev + offsetof<Bdev>("lock"));
  let link = bdev + offsetof<Bdev>("descs");
  while (load<usize>(link) != descPtr) {
    assert(load<usize>(link) != 0, "bdevClose: descriptor not open");
    link = load<usize>(link) + offsetof<BdevDesc>("next");
  }
  store<usize>(link, desc.next);
  if (b.claimed == descPtr) b.claimed = 0;
  b.openCount--;
  const finish = b.openCount == 0 && atomic.load<u32>(bdev + offsetof<Bdev>("state")) == BDEV_REMOVING && b.removeWalk == 0;
  rawUnlock(bdev + offsetof<Bdev>("lock"));
  heapFree(descPtr);
  if (finish) finishUnregister(b);
  return 0;
}

function removeEventMsg(descPtr: usize): void {
  const desc = changetype<BdevDesc>(descPtr);
  if (desc.eventCb != 0) changetype<BdevEventCb>(desc.eventCb)(BDEV_EVENT_REMOVE, desc.bdev, desc.eventCtx);
}

function abortQueuedVisit(iter: usize): void {
  const ch = changetype<BdevChannel>(ioChannelCtx(forEachChannelIoChannel(iter)));
  const b = changetype<Bdev>(ch.bdev);
  const abort = changetype<BdevModule>(b.module).abortQueued;
  if (abort != 0 && ch.moduleChannel != 0) changetype<AbortQueuedFn>(abort)(ioChannelCtx(ch.moduleChannel), ch.bdev);
  bounceWaitAbort(ch);
  ioWaitWakeAll(ch);                          // their submits now fail: the bdev is removing
  scratchWaitAbort(ch);
  forEachChannelContinue(iter, 0);
}

/** The walk that aborted queued I/O is over: the removal may finish once nothing is open. */
function abortQueuedDone(iter: usize, _status: i32): void {
  const bdev = changetype<Bdev>(forEachChannelCtx(iter));
  rawLock(changetype<usize>(bdev) + offsetof<Bdev>("lock"));
  bdev.removeWalk = 0;
  const finish = bdev.openCount == 0;
  rawUnlock(changetype<usize>(bdev) + offsetof<Bdev>("lock"));
  if (finish) finishUnregister(bdev);
}

/**
 * Hot remove (SPDK's spdk_bdev_unregister): new opens and new I/O are refused, every open descriptor
 * gets a REMOVE event on its thread, I/O queued inside the module completes with an error. When the
 * last descriptor closes and the last channel is released, the module frees its state and cb(ctx)
 * runs on the calling thread.
 */
export function bdevUnregister(bdev: usize, cb: MsgFn | null, ctx: usize): i32 {
  const b = changetype<Bdev>(bdev);
  const thread = threadGet();
  if (thread == 0) return -EINVAL;
  rawLock(bdev + offsetof<Bdev>("lock"));
  if (atomic.load<u32>(bdev + offsetof<Bdev>("state")) != BDEV_ACTIVE) {
    rawUnlock(bdev + offsetof<Bdev>("lock"));
    return -EBUSY;
  }
  atomic.store<u32>(bdev + offsetof<Bdev>("state"), BDEV_REMOVING);
  b.unregisterCb = cb == null ? 0 : changetype<usize>(cb);
  b.unregisterCtx = ctx;
  b.unregisterThread = thread;
  for (let d = b.descs; d != 0; d = changetype<BdevDesc>(d).next) {
    const desc = changetype<BdevDesc>(d);
    if (desc.removeNotified == 0 && desc.eventCb != 0 && desc.thread != 0) {
      desc.removeNotified = 1;
      sendMsg(desc.thread, removeEventMsg, d);
    }
  }
  b.removeWalk = 1;
  rawUnlock(bdev + offsetof<Bdev>("lock"));
  report(LEVEL_INFO, 0, "bdev %s: removing (descriptors notified)", b.name);
  // Abort module queues on every channel first; the removal finishes after that walk, once closed.
  if (forEachChannel(bdev, abortQueuedVisit, bdev, abortQueuedDone) != 0) {
    rawLock(bdev + offsetof<Bdev>("lock"));
    b.removeWalk = 0;
    const finish = b.openCount == 0;
    rawUnlock(bdev + offsetof<Bdev>("lock"));
    if (finish) finishUnregister(b);
  }
  return 0;
}

function finishUnregister(b: Bdev): void {
  // The io_device goes once every channel is released; then the module frees its state.
  const rc = ioDeviceUnregister(changetype<usize>(b), bdevGone, changetype<usize>(b));
  if (rc != 0) report(LEVEL_ERROR, rc, "bdev %s: io_device unregister failed", b.name);
}

function bdevGone(bdev: usize): void {
  const b = changetype<Bdev>(bdev);
  bdevRegistryRemove(b);
  const destruct = changetype<BdevModule>(b.module).destruct;
  if (destruct != 0) changetype<DestructFn>(destruct)(bdev);
  if (b.retired != 0) heapFree(b.retired);
  const cb = b.unregisterCb;
  const ctx = b.unregisterCtx;
  const thread = b.unregisterThread;
  heapFree(bdev);
  if (cb != 0) sendMsg(thread, changetype<MsgFn>(cb), ctx);
}

export function bdevIsRemoving(bdev: usize): bool {
  return atomic.load<u32>(bdev + offsetof<Bdev>("state")) != BDEV_ACTIVE;
}

function resizeEventMsg(descPtr: usize): void {
  const desc = changetype<BdevDesc>(descPtr);
  if (desc.eventCb != 0) changetype<BdevEventCb>(desc.eventCb)(BDEV_EVENT_RESIZE, desc.bdev, desc.eventCtx);
}

/**
 * The bdev now has `blockCount` blocks (SPDK's spdk_bdev_notify_blockcnt_change): I/O is checked
 * against the new count from here on, and every open descriptor gets a RESIZE event on its thread.
 * -EINVAL for 0 blocks, -ENODEV while the bdev is being removed.
 */
export function bdevResize(bdev: usize, blockCount: u64): i32 {
  const b = changetype<Bdev>(bdev);
  if (blockCount == 0) return -EINVAL;
  const lock = bdev + offsetof<Bdev>("lock");
  rawLock(lock);
  if (atomic.load<u32>(bdev + offsetof<Bdev>("state")) != BDEV_ACTIVE) { rawUnlock(lock); return -ENODEV; }
  atomic.store<u64>(bdev + offsetof<Bdev>("blockCount"), blockCount);
  for (let d = b.descs; d != 0; d = changetype<BdevDesc>(d).next) {
    const desc = changetype<BdevDesc>(d);
    if (desc.eventCb != 0 && desc.thread != 0) sendMsg(desc.thread, resizeEventMsg, d);
  }
  rawUnlock(lock);
  report(LEVEL_INFO, 0, "bdev %s: now %d blocks", b.name, 0, <f64>blockCount);
  return 0;
}
