// Test hooks for the bdev layer, driven by tests/unit/bdev*.test.ts through the deterministic harness.
// One message, `hb_send_op`, runs an operation described by a context block on a thread; its results
// land in the same block, so the test reads them after polling.

import { heapAllocZeroed } from "../../assembly/runtime";
import { sendMsg, getIoChannel, putIoChannel } from "../../assembly/thread";
import {
  bdevOpen, bdevClose, bdevClaim, bdevSubmitBlocks, bdevRead, bdevWrite, bdevUnmap, bdevWriteZeroes, bdevFlush,
  bdevFreeIo, bdevQueueIoWait, bdevIoStatus, bdevReset, bdevUnregister, bdevById, Bdev, IO_READ, IO_WRITE,
  bdevReadLent, bdevIoData, bdevSubmitExternal,
} from "../../assembly/bdev";
import { nullBdevCreate } from "../../assembly/bdev/null";
import { mallocBdevCreate } from "../../assembly/bdev/malloc";

export function hb_null_create(blockSize: u32, blockCount: u32): i32 {
  const b = nullBdevCreate(changetype<usize>("test_null"), blockSize, blockCount);
  return b == 0 ? -22 : <i32>changetype<Bdev>(b).id;
}
export function hb_malloc_create(blockSize: u32, blockCount: u32): i32 {
  const b = mallocBdevCreate(changetype<usize>("test_malloc"), blockSize, blockCount);
  return b == 0 ? -12 : <i32>changetype<Bdev>(b).id;
}
export function hb_exists(id: u32): i32 { return bdevById(id) != 0 ? 1 : 0; }

// The context block's words and the operations are declared with the tests' (tests/helpers/opcodes.ts).
import { BdevOp as Op, BdevWord as W } from "../helpers/opcodes";

function w(ctx: usize, i: i32): u32 { return load<u32>(ctx + (<usize>i << 2)); }
function set(ctx: usize, i: i32, v: u32): void { store<u32>(ctx + (<usize>i << 2), v); }

function ioDone(io: usize, success: bool, ctx: usize): void {
  set(ctx, W.lentAt, <u32>bdevIoData(io));
  set(ctx, W.done, w(ctx, W.done) + 1);
  if (success) set(ctx, W.ok, w(ctx, W.ok) + 1); else set(ctx, W.failed, w(ctx, W.failed) + 1);
  set(ctx, W.status, <u32>bdevIoStatus(io));
  set(ctx, W.inflight, w(ctx, W.inflight) - 1);
  bdevFreeIo(io);
}

function lentDone(io: usize, success: bool, ctx: usize): void {
  if (success) memory.copy(<usize>w(ctx, W.buf), bdevIoData(io), <usize>w(ctx, W.len));
  ioDone(io, success, ctx);
}

function onEvent(_event: u32, _bdev: usize, ctx: usize): void { set(ctx, W.removeEvents, w(ctx, W.removeEvents) + 1); }
function unregistered(ctx: usize): void { set(ctx, W.unregistered, w(ctx, W.unregistered) + 1); }

function submitOneRead(ctx: usize): i32 {
  const rc = bdevRead(w(ctx, W.desc), w(ctx, W.ch), w(ctx, W.buf), 0, 4096, ioDone, ctx);
  if (rc == 0) set(ctx, W.inflight, w(ctx, W.inflight) + 1);
  return rc;
}

function retryAfterWait(ctx: usize): void {
  set(ctx, W.waitCallbacks, w(ctx, W.waitCallbacks) + 1);
  let left = w(ctx, W.retries);
  while (left > 0) {
    const rc = submitOneRead(ctx);
    if (rc == -12) { bdevQueueIoWait(w(ctx, W.ch), ctx + (<usize>W.waitEntry << 2), retryAfterWait, ctx); break; }
    left--;
  }
  set(ctx, W.retries, left);
}

function opMsg(ctx: usize): void {
  const op = <i32>w(ctx, W.op);
  let rc: i32 = 0;
  const desc = w(ctx, W.desc);
  const ch = <usize>w(ctx, W.ch);
  const buf = <usize>w(ctx, W.buf);
  const off = <u64>w(ctx, W.off);
  const len = <u64>w(ctx, W.len);
  switch (op) {
    case Op.open: {
      rc = bdevOpen(bdevById(w(ctx, W.bdev)), w(ctx, W.flag) != 0, onEvent, ctx);
      if (rc > 0) { set(ctx, W.desc, <u32>rc); rc = 0; }
      break;
    }
    case Op.close: rc = bdevClose(desc); break;
    case Op.claim: rc = bdevClaim(desc); break;
    case Op.getChannel: {
      const c = getIoChannel(bdevById(w(ctx, W.bdev)));
      set(ctx, W.ch, <u32>c);
      rc = c == 0 ? -12 : 0;
      break;
    }
    case Op.putChannel: putIoChannel(ch); break;
    case Op.read: rc = bdevRead(desc, ch, buf, off, len, ioDone, ctx); break;
    case Op.readLent: rc = bdevReadLent(desc, ch, off, len, lentDone, ctx); break;
    case Op.write: rc = bdevWrite(desc, ch, buf, off, len, ioDone, ctx); break;
    case Op.unmap: rc = bdevUnmap(desc, ch, off, len, ioDone, ctx); break;
    case Op.writeZeroes: rc = bdevWriteZeroes(desc, ch, off, len, ioDone, ctx); break;
    case Op.flush: rc = bdevFlush(desc, ch, ioDone, ctx); break;
    case Op.reset: rc = bdevReset(desc, ch, ioDone, ctx); break;
    case Op.readv: rc = bdevSubmitBlocks(desc, ch, IO_READ, buf, w(ctx, W.flag), off >> 12, len >> 12, ioDone, ctx); break;
    case Op.writev: rc = bdevSubmitBlocks(desc, ch, IO_WRITE, buf, w(ctx, W.flag), off >> 12, len >> 12, ioDone, ctx); break;
    case Op.readExt: rc = bdevSubmitExternal(desc, ch, IO_READ, buf, w(ctx, W.flag), off >> 12, len >> 12, ioDone, ctx); break;
    case Op.writeExt: rc = bdevSubmitExternal(desc, ch, IO_WRITE, buf, w(ctx, W.flag), off >> 12, len >> 12, ioDone, ctx); break;
    case Op.unregister: rc = bdevUnregister(bdevById(w(ctx, W.bdev)), unregistered, ctx); break;
    case Op.readMany: {
      set(ctx, W.retries, w(ctx, W.flag));
      retryAfterWait(ctx);
      set(ctx, W.waitCallbacks, w(ctx, W.waitCallbacks) - 1);     // the first round was not a wait callback
      return;
    }
    default: rc = -22;
  }
  if (op >= Op.read && op <= Op.reset || op == Op.readv || op == Op.writev || op == Op.readLent || op == Op.readExt || op == Op.writeExt) { if (rc == 0) set(ctx, W.inflight, w(ctx, W.inflight) + 1); }
  set(ctx, W.rc, <u32>rc);
}

export function hb_send_op(thread: usize, ctx: usize): void { sendMsg(thread, opMsg, ctx); }
export function hb_ctx_new(): usize { return heapAllocZeroed(128); }


// ---- modules that need a thread to be created: the app thread is a harness thread here ----
import { appThreadSet } from "../../assembly/app/request";
export function hb_set_app_thread(thread: usize): void { appThreadSet(thread); }

/** The data of malloc bdev `id` (its address in the memory), so a test can copy a device across instances. */
/** Whether bdev `id`'s module takes external vectors itself (1) or the layer bounces them (0): both paths on one bdev. */
export function hb_takes_external(id: u32, takes: u32): void { changetype<Bdev>(bdevById(id)).takesExternal = takes; }
export function hb_malloc_data(id: u32): usize { const b = bdevById(id); return b == 0 ? 0 : changetype<Bdev>(b).ctx; }
