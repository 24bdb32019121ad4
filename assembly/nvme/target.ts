// The target core's entry points for transports (transport.ts has the contract): a qpair's start,
// and the dispatch of each command: Fabrics (Connect, Property Get/Set), admin commands on queue 0,
// I/O commands to the namespace's I/O path (io.ts). nvmfQpairClose is in qpair-close.ts.
import { contextThread } from "../runtime";
import { NvmfQpair, NvmfReq, QPAIR_NEW, QPAIR_CONNECTED, QPAIR_CLOSING } from "./transport";
import { STATUS_INVALID_OPCODE, STATUS_COMMAND_SEQUENCE_ERROR, OPC_FABRICS, OPC_READ, OPC_WRITE, sqeOpcode, sqeNsid, sqeCdw } from "./spec";
import { FCTYPE_CONNECT, FCTYPE_PROPERTY_GET, FCTYPE_PROPERTY_SET, fabricsType, CC_EN } from "./fabrics";
import { nvmfReqComplete } from "./complete";
import { connectExec } from "./connect";
import { propertyGet, propertySet } from "./property";
import { adminExec } from "./admin";
import { NvmfCtrlr } from "./ctrlr";
import { subsystemNs } from "./subsystem";
import { NvmfNs } from "./ns";
import { nvmfIoExec } from "./io";

export function nvmfQpairInit(qpair: usize, ops: usize, transportCtx: usize, listener: u32): void {
  const q = changetype<NvmfQpair>(qpair);
  memory.fill(qpair, 0, offsetof<NvmfQpair>());
  q.ops = ops;
  q.transportCtx = transportCtx;
  q.thread = contextThread();
  q.listener = listener;
  q.state = QPAIR_NEW;
}

export function nvmfReqExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  assert(q.thread == contextThread(), "nvmfReqExec: not on the qpair's thread");
  assert(q.state != QPAIR_CLOSING, "nvmfReqExec: the qpair is closing");
  q.outstanding++;
  if (q.sqsize != 0) q.sqhd = (q.sqhd + 1) % q.sqsize;
  const opc = sqeOpcode(r.sqe);
  if (opc == OPC_FABRICS) fabricsExec(req, q);
  else if (q.state != QPAIR_CONNECTED) nvmfReqComplete(req, STATUS_COMMAND_SEQUENCE_ERROR, 0);
  else if (q.qid == 0) adminExec(req);
  else ioExec(req, q);
}

function fabricsExec(req: usize, q: NvmfQpair): void {
  const fctype = fabricsType(changetype<NvmfReq>(req).sqe);
  if (fctype == FCTYPE_CONNECT) {
    // One Connect per qpair: a second one while the first is still out (outstanding counts this one too)
    // or after it made a controller is out of sequence.
    if (q.state != QPAIR_NEW || q.ctrlr != 0 || q.outstanding > 1) nvmfReqComplete(req, STATUS_COMMAND_SEQUENCE_ERROR, 0);
    else connectExec(req);
  } else if (q.state != QPAIR_CONNECTED) nvmfReqComplete(req, STATUS_COMMAND_SEQUENCE_ERROR, 0);
  else if (q.qid != 0) nvmfReqComplete(req, STATUS_INVALID_OPCODE, 0);     // properties live on the admin queue
  else if (fctype == FCTYPE_PROPERTY_GET) propertyGet(req);
  else if (fctype == FCTYPE_PROPERTY_SET) propertySet(req);
  else nvmfReqComplete(req, STATUS_INVALID_OPCODE, 0);                      // authentication: not offered
}

function ioExec(req: usize, q: NvmfQpair): void {
  const r = changetype<NvmfReq>(req);
  const ct = changetype<NvmfCtrlr>(q.ctrlr);
  // Read across threads: a controller being reset has asked this queue to go; until it is gone, nothing runs.
  if ((atomic.load<u32>(q.ctrlr + offsetof<NvmfCtrlr>("cc")) & CC_EN) == 0) { nvmfReqComplete(req, STATUS_COMMAND_SEQUENCE_ERROR, 0); return; }
  const ns = subsystemNs(ct.subsys, sqeNsid(r.sqe));
  const opc = sqeOpcode(r.sqe);
  if (ns != 0 && (opc == OPC_READ || opc == OPC_WRITE)) countIo(q.ctrlr, opc == OPC_READ, (<u64>(sqeCdw(r.sqe, 12) & 0xffff) + 1) * <u64>changetype<NvmfNs>(ns).blockSize);
  nvmfIoExec(req, ns);
}

/** SMART counters (log-page.ts): commands and bytes the host asked for, counted as they arrive. */
function countIo(c: usize, read: bool, bytes: u64): void {
  atomic.add<u64>(c + (read ? offsetof<NvmfCtrlr>("readCommands") : offsetof<NvmfCtrlr>("writeCommands")), 1);
  atomic.add<u64>(c + (read ? offsetof<NvmfCtrlr>("bytesRead") : offsetof<NvmfCtrlr>("bytesWritten")), bytes);
}
