// The delay bdev (SPDK's bdev_delay): a pass-through that holds each read or write completion until a
// configured latency has passed since its submission: the average latency, or for about 1 in 100
// I/Os the p99 latency. Latencies can be changed at any time from any instance.

import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import { heapAllocZeroed, heapFree } from "../../runtime";
import { pollerRegister, pollerUnregister, POLLER_BUSY, POLLER_IDLE, cachedNowNs } from "../../thread";
import { BdevModule, BdevIo, Bdev, IO_READ, IO_FLUSH, IO_RESET, IO_SUCCESS, IO_FAILED } from "../types";
import { bdevIoComplete, bdevFreeIo, bdevSubmitBlocks } from "../io";
import { Passthru, passthruCreate, passthruForward, passthruChannel, passthruRelease, passthruChannelOpen, passthruChannelClose, PassthruChannel } from "../passthru";

// Module state: Passthru, then latencies in µs: avg read, p99 read, avg write, p99 write (u32 each).
const LAT_OFF: usize = (offsetof<Passthru>() + 15) & ~15;
const DELAY_CTX_BYTES: usize = LAT_OFF + 16 + 8;
const COUNTER_OFF: usize = LAT_OFF + 16;           // u32: decides which I/Os get the p99 latency

// Module channel: PassthruChannel, then the held list and its poller.
const HELD_OFF: usize = offsetof<PassthruChannel>();
const POLLER_OFF: usize = HELD_OFF + 4;
const DELAY_CHANNEL_BYTES: u32 = <u32>POLLER_OFF + 8;

const DELAY_KEY = memory.data(MODULE_KEY_BYTES);
function delayModule(): BdevModule { return moduleTable(DELAY_KEY, "delay", delaySubmit, delayChannelKey, delayDestruct, delayReleaseAll); }

function delayChannelKey(bdev: usize): usize { return changetype<Bdev>(bdev).ctx; }
function delayDestruct(bdev: usize): void {
  const ctx = changetype<Bdev>(bdev).ctx;
  passthruRelease(ctx);
}

/** Completions of the base held until their deadline: scanned each poll (at most the channel's I/Os). */
function delayPoll(moduleCh: usize): i32 {
  const now = cachedNowNs();
  let link = moduleCh + HELD_OFF;
  let done = 0;
  while (load<usize>(link) != 0) {
    const io = changetype<BdevIo>(load<usize>(link));
    if (io.deadlineUs * 1000 <= now) {
      store<usize>(link, io.next);
      bdevIoComplete(changetype<usize>(io), <i32>io.aux);
      done++;
    } else {
      link = changetype<usize>(io) + offsetof<BdevIo>("next");
    }
  }
  return done > 0 ? POLLER_BUSY : POLLER_IDLE;
}

function heldDone(child: usize, success: bool, parent: usize): void {
  bdevFreeIo(child);
  const io = changetype<BdevIo>(parent);
  io.aux = <u32>(success ? IO_SUCCESS : IO_FAILED);
  const moduleCh = changetype<usize>(passthruChannel(parent));
  io.next = load<usize>(moduleCh + HELD_OFF);
  store<usize>(moduleCh + HELD_OFF, parent);
}

function delaySubmit(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const ctx = changetype<Bdev>(io.bdev).ctx;
  const isRead = io.type == IO_READ;
  if (io.type == IO_FLUSH || io.type == IO_RESET) { passthruForward(ioPtr); return; }   // not delayed
  const n = atomic.add<u32>(ctx + COUNTER_OFF, 1);
  const p99 = n % 100 == 99;
  const latencyUs = atomic.load<u32>(ctx + LAT_OFF + (isRead ? 0 : 8) + (p99 ? 4 : 0));
  io.deadlineUs = io.startNs / 1000 + <u64>latencyUs;
  const p = changetype<Passthru>(ctx);
  const rc = bdevSubmitBlocks(p.baseDesc, passthruChannel(ioPtr).baseChannel, io.type, io.iovcnt == 0 ? 0 : io.iovs, io.iovcnt,
    io.offsetBlocks, io.numBlocks, heldDone, ioPtr);
  if (rc != 0) bdevIoComplete(ioPtr, IO_FAILED);
}

/** On reset or removal: deliver every held completion now. */
function delayReleaseAll(moduleCh: usize, _bdev: usize): void {
  let io = load<usize>(moduleCh + HELD_OFF);
  store<usize>(moduleCh + HELD_OFF, 0);
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    bdevIoComplete(io, <i32>changetype<BdevIo>(io).aux);
    io = next;
  }
}

function delayChannelCreate(key: usize, ctxBuf: usize): i32 {
  const rc = passthruChannelOpen(key, ctxBuf);
  if (rc != 0) return rc;
  const poller = pollerRegister(delayPoll, ctxBuf, 0, "bdev_delay");
  if (poller == 0) { passthruChannelClose(ctxBuf); return -12; }
  store<usize>(ctxBuf + POLLER_OFF, poller);
  return 0;
}

function delayChannelDestroy(_key: usize, ctxBuf: usize): void {
  delayReleaseAll(ctxBuf, 0);
  pollerUnregister(load<usize>(ctxBuf + POLLER_OFF));
  passthruChannelClose(ctxBuf);
}

/** Create a delay bdev over `baseId` with latencies in µs. The bdev, or 0 (passthruError). */
export function delayBdevCreate(name: usize, baseId: u32, avgRead: u32, p99Read: u32, avgWrite: u32, p99Write: u32): usize {
  const ctx = heapAllocZeroed(DELAY_CTX_BYTES);
  if (ctx == 0) return 0;
  delaySetLatency(ctx, avgRead, p99Read, avgWrite, p99Write);
  const b = passthruCreate(delayModule(), name, baseId, ctx, DELAY_CHANNEL_BYTES, delayChannelCreate, delayChannelDestroy);
  if (b == 0) heapFree(ctx);
  return b;
}

function delaySetLatency(ctx: usize, avgRead: u32, p99Read: u32, avgWrite: u32, p99Write: u32): void {
  atomic.store<u32>(ctx + LAT_OFF, avgRead);
  atomic.store<u32>(ctx + LAT_OFF + 4, max(p99Read, avgRead));
  atomic.store<u32>(ctx + LAT_OFF + 8, avgWrite);
  atomic.store<u32>(ctx + LAT_OFF + 12, max(p99Write, avgWrite));
}

/** SPDK's bdev_delay_update_latency: `which` 0 avg read, 1 p99 read, 2 avg write, 3 p99 write. */
export function delayUpdateLatency(bdev: usize, which: u32, us: u32): i32 {
  if (which > 3) return -22;
  atomic.store<u32>(changetype<Bdev>(bdev).ctx + LAT_OFF + (<usize>which << 2), us);
  return 0;
}

export function isDelayBdev(bdev: usize): bool { return isModule(changetype<Bdev>(bdev).module, DELAY_KEY); }

