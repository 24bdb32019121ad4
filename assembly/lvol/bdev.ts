// The lvol bdev (SPDK's vbdev_lvol): a bdev whose blocks are a blob's io units. Reads and writes go
// to the blob through this thread's channel on the store's bdev; unmap and write_zeroes too. A flush
// makes every write completed before it durable: the device is flushed, then (when thin clusters were
// claimed since the last sync) the blob's md is synced on the md thread, so a cluster a write landed
// in survives a power cut with the write. An I/O refused for want of memory (no memory for the blob's
// request, no bdev_io for a flush) waits on its channel and is submitted again, never failed (SPDK's
// nomem_io); hot remove and reset abort the ones waiting.

import { heapAllocZeroed, heapFree, EINVAL, ENOMEM, EBUSY } from "../runtime";
import {
  getIoChannel, putIoChannel, ioDeviceRegister, ioDeviceUnregister, ioChannelCtx, sendMsg, pollerRegister, pollerUnregister,
  forEachChannel, forEachChannelContinue, forEachChannelCtx, forEachChannelIoChannel, pollerReschedule, pollerSetPeriod,
  POLLER_BUSY, POLLER_IDLE,
} from "../thread";
import {
  Bdev, BdevIo, BdevChannel, BdevModule, IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES, IO_RESET,
  IO_SUCCESS, IO_FAILED, IO_ABORTED, bdevAlloc, bdevRegister, bdevResize, bdevIoComplete, bdevIoCompleteList, bdevFreeIo, bdevFlush,
} from "../bdev";
import { moduleTable, MODULE_KEY_BYTES, isModule } from "../bdev/module";
import { Store, Blob, blobOp, blobOpv, blobSync, blobClusters, BLOB_UNMAP, BLOB_WRITE_ZEROES } from "../blob";

@unmanaged export class Lvol {
  blob: usize;
  store: usize;
  self: usize;          // the lvol bdev
  syncing: u32;         // md thread: a sync for waiting flushes is running
  _pad: u32;
  waiting: usize;       // md thread: flush ios (BdevIo.next) waiting for the next sync
  round: usize;         // md thread: flush ios the running sync answers
  frozen: u32;          // atomic: new I/O is held (a snapshot or resize is changing the blob's map)
  active: u32;          // atomic: I/Os submitted to the blob and not yet completed
  freezeCb: usize;      // md thread: FreezeCb a freeze answers once active is 0
  freezeCtx: usize;
  freezePoller: usize;
  detached: u32;        // atomic, detach.ts: 1 once hot remove began; channels made after take no store channel
  detachDesc: u32;      // detach.ts: the descriptor that keeps the bdev (and this) alive through the detach
  detachCb: usize;      // detach.ts: FreezeCb for when the blob is no longer touched
  detachCtx: usize;
  detachPoller: usize;
}

/**
 * Module channel: this thread's channel on the store's bdev (0 for a detached lvol's), the I/Os held
 * while frozen, and those waiting for memory (BdevIo.next, oldest first; each one of this bdev
 * channel's pool ios, so at most its pool size) with the poller that retries them.
 */
@unmanaged export class LvolChannel { storeChannel: usize; heldHead: usize; heldTail: usize; nomemHead: usize; nomemTail: usize; nomemPoller: usize; }

/**
 * While I/Os wait for memory: how often they are tried again (memory freed on another reactor is not
 * signalled; a completion on this channel tries at once). Idle: registered, never due in practice.
 */
const NOMEM_RETRY_US: u64 = 200;
const NOMEM_IDLE_US: u64 = 3_600_000_000;

const LVOL_KEY = memory.data(MODULE_KEY_BYTES);
function lvolModule(): BdevModule { return moduleTable(LVOL_KEY, "lvol", lvolSubmit, lvolChannelKey, lvolDestruct, lvolAbortWaiting); }

function lvolChannelKey(bdev: usize): usize { return changetype<Bdev>(bdev).ctx; }

function channelCreate(key: usize, ctxBuf: usize): i32 {
  const ch = changetype<LvolChannel>(ctxBuf);
  ch.heldHead = 0;
  ch.heldTail = 0;
  ch.nomemHead = 0;
  ch.nomemTail = 0;
  ch.storeChannel = 0;
  ch.nomemPoller = pollerRegister(nomemRetryPoll, ctxBuf, NOMEM_IDLE_US, "lvol_nomem_retry");
  if (ch.nomemPoller == 0) return -ENOMEM;
  // A detached lvol's store may be gone: its bdev takes no I/O any more, so its channels need none.
  if (atomic.load<u32>(key + offsetof<Lvol>("detached")) != 0) return 0;
  ch.storeChannel = getIoChannel(changetype<Store>(changetype<Lvol>(key).store).bdev);
  if (ch.storeChannel == 0) { pollerUnregister(ch.nomemPoller); return -ENOMEM; }
  return 0;
}

function channelDestroy(_key: usize, ctxBuf: usize): void {
  const ch = changetype<LvolChannel>(ctxBuf);
  // Each waiting I/O is outstanding on the lvol's bdev channel, which is released only after its I/O.
  assert(ch.nomemHead == 0, "lvol channel released with I/O waiting for memory");
  pollerUnregister(ch.nomemPoller);
  if (ch.storeChannel != 0) putIoChannel(ch.storeChannel);
}

// The module's io_device (keyed by the Lvol) goes once its last channel is released; only then is the
// Lvol freed, so a heap block reused as another device's key never collides with it.
function lvolDestruct(bdev: usize): void {
  const ctx = changetype<Bdev>(bdev).ctx;
  if (ioDeviceUnregister(ctx, heapFree, ctx) != 0) heapFree(ctx);
}

function storeChannelOf(io: BdevIo): usize {
  const moduleChannel = changetype<BdevChannel>(io.channel).moduleChannel;
  return changetype<LvolChannel>(ioChannelCtx(moduleChannel)).storeChannel;
}

/** Every counted I/O ends here: one fewer in flight for a freeze to wait for. */
function complete(ioPtr: usize, status: i32): void {
  const l = changetype<Bdev>(changetype<BdevIo>(ioPtr).bdev).ctx;
  atomic.sub<u32>(l + offsetof<Lvol>("active"), 1);
  bdevIoComplete(ioPtr, status);
}

function blobDone(ioPtr: usize, rc: i32): void {
  const ch = channelOf(changetype<BdevIo>(ioPtr));
  complete(ioPtr, rc == 0 ? IO_SUCCESS : IO_FAILED);
  if (ch.nomemHead != 0) retryNomem(ch);       // its request just went back: one waiting can have it
}

// ---- I/O waiting for memory: held in order, submitted again on a completion or by the poller ----

function holdForMemory(io: BdevIo): void {
  const ch = channelOf(io);
  assert(changetype<usize>(io) != ch.heldTail && changetype<usize>(io) != ch.nomemTail, "lvol: an I/O held twice");
  io.next = 0;
  if (ch.nomemTail == 0) ch.nomemHead = changetype<usize>(io); else changetype<BdevIo>(ch.nomemTail).next = changetype<usize>(io);
  ch.nomemTail = changetype<usize>(io);
  pollerReschedule(ch.nomemPoller, NOMEM_RETRY_US);
}

/** Submit the waiting I/Os again, oldest first; one that finds no memory again goes back to the head. */
function retryNomem(ch: LvolChannel): void {
  let io = ch.nomemHead;
  ch.nomemHead = 0;
  ch.nomemTail = 0;
  while (io != 0 && ch.nomemHead == 0) {
    const next = changetype<BdevIo>(io).next;
    lvolSubmit(io);                            // back on the list if still no memory
    io = next;
  }
  if (io != 0) {                               // stopped at the first refused: the rest keep their order behind it
    changetype<BdevIo>(ch.nomemTail).next = io;
    let tail = io;
    while (changetype<BdevIo>(tail).next != 0) tail = changetype<BdevIo>(tail).next;
    ch.nomemTail = tail;
  }
  if (ch.nomemHead == 0) pollerSetPeriod(ch.nomemPoller, NOMEM_IDLE_US);
}

function nomemRetryPoll(ctxBuf: usize): i32 {
  const ch = changetype<LvolChannel>(ctxBuf);
  if (ch.nomemHead == 0) { pollerSetPeriod(ch.nomemPoller, NOMEM_IDLE_US); return POLLER_IDLE; }
  const before = ch.nomemHead;
  retryNomem(ch);
  return ch.nomemHead != before ? POLLER_BUSY : POLLER_IDLE;
}

/** Hot remove, reset: the I/Os waiting for memory complete as aborted. */
function abortNomem(ch: LvolChannel): void {
  const head = ch.nomemHead;
  ch.nomemHead = 0;
  ch.nomemTail = 0;
  bdevIoCompleteList(head, IO_ABORTED);
}

function lvolAbortWaiting(moduleChannel: usize, _bdev: usize): void { abortNomem(changetype<LvolChannel>(moduleChannel)); }

function lvolSubmit(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const l = changetype<Lvol>(changetype<Bdev>(io.bdev).ctx);
  if (io.type == IO_RESET) { bdevIoComplete(ioPtr, IO_SUCCESS); return; }   // blob I/O has no queue to drop
  // Counted first, then the freeze checked (both seq-cst): a freezer that saw active 0 after setting
  // frozen can rely on every later submitter seeing frozen.
  atomic.add<u32>(changetype<usize>(l) + offsetof<Lvol>("active"), 1);
  if (atomic.load<u32>(changetype<usize>(l) + offsetof<Lvol>("frozen")) != 0) {
    atomic.sub<u32>(changetype<usize>(l) + offsetof<Lvol>("active"), 1);
    hold(io);
    return;
  }
  const blob = changetype<Blob>(l.blob);
  const ch = storeChannelOf(io);
  let rc: i32 = 0;
  switch (io.type) {
    case IO_READ:
    case IO_WRITE:
      rc = blobOpv(blob, ch, io.type == IO_WRITE, io.iovs, io.iovcnt, io.offsetBlocks, io.numBlocks, blobDone, ioPtr);
      break;
    case IO_UNMAP:
    case IO_WRITE_ZEROES:
      rc = blobOp(blob, ch, io.type == IO_UNMAP ? BLOB_UNMAP : BLOB_WRITE_ZEROES, 0, io.offsetBlocks, io.numBlocks, blobDone, ioPtr);
      break;
    default:
      rc = bdevFlush(changetype<Store>(l.store).desc, ch, deviceFlushed, ioPtr);
  }
  if (rc == -ENOMEM) {                         // no memory now: wait, then submit again
    atomic.sub<u32>(changetype<usize>(l) + offsetof<Lvol>("active"), 1);
    holdForMemory(io);
    return;
  }
  if (rc != 0) complete(ioPtr, IO_FAILED);
}

// ---- flush: the device, then the blob's md when a sync is due ----

function deviceFlushed(child: usize, success: bool, ioPtr: usize): void {
  bdevFreeIo(child);
  if (!success) { complete(ioPtr, IO_FAILED); return; }
  const l = changetype<Lvol>(changetype<Bdev>(changetype<BdevIo>(ioPtr).bdev).ctx);
  const blob = changetype<Blob>(l.blob);
  // A claim is recorded (dirty set, by message) before its write completes, and a sync clears dirty
  // when it starts: so clean and not syncing means every cluster written so far is durable.
  if (atomic.load<u32>(l.blob + offsetof<Blob>("dirty")) == 0 && atomic.load<u32>(l.blob + offsetof<Blob>("syncing")) == 0) {
    complete(ioPtr, IO_SUCCESS);
    return;
  }
  sendMsg(changetype<Store>(blob.store).mdThread, waitForSync, ioPtr);
}

/** On the md thread: the flush joins the next sync (one sync answers every flush waiting for it). */
function waitForSync(ioPtr: usize): void {
  const l = changetype<Lvol>(changetype<Bdev>(changetype<BdevIo>(ioPtr).bdev).ctx);
  changetype<BdevIo>(ioPtr).next = l.waiting;
  l.waiting = ioPtr;
  if (l.syncing == 0) startRound(changetype<usize>(l));
}

function startRound(lvolPtr: usize): void {
  const l = changetype<Lvol>(lvolPtr);
  if (changetype<Blob>(l.blob).syncing != 0) {
    // Someone else's sync (a resize, an xattr) is writing pages encoded before our claims may have
    // been recorded: ours must follow it. Come back after the messages queued behind this one.
    sendMsg(changetype<Store>(l.store).mdThread, startRound, lvolPtr);
    l.syncing = 1;
    return;
  }
  l.round = l.waiting;
  l.waiting = 0;
  l.syncing = 1;
  blobSync(changetype<Blob>(l.blob), roundSynced, lvolPtr);
}

function roundSynced(lvolPtr: usize, rc: i32, _value: u64): void {
  const l = changetype<Lvol>(lvolPtr);
  let io = l.round;
  l.round = 0;
  l.syncing = 0;
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    changetype<BdevIo>(io).aux = rc == 0 ? <u32>IO_SUCCESS : <u32>IO_FAILED;
    const thread = changetype<BdevChannel>(changetype<BdevIo>(io).channel).thread;
    sendMsg(thread, flushAnswered, io);
    io = next;
  }
  if (l.waiting != 0) startRound(lvolPtr);
}

/** On the flush's own thread: its completion. */
function flushAnswered(ioPtr: usize): void { complete(ioPtr, <i32>changetype<BdevIo>(ioPtr).aux); }

// ---- freeze: hold new I/O while the md thread changes the blob's cluster map ----

function channelOf(io: BdevIo): LvolChannel {
  return changetype<LvolChannel>(ioChannelCtx(changetype<BdevChannel>(io.channel).moduleChannel));
}

// The held and the waiting lists (each io in at most one, asserted) hold only ios of the lvol's bdev
// channel on this thread: at most its pool size.
function hold(io: BdevIo): void {
  const ch = channelOf(io);
  assert(changetype<usize>(io) != ch.heldTail && changetype<usize>(io) != ch.nomemTail, "lvol: an I/O held twice");
  io.next = 0;
  if (ch.heldTail == 0) ch.heldHead = changetype<usize>(io); else changetype<BdevIo>(ch.heldTail).next = changetype<usize>(io);
  ch.heldTail = changetype<usize>(io);
}

const FREEZE_POLL_US: u64 = 50;

/** (ctx, rc) when a freeze or unfreeze is done, on the thread that asked. */
export type FreezeCb = (ctx: usize, rc: i32) => void;

function freezeCheck(lvolPtr: usize): i32 {
  const l = changetype<Lvol>(lvolPtr);
  if (atomic.load<u32>(lvolPtr + offsetof<Lvol>("active")) != 0) return POLLER_IDLE;
  pollerUnregister(l.freezePoller);
  l.freezePoller = 0;
  changetype<FreezeCb>(l.freezeCb)(l.freezeCtx, 0);
  return POLLER_BUSY;
}

/**
 * Hold new I/O to lvol bdev `bdev`; cb(ctx, 0) once none is in flight (a poller looks; nothing
 * waits). On the md thread, before a snapshot or a resize. -EBUSY if it is frozen already.
 */
export function lvolFreeze(bdev: usize, cb: FreezeCb, ctx: usize): i32 {
  if (!isLvolBdev(bdev)) return -EINVAL;
  const l = changetype<Lvol>(changetype<Bdev>(bdev).ctx);
  if (atomic.load<u32>(changetype<usize>(l) + offsetof<Lvol>("frozen")) != 0) return -EBUSY;
  atomic.store<u32>(changetype<usize>(l) + offsetof<Lvol>("frozen"), 1);
  l.freezeCb = changetype<usize>(cb);
  l.freezeCtx = ctx;
  l.freezePoller = pollerRegister(freezeCheck, changetype<usize>(l), FREEZE_POLL_US, "lvol_freeze");
  if (l.freezePoller == 0) { atomic.store<u32>(changetype<usize>(l) + offsetof<Lvol>("frozen"), 0); return -ENOMEM; }
  return 0;
}

/**
 * In a for_each_channel visit: the I/Os held on this thread's channel, oldest first, each handed to
 * `each` (submitted again, or aborted), and the walk continued.
 */
export function takeHeld(iter: usize, each: (io: usize) => void): void {
  const ch = changetype<LvolChannel>(ioChannelCtx(forEachChannelIoChannel(iter)));
  let io = ch.heldHead;
  ch.heldHead = 0;
  ch.heldTail = 0;
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    each(io);
    io = next;
  }
  forEachChannelContinue(iter, 0);
}

function releaseHeld(iter: usize): void {
  takeHeld(iter, lvolSubmit);
}

function thawed(iter: usize, status: i32): void {
  const l = changetype<Lvol>(forEachChannelCtx(iter));
  changetype<FreezeCb>(l.freezeCb)(l.freezeCtx, status);
}

/** Let I/O flow again: what was held is submitted on its own thread; cb(ctx, rc) after. */
export function lvolUnfreeze(bdev: usize, cb: FreezeCb, ctx: usize): i32 {
  if (!isLvolBdev(bdev)) return -EINVAL;
  const l = changetype<Lvol>(changetype<Bdev>(bdev).ctx);
  l.freezeCb = changetype<usize>(cb);
  l.freezeCtx = ctx;
  atomic.store<u32>(changetype<usize>(l) + offsetof<Lvol>("frozen"), 0);
  return forEachChannel(changetype<usize>(l), releaseHeld, changetype<usize>(l), thawed);
}

// ---- create, resize ----

/** Why the last lvolBdevCreate on this instance failed. */
export let lvolError: i32 = 0;

/**
 * A bdev over open blob `blob` (the caller keeps it open until the bdev is gone). Runs on the store's
 * md thread. Returns the bdev or 0 (lvolError says why).
 */
export function lvolBdevCreate(name: usize, blob: Blob): usize {
  const s = changetype<Store>(blob.store);
  const ctx = heapAllocZeroed(offsetof<Lvol>());
  if (ctx == 0) { lvolError = -ENOMEM; return 0; }
  const l = changetype<Lvol>(ctx);
  l.blob = changetype<usize>(blob);
  l.store = changetype<usize>(s);
  const blocks = blobClusters(blob) * <u64>s.unitsPerCluster;
  if (blocks == 0) { heapFree(ctx); lvolError = -EINVAL; return 0; }
  const rc = ioDeviceRegister(ctx, channelCreate, channelDestroy, offsetof<LvolChannel>(), "lvol");
  if (rc != 0) { heapFree(ctx); lvolError = rc; return 0; }
  const bdev = bdevAlloc(lvolModule(), name, s.blockSize, blocks, ctx);
  if (bdev == 0) { ioDeviceUnregister(ctx, heapFree, ctx); lvolError = -ENOMEM; return 0; }
  const b = changetype<Bdev>(bdev);
  b.ioTypes = (1 << IO_READ) | (1 << IO_WRITE) | (1 << IO_FLUSH) | (1 << IO_UNMAP) | (1 << IO_WRITE_ZEROES) | (1 << IO_RESET);
  b.writeCache = 1;
  const base = changetype<Bdev>(s.bdev);
  b.requiredAlign = base.requiredAlign;
  b.unmapZeroes = base.unmapZeroes;            // a blob unmap is the device's unmap
  b.optimalIoBoundary = s.unitsPerCluster;     // an I/O within one cluster is one device I/O
  l.self = bdev;
  const reg = bdevRegister(bdev);
  if (reg != 0) { heapFree(bdev); ioDeviceUnregister(ctx, heapFree, ctx); lvolError = reg; return 0; }
  return bdev;
}

/** After the blob was resized: the bdev takes the blob's new size (descriptors get a RESIZE event). */
export function lvolBdevResized(bdev: usize): i32 {
  if (!isLvolBdev(bdev)) return -EINVAL;
  const l = changetype<Lvol>(changetype<Bdev>(bdev).ctx);
  const blob = changetype<Blob>(l.blob);
  return bdevResize(bdev, blobClusters(blob) * <u64>changetype<Store>(l.store).unitsPerCluster);
}

export function isLvolBdev(bdev: usize): bool { return isModule(changetype<Bdev>(bdev).module, LVOL_KEY); }

/** The blob under lvol bdev `bdev`. */
export function lvolBlob(bdev: usize): usize { return changetype<Lvol>(changetype<Bdev>(bdev).ctx).blob; }
