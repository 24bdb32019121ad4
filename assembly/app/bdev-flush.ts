// A flush of any bdev from the host (Node API bdev.flush, tests): on the app thread, open a
// descriptor, flush through the thread's channel, release both, report EVENT_REQUEST_DONE(id, rc, 0).

import { heapAlloc, heapFree, ENODEV, EIO } from "../runtime";
import { getIoChannel, putIoChannel } from "../thread";
import { bdevById, bdevOpen, bdevClose, bdevFlush, bdevFreeIo } from "../bdev";
import { onAppThread, requestDone } from "./request";

@unmanaged class FlushReq { id: u32; bdevId: u32; desc: u32; channel: usize; }

function finish(r: FlushReq, rc: i32): void {
  if (r.channel != 0) putIoChannel(r.channel);
  if (r.desc != 0) bdevClose(r.desc);
  requestDone(r.id, rc, 0);
  heapFree(changetype<usize>(r));
}

function flushed(io: usize, success: bool, reqPtr: usize): void {
  bdevFreeIo(io);
  finish(changetype<FlushReq>(reqPtr), success ? 0 : -EIO);
}

function flushOnAppThread(reqPtr: usize): void {
  const r = changetype<FlushReq>(reqPtr);
  const bdev = bdevById(r.bdevId);
  if (bdev == 0) { finish(r, -ENODEV); return; }
  const desc = bdevOpen(bdev, true, null, 0);
  if (desc < 0) { finish(r, desc); return; }
  r.desc = <u32>desc;
  r.channel = getIoChannel(bdev);
  if (r.channel == 0) { finish(r, -12); return; }
  const rc = bdevFlush(r.desc, r.channel, flushed, reqPtr);
  if (rc != 0) finish(r, rc);
}

/** Flush bdev `id`; EVENT_REQUEST_DONE(reqId, rc, 0) once it is durable (or failed). */
export function bdev_flush(reqId: u32, id: u32): i32 {
  const r = changetype<FlushReq>(heapAlloc(offsetof<FlushReq>()));
  if (changetype<usize>(r) == 0) return -12;
  r.id = reqId; r.bdevId = id; r.desc = 0; r.channel = 0;
  const rc = onAppThread(flushOnAppThread, changetype<usize>(r));
  if (rc != 0) heapFree(changetype<usize>(r));
  return rc;
}
