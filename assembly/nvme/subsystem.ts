// NVMe-oF subsystems: NQN, serial, model, allowed hosts and listeners, controller id range, the
// namespace table and the list of controllers. The discovery subsystem (DISCOVERY_NQN) is always
// there. Changes run on the app thread under registryLock (registry.ts); a qpair's thread reads under
// the same lock at Connect, and reads a namespace slot with one atomic load per I/O command.
import { heapAllocZeroed, heapFree, contextThread, LEVEL_ERROR, EINVAL, EEXIST, ENOSPC, ENOENT, ENOMEM, report } from "../runtime";
import { NvmfRoot, registryRoot, registryLock, registryUnlock, registryChanged, sameString, cStringBytes, MAX_LISTENERS } from "./registry";
import { DISCOVERY_NQN, NQN_FIELD_BYTES, NQN_MAX_BYTES, nqnProblem } from "./fabrics";
import { IDC_SN_BYTES, IDC_MN_BYTES } from "./identify";
import { reportAscii } from "./report";

/** Subsystems besides the discovery one (SPDK's default max_subsystems). */
export const MAX_SUBSYSTEMS: u32 = 1024;
/** Hosts one subsystem allows by name. */
export const MAX_HOSTS: u32 = 1024;
/** Namespaces one subsystem may have (its max_namespaces; 0 at create means DEFAULT_MAX_NAMESPACES). */
export const MAX_NAMESPACES: u32 = 1024;
export const DEFAULT_MAX_NAMESPACES: u32 = 32;
/** The highest controller id a subsystem may give (NVMe-oF: 0xfff0 and up are reserved). */
export const CNTLID_MAX: u32 = 0xffef;

@unmanaged export class NvmfSubsystem {
  next: usize;            // the root's list
  isDiscovery: u32;
  maxNamespaces: u32;
  allowAnyHost: u32;
  deleting: u32;          // DELETE_*: nvmf_subsystem_delete began; Connect no longer finds it
  owner: usize;           // the app thread it was made on: changes and the delete run there
  minCntlid: u32;
  maxCntlid: u32;
  nextCntlid: u32;        // where the search for a free id starts
  listeners: u64;         // allowed listeners: bit (id - 1)
  hosts: usize;           // Host list
  hostCount: u32;
  ctrlrs: usize;          // NvmfCtrlr list (ctrlr.ts), under registryLock
  ctrlrCount: u32;        // raised at Connect under the lock, lowered on the app thread (ctrlrGone)
  ns: usize;              // maxNamespaces NvmfNs pointers, slot nsid - 1 (0: inactive)
  nsCount: u32;
  nsClosing: u32;         // namespaces whose close is under way (delete waits for them)
  deleteCtx: usize;       // the delete request waiting for controllers and namespaces to go
  deleteDone: usize;      // (ctx: usize, rc: i32) => void
}
// Inline fields after the struct, NUL-terminated.
const SUB_NQN: usize = offsetof<NvmfSubsystem>();
const SUB_SERIAL: usize = SUB_NQN + <usize>NQN_FIELD_BYTES;
const SUB_MODEL: usize = SUB_SERIAL + <usize>IDC_SN_BYTES + 4;
const SUB_BYTES: usize = SUB_MODEL + <usize>IDC_MN_BYTES + 4;

@unmanaged class Host { next: usize; }
const HOST_NQN: usize = offsetof<Host>();
const HOST_BYTES: usize = HOST_NQN + <usize>NQN_FIELD_BYTES;

/** A delete's phases: its controllers end, then its namespaces close. */
export const DELETE_CONTROLLERS: u32 = 1;
export const DELETE_NAMESPACES: u32 = 2;

export type SubsystemDeleteDone = (ctx: usize, rc: i32) => void;

export function subsystemNqn(sub: usize): usize { return sub + SUB_NQN; }
export function subsystemSerial(sub: usize): usize { return sub + SUB_SERIAL; }
export function subsystemModel(sub: usize): usize { return sub + SUB_MODEL; }
export function subsystemOf(sub: usize): NvmfSubsystem { return changetype<NvmfSubsystem>(sub); }

/** The discovery subsystem (made the first time anyone asks; 0 only when out of memory). */
export function discoverySubsystem(): usize {
  const r = registryRoot();
  registryLock();
  if (r.discovery == 0) r.discovery = makeDiscovery();
  const d = r.discovery;
  registryUnlock();
  return d;
}

function makeDiscovery(): usize {
  const at = heapAllocZeroed(SUB_BYTES);
  if (at == 0) return 0;
  const s = changetype<NvmfSubsystem>(at);
  s.isDiscovery = 1;
  s.allowAnyHost = 1;
  s.minCntlid = 1;
  s.maxCntlid = CNTLID_MAX;
  s.nextCntlid = 1;
  for (let i = 0; i < DISCOVERY_NQN.length; i++) store<u8>(at + SUB_NQN + <usize>i, <u8>DISCOVERY_NQN.charCodeAt(i));
  return at;
}

/** A printable ASCII field of at most `cap` bytes: its length, or -1. */
function asciiField(s: usize, cap: u32): i32 {
  const n = cStringBytes(s, cap + 1);
  if (n < 0) return -1;
  for (let i: u32 = 0; i < <u32>n; i++) { const c = load<u8>(s + i); if (c < 0x20 || c > 0x7e) return -1; }
  return n;
}

/** NQN at `nqn` checked: its length, or -EINVAL after a report saying what is wrong. */
export function nqnChecked(nqn: usize, what: string): i32 {
  const n = cStringBytes(nqn, NQN_MAX_BYTES + 1);
  const problem = n < 0 ? "an NQN is at most 223 bytes" : nqnProblem(nqn, <u32>n);
  if (problem == null) return n;
  report(LEVEL_ERROR, -EINVAL, "nvmf: %s: %s", changetype<usize>(what), changetype<usize>(problem));
  return -EINVAL;
}

/** Under registryLock: the subsystem named `nqn` (the discovery one included), or 0. Deleting ones are gone already. */
export function subsystemFind(nqn: usize): usize {
  const r = registryRoot();
  if (r.discovery != 0 && sameString(subsystemNqn(r.discovery), nqn, NQN_FIELD_BYTES)) return r.discovery;
  let s = r.subsystems;
  for (let i: u32 = 0; s != 0 && i < r.subsystemCount; i++) {
    if (sameString(subsystemNqn(s), nqn, NQN_FIELD_BYTES)) return s;
    s = changetype<NvmfSubsystem>(s).next;
  }
  return 0;
}

/** Whether `sub` is a subsystem of the registry (the discovery one included), for pointers the host hands back. */
export function subsystemKnown(sub: usize): bool {
  registryLock();
  const found = subsystemKnownLocked(sub);
  registryUnlock();
  return found;
}

export function subsystemKnownLocked(sub: usize): bool {
  const r = registryRoot();
  if (sub != 0 && sub == r.discovery) return true;
  let s = r.subsystems;
  for (let i: u32 = 0; s != 0 && i < r.subsystemCount; i++) {
    if (s == sub) return true;
    s = changetype<NvmfSubsystem>(s).next;
  }
  return false;
}

/** nvmf_subsystem_create: a subsystem pointer (> 0) or -errno after a report. App thread. */
export function subsystemCreate(nqn: usize, serial: usize, model: usize, maxNamespaces: u32, allowAnyHost: bool,
                                minCntlid: u32, maxCntlid: u32): isize {
  const nqnBytes = nqnChecked(nqn, "subsystem NQN");
  if (nqnBytes < 0) return nqnBytes;
  const serialBytes = asciiField(serial, IDC_SN_BYTES), modelBytes = asciiField(model, IDC_MN_BYTES);
  if (serialBytes < 0 || modelBytes < 0) {
    report(LEVEL_ERROR, -EINVAL, "nvmf: the serial number is printable ASCII of at most %d bytes, the model number of at most %d",
      0, 0, <f64>IDC_SN_BYTES, <f64>IDC_MN_BYTES);
    return -EINVAL;
  }
  const maxNs = maxNamespaces == 0 ? DEFAULT_MAX_NAMESPACES : maxNamespaces;
  if (maxNs > MAX_NAMESPACES) {
    report(LEVEL_ERROR, -EINVAL, "nvmf: max_namespaces %d is more than the %d a subsystem may have", 0, 0, <f64>maxNs, <f64>MAX_NAMESPACES);
    return -EINVAL;
  }
  if (minCntlid < 1 || minCntlid > maxCntlid || maxCntlid > CNTLID_MAX) {
    report(LEVEL_ERROR, -EINVAL, "nvmf: the controller id range [%d, %d] must lie inside [1, 65519]", 0, 0, <f64>minCntlid, <f64>maxCntlid);
    return -EINVAL;
  }
  const at = heapAllocZeroed(SUB_BYTES);
  const ns = heapAllocZeroed(<usize>maxNs << alignof<usize>());
  if (at == 0 || ns == 0) { if (at != 0) heapFree(at); if (ns != 0) heapFree(ns); return -ENOMEM; }
  const s = changetype<NvmfSubsystem>(at);
  s.maxNamespaces = maxNs;
  s.allowAnyHost = allowAnyHost ? 1 : 0;
  s.minCntlid = minCntlid; s.maxCntlid = maxCntlid; s.nextCntlid = minCntlid;
  s.ns = ns;
  s.owner = contextThread();
  memory.copy(at + SUB_NQN, nqn, <usize>nqnBytes);
  memory.copy(at + SUB_SERIAL, serial, <usize>serialBytes);
  memory.copy(at + SUB_MODEL, model, <usize>modelBytes);
  const r = registryRoot();
  registryLock();
  if (r.discovery == 0) r.discovery = makeDiscovery();
  const rc: isize = r.subsystemCount >= MAX_SUBSYSTEMS ? <isize>-ENOSPC : subsystemFind(nqn) != 0 ? <isize>-EEXIST : 0;
  if (rc == 0) {
    s.next = r.subsystems;
    r.subsystems = at;
    r.subsystemCount++;
    registryChanged();
  }
  registryUnlock();
  if (rc == 0) return <isize>at;
  if (rc == -EEXIST) reportAscii(LEVEL_ERROR, -EEXIST, "nvmf: subsystem %s exists already", nqn);
  else report(LEVEL_ERROR, <i32>rc, "nvmf: the target has %d subsystems, its limit", 0, 0, <f64>MAX_SUBSYSTEMS);
  heapFree(ns); heapFree(at);
  return rc;
}

/** Take `sub` out of the registry (Connect no longer finds it). App thread, first step of a delete. 0 or -EINVAL. */
export function subsystemUnlink(sub: usize): i32 {
  const r = registryRoot();
  const s = changetype<NvmfSubsystem>(sub);
  if (s.isDiscovery != 0) {
    report(LEVEL_ERROR, -EINVAL, "nvmf: the discovery subsystem is always there; it cannot be deleted");
    return -EINVAL;
  }
  registryLock();
  let link = changetype<usize>(r) + offsetof<NvmfRoot>("subsystems");
  let found = false;
  for (let i: u32 = 0; load<usize>(link) != 0 && i < r.subsystemCount; i++) {
    if (load<usize>(link) == sub) { store<usize>(link, s.next); found = true; break; }
    link = load<usize>(link) + offsetof<NvmfSubsystem>("next");
  }
  if (found) { r.subsystemCount--; s.deleting = DELETE_CONTROLLERS; registryChanged(); }
  registryUnlock();
  if (!found) report(LEVEL_ERROR, -EINVAL, "nvmf: no such subsystem (deleted already?)");
  return found ? 0 : -EINVAL;
}

/** Free an unlinked subsystem once its controllers and namespaces are gone. App thread. */
export function subsystemFree(sub: usize): void {
  const s = changetype<NvmfSubsystem>(sub);
  assert(s.deleting != 0 && s.ctrlrCount == 0 && s.nsCount == 0 && s.nsClosing == 0, "subsystemFree: still in use");
  let h = s.hosts;
  for (let i: u32 = 0; h != 0 && i < s.hostCount; i++) { const next = changetype<Host>(h).next; heapFree(h); h = next; }
  heapFree(s.ns);
  heapFree(sub);
}

// ---- hosts ----

/** Under registryLock: whether `hostnqn` may connect to `sub`. */
export function hostAllowed(sub: usize, hostnqn: usize): bool {
  const s = changetype<NvmfSubsystem>(sub);
  if (s.allowAnyHost != 0) return true;
  return findHost(s, hostnqn) != 0;
}

function findHost(s: NvmfSubsystem, hostnqn: usize): usize {
  let h = s.hosts;
  for (let i: u32 = 0; h != 0 && i < s.hostCount; i++) {
    if (sameString(h + HOST_NQN, hostnqn, NQN_FIELD_BYTES)) return h;
    h = changetype<Host>(h).next;
  }
  return 0;
}

/** nvmf_host_add: 0 or -errno after a report. App thread. */
export function subsystemHostAdd(sub: usize, hostnqn: usize): i32 {
  const n = nqnChecked(hostnqn, "host NQN");
  if (n < 0) return n;
  const s = changetype<NvmfSubsystem>(sub);
  const h = heapAllocZeroed(HOST_BYTES);
  if (h == 0) return -ENOMEM;
  memory.copy(h + HOST_NQN, hostnqn, <usize>n);
  registryLock();
  const rc = s.isDiscovery != 0 ? -EINVAL : findHost(s, hostnqn) != 0 ? -EEXIST : s.hostCount >= MAX_HOSTS ? -ENOSPC : 0;
  if (rc == 0) {
    changetype<Host>(h).next = s.hosts;
    s.hosts = h;
    s.hostCount++;
    registryChanged();
  }
  registryUnlock();
  if (rc == 0) return 0;
  heapFree(h);
  if (rc == -EINVAL) report(LEVEL_ERROR, rc, "nvmf: the discovery subsystem lets every host in; it keeps no host list");
  else if (rc == -EEXIST) reportAscii(LEVEL_ERROR, rc, "nvmf: host %s is allowed already", hostnqn);
  else report(LEVEL_ERROR, rc, "nvmf: a subsystem allows at most %d hosts by name", 0, 0, <f64>MAX_HOSTS);
  return rc;
}

/** nvmf_host_remove: 0 or -ENOENT. Connected controllers of that host stay (as SPDK). App thread. */
export function subsystemHostRemove(sub: usize, hostnqn: usize): i32 {
  const s = changetype<NvmfSubsystem>(sub);
  registryLock();
  let link = sub + offsetof<NvmfSubsystem>("hosts");
  let h: usize = 0;
  for (let i: u32 = 0; load<usize>(link) != 0 && i < s.hostCount; i++) {
    const at = load<usize>(link);
    if (sameString(at + HOST_NQN, hostnqn, NQN_FIELD_BYTES)) { store<usize>(link, changetype<Host>(at).next); h = at; break; }
    link = at + offsetof<Host>("next");
  }
  if (h != 0) { s.hostCount--; registryChanged(); }
  registryUnlock();
  if (h == 0) { reportAscii(LEVEL_ERROR, -ENOENT, "nvmf: host %s is not on the subsystem's list", hostnqn); return -ENOENT; }
  heapFree(h);
  return 0;
}

export function subsystemAllowAnyHost(sub: usize, allow: bool): i32 {
  const s = changetype<NvmfSubsystem>(sub);
  if (s.isDiscovery != 0 && !allow) {
    report(LEVEL_ERROR, -EINVAL, "nvmf: the discovery subsystem lets every host in");
    return -EINVAL;
  }
  registryLock();
  s.allowAnyHost = allow ? 1 : 0;
  registryChanged();
  registryUnlock();
  return 0;
}

// ---- listeners ----

/** nvmf_subsystem_listener_add/remove: allow (or stop allowing) listener `id` of the target's table. */
export function subsystemListener(sub: usize, id: u32, allow: bool, exists: (id: u32) => bool): i32 {
  const s = changetype<NvmfSubsystem>(sub);
  if (id < 1 || id > MAX_LISTENERS) { report(LEVEL_ERROR, -EINVAL, "nvmf: listener id %d is not one the target gave", 0, 0, <f64>id); return -EINVAL; }
  const bit: u64 = <u64>1 << <u64>(id - 1);
  registryLock();
  const known = exists(id);
  const has = (s.listeners & bit) != 0;
  const rc = !known ? -ENOENT : allow == has ? (allow ? -EEXIST : -ENOENT) : 0;
  if (rc == 0) { s.listeners = allow ? s.listeners | bit : s.listeners & ~bit; registryChanged(); }
  registryUnlock();
  if (rc == -ENOENT && !known) report(LEVEL_ERROR, rc, "nvmf: there is no listener %d (nvmf_listener_add first)", 0, 0, <f64>id);
  else if (rc == -EEXIST) report(LEVEL_ERROR, rc, "nvmf: the subsystem has listener %d already", 0, 0, <f64>id);
  else if (rc == -ENOENT) report(LEVEL_ERROR, rc, "nvmf: the subsystem does not have listener %d", 0, 0, <f64>id);
  return rc;
}

/** Under registryLock (from nvmfListenerRemove): no subsystem keeps listener `id`. */
export function subsystemsForgetListener(id: u32): void {
  const r = registryRoot();
  const keep = ~(<u64>1 << <u64>(id - 1));
  if (r.discovery != 0) changetype<NvmfSubsystem>(r.discovery).listeners &= keep;
  let s = r.subsystems;
  for (let i: u32 = 0; s != 0 && i < r.subsystemCount; i++) { changetype<NvmfSubsystem>(s).listeners &= keep; s = changetype<NvmfSubsystem>(s).next; }
}

/** Under registryLock: whether a qpair that came through listener `id` may reach `sub`. */
export function listenerAllowed(sub: usize, id: u32): bool {
  const s = changetype<NvmfSubsystem>(sub);
  if (s.isDiscovery != 0) return true;    // discovery answers on every listener of the target (SPDK, nvmet)
  return id >= 1 && id <= MAX_LISTENERS && (s.listeners & (<u64>1 << <u64>(id - 1))) != 0;
}

// ---- namespaces ----

/** The namespace `nsid` of `sub`, or 0 (inactive or out of range). Any thread: one atomic load. */
export function subsystemNs(sub: usize, nsid: u32): usize {
  const s = changetype<NvmfSubsystem>(sub);
  if (nsid == 0 || nsid > s.maxNamespaces) return 0;
  return atomic.load<usize>(s.ns + (<usize>(nsid - 1) << alignof<usize>()));
}

export function subsystemNsSet(sub: usize, nsid: u32, ns: usize): void {
  const s = changetype<NvmfSubsystem>(sub);
  assert(nsid >= 1 && nsid <= s.maxNamespaces, "subsystemNsSet: nsid out of range");
  atomic.store<usize>(s.ns + (<usize>(nsid - 1) << alignof<usize>()), ns);
}

/** The lowest free NSID, or 0 when all are taken. */
export function subsystemFreeNsid(sub: usize): u32 {
  const s = changetype<NvmfSubsystem>(sub);
  for (let nsid: u32 = 1; nsid <= s.maxNamespaces; nsid++) if (subsystemNs(sub, nsid) == 0) return nsid;
  return 0;
}

/** The first active NSID above `after`, or 0. */
export function subsystemNextNsid(sub: usize, after: u32): u32 {
  const s = changetype<NvmfSubsystem>(sub);
  for (let nsid = after + 1; nsid <= s.maxNamespaces && nsid != 0; nsid++) if (subsystemNs(sub, nsid) != 0) return nsid;
  return 0;
}
