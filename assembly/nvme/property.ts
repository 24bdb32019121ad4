// Fabrics Property Get/Set on the admin queue: the controller's registers (CAP, VS, CC, CSTS, AQA,
// ASQ, ACQ) and the two handshakes they carry: enable (CC.EN 0 -> 1 sets CSTS.RDY; 1 -> 0 resets:
// I/O queues are asked to go, held AERs come back aborted) and shutdown (CC.SHN: CSTS.SHST reads
// "occurring" until every I/O queue is gone, then "complete").
import { NvmfReq, NvmfQpair, NvmfTransportLimits } from "./transport";
import { STATUS_SUCCESS, STATUS_INVALID_FIELD } from "./spec";
import {
  PROP_CAP, PROP_VS, PROP_CC, PROP_CSTS, PROP_AQA, PROP_ASQ, PROP_ACQ, VS_1_3, CC_EN, CC_IOSQES_64B, CC_IOCQES_16B,
  CSTS_RDY, CSTS_SHST_MASK, CSTS_SHST_SHIFT, SHST_OCCURRING, propertyBytes, propertyIs8Bytes, propertyOffset, propertyValue,
  capValue, ccEnabled, ccShn, ccIosqes, ccIocqes, ccCssMpsAms,
} from "./fabrics";
import { nvmfReqComplete, nvmfReqCompleteValue } from "./complete";
import { NvmfCtrlr, ctrlrDisconnect, ctrlrShutdownComplete } from "./ctrlr";
import { NvmfSubsystem } from "./subsystem";
import { aerAbortAll } from "./aer";

/** CAP.TO: how long a host waits for CSTS.RDY, in 500 ms units (enabling here is immediate; 15 s is the host's patience). */
const CAP_TIMEOUT_HALF_SECONDS: u32 = 30;

function width(sqe: usize): u32 { return propertyIs8Bytes(sqe) ? 8 : 4; }

export function propertyGet(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const ct = changetype<NvmfCtrlr>(changetype<NvmfQpair>(r.qpair).ctrlr);
  const ofst = propertyOffset(r.sqe);
  if (propertyBytes(ofst) == 0 || propertyBytes(ofst) != width(r.sqe)) { nvmfReqComplete(req, STATUS_INVALID_FIELD, 0); return; }
  let value: u64 = 0;
  if (ofst == PROP_CAP) value = capValue(changetype<NvmfTransportLimits>(ct.limits).maxQueueDepth, CAP_TIMEOUT_HALF_SECONDS);
  else if (ofst == PROP_VS) value = VS_1_3;
  else if (ofst == PROP_CC) value = ct.cc;
  else if (ofst == PROP_CSTS) value = ct.csts;
  else if (ofst == PROP_AQA) value = ct.aqa;
  else if (ofst == PROP_ASQ) value = ct.asq;
  else if (ofst == PROP_ACQ) value = ct.acq;
  else { nvmfReqComplete(req, STATUS_INVALID_FIELD, 0); return; }   // NSSR: no subsystem reset (CAP.NSSRS 0)
  nvmfReqCompleteValue(req, STATUS_SUCCESS, value);
}

export function propertySet(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const c = changetype<NvmfQpair>(r.qpair).ctrlr;
  const ct = changetype<NvmfCtrlr>(c);
  const ofst = propertyOffset(r.sqe);
  const value = propertyValue(r.sqe);
  let ok = propertyBytes(ofst) != 0 && propertyBytes(ofst) == width(r.sqe);
  if (ok) {
    if (ofst == PROP_CC) ok = ccSet(c, <u32>value);
    else if (ofst == PROP_AQA) ct.aqa = <u32>value;
    else if (ofst == PROP_ASQ) ct.asq = value;
    else if (ofst == PROP_ACQ) ct.acq = value;
    else ok = false;                      // CAP, VS, CSTS are read-only; NSSR absent
  }
  nvmfReqComplete(req, ok ? STATUS_SUCCESS : STATUS_INVALID_FIELD, 0);
}

/** A CC write: false (Invalid Field, nothing changed) for values this controller cannot take. */
function ccSet(c: usize, cc: u32): bool {
  const ct = changetype<NvmfCtrlr>(c);
  const isIo = changetype<NvmfSubsystem>(ct.subsys).isDiscovery == 0;
  const was = ct.cc;
  if (ccEnabled(cc) && !ccEnabled(was)) {
    // Entry sizes matter to an I/O controller only (a discovery controller has no I/O queues).
    if (ccCssMpsAms(cc) != 0) return false;
    if (isIo && (ccIosqes(cc) != CC_IOSQES_64B || ccIocqes(cc) != CC_IOCQES_16B)) return false;
    ct.cc = cc;
    ct.csts = CSTS_RDY;
    return true;
  }
  if (!ccEnabled(cc) && ccEnabled(was)) {
    ct.cc = cc;
    ct.csts = 0;
    ct.shutdown = 0;
    ctrlrDisconnect(c, true);
    aerAbortAll(c);
    return true;
  }
  if (ccShn(cc) != 0 && ccShn(was) == 0 && ccEnabled(cc)) {
    ct.cc = cc;
    ct.shutdown = 1;
    ct.csts = (ct.csts & ~CSTS_SHST_MASK) | (SHST_OCCURRING << CSTS_SHST_SHIFT);
    if (ctrlrDisconnect(c, true) == 0) ctrlrShutdownComplete(ct);
    return true;
  }
  ct.cc = (cc & ~CC_EN) | (was & CC_EN);
  return true;
}
