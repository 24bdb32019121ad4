// The target core's entry points for transports (transport.ts has the contract). This first version
// accepts no command: every request completes with Invalid Opcode. The controller model replaces it.

import { NvmfQpair, NvmfReq, QPAIR_NEW, QPAIR_CLOSING } from "./transport";
import { STATUS_INVALID_OPCODE } from "./spec";
import { nvmfReqComplete } from "./complete";
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

export function nvmfReqExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  assert(q.thread == contextThread(), "nvmfReqExec: not on the qpair's thread");
  assert(q.state != QPAIR_CLOSING, "nvmfReqExec: the qpair is closing");
  q.outstanding++;
  nvmfReqComplete(req, STATUS_INVALID_OPCODE, 0);
}

export function nvmfQpairClose(qpair: usize, done: MsgFn, ctx: usize): void {
  const q = changetype<NvmfQpair>(qpair);
  assert(q.thread == contextThread(), "nvmfQpairClose: not on the qpair's thread");
  q.state = QPAIR_CLOSING;
  sendMsg(q.thread, done, ctx);
}
