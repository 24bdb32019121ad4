// The NVMe-oF target's control exports (host/nvmf.ts). Strings are NUL-terminated ASCII the host
// frees after the request ends; the core copies what it keeps. Each ends with EVENT_REQUEST_DONE.
import { heapAlloc, heapFree, ENOMEM } from "../runtime";
import { onAppThread, requestDone } from "./request";
import { nvmfListenerAdd, nvmfListenerRemove } from "../nvme/registry";

// A request's parameters, freed by the message that runs it on the app thread.
@unmanaged class NvmfReqArgs { id: u32; n0: u32; n1: u32; s0: usize; s1: usize; }

function post(fn: (ctx: usize) => void, id: u32, n0: u32, n1: u32, s0: usize, s1: usize): i32 {
  const a = changetype<NvmfReqArgs>(heapAlloc(offsetof<NvmfReqArgs>()));
  if (changetype<usize>(a) == 0) return -ENOMEM;
  a.id = id; a.n0 = n0; a.n1 = n1; a.s0 = s0; a.s1 = s1;
  const rc = onAppThread(fn, changetype<usize>(a));
  if (rc != 0) heapFree(changetype<usize>(a));
  return rc;
}

/** value = rc when rc > 0 (an id), else the request fails with rc. */
function finish(ctx: usize, rc: i32): void {
  requestDone(changetype<NvmfReqArgs>(ctx).id, rc < 0 ? rc : 0, rc > 0 ? <f64>rc : 0);
  heapFree(ctx);
}

function listenerAddMsg(ctx: usize): void { const a = changetype<NvmfReqArgs>(ctx); finish(ctx, nvmfListenerAdd(a.n0, a.n1, a.s0, a.s1)); }
function listenerRemoveMsg(ctx: usize): void { finish(ctx, nvmfListenerRemove(changetype<NvmfReqArgs>(ctx).n0)); }

/** A target listener (TRTYPE, ADRFAM as the discovery log numbers them); value = its id. */
export function nvmf_listener_add(req: u32, trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): i32 {
  return post(listenerAddMsg, req, trtype, adrfam, traddr, trsvcid);
}

export function nvmf_listener_remove(req: u32, id: u32): i32 { return post(listenerRemoveMsg, req, id, 0, 0, 0); }
