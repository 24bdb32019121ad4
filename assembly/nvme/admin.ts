// The admin command set on an admin queue, by opcode. A discovery controller takes only what nvmet's
// does (Identify, Get Log Page, Set/Get Features, AER, Keep Alive); a controller not enabled (CC.EN,
// CSTS.RDY) takes none (Command Sequence Error). Every command here ends inside the call, except an
// AER, which the controller holds (aer.ts).
import { NvmfReq, NvmfQpair } from "./transport";
import { STATUS_SUCCESS, STATUS_INVALID_OPCODE, STATUS_COMMAND_SEQUENCE_ERROR, sqeOpcode, sqeCdw } from "./spec";
import { CSTS_RDY, CC_EN } from "./fabrics";
import { nvmfReqComplete } from "./complete";
import { NvmfSubsystem } from "./subsystem";
import { NvmfCtrlr, ctrlrKeepAlive } from "./ctrlr";
import { aerExec, aerAbort } from "./aer";
import { identifyExec } from "./admin-identify";
import { getLogPageExec } from "./log-page";
import { setFeaturesExec, getFeaturesExec } from "./features";

export const ADMIN_GET_LOG_PAGE: u8 = 0x02;
export const ADMIN_IDENTIFY: u8 = 0x06;
export const ADMIN_ABORT: u8 = 0x08;
export const ADMIN_SET_FEATURES: u8 = 0x09;
export const ADMIN_GET_FEATURES: u8 = 0x0a;
export const ADMIN_ASYNC_EVENT_REQUEST: u8 = 0x0c;
export const ADMIN_KEEP_ALIVE: u8 = 0x18;

function discoveryTakes(opc: u8): bool {
  return opc == ADMIN_IDENTIFY || opc == ADMIN_GET_LOG_PAGE || opc == ADMIN_SET_FEATURES || opc == ADMIN_GET_FEATURES
    || opc == ADMIN_ASYNC_EVENT_REQUEST || opc == ADMIN_KEEP_ALIVE;
}

export function adminExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const c = changetype<NvmfQpair>(r.qpair).ctrlr;
  const ct = changetype<NvmfCtrlr>(c);
  const opc = sqeOpcode(r.sqe);
  if ((ct.cc & CC_EN) == 0 || (ct.csts & CSTS_RDY) == 0) { nvmfReqComplete(req, STATUS_COMMAND_SEQUENCE_ERROR, 0); return; }
  if (changetype<NvmfSubsystem>(ct.subsys).isDiscovery != 0 && !discoveryTakes(opc)) { nvmfReqComplete(req, STATUS_INVALID_OPCODE, 0); return; }
  if (opc == ADMIN_IDENTIFY) identifyExec(req);
  else if (opc == ADMIN_GET_LOG_PAGE) getLogPageExec(req);
  else if (opc == ADMIN_SET_FEATURES) setFeaturesExec(req);
  else if (opc == ADMIN_GET_FEATURES) getFeaturesExec(req);
  else if (opc == ADMIN_ASYNC_EVENT_REQUEST) aerExec(req);
  else if (opc == ADMIN_KEEP_ALIVE) { ctrlrKeepAlive(c); nvmfReqComplete(req, STATUS_SUCCESS, 0); }
  else if (opc == ADMIN_ABORT) {
    // DW10: SQID in bits 0-15, CID in 16-31. Only a held AER can still be taken back; DW0 bit 0 = 1: not aborted.
    const cdw10 = sqeCdw(r.sqe, 10);
    const aborted = (cdw10 & 0xffff) == 0 && aerAbort(c, cdw10 >> 16);
    nvmfReqComplete(req, STATUS_SUCCESS, aborted ? 0 : 1);
  } else nvmfReqComplete(req, STATUS_INVALID_OPCODE, 0);
}
