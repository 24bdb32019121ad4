// Structures of the thread library, declared once. All live in the shared memory and are reached
// through pointers; fields written by other instances are accessed with atomics (marked below).

/** A message or completion: runs with its context pointer. */
export type MsgFn = (ctx: usize) => void;
/** A poller: returns POLLER_BUSY if it did work, POLLER_IDLE if not. */
export type PollerFn = (ctx: usize) => i32;
/** io_channel constructor/destructor: (io_device key, channel context buffer). */
export type ChannelCreateFn = (ioDevice: usize, ctxBuf: usize) => i32;
export type ChannelDestroyFn = (ioDevice: usize, ctxBuf: usize) => void;

export const POLLER_IDLE: i32 = 0;
export const POLLER_BUSY: i32 = 1;

export const THREAD_RUNNING: u32 = 0;
export const THREAD_EXITING: u32 = 1;
export const THREAD_EXITED: u32 = 2;

/** A thread's owner when it is polled by hand (the deterministic test harness), not by a reactor. */
export const NO_REACTOR: i32 = -1;

// Field groups sit on different cache lines (48 bytes + 64 bytes of padding apart): senders on other
// reactors read the first group on every send, while the owner writes the second on every poll.
@unmanaged export class Thread {
  // -- read by senders; written rarely --
  id: u32;
  state: u32;            // THREAD_*; written only by the thread itself, read by senders (atomic)
  owner: i32;            // reactor that polls it (atomic: senders read it to wake that reactor)
  name: usize;           // static string
  ring: usize;           // MPSC message ring
  forEachRefs: u32;      // for_each iterations that may still visit this thread (atomic, rare)
  nextGlobal: usize;     // registry list (by id), under the registry lock
  _pad0: u64; _pad1: u64; _pad2: u64; _pad3: u64; _pad4: u64; _pad5: u64; _pad6: u64; _pad7: u64;
  _pad8: u64;
  // -- owner-side: written on every poll --
  pollingBy: i32;        // atomic: arena id + 1 of the instance inside threadPoll, 0 if none
  activePollers: usize;  // period-0 pollers, registration order
  timedPollers: usize;   // timed pollers, sorted by nextRunUs
  channels: usize;       // io_channels held on this thread
  nextLocal: usize;      // owner reactor's list, touched only by that reactor
  moveTarget: i32;       // reactor to hand the thread to after this poll, or NO_REACTOR
  exitRequested: u32;    // the owner reactor already sent it an exit message (engine stop)
  exitTimeoutUs: u64;
  exitStartUs: u64;
  msgCount: u64;
  busyCount: u64;
  idleCount: u64;
  busyUs: u64;
  idleUs: u64;
  userCtx: usize;
  pendingUnregisters: u32; // io_devices this thread unregistered whose last channel is not gone yet (this thread only)
}

export const POLLER_RUNNING: u32 = 0;
export const POLLER_UNREGISTERED: u32 = 1;

@unmanaged export class Poller {
  fn: usize;
  ctx: usize;
  thread: usize;
  name: usize;
  state: u32;
  next: usize;
  periodUs: u64;
  nextRunUs: u64;
  runCount: u64;
  busyCount: u64;
}

@unmanaged export class IoDevice {
  key: usize;              // the io_device pointer the caller registered
  create: usize;           // ChannelCreateFn
  destroy: usize;          // ChannelDestroyFn
  ctxBytes: u32;
  name: usize;
  channelCount: u32;       // under the registry lock
  unregistering: u32;
  unregisterCb: usize;     // MsgFn, sent to unregisterThread when the last channel is gone
  unregisterCtx: usize;
  unregisterThread: usize;
  forEachCount: u32;       // outstanding for_each_channel calls, under the registry lock
  next: usize;
}

@unmanaged export class IoChannel {
  device: usize;           // IoDevice
  thread: usize;
  refs: u32;
  destroyQueued: u32;
  next: usize;             // thread's channel list
  _pad: usize;             // context buffer starts 16-byte aligned at IO_CHANNEL_HEADER_BYTES
}

export const IO_CHANNEL_HEADER_BYTES: usize = 32;
