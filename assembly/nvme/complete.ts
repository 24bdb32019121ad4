// How every NVMe-oF request ends: the CQE filled from the request and its qpair, the qpair's count
// of requests the core holds lowered, the transport handed the request back. The controller (target.ts)
// and the I/O path (io.ts) both complete through here, so the exactly-once rule has one home.

import { NvmfQpair, NvmfReq, NvmfTransportOps, ReqCompleteFn, QPAIR_CLOSING } from "./transport";
import { cqeSetCid, cqeSetSqid, cqeSetSqhd, cqeSetStatus, cqeSetDw0, cqeSetDw1, sqeCid } from "./spec";
import { sendMsg } from "../thread";

/** Fill `req`'s CQE (status: spec.ts STATUS_*; dw0: the command-specific result) and give it back to its transport. */
export function nvmfReqComplete(req: usize, status: u32, dw0: u32): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  fillCqe(r, q, status, dw0);
  assert(q.outstanding > 0, "nvmfReqComplete: the qpair holds no request (completed twice?)");
  q.outstanding--;
  changetype<ReqCompleteFn>(changetype<NvmfTransportOps>(q.ops).complete)(req);
  // A closing qpair waits for its last request (nvmfQpairClose armed closeDone).
  if (q.state == QPAIR_CLOSING && q.outstanding == 0 && q.closeDone != 0) {
    const done = q.closeDone;
    q.closeDone = 0;
    sendMsg(q.thread, changetype<(ctx: usize) => void>(done), q.closeCtx);
  }
}

/** Complete a request the core never took (nvmfReqExec was not called): a transport refusing its data pointer. */
export function nvmfReqCompleteError(req: usize, status: u32): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  fillCqe(r, q, status, 0);
  changetype<ReqCompleteFn>(changetype<NvmfTransportOps>(q.ops).complete)(req);
}

function fillCqe(r: NvmfReq, q: NvmfQpair, status: u32, dw0: u32): void {
  cqeSetDw0(r.cqe, dw0);
  cqeSetDw1(r.cqe, 0);
  cqeSetSqhd(r.cqe, <u16>q.sqhd);
  cqeSetSqid(r.cqe, <u16>q.qid);
  cqeSetCid(r.cqe, sqeCid(r.sqe));
  cqeSetStatus(r.cqe, status);
}
