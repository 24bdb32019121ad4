// The nvme bdev module's structures (SPDK's bdev_nvme): a controller attached by name, owned by the
// app thread with its admin qpair; a bdev per active namespace; each thread's channel, which owns that
// thread's I/O qpair. Every bound the module keeps is here.

/** Requests a channel keeps for its I/O (grown on demand up to this, kept until the channel goes). */
export const NVME_CHANNEL_REQS_MAX: u32 = 4096;
/** Blocks one Write Zeroes may cover (NLB is 16 bits, 0's based); a larger one goes as several. */
export const NVME_WRITE_ZEROES_BLOCKS_MAX: u64 = 65536;
/** Blocks one Dataset Management range may cover (32-bit NLB). */
export const NVME_DSM_RANGE_BLOCKS_MAX: u64 = 0xffffffff;
/** I/O queue entries asked for (SPDK's io_queue_size default is 1024; a controller's CAP.MQES may cut it). */
export const NVME_IO_QUEUE_ENTRIES: u32 = 128;
/** Keep-alive timeout asked of the controller (SPDK's keep_alive_timeout_ms default). */
export const NVME_KATO_MS: u32 = 10000;
/** Namespaces one controller gives bdevs to (the host layer's HOST_NS_MAX). */
export const NVME_NS_MAX: u32 = 64;

// controller states (app thread)
export const NC_ATTACHING: u32 = 0;
export const NC_READY: u32 = 1;
export const NC_FAILED: u32 = 2;     // the admin qpair is gone: I/O fails with a clear status
export const NC_DETACHING: u32 = 3;
export const NC_RESETTING: u32 = 4;  // qpairs dropped, the admin qpair being made again: I/O held (or failed once fast_io_fail passed)

// channel states (its thread)
export const CH_CONNECTING: u32 = 0;
export const CH_READY: u32 = 1;
export const CH_FAILED: u32 = 2;
export const CH_RESETTING: u32 = 3;  // no qpair while the controller resets: I/O waits

@unmanaged export class NvmeBdevCtrlr {
  key: usize;             // io_device key (this struct's address): channels are per thread
  thread: usize;          // the app thread: attach, keep-alive, detach
  state: u32;             // atomic: channels read it to refuse I/O of a controller gone for good
  host: usize;            // HostCtrlr (assembly/nvme/host)
  opts: usize;            // HostQpairOpts of the admin qpair; I/O qpairs copy it (in this block)
  addrText: usize;        // the strings the qpairs use (copies, in this block)
  subnqn: usize;
  hostnqn: usize;
  hostId: usize;
  nextQid: u32;           // atomic: each channel's qpair takes the next queue id
  qidMax: u32;
  ioEntries: u32;
  cntlid: u32;
  inCapsuleBytes: u32;
  maxTransferBytes: u32;
  nsCount: u32;
  bdevs: usize;           // NVME_NS_MAX bdev pointers (0: not registered or gone)
  bdevsLive: u32;
  deviceRegistered: u32;
  keepAlive: usize;       // poller on the app thread
  kaReq: usize;           // HostReq for Keep Alive (one in flight at most)
  kaBusy: u32;
  kaPeriodUs: u64;
  reqId: u32;             // the host request attach or detach ends
  failRes: i32;
  channels: u32;          // atomic: channels alive
  // the reconnect policy (SPDK's ctrlr_loss_timeout_sec, reconnect_delay_sec, fast_io_fail_timeout_sec)
  lossTimeoutSec: i32;    // -1: retry forever; 0: never reconnect (a lost controller fails its I/O)
  reconnectDelayUs: u64;
  fastIoFailUs: u64;      // 0: held I/O waits as long as the reconnect tries
  lossStartUs: u64;       // when the reset began
  retryAtUs: u64;         // the next connect attempt (0: none due)
  fastFailed: u32;        // atomic: held and new I/O fail while the reset goes on
  resetPoller: usize;     // app thread: retries and the fast-fail deadline
  resetReq: u32;          // the host request a bdev_nvme_reset_controller ends (0: none)
  detachReq: u32;         // a detach that came during a reset, started when it ends
  resets: u32;            // resets done (a test's count)
  attempts: u32;          // connect attempts of the current reset
  resetAgain: u32;        // an I/O qpair failed during the reset: another one follows it
  id: u32;                // what other threads name it by (nvmeAdminSubmit): looked up on the app thread only
  nextInList: usize;      // the app thread's list of controllers
}

/**
 * An admin command from any thread (caller-owned, NVME_ADMIN_REQ_BYTES; the SQE of its HostReq is the
 * caller's to fill): posted to the controllers' owner, called back on the submitting thread, once.
 */
@unmanaged export class NvmeAdminReq {
  ctrlrId: u32;
  origin: usize;          // the submitting thread
  cb: usize;              // (req: usize) => void, on origin
  ctx: usize;
  status: u32;            // spec.ts status, or NVME_ADMIN_NO_CTRLR / NVME_ADMIN_NOT_READY
  dw0: u32;
}

/** A namespace's bdev context. */
@unmanaged export class NvmeNsBdev {
  ctrlr: usize;
  nsid: u32;
  blockBytes: u32;
  blockCount: u64;
}

/** One thread's channel of a controller: its own I/O qpair and the requests it lends its I/O. */
@unmanaged export class NvmeChannel {
  ctrlr: usize;
  thread: usize;
  qpair: usize;           // HostQpair, owned by this thread; 0 once it went
  link: usize;            // NvmeQpairLink: what outlives the channel while the qpair closes
  state: u32;
  waitHead: usize;        // BdevIo list (next): I/O waiting for the qpair to connect, or for a request
  waitTail: usize;
  waiting: u32;
  freeReqs: usize;        // NvmeReq list
  reqs: u32;              // NvmeReqs made
  failed: u32;            // I/O failed because the qpair is gone (for the report, once)
}

/** The qpair's event context: lives until QEV_CLOSED, on the qpair's thread, even after its channel went. */
@unmanaged export class NvmeQpairLink {
  channel: usize;         // 0 once the channel was destroyed
  qpair: usize;
}

/** A bdev I/O's command: the host request (HOST_REQ_BYTES) follows these fields, then a DSM range. */
@unmanaged export class NvmeReq {
  io: usize;              // BdevIo
  channel: usize;
  doneBlocks: u64;        // of the I/O, already done by earlier commands (an I/O split by MDTS or NLB)
  chunkBlocks: u64;       // this command's
  next: usize;
}
