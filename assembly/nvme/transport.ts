// The seam between the NVMe-oF target core (controllers, subsystems: assembly/nvme/target) and a
// transport (NVMe/TCP now; a PCIe front end and the fuzzer later). A transport owns connections,
// wire formats and data buffers; the core owns what commands mean. SPDK's spdk_nvmf_request and
// spdk_nvmf_qpair, reduced to what crosses the seam.
//
// The contract, in one place:
// - A transport makes one NvmfQpair per queue (connection) and calls nvmfQpairInit on the thread
//   that will own it; every later call for that qpair (exec, close) is made on that thread, and the
//   core calls ops.complete / ops.disconnect for it only on that thread.
// - For each command the transport fills an NvmfReq: the SQE, and for a command that moves data,
//   buffers in Wasm memory of `length` bytes (XFER_HOST_TO_CTRLR: already holding all the host's
//   data, fetched by the transport before exec; XFER_CTRLR_TO_HOST: for the core to fill). It checks
//   the SQE's data pointer against its own limits first (a bad SGL completes with an error status
//   without reaching the core: nvmfReqCompleteError). Then it calls nvmfReqExec.
// - The core completes every request it was given exactly once through ops.complete, possibly
//   before nvmfReqExec returns, with the CQE filled in (every field; a transport adds only what its
//   wire has beyond it, such as PCIe's phase bit). For XFER_CTRLR_TO_HOST the first `length` bytes
//   of the buffers are the data to send (the core may lower `length`, never raise it). After
//   ops.complete the request belongs to the transport again.
// - The core may ask a transport to drop a connection (ops.disconnect: keep-alive expired, the
//   subsystem went away, a fatal controller state). The transport closes it and calls nvmfQpairClose.
//   The core calls ops.disconnect at most once per qpair, however many reasons follow (a reset, then
//   the admin queue's end), and never once nvmfQpairClose was called for it.
// - When a connection ends for any reason the transport calls nvmfQpairClose(qpair, done, ctx) once.
//   Requests the core still holds complete later through ops.complete as usual (the transport
//   discards what it can no longer send). `done(ctx)` runs on the qpair's thread once the core holds
//   no request of it and has detached it from its controller; only then may the transport free it.

/** NVMe-oF transport types (the discovery log's TRTYPE). */
export const TRTYPE_RDMA: u8 = 1;
export const TRTYPE_FC: u8 = 2;
export const TRTYPE_TCP: u8 = 3;
/** Address families (ADRFAM). */
export const ADRFAM_IPV4: u8 = 1;
export const ADRFAM_IPV6: u8 = 2;

/** What a transport offers, fixed when it is created (nvmf_create_transport); read by the core for Identify and Connect. */
@unmanaged export class NvmfTransportLimits {
  trtype: u32;              // TRTYPE_*
  maxQueueDepth: u32;       // entries per queue (Connect's SQSIZE + 1 may not exceed it; CAP.MQES + 1)
  maxIoQpairsPerCtrlr: u32; // I/O queues one controller may have (Set Features: Number of Queues)
  inCapsuleDataSize: u32;   // bytes of data a command capsule may carry (Identify: IOCCSZ)
  maxIoSize: u32;           // bytes one command may move (Identify: MDTS)
  ioUnitSize: u32;          // the transport's buffer unit
  maxAqDepth: u32;          // entries of the admin queue
  abortTimeoutSec: u32;
}

/** How the core reaches a transport: function table indices, the same for every qpair of one transport. */
@unmanaged export class NvmfTransportOps {
  complete: usize;    // (req: usize) => void
  disconnect: usize;  // (qpair: usize) => void
  limits: usize;      // NvmfTransportLimits
}
export type ReqCompleteFn = (req: usize) => void;
export type QpairDisconnectFn = (qpair: usize) => void;

export const QPAIR_NEW: u32 = 0;          // no Connect yet: only a Fabrics Connect is accepted
export const QPAIR_CONNECTED: u32 = 1;
export const QPAIR_CLOSING: u32 = 2;      // nvmfQpairClose was called

/** One queue of one connection. Fields marked "core" are written only by the core after nvmfQpairInit. */
@unmanaged export class NvmfQpair {
  ops: usize;             // NvmfTransportOps
  transportCtx: usize;    // the transport's own connection object
  thread: usize;          // the lightweight thread that owns this qpair
  listener: u32;          // the listener id it came through (the core checks the subsystem allows it)
  state: u32;             // core: QPAIR_*
  ctrlr: usize;           // core: the controller after Connect, 0 before
  qid: u32;               // core: 0 admin, 1.. I/O (from Connect)
  sqsize: u32;            // core: entries (Connect's SQSIZE + 1)
  sqhd: u32;              // core: commands taken, modulo sqsize (CQE.SQHD)
  outstanding: u32;       // core: requests between nvmfReqExec and ops.complete
  closeDone: usize;       // core: nvmfQpairClose's callback and its argument
  closeCtx: usize;
  peerAddr: usize;        // transport: NUL-terminated ASCII host address of the peer ("10.0.2.15"), for get_qpairs
  peerPort: u32;          // transport
  coreLink: usize;        // core: list link inside its controller
  disconnectAsked: u32;   // core: ops.disconnect was called for it (once per qpair)
}

/** One command. The transport allocates these (one per queue entry) and owns them except between exec and complete. */
@unmanaged export class NvmfReq {
  qpair: usize;           // NvmfQpair
  sqe: usize;             // 64 bytes (spec.ts), valid until complete
  cqe: usize;             // 16 bytes the core fills
  iovs: usize;            // {u32 base, u32 len} pairs (bdev/iov.ts) over at least `length` bytes of Wasm memory
  iovcnt: u32;
  length: u32;            // data bytes: the SGL's length as the transport accepted it; 0 when none
  xfer: u32;              // spec.ts XFER_*
  transportCtx: usize;    // the transport's own request object
  coreState: usize;       // core: scratch between exec and complete (e.g. the bdev I/O in flight)
  coreAux: u64;           // core: scratch
}
