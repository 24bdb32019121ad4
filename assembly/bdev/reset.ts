// Reset (SPDK's spdk_bdev_reset): completes once every I/O submitted to the bdev before it, on every
// channel, has completed. Queued I/O inside modules is aborted first; I/O already at the device is
// waited for. Then the module's own reset runs if it has one.

import { heapAllocZeroed, heapFree, ENOMEM } from "../runtime";
import {
  forEachChannel, forEachChannelContinue, forEachChannelIoChannel, forEachChannelCtx, ioChannelCtx,
  pollerRegister, pollerUnregister, POLLER_BUSY, POLLER_IDLE,
} from "../thread";
import { Bdev, BdevModule, BdevChannel, BdevIo, BdevIoCb, IO_RESET, IO_SUCCESS, SubmitFn, AbortQueuedFn } from "./types";
import { bdevPrepareIo, preparedIo, bdevIoComplete } from "./io";
import { bounceWaitAbort } from "./bounce-wait";

@unmanaged class ChannelDrain {
  iter: usize;
  channel: usize;       // BdevChannel
  allowed: u32;         // outstanding I/Os that may remain: the reset itself on its own channel
  poller: usize;
}

function drained(d: ChannelDrain): bool {
  return changetype<BdevChannel>(d.channel).outstanding <= d.allowed;
}

function drainPoller(ctx: usize): i32 {
  const d = changetype<ChannelDrain>(ctx);
  if (!drained(d)) return POLLER_IDLE;
  pollerUnregister(d.poller);
  const iter = d.iter;
  heapFree(ctx);
  forEachChannelContinue(iter, 0);
  return POLLER_BUSY;
}

function resetVisit(iter: usize): void {
  const reset = changetype<BdevIo>(forEachChannelCtx(iter));
  const ch = changetype<BdevChannel>(ioChannelCtx(forEachChannelIoChannel(iter)));
  const module = changetype<BdevModule>(changetype<Bdev>(ch.bdev).module);
  if (module.abortQueued != 0 && ch.moduleChannel != 0) {
    changetype<AbortQueuedFn>(module.abortQueued)(ioChannelCtx(ch.moduleChannel), ch.bdev);
  }
  bounceWaitAbort(ch);                 // waiting for bounce memory counts as queued, not as at the device
  const allowed: u32 = changetype<usize>(ch) == reset.channel ? 1 : 0;
  if (ch.outstanding <= allowed) { forEachChannelContinue(iter, 0); return; }
  const d = changetype<ChannelDrain>(heapAllocZeroed(offsetof<ChannelDrain>()));
  if (changetype<usize>(d) == 0) { forEachChannelContinue(iter, -ENOMEM); return; }
  d.iter = iter;
  d.channel = changetype<usize>(ch);
  d.allowed = allowed;
  d.poller = pollerRegister(drainPoller, changetype<usize>(d), 0, "bdev_reset_drain");
  if (d.poller == 0) { heapFree(changetype<usize>(d)); forEachChannelContinue(iter, -ENOMEM); }
}

function resetDrained(iter: usize, status: i32): void {
  const io = changetype<BdevIo>(forEachChannelCtx(iter));
  const b = changetype<Bdev>(io.bdev);
  if (status == 0 && (b.ioTypes & (1 << IO_RESET)) != 0) {
    changetype<SubmitFn>(changetype<BdevModule>(b.module).submit)(changetype<usize>(io));
    return;
  }
  bdevIoComplete(changetype<usize>(io), status == 0 ? IO_SUCCESS : -1);
}

/** Reset the bdev: cb runs once everything submitted before it on every channel has completed. */
export function bdevReset(descHandle: u32, ioChannel: usize, cb: BdevIoCb, arg: usize): i32 {
  const rc = bdevPrepareIo(descHandle, ioChannel, IO_RESET, cb, arg);
  if (rc != 0) return rc;
  const io = preparedIo;
  const walk = forEachChannel(changetype<BdevIo>(io).bdev, resetVisit, io, resetDrained);
  if (walk != 0) bdevIoComplete(io, -1);
  return 0;
}
