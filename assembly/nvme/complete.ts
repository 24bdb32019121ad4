// How every NVMe-oF request ends: the CQE filled from the request and its qpair, the qpair's count
// of requests the core holds lowered, the transport handed the request back, a closing qpair's close
// carried on once its last request is back (qpair-close.ts). The controller (target.ts)
// and the I/O path (io.ts) both complete through here, so the exactly-once rule has one home.

import { NvmfQpair, NvmfReq, NvmfTransportOps, ReqCompleteFn, QPAIR_CLOSING } from "./transport";
import { cqeSetCid, cqeSetSqid, cqeSetSqhd, cqeSetStatus, cqeSetDw0, cqeSetDw1, sqeCid } from "./spec";
import { nvmfQpairDrained } from "./qpair-close";

/** Fill `req`'s CQE (status: spec.ts STATUS_*; dw0: the command-specific result) and give it back to its transport. */
export function nvmfReqComplete(req: usize, status: u32, dw0: u32): void { nvmfReqCompleteValue(req, status, <u64>dw0); }

/** nvmfReqComplete with a 64-bit result in DW0 and DW1 (Fabrics Property Get of an 8-byte property). */
export function nvmfReqCompleteValue(req: usize, status: u32, value: u64): void {
  const r = changetype<NvmfReq>(req);
  const q = changetype<NvmfQpair>(r.qpair);
  fillCqe(r, q, status, <u32>value);
  cqeSetDw1(r.cqe, <u32>(value >> 32));
  assert(q.outstanding > 0, "nvmfReqComplete: the qpair holds no request (completed twice?)");
  q.outstanding--;
  changetype<ReqCompleteFn>(changetype<NvmfTransportOps>(q.ops).complete)(req);
  // A closing qpair waits for its last request (nvmfQpairClose armed closeDone), then leaves its controller.
  if (q.state == QPAIR_CLOSING && q.outstanding == 0) nvmfQpairDrained(r.qpair);
}

/** A hold on a closing qpair (taken by the close itself or its detach) let go: the same end as its last request's. */
export function nvmfQpairRelease(qpair: usize): void {
  const q = changetype<NvmfQpair>(qpair);
  assert(q.state == QPAIR_CLOSING && q.outstanding > 0, "nvmfQpairRelease: no hold on a closing qpair");
  q.outstanding--;
  if (q.outstanding == 0) nvmfQpairDrained(qpair);
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
