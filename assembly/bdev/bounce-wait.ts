// Requests waiting for bounce memory (SPDK's spdk_bdev_io_get_buf, which queues an io until the iobuf
// pool has a buffer): a misaligned request whose aligned copy finds the heap full is kept here, on its
// channel, and retried oldest first until the copy fits; then it goes to the module as usual. Reset,
// hot remove and channel release complete the waiting ones with an error.
// Bounded: each waiting request is one of the channel's pool ios, so at most poolSize wait.

import { report, LEVEL_ERROR, EBUSY } from "../runtime";
import { pollerRegister, pollerUnregister, pollerSetPeriod, pollerReschedule, POLLER_BUSY, POLLER_IDLE } from "../thread";
import { Bdev, BdevChannel, BdevIo, IO_ABORTED, IO_FAILED } from "./types";
import { bounceBegin, BOUNCE_STARTED, BOUNCE_NO_MEMORY } from "./bounce";
import { channelSubmit } from "./channel";
import { bdevIoComplete } from "./io";

/**
 * While requests wait: how often the channel's thread tries again. Memory freed by another thread is
 * not signalled here, so this is what bounds the delay; 200 µs costs a short check, not a busy loop.
 */
export const BOUNCE_RETRY_PERIOD_US: u64 = 200;

/**
 * While none wait: the poller stays registered (registering it when memory has run out could fail)
 * but so rarely due that it never keeps a reactor awake.
 */
const BOUNCE_IDLE_PERIOD_US: u64 = 3_600_000_000;

function retryPoller(ctx: usize): i32 {
  const ch = changetype<BdevChannel>(ctx);
  if (ch.bounceWaitHead == 0) return POLLER_IDLE;
  const before = ch.bounceWaitCount;
  bounceWaitRetry(ch);
  return ch.bounceWaitCount < before ? POLLER_BUSY : POLLER_IDLE;
}

/** Channel creation: a bdev that may bounce (requiredAlign > 1) gets the retry poller. False: no memory for it. */
export function bounceWaitInit(ch: BdevChannel): bool {
  if (changetype<Bdev>(ch.bdev).requiredAlign <= 1) return true;
  return bounceWaitPoller(ch);
}

/**
 * The channel's retry poller, registered now if it has none: a bdev that never needs alignment
 * bounces only external vectors (extiov.ts), and only channels that see one pay for the poller.
 * False when there is no memory for it (the request then fails with -ENOMEM).
 */
export function bounceWaitPoller(ch: BdevChannel): bool {
  if (ch.bouncePoller == 0) ch.bouncePoller = pollerRegister(retryPoller, changetype<usize>(ch), BOUNCE_IDLE_PERIOD_US, "bdev_bounce_wait");
  return ch.bouncePoller != 0;
}

/** Channel release: requests still waiting (the owner released a channel with I/O pending) fail. */
export function bounceWaitFini(ch: BdevChannel): void {
  if (ch.bounceWaitCount != 0) {
    report(LEVEL_ERROR, -EBUSY, "bdev %s: channel released with %d I/Os waiting for bounce memory; they fail",
      changetype<Bdev>(ch.bdev).name, 0, <f64>ch.bounceWaitCount);
    bounceWaitAbort(ch);
  }
  if (ch.bouncePoller != 0) pollerUnregister(ch.bouncePoller);
  ch.bouncePoller = 0;
}

/** Keep `ioPtr` (submitted, not bounced, not seen by the module) until memory for its copy is there. */
export function bounceWaitAdd(ch: BdevChannel, ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  assert(io.bounceBlock == 0 && io.channel == changetype<usize>(ch), "bounceWaitAdd: io is bounced or not this channel's");
  assert(ch.bouncePoller != 0, "bounceWaitAdd: a channel of a bdev that does not bounce");
  assert(ch.bounceWaitCount < changetype<Bdev>(ch.bdev).poolSize, "bounceWaitAdd: more waiting than the pool holds");
  io.next = 0;
  if (ch.bounceWaitTail == 0) ch.bounceWaitHead = ioPtr; else changetype<BdevIo>(ch.bounceWaitTail).next = ioPtr;
  ch.bounceWaitTail = ioPtr;
  if (ch.bounceWaitCount++ == 0) pollerReschedule(ch.bouncePoller, BOUNCE_RETRY_PERIOD_US);
}

function takeHead(ch: BdevChannel): usize {
  const io = ch.bounceWaitHead;
  ch.bounceWaitHead = changetype<BdevIo>(io).next;
  if (ch.bounceWaitHead == 0) ch.bounceWaitTail = 0;
  changetype<BdevIo>(io).next = 0;
  if (--ch.bounceWaitCount == 0) pollerSetPeriod(ch.bouncePoller, BOUNCE_IDLE_PERIOD_US);
  return io;
}

/**
 * Try the waiting requests in order; the first whose copy still does not fit stops the pass, so a
 * smaller later one never overtakes it (a large request would otherwise starve). Runs from the poller
 * and when a bounce copy is freed on this channel.
 */
export function bounceWaitRetry(ch: BdevChannel): void {
  if (ch.bounceRetrying != 0) return;      // a completion inside a submit below: the running pass goes on
  ch.bounceRetrying = 1;
  while (ch.bounceWaitHead != 0) {
    const rc = bounceBegin(ch.bounceWaitHead);
    if (rc == BOUNCE_NO_MEMORY) break;
    const io = takeHead(ch);
    if (rc == BOUNCE_STARTED) channelSubmit(ch, io);
    else bdevIoComplete(io, IO_FAILED);      // its external data could not be copied: it never reaches the module
  }
  ch.bounceRetrying = 0;
}

/**
 * Reset, hot remove, release: every request waiting now completes as aborted (its caller's callback
 * runs). The list is detached first: one that a callback submits again waits anew, not aborted in a loop.
 */
export function bounceWaitAbort(ch: BdevChannel): void {
  let io = ch.bounceWaitHead;
  ch.bounceWaitHead = 0;
  ch.bounceWaitTail = 0;
  ch.bounceWaitCount = 0;
  if (io != 0) pollerSetPeriod(ch.bouncePoller, BOUNCE_IDLE_PERIOD_US);
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    changetype<BdevIo>(io).next = 0;
    bdevIoComplete(io, IO_ABORTED);
    io = next;
  }
}
