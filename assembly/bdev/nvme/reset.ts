// A controller's reset and reconnect on the app thread (bdev_nvme_reset_controller, or a lost admin
// qpair): every channel drops its own qpair by message (its commands come back aborted and wait, I/O
// is held), the admin qpair closes, then a new controller connects; on success every channel opens a
// qpair to it by message and held I/O goes. A failed connect is tried again every reconnect_delay_sec
// until ctrlr_loss_timeout_sec (-1: forever); held I/O fails after fast_io_fail_timeout_sec.

import { report, LEVEL_ERROR, LEVEL_NOTICE, ENOMEM, EBUSY, requestDone } from "../../runtime";
import { cachedNowUs, forEachChannel, forEachChannelContinue, forEachChannelIoChannel, forEachChannelCtx, ioChannelCtx, POLLER_IDLE, POLLER_BUSY } from "../../thread";
import { hostCtrlrNew, hostCtrlrStart, hostCtrlrClose, hostCtrlrFree } from "../../nvme/host";
import { NvmeBdevCtrlr, NvmeChannel, NC_READY, NC_FAILED, NC_RESETTING } from "./types";
import { nvmeChannelDrop, nvmeChannelReopen, nvmeChannelFailHeld } from "./channel";
import { nvmeCtrlrTakeIdentity, nvmeCtrlrResetEnded } from "./ctrlr";

/** How often the app thread checks a reset's retry and fast-fail deadlines. */
export const RESET_TICK_US: u64 = 10000;

function ctrlrAt(c: NvmeBdevCtrlr): usize { return changetype<usize>(c); }
function setState(c: NvmeBdevCtrlr, s: u32): void { atomic.store<u32>(ctrlrAt(c) + offsetof<NvmeBdevCtrlr>("state"), s); }
function channelOfIter(iter: usize): NvmeChannel { return changetype<NvmeChannel>(ioChannelCtx(forEachChannelIoChannel(iter))); }

/** bdev_nvme_reset_controller: the request ends when the controller is back (or the reset gave up). */
export function nvmeCtrlrReset(reqId: u32, ctrlr: usize): void {
  const c = changetype<NvmeBdevCtrlr>(ctrlr);
  if (c.state != NC_READY || c.resetReq != 0) { requestDone(reqId, -EBUSY, 0); return; }
  c.resetReq = reqId;
  resetStart(c);
}

/** A channel's I/O qpair failed by itself (app thread, by message): reset, or once more after the one under way. */
export function nvmeIoQpairLost(ctrlr: usize): void {
  const c = changetype<NvmeBdevCtrlr>(ctrlr);
  if (c.state == NC_READY) { report(LEVEL_ERROR, -104, "nvme: controller %d lost an I/O queue; reconnecting (I/O is held)", 0, 0, <f64>c.cntlid); resetStart(c); }
  else if (c.state == NC_RESETTING) c.resetAgain = 1;
}

export function resetStart(c: NvmeBdevCtrlr): void {
  assert(c.state == NC_READY, "resetStart: from a controller that is up");
  setState(c, NC_RESETTING);
  atomic.store<u32>(ctrlrAt(c) + offsetof<NvmeBdevCtrlr>("fastFailed"), 0);
  c.lossStartUs = cachedNowUs();
  c.attempts = 0;
  c.retryAtUs = 0;
  forEachChannel(ctrlrAt(c), dropOne, ctrlrAt(c), dropsDone);
}

function dropOne(iter: usize): void {
  nvmeChannelDrop(channelOfIter(iter));
  forEachChannelContinue(iter, 0);
}

function dropsDone(iter: usize, status: i32): void {
  const c = changetype<NvmeBdevCtrlr>(forEachChannelCtx(iter));
  if (c.host == 0) { connectAgain(c); return; }
  hostCtrlrClose(c.host, adminClosed, ctrlrAt(c));
}

function adminClosed(host: usize, ctx: usize, res: i32): void {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  hostCtrlrFree(host);
  c.host = 0;
  connectAgain(c);
}

function connectAgain(c: NvmeBdevCtrlr): void {
  c.retryAtUs = 0;
  c.attempts++;
  c.host = hostCtrlrNew(c.opts);
  if (c.host == 0) { connectFailed(c, -ENOMEM); return; }
  hostCtrlrStart(c.host, reconnected, ctrlrAt(c));
}

function reconnected(host: usize, ctx: usize, res: i32): void {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  if (res != 0) { hostCtrlrFree(host); c.host = 0; connectFailed(c, res); return; }
  nvmeCtrlrTakeIdentity(c, host);
  c.resets++;
  report(LEVEL_NOTICE, 0, "nvme: controller reconnected as controller %d after %d attempts", 0, 0, <f64>c.cntlid, <f64>c.attempts);
  forEachChannel(ctx, reopenOne, ctx, reopened);     // still resetting: a channel made meanwhile waits for the second walk
}

function reopenOne(iter: usize): void {
  nvmeChannelReopen(channelOfIter(iter));
  forEachChannelContinue(iter, 0);
}

/** Every channel has a qpair again: ready, then once more for a channel made during the walk. */
function reopened(iter: usize, status: i32): void {
  const c = changetype<NvmeBdevCtrlr>(forEachChannelCtx(iter));
  setState(c, NC_READY);
  forEachChannel(ctrlrAt(c), reopenOne, ctrlrAt(c), reopenedAll);
}
function reopenedAll(iter: usize, status: i32): void { ended(changetype<NvmeBdevCtrlr>(forEachChannelCtx(iter)), 0); }

/** Try again after reconnect_delay_sec, or give up once ctrlr_loss_timeout_sec has passed. */
function connectFailed(c: NvmeBdevCtrlr, res: i32): void {
  const now = cachedNowUs();
  const lossUs = <u64>c.lossTimeoutSec * 1000000;
  if (c.lossTimeoutSec == 0 || (c.lossTimeoutSec > 0 && now - c.lossStartUs + c.reconnectDelayUs > lossUs)) {
    report(LEVEL_ERROR, res, "nvme: controller %d not back within ctrlr_loss_timeout_sec (%d attempts): its bdevs fail I/O", 0, 0, <f64>c.cntlid, <f64>c.attempts);
    setState(c, NC_FAILED);
    forEachChannel(ctrlrAt(c), failOne, ctrlrAt(c), failedAll);
    return;
  }
  c.retryAtUs = now + max<u64>(c.reconnectDelayUs, RESET_TICK_US);
}

function failOne(iter: usize): void {
  nvmeChannelFailHeld(channelOfIter(iter), true);
  forEachChannelContinue(iter, 0);
}
function failedAll(iter: usize, status: i32): void { ended(changetype<NvmeBdevCtrlr>(forEachChannelCtx(iter)), -110); }

function failHeldOne(iter: usize): void {
  nvmeChannelFailHeld(channelOfIter(iter), false);
  forEachChannelContinue(iter, 0);
}
function failHeldDone(iter: usize, status: i32): void {}

/** The reset is over: the RPC that asked hears it, a detach that waited starts. */
function ended(c: NvmeBdevCtrlr, res: i32): void {
  const id = c.resetReq;
  c.resetReq = 0;
  const again = c.resetAgain != 0 && c.state == NC_READY && c.detachReq == 0;
  c.resetAgain = 0;
  nvmeCtrlrResetEnded(c);
  if (id != 0) requestDone(id, res, 0);
  if (again && c.state == NC_READY) resetStart(c);
}

/** App-thread poller: a retry that is due, and fast_io_fail_timeout_sec passing. */
export function resetTick(ctx: usize): i32 {
  const c = changetype<NvmeBdevCtrlr>(ctx);
  if (c.state != NC_RESETTING) return POLLER_IDLE;
  const now = cachedNowUs();
  let work = false;
  if (c.fastIoFailUs > 0 && c.fastFailed == 0 && now - c.lossStartUs >= c.fastIoFailUs) {
    atomic.store<u32>(ctx + offsetof<NvmeBdevCtrlr>("fastFailed"), 1);
    forEachChannel(ctx, failHeldOne, ctx, failHeldDone);
    work = true;
  }
  if (c.retryAtUs != 0 && now >= c.retryAtUs) { connectAgain(c); work = true; }
  return work ? POLLER_BUSY : POLLER_IDLE;
}
