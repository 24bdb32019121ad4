// Host requests about bdevs that run on the app thread (SPDK's app thread): pass-through bdevs made,
// power cuts, deletes, lvol bdevs and their freezes. Each ends with requestDone (EVENT_REQUEST_DONE).

import { bdevById, Bdev } from "../bdev";
import { heapAlloc as coreHeapAlloc, heapFree as coreHeapFree } from "../runtime";
import { onAppThread, requestDone } from "./request";
import { errorBdevCreate } from "../bdev/error";
import { delayBdevCreate } from "../bdev/delay";
import { crashBdevCreate, crashCut, isCrashBdev } from "../bdev/crash";
import { passthruError } from "../bdev/passthru";
import { bdevUnregister } from "../bdev";
import { lvolBdevCreate, lvolError, lvolFreeze, lvolUnfreeze, lvolDetach } from "../lvol";
import { Blob } from "../blob";

// A request's parameters travel in a small block: [0] request id, [1] bdev id / base id, [2] name,
// [3..6] numbers. Freed by the message that runs it.
@unmanaged class Req { id: u32; a: u32; name: usize; n0: u32; n1: u32; n2: u32; n3: u32; big: u64; }

function newReq(id: u32, a: u32, name: usize, n0: u32, n1: u32, n2: u32, n3: u32): usize {
  const r = changetype<Req>(coreHeapAlloc(offsetof<Req>()));
  if (changetype<usize>(r) == 0) return 0;
  r.id = id; r.a = a; r.name = name; r.n0 = n0; r.n1 = n1; r.n2 = n2; r.n3 = n3; r.big = 0;
  return changetype<usize>(r);
}

function post(fn: (ctx: usize) => void, req: usize): i32 {
  if (req == 0) return -12;
  const rc = onAppThread(fn, req);
  if (rc != 0) coreHeapFree(req);
  return rc;
}

function createdDone(req: usize, bdev: usize): void {
  const r = changetype<Req>(req);
  requestDone(r.id, bdev == 0 ? (passthruError != 0 ? passthruError : -12) : 0, bdev == 0 ? 0 : <f64>changetype<Bdev>(bdev).id);
  coreHeapFree(req);
}

function errorCreateMsg(req: usize): void { const r = changetype<Req>(req); createdDone(req, errorBdevCreate(r.name, r.a)); }

function delayCreateMsg(req: usize): void { const r = changetype<Req>(req); createdDone(req, delayBdevCreate(r.name, r.a, r.n0, r.n1, r.n2, r.n3)); }

function crashCreateMsg(req: usize): void { const r = changetype<Req>(req); createdDone(req, crashBdevCreate(r.name, r.a, r.big)); }

/** Create an error bdev over base `baseId`; EVENT_REQUEST_DONE(reqId, rc, new id). Returns 0 or -errno (not posted). */
export function bdev_error_create(reqId: u32, name: usize, baseId: u32): i32 { return post(errorCreateMsg, newReq(reqId, baseId, name, 0, 0, 0, 0)); }

export function bdev_delay_create(reqId: u32, name: usize, baseId: u32, avgRead: u32, p99Read: u32, avgWrite: u32, p99Write: u32): i32 {
  return post(delayCreateMsg, newReq(reqId, baseId, name, avgRead, p99Read, avgWrite, p99Write));
}

export function bdev_crash_create(reqId: u32, name: usize, baseId: u32, maxCacheMiB: u32): i32 {
  const req = newReq(reqId, baseId, name, 0, 0, 0, 0);
  if (req != 0) changetype<Req>(req).big = <u64>maxCacheMiB << 20;
  return post(crashCreateMsg, req);
}

function cutDone(req: usize, kept: u32, dropped: u32, torn: u32, failed: u32): void {
  // value packs the counts for the host: kept | dropped << 16 | torn << 32 (each < 65536 in tests)
  const r = changetype<Req>(req);
  requestDone(r.id, failed == 0 ? 0 : -5, <f64>kept + <f64>dropped * 65536.0 + <f64>torn * 4294967296.0);
  coreHeapFree(req);
}

function crashCutMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const rc = b == 0 || !isCrashBdev(b) ? -19 : crashCut(b, r.n0, r.n1, cutDone, req);
  if (rc != 0) { requestDone(r.id, rc, 0); coreHeapFree(req); }
}

/** Power cut on crash bdev `id`: mode 0 drop all, 1 keep all, 2 random from seed. */
export function bdev_crash_cut(reqId: u32, id: u32, mode: u32, seed: u32): i32 { return post(crashCutMsg, newReq(reqId, id, 0, mode, seed, 0, 0)); }

function deleteDone(req: usize): void { requestDone(changetype<Req>(req).id, 0, 0); coreHeapFree(req); }

function deleteMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const rc = b == 0 ? -19 : bdevUnregister(b, deleteDone, req);
  if (rc != 0) { requestDone(r.id, rc, 0); coreHeapFree(req); }
}

/** Hot remove bdev `id`; EVENT_REQUEST_DONE when it is gone (after every descriptor closed). */
export function bdev_delete(reqId: u32, id: u32): i32 { return post(deleteMsg, newReq(reqId, id, 0, 0, 0, 0, 0)); }

function lvolCreateMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = lvolBdevCreate(r.name, changetype<Blob>(<usize>r.big));
  requestDone(r.id, b == 0 ? lvolError : 0, b == 0 ? 0 : <f64>changetype<Bdev>(b).id);
  coreHeapFree(req);
}

/** An lvol bdev over open blob `blob` (on the app thread, the stores' md thread); EVENT_REQUEST_DONE(reqId, rc, bdev id). */
export function bdev_lvol_create(reqId: u32, name: usize, blob: usize): i32 {
  const req = newReq(reqId, 0, name, 0, 0, 0, 0);
  if (req != 0) changetype<Req>(req).big = <u64>blob;
  return post(lvolCreateMsg, req);
}

function freezeDone(req: usize, rc: i32): void { requestDone(<u32>req, rc, 0); }

function freezeMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const id = r.id, thaw = r.n0 != 0;
  coreHeapFree(req);
  const rc = b == 0 ? -19 : thaw ? lvolUnfreeze(b, freezeDone, <usize>id) : lvolFreeze(b, freezeDone, <usize>id);
  if (rc != 0) requestDone(id, rc, 0);
}

/** Hold (thaw 0) or release (thaw 1) the I/O of lvol bdev `id`; EVENT_REQUEST_DONE once none is in flight / all resumed. */
export function bdev_lvol_freeze(reqId: u32, id: u32, thaw: u32): i32 { return post(freezeMsg, newReq(reqId, id, 0, thaw, 0, 0, 0)); }

function detachMsg(req: usize): void {
  const r = changetype<Req>(req);
  const b = bdevById(r.a);
  const id = r.id;
  coreHeapFree(req);
  const rc = b == 0 ? -19 : lvolDetach(b, freezeDone, <usize>id);
  if (rc != 0) requestDone(id, rc, 0);
}
/**
 * Hot remove lvol bdev `id` as its lvstore goes (its base bdev is being deleted): EVENT_REQUEST_DONE once
 * its blob is no longer touched (the blob may be closed, the store unloaded), even if a user keeps it open.
 */
export function bdev_lvol_detach(reqId: u32, id: u32): i32 { return post(detachMsg, newReq(reqId, id, 0, 0, 0, 0, 0)); }
