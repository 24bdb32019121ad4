// The NVMe/TCP host qpair's structures, declared once: a caller's request (HostReq), a slot of the
// qpair's command table (HostCmd) and the qpair (HostQpair). Every bound the host qpair keeps is here.

import { SQE_BYTES } from "../spec";
import { SEND_HEADER_MAX } from "../tcp/pdu";

/** Receive buffer of one qpair: headers are parsed in it and data copied out of it into the request's buffers. */
export const HOST_RECV_BUFFER_BYTES: u32 = 65536;
/** iovecs one sendv carries (the socket layer's most). */
export const HOST_SEND_IOV_MAX: u32 = 64;
/** Buffers one request's data may be split into: a PDU's header, data pieces and digest fit one sendv. */
export const HOST_REQ_IOV_MAX: u32 = HOST_SEND_IOV_MAX - 2;
/** Entries a qpair may ask for (Connect SQSIZE + 1); the command table holds one fewer. */
export const HOST_QUEUE_ENTRIES_MAX: u32 = 1024;
/** R2Ts the host lets a controller have outstanding per command (ICReq MAXR2T + 1). */
export const HOST_MAXR2T: u32 = 1;
/** Bytes of a Connect's data, always sent in the capsule (NVMe-oF 1.1: the admin queue takes 8 KiB in capsule). */
export const HOST_ADMIN_IN_CAPSULE_BYTES: u32 = 8192;

// qpair states, in the order a qpair goes through them
export const QP_NEW: u32 = 0;
export const QP_TCP_CONNECTING: u32 = 1;
export const QP_IC: u32 = 2;            // ICReq sent, waiting for the ICResp
export const QP_FABRIC_CONNECT: u32 = 3; // Fabrics Connect in flight
export const QP_READY: u32 = 4;
export const QP_FAILING: u32 = 5;       // ops of the socket being cancelled; commands complete after
export const QP_CLOSING: u32 = 6;       // TermReq (if any) and close under way
export const QP_CLOSED: u32 = 7;

// events a qpair's owner gets (HostQpairEventFn)
/** The qpair is connected (Fabrics Connect succeeded): at most once, res 0. */
export const QEV_READY: u32 = 1;
/** The qpair is closed and holds nothing: exactly once after hostQpairConnect; res 0 (asked) or -errno (why it failed). */
export const QEV_CLOSED: u32 = 2;
export type HostQpairEventFn = (qpair: usize, ctx: usize, event: u32, res: i32) => void;

/** What a request of a closed or failed qpair completes with (SPDK's manual completion of a dead qpair's commands). */
export const HOST_ABORT_STATUS_NOTE: string = "Aborted due to SQ Deletion (SCT 0, SC 0x08)";

// receive phases
export const RX_HEADER: u32 = 0;
export const RX_PAD: u32 = 1;
export const RX_DATA: u32 = 2;
export const RX_DDGST: u32 = 3;

// what a command's next send is
export const SEND_NONE: u32 = 0;
export const SEND_CAPSULE: u32 = 1;
export const SEND_H2C: u32 = 2;

/**
 * One command as its caller describes it: caller-owned memory of HOST_REQ_BYTES (the SQE follows the
 * fields), valid until cb(req). The qpair sets the SQE's CID and SGL. Results: status (spec.ts's
 * STATUS_* encoding), dw0, dw1.
 */
@unmanaged export class HostReq {
  cb: usize;          // (req: usize) => void, on the qpair's thread, exactly once per accepted submit
  ctx: usize;
  iovs: usize;        // {u32 base, u32 len} pairs holding the data (write: sent; read: filled)
  iovcnt: u32;        // 0..HOST_REQ_IOV_MAX
  iovOffset: u32;     // where the command's data starts in the iovs (a large I/O sent as several commands)
  length: u32;        // data bytes, from iovOffset on
  status: u32;
  dw0: u32;
  dw1: u32;
  next: usize;        // the qpair's queue of requests waiting for a command slot
  submitUs: u64;      // when the qpair took it (the owner's timeout checks)
}
export const HOST_REQ_BYTES: u32 = (<u32>offsetof<HostReq>() + 7 & ~7) + SQE_BYTES;
export function hostReqSqe(req: usize): usize { return req + (offsetof<HostReq>() + 7 & ~7); }

/** One slot of a qpair's command table; its index is the CID. */
@unmanaged export class HostCmd {
  req: usize;         // 0: the slot is free
  cid: u32;
  xfer: u32;          // XFER_* of the opcode
  inCapsule: u32;     // data bytes sent in the capsule
  dataDone: u32;      // read: bytes received; write by R2T: bytes the controller asked for so far
  r2tEnd: u32;        // end of the R2T being answered (H2C offset < r2tEnd while answering)
  h2cAt: u32;         // the next H2CData's offset
  ttag: u32;
  sendWhat: u32;      // SEND_*: the PDU this command has on the send queue
  pduAt: u32;         // the queued PDU's data: offset and bytes (capsule data or one H2CData)
  pduBytes: u32;
  inSend: u32;        // its PDU is in the sendv in flight: its buffers are the kernel's
  respStatus: u32;    // a completion that came while inSend, delivered once the send is done
  respDw0: u32;
  respDw1: u32;
  respHeld: u32;
  hdr: usize;         // SEND_HEADER_MAX bytes for its PDU's header, then the data digest (4 bytes)
  next: usize;        // free list or send queue
  batchNext: usize;   // the sendv in flight
}
export const HOST_CMD_BYTES: usize = (offsetof<HostCmd>() + 7 & ~7) + <usize>SEND_HEADER_MAX + 8;

/** How a qpair is made: the owner fills one and hands it to hostQpairNew (copied). */
@unmanaged export class HostQpairOpts {
  addrText: usize;    // NUL-terminated IP literal (the owner's, alive as long as the qpair)
  port: u32;
  subnqn: usize;      // NUL-terminated
  hostnqn: usize;
  hostId: usize;      // 16 bytes
  qid: u32;           // 0: admin
  cntlid: u32;        // admin: 0xffff; I/O: the admin Connect's answer
  entries: u32;       // Connect SQSIZE + 1
  katoMs: u32;        // admin only
  digests: u32;       // IC_DGST_* asked for
  connectTimeoutUs: u64; // TCP connect + IC exchange + Fabrics Connect, together
  eventCb: usize;     // HostQpairEventFn
  eventCtx: usize;
}

@unmanaged export class HostQpair {
  thread: usize;          // the owner: every call and callback runs here
  opts: usize;            // HostQpairOpts (a copy in this block)
  state: u32;
  fd: i32;
  sockChannel: usize;
  cntlid: u32;
  rules: usize;           // HostPduRules
  cpda: u32;
  maxH2cData: u32;
  inCapsuleMax: u32;      // data bytes a command may carry in its capsule
  // command table
  cmds: usize;            // (entries - 1) slots of HOST_CMD_BYTES
  slots: u32;
  freeHead: usize;
  inFlight: u32;
  waitHead: usize;        // HostReq list: requests waiting for a slot
  waitTail: usize;
  waiting: u32;
  // receive
  rbuf: usize;
  rHead: u32;
  rTail: u32;
  recvBusy: u32;
  phase: u32;
  hdr: usize;             // the current PDU's header (IC_BYTES + digest)
  hdrBytes: u32;
  dataLeft: u32;
  dataCmd: usize;         // HostCmd the data belongs to (C2HData), 0 for a TermReq's bytes
  dataAt: u32;
  dataCrc: u32;
  skip: u32;
  // send
  sendHead: usize;        // HostCmd list (next)
  sendTail: usize;
  batchHead: usize;       // HostCmd list (batchNext): in the sendv in flight
  iovs: usize;            // HOST_SEND_IOV_MAX {u32 base, u32 len}
  iovCount: u32;
  iovFirst: u32;          // a short send continues from here
  sendBusy: u32;
  ctrlBuf: usize;         // ICReq or H2CTermReq (TERM_REQ_MAX_BYTES)
  ctrlBytes: u32;         // to send before anything else
  ctrlInBatch: u32;
  // the end
  failRes: i32;           // -errno the qpair failed with (0: asked to close)
  failWhy: usize;         // a core string
  termFes: u32;           // a TermReq to send on the way out (0: none)
  // ops and timers (in this block)
  connectOp: usize;
  recvOp: usize;
  sendOp: usize;
  cancelOp: usize;
  closeOp: usize;
  sockAddr: usize;
  deadline: usize;        // poller checking deadlineUs
  deadlineUs: u64;        // when connect + IC + Connect, or a TermReq's linger, is over (0: none)
  connectReq: usize;      // HostReq of the Fabrics Connect
  connectData: usize;     // its 1024 bytes
  connectIov: usize;
  cqe: usize;             // CQE_BYTES scratch
  // counters
  pdusIn: u64;
  pdusOut: u64;
}

