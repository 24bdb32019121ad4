// Shared machinery of pass-through bdevs (error, delay, crash): open and claim a base bdev, give each
// thread a channel on it, and forward an io as a child io on the base, completing the parent with the
// child's result. A removed base removes the pass-through too (SPDK's vbdev behaviour).

import { heapFree, report, LEVEL_ERROR, ENOMEM } from "../runtime";
import { getIoChannel, putIoChannel, ioDeviceRegister, ioDeviceUnregister, ioChannelCtx, ChannelCreateFn, ChannelDestroyFn } from "../thread";
import { bdevReset } from "./reset";
import { Bdev, BdevIo, BdevChannel, BdevModule, IO_SUCCESS, IO_FAILED, IO_RESET, BDEV_EVENT_REMOVE } from "./types";
import { bdevOpen, bdevClaim, bdevClose, bdevUnregister, bdevAlloc, bdevRegister } from "./bdev";
import { bdevSubmitBlocks, bdevFreeIo, bdevIoComplete } from "./io";
import { bdevById } from "./registry";

/** State every pass-through keeps first in its module context. */
@unmanaged export class Passthru {
  base: usize;            // base bdev
  baseDesc: u32;          // claimed read-write descriptor
  self: usize;            // the pass-through bdev
  channelBytes: u32;      // module channel size (PassthruChannel + module part)
  _pad: u32;
}

/** The module channel of a pass-through starts with the base channel. */
@unmanaged export class PassthruChannel {
  baseChannel: usize;
  ctx: usize;             // the Passthru
}

function baseRemoved(event: u32, _base: usize, ctx: usize): void {
  if (event != BDEV_EVENT_REMOVE) return;
  const p = changetype<Passthru>(ctx);
  if (p.self != 0) bdevUnregister(p.self, null, 0);
}

/** Fill the PassthruChannel part of a module channel: a channel on the base for this thread. */
export function passthruChannelOpen(key: usize, ctxBuf: usize): i32 {
  const ch = changetype<PassthruChannel>(ctxBuf);
  ch.ctx = key;
  ch.baseChannel = getIoChannel(changetype<Passthru>(key).base);
  return ch.baseChannel == 0 ? -ENOMEM : 0;
}

export function passthruChannelClose(ctxBuf: usize): void {
  putIoChannel(changetype<PassthruChannel>(ctxBuf).baseChannel);
}

function channelDestroy(_key: usize, ctxBuf: usize): void { passthruChannelClose(ctxBuf); }

/**
 * Create a pass-through over bdev `baseId` on the current thread (events about the base arrive here).
 * `ctx` is the module's state, which starts with a Passthru; `channelBytes` the module channel size;
 * create/destroy build the module channel (their default holds just the base channel).
 * Returns the new bdev, or 0 (`passthruError` says why).
 */
export function passthruCreate(module: BdevModule, name: usize, baseId: u32, ctx: usize, channelBytes: u32,
  create: ChannelCreateFn = passthruChannelOpen, destroy: ChannelDestroyFn = channelDestroy): usize {
  const base = bdevById(baseId);
  if (base == 0) { passthruError = -19; return 0; }
  const p = changetype<Passthru>(ctx);
  p.base = base;
  p.channelBytes = channelBytes;
  const desc = bdevOpen(base, true, baseRemoved, ctx);
  if (desc < 0) { passthruError = desc; return 0; }
  p.baseDesc = <u32>desc;
  const claim = bdevClaim(p.baseDesc);
  if (claim != 0) { bdevClose(p.baseDesc); passthruError = claim; return 0; }
  const rc = ioDeviceRegister(ctx, create, destroy, channelBytes, "passthru");
  if (rc != 0) { bdevClose(p.baseDesc); passthruError = rc; return 0; }
  const b = changetype<Bdev>(base);
  const self = bdevAlloc(module, name, b.blockSize, b.blockCount, ctx);
  if (self == 0) { undoCreate(p); passthruError = -ENOMEM; return 0; }
  const s = changetype<Bdev>(self);
  s.ioTypes = b.ioTypes;
  s.writeCache = b.writeCache;
  s.requiredAlign = b.requiredAlign;
  s.optimalIoBoundary = b.optimalIoBoundary;
  s.unmapZeroes = b.unmapZeroes;
  p.self = self;
  const reg = bdevRegister(self);
  if (reg != 0) { heapFree(self); undoCreate(p); passthruError = reg; return 0; }
  return self;
}

function nothing(_ctx: usize): void {}

/** A create that failed after registering the io_device: no channel exists yet, so it goes at once. */
function undoCreate(p: Passthru): void {
  bdevClose(p.baseDesc);
  ioDeviceUnregister(changetype<usize>(p), nothing, 0);
}

/** Why the last passthruCreate on this instance failed. */
export let passthruError: i32 = 0;

/** The module channel of the channel an io was submitted on. */
export function passthruChannel(io: usize): PassthruChannel {
  return changetype<PassthruChannel>(ioChannelCtx(changetype<BdevChannel>(changetype<BdevIo>(io).channel).moduleChannel));
}

function childDone(child: usize, success: bool, parent: usize): void {
  bdevFreeIo(child);
  bdevIoComplete(parent, success ? IO_SUCCESS : IO_FAILED);
}

/** Send `io` on to the base bdev; its result completes `io`. */
export function passthruForward(io: usize): void {
  const parent = changetype<BdevIo>(io);
  const p = changetype<Passthru>(changetype<Bdev>(parent.bdev).ctx);
  const baseCh = passthruChannel(io).baseChannel;
  const rc = parent.type == IO_RESET
    ? bdevReset(p.baseDesc, baseCh, childDone, io)
    : bdevSubmitBlocks(p.baseDesc, baseCh, parent.type, parent.iovcnt == 0 ? 0 : parent.iovs, parent.iovcnt,
      parent.offsetBlocks, parent.numBlocks, childDone, io);
  if (rc != 0) {
    report(LEVEL_ERROR, rc, "bdev %s: could not forward an I/O to its base bdev", changetype<Bdev>(parent.bdev).name);
    bdevIoComplete(io, IO_FAILED);
  }
}

/**
 * Module destruct helper: release the base and the module's io_device, then free `ctx` (the module's
 * state) once the device's last channel is gone: a heap block reused as another device's key must
 * never find this one still registered.
 */
export function passthruRelease(ctx: usize): void {
  const p = changetype<Passthru>(ctx);
  bdevClose(p.baseDesc);
  if (ioDeviceUnregister(ctx, heapFree, ctx) != 0) heapFree(ctx);
}

