// The Fabrics Connect command: an admin Connect makes a controller (a fresh controller id of the
// subsystem's range) on the qpair's thread; an I/O Connect names a controller, whose thread checks and
// attaches the qpair, then answers back on the qpair's thread. Every refusal uses Connect's own status
// codes with the offending field in DW0 (IATTR/IPO) and a report naming the reason.
import { heapAlloc, heapFree, LEVEL_ERROR, LEVEL_WARN } from "../runtime";
import { nvmfSend } from "./send";
import { NvmfQpair, NvmfReq, NvmfTransportOps, NvmfTransportLimits, QPAIR_CONNECTED, QPAIR_CLOSING } from "./transport";
import {
  SCT_COMMAND_SPECIFIC, STATUS_DNR, STATUS_SUCCESS, STATUS_INVALID_FIELD, STATUS_COMMAND_SEQUENCE_ERROR,
  STATUS_INTERNAL_DEVICE_ERROR, XFER_HOST_TO_CTRLR, status,
} from "./spec";
import {
  CONNECT_DATA_BYTES, NQN_FIELD_BYTES, CNTLID_DYNAMIC, SC_CONNECT_INCOMPATIBLE_FORMAT, SC_CONNECT_CONTROLLER_BUSY,
  SC_CONNECT_INVALID_PARAMETERS, SC_CONNECT_INVALID_HOST, IATTR_COMMAND, IATTR_DATA, IPO_QID, IPO_SQSIZE, IPO_CNTLID,
  IPO_SUBNQN, IPO_HOSTNQN, connectRecfmt, connectQid, connectQueueEntries, connectKatoMs, connectDataHostId,
  connectDataCntlid, connectDataSubnqn, connectDataHostnqn, connectInvalidParamDw0, nqnProblem, fieldLength,
} from "./fabrics";
import { nvmfReqComplete } from "./complete";
import { reqGather } from "./req-data";
import { registryLock, registryUnlock, sameString } from "./registry";
import { NvmfSubsystem, subsystemFind, hostAllowed, listenerAllowed } from "./subsystem";
import {
  NvmfCtrlr, ctrlrNew, ctrlrDiscard, ctrlrLink, ctrlrFind, ctrlrRef, ctrlrUnref, ctrlrAttachLocked, ctrlrQpairLocked,
  ctrlrHostNqn, ctrlrKatoSet, ctrlrReportCreated, DISCOVERY_KATO_MS,
} from "./ctrlr";
import { reportAscii } from "./report";

const STATUS_CONNECT_INVALID_PARAMETERS: u32 = status(SCT_COMMAND_SPECIFIC, SC_CONNECT_INVALID_PARAMETERS) | STATUS_DNR;

// An outcome: the status in the low word, DW0 in the high one.
const NO_REFUSAL: u64 = 0;
function refuse(st: u32, dw0: u32): u64 { return <u64>st | (<u64>dw0 << 32); }
function invalidParam(iattr: u32, ipo: u32): u64 { return refuse(STATUS_CONNECT_INVALID_PARAMETERS, connectInvalidParamDw0(iattr, ipo)); }
function finish(req: usize, outcome: u64): void { nvmfReqComplete(req, <u32>outcome, <u32>(outcome >> 32)); }

/** Fabrics Connect on a qpair that has none yet (target.ts checked the state). */
export function connectExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const sqe = r.sqe;
  if (connectRecfmt(sqe) != 0) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: Connect: record format %d is not 0, the only one there is", 0, 0, <f64>connectRecfmt(sqe));
    finish(req, refuse(status(SCT_COMMAND_SPECIFIC, SC_CONNECT_INCOMPATIBLE_FORMAT) | STATUS_DNR, 0));
    return;
  }
  if (r.xfer != XFER_HOST_TO_CTRLR || r.length < CONNECT_DATA_BYTES) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: Connect: its data is %d bytes, not the 1024 of a Connect", 0, 0, <f64>r.length);
    finish(req, refuse(STATUS_INVALID_FIELD, 0));
    return;
  }
  const data = heapAlloc(CONNECT_DATA_BYTES);
  if (data == 0) { finish(req, refuse(STATUS_INTERNAL_DEVICE_ERROR, 0)); return; }
  reqGather(req, data, CONNECT_DATA_BYTES);
  const outcome = checkFields(req, data);
  if (outcome != NO_REFUSAL) { heapFree(data); finish(req, outcome); return; }
  if (connectQid(sqe) == 0) { const o = connectAdmin(req, data); heapFree(data); finish(req, o); }
  else connectIo(req, data);
}

/** The checks that need no registry: the NQNs' form, the queue size against the transport. */
function checkFields(req: usize, data: usize): u64 {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  const limits = changetype<NvmfTransportLimits>(changetype<NvmfTransportOps>(q.ops).limits);
  const subnqn = connectDataSubnqn(data), hostnqn = connectDataHostnqn(data);
  store<u8>(subnqn + NQN_FIELD_BYTES - 1, 0);   // a host's unterminated field reads as too long, never past its end
  store<u8>(hostnqn + NQN_FIELD_BYTES - 1, 0);
  if (nqnProblem(subnqn, fieldLength(subnqn, NQN_FIELD_BYTES - 1)) != null) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: Connect: subsystem NQN %s is not a valid NQN", subnqn);
    return invalidParam(IATTR_DATA, IPO_SUBNQN);
  }
  if (nqnProblem(hostnqn, fieldLength(hostnqn, NQN_FIELD_BYTES - 1)) != null) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: Connect: host NQN %s is not a valid NQN", hostnqn);
    return invalidParam(IATTR_DATA, IPO_HOSTNQN);
  }
  const qid = <u32>connectQid(r.sqe);
  const entries = connectQueueEntries(r.sqe);
  const most = qid == 0 ? limits.maxAqDepth : limits.maxQueueDepth;
  if (entries < 2 || entries > most) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: Connect from %s: a queue of %d entries; this transport takes 2 to %d",
      hostnqn, 0, <f64>entries, <f64>most);
    return invalidParam(IATTR_COMMAND, IPO_SQSIZE);
  }
  return NO_REFUSAL;
}

// The subsystem admitLocked found (this instance's, read right after the call).
let admitted: usize = 0;

/** Under registryLock: the subsystem, listener and host checks every Connect makes; the subsystem in `admitted`. */
function admitLocked(q: NvmfQpair, data: usize): u64 {
  const subnqn = connectDataSubnqn(data), hostnqn = connectDataHostnqn(data);
  const sub = subsystemFind(subnqn);
  admitted = sub;
  if (sub == 0) return invalidParam(IATTR_DATA, IPO_SUBNQN);
  if (!listenerAllowed(sub, q.listener)) return invalidParam(IATTR_DATA, IPO_SUBNQN);
  if (!hostAllowed(sub, hostnqn)) return refuse(status(SCT_COMMAND_SPECIFIC, SC_CONNECT_INVALID_HOST) | STATUS_DNR, 0);
  return NO_REFUSAL;
}

/** The reason for an admission refusal, reported after the lock is dropped. */
function reportAdmission(q: NvmfQpair, data: usize, sub: usize, outcome: u64): void {
  const subnqn = connectDataSubnqn(data), hostnqn = connectDataHostnqn(data);
  if (sub == 0) reportAscii(LEVEL_ERROR, 0, "nvmf: Connect from %s: there is no subsystem %s", hostnqn, subnqn);
  else if (<u32>outcome == STATUS_CONNECT_INVALID_PARAMETERS)
    reportAscii(LEVEL_ERROR, 0, "nvmf: Connect from %s: subsystem %s does not listen on listener %d (nvmf_subsystem_add_listener)",
      hostnqn, subnqn, <f64>q.listener);
  else reportAscii(LEVEL_ERROR, 0, "nvmf: Connect: host %s is not allowed on %s (nvmf_subsystem_add_host, or allow_any_host)", hostnqn, subnqn);
}

function connectAdmin(req: usize, data: usize): u64 {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  const hostnqn = connectDataHostnqn(data);
  if (connectDataCntlid(data) != CNTLID_DYNAMIC) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: Connect from %s: controller id %d asked for; this target makes them (0xffff)", hostnqn, 0,
      <f64>connectDataCntlid(data));
    return invalidParam(IATTR_DATA, IPO_CNTLID);
  }
  const limits = changetype<NvmfTransportOps>(q.ops).limits;
  const c = ctrlrNew(0, connectDataHostId(data), hostnqn, limits, changetype<NvmfTransportLimits>(limits).maxIoQpairsPerCtrlr);
  if (c == 0) return refuse(STATUS_INTERNAL_DEVICE_ERROR, 0);
  registryLock();
  let outcome = admitLocked(q, data);
  const sub = admitted;
  if (outcome == NO_REFUSAL) {
    changetype<NvmfCtrlr>(c).subsys = sub;
    if (!ctrlrLink(c)) outcome = refuse(status(SCT_COMMAND_SPECIFIC, SC_CONNECT_CONTROLLER_BUSY), 0);
    else ctrlrAttachLocked(c, r.qpair, 0, connectQueueEntries(r.sqe));
  }
  registryUnlock();
  if (outcome != NO_REFUSAL) {
    if (<u32>outcome == (status(SCT_COMMAND_SPECIFIC, SC_CONNECT_CONTROLLER_BUSY)))
      reportAscii(LEVEL_WARN, 0, "nvmf: Connect from %s: every controller id of %s is in use", hostnqn, connectDataSubnqn(data));
    else reportAdmission(q, data, sub, outcome);
    ctrlrDiscard(c);
    return outcome;
  }
  const isDiscovery = changetype<NvmfSubsystem>(sub).isDiscovery != 0;
  const kato = connectKatoMs(r.sqe);
  if (!ctrlrKatoSet(c, kato == 0 && isDiscovery ? DISCOVERY_KATO_MS : kato)) {
    // The controller is linked and holds the qpair: it ends through the qpair's close like any other.
    return refuse(STATUS_INTERNAL_DEVICE_ERROR, 0);
  }
  q.state = QPAIR_CONNECTED;
  ctrlrReportCreated(c);
  return refuse(STATUS_SUCCESS, changetype<NvmfCtrlr>(c).cntlid);
}

// An I/O Connect: req.coreState holds the Connect data, req.coreAux the controller (then the outcome).
function connectIo(req: usize, data: usize): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  registryLock();
  let outcome = admitLocked(q, data);
  const sub = admitted;
  let c: usize = 0;
  if (outcome == NO_REFUSAL) {
    c = changetype<NvmfSubsystem>(sub).isDiscovery != 0 ? 0 : ctrlrFind(sub, <u32>connectDataCntlid(data));
    if (c == 0 || changetype<NvmfCtrlr>(c).failed != 0) outcome = invalidParam(IATTR_DATA, IPO_CNTLID);
    else ctrlrRef(c);
  }
  registryUnlock();
  if (outcome != NO_REFUSAL) {
    if (c == 0 && sub != 0 && <u32>outcome == STATUS_CONNECT_INVALID_PARAMETERS && (<u32>(outcome >> 32) & 0xffff) == IPO_CNTLID)
      reportAscii(LEVEL_ERROR, 0, "nvmf: I/O Connect from %s: %s has no controller %d", connectDataHostnqn(data), connectDataSubnqn(data),
        <f64>connectDataCntlid(data));
    else reportAdmission(q, data, sub, outcome);
    heapFree(data);
    finish(req, outcome);
    return;
  }
  r.coreState = data;
  r.coreAux = <u64>c;
  nvmfSend(changetype<NvmfCtrlr>(c).thread, ioConnectOnCtrlr, req);
}

/** On the controller's thread: the checks that need its state, then the attach. */
function ioConnectOnCtrlr(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const c = <usize>r.coreAux;
  const ct = changetype<NvmfCtrlr>(c);
  const data = r.coreState;
  const qid = <u32>connectQid(r.sqe);
  const hostnqn = connectDataHostnqn(data);
  let outcome = NO_REFUSAL;
  if (ct.failed != 0) outcome = invalidParam(IATTR_DATA, IPO_CNTLID);
  else if (!sameString(hostnqn, ctrlrHostNqn(c), NQN_FIELD_BYTES)) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: I/O Connect from %s names controller %d of host %s", hostnqn, ctrlrHostNqn(c), <f64>ct.cntlid);
    outcome = invalidParam(IATTR_DATA, IPO_HOSTNQN);
  } else if ((ct.cc & 1) == 0 || (ct.csts & 1) == 0) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: I/O Connect from %s before controller %d was enabled (CC.EN)", hostnqn, 0, <f64>ct.cntlid);
    outcome = refuse(STATUS_COMMAND_SEQUENCE_ERROR, 0);
  } else if (qid > ct.ioQueues) {
    reportAscii(LEVEL_ERROR, 0, "nvmf: I/O Connect from %s: queue %d, but the controller has %d I/O queues", hostnqn, 0, <f64>qid, <f64>ct.ioQueues);
    outcome = invalidParam(IATTR_COMMAND, IPO_QID);
  } else {
    registryLock();
    const taken = ctrlrQpairLocked(c, qid) != 0;
    if (!taken) ctrlrAttachLocked(c, r.qpair, qid, connectQueueEntries(r.sqe));
    registryUnlock();
    if (taken) {
      reportAscii(LEVEL_ERROR, 0, "nvmf: I/O Connect from %s: queue %d of controller %d is connected already", hostnqn, 0, <f64>qid, <f64>ct.cntlid);
      outcome = invalidParam(IATTR_COMMAND, IPO_QID);
    }
  }
  r.coreAux = outcome;
  nvmfSend(changetype<NvmfQpair>(r.qpair).thread, ioConnectDone, req);
  ctrlrUnref(c);
}

/** Back on the qpair's thread. */
function ioConnectDone(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  heapFree(r.coreState);
  r.coreState = 0;
  const outcome = r.coreAux;
  if (<u32>outcome == STATUS_SUCCESS) {
    if (q.state != QPAIR_CLOSING) q.state = QPAIR_CONNECTED;
    finish(req, refuse(STATUS_SUCCESS, changetype<NvmfCtrlr>(q.ctrlr).cntlid));
  } else finish(req, outcome);
}
