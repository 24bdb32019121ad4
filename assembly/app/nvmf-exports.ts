// The NVMe-oF target's control exports (host/nvmf.ts). Strings are NUL-terminated ASCII the host
// frees after the request ends; the core copies what it keeps. Each `req` export runs on the app
// thread and ends with EVENT_REQUEST_DONE(req, rc, value); rc < 0 is a -errno, reported first.
// Subsystem pointers the host passes back are checked against the registry (-ENOENT when gone).
//
// nvmf_subsystem_dump(sub, buf, cap) is a plain call (any instance). Its format (little-endian):
//   header, 16 bytes: u32 bytes needed, u32 controller count, u32 qpair count, u32 0
//   each controller, 288 bytes: u16 cntlid, u16 qpair count, u32 KATO ms at 4, hostid[16] at 8,
//     hostnqn[256] at 24 (NUL-terminated), u32 flags at 280 (bit 0 CC.EN, bit 1 CSTS.RDY, bit 2 ending),
//     u32 I/O queues granted at 284
//   then each qpair, 88 bytes: u16 cntlid, u16 qid, i32 reactor at 4, u32 state at 8 (0 new,
//     1 connected, 2 closing), u32 queue entries at 12, u32 peer port at 16, u32 listener id at 20,
//     peer address[64] at 24 (NUL-terminated)
//   It returns the bytes written, or -ENOSPC when `cap` is short (the header, if it fits, says how much).
import { heapAlloc, heapFree, report, ENOMEM, ENOENT, LEVEL_ERROR } from "../runtime";
import { onAppThread, requestDone } from "./request";
import { nvmfListenerAdd, nvmfListenerRemove, listenerById } from "../nvme/registry";
import {
  subsystemCreate, subsystemKnown, subsystemHostAdd, subsystemHostRemove, subsystemAllowAnyHost, subsystemListener,
  subsystemsForgetListener, discoverySubsystem,
} from "../nvme/subsystem";
import { subsystemDelete } from "../nvme/subsystem-delete";
import { subsystemNsAdd, subsystemNsRemove } from "../nvme/subsystem-ns";
import { nvmfReferralAdd, nvmfReferralRemove } from "../nvme/referral";
import { subsystemDump } from "../nvme/dump";

// A request's parameters, freed when it ends.
@unmanaged class NvmfReqArgs { id: u32; n0: u32; n1: u32; n2: u32; n3: u32; p0: usize; p1: usize; p2: usize; p3: usize; }

function args(ctx: usize): NvmfReqArgs { return changetype<NvmfReqArgs>(ctx); }

function post(fn: (ctx: usize) => void, id: u32, n0: u32, n1: u32, n2: u32, n3: u32, p0: usize, p1: usize, p2: usize, p3: usize): i32 {
  const a = changetype<NvmfReqArgs>(heapAlloc(offsetof<NvmfReqArgs>()));
  if (changetype<usize>(a) == 0) return -ENOMEM;
  a.id = id; a.n0 = n0; a.n1 = n1; a.n2 = n2; a.n3 = n3; a.p0 = p0; a.p1 = p1; a.p2 = p2; a.p3 = p3;
  const rc = onAppThread(fn, changetype<usize>(a));
  if (rc != 0) heapFree(changetype<usize>(a));
  return rc;
}

/** End the request: rc < 0 fails it, else value = `value`. */
function finish(ctx: usize, rc: i32, value: f64 = 0): void {
  requestDone(args(ctx).id, rc < 0 ? rc : 0, rc < 0 ? 0 : value);
  heapFree(ctx);
}
/** value = rc when rc > 0 (an id), else the request fails with rc. */
function finishId(ctx: usize, rc: i32): void { finish(ctx, rc, rc > 0 ? <f64>rc : 0); }

/** p0 is a subsystem the registry knows; else the request fails with -ENOENT. */
function known(ctx: usize): bool {
  if (subsystemKnown(args(ctx).p0)) return true;
  report(LEVEL_ERROR, -ENOENT, "nvmf: no such subsystem (deleted, or not one this target made)");
  finish(ctx, -ENOENT);
  return false;
}

// ---- listeners (the target's table) ----

function listenerAddMsg(ctx: usize): void { const a = args(ctx); finishId(ctx, nvmfListenerAdd(a.n0, a.n1, a.p0, a.p1)); }
function listenerRemoveMsg(ctx: usize): void { finishId(ctx, nvmfListenerRemove(args(ctx).n0, subsystemsForgetListener)); }

/** A target listener (TRTYPE, ADRFAM as the discovery log numbers them); value = its id. */
export function nvmf_listener_add(req: u32, trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): i32 {
  return post(listenerAddMsg, req, trtype, adrfam, 0, 0, traddr, trsvcid, 0, 0);
}

export function nvmf_listener_remove(req: u32, id: u32): i32 { return post(listenerRemoveMsg, req, id, 0, 0, 0, 0, 0, 0, 0); }

// ---- subsystems ----

function createMsg(ctx: usize): void {
  const a = args(ctx);
  const sub = subsystemCreate(a.p0, a.p1, a.p2, a.n0, a.n1 != 0, a.n2, a.n3);
  finish(ctx, sub < 0 ? <i32>sub : 0, sub < 0 ? 0 : <f64>sub);
}

/** A subsystem (min/max cntlid as SPDK: 1 and 0xffef by default); value = its pointer. */
export function nvmf_subsystem_create(req: u32, nqn: usize, serial: usize, model: usize, maxNamespaces: u32, allowAnyHost: u32,
                                      minCntlid: u32, maxCntlid: u32): i32 {
  return post(createMsg, req, maxNamespaces, allowAnyHost, minCntlid, maxCntlid, nqn, serial, model, 0);
}

function deleteDone(ctx: usize, rc: i32): void { finish(ctx, rc); }
function deleteMsg(ctx: usize): void {
  if (!known(ctx)) return;
  const rc = subsystemDelete(args(ctx).p0, deleteDone, ctx);
  if (rc != 0) finish(ctx, rc);
}

/** Done once its controllers are gone (their hosts disconnected) and its namespaces closed; never blocks. */
export function nvmf_subsystem_delete(req: u32, sub: usize): i32 { return post(deleteMsg, req, 0, 0, 0, 0, sub, 0, 0, 0); }

/** The discovery subsystem (always there), for nvmf_subsystem_listener_add/remove and the dump. 0: out of memory. */
export function nvmf_discovery_subsystem(): usize { return discoverySubsystem(); }

// ---- namespaces ----

function nsAddMsg(ctx: usize): void {
  if (!known(ctx)) return;
  const a = args(ctx);
  finishId(ctx, subsystemNsAdd(a.p0, a.n0, a.n1, a.p1, a.p2, a.p3));
}

/** Namespace `nsid` (0: the lowest free) over bdev `bdevId`; id pointers 0: derived. value = the NSID. */
export function nvmf_ns_add(req: u32, sub: usize, bdevId: u32, nsid: u32, uuid16: usize, nguid16: usize, eui64_8: usize): i32 {
  return post(nsAddMsg, req, bdevId, nsid, 0, 0, sub, uuid16, nguid16, eui64_8);
}

function nsRemoved(ctx: usize): void { finish(ctx, 0); }
function nsRemoveMsg(ctx: usize): void {
  if (!known(ctx)) return;
  const rc = subsystemNsRemove(args(ctx).p0, args(ctx).n0, nsRemoved, ctx);
  if (rc != 0) finish(ctx, rc);
}

/** Done once the namespace's in-flight commands completed and its bdev is closed; never blocks. */
export function nvmf_ns_remove(req: u32, sub: usize, nsid: u32): i32 { return post(nsRemoveMsg, req, nsid, 0, 0, 0, sub, 0, 0, 0); }

// ---- hosts ----

function hostAddMsg(ctx: usize): void { if (known(ctx)) finish(ctx, subsystemHostAdd(args(ctx).p0, args(ctx).p1)); }
function hostRemoveMsg(ctx: usize): void { if (known(ctx)) finish(ctx, subsystemHostRemove(args(ctx).p0, args(ctx).p1)); }
function allowAnyMsg(ctx: usize): void { if (known(ctx)) finish(ctx, subsystemAllowAnyHost(args(ctx).p0, args(ctx).n0 != 0)); }

export function nvmf_host_add(req: u32, sub: usize, hostnqn: usize): i32 { return post(hostAddMsg, req, 0, 0, 0, 0, sub, hostnqn, 0, 0); }
export function nvmf_host_remove(req: u32, sub: usize, hostnqn: usize): i32 { return post(hostRemoveMsg, req, 0, 0, 0, 0, sub, hostnqn, 0, 0); }
export function nvmf_allow_any_host(req: u32, sub: usize, allow: u32): i32 { return post(allowAnyMsg, req, allow, 0, 0, 0, sub, 0, 0, 0); }

// ---- a subsystem's listeners ----

function listenerExists(id: u32): bool { return listenerById(id) != 0; }
function subListenerAddMsg(ctx: usize): void { if (known(ctx)) finish(ctx, subsystemListener(args(ctx).p0, args(ctx).n0, true, listenerExists)); }
function subListenerRemoveMsg(ctx: usize): void { if (known(ctx)) finish(ctx, subsystemListener(args(ctx).p0, args(ctx).n0, false, listenerExists)); }

/** Let hosts reach `sub` through listener `id` (nvmf_listener_add's); the discovery log lists it. */
export function nvmf_subsystem_listener_add(req: u32, sub: usize, id: u32): i32 { return post(subListenerAddMsg, req, id, 0, 0, 0, sub, 0, 0, 0); }
/** Connected hosts stay connected (as SPDK); new Connects through it are refused. */
export function nvmf_subsystem_listener_remove(req: u32, sub: usize, id: u32): i32 { return post(subListenerRemoveMsg, req, id, 0, 0, 0, sub, 0, 0, 0); }

// ---- referrals ----

function referralAddMsg(ctx: usize): void { const a = args(ctx); finish(ctx, nvmfReferralAdd(a.n0, a.n1, a.p0, a.p1, a.p2)); }
function referralRemoveMsg(ctx: usize): void { const a = args(ctx); finish(ctx, nvmfReferralRemove(a.n0, a.n1, a.p0, a.p1)); }

/** Another discovery service the discovery log points to (subnqn 0: the discovery NQN). */
export function nvmf_referral_add(req: u32, trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize, subnqn: usize): i32 {
  return post(referralAddMsg, req, trtype, adrfam, 0, 0, traddr, trsvcid, subnqn, 0);
}
export function nvmf_referral_remove(req: u32, trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): i32 {
  return post(referralRemoveMsg, req, trtype, adrfam, 0, 0, traddr, trsvcid, 0, 0);
}

// ---- the dump ----

/** The controllers and qpairs of `sub` (format above): bytes written, -ENOSPC, or -ENOENT for an unknown subsystem. */
export function nvmf_subsystem_dump(sub: usize, buf: usize, cap: u32): i32 { return subsystemDump(sub, buf, cap); }
