// The vhost-user-blk controller exports (host/vhost.ts).

import { vhostCtrlrCreate, vhostCtrlrDelete, vhostCtrlrInfo, vhostCtrlrSetCoalescing } from "../vhost";

/** A controller over bdev `bdevId` on `reactor`, serving the host's listening socket `listenFd`; EVENT_REQUEST_DONE(req, rc, ctrlr). */
export function vhost_ctrlr_create(req: u32, name: usize, bdevId: u32, listenFd: i32, reactor: i32, readOnly: u32): i32 {
  return vhostCtrlrCreate(req, name, bdevId, listenFd, reactor, readOnly != 0);
}

export function vhost_ctrlr_delete(req: u32, ctrlr: usize, force: u32): i32 { return vhostCtrlrDelete(req, ctrlr, force != 0); }

export function vhost_ctrlr_info(ctrlr: usize, which: u32): f64 { return vhostCtrlrInfo(ctrlr, which); }

export function vhost_ctrlr_set_coalescing(ctrlr: usize, delayUs: u32, iopsThreshold: u32): void { vhostCtrlrSetCoalescing(ctrlr, delayUs, iopsThreshold); }
