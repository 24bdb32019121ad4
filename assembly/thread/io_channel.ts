// io_devices and their per-thread io_channels (SPDK's model): a device registers a constructor and
// destructor for a per-thread context; each thread that uses the device gets one channel, refcounted.
// A put that drops the last reference destroys the channel by message, so a get in the same call
// stack can still revive it. A device unregisters once its last channel is gone.

import {
  heapAllocZeroed, heapFree, contextThread, fatal, report, LEVEL_ERROR,
  EINVAL, EEXIST, ENOENT, EBUSY, ENOMEM,
} from "../runtime";
import { Thread, IoDevice, IoChannel, MsgFn, ChannelCreateFn, ChannelDestroyFn, IO_CHANNEL_HEADER_BYTES } from "./types";
import { registryLock, registryUnlock, registryFindDeviceLocked, registryAddDeviceLocked, registryRemoveDeviceLocked } from "./registry";
import { sendMsg, threadIsExited } from "./thread";

export function ioDeviceRegister(key: usize, create: ChannelCreateFn, destroy: ChannelDestroyFn, ctxBytes: u32, name: string): i32 {
  const dev = changetype<IoDevice>(heapAllocZeroed(offsetof<IoDevice>()));
  if (changetype<usize>(dev) == 0) return -ENOMEM;
  dev.key = key;
  dev.create = changetype<usize>(create);
  dev.destroy = changetype<usize>(destroy);
  dev.ctxBytes = ctxBytes;
  dev.name = changetype<usize>(name);
  registryLock();
  const existing = registryFindDeviceLocked(key);
  if (existing != 0) {
    registryUnlock();
    heapFree(changetype<usize>(dev));
    report(LEVEL_ERROR, -EEXIST, "io_device %s already registered (as %s)", changetype<usize>(name), changetype<IoDevice>(existing).name);
    return -EEXIST;
  }
  registryAddDeviceLocked(dev);
  registryUnlock();
  return 0;
}

/**
 * Unregister: cb(ctx) runs on the calling thread once every channel is gone. Refused while
 * for_each_channel calls are outstanding or another unregister is pending.
 */
export function ioDeviceUnregister(key: usize, cb: MsgFn, ctx: usize): i32 {
  const thread = contextThread();
  if (thread == 0) fatal(-EINVAL, "io_device_unregister called outside a lightweight thread");
  registryLock();
  const devPtr = registryFindDeviceLocked(key);
  if (devPtr == 0) {
    registryUnlock();
    report(LEVEL_ERROR, -ENOENT, "io_device %d not found", 0, 0, <f64>key);
    return -ENOENT;
  }
  const dev = changetype<IoDevice>(devPtr);
  if (dev.unregistering != 0) {
    registryUnlock();
    report(LEVEL_ERROR, -EBUSY, "io_device %s already has a pending unregister", dev.name);
    return -EBUSY;
  }
  if (dev.forEachCount != 0) {
    registryUnlock();
    report(LEVEL_ERROR, -EBUSY, "io_device %s has %d for_each calls outstanding", dev.name, 0, <f64>dev.forEachCount);
    return -EBUSY;
  }
  dev.unregistering = 1;
  dev.unregisterCb = changetype<usize>(cb);
  dev.unregisterCtx = ctx;
  dev.unregisterThread = thread;
  const done = dev.channelCount == 0;
  if (done) registryRemoveDeviceLocked(dev);
  // Until the callback comes back, the thread may not exit: it would come to an exited thread.
  else changetype<Thread>(thread).pendingUnregisters++;
  registryUnlock();
  if (done) finishUnregister(dev, false);
  return 0;
}

/** The device has no channel left: its callback on the thread that unregistered it, then it is freed. */
function finishUnregister(dev: IoDevice, deferred: bool): void {
  if (!deferred) {
    if (dev.unregisterCb != 0) sendMsg(dev.unregisterThread, changetype<MsgFn>(dev.unregisterCb), dev.unregisterCtx);
    heapFree(changetype<usize>(dev));
    return;
  }
  if (threadIsExited(dev.unregisterThread)) {
    // Only after its exit was forced (it waits for this otherwise): the callback has nowhere to run.
    report(LEVEL_ERROR, -EBUSY, "io_device %s: unregistered by a thread that has exited; its callback is dropped", dev.name);
    heapFree(changetype<usize>(dev));
    return;
  }
  sendMsg(dev.unregisterThread, unregisterDoneMsg, changetype<usize>(dev));
}

function unregisterDoneMsg(devPtr: usize): void {
  const dev = changetype<IoDevice>(devPtr);
  const t = changetype<Thread>(dev.unregisterThread);
  assert(t.pendingUnregisters > 0, "an io_device unregister completed twice");
  t.pendingUnregisters--;
  if (dev.unregisterCb != 0) changetype<MsgFn>(dev.unregisterCb)(dev.unregisterCtx);
  heapFree(devPtr);
}

function findChannel(t: Thread, dev: usize): usize {
  for (let ch = t.channels; ch != 0; ch = changetype<IoChannel>(ch).next) {
    if (changetype<IoChannel>(ch).device == dev) return ch;
  }
  return 0;
}

/** This thread's channel for the device (created on first use), or 0 (not registered, unregistering, no memory, create failed). */
export function getIoChannel(key: usize): usize {
  const thread = contextThread();
  if (thread == 0) fatal(-EINVAL, "get_io_channel called outside a lightweight thread");
  const t = changetype<Thread>(thread);
  registryLock();
  const devPtr = registryFindDeviceLocked(key);
  if (devPtr == 0 || changetype<IoDevice>(devPtr).unregistering != 0) {
    registryUnlock();
    report(LEVEL_ERROR, -ENOENT, "get_io_channel: io_device %d is not registered", 0, 0, <f64>key);
    return 0;
  }
  const dev = changetype<IoDevice>(devPtr);
  const existing = findChannel(t, devPtr);
  if (existing != 0) {
    changetype<IoChannel>(existing).refs++;
    registryUnlock();
    return existing;
  }
  dev.channelCount++;          // held across create so an unregister cannot free the device under us
  registryUnlock();
  const ch = changetype<IoChannel>(heapAllocZeroed(IO_CHANNEL_HEADER_BYTES + <usize>dev.ctxBytes));
  let rc = changetype<usize>(ch) == 0 ? -ENOMEM : 0;
  if (rc == 0) {
    ch.device = devPtr;
    ch.thread = thread;
    ch.refs = 1;
    rc = changetype<ChannelCreateFn>(dev.create)(key, changetype<usize>(ch) + IO_CHANNEL_HEADER_BYTES);
    if (rc != 0) heapFree(changetype<usize>(ch));
  }
  if (rc != 0) {
    report(LEVEL_ERROR, rc, "could not create io_channel for io_device %s on thread %s", dev.name, t.name);
    dropDeviceRef(dev);
    return 0;
  }
  ch.next = t.channels;
  t.channels = changetype<usize>(ch);
  return changetype<usize>(ch);
}

/** Drop one reference. The last one destroys the channel by message on its thread. */
export function putIoChannel(channel: usize): void {
  const ch = changetype<IoChannel>(channel);
  if (ch.thread != contextThread()) {
    fatal(-EINVAL, "put_io_channel for io_device %s called from wrong thread (it belongs to %s)",
      changetype<IoDevice>(ch.device).name, changetype<Thread>(ch.thread).name);
  }
  assert(ch.refs > 0, "put_io_channel: no reference held");
  ch.refs--;
  if (ch.refs == 0 && ch.destroyQueued == 0) {
    ch.destroyQueued = 1;
    sendMsg(ch.thread, destroyChannelMsg, channel);
  }
}

function destroyChannelMsg(channel: usize): void {
  const ch = changetype<IoChannel>(channel);
  ch.destroyQueued = 0;
  if (ch.refs != 0) return;            // re-acquired before the message ran
  const t = changetype<Thread>(ch.thread);
  let link = changetype<usize>(t) + offsetof<Thread>("channels");
  while (load<usize>(link) != channel) link = load<usize>(link) + offsetof<IoChannel>("next");
  store<usize>(link, ch.next);
  destroyChannel(ch);
}

function destroyChannel(ch: IoChannel): void {
  const dev = changetype<IoDevice>(ch.device);
  changetype<ChannelDestroyFn>(dev.destroy)(dev.key, changetype<usize>(ch) + IO_CHANNEL_HEADER_BYTES);
  heapFree(changetype<usize>(ch));
  dropDeviceRef(dev);
}

function dropDeviceRef(dev: IoDevice): void {
  registryLock();
  dev.channelCount--;
  const done = dev.channelCount == 0 && dev.unregistering != 0;
  if (done) registryRemoveDeviceLocked(dev);
  registryUnlock();
  if (done) finishUnregister(dev, true);
}

export function ioChannelCtx(channel: usize): usize { return channel + IO_CHANNEL_HEADER_BYTES; }
export function ioChannelThread(channel: usize): usize { return changetype<IoChannel>(channel).thread; }
export function ioChannelDevice(channel: usize): usize { return changetype<IoDevice>(changetype<IoChannel>(channel).device).key; }

/** The current thread's channel for `dev` if it has one (does not take a reference). */
export function threadChannelFor(thread: usize, key: usize): usize {
  for (let ch = changetype<Thread>(thread).channels; ch != 0; ch = changetype<IoChannel>(ch).next) {
    if (changetype<IoDevice>(changetype<IoChannel>(ch).device).key == key) return ch;
  }
  return 0;
}

/** Channels still referenced on a thread (a destroy message in flight counts until it runs). */
export function channelCount(t: Thread): u32 {
  let n: u32 = 0;
  for (let ch = t.channels; ch != 0; ch = changetype<IoChannel>(ch).next) n++;
  return n;
}

/** SPDK's leak report: "thread %s still has channel for io_device %s". */
export function reportLiveChannels(t: Thread, level: i32): void {
  for (let ch = t.channels; ch != 0; ch = changetype<IoChannel>(ch).next) {
    report(level, -EBUSY, "thread %s still has channel for io_device %s", t.name, changetype<IoDevice>(changetype<IoChannel>(ch).device).name);
  }
}

/** Forget what a destroyed thread still held (reported before): the channels stay allocated, leaked. */
export function detachAllChannels(t: Thread): void {
  for (let ch = t.channels; ch != 0; ch = changetype<IoChannel>(ch).next) changetype<IoChannel>(ch).thread = 0;
  t.channels = 0;
}
