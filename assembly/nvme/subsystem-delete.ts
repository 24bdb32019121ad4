// Deleting a subsystem with hosts connected, without blocking any thread: unlinked first (Connect no
// longer finds it), every controller is asked to end on its own thread (its qpairs disconnect through
// their transports; their in-flight commands complete there), and once the last controller is gone the
// namespaces close (each waits for its own I/O); then the subsystem is freed and the caller told.
// Runs on the subsystem's owner (the app thread).
import { contextThread } from "../runtime";
import { registryLock, registryUnlock } from "./registry";
import {
  NvmfSubsystem, SubsystemDeleteDone, DELETE_NAMESPACES, subsystemUnlink, subsystemFree, subsystemNs, subsystemNsSet,
} from "./subsystem";
import { ctrlrUnref, ctrlrFail, ctrlrsHoldLocked, ctrlrsSend } from "./ctrlr";
import { nvmfNsClose } from "./ns";

/** nvmf_subsystem_delete: 0 (done(ctx, 0) follows once it is gone) or -errno after a report. */
export function subsystemDelete(sub: usize, done: SubsystemDeleteDone, ctx: usize): i32 {
  const s = changetype<NvmfSubsystem>(sub);
  const rc = subsystemUnlink(sub);
  if (rc != 0) return rc;
  assert(s.owner == contextThread(), "subsystemDelete: not on the subsystem's owner thread");
  s.deleteDone = changetype<usize>(done);
  s.deleteCtx = ctx;
  registryLock();
  const held = ctrlrsHoldLocked(sub);
  registryUnlock();
  ctrlrsSend(held, endOnCtrlr);
  deleteStep(sub);
  return 0;
}

function endOnCtrlr(c: usize): void {
  ctrlrFail(c);
  ctrlrUnref(c);
}

/** ctrlr.ts, on the owner thread: a controller of `sub` was freed. */
export function subsystemCtrlrGoneMsg(sub: usize): void {
  const s = changetype<NvmfSubsystem>(sub);
  registryLock();
  assert(s.ctrlrCount > 0, "subsystemCtrlrGone: no controller counted");
  s.ctrlrCount--;
  registryUnlock();
  if (s.deleting != 0) deleteStep(sub);
}

/** A namespace removed on its own finished closing while the subsystem is deleted: the delete may go on. */
export function subsystemNsClosed(sub: usize): void {
  const s = changetype<NvmfSubsystem>(sub);
  assert(s.nsClosing > 0, "subsystemNsClosed: no namespace closing");
  s.nsClosing--;
  if (s.deleting != 0) deleteStep(sub);
}

function deleteStep(sub: usize): void {
  const s = changetype<NvmfSubsystem>(sub);
  if (s.ctrlrCount != 0 || s.nsClosing != 0) return;
  if (s.deleting != DELETE_NAMESPACES) {
    // No controller is left to send I/O: each namespace closes (its channels drain on every thread).
    s.deleting = DELETE_NAMESPACES;
    for (let nsid: u32 = 1; nsid <= s.maxNamespaces; nsid++) {
      const ns = subsystemNs(sub, nsid);
      if (ns == 0) continue;
      subsystemNsSet(sub, nsid, 0);
      s.nsCount--;
      s.nsClosing++;
      nvmfNsClose(ns, subsystemNsClosed, sub);
    }
    if (s.nsClosing != 0) return;
  }
  assert(s.nsCount == 0, "subsystem delete: namespaces left");
  const done = changetype<SubsystemDeleteDone>(s.deleteDone);
  const ctx = s.deleteCtx;
  subsystemFree(sub);
  done(ctx, 0);
}
