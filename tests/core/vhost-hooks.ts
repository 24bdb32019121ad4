// Test hooks for the vhost target's pure parts, driven by tests/unit/vhost-*.test.ts through the
// deterministic harness (times are given, not read from a clock).

import { LogLimit, logLimitNew, logLimitTake } from "../../assembly/vhost/loglimit";

export function hv_loglimit_new(): usize { return changetype<usize>(logLimitNew()); }
/** logLimitTake at `nowUs`: -1 (left out) or how many were left out before this one. */
export function hv_loglimit_take(limit: usize, nowUs: f64): f64 { return <f64>logLimitTake(changetype<LogLimit>(limit), <u64>nowUs); }

// ---- virtqueues and virtio-blk requests over simulated guest memory (tests/unit/vhost-blk.test.ts) ----
// Guest memory is a region the host mapped (the addon's guestRegionMap, as in a session) whose pages the
// test also sees through a window in the harness's memory, so vring.ts and blk.ts translate, walk
// and serve chains exactly as in a session, through the same host calls.

import { heapAllocZeroed } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import { bdevById } from "../../assembly/bdev";
import { MemTable, memTableNew, regionAt, memGuardWord } from "../../assembly/vhost/mem";
import { Vring, vringInit, vringWalk, CHAIN_BYTES } from "../../assembly/vhost/vring";
import { BlkTarget, blkTargetNew, blkPoolCreate, blkProcess } from "../../assembly/vhost/blk";

export function hv_mem_new(): usize { return memTableNew(); }
/** Region `slot`: guest physical (and user) [gpa, gpa + size) is the host's region `handle` (mapped by the test). */
export function hv_mem_region(mem: usize, slot: u32, gpa: f64, size: f64, handle: i32): void {
  const t = changetype<MemTable>(mem);
  const r = regionAt(t, slot);
  if (r.handle == 0) t.count++;
  r.guestAddr = <u64>gpa;
  r.userAddr = <u64>gpa;
  r.size = <u64>size;
  r.handle = handle;
}
/** The table's guard word (the test maps its regions and windows with it). */
export function hv_mem_guard(mem: usize): usize { return memGuardWord(changetype<MemTable>(mem)); }

/** A started, enabled ring of `num` entries whose three areas are at the given addresses of this memory. */
export function hv_vring_new(num: u32, desc: usize, avail: usize, used: usize): usize {
  const v = changetype<Vring>(heapAllocZeroed(offsetof<Vring>()));
  vringInit(v, 0);
  v.num = num;
  v.desc = desc;
  v.avail = avail;
  v.used = used;
  v.started = 1;
  v.enabled = 1;
  return changetype<usize>(v);
}
export function hv_vring_inflight(v: usize): u32 { return changetype<Vring>(v).inflight; }
export function hv_vring_broken(v: usize): u32 { return changetype<Vring>(v).broken; }

export function hv_chain_bytes(): usize { return CHAIN_BYTES; }
/** vringWalk of `head` into `chain`: 0, or the refusal's message (a static string). */
export function hv_walk(v: usize, mem: usize, head: u32, chain: usize): usize {
  const why = vringWalk(changetype<Vring>(v), changetype<MemTable>(mem), head, chain);
  return why == null ? 0 : changetype<usize>(why);
}

/** A blk target for bdev `bdevId` through an open descriptor and a channel (of the thread that will process). */
export function hv_blk_target(bdevId: u32, desc: u32, channel: usize, mem: usize, readOnly: u32): usize {
  const t = blkTargetNew();
  t.bdev = bdevById(bdevId);
  t.desc = desc;
  t.channel = channel;
  t.mem = mem;
  t.readOnly = readOnly;
  t.name = changetype<usize>("hv_test");
  t.refusedLog = changetype<usize>(logLimitNew());
  t.droppedLog = changetype<usize>(logLimitNew());
  return changetype<usize>(t);
}
/** Where GET_ID's serial (BLK_ID_BYTES) is kept. */
export function hv_blk_id(t: usize): usize { return changetype<BlkTarget>(t).id; }
export function hv_blk_failed(t: usize): f64 { return <f64>changetype<BlkTarget>(t).failed; }
export function hv_blk_done(t: usize): f64 { return <f64>changetype<BlkTarget>(t).done; }
export function hv_blk_on_bdev(t: usize): u32 { return changetype<BlkTarget>(t).onBdev; }
export function hv_blk_pool(v: usize): i32 { return blkPoolCreate(changetype<Vring>(v)); }

// Process ctx: [0] target, [4] vring, [8] chains started by the last blkProcess
function processMsg(ctx: usize): void {
  store<u32>(ctx, blkProcess(changetype<BlkTarget>(load<usize>(ctx)), changetype<Vring>(load<usize>(ctx, 4))), 8);
}
export function hv_process_ctx(t: usize, v: usize): usize {
  const ctx = heapAllocZeroed(16);
  store<usize>(ctx, t);
  store<usize>(ctx, v, 4);
  return ctx;
}
/** blkProcess as a message on `thread` (its channel's: the bdev layer checks the submitting thread). */
export function hv_send_process(thread: usize, ctx: usize): void { sendMsg(thread, processMsg, ctx); }
