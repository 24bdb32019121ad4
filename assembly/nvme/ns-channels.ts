// A namespace's per-thread state: each thread that runs I/O of a namespace holds one NsChannel (an
// io_channel of the namespace's io_device) with its bdev channel and its count of I/O in flight, and
// the close's drain, which waits on every such thread for that count to reach zero, there, and then
// releases the channel on its own thread. Nothing here blocks: every wait is a count and a message.

import { rawLock, rawUnlock, contextThread, report, LEVEL_ERROR, ENODEV, ENOMEM } from "../runtime";
import {
  getIoChannel, putIoChannel, ioChannelCtx, threadChannelFor, ioDeviceRegister, ioDeviceUnregister,
} from "../thread";
import { NvmfNs, nsCloseFinish } from "./ns";
import { nvmfSend } from "./send";

/**
 * One thread's view of one namespace. Every field but `next` is touched only on `thread`; `next` is
 * under the namespace's lock (the list the close walks).
 */
@unmanaged export class NsChannel {
  ns: usize;             // NvmfNs
  thread: usize;
  ioChannel: usize;      // this channel's own io_channel (the reference the thread holds until the drain)
  bdevChannel: usize;    // io_channel of the bdev on this thread
  inflight: u32;         // requests of this namespace between exec and complete on this thread
  draining: u32;         // 1 once the close asked: the last completion releases the channel
  // Requests waiting for a bdev_io (submit said -ENOMEM), oldest first, linked through io-req.ts; the
  // entry below is queued on the bdev channel while the list is not empty (io.ts).
  waitHead: usize;
  waitTail: usize;
  waitQueued: u32;
  waitEntry0: usize;     // a BdevIoWait (4 words) the bdev layer links while we wait
  waitEntry1: usize;
  waitEntry2: usize;
  waitEntry3: usize;
  next: usize;           // NvmfNs.channels, under NvmfNs.lock
  drainNext: usize;      // the close's chain of channels to drain, made under the lock, sent after it (nsChannelsDrain)
}

/** The bdev layer's wait entry inside a channel. */
export function nsChannelWaitEntry(ch: NsChannel): usize { return changetype<usize>(ch) + offsetof<NsChannel>("waitEntry0"); }

function nsLock(ns: NvmfNs): usize { return changetype<usize>(ns) + offsetof<NvmfNs>("lock"); }

/** io_channel constructor: refused once the namespace is closing (the close's list is then final). */
function channelCreate(key: usize, ctxBuf: usize): i32 {
  const ns = changetype<NvmfNs>(key);
  const ch = changetype<NsChannel>(ctxBuf);
  memory.fill(ctxBuf, 0, offsetof<NsChannel>());
  ch.ns = key;
  ch.thread = contextThread();
  ch.bdevChannel = getIoChannel(ns.bdev);
  if (ch.bdevChannel == 0) return -ENOMEM;
  rawLock(nsLock(ns));
  const closing = ns.closing != 0;
  if (!closing) { ch.next = ns.channels; ns.channels = ctxBuf; }
  rawUnlock(nsLock(ns));
  if (closing) { putIoChannel(ch.bdevChannel); return -ENODEV; }
  return 0;
}

/** io_channel destructor, on the channel's thread after the drain let go of it. */
function channelDestroy(key: usize, ctxBuf: usize): void {
  const ns = changetype<NvmfNs>(key);
  const ch = changetype<NsChannel>(ctxBuf);
  assert(ch.inflight == 0 && ch.waitHead == 0, "nvmf ns channel released with I/O in flight");
  rawLock(nsLock(ns));
  let link = changetype<usize>(ns) + offsetof<NvmfNs>("channels");
  while (load<usize>(link) != ctxBuf) {
    assert(load<usize>(link) != 0, "nvmf ns channel not in its namespace's list");
    link = load<usize>(link) + offsetof<NsChannel>("next");
  }
  store<usize>(link, ch.next);
  rawUnlock(nsLock(ns));
  putIoChannel(ch.bdevChannel);
}

/** Make the namespace an io_device (at open). 0 or -errno. */
export function nsChannelsRegister(ns: NvmfNs): i32 {
  return ioDeviceRegister(changetype<usize>(ns), channelCreate, channelDestroy, <u32>offsetof<NsChannel>(), "nvmf_ns");
}

/**
 * This thread's channel for `ns`, made on first use (the thread keeps the reference until the drain).
 * 0 when the namespace is closing or there is no memory for it (reported by the thread library).
 */
export function nsChannelGet(ns: NvmfNs): NsChannel {
  const thread = contextThread();
  const existing = threadChannelFor(thread, changetype<usize>(ns));
  if (existing != 0) return changetype<NsChannel>(ioChannelCtx(existing));
  if (atomic.load<u32>(changetype<usize>(ns) + offsetof<NvmfNs>("closing")) != 0) return changetype<NsChannel>(0);
  const io = getIoChannel(changetype<usize>(ns));
  if (io == 0) return changetype<NsChannel>(0);
  const ch = changetype<NsChannel>(ioChannelCtx(io));
  ch.ioChannel = io;
  return ch;
}

/** A request of this namespace starts on this thread. */
export function nsIoBegin(ch: NsChannel): void {
  assert(ch.thread == contextThread(), "nvmf ns: I/O begun off its channel's thread");
  ch.inflight++;
}

/** A request of this namespace ended on this thread (after its completion went out). */
export function nsIoEnd(ch: NsChannel): void {
  assert(ch.inflight > 0, "nvmf ns: more I/O ended than began");
  ch.inflight--;
  if (ch.inflight == 0 && ch.draining != 0) release(ch);
}

// ---- the close's drain ----

/**
 * On the app thread: the namespace is closing; ask every channel's thread to let go once its I/O is
 * done. The list is copied into a chain under the lock and messaged after it: a drained channel
 * leaves the list on its own thread (channelDestroy) while the others are still being sent to.
 */
export function nsChannelsDrain(ns: NvmfNs): void {
  rawLock(nsLock(ns));
  assert(ns.closing != 0, "nsChannelsDrain: the namespace is not closing");
  let count: u32 = 0;
  let first: usize = 0;
  for (let c = ns.channels; c != 0; c = changetype<NsChannel>(c).next) {
    changetype<NsChannel>(c).drainNext = first;
    first = c;
    count++;
  }
  // One more than the channels: the last message cannot finish the drain before every one is sent.
  atomic.store<u32>(changetype<usize>(ns) + offsetof<NvmfNs>("drainPending"), count + 1);
  rawUnlock(nsLock(ns));
  let c = first;
  for (let n: u32 = 0; n < count; n++) {
    // Read before the send: once drained, the channel may be released and its memory reused.
    const next = changetype<NsChannel>(c).drainNext;
    nvmfSend(changetype<NsChannel>(c).thread, drainMsg, c);
    c = next;
  }
  assert(c == 0, "nsChannelsDrain: the chain is longer than its count");
  drained(ns);
}

function drainMsg(chPtr: usize): void {
  const ch = changetype<NsChannel>(chPtr);
  assert(ch.draining == 0, "nvmf ns channel drained twice");
  ch.draining = 1;
  if (ch.inflight == 0) release(ch);
}

/** On the channel's thread, nothing in flight: give the reference back; the destructor runs by message. */
function release(ch: NsChannel): void {
  const ns = changetype<NvmfNs>(ch.ns);
  putIoChannel(ch.ioChannel);
  drained(ns);
}

function drained(ns: NvmfNs): void {
  if (atomic.sub<u32>(changetype<usize>(ns) + offsetof<NvmfNs>("drainPending"), 1) == 1) {
    nvmfSend(ns.thread, drainDoneMsg, changetype<usize>(ns));
  }
}

/** On the app thread: no channel holds I/O; the io_device goes once the last destructor ran. */
function drainDoneMsg(nsPtr: usize): void {
  const rc = ioDeviceUnregister(nsPtr, nsCloseFinish, nsPtr);
  if (rc != 0) {
    report(LEVEL_ERROR, rc, "nvmf ns %d: its io_device would not unregister; the namespace is not freed", 0, 0, <f64>changetype<NvmfNs>(nsPtr).nsid);
  }
}
