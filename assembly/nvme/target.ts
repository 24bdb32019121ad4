// The target core's entry points for transports (transport.ts has the contract). This first version
// accepts no command: every request completes with Invalid Opcode. The controller model replaces it.

import { NvmfQpair, NvmfReq, NvmfTransportOps, ReqCompleteFn, QPAIR_NEW, QPAIR_CLOSING } from "./transport";
import { STATUS_INVALID_OPCODE, cqeSetCid, cqeSetSqid, cqeSetSqhd, cqeSetStatus, cqeSetDw0, cqeSetDw1, sqeCid } from "./spec";
import { sendMsg, MsgFn } from "../thread";
import { contextThread } from "../runtime/context";

export function nvmfQpairInit(qpair: usize, ops: usize, transportCtx: usize, listener: u32): void {
  const q = changetype<NvmfQpair>(qpair);
  memory.fill(qpair, 0, offsetof<NvmfQpair>());
  q.ops = ops;
  q.transportCtx = transportCtx;
  q.thread = contextThread();
  q.listener = listener;
  q.state = QPAIR_NEW;
}

/** Complete `req` with `status` (spec.ts STATUS_*) without executing it: for transports refusing a command's data pointer. */
export function nvmfReqCompleteError(req: usize, status: u32): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  fillCqe(r, q, status);
  changetype<ReqCompleteFn>(changetype<NvmfTransportOps>(q.ops).complete)(req);
}

export function nvmfReqExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  assert(q.thread == contextThread(), "nvmfReqExec: not on the qpair's thread");
  assert(q.state != QPAIR_CLOSING, "nvmfReqExec: the qpair is closing");
  nvmfReqCompleteError(req, STATUS_INVALID_OPCODE);
}

export function nvmfQpairClose(qpair: usize, done: MsgFn, ctx: usize): void {
  const q = changetype<NvmfQpair>(qpair);
  assert(q.thread == contextThread(), "nvmfQpairClose: not on the qpair's thread");
  q.state = QPAIR_CLOSING;
  sendMsg(q.thread, done, ctx);
}

function fillCqe(r: NvmfReq, q: NvmfQpair, status: u32): void {
  cqeSetDw0(r.cqe, 0);
  cqeSetDw1(r.cqe, 0);
  cqeSetSqhd(r.cqe, <u16>q.sqhd);
  cqeSetSqid(r.cqe, <u16>q.qid);
  cqeSetCid(r.cqe, sqeCid(r.sqe));
  cqeSetStatus(r.cqe, status);
}
