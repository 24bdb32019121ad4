// Test hooks for the NVMe driver's lifecycle stress (LESSONS 5): a load on one thread that keeps
// `depth` admin commands (Keep Alive) in flight against a controller named by id, from a thread that
// does not own it, and counts every callback: each request must come back exactly once, whatever the
// controller goes through (reset, detach, its target dropping).

import { heapAllocZeroed, heapFree } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import { sqeInit } from "../../assembly/nvme/spec";
import { nvmeAdminSubmit, nvmeAdminSqe, NvmeAdminReq, NVME_ADMIN_REQ_BYTES } from "../../assembly/bdev/nvme";

const KEEP_ALIVE: u8 = 0x18;
const SLOT_BYTES: usize = ((<usize>NVME_ADMIN_REQ_BYTES + 7) & ~7) + 8;   // the request, then its callback count

@unmanaged class AdminLoad {
  thread: usize;
  ctrlrId: u32;
  depth: u32;
  slots: usize;
  stopping: u32;
  submitted: u64;
  completed: u64;
  doubles: u64;
  ok: u64;
  inFlight: u32;
  stopped: u32;
  parked: usize;      // requests that found no controller ready: sent again at the next kick (no busy loop)
  parkedCount: u32;
  nextId: u32;        // the controller the next kick points the load at
}

export function hn_admin_load_start(thread: usize, ctrlrId: u32, depth: u32): usize {
  const block = heapAllocZeroed(((offsetof<AdminLoad>() + 7) & ~7) + <usize>depth * SLOT_BYTES);
  const l = changetype<AdminLoad>(block);
  l.thread = thread; l.ctrlrId = ctrlrId; l.depth = depth;
  l.slots = block + ((offsetof<AdminLoad>() + 7) & ~7);
  sendMsg(thread, startMsg, block);
  return block;
}
function startMsg(block: usize): void {
  const l = changetype<AdminLoad>(block);
  for (let i: u32 = 0; i < l.depth; i++) submit(l, l.slots + <usize>i * SLOT_BYTES);
}
function submit(l: AdminLoad, req: usize): void {
  store<u32>(req + SLOT_BYTES - 8, 0);      // callbacks for this submit
  sqeInit(nvmeAdminSqe(req), KEEP_ALIVE, 0);
  l.submitted++;
  l.inFlight++;
  nvmeAdminSubmit(req, l.ctrlrId, done, changetype<usize>(l));
}
function done(req: usize): void {
  const l = changetype<AdminLoad>(changetype<NvmeAdminReq>(req).ctx);
  const calls = load<u32>(req + SLOT_BYTES - 8) + 1;
  store<u32>(req + SLOT_BYTES - 8, calls);
  if (calls > 1) { l.doubles++; return; }
  l.completed++;
  l.inFlight--;
  const ok = changetype<NvmeAdminReq>(req).status == 0;
  if (ok) l.ok++;
  if (l.stopping != 0) { if (l.inFlight == 0) l.stopped = 1; return; }
  if (ok) { submit(l, req); return; }
  store<usize>(req + SLOT_BYTES - 4, l.parked);      // the slot's last word links it while parked
  l.parked = req;
  l.parkedCount++;
}

/** Send the parked requests again, at controller `ctrlrId` from now on (a new attach gets a new id). */
export function hn_admin_load_kick(block: usize, ctrlrId: u32): void {
  changetype<AdminLoad>(block).nextId = ctrlrId;     // read by the message, which the send orders after this store
  sendMsg(changetype<AdminLoad>(block).thread, kickMsg, block);
}
function kickMsg(block: usize): void {
  const l = changetype<AdminLoad>(block);
  l.ctrlrId = l.nextId;
  if (l.stopping != 0) return;
  for (let n: u32 = 0; l.parked != 0; n++) {
    assert(n < l.depth, "the parked list holds at most depth requests");
    const req = l.parked;
    l.parked = load<usize>(req + SLOT_BYTES - 4);
    l.parkedCount--;
    submit(l, req);
  }
}
export function hn_admin_load_stop(block: usize): void { sendMsg(changetype<AdminLoad>(block).thread, stopMsg, block); }
function stopMsg(block: usize): void {
  const l = changetype<AdminLoad>(block);
  l.stopping = 1;
  if (l.inFlight == 0) l.stopped = 1;
}

/** 0 submitted, 1 completed, 2 doubles, 3 succeeded, 4 in flight, 5 stopped. */
export function hn_admin_load_stat(block: usize, which: u32): f64 {
  const l = changetype<AdminLoad>(block);
  switch (which) {
    case 0: return <f64>l.submitted;
    case 1: return <f64>l.completed;
    case 2: return <f64>l.doubles;
    case 3: return <f64>l.ok;
    case 4: return <f64>l.inFlight;
    case 5: return <f64>l.stopped;
  }
  return -1;
}
export function hn_admin_load_free(block: usize): void { heapFree(block); }
