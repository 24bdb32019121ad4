// A bdev channel: one per (bdev, thread). It owns a fixed pool of bdev_ios, the queue of callers
// waiting for one (queue_io_wait), the requests waiting for bounce memory (bounce-wait.ts), a few
// scratch buffers for its user (scratch.ts), the module's own channel, and statistics.

import { heapAllocZeroed, heapFree, rawLock, rawUnlock, report, LEVEL_ERROR, HIST_BYTES, histMerge, ENOMEM, EBUSY } from "../runtime";
import { threadGet, getIoChannel, putIoChannel } from "../thread";
import {
  Bdev, BdevModule, BdevChannel, BdevIo, ChannelKeyFn, SubmitFn, STATS_HIST_OFF, STATS_LAT_MIN_OFF, STATS_LAT_MAX_OFF,
} from "./types";
import { bounceWaitInit, bounceWaitFini } from "./bounce-wait";
import { scratchInit, scratchFini } from "./scratch";
import { ioWaitWakeAll } from "./io-wait";
import { retiredAdd, retiredRead } from "./retired";

export const BDEV_CHANNEL_BYTES: usize = offsetof<BdevChannel>();
export const STATS_BLOCK_BYTES: usize = STATS_HIST_OFF + HIST_BYTES;

export function statsAlloc(): usize {
  const s = heapAllocZeroed(STATS_BLOCK_BYTES);
  if (s != 0) store<u64>(s + STATS_LAT_MIN_OFF, u64.MAX_VALUE);
  return s;
}

/** dst += src for the counters (min/max combine), not the histogram. */
export function statsMergeCounters(dst: usize, src: usize): void {
  for (let off: usize = 0; off < STATS_HIST_OFF; off += 8) {
    if (off == STATS_LAT_MIN_OFF) store<u64>(dst + off, min(load<u64>(dst + off), load<u64>(src + off)));
    else if (off == STATS_LAT_MAX_OFF) store<u64>(dst + off, max(load<u64>(dst + off), load<u64>(src + off)));
    else store<u64>(dst + off, load<u64>(dst + off) + load<u64>(src + off));
  }
}

/** dst += src (counters and histogram). */
function statsMerge(dst: usize, src: usize): void {
  statsMergeCounters(dst, src);
  histMerge(dst + STATS_HIST_OFF, src + STATS_HIST_OFF);
}

/** Hand a prepared io to the module; a completion inside the call is delivered by message (io.ts). */
export function channelSubmit(ch: BdevChannel, ioPtr: usize): void {
  ch.inSubmit++;
  changetype<SubmitFn>(changetype<BdevModule>(changetype<Bdev>(ch.bdev).module).submit)(ioPtr);
  ch.inSubmit--;
}

/** io_device constructor of every bdev (thread/io_channel.ts calls it on first get). */
export function bdevChannelCreate(bdev: usize, ctx: usize): i32 {
  const b = changetype<Bdev>(bdev);
  const ch = changetype<BdevChannel>(ctx);
  ch.bdev = bdev;
  ch.thread = threadGet();
  const keyFn = changetype<BdevModule>(b.module).channelKey;
  if (keyFn != 0) {
    const key = changetype<ChannelKeyFn>(keyFn)(bdev);
    if (key != 0) {
      ch.moduleChannel = getIoChannel(key);
      if (ch.moduleChannel == 0) return -ENOMEM;
    }
  }
  ch.pool = heapAllocZeroed(<usize>b.poolSize * offsetof<BdevIo>());
  ch.stats = statsAlloc();
  if (ch.pool == 0 || ch.stats == 0 || !bounceWaitInit(ch) || !scratchInit(ch)) {
    bounceWaitFini(ch);
    heapFree(ch.pool); heapFree(ch.stats);
    if (ch.moduleChannel != 0) putIoChannel(ch.moduleChannel);
    return -ENOMEM;
  }
  for (let i: u32 = 0; i < b.poolSize; i++) {
    const io = changetype<BdevIo>(ch.pool + <usize>i * offsetof<BdevIo>());
    io.channel = ctx;
    io.next = ch.freeList;
    ch.freeList = changetype<usize>(io);
  }
  ch.freeCount = b.poolSize;
  rawLock(bdev + offsetof<Bdev>("lock"));
  ch.nextInBdev = b.channels;
  b.channels = ctx;
  rawUnlock(bdev + offsetof<Bdev>("lock"));
  return 0;
}

export function bdevChannelDestroy(bdev: usize, ctx: usize): void {
  const b = changetype<Bdev>(bdev);
  const ch = changetype<BdevChannel>(ctx);
  // Callers still waiting (the owner released the channel with I/O pending) are not left behind: woken
  // now, they find the channel closing and fail; nothing of theirs runs on it once it is freed.
  ch.closing = 1;
  if (ch.waitHead != 0) {
    report(LEVEL_ERROR, -EBUSY, "bdev %s: channel released with %d callers waiting for a bdev_io; they fail", b.name, 0,
      <f64>ch.waitCount);
    ioWaitWakeAll(ch);
  }
  scratchFini(ch);
  bounceWaitFini(ch);
  if (ch.outstanding != 0 || ch.freeCount != b.poolSize) {
    report(LEVEL_ERROR, -EBUSY, "bdev %s: channel released with %d I/Os not completed and freed (a leak)", b.name, 0,
      <f64>(b.poolSize - ch.freeCount));
  }
  rawLock(bdev + offsetof<Bdev>("lock"));
  let link = bdev + offsetof<Bdev>("channels");
  while (load<usize>(link) != ctx) link = load<usize>(link) + offsetof<BdevChannel>("nextInBdev");
  store<usize>(link, ch.nextInBdev);
  retiredAdd(b, ch.stats);
  rawUnlock(bdev + offsetof<Bdev>("lock"));
  if (ch.moduleChannel != 0) putIoChannel(ch.moduleChannel);
  heapFree(ch.pool);
  heapFree(ch.stats);
}

/**
 * Statistics of a bdev so far, summed over its live channels and the retired ones, into `out`
 * (STATS_BLOCK_BYTES). Counters of live channels are read while their threads update them: each value
 * is recent, the set is not a single instant (as SPDK's bdev_get_iostat without a for_each).
 */
export function bdevStatsRead(bdev: usize, out: usize): void {
  const b = changetype<Bdev>(bdev);
  memory.fill(out, 0, STATS_BLOCK_BYTES);
  store<u64>(out + STATS_LAT_MIN_OFF, u64.MAX_VALUE);
  rawLock(bdev + offsetof<Bdev>("lock"));
  retiredRead(b, out);
  for (let c = b.channels; c != 0; c = changetype<BdevChannel>(c).nextInBdev) statsMerge(out, changetype<BdevChannel>(c).stats);
  rawUnlock(bdev + offsetof<Bdev>("lock"));
}
