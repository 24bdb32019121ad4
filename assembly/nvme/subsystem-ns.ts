// Namespaces in a subsystem (nvmf_ns_add / nvmf_ns_remove, and the bdev's own hot-remove and resize):
// opened and closed through the namespace layer (ns.ts) on the app thread; every controller of the
// subsystem hears of each change through a namespace attribute notice (aer.ts). A namespace leaves
// the routing table before its close begins, so no new command reaches it.
import { heapAlloc, heapFree, report, LEVEL_ERROR, LEVEL_NOTICE, EINVAL, EEXIST, ENOSPC, ENOENT, ENOMEM } from "../runtime";
import { MsgFn } from "../thread";
import {
  NvmfSubsystem, subsystemNqn, subsystemNs, subsystemNsSet, subsystemFreeNsid,
} from "./subsystem";
import { subsystemNsClosed } from "./subsystem-delete";
import { aerNamespaceChanged } from "./aer";
import { NvmfNs, nvmfNsOpen, nvmfNsClose, NS_EVENT_RESIZED, NS_EVENT_REMOVED } from "./ns";
import { reportAscii } from "./report";

// nvmfNsOpen writes the namespace here (app thread only: one at a time).
const opened = memory.data(8);

/** nvmf_ns_add: the NSID (> 0), or -errno after a report. App thread. */
export function subsystemNsAdd(sub: usize, bdevId: u32, nsid: u32, uuid16: usize, nguid16: usize, eui64_8: usize): i32 {
  const s = changetype<NvmfSubsystem>(sub);
  if (s.isDiscovery != 0 || s.deleting != 0) {
    report(LEVEL_ERROR, -EINVAL, s.isDiscovery != 0 ? "nvmf: the discovery subsystem has no namespaces" : "nvmf: the subsystem is being deleted");
    return -EINVAL;
  }
  let id = nsid;
  if (id == 0) {
    id = subsystemFreeNsid(sub);
    if (id == 0) {
      reportAscii(LEVEL_ERROR, -ENOSPC, "nvmf: %s has all its %d namespaces (max_namespaces)", subsystemNqn(sub), 0, <f64>s.maxNamespaces);
      return -ENOSPC;
    }
  } else if (id > s.maxNamespaces) {
    reportAscii(LEVEL_ERROR, -EINVAL, "nvmf: %s: nsid %d is above its max_namespaces %d", subsystemNqn(sub), 0, <f64>id, <f64>s.maxNamespaces);
    return -EINVAL;
  } else if (subsystemNs(sub, id) != 0) {
    reportAscii(LEVEL_ERROR, -EEXIST, "nvmf: %s has a namespace %d already", subsystemNqn(sub), 0, <f64>id);
    return -EEXIST;
  }
  const rc = nvmfNsOpen(opened, subsystemNqn(sub), bdevId, id, uuid16, nguid16, eui64_8, changetype<usize>(nsEvent), sub);
  if (rc < 0) return rc;
  subsystemNsSet(sub, id, load<usize>(opened));
  s.nsCount++;
  aerNamespaceChanged(sub, id);
  return <i32>id;
}

@unmanaged class RemoveCtx { sub: usize; done: usize; ctx: usize; }

/** nvmf_ns_remove: 0 (done(ctx) follows once the namespace is closed) or -errno after a report. App thread. */
export function subsystemNsRemove(sub: usize, nsid: u32, done: MsgFn, ctx: usize): i32 {
  const s = changetype<NvmfSubsystem>(sub);
  const ns = subsystemNs(sub, nsid);
  if (ns == 0 || s.deleting != 0) {
    reportAscii(LEVEL_ERROR, -ENOENT, "nvmf: %s has no namespace %d", subsystemNqn(sub), 0, <f64>nsid);
    return -ENOENT;
  }
  const rc = changetype<RemoveCtx>(heapAlloc(offsetof<RemoveCtx>()));
  if (changetype<usize>(rc) == 0) return -ENOMEM;
  rc.sub = sub; rc.done = changetype<usize>(done); rc.ctx = ctx;
  subsystemNsSet(sub, nsid, 0);
  s.nsCount--;
  s.nsClosing++;
  aerNamespaceChanged(sub, nsid);
  nvmfNsClose(ns, removeClosed, changetype<usize>(rc));
  return 0;
}

function removeClosed(ctx: usize): void {
  const rc = changetype<RemoveCtx>(ctx);
  const sub = rc.sub, done = rc.done, doneCtx = rc.ctx;
  heapFree(ctx);
  if (done != 0) changetype<MsgFn>(done)(doneCtx);
  subsystemNsClosed(sub);
}

function nothing(_ctx: usize): void {}

/** The namespace layer's events, on the app thread (eventCtx: the subsystem). */
function nsEvent(sub: usize, ns: usize, kind: u32): void {
  const nsid = changetype<NvmfNs>(ns).nsid;
  if (subsystemNs(sub, nsid) != ns) return;     // removed already; its close is under way
  if (kind == NS_EVENT_RESIZED) { aerNamespaceChanged(sub, nsid); return; }
  assert(kind == NS_EVENT_REMOVED, "nvmf: unknown namespace event");
  reportAscii(LEVEL_NOTICE, 0, "nvmf: %s: the bdev of namespace %d is going away; the namespace is removed", subsystemNqn(sub), 0, <f64>nsid);
  if (subsystemNsRemove(sub, nsid, nothing, 0) != 0) report(LEVEL_ERROR, -ENOMEM, "nvmf: namespace %d could not be removed (no memory)", 0, 0, <f64>nsid);
}
