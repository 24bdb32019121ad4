// NVMe-oF controllers: one per admin Connect, owned by its admin qpair's thread (properties, features,
// AERs and the keep-alive timer are touched only there). I/O qpairs on other threads attach and detach
// through messages to that thread. The lists that other threads read (a subsystem's controllers, a
// controller's qpairs, for Connect and nvmf_subsystem_dump) change under registryLock; a controller's
// qpair list changes only on its own thread, which therefore reads it without the lock. A controller is
// freed on its thread once no qpair is attached and no message for it is on its way (refs).
import { heapAllocZeroed, heapFree, contextThread, LEVEL_WARN, LEVEL_NOTICE } from "../runtime";
import { MsgFn, pollerRegister, pollerUnregister, pollerReschedule, threadNowUs, POLLER_BUSY, POLLER_IDLE } from "../thread";
import { NvmfQpair, NvmfTransportOps, QpairDisconnectFn, QPAIR_CLOSING } from "./transport";
import { registryLock, registryUnlock } from "./registry";
import { nvmfSend } from "./send";
import { NvmfSubsystem, subsystemNqn } from "./subsystem";
import { HOSTID_BYTES, NQN_FIELD_BYTES, CSTS_SHST_MASK, CSTS_SHST_SHIFT, SHST_COMPLETE } from "./fabrics";
import { CHANGED_NS_MAX, IDENTIFY_BYTES } from "./identify";
import { reportAscii } from "./report";
import { subsystemCtrlrGoneMsg } from "./subsystem-delete";

/** AERs a controller holds at once (Identify AERL + 1). */
export const AER_MAX: u32 = 4;
/** Aborts outstanding at once (Identify ACL + 1): Abort runs to completion inside the command. */
export const ABORT_MAX: u32 = 4;
/** Get Features temperature threshold's default: 343 K over-temperature, as QEMU's NVMe device reports. */
export const TEMPERATURE_THRESHOLD_DEFAULT: u32 = 0x0157;
/** The keep-alive timeout a discovery controller gets when Connect asks for none (SPDK: 120 s). */
export const DISCOVERY_KATO_MS: u32 = 120_000;

@unmanaged export class NvmfCtrlr {
  next: usize;            // the subsystem's list (registryLock)
  subsys: usize;          // NvmfSubsystem
  thread: usize;          // the admin qpair's thread: the owner
  admin: usize;           // the admin qpair, 0 once it detached
  qpairs: usize;          // attached qpairs, linked through NvmfQpair.coreLink (registryLock)
  qpairCount: u32;
  cntlid: u32;
  refs: u32;              // messages for this controller on their way (registryLock): freed only at 0
  failed: u32;            // every qpair was asked to disconnect; it takes no I/O Connect any more
  linked: u32;            // in its subsystem's list
  limits: usize;          // NvmfTransportLimits of the admin qpair's transport
  ioQueues: u32;          // I/O queues the host may connect (Set Features Number of Queues)
  ioQueuesSet: u32;
  cc: u32;
  csts: u32;
  aqa: u32;
  asq: u64;
  acq: u64;
  katoMs: u32;
  lastKeepAliveUs: u64;
  katoPoller: usize;
  aec: u32;               // Async Event Configuration
  arbitration: u32;
  powerMgmt: u32;
  tempThreshold: u32;
  errorRecovery: u32;
  intCoalescing: u32;
  writeAtomicity: u32;
  aerCount: u32;
  nsNoticePending: u32;   // a namespace attribute notice waits for an AER
  nsNoticeMasked: u32;    // one was sent: none until the host reads the changed namespace list
  changedNs: usize;       // CHANGED_NS_MAX u32 NSIDs
  changedCount: u32;      // > CHANGED_NS_MAX: more changed than the list holds
  shutdown: u32;          // CC.SHN was set: SHST "occurring" until the I/O qpairs are gone
  readCommands: u64;      // SMART counters, added to on the I/O qpairs' threads (atomics)
  writeCommands: u64;
  bytesRead: u64;
  bytesWritten: u64;
  createdUs: u64;
  scratch: usize;         // IDENTIFY_BYTES for the admin commands that build their data (one at a time: this thread)
  heldNext: usize;        // the subsystem owner's chain of controllers it holds to message (ctrlrsHoldLocked)
}
// Inline after the struct: the host's id and NQN, and the held AER requests.
const CTRLR_HOSTID: usize = offsetof<NvmfCtrlr>();
const CTRLR_HOSTNQN: usize = CTRLR_HOSTID + <usize>HOSTID_BYTES;
const CTRLR_AERS: usize = CTRLR_HOSTNQN + <usize>NQN_FIELD_BYTES;
const CTRLR_BYTES: usize = CTRLR_AERS + (<usize>AER_MAX << alignof<usize>());

export function ctrlrOf(c: usize): NvmfCtrlr { return changetype<NvmfCtrlr>(c); }
export function ctrlrHostId(c: usize): usize { return c + CTRLR_HOSTID; }
export function ctrlrHostNqn(c: usize): usize { return c + CTRLR_HOSTNQN; }
/** Slot `i` of the held AERs (an NvmfReq pointer or 0). */
export function ctrlrAerSlot(c: usize, i: u32): usize { assert(i < AER_MAX, "ctrlrAerSlot: AER_MAX slots"); return c + CTRLR_AERS + (<usize>i << alignof<usize>()); }

/** A controller of `sub` for the host whose Connect data is at hostid/hostnqn; not linked yet. 0 when out of memory. */
export function ctrlrNew(sub: usize, hostid: usize, hostnqn: usize, limits: usize, ioQueues: u32): usize {
  const at = heapAllocZeroed(CTRLR_BYTES);
  if (at == 0) return 0;
  const changed = heapAllocZeroed(<usize>CHANGED_NS_MAX << 2);
  const scratch = heapAllocZeroed(IDENTIFY_BYTES);
  if (changed == 0 || scratch == 0) { heapFree(at); if (changed != 0) heapFree(changed); if (scratch != 0) heapFree(scratch); return 0; }
  const c = changetype<NvmfCtrlr>(at);
  c.subsys = sub;
  c.thread = contextThread();
  c.limits = limits;
  c.ioQueues = ioQueues;
  c.changedNs = changed;
  c.scratch = scratch;
  c.createdUs = threadNowUs();
  c.tempThreshold = TEMPERATURE_THRESHOLD_DEFAULT;
  memory.copy(at + CTRLR_HOSTID, hostid, HOSTID_BYTES);
  memory.copy(at + CTRLR_HOSTNQN, hostnqn, NQN_FIELD_BYTES);
  store<u8>(at + CTRLR_HOSTNQN + NQN_FIELD_BYTES - 1, 0);
  return at;
}

/** Free a controller that never got linked (its Connect was refused). */
export function ctrlrDiscard(c: usize): void {
  assert(ctrlrOf(c).linked == 0 && ctrlrOf(c).qpairCount == 0, "ctrlrDiscard: in use");
  freeCtrlr(c);
}

function freeCtrlr(c: usize): void {
  heapFree(ctrlrOf(c).changedNs);
  heapFree(ctrlrOf(c).scratch);
  heapFree(c);
}

/**
 * Under registryLock: give `c` a free controller id of its subsystem and link it in. false when
 * every id of the range is taken. Among ctrlrCount + 1 consecutive ids one is free, which bounds the search.
 */
export function ctrlrLink(c: usize): bool {
  const ct = changetype<NvmfCtrlr>(c);
  const s = changetype<NvmfSubsystem>(ct.subsys);
  const range = s.maxCntlid - s.minCntlid + 1;
  const tries = min(range, s.ctrlrCount + 1);
  for (let t: u32 = 0; t < tries; t++) {
    const id = s.nextCntlid;
    s.nextCntlid = id >= s.maxCntlid ? s.minCntlid : id + 1;
    if (ctrlrFind(ct.subsys, id) != 0) continue;
    ct.cntlid = id;
    ct.next = s.ctrlrs;
    s.ctrlrs = c;
    s.ctrlrCount++;
    ct.linked = 1;
    return true;
  }
  return false;
}

/** Under registryLock: controller `cntlid` of `sub`, or 0. */
export function ctrlrFind(sub: usize, cntlid: u32): usize {
  const s = changetype<NvmfSubsystem>(sub);
  let c = s.ctrlrs;
  for (let i: u32 = 0; c != 0 && i < s.ctrlrCount; i++) {
    if (changetype<NvmfCtrlr>(c).cntlid == cntlid) return c;
    c = changetype<NvmfCtrlr>(c).next;
  }
  return 0;
}

/** Under registryLock: a message for `c` is about to be sent; it must run ctrlrUnref on c's thread. */
export function ctrlrRef(c: usize): void { changetype<NvmfCtrlr>(c).refs++; }

/** On c's thread: a message counted by ctrlrRef arrived. */
export function ctrlrUnref(c: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  assert(ct.thread == contextThread(), "ctrlrUnref: not on the controller's thread");
  registryLock();
  assert(ct.refs > 0, "ctrlrUnref: no reference held");
  ct.refs--;
  registryUnlock();
  ctrlrMaybeFree(c);
}

/** Controllers one subsystem can have: its controller ids (1..0xffef) bound every walk of its list. */
const CNTLID_COUNT: u32 = 0xffef;

/**
 * Under registryLock, on `sub`'s owner thread: a reference on each controller of `sub` (ctrlrRef), the
 * controllers chained through heldNext; the chain's first (0: none). The list may change once the lock
 * is released, the chain cannot: the caller messages the controllers after the unlock (ctrlrsSend).
 */
export function ctrlrsHoldLocked(sub: usize): usize {
  const s = changetype<NvmfSubsystem>(sub);
  let first: usize = 0;
  let c = s.ctrlrs;
  for (let i: u32 = 0; c != 0 && i < s.ctrlrCount; i++) {
    ctrlrRef(c);
    changetype<NvmfCtrlr>(c).heldNext = first;
    first = c;
    c = changetype<NvmfCtrlr>(c).next;
  }
  return first;
}

/** No lock held: fn(c) on each held controller's thread; fn must end with ctrlrUnref(c). */
export function ctrlrsSend(first: usize, fn: MsgFn): void {
  let c = first;
  for (let n: u32 = 0; c != 0; n++) {
    assert(n < CNTLID_COUNT, "ctrlrsSend: the chain of held controllers does not end");
    // Read before the send: once its message ran, the controller may be freed.
    const next = changetype<NvmfCtrlr>(c).heldNext;
    nvmfSend(changetype<NvmfCtrlr>(c).thread, fn, c);
    c = next;
  }
}

/** Under registryLock, on c's thread: attach `q` as queue `qid` of `sqsize` entries. */
export function ctrlrAttachLocked(c: usize, q: usize, qid: u32, sqsize: u32): void {
  const ct = changetype<NvmfCtrlr>(c);
  const qp = changetype<NvmfQpair>(q);
  qp.qid = qid;
  qp.sqsize = sqsize;
  qp.ctrlr = c;
  qp.coreLink = ct.qpairs;
  ct.qpairs = q;
  ct.qpairCount++;
  if (qid == 0) ct.admin = q;
}

/** Under registryLock: the attached qpair with `qid`, or 0. */
export function ctrlrQpairLocked(c: usize, qid: u32): usize {
  const ct = changetype<NvmfCtrlr>(c);
  let q = ct.qpairs;
  for (let i: u32 = 0; q != 0 && i < ct.qpairCount; i++) {
    if (changetype<NvmfQpair>(q).qid == qid) return q;
    q = changetype<NvmfQpair>(q).coreLink;
  }
  return 0;
}

/** On c's thread: take `q` out of the controller (its close drained it). The last qpair ends the controller. */
export function ctrlrDetach(c: usize, q: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  assert(ct.thread == contextThread(), "ctrlrDetach: not on the controller's thread");
  registryLock();
  let link = c + offsetof<NvmfCtrlr>("qpairs");
  let found = false;
  for (let i: u32 = 0; load<usize>(link) != 0 && i < ct.qpairCount; i++) {
    const at = load<usize>(link);
    if (at == q) { store<usize>(link, changetype<NvmfQpair>(at).coreLink); found = true; break; }
    link = at + offsetof<NvmfQpair>("coreLink");
  }
  assert(found, "ctrlrDetach: the qpair is not attached to this controller");
  ct.qpairCount--;
  const wasAdmin = ct.admin == q;
  if (wasAdmin) ct.admin = 0;
  registryUnlock();
  changetype<NvmfQpair>(q).coreLink = 0;
  // Without its admin queue a controller is gone (SPDK, Linux): its I/O queues go with it.
  if (wasAdmin) ctrlrFail(c);
  else if (ct.shutdown != 0 && ioQpairCount(ct) == 0) ctrlrShutdownComplete(ct);
  ctrlrMaybeFree(c);
}

function ioQpairCount(ct: NvmfCtrlr): u32 { return ct.admin != 0 ? ct.qpairCount - 1 : ct.qpairCount; }

/** The shutdown handshake ends once no I/O queue is left (property.ts starts it). */
export function ctrlrShutdownComplete(ct: NvmfCtrlr): void {
  ct.shutdown = 0;
  ct.csts = (ct.csts & ~CSTS_SHST_MASK) | (SHST_COMPLETE << CSTS_SHST_SHIFT);
}

/**
 * On c's thread: ask every qpair (or the I/O ones only) to disconnect through its transport, on its own
 * thread. No lock: the qpair list changes only on this thread (attach and detach run here).
 */
export function ctrlrDisconnect(c: usize, ioOnly: bool): u32 {
  const ct = changetype<NvmfCtrlr>(c);
  assert(ct.thread == contextThread(), "ctrlrDisconnect: not on the controller's thread");
  let asked: u32 = 0;
  let q = ct.qpairs;
  for (let i: u32 = 0; q != 0 && i < ct.qpairCount; i++) {
    const qp = changetype<NvmfQpair>(q);
    // The qpair stays valid until its detach, which this thread runs after these messages reach it:
    // a qpair's done() comes from here (ctrlrDetach), so it follows every message sent before.
    if (!ioOnly || qp.qid != 0) { nvmfSend(qp.thread, disconnectMsg, q); asked++; }
    q = qp.coreLink;
  }
  return asked;
}

/** On the qpair's thread: ops.disconnect, unless it was called already or the transport is closing the qpair. */
function disconnectMsg(q: usize): void {
  const qp = changetype<NvmfQpair>(q);
  if (qp.state == QPAIR_CLOSING || qp.disconnectAsked != 0) return;
  qp.disconnectAsked = 1;
  changetype<QpairDisconnectFn>(changetype<NvmfTransportOps>(qp.ops).disconnect)(q);
}

/** On c's thread: the controller ends: every qpair disconnects, the keep-alive timer stops. Once. */
export function ctrlrFail(c: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  if (ct.failed != 0) return;
  ct.failed = 1;
  ctrlrKatoStop(ct);
  ctrlrDisconnect(c, false);
}

/** Free `c` if nothing refers to it any more: unlinked, and its subsystem's owner told (ctrlrGone). */
function ctrlrMaybeFree(c: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  registryLock();
  const idle = ct.qpairCount == 0 && ct.refs == 0 && ct.admin == 0;
  if (idle && ct.linked != 0) unlinkLocked(ct);
  registryUnlock();
  if (!idle) return;
  ctrlrKatoStop(ct);
  const sub = ct.subsys;
  freeCtrlr(c);
  subsystemCtrlrGone(sub);
}

function unlinkLocked(ct: NvmfCtrlr): void {
  const sub = ct.subsys;
  const s = changetype<NvmfSubsystem>(sub);
  let link = sub + offsetof<NvmfSubsystem>("ctrlrs");
  for (let i: u32 = 0; load<usize>(link) != 0 && i < s.ctrlrCount; i++) {
    if (load<usize>(link) == changetype<usize>(ct)) { store<usize>(link, ct.next); break; }
    link = load<usize>(link) + offsetof<NvmfCtrlr>("next");
  }
  ct.linked = 0;
  // The discovery subsystem is never deleted: nobody waits for its count, so it drops here.
  if (s.isDiscovery != 0) s.ctrlrCount--;
}

// A subsystem being deleted waits until ctrlrCount reaches 0; the count drops on its owner thread
// (subsystem-delete.ts), so the subsystem is still there when this message arrives.
function subsystemCtrlrGone(sub: usize): void {
  const s = changetype<NvmfSubsystem>(sub);
  if (s.isDiscovery != 0) return;
  nvmfSend(s.owner, subsystemCtrlrGoneMsg, sub);
}

// ---- keep alive ----

/** Start, change or stop (ms = 0) the keep-alive timer. false when the timer could not be made (out of memory). */
export function ctrlrKatoSet(c: usize, ms: u32): bool {
  const ct = changetype<NvmfCtrlr>(c);
  ct.katoMs = ms;
  ct.lastKeepAliveUs = threadNowUs();
  if (ms == 0) { ctrlrKatoStop(ct); return true; }
  const period = katoPeriodUs(ms);
  if (ct.katoPoller != 0) { pollerReschedule(ct.katoPoller, period); return true; }
  ct.katoPoller = pollerRegister(katoCheck, c, period, "nvmf_kato");
  return ct.katoPoller != 0;
}

/** Checked four times per timeout: the controller ends at most a quarter of KATO late. */
function katoPeriodUs(ms: u32): u64 { return max<u64>(<u64>ms * 250, 1000); }

function ctrlrKatoStop(ct: NvmfCtrlr): void {
  if (ct.katoPoller == 0) return;
  pollerUnregister(ct.katoPoller);
  ct.katoPoller = 0;
}

/** A Keep Alive (or Connect) from the host. */
export function ctrlrKeepAlive(c: usize): void { changetype<NvmfCtrlr>(c).lastKeepAliveUs = threadNowUs(); }

function katoCheck(c: usize): i32 {
  const ct = changetype<NvmfCtrlr>(c);
  const now = threadNowUs();
  if (now - ct.lastKeepAliveUs <= <u64>ct.katoMs * 1000) return POLLER_IDLE;
  reportAscii(LEVEL_WARN, 0, "nvmf: controller of host %s on %s: no keep alive within its timeout, disconnecting it",
    ctrlrHostNqn(c), subsystemNqn(ct.subsys));
  ctrlrFail(c);
  return POLLER_BUSY;
}

/** Report a controller's creation (notice level: one line per connecting host). */
export function ctrlrReportCreated(c: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  reportAscii(LEVEL_NOTICE, 0, "nvmf: host %s connected to %s as controller %d", ctrlrHostNqn(c), subsystemNqn(ct.subsys), <f64>ct.cntlid);
}
