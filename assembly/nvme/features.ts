// Set Features (0x09) and Get Features (0x0a). Number of Queues, Async Event Configuration and the
// keep-alive timeout act on the controller; arbitration, power management (power state 0 only),
// temperature threshold, error recovery, volatile write cache (on only), interrupt coalescing and
// write atomicity are kept and read back as Linux expects; anything else is Invalid Field. A discovery
// controller has only Async Event Configuration and KATO (as nvmet). Nothing is saveable.
import { NvmfReq, NvmfQpair, NvmfTransportLimits } from "./transport";
import { SCT_COMMAND_SPECIFIC, STATUS_DNR, STATUS_SUCCESS, STATUS_INVALID_FIELD, STATUS_COMMAND_SEQUENCE_ERROR, STATUS_INTERNAL_DEVICE_ERROR, status, sqeCdw } from "./spec";
import { nvmfReqComplete } from "./complete";
import { NvmfSubsystem } from "./subsystem";
import { NvmfCtrlr, ctrlrKatoSet, ctrlrKeepAlive, TEMPERATURE_THRESHOLD_DEFAULT } from "./ctrlr";
import { aerConfigured } from "./aer";

export const FID_ARBITRATION: u32 = 0x01;
export const FID_POWER_MANAGEMENT: u32 = 0x02;
export const FID_TEMPERATURE_THRESHOLD: u32 = 0x04;
export const FID_ERROR_RECOVERY: u32 = 0x05;
export const FID_VOLATILE_WRITE_CACHE: u32 = 0x06;
export const FID_NUMBER_OF_QUEUES: u32 = 0x07;
export const FID_INTERRUPT_COALESCING: u32 = 0x08;
export const FID_WRITE_ATOMICITY: u32 = 0x0a;
export const FID_ASYNC_EVENT_CONFIG: u32 = 0x0b;
export const FID_KEEP_ALIVE_TIMER: u32 = 0x0f;
const SC_FEATURE_NOT_SAVEABLE: u32 = 0x0d;
const SEL_CURRENT: u32 = 0, SEL_SAVED: u32 = 2, SEL_SUPPORTED: u32 = 3;   // 1: default
/** Get Features SEL 3 answer: changeable (bit 2), neither saveable nor namespace specific. */
const CAPABILITY_CHANGEABLE: u32 = 1 << 2;
/** Async Event Configuration bits this controller can send: namespace attribute notices (bit 8). */
const AEC_SUPPORTED: u32 = 1 << 8;

function isDiscovery(ct: NvmfCtrlr): bool { return changetype<NvmfSubsystem>(ct.subsys).isDiscovery != 0; }
function discoveryHas(fid: u32): bool { return fid == FID_ASYNC_EVENT_CONFIG || fid == FID_KEEP_ALIVE_TIMER; }

export function setFeaturesExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const c = changetype<NvmfQpair>(r.qpair).ctrlr;
  const ct = changetype<NvmfCtrlr>(c);
  const cdw10 = sqeCdw(r.sqe, 10), v = sqeCdw(r.sqe, 11);
  const fid = cdw10 & 0xff;
  if ((cdw10 >> 31) != 0) { nvmfReqComplete(req, status(SCT_COMMAND_SPECIFIC, SC_FEATURE_NOT_SAVEABLE) | STATUS_DNR, 0); return; }
  if (isDiscovery(ct) && !discoveryHas(fid)) { nvmfReqComplete(req, STATUS_INVALID_FIELD, 0); return; }
  let st = STATUS_SUCCESS, dw0: u32 = 0;
  if (fid == FID_NUMBER_OF_QUEUES) {
    const sq = v & 0xffff, cq = v >> 16;
    if (sq == 0xffff || cq == 0xffff) st = STATUS_INVALID_FIELD;
    else if (ct.qpairCount > 1) st = STATUS_COMMAND_SEQUENCE_ERROR;   // I/O queues exist: too late (spec)
    else {
      // Granted: as many as asked, up to the transport's limit; the same count of submission and completion queues.
      const most = changetype<NvmfTransportLimits>(ct.limits).maxIoQpairsPerCtrlr;
      const n = min(min(sq, cq) + 1, most);
      ct.ioQueues = n;
      ct.ioQueuesSet = 1;
      dw0 = (n - 1) | ((n - 1) << 16);
    }
  } else if (fid == FID_ASYNC_EVENT_CONFIG) {
    if ((v & ~AEC_SUPPORTED) != 0) st = STATUS_INVALID_FIELD;   // only what Identify's OAES offers (as nvmet)
    else { ct.aec = v & AEC_SUPPORTED; aerConfigured(c); }
  } else if (fid == FID_KEEP_ALIVE_TIMER) {
    if (!ctrlrKatoSet(c, v)) st = STATUS_INTERNAL_DEVICE_ERROR;
  } else if (fid == FID_ARBITRATION) ct.arbitration = v;
  else if (fid == FID_POWER_MANAGEMENT) { if ((v & 0x1f) != 0) st = STATUS_INVALID_FIELD; else ct.powerMgmt = v; }
  else if (fid == FID_TEMPERATURE_THRESHOLD) ct.tempThreshold = v & 0xffff;
  else if (fid == FID_ERROR_RECOVERY) { if ((v >> 16) != 0) st = STATUS_INVALID_FIELD; else ct.errorRecovery = v; }
  else if (fid == FID_VOLATILE_WRITE_CACHE) { if ((v & 1) == 0) st = STATUS_INVALID_FIELD; }  // the cache stays on: flushes persist
  else if (fid == FID_INTERRUPT_COALESCING) ct.intCoalescing = v & 0xffff;
  else if (fid == FID_WRITE_ATOMICITY) ct.writeAtomicity = v & 1;
  else st = STATUS_INVALID_FIELD;
  if (st == STATUS_SUCCESS) ctrlrKeepAlive(c);
  nvmfReqComplete(req, st, dw0);
}

export function getFeaturesExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const ct = changetype<NvmfCtrlr>(changetype<NvmfQpair>(r.qpair).ctrlr);
  const cdw10 = sqeCdw(r.sqe, 10);
  const fid = cdw10 & 0xff, sel = (cdw10 >> 8) & 7;
  if (isDiscovery(ct) && !discoveryHas(fid)) { nvmfReqComplete(req, STATUS_INVALID_FIELD, 0); return; }
  if (sel > SEL_SUPPORTED) { nvmfReqComplete(req, STATUS_INVALID_FIELD, 0); return; }
  const current = sel == SEL_CURRENT || sel == SEL_SAVED;     // nothing is saveable: saved reads as current
  let known = true, v: u32 = 0;
  const most = changetype<NvmfTransportLimits>(ct.limits).maxIoQpairsPerCtrlr;
  if (fid == FID_NUMBER_OF_QUEUES) { const n = current ? ct.ioQueues : most; v = (n - 1) | ((n - 1) << 16); }
  else if (fid == FID_ASYNC_EVENT_CONFIG) v = current ? ct.aec : 0;
  else if (fid == FID_KEEP_ALIVE_TIMER) v = current ? ct.katoMs : 0;
  else if (fid == FID_ARBITRATION) v = current ? ct.arbitration : 0;
  else if (fid == FID_POWER_MANAGEMENT) v = current ? ct.powerMgmt : 0;
  else if (fid == FID_TEMPERATURE_THRESHOLD) v = current ? ct.tempThreshold : TEMPERATURE_THRESHOLD_DEFAULT;
  else if (fid == FID_ERROR_RECOVERY) v = current ? ct.errorRecovery : 0;
  else if (fid == FID_VOLATILE_WRITE_CACHE) v = 1;
  else if (fid == FID_INTERRUPT_COALESCING) v = current ? ct.intCoalescing : 0;
  else if (fid == FID_WRITE_ATOMICITY) v = current ? ct.writeAtomicity : 0;
  else known = false;
  if (!known) { nvmfReqComplete(req, STATUS_INVALID_FIELD, 0); return; }
  nvmfReqComplete(req, STATUS_SUCCESS, sel == SEL_SUPPORTED ? CAPABILITY_CHANGEABLE : v);
}
