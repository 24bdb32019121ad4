// A host qpair's life on its owner thread: TCP connect, the IC exchange, Fabrics Connect, then the
// one way down for every cause (a refusal, a bad PDU, a socket error, a timeout, the owner's close):
// TermReq if one is due (lingering at most HOST_TERM_LINGER_US), cancel every socket op, complete each
// command once as aborted, close, and tell the owner once (QEV_CLOSED). Nothing here waits.

import {
  heapAllocZeroed, heapFree, report, LEVEL_ERROR, LEVEL_INFO, ENOMEM, ETIMEDOUT, EPROTO, ENOENT, EPERM, EINVAL, EIO,
} from "../../runtime";
import { threadGet, pollerRegister, pollerUnregister, cachedNowUs, POLLER_IDLE, POLLER_BUSY } from "../../thread";
import {
  SockOp, SOCK_OP_BYTES, SOCK_ADDR_BYTES, sockOpInit, sockChannelGet, sockChannelPut, sockTcpSocket, sockConnect, sockCancel, sockClose,
} from "../../sock";
import { CQE_BYTES, OPC_FABRICS, SCT_COMMAND_SPECIFIC, sqeInit } from "../spec";
import {
  FCTYPE_CONNECT, CONNECT_DATA_BYTES, SC_CONNECT_INVALID_PARAMETERS, SC_CONNECT_INVALID_HOST, IPO_SUBNQN, IPO_HOSTNQN,
  fabricsSetType, connectSetFields, connectDataWrite,
} from "../fabrics";
import { IC_BYTES, DIGEST_BYTES, TERM_REQ_MAX_BYTES, pduWriteIcReq, pduWriteH2CTermReq, icPda, icDigests, icRespMaxH2cData, IC_DGST_HEADER, IC_DGST_DATA } from "../tcp/pdu";
import { HostPduRules } from "./pdu-check";
import {
  HostQpair, HostQpairOpts, HostReq, HostQpairEventFn, HOST_CMD_BYTES, HOST_RECV_BUFFER_BYTES, HOST_SEND_IOV_MAX, HOST_REQ_BYTES,
  HOST_QUEUE_ENTRIES_MAX, HOST_MAXR2T, HOST_ADMIN_IN_CAPSULE_BYTES, QP_NEW, QP_TCP_CONNECTING, QP_IC, QP_FABRIC_CONNECT, QP_READY,
  QP_FAILING, QP_CLOSING, QP_CLOSED, QEV_READY, QEV_CLOSED, hostReqSqe,
} from "./types";
import { cmdTableInit, cmdAbortAll, hostQpairSubmit } from "./cmd";
import { sendKick, sendDone } from "./send";
import { recvStart, recvDone } from "./recv";

/** How long a TermReq may take to leave before the socket is closed anyway. */
export const HOST_TERM_LINGER_US: u64 = 200000;
/** How often a qpair checks its deadline (connect, linger). */
const TICK_US: u64 = 10000;

/**
 * A qpair on the calling thread (its owner from now on), from `opts` (copied): 0 when out of memory.
 * Nothing is sent until hostQpairConnect.
 */
export function hostQpairNew(opts: usize): usize {
  const o = changetype<HostQpairOpts>(opts);
  assert(o.entries >= 2 && o.entries <= HOST_QUEUE_ENTRIES_MAX, "hostQpairNew: 2..HOST_QUEUE_ENTRIES_MAX entries");
  assert(o.eventCb != 0 && o.addrText != 0 && o.subnqn != 0 && o.hostnqn != 0 && o.hostId != 0, "hostQpairNew: every option set");
  const slots = o.entries - 1;    // a full queue keeps one entry empty
  const head = (offsetof<HostQpair>() + 7 & ~7) + (offsetof<HostQpairOpts>() + 7 & ~7) + (offsetof<HostPduRules>() + 7 & ~7);
  const extras: usize = <usize>HOST_RECV_BUFFER_BYTES + (IC_BYTES + DIGEST_BYTES + 8) + HOST_SEND_IOV_MAX * 8 + TERM_REQ_MAX_BYTES + 8
    + 5 * SOCK_OP_BYTES + SOCK_ADDR_BYTES + HOST_REQ_BYTES + CONNECT_DATA_BYTES + 8 + CQE_BYTES;
  const block = heapAllocZeroed(head + <usize>slots * HOST_CMD_BYTES + extras);
  if (block == 0) return 0;
  const q = changetype<HostQpair>(block);
  let at = block + (offsetof<HostQpair>() + 7 & ~7);
  q.opts = at; memory.copy(at, opts, offsetof<HostQpairOpts>()); at += offsetof<HostQpairOpts>() + 7 & ~7;
  q.rules = at; at += offsetof<HostPduRules>() + 7 & ~7;
  cmdTableInit(q, at, slots); at += <usize>slots * HOST_CMD_BYTES;
  q.rbuf = at; at += HOST_RECV_BUFFER_BYTES;
  q.hdr = at; at += IC_BYTES + DIGEST_BYTES + 8;
  q.iovs = at; at += HOST_SEND_IOV_MAX * 8;
  q.ctrlBuf = at; at += TERM_REQ_MAX_BYTES + 8;
  q.connectOp = at; q.recvOp = at + SOCK_OP_BYTES; q.sendOp = at + 2 * SOCK_OP_BYTES;
  q.cancelOp = at + 3 * SOCK_OP_BYTES; q.closeOp = at + 4 * SOCK_OP_BYTES; at += 5 * SOCK_OP_BYTES;
  q.sockAddr = at; at += SOCK_ADDR_BYTES;
  q.connectReq = at; at += HOST_REQ_BYTES;
  q.connectData = at; at += CONNECT_DATA_BYTES;
  q.connectIov = at; at += 8;
  q.cqe = at;
  q.thread = threadGet();
  q.state = QP_NEW;
  q.fd = -1;
  q.inCapsuleMax = 0;
  sockOpInit(q.connectOp, connectDone, block);
  sockOpInit(q.recvOp, recvDone, block);
  sockOpInit(q.sendOp, sendDone, block);
  sockOpInit(q.cancelOp, cancelDone, block);
  sockOpInit(q.closeOp, closeDone, block);
  q.deadline = pollerRegister(tick, block, TICK_US, "nvme-host-qpair");
  if (q.deadline == 0) { heapFree(block); return 0; }
  return block;
}

function optsOf(q: HostQpair): HostQpairOpts { return changetype<HostQpairOpts>(q.opts); }
function onOwner(q: HostQpair): void { assert(threadGet() == q.thread, "a host qpair is used only on its owner thread"); }

/** Connect: QEV_READY when Fabrics Connect succeeded, QEV_CLOSED (once, always) when it is over. */
export function hostQpairConnect(qpair: usize): void {
  const q = changetype<HostQpair>(qpair);
  onOwner(q);
  assert(q.state == QP_NEW, "hostQpairConnect: once per qpair");
  const o = optsOf(q);
  q.deadlineUs = cachedNowUs() + o.connectTimeoutUs;
  q.sockChannel = sockChannelGet();
  if (q.sockChannel == 0) { qpairFail(q, -ENOMEM, "no memory for a socket channel"); return; }
  const fd = sockTcpSocket(o.addrText, o.port, q.sockAddr);
  if (fd < 0) { qpairFail(q, fd, fd == -EINVAL ? "traddr is not an IP literal or trsvcid not a port" : "no socket for the address"); return; }
  q.fd = fd;
  q.state = QP_TCP_CONNECTING;
  sockConnect(q.sockChannel, q.connectOp, fd, q.sockAddr);
}

function connectDone(op: usize): void {
  const q = changetype<HostQpair>(changetype<SockOp>(op).ctx);
  const res = changetype<SockOp>(op).res;
  if (q.state != QP_TCP_CONNECTING) return;     // failed meanwhile (a timeout): the cancel brought it back
  if (res < 0) { qpairFail(q, res, "the TCP connection to the controller failed"); return; }
  const o = optsOf(q);
  const rules = changetype<HostPduRules>(q.rules);
  rules.digestsAsked = o.digests;
  rules.hpda = 0;
  q.state = QP_IC;
  q.ctrlBytes = pduWriteIcReq(q.ctrlBuf, 0, <u8>o.digests, HOST_MAXR2T);
  sendKick(q);
  recvStart(q);
}

/** The ICResp passed its checks: take what it agreed, then Fabrics Connect. */
export function qpairIcResp(q: HostQpair, hdr: usize): void {
  assert(q.state == QP_IC, "qpairIcResp: after the ICReq");
  const rules = changetype<HostPduRules>(q.rules);
  const digests = <u32>icDigests(hdr);
  rules.icDone = 1;
  rules.hdgst = (digests & IC_DGST_HEADER) != 0 ? 1 : 0;
  rules.ddgst = (digests & IC_DGST_DATA) != 0 ? 1 : 0;
  q.cpda = icPda(hdr);
  q.maxH2cData = icRespMaxH2cData(hdr);
  q.state = QP_FABRIC_CONNECT;
  const o = optsOf(q);
  const r = changetype<HostReq>(q.connectReq);
  const sqe = hostReqSqe(q.connectReq);
  sqeInit(sqe, OPC_FABRICS, 0);
  fabricsSetType(sqe, FCTYPE_CONNECT);
  connectSetFields(sqe, <u16>o.qid, o.entries, o.qid == 0 ? o.katoMs : 0);
  connectDataWrite(q.connectData, o.hostId, <u16>o.cntlid, o.subnqn, o.hostnqn);
  store<u32>(q.connectIov, <u32>q.connectData);
  store<u32>(q.connectIov, CONNECT_DATA_BYTES, 4);
  r.cb = changetype<usize>(fabricConnectDone);
  r.ctx = changetype<usize>(q);
  r.iovs = q.connectIov;
  r.iovcnt = 1;
  r.length = CONNECT_DATA_BYTES;
  q.inCapsuleMax = HOST_ADMIN_IN_CAPSULE_BYTES;   // Connect's data always goes in its capsule
  const rc = hostQpairSubmit(changetype<usize>(q), q.connectReq);
  assert(rc == 0, "the Connect fits an empty command table");
}

function fabricConnectDone(req: usize): void {
  const r = changetype<HostReq>(req);
  const q = changetype<HostQpair>(r.ctx);
  if (q.state != QP_FABRIC_CONNECT) return;     // aborted on the way down
  q.inCapsuleMax = 0;                           // until the owner sets the controller's IOCCSZ
  if (r.status != 0) { qpairFail(q, connectErrno(r.status, r.dw0), connectRefusal(r.status, r.dw0)); return; }
  q.cntlid = r.dw0 & 0xffff;
  q.state = QP_READY;
  q.deadlineUs = 0;
  const o = optsOf(q);
  changetype<HostQpairEventFn>(o.eventCb)(changetype<usize>(q), o.eventCtx, QEV_READY, 0);
}

/** Connect's refusal as an errno: unknown subsystem ENOENT, host not allowed EPERM, else EPROTO. */
function connectErrno(st: u32, dw0: u32): i32 {
  const sct = (st >> 8) & 7, sc = st & 0xff;
  if (sct == SCT_COMMAND_SPECIFIC && sc == SC_CONNECT_INVALID_HOST) return -EPERM;
  if (sct == SCT_COMMAND_SPECIFIC && sc == SC_CONNECT_INVALID_PARAMETERS && (dw0 & 0xffff) == IPO_SUBNQN) return -ENOENT;
  return -EPROTO;
}
function connectRefusal(st: u32, dw0: u32): string {
  const sct = (st >> 8) & 7, sc = st & 0xff;
  if (sct == SCT_COMMAND_SPECIFIC && sc == SC_CONNECT_INVALID_HOST) return "Connect refused: this host NQN is not allowed on the subsystem (nvmf_subsystem_add_host)";
  if (sct == SCT_COMMAND_SPECIFIC && sc == SC_CONNECT_INVALID_PARAMETERS) {
    const ipo = dw0 & 0xffff;
    if (ipo == IPO_SUBNQN) return "Connect refused: the controller has no subsystem of that NQN (check subnqn)";
    if (ipo == IPO_HOSTNQN) return "Connect refused: the controller finds the host NQN invalid";
    return "Connect refused: invalid parameters (the queue size or controller id)";
  }
  return "Connect refused by the controller";
}

/** The qpair's commands may carry this many data bytes in their capsule (IOCCSZ * 16 - 64; 0: every write by R2T). */
export function hostQpairSetInCapsule(qpair: usize, bytes: u32): void {
  const q = changetype<HostQpair>(qpair);
  onOwner(q);
  q.inCapsuleMax = bytes;
}

/**
 * The way down, once, whatever the cause. `res` is what the owner hears (0: it asked); `fes` a TermReq
 * to send first (0: none), `offending` its PDU's first bytes.
 */
export function qpairFailPdu(q: HostQpair, res: i32, why: string, fes: u32, offending: usize, offendingBytes: u32): void {
  if (q.state >= QP_FAILING || q.state == QP_NEW) return;
  q.failRes = res;
  q.failWhy = changetype<usize>(why);
  if (res != 0) {
    const o = optsOf(q);
    const cntlid = q.cntlid != 0 ? q.cntlid : o.cntlid;   // an admin queue before Connect: 65535 (dynamic)
    report(LEVEL_ERROR, res, "nvme host: queue %d of controller %d failed: %s", changetype<usize>(why), 0, <f64>o.qid, <f64>cntlid);
  }
  q.state = QP_FAILING;
  if (fes != 0 && q.fd >= 0 && q.state >= QP_IC) {
    q.ctrlBytes = pduWriteH2CTermReq(q.ctrlBuf, <u16>fes, offending, offendingBytes);
    q.deadlineUs = cachedNowUs() + HOST_TERM_LINGER_US;
    sendKick(q);
    return;
  }
  beginCancel(q);
}
export function qpairFail(q: HostQpair, res: i32, why: string): void {
  if (q.state == QP_NEW) {
    // Failed before a socket existed (hostQpairConnect's own checks): nothing to cancel.
    q.failRes = res;
    report(LEVEL_ERROR, res, "nvme host: queue %d: %s", changetype<usize>(why), 0, <f64>optsOf(q).qid);
    q.state = QP_FAILING;
    beginCancel(q);
    return;
  }
  qpairFailPdu(q, res, why, 0, 0, 0);
}

/** The owner closes the qpair: every command completes aborted, then QEV_CLOSED with res 0. */
export function hostQpairDisconnect(qpair: usize): void {
  const q = changetype<HostQpair>(qpair);
  onOwner(q);
  if (q.state == QP_NEW) { q.state = QP_FAILING; beginCancel(q); return; }
  qpairFailPdu(q, 0, "closed by its owner", 0, 0, 0);
}

/** The control PDU (ICReq or TermReq) is out. */
export function qpairCtrlSent(q: HostQpair): void {
  if (q.state == QP_FAILING) beginCancel(q);
}

function beginCancel(q: HostQpair): void {
  assert(q.state == QP_FAILING, "beginCancel: once, from failing");
  q.state = QP_CLOSING;
  q.deadlineUs = 0;
  if (q.fd < 0) { finishClose(q); return; }
  sockCancel(q.sockChannel, q.cancelOp, q.fd);
}

function cancelDone(op: usize): void {
  const q = changetype<HostQpair>(changetype<SockOp>(op).ctx);
  assert(q.state == QP_CLOSING && q.sendBusy == 0 && q.recvBusy == 0, "cancelDone: every op of the socket has ended");
  sockClose(q.sockChannel, q.closeOp, q.fd);
}

function closeDone(op: usize): void {
  const q = changetype<HostQpair>(changetype<SockOp>(op).ctx);
  q.fd = -1;
  finishClose(q);
}

function finishClose(q: HostQpair): void {
  cmdAbortAll(q);
  if (q.sockChannel != 0) sockChannelPut(q.sockChannel);
  q.sockChannel = 0;
  q.state = QP_CLOSED;
  const o = optsOf(q);
  changetype<HostQpairEventFn>(o.eventCb)(changetype<usize>(q), o.eventCtx, QEV_CLOSED, q.failRes);
}

function tick(ctx: usize): i32 {
  const q = changetype<HostQpair>(ctx);
  if (q.deadlineUs == 0 || cachedNowUs() < q.deadlineUs) return POLLER_IDLE;
  q.deadlineUs = 0;
  if (q.state < QP_READY) {
    const o = optsOf(q);
    qpairFail(q, -ETIMEDOUT, "the controller did not answer the connect within connect_timeout");
    return POLLER_BUSY;
  }
  if (q.state == QP_FAILING) beginCancel(q);   // the TermReq did not leave in time
  return POLLER_BUSY;
}

/** Free a closed (or never connected) qpair. */
export function hostQpairFree(qpair: usize): void {
  const q = changetype<HostQpair>(qpair);
  onOwner(q);
  assert(q.state == QP_CLOSED, "hostQpairFree: only once it is closed");
  pollerUnregister(q.deadline);
  heapFree(qpair);
}

export function hostQpairState(qpair: usize): u32 { return changetype<HostQpair>(qpair).state; }
export function hostQpairCntlid(qpair: usize): u32 { return changetype<HostQpair>(qpair).cntlid; }
export function hostQpairInFlight(qpair: usize): u32 { return changetype<HostQpair>(qpair).inFlight + changetype<HostQpair>(qpair).waiting; }
export function hostQpairSlots(qpair: usize): u32 { return changetype<HostQpair>(qpair).slots; }
export function hostQpairDigests(qpair: usize): u32 {
  const r = changetype<HostPduRules>(changetype<HostQpair>(qpair).rules);
  return r.hdgst | (r.ddgst << 1);
}
