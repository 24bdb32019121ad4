// Asynchronous Event Requests: up to AER_MAX held per controller on its admin queue, answered when an
// event the host enabled (Async Event Configuration) is pending: here the namespace attribute notice,
// raised when a namespace is added, removed or resized. After one notice the next waits until the host
// reads the changed namespace list (log page 04), as the spec has it. The list itself is written on
// the app thread and read on the controller's thread, both under registryLock.
import { nvmfSend } from "./send";
import { NvmfReq, NvmfQpair } from "./transport";
import { SCT_COMMAND_SPECIFIC, STATUS_DNR, STATUS_ABORTED_BY_REQUEST, STATUS_ABORTED_SQ_DELETION, STATUS_SUCCESS, status, sqeCid } from "./spec";
import { OAES_NS_ATTRIBUTE, LID_CHANGED_NS, CHANGED_NS_MAX, CHANGED_NS_OVERFLOW } from "./identify";
import { nvmfReqComplete } from "./complete";
import { registryLock, registryUnlock } from "./registry";
import { NvmfSubsystem } from "./subsystem";
import { NvmfCtrlr, AER_MAX, ctrlrAerSlot, ctrlrUnref, ctrlrsHoldLocked, ctrlrsSend } from "./ctrlr";

const SC_AER_LIMIT_EXCEEDED: u32 = 0x05;
/** Completion DW0 of a notice: event type 2 (notice) in bits 0-2, info in 8-15, the log page to read in 16-23. */
const AEN_TYPE_NOTICE: u32 = 2;
const AEN_INFO_NS_ATTRIBUTE: u32 = 0;

/** Asynchronous Event Request (admin opcode 0x0c): held, or answered now when a notice waits. */
export function aerExec(req: usize): void {
  const c = changetype<NvmfQpair>(changetype<NvmfReq>(req).qpair).ctrlr;
  const ct = changetype<NvmfCtrlr>(c);
  if (ct.aerCount >= AER_MAX) { nvmfReqComplete(req, status(SCT_COMMAND_SPECIFIC, SC_AER_LIMIT_EXCEEDED) | STATUS_DNR, 0); return; }
  for (let i: u32 = 0; i < AER_MAX; i++) {
    if (load<usize>(ctrlrAerSlot(c, i)) != 0) continue;
    store<usize>(ctrlrAerSlot(c, i), req);
    ct.aerCount++;
    break;
  }
  aerDeliver(c);
}

/** Answer a held AER if a notice is pending, enabled and not masked. */
function aerDeliver(c: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  if (ct.nsNoticePending == 0 || ct.nsNoticeMasked != 0 || (ct.aec & OAES_NS_ATTRIBUTE) == 0 || ct.aerCount == 0) return;
  const req = takeAer(c, 0xffffffff);
  ct.nsNoticePending = 0;
  ct.nsNoticeMasked = 1;
  nvmfReqComplete(req, STATUS_SUCCESS, AEN_TYPE_NOTICE | (AEN_INFO_NS_ATTRIBUTE << 8) | (<u32>LID_CHANGED_NS << 16));
}

/** Take the held AER with command id `cid` (0xffffffff: any); 0 when there is none. */
function takeAer(c: usize, cid: u32): usize {
  for (let i: u32 = 0; i < AER_MAX; i++) {
    const req = load<usize>(ctrlrAerSlot(c, i));
    if (req == 0 || (cid != 0xffffffff && <u32>sqeCid(changetype<NvmfReq>(req).sqe) != cid)) continue;
    store<usize>(ctrlrAerSlot(c, i), 0);
    changetype<NvmfCtrlr>(c).aerCount--;
    return req;
  }
  return 0;
}

/** Every held AER back, aborted (the admin queue closes, or the controller resets). */
export function aerAbortAll(c: usize): void {
  for (let req = takeAer(c, 0xffffffff), n: u32 = 0; req != 0 && n < AER_MAX; req = takeAer(c, 0xffffffff), n++) {
    nvmfReqComplete(req, STATUS_ABORTED_SQ_DELETION, 0);
  }
  assert(changetype<NvmfCtrlr>(c).aerCount == 0, "aerAbortAll: AERs left");
}

/** Abort: the held AER with `cid`, if there is one (true: aborted). */
export function aerAbort(c: usize, cid: u32): bool {
  const req = takeAer(c, cid);
  if (req == 0) return false;
  nvmfReqComplete(req, STATUS_ABORTED_BY_REQUEST, 0);
  return true;
}

/** The host changed its Async Event Configuration: a notice it now wants may go out. */
export function aerConfigured(c: usize): void { aerDeliver(c); }

// ---- the changed namespace list ----

/** Under registryLock: note `nsid` in c's changed list. */
function noteChangedLocked(ct: NvmfCtrlr, nsid: u32): void {
  if (ct.changedCount > CHANGED_NS_MAX) return;
  for (let i: u32 = 0; i < ct.changedCount; i++) if (load<u32>(ct.changedNs + (<usize>i << 2)) == nsid) return;
  if (ct.changedCount == CHANGED_NS_MAX) { ct.changedCount = CHANGED_NS_MAX + 1; return; }
  store<u32>(ct.changedNs + (<usize>ct.changedCount << 2), nsid);
  ct.changedCount++;
}

/** App thread: namespace `nsid` of `sub` was added, removed or resized; every controller of it hears. */
export function aerNamespaceChanged(sub: usize, nsid: u32): void {
  const s = changetype<NvmfSubsystem>(sub);
  registryLock();
  let c = s.ctrlrs;
  for (let i: u32 = 0; c != 0 && i < s.ctrlrCount; i++) {
    noteChangedLocked(changetype<NvmfCtrlr>(c), nsid);
    c = changetype<NvmfCtrlr>(c).next;
  }
  const held = ctrlrsHoldLocked(sub);
  registryUnlock();
  ctrlrsSend(held, noticeOnCtrlr);
}

function noticeOnCtrlr(c: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  if (ct.failed == 0) { ct.nsNoticePending = 1; aerDeliver(c); }
  ctrlrUnref(c);
}

/**
 * Log page 04 into `out` (CHANGED_NS_LIST_BYTES, zeroed): the NSIDs changed since the last read, and
 * unless `retain` (RAE) the list empties and the next notice may go out.
 */
export function changedNsLog(c: usize, out: usize, retain: bool): void {
  const ct = changetype<NvmfCtrlr>(c);
  registryLock();
  if (ct.changedCount > CHANGED_NS_MAX) store<u32>(out, CHANGED_NS_OVERFLOW);
  else memory.copy(out, ct.changedNs, <usize>ct.changedCount << 2);
  if (!retain) ct.changedCount = 0;
  registryUnlock();
  if (!retain) { ct.nsNoticeMasked = 0; aerDeliver(c); }
}
