// Deferred completion for modules that finish an I/O inside submit (null, malloc): the io is queued on
// the thread's queue and completed by its poller, so a callback that resubmits never recurses into
// submit (SPDK's null and malloc bdevs complete from a poller too).

import { ioDeviceRegister, pollerRegister, pollerUnregister, POLLER_BUSY, POLLER_IDLE, ioChannelCtx } from "../thread";
import { ENOMEM } from "../runtime";
import { BdevIo, BdevChannel } from "./types";
import { bdevIoComplete } from "./io";

@unmanaged export class DeferQueue {
  head: usize;
  tail: usize;
  poller: usize;
  count: u32;
  work: usize;      // DeferWorkFn run on each io just before it completes, or 0
}

/** Work done at completion time, in a batch (malloc's copies): returns the io's status. */
export type DeferWorkFn = (io: usize) => i32;

// The key's memory (static, zero-initialised) holds the registration flag and the work function.
const KEY_FLAG_OFF: usize = 0;
const KEY_WORK_OFF: usize = 4;

function deferPoll(ctx: usize): i32 {
  const q = changetype<DeferQueue>(ctx);
  let io = q.head;
  if (io == 0) return POLLER_IDLE;
  // Take the whole list: completions that resubmit append to a fresh one, served next poll.
  q.head = 0;
  q.tail = 0;
  q.count = 0;
  if (q.work != 0) {
    // All the data movement first, back to back: the memory system overlaps the misses of one copy
    // with the next, which it cannot do when each copy sits between an io's other work.
    for (let w = io; w != 0; w = changetype<BdevIo>(w).next) {
      changetype<BdevIo>(w).aux = <u32>changetype<DeferWorkFn>(q.work)(w);
    }
  }
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    bdevIoComplete(io, <i32>changetype<BdevIo>(io).aux);
    io = next;
  }
  return POLLER_BUSY;
}

function deferCreate(key: usize, ctx: usize): i32 {
  const q = changetype<DeferQueue>(ctx);
  q.work = load<usize>(key + KEY_WORK_OFF);
  q.poller = pollerRegister(deferPoll, ctx, 0, "bdev_deferred_completions");
  return q.poller == 0 ? -ENOMEM : 0;
}

function deferDestroy(_key: usize, ctx: usize): void {
  const q = changetype<DeferQueue>(ctx);
  assert(q.head == 0, "deferred completions dropped with their channel");
  pollerUnregister(q.poller);
}

/**
 * Register the per-thread completion queue of a module under `key` (16 static zeroed bytes; idempotent).
 * `work`, if given, runs on each io in a batch right before the batch completes.
 */
export function deferRegister(key: usize, name: string, work: DeferWorkFn | null = null): i32 {
  // Exactly once, by a flag word in the key's memory; a registration that found no memory is tried again next time.
  if (atomic.cmpxchg<u32>(key + KEY_FLAG_OFF, 0, 1) != 0) return 0;
  store<usize>(key + KEY_WORK_OFF, work == null ? 0 : changetype<usize>(work));
  const rc = ioDeviceRegister(key, deferCreate, deferDestroy, <u32>offsetof<DeferQueue>(), name);
  if (rc != 0) atomic.store<u32>(key + KEY_FLAG_OFF, 0);
  return rc;
}

/** Queue `io` for completion with `status` on the next poll of this thread. */
export function deferComplete(bdevChannelModuleCh: usize, io: usize, status: i32): void {
  const q = changetype<DeferQueue>(ioChannelCtx(bdevChannelModuleCh));
  const b = changetype<BdevIo>(io);
  b.aux = <u32>status;
  b.next = 0;
  if (q.tail == 0) q.head = io; else changetype<BdevIo>(q.tail).next = io;
  q.tail = io;
  q.count++;
}

/** The module channel (a DeferQueue's io_channel) of the channel an io was submitted on. */
export function moduleChannelOf(io: usize): usize {
  return changetype<BdevChannel>(changetype<BdevIo>(io).channel).moduleChannel;
}
