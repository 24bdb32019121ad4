// Admin commands from any thread (SPDK's bdev_nvme_admin_passthru): the request names its controller
// by id and goes by message to the app thread, which owns every controller and its admin qpair, looks
// the id up in its own list (no other thread reads it, so a detach cannot race the lookup), submits,
// and sends the completion back by message: each request is called back once, on its own thread.

import { threadGet, sendMsg } from "../../thread";
import { HostReq, HOST_REQ_BYTES, hostReqSqe, hostQpairSubmit } from "../../nvme/host";
import { HostCtrlr } from "../../nvme/host";
import { NvmeBdevCtrlr, NvmeAdminReq, NC_READY } from "./types";

/** Status of a request whose controller is not attached (detached, or never was). */
export const NVME_ADMIN_NO_CTRLR: u32 = 0x10000;
/** Status of a request whose controller is attaching, resetting, failed or detaching. */
export const NVME_ADMIN_NOT_READY: u32 = 0x20000;

const HEAD: usize = (offsetof<NvmeAdminReq>() + 7) & ~7;
export const NVME_ADMIN_REQ_BYTES: u32 = <u32>HEAD + HOST_REQ_BYTES;
/** The SQE the caller fills (opcode, NSID, CDWs; no data). */
export function nvmeAdminSqe(req: usize): usize { return hostReqSqe(req + HEAD); }

// The app thread's list of attached controllers and the app thread itself (set by the first attach):
// cells in shared static memory that only the app thread reads or writes.
const LIST = memory.data(8);
const OWNER = memory.data(8);
const NEXT_ID = memory.data(8);
/** Controllers the list may hold (a bound for its walks). */
const LIST_MAX: u32 = 1 << 16;

export function adminListAdd(c: NvmeBdevCtrlr): void {
  const owner = load<usize>(OWNER);
  assert(owner == 0 || owner == threadGet(), "nvme: every controller belongs to the app thread");
  store<usize>(OWNER, threadGet());
  const id = load<u32>(NEXT_ID) + 1;
  store<u32>(NEXT_ID, id);
  c.id = id;
  c.nextInList = load<usize>(LIST);
  store<usize>(LIST, changetype<usize>(c));
}

export function adminListRemove(c: NvmeBdevCtrlr): void {
  assert(threadGet() == load<usize>(OWNER), "nvme: the list is the app thread's");
  let at: usize = LIST;
  for (let n: u32 = 0; n < LIST_MAX; n++) {
    const cur = load<usize>(at);
    if (cur == 0) return;
    if (cur == changetype<usize>(c)) { store<usize>(at, c.nextInList); c.nextInList = 0; return; }
    at = cur + offsetof<NvmeBdevCtrlr>("nextInList");
  }
  assert(false, "nvme: the controller list is longer than LIST_MAX");
}

function find(id: u32): usize {
  let cur = load<usize>(LIST);
  for (let n: u32 = 0; cur != 0 && n < LIST_MAX; n++) {
    if (changetype<NvmeBdevCtrlr>(cur).id == id) return cur;
    cur = changetype<NvmeBdevCtrlr>(cur).nextInList;
  }
  return 0;
}

/** Submit `req` (its SQE filled) to controller `ctrlrId` from this thread; cb(req) runs here once. */
export function nvmeAdminSubmit(req: usize, ctrlrId: u32, cb: (req: usize) => void, ctx: usize): void {
  const r = changetype<NvmeAdminReq>(req);
  r.ctrlrId = ctrlrId;
  r.origin = threadGet();
  r.cb = changetype<usize>(cb);
  r.ctx = ctx;
  const owner = load<usize>(OWNER);
  if (owner == 0) { r.status = NVME_ADMIN_NO_CTRLR; sendMsg(r.origin, back, req); return; }
  sendMsg(owner, onOwner, req);
}

function onOwner(req: usize): void {
  const r = changetype<NvmeAdminReq>(req);
  const c = find(r.ctrlrId);
  if (c == 0) { r.status = NVME_ADMIN_NO_CTRLR; sendMsg(r.origin, back, req); return; }
  const ct = changetype<NvmeBdevCtrlr>(c);
  if (atomic.load<u32>(c + offsetof<NvmeBdevCtrlr>("state")) != NC_READY || ct.host == 0) {
    r.status = NVME_ADMIN_NOT_READY;
    sendMsg(r.origin, back, req);
    return;
  }
  const h = changetype<HostReq>(req + HEAD);
  h.cb = changetype<usize>(hostDone);
  h.ctx = req;
  h.iovs = 0; h.iovcnt = 0; h.iovOffset = 0; h.length = 0;
  if (hostQpairSubmit(changetype<HostCtrlr>(ct.host).admin, req + HEAD) != 0) {
    r.status = NVME_ADMIN_NOT_READY;
    sendMsg(r.origin, back, req);
  }
}

function hostDone(hreq: usize): void {
  const h = changetype<HostReq>(hreq);
  const r = changetype<NvmeAdminReq>(h.ctx);
  r.status = h.status;
  r.dw0 = h.dw0;
  sendMsg(r.origin, back, h.ctx);
}

function back(req: usize): void {
  const r = changetype<NvmeAdminReq>(req);
  changetype<(req: usize) => void>(r.cb)(req);
}
