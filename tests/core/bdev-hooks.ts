// Test hooks for the bdev layer, driven by tests/unit/bdev*.test.ts through the deterministic harness.
// One message, `hb_send_op`, runs an operation described by a context block on a thread; its results
// land in the same block, so the test reads them after polling.

import { heapAllocZeroed } from "../../assembly/runtime";
import { sendMsg, getIoChannel, putIoChannel } from "../../assembly/thread";
import {
  bdevOpen, bdevClose, bdevClaim, bdevSubmitBlocks, bdevRead, bdevWrite, bdevUnmap, bdevWriteZeroes, bdevFlush,
  bdevFreeIo, bdevQueueIoWait, bdevIoStatus, bdevReset, bdevUnregister, bdevById, Bdev, IO_READ, IO_WRITE,
  bdevReadLent, bdevIoData,
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

// Context block (u32 words):
//  0 op   1 bdev id   2 desc handle   3 io channel   4 rc of the last call
//  5 completions   6 successes   7 failures   8 last status   9 remove events
// 10 buf  11 offset (bytes, low)  12 len  13 flag (write / count)  14 unregister done  15 io-wait callbacks
// 16 pending retries (queue-wait test)  17 in-flight  18..25 io-wait entry (16 bytes) + spare
// 26 bdevIoData of the last completed io (a read without a buffer: where its data was, copied to `buf`
//    before the io is freed)
const OP_OPEN: u32 = 1;
const OP_CLOSE: u32 = 2;
const OP_GET_CHANNEL: u32 = 3;
const OP_PUT_CHANNEL: u32 = 4;
const OP_READ: u32 = 5;
const OP_WRITE: u32 = 6;
const OP_UNMAP: u32 = 7;
const OP_WRITE_ZEROES: u32 = 8;
const OP_FLUSH: u32 = 9;
const OP_RESET: u32 = 10;
const OP_UNREGISTER: u32 = 11;
const OP_CLAIM: u32 = 12;
const OP_READ_MANY: u32 = 13;     // submit `flag` reads of one block; on -ENOMEM wait for a free io and retry
const OP_READV: u32 = 14;         // buf points at iov pairs, flag = iovcnt, len = total
const OP_WRITEV: u32 = 15;        // as OP_READV
const OP_READ_LENT: u32 = 16;     // bdevReadLent of len at offset; the data is copied to buf at completion

function w(ctx: usize, i: u32): u32 { return load<u32>(ctx + (<usize>i << 2)); }
function set(ctx: usize, i: u32, v: u32): void { store<u32>(ctx + (<usize>i << 2), v); }

function ioDone(io: usize, success: bool, ctx: usize): void {
  set(ctx, 26, <u32>bdevIoData(io));
  set(ctx, 5, w(ctx, 5) + 1);
  if (success) set(ctx, 6, w(ctx, 6) + 1); else set(ctx, 7, w(ctx, 7) + 1);
  set(ctx, 8, <u32>bdevIoStatus(io));
  set(ctx, 17, w(ctx, 17) - 1);
  bdevFreeIo(io);
}

function lentDone(io: usize, success: bool, ctx: usize): void {
  if (success) memory.copy(<usize>w(ctx, 10), bdevIoData(io), <usize>w(ctx, 12));
  ioDone(io, success, ctx);
}

function onEvent(_event: u32, _bdev: usize, ctx: usize): void { set(ctx, 9, w(ctx, 9) + 1); }
function unregistered(ctx: usize): void { set(ctx, 14, w(ctx, 14) + 1); }

function submitOneRead(ctx: usize): i32 {
  const rc = bdevRead(w(ctx, 2), w(ctx, 3), w(ctx, 10), 0, 4096, ioDone, ctx);
  if (rc == 0) set(ctx, 17, w(ctx, 17) + 1);
  return rc;
}

function retryAfterWait(ctx: usize): void {
  set(ctx, 15, w(ctx, 15) + 1);
  let left = w(ctx, 16);
  while (left > 0) {
    const rc = submitOneRead(ctx);
    if (rc == -12) { bdevQueueIoWait(w(ctx, 3), ctx + 72, retryAfterWait, ctx); break; }
    left--;
  }
  set(ctx, 16, left);
}

function opMsg(ctx: usize): void {
  const op = w(ctx, 0);
  let rc: i32 = 0;
  const desc = w(ctx, 2);
  const ch = <usize>w(ctx, 3);
  const buf = <usize>w(ctx, 10);
  const off = <u64>w(ctx, 11);
  const len = <u64>w(ctx, 12);
  switch (op) {
    case OP_OPEN: {
      rc = bdevOpen(bdevById(w(ctx, 1)), w(ctx, 13) != 0, onEvent, ctx);
      if (rc > 0) { set(ctx, 2, <u32>rc); rc = 0; }
      break;
    }
    case OP_CLOSE: rc = bdevClose(desc); break;
    case OP_CLAIM: rc = bdevClaim(desc); break;
    case OP_GET_CHANNEL: {
      const c = getIoChannel(bdevById(w(ctx, 1)));
      set(ctx, 3, <u32>c);
      rc = c == 0 ? -12 : 0;
      break;
    }
    case OP_PUT_CHANNEL: putIoChannel(ch); break;
    case OP_READ: rc = bdevRead(desc, ch, buf, off, len, ioDone, ctx); break;
    case OP_READ_LENT: rc = bdevReadLent(desc, ch, off, len, lentDone, ctx); break;
    case OP_WRITE: rc = bdevWrite(desc, ch, buf, off, len, ioDone, ctx); break;
    case OP_UNMAP: rc = bdevUnmap(desc, ch, off, len, ioDone, ctx); break;
    case OP_WRITE_ZEROES: rc = bdevWriteZeroes(desc, ch, off, len, ioDone, ctx); break;
    case OP_FLUSH: rc = bdevFlush(desc, ch, ioDone, ctx); break;
    case OP_RESET: rc = bdevReset(desc, ch, ioDone, ctx); break;
    case OP_READV: rc = bdevSubmitBlocks(desc, ch, IO_READ, buf, w(ctx, 13), off >> 12, len >> 12, ioDone, ctx); break;
    case OP_WRITEV: rc = bdevSubmitBlocks(desc, ch, IO_WRITE, buf, w(ctx, 13), off >> 12, len >> 12, ioDone, ctx); break;
    case OP_UNREGISTER: rc = bdevUnregister(bdevById(w(ctx, 1)), unregistered, ctx); break;
    case OP_READ_MANY: {
      set(ctx, 16, w(ctx, 13));
      retryAfterWait(ctx);
      set(ctx, 15, w(ctx, 15) - 1);     // the first round was not a wait callback
      return;
    }
    default: rc = -22;
  }
  if (op >= OP_READ && op <= OP_RESET || op == OP_READV || op == OP_WRITEV || op == OP_READ_LENT) { if (rc == 0) set(ctx, 17, w(ctx, 17) + 1); }
  set(ctx, 4, <u32>rc);
}

export function hb_send_op(thread: usize, ctx: usize): void { sendMsg(thread, opMsg, ctx); }
export function hb_ctx_new(): usize { return heapAllocZeroed(128); }


// ---- modules that need a thread to be created: the app thread is a harness thread here ----
import { appThreadSet } from "../../assembly/app/request";
export function hb_set_app_thread(thread: usize): void { appThreadSet(thread); }

/** The data of malloc bdev `id` (its address in the memory), so a test can copy a device across instances. */
export function hb_malloc_data(id: u32): usize { const b = bdevById(id); return b == 0 ? 0 : changetype<Bdev>(b).ctx; }
