// The bdev layer's structures (SPDK's spdk_bdev, spdk_bdev_desc, spdk_bdev_io, bdev channel), declared
// once. A module (malloc, null, file, error, delay, crash) fills a BdevModule table of functions.

export const IO_READ: u32 = 0;
export const IO_WRITE: u32 = 1;
export const IO_FLUSH: u32 = 2;
export const IO_UNMAP: u32 = 3;
export const IO_WRITE_ZEROES: u32 = 4;
export const IO_RESET: u32 = 5;
export const IO_TYPE_COUNT: u32 = 6;

/** Completion status of a bdev_io (SPDK: SPDK_BDEV_IO_STATUS_*). */
export const IO_SUCCESS: i32 = 1;
export const IO_PENDING: i32 = 0;
export const IO_FAILED: i32 = -1;
export const IO_NOMEM: i32 = -4;
export const IO_ABORTED: i32 = -7;

/** bdev_io completion: (io, success, arg). The callback must free the io with bdevFreeIo. */
export type BdevIoCb = (io: usize, success: bool, arg: usize) => void;
/** Event sent to a descriptor's owner: (event, bdev, ctx). */
export type BdevEventCb = (event: u32, bdev: usize, ctx: usize) => void;
export const BDEV_EVENT_REMOVE: u32 = 0;
export const BDEV_EVENT_RESIZE: u32 = 1;

/** The functions a module provides. */
@unmanaged export class BdevModule {
  name: usize;             // static string, e.g. "malloc"
  submit: usize;           // (io) => void: must complete the io later, on the submitting thread
  channelKey: usize;       // (bdev) => usize: io_device of the module's per-thread context (0 = none)
  destruct: usize;         // (bdev) => void: free module state; the bdev memory is freed by the layer
  abortQueued: usize;      // (moduleChannel, bdev) => void: complete queued (not in flight) I/Os with ABORTED; 0 if none
}

export type SubmitFn = (io: usize) => void;
export type ChannelKeyFn = (bdev: usize) => usize;
export type DestructFn = (bdev: usize) => void;
export type AbortQueuedFn = (moduleChannel: usize, bdev: usize) => void;

export const BDEV_ACTIVE: u32 = 0;
export const BDEV_REMOVING: u32 = 1;

@unmanaged export class Bdev {
  id: u32;
  state: u32;              // BDEV_ACTIVE / BDEV_REMOVING (atomic)
  name: usize;             // string in the shared heap (host-provided)
  module: usize;           // BdevModule
  ctx: usize;              // module state
  blockSize: u32;
  blockShift: u32;
  blockCount: u64;
  optimalIoBoundary: u32;  // blocks; 0 = none
  writeCache: u32;         // 1: has a volatile write cache, FLUSH is meaningful
  ioTypes: u32;            // bit per IO_* type the module supports
  requiredAlign: u32;      // buffer alignment the module needs (bytes, power of two; 1 = any)
  lendMax: u32;            // lend.ts: bytes of a read the module can lend its own buffer for (0: none)
  descs: usize;            // open descriptors (BdevDesc.next), under the bdev lock
  openCount: u32;
  claimed: usize;          // descriptor holding the exclusive write claim, 0 if none
  lock: i32;               // raw lock over descs/claim/channels list/retired stats
  channels: usize;         // live BdevChannels (BdevChannel.nextInBdev) for statistics
  retired: usize;          // statistics of channels already destroyed (retired.ts)
  retiredDense: u32;       // retired.ts: 1 once `retired` holds the whole histogram, 0 while it holds a few buckets
  unregisterCb: usize;     // MsgFn run on unregisterThread when the bdev is gone
  unregisterCtx: usize;
  unregisterThread: usize;
  next: usize;             // global bdev list
  poolSize: u32;           // bdev_ios per channel
  removeWalk: u32;         // 1 while hot remove aborts module queues on every channel
  hashNext: usize;         // registry.ts: next bdev in its id bucket
  unmapZeroes: u32;        // 1: an unmapped block reads as zeroes (NVMe DLFEAT); 0: not known
  takesExternal: u32;      // 1: the module moves data of external vectors itself (extiov.ts); 0: the layer bounces them
}

@unmanaged export class BdevDesc {
  handle: u32;             // what users hold (registry.ts): checked on every call
  bdev: usize;
  thread: usize;           // opened on; events are delivered there
  write: u32;
  eventCb: usize;          // BdevEventCb
  eventCtx: usize;
  removeNotified: u32;
  next: usize;
}

// Per-channel statistics block, summed over channels when read (explicit offsets: @unmanaged classes
// cannot hold fixed arrays). All u64.
export const STATS_OPS_OFF: usize = 0;                      // completed ops per IO type
export const STATS_BYTES_OFF: usize = 8 * 6;                // bytes per IO type
export const STATS_ERRORS_OFF: usize = 8 * 12;              // failed ops per IO type
export const STATS_LAT_SUM_OFF: usize = 8 * 18;             // ns, all types
export const STATS_LAT_MIN_OFF: usize = 8 * 19;
export const STATS_LAT_MAX_OFF: usize = 8 * 20;
export const STATS_HIST_OFF: usize = 8 * 22;                // runtime/histogram.ts buckets

@unmanaged export class BdevChannel {
  bdev: usize;
  moduleChannel: usize;    // the module's io_channel (0 if the module has none)
  thread: usize;
  pool: usize;             // bdev_io array
  freeList: usize;         // free BdevIo (BdevIo.next)
  freeCount: u32;
  outstanding: u32;        // submitted, not yet freed... counted until completion
  waitHead: usize;         // queue_io_wait entries (BdevIoWait.next): io-wait.ts's WaitLine, field for field
  waitTail: usize;
  waitCount: u32;
  stats: usize;            // statistics block (STATS_*)
  nextInBdev: usize;
  inSubmit: u32;           // > 0 while a module's submit runs on this channel
  // bounce-wait.ts: ios whose bounce copy found no memory, oldest first (BdevIo.next); each is a pool
  // io, so there are at most poolSize. The poller (only on bdevs with requiredAlign > 1) retries them.
  bounceWaitHead: usize;
  bounceWaitTail: usize;
  bounceWaitCount: u32;
  bounceRetrying: u32;     // 1 while bounceWaitRetry runs: a completion inside it must not start another
  bouncePoller: usize;
  scratch: usize;          // scratch.ts: the channel's scratch buffers and the callers waiting for one
  closing: u32;            // 1 once the channel is being released: callers woken then are refused (-ENODEV)
}

@unmanaged export class BdevIoWait {
  bdev: usize;
  cb: usize;               // MsgFn(arg)
  arg: usize;
  next: usize;
}

export const IO_MAX_IOVS: u32 = 16;

@unmanaged export class BdevIo {
  bdev: usize;
  desc: usize;
  channel: usize;          // BdevChannel
  type: u32;
  status: i32;
  bounceBlock: usize;      // bounce.ts: heap block of the aligned copy, 0 when not bounced (always, when free)
  offsetBlocks: u64;
  numBlocks: u64;
  iovs: usize;             // {u32 base, u32 len} pairs
  iovcnt: u32;
  cb: usize;               // BdevIoCb
  cbArg: usize;
  startNs: u64;
  next: usize;             // module queues / free list
  lentBlock: usize;        // lend.ts: heap block the layer gave a read without a buffer, freed with the io (beside `next`: bdevFreeIo reads both)
  moduleData: usize;       // scratch owned by the module while the io is submitted
  deadlineUs: u64;         // delay module
  // Single-buffer I/O points iovs at this inline pair.
  inlineBase: u32;
  inlineLen: u32;
  parent: usize;           // passthrough modules: the io this one serves
  aux: u32;                // module scratch
  // bounce.ts, while bounceBlock != 0: the module sees the aligned copy as the single pair
  // {bounceBase, bounceLen}; the caller's pairs come back into iovs/iovcnt at completion.
  bounceBase: u32;
  bounceLen: u32;
  callerIovs: usize;
  callerIovcnt: u32;
  external: u32;           // 1: iovs are external entries (extiov.ts: outside this memory), 0: {u32 base, u32 len} pairs
  callerExternal: u32;     // bounce.ts: the caller's vector was external (iovs is the Wasm copy meanwhile)
}
