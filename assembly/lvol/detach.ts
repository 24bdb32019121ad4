// Hot remove of an lvol bdev whose lvstore is going (SPDK's vbdev_lvol on its base bdev's removal): the
// bdev is unregistered (its users get REMOVE; new I/O is refused), and once no I/O it took is still in
// the blob and every thread has let go of its channel on the store's bdev, the blob may be closed and the
// store unloaded, even while a user that ignores REMOVE keeps the bdev open (the bdev itself is freed
// when the last descriptor closes, and touches neither blob nor store until then). One step per
// function, on the md thread: detach -> barrierDone -> drained -> storeChannelsReleased.

import { report, LEVEL_ERROR, EINVAL, ENOMEM } from "../runtime";
import {
  ioChannelCtx, pollerRegister, pollerUnregister, forEachChannel, forEachChannelContinue, forEachChannelCtx, forEachChannelIoChannel,
  putIoChannel, POLLER_BUSY, POLLER_IDLE,
} from "../thread";
import { Bdev, IO_ABORTED, bdevOpen, bdevClose, bdevUnregister, bdevIoComplete } from "../bdev";
import { Lvol, LvolChannel, FreezeCb, isLvolBdev, takeHeld } from "./bdev";

const DRAIN_POLL_US: u64 = 50;

function abortIo(io: usize): void { bdevIoComplete(io, IO_ABORTED); }

/** On each thread with a channel: what a freeze held is aborted (the bdev takes no I/O any more). */
function abortHeld(iter: usize): void { takeHeld(iter, abortIo); }

/**
 * Every thread has now seen the bdev as removed, so no submit can start: what is in the blob only ends.
 * A poller waits for it.
 */
function barrierDone(iter: usize, _status: i32): void {
  const lvolPtr = forEachChannelCtx(iter);
  const l = changetype<Lvol>(lvolPtr);
  l.detachPoller = pollerRegister(drained, lvolPtr, DRAIN_POLL_US, "lvol_detach");
  if (l.detachPoller == 0) finish(l, -ENOMEM);
}

function drained(lvolPtr: usize): i32 {
  const l = changetype<Lvol>(lvolPtr);
  if (atomic.load<u32>(lvolPtr + offsetof<Lvol>("active")) != 0) return POLLER_IDLE;
  pollerUnregister(l.detachPoller);
  l.detachPoller = 0;
  const rc = forEachChannel(lvolPtr, releaseStoreChannel, lvolPtr, storeChannelsReleased);
  if (rc != 0) finish(l, rc);
  return POLLER_BUSY;
}

function releaseStoreChannel(iter: usize): void {
  const ch = changetype<LvolChannel>(ioChannelCtx(forEachChannelIoChannel(iter)));
  if (ch.storeChannel != 0) putIoChannel(ch.storeChannel);
  ch.storeChannel = 0;
  forEachChannelContinue(iter, 0);
}

function storeChannelsReleased(iter: usize, status: i32): void {
  finish(changetype<Lvol>(forEachChannelCtx(iter)), status);
}

function finish(l: Lvol, rc: i32): void {
  if (rc != 0) report(LEVEL_ERROR, rc, "lvol bdev %s: hot remove could not let go of its store", changetype<Bdev>(l.self).name);
  const cb = l.detachCb;
  const ctx = l.detachCtx;
  bdevClose(l.detachDesc);       // may be the last: the bdev is then freed, and this Lvol with it
  changetype<FreezeCb>(cb)(ctx, rc);
}

/**
 * Hot remove lvol bdev `bdev` and let go of its blob and store: cb(ctx, 0) on this thread (the store's
 * md thread) once the blob may be closed. -EINVAL for a bdev that is no lvol, -ENODEV if it is being
 * removed already, -ENOMEM.
 */
export function lvolDetach(bdev: usize, cb: FreezeCb, ctx: usize): i32 {
  if (!isLvolBdev(bdev)) return -EINVAL;
  const lvolPtr = changetype<Bdev>(bdev).ctx;
  const l = changetype<Lvol>(lvolPtr);
  const desc = bdevOpen(bdev, false, null, 0);
  if (desc < 0) return desc;
  l.detachDesc = <u32>desc;
  l.detachCb = changetype<usize>(cb);
  l.detachCtx = ctx;
  atomic.store<u32>(lvolPtr + offsetof<Lvol>("detached"), 1);
  const rc = bdevUnregister(bdev, null, 0);
  assert(rc == 0, "lvolDetach: the bdev was open for us, so it was not being removed");
  const walk = forEachChannel(lvolPtr, abortHeld, lvolPtr, barrierDone);
  if (walk != 0) { bdevClose(l.detachDesc); return walk; }
  return 0;
}
