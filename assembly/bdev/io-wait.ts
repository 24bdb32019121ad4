// Callers waiting for a bdev_io (SPDK's spdk_bdev_queue_io_wait): after -ENOMEM from a submit, a
// caller links an entry of its own memory into its channel's line and is called back, oldest first,
// each time an io is freed there, to submit again. Hot remove and channel release wake every caller
// still waiting: its submit then fails (-ENODEV) and it completes its request with that error.
// Bound: no memory is taken and nothing is refused; each entry is embedded in one caller request and
// is in the line at most once (asserted), so the line never holds more than the requests that exist.
// The line itself (WaitLine) also serves the callers waiting for a scratch buffer (scratch.ts).

import { MsgFn } from "../thread";
import { BdevChannel, BdevIoWait } from "./types";

/** A FIFO of BdevIoWait entries (linked through next), as laid out in the structs that hold one. */
@unmanaged export class WaitLine {
  head: usize;
  tail: usize;
  count: u32;
}

/** Link `entry` (the caller's memory) at the end of the line; false if that is the line's first. */
export function waitLineAdd(line: WaitLine, entry: usize, bdev: usize, cb: usize, arg: usize): bool {
  assert(entry != line.tail && entry != line.head, "bdev wait line: an entry already waiting queued again");
  const w = changetype<BdevIoWait>(entry);
  w.bdev = bdev;
  w.cb = cb;
  w.arg = arg;
  w.next = 0;
  if (line.tail == 0) line.head = entry; else changetype<BdevIoWait>(line.tail).next = entry;
  line.tail = entry;
  return line.count++ != 0;
}

/** The oldest entry, out of the line (which must not be empty). */
export function waitLineTake(line: WaitLine): BdevIoWait {
  const w = changetype<BdevIoWait>(line.head);
  assert(changetype<usize>(w) != 0 && line.count > 0, "bdev wait line: taken from an empty line");
  line.head = w.next;
  if (line.head == 0) line.tail = 0;
  w.next = 0;
  line.count--;
  return w;
}

/** Empty the line and return its first entry: the caller walks them (next), the line is free for new ones. */
export function waitLineDetach(line: WaitLine): usize {
  const e = line.head;
  line.head = 0;
  line.tail = 0;
  line.count = 0;
  return e;
}

function ioWaitLine(ch: BdevChannel): WaitLine { return changetype<WaitLine>(changetype<usize>(ch) + offsetof<BdevChannel>("waitHead")); }

/** Queue `entry` on `ch` (the pool is empty): cb(arg) once an io is freed, or the channel or bdev goes. */
export function ioWaitAdd(ch: BdevChannel, entry: usize, cb: MsgFn, arg: usize): void {
  waitLineAdd(ioWaitLine(ch), entry, ch.bdev, changetype<usize>(cb), arg);
}

/** An io was just freed on `ch`: the oldest caller waiting submits again. */
export function ioWaitWakeOne(ch: BdevChannel): void {
  const w = waitLineTake(ioWaitLine(ch));
  changetype<MsgFn>(w.cb)(w.arg);
}

/**
 * Hot remove, release: every caller waiting now is called back; the bdev (removing) or the channel
 * (closing) refuses its submit, so it fails instead of waiting for an io that may never be freed. The
 * line is detached first: a caller that queues again from its callback is not woken in a loop.
 */
export function ioWaitWakeAll(ch: BdevChannel): void {
  let e = waitLineDetach(ioWaitLine(ch));
  while (e != 0) {
    const w = changetype<BdevIoWait>(e);
    e = w.next;
    w.next = 0;
    changetype<MsgFn>(w.cb)(w.arg);
  }
}
