// Test hooks for the Blobstore (tests/unit/blobstore.test.ts): one message runs an operation
// described by a context block on a harness thread (the md thread); results land in the block.
import { heapAllocZeroed } from "../../assembly/runtime";
import { sendMsg } from "../../assembly/thread";
import {
  Store, Blob, storeInit, storeLoad, storeUnload, storeAbandon, storeGetChannel, storeFreeClusters, blobCreate, blobOpen,
  blobClose, blobSync, blobResize, blobDelete, blobSetXattr, blobGetXattr, blobRemoveXattr, blobClusters,
  blobAllocatedClusters, xattrValueBytes, blobIo,
} from "../../assembly/blob";

// ctx words: 0 op, 1 rc, 2 completions, 3 store, 4 blob, 5 id lo, 6 id hi, 7..10 args, 11 value lo,
// 12 value hi, 13 channel
const OP_INIT: u32 = 1, OP_LOAD: u32 = 2, OP_UNLOAD: u32 = 3, OP_CREATE: u32 = 4, OP_OPEN: u32 = 5, OP_CLOSE: u32 = 6,
  OP_SYNC: u32 = 7, OP_RESIZE: u32 = 8, OP_DELETE: u32 = 9, OP_SET_XATTR: u32 = 10, OP_GET_XATTR: u32 = 11,
  OP_REMOVE_XATTR: u32 = 12, OP_READ: u32 = 13, OP_WRITE: u32 = 14, OP_ABANDON: u32 = 15, OP_CHANNEL: u32 = 16;

function w(ctx: usize, i: u32): u32 { return load<u32>(ctx + (<usize>i << 2)); }
function set(ctx: usize, i: u32, v: u32): void { store<u32>(ctx + (<usize>i << 2), v); }
function id(ctx: usize): u64 { return (<u64>w(ctx, 6) << 32) | <u64>w(ctx, 5); }

function done(ctx: usize, rc: i32, value: u64): void {
  set(ctx, 1, <u32>rc);
  set(ctx, 11, <u32>value);
  set(ctx, 12, <u32>(value >> 32));
  set(ctx, 2, w(ctx, 2) + 1);
}
function ioDone(ctx: usize, rc: i32): void { done(ctx, rc, 0); }

function opMsg(ctx: usize): void {
  const s = changetype<Store>(<usize>w(ctx, 3));
  const b = changetype<Blob>(<usize>w(ctx, 4));
  let rc: i32 = 0;
  switch (w(ctx, 0)) {
    case OP_INIT: storeInit(w(ctx, 7), w(ctx, 8), w(ctx, 9), done, ctx); return;
    case OP_LOAD: storeLoad(w(ctx, 7), done, ctx); return;
    case OP_UNLOAD: storeUnload(s, done, ctx); return;
    case OP_CREATE: blobCreate(s, <u64>w(ctx, 7), w(ctx, 8) != 0, done, ctx); return;
    case OP_OPEN: blobOpen(s, id(ctx), done, ctx); return;
    case OP_CLOSE: blobClose(b, done, ctx); return;
    case OP_SYNC: blobSync(b, done, ctx); return;
    case OP_DELETE: blobDelete(s, id(ctx), done, ctx); return;
    case OP_RESIZE: rc = blobResize(b, <u64>w(ctx, 7)); break;
    case OP_SET_XATTR: rc = blobSetXattr(b, w(ctx, 7), w(ctx, 8), w(ctx, 9), w(ctx, 10), false); break;
    case OP_REMOVE_XATTR: rc = blobRemoveXattr(b, w(ctx, 7), w(ctx, 8), false); break;
    case OP_GET_XATTR: {
      const v = blobGetXattr(b, w(ctx, 7), w(ctx, 8), false);
      done(ctx, v == 0 ? -2 : 0, v == 0 ? 0 : (<u64>xattrValueBytes << 32) | <u64>v);
      return;
    }
    case OP_CHANNEL: set(ctx, 13, <u32>storeGetChannel(s)); break;
    case OP_READ:
    case OP_WRITE: {
      rc = blobIo(b, <usize>w(ctx, 13), w(ctx, 0) == OP_WRITE, w(ctx, 7), <u64>w(ctx, 8), <u64>w(ctx, 9), ioDone, ctx);
      if (rc == 0) return;
      break;
    }
    case OP_ABANDON: storeAbandon(s); break;
    default: rc = -22;
  }
  done(ctx, rc, 0);
}

export function hbs_send(thread: usize, ctx: usize): i32 { return sendMsg(thread, opMsg, ctx); }
export function hbs_ctx_new(): usize { return heapAllocZeroed(64); }
export function hbs_free_clusters(store: usize): f64 { return <f64>storeFreeClusters(changetype<Store>(store)); }
export function hbs_blob_clusters(blob: usize): f64 { return <f64>blobClusters(changetype<Blob>(blob)); }
export function hbs_blob_allocated(blob: usize): f64 { return <f64>blobAllocatedClusters(changetype<Blob>(blob)); }

/** Next used blob md page at or after `from` (-1 if none): lets a test walk every blob of a store. */
export function hbs_next_blob(store: usize, from: u32): i32 {
  const s = changetype<Store>(store);
  for (let p = from; p < s.mdLen; p++) {
    if ((load<u8>(s.usedIds + (p >> 3)) & (<u8>1 << <u8>(p & 7))) != 0) return <i32>p;
  }
  return -1;
}
export function hbs_used_clusters(store: usize): f64 { const s = changetype<Store>(store); return <f64>(s.totalClusters - s.freeClusters); }
export function hbs_first_data_cluster(store: usize): f64 { return <f64>changetype<Store>(store).firstDataCluster; }
