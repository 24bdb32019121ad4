// How a qpair leaves: nvmfQpairClose marks it closing and hands back what the controller held on it
// (AERs); once the core holds no request of it (complete.ts), it detaches from its controller on the
// controller's thread, and done(ctx) runs on the qpair's own thread after that. While the detach is on
// its way the qpair's outstanding count carries one hold, so nothing ends it twice.
import { contextThread } from "../runtime";
import { nvmfSend } from "./send";
import { NvmfQpair, QPAIR_CONNECTED, QPAIR_CLOSING } from "./transport";
import { nvmfQpairRelease } from "./complete";
import { NvmfCtrlr, ctrlrDetach } from "./ctrlr";
import { aerAbortAll } from "./aer";

type CloseDoneFn = (ctx: usize) => void;

/** The transport's call when a connection ends (transport.ts). Once per qpair, on its thread. */
export function nvmfQpairClose(qpair: usize, done: CloseDoneFn, ctx: usize): void {
  const q = changetype<NvmfQpair>(qpair);
  assert(q.thread == contextThread(), "nvmfQpairClose: not on the qpair's thread");
  assert(q.state != QPAIR_CLOSING, "nvmfQpairClose: called twice");
  const wasConnected = q.state == QPAIR_CONNECTED;
  q.state = QPAIR_CLOSING;
  q.closeDone = changetype<usize>(done);
  q.closeCtx = ctx;
  q.outstanding++;                       // the close's own hold, so the AERs' completions cannot end it early
  // The admin qpair is on its controller's thread: the AERs it holds come back now, aborted.
  if (wasConnected && q.qid == 0 && q.ctrlr != 0) aerAbortAll(q.ctrlr);
  nvmfQpairRelease(qpair);
}

/** complete.ts: a closing qpair's last request is back. */
export function nvmfQpairDrained(qpair: usize): void {
  const q = changetype<NvmfQpair>(qpair);
  if (q.ctrlr != 0) {
    q.outstanding++;                     // the detach's hold
    nvmfSend(changetype<NvmfCtrlr>(q.ctrlr).thread, detachOnCtrlr, qpair);
    return;
  }
  assert(q.closeDone != 0, "nvmfQpairDrained: the close already ended");
  const done = q.closeDone;
  q.closeDone = 0;
  changetype<CloseDoneFn>(done)(q.closeCtx);
}

function detachOnCtrlr(qpair: usize): void {
  ctrlrDetach(changetype<NvmfQpair>(qpair).ctrlr, qpair);
  nvmfSend(changetype<NvmfQpair>(qpair).thread, detached, qpair);
}

function detached(qpair: usize): void {
  changetype<NvmfQpair>(qpair).ctrlr = 0;
  nvmfQpairRelease(qpair);
}
