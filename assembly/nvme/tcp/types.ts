// The NVMe/TCP transport's structures, declared once: the transport, its poll groups, connections,
// requests, and the wire a connection talks through. Every bound the transport keeps is here.

/** Receive buffer of one connection: headers are parsed in it and data copied out of it. */
export const RECV_BUFFER_BYTES: u32 = 16384;
/** iovecs one sendv may carry: several queued PDUs go out in one system call. */
export const SEND_IOV_MAX: u32 = 64;
/** Bytes one C2HData PDU carries at most: a longer read goes out as several. */
export const C2H_DATA_MAX: u32 = 131072;
/** MAXH2CDATA announced in ICResp (SPDK's NVMF_TCP_PDU_MAX_H2C_DATA_SIZE). */
export const H2C_DATA_MAX: u32 = 131072;
/** How long a connection that sent a TermReq waits for it to leave before it closes anyway. */
export const TERM_LINGER_US: u64 = 200000;
/** Connections one transport serves at once; more are closed at accept, with a report. */
export const CONNS_MAX: u32 = 1024;

/**
 * How a connection reaches its socket: function table indices, set per connection. Each op's
 * result comes back through conn.ts (connRecvDone, connSendDone, connWireQuiet, connWireClosed) on
 * the connection's thread, never inside the call. At most one recv and one sendv are in flight.
 * sock-wire.ts drives a real socket on the reactor's io_uring; tests drive a wire by hand.
 */
@unmanaged export class TcpWire {
  recv: usize;      // (conn, buf, len): connRecvDone(conn, bytes | 0 peer closed | -errno)
  sendv: usize;     // (conn, iovs, iovcnt): connSendDone(conn, bytes (maybe short) | -errno)
  shutdown: usize;  // (conn): every op in flight ends (its done runs), then connWireQuiet(conn)
  close: usize;     // (conn): the socket is closed, then connWireClosed(conn)
  groupStart: usize; // (group) => 0 | -errno: on the group's thread, before any connection (its socket channel)
  groupStop: usize;  // (group): on the group's thread, after its last connection
}
export type WireRecvFn = (conn: usize, buf: usize, len: u32) => void;
export type WireSendvFn = (conn: usize, iovs: usize, iovcnt: u32) => void;
export type WireConnFn = (conn: usize) => void;

/** The transport, made by nvmf_tcp_create; read-only after creation except the counters. */
@unmanaged export class TcpTransport {
  limits: usize;            // NvmfTransportLimits (the core reads it)
  ops: usize;               // NvmfTransportOps shared by every qpair of this transport
  c2hSuccess: u32;          // send C2HData with SUCCESS instead of a CapsuleResp for a read that succeeded
  sockPriority: u32;        // kept for nvmf_get_transports (the socket's priority is not set yet)
  numSharedBuffers: u32;    // data buffers (ioUnitSize each) of each poll group
  bufCacheSize: u32;        // kept for nvmf_get_transports (a group's pool is its own: no cache needed)
  unitsPerConnMax: u32;     // data buffers one connection may hold (a slow host holds only these)
  groups: usize;            // TcpGroup pointers, one per reactor
  groupCount: u32;
  groupsReady: u32;         // atomic: groups that finished their set-up (create) or teardown (destroy)
  nextGroup: u32;           // round-robin cursor of the accept loop (listener thread only)
  conns: u32;               // atomic: connections alive over every group
  listeners: usize;         // TcpListener list (app thread only)
  createReq: u32;           // the host request of create/destroy in progress
  createRc: i32;            // atomic: the first group's failure to start
  destroying: u32;
  wire: usize;              // TcpWire every accepted connection uses
}

/** One poll group: a lightweight thread on one reactor and the connections it serves. */
@unmanaged export class TcpGroup {
  transport: usize;
  thread: usize;
  reactor: i32;
  index: u32;
  sockChannel: usize;       // this thread's socket channel (contract B)
  pool: usize;              // TcpBufPool of data buffers
  conns: usize;             // TcpConn list (this thread only)
  connCount: u32;
  connGone: usize;          // (group: usize) => void after a connection of it was freed (0: none)
  // counters for nvmf_tcp_stats (this thread writes, any thread reads)
  accepted: u64;
  closed: u64;
  termReqsSent: u64;
  termReqsReceived: u64;
  commands: u64;
  errorCompletions: u64;
  bufferWaits: u64;
}

export const CONN_IC_WAIT: u32 = 0;        // accepted, waiting for ICReq
export const CONN_READY: u32 = 1;          // IC exchange done: capsules and data
export const CONN_TERMINATING: u32 = 2;    // a fatal error: a TermReq is on its way, nothing more is read
export const CONN_CLOSING: u32 = 3;        // the close chain is running
export const CONN_CLOSED: u32 = 4;         // freed (kept only to catch a use after free)

export const PHASE_HEADER: u32 = 0;        // reading the common header, then the rest of the header (+ digest)
export const PHASE_PAD: u32 = 1;           // skipping the padding up to pdo
export const PHASE_DATA: u32 = 2;          // copying data into the request
export const PHASE_DDGST: u32 = 3;         // reading the data digest

/** One connection (one qpair). Owned by its group's thread from accept to free. */
@unmanaged export class TcpConn {
  qpair: usize;             // NvmfQpair (in this block)
  group: usize;
  transport: usize;
  wire: usize;              // TcpWire
  wireCtx: usize;           // the wire's own state for this connection (socket fd, ops)
  state: u32;               // CONN_*
  listener: u32;
  rules: usize;             // PduRules (in this block)
  hpda: u32;                // the host's data alignment for what we send (ICReq HPDA)
  hdgst: u32;
  ddgst: u32;
  // ---- receive ----
  rbuf: usize;              // RECV_BUFFER_BYTES
  rHead: u32;               // parse position
  rTail: u32;               // bytes received
  recvPosted: u32;
  phase: u32;               // PHASE_*
  hdr: usize;               // the current PDU's header (+ digest), copied out of rbuf
  hdrBytes: u32;            // its length with the digest
  skip: u32;                // PHASE_PAD: bytes still to skip
  dataLeft: u32;            // PHASE_DATA: bytes still to copy
  dataReq: usize;           // the request the data goes to (0: discarded, a TermReq's offending header)
  dataAt: u32;              // where in the request's data the next byte goes
  dataCrc: u32;             // the data digest so far
  waitingForReq: u32;       // parsing paused: every request is busy (the host is ahead of its queue)
  pduReq: usize;            // the request the PDU being read is for
  // ---- requests ----
  reqs: usize;              // TcpReq pointers by index (= TTAG), maxQueueDepth of them
  reqCount: u32;            // made so far (lazily, up to maxQueueDepth)
  freeReqs: usize;          // free list
  reqsBusy: u32;
  unitsHeld: u32;           // data buffers this connection holds
  // ---- send ----
  sendHead: usize;          // TcpReq queue of PDUs to send
  sendTail: usize;
  sendBusy: u32;            // a sendv is in flight
  iovs: usize;              // SEND_IOV_MAX {u32 base, u32 len} pairs of the batch in flight
  iovCount: u32;
  iovFirst: u32;            // first iovec not yet wholly sent
  batchHead: usize;         // TcpReq list (through batchNext) of what the batch in flight carries
  batchTail: usize;
  batchCtrl: u32;           // BATCH_IC_RESP | BATCH_TERM_REQ: the connection's own PDUs in it
  icResp: usize;            // the ICResp (IC_BYTES)
  icRespBytes: u32;         // 0: none to send
  termReq: usize;           // the C2HTermReq (TERM_REQ_MAX_BYTES)
  termReqBytes: u32;
  // ---- life ----
  closeReason: usize;       // static string: why the connection ended
  linger: usize;            // poller bounding TERMINATING
  msgsPending: u32;         // messages to this connection not yet run (it is freed only at 0)
  resumePosted: u32;
  next: usize;              // group list
  prev: usize;
  peerAddr: usize;          // NUL-terminated (PEER_ADDR_BYTES)
}
export const PEER_ADDR_BYTES: u32 = 48;
export const BATCH_IC_RESP: u32 = 1;
export const BATCH_TERM_REQ: u32 = 2;

export const REQ_FREE: u32 = 0;
export const REQ_CAPSULE: u32 = 1;         // its CapsuleCmd is being read
export const REQ_WAIT_BUFFER: u32 = 2;     // waiting in the group's pool wait list
export const REQ_R2T: u32 = 3;             // R2T queued or sent, H2CData arriving
export const REQ_EXEC: u32 = 4;            // the core holds it
export const REQ_SEND: u32 = 5;            // its response (and read data) queued or being sent
export const REQ_DROPPED: u32 = 6;         // its connection closed while the core held it

/** One queue entry: the core's NvmfReq and what the transport keeps around it. */
@unmanaged export class TcpReq {
  nvmf: usize;              // NvmfReq (in this block)
  conn: usize;
  index: u32;               // in conn.reqs; the TTAG of its R2T
  state: u32;               // REQ_*
  cid: u32;
  xfer: u32;                // spec.ts XFER_*
  length: u32;              // data bytes
  inCapsule: u32;           // its data came in the capsule (into icd)
  icd: usize;               // in-capsule data buffer (limits.inCapsuleDataSize)
  units: u32;               // pool buffers held (iovs lists them)
  iovs: usize;              // {u32 base, u32 len} pairs over `length` bytes
  received: u32;            // H2C: data bytes in so far (the next DATAO expected)
  errorStatus: u32;         // a refusal found while reading the capsule (sent once its data is consumed)
  // ---- send progress ----
  sendWhat: u32;            // SEND_*
  c2hDone: u32;             // read data bytes already queued in C2HData PDUs
  hdr: usize;               // this PDU's header (SEND_HEADER_MAX) and, after it, the data digest and a CapsuleResp
  hdrBytes: u32;
  chunk: u32;               // data bytes of the C2HData in the queue
  next: usize;              // free list, send queue, pool wait list
  batchNext: usize;         // the batch in flight (a request may be in it as an R2T and queued with its response)
  batchWhat: u32;           // SEND_* of the PDU it has in the batch
}
export const SEND_R2T: u32 = 1;
export const SEND_C2H: u32 = 2;            // C2HData (and, after the last, the CapsuleResp unless SUCCESS)
export const SEND_RESP: u32 = 3;           // CapsuleResp only
