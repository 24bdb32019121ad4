// The Blobstore's host requests: each runs on the app thread (the stores' md thread) and ends with
// EVENT_REQUEST_DONE(id, rc, value). Host buffers (names, xattr values) are heap blocks the host
// allocated with wstor_alloc and frees after the request completes.

import { heapAlloc, heapFree } from "../runtime";
import { bdevById } from "../bdev";
import {
  Store, Blob, storeInit, storeLoad, storeUnload, blobCreate, blobOpen, blobClose, blobSync, blobResize, blobDelete,
  blobSetXattr, blobGetXattr, blobRemoveXattr, storeSetSuper, storeGetSuper, storeGrow, blobSnapshot, blobClone, blobInflate, blobDecouple, blobParentId, blobIsSnapshot, blobClusters, blobIsThin, blobAllocatedClusters, xattrValueBytes, blobXattrNames, xattrNamesBytes,
  blobSetReadOnly, blobIsReadOnly,
} from "../blob";
import { onAppThread, requestDone } from "./request";

// A request's arguments, copied at post time. Freed when the request completes.
@unmanaged class BsReq {
  id: u32;
  kind: u32;
  store: usize;
  blob: usize;
  a: u64;
  b: u64;
  c: u64;
  buf: usize;
  len: u32;
  buf2: usize;
  len2: u32;
}

// Blob I/O (once 13-16) runs on I/O threads instead: bs-io.ts.
const K_SET_SUPER: u32 = 17, K_SNAPSHOT: u32 = 18, K_CLONE: u32 = 19;
const K_INFLATE: u32 = 20, K_DECOUPLE: u32 = 21, K_XATTR_NAMES: u32 = 22, K_GROW: u32 = 23, K_PROBE: u32 = 24,
  K_SET_READ_ONLY: u32 = 25;
const K_INIT: u32 = 1, K_LOAD: u32 = 2, K_UNLOAD: u32 = 3, K_CREATE: u32 = 4, K_OPEN: u32 = 5, K_CLOSE: u32 = 6,
  K_SYNC: u32 = 7, K_RESIZE: u32 = 8, K_DELETE: u32 = 9, K_SET_XATTR: u32 = 10, K_GET_XATTR: u32 = 11,
  K_REMOVE_XATTR: u32 = 12;

function post(kind: u32, id: u32, store: usize, blob: usize, a: u64, b: u64, c: u64, buf: usize, len: u32, buf2: usize, len2: u32): i32 {
  const r = changetype<BsReq>(heapAlloc(offsetof<BsReq>()));
  if (changetype<usize>(r) == 0) return -12;
  r.id = id; r.kind = kind; r.store = store; r.blob = blob; r.a = a; r.b = b; r.c = c;
  r.buf = buf; r.len = len; r.buf2 = buf2; r.len2 = len2;
  const rc = onAppThread(run, changetype<usize>(r));
  if (rc != 0) heapFree(changetype<usize>(r));
  return rc;
}

function finish(req: usize, rc: i32, value: u64): void {
  const id = changetype<BsReq>(req).id;
  heapFree(req);
  requestDone(id, rc, <f64>value);
}

function run(req: usize): void {
  const r = changetype<BsReq>(req);
  const s = changetype<Store>(r.store);
  const b = changetype<Blob>(r.blob);
  let rc: i32 = 0;
  let value: u64 = 0;
  switch (r.kind) {
    case K_INIT: {
      if (bdevById(<u32>r.a) == 0) { rc = -19; break; }
      storeInit(<u32>r.a, <u32>r.b, <u32>r.c, finish, req); return;
    }
    case K_LOAD: storeLoad(<u32>r.a, finish, req, false, r.b != 0); return;
    case K_UNLOAD: storeUnload(s, finish, req); return;
    case K_CREATE: blobCreate(s, r.a, r.b != 0, finish, req); return;
    case K_OPEN: blobOpen(s, r.a, finish, req); return;
    case K_CLOSE: blobClose(b, finish, req); return;
    case K_SYNC: blobSync(b, finish, req); return;
    case K_DELETE: blobDelete(s, r.a, finish, req); return;
    case K_RESIZE: blobResize(b, r.a, finish, req); return;
    case K_SET_XATTR: rc = blobSetXattr(b, r.buf, r.len, r.buf2, r.len2, false); break;
    case K_REMOVE_XATTR: rc = blobRemoveXattr(b, r.buf, r.len, false); break;
    case K_GET_XATTR: {
      const v = blobGetXattr(b, r.buf, r.len, false);
      if (v == 0) rc = -2;
      else {
        // Hand the host a copy it owns (the blob's own bytes may change before it reads them).
        const copy = heapAlloc(<usize>xattrValueBytes + 1);
        if (copy == 0) { rc = -12; break; }
        memory.copy(copy, v, xattrValueBytes);
        value = <u64>copy | (<u64>xattrValueBytes << 32);
      }
      break;
    }
    case K_XATTR_NAMES: {
      const names = blobXattrNames(b);
      if (names == 0) rc = -12;
      else value = <u64>names | (<u64>xattrNamesBytes << 32);
      break;
    }
    case K_SET_SUPER: storeSetSuper(s, r.a, finish, req); return;
    case K_GROW: storeGrow(s, finish, req); return;
    case K_PROBE: storeLoad(<u32>r.a, finish, req, true); return;
    case K_SET_READ_ONLY: blobSetReadOnly(b, finish, req); return;
    case K_SNAPSHOT: blobSnapshot(b, finish, req); return;
    case K_CLONE: blobClone(s, r.a, finish, req); return;
    case K_INFLATE: blobInflate(b, finish, req); return;
    case K_DECOUPLE: blobDecouple(b, finish, req); return;
    default: rc = -22;
  }
  finish(req, rc, value);
}

export function bs_init(req: u32, bdevId: u32, clusterBytes: u32, mdPages: u32): i32 { return post(K_INIT, req, 0, 0, bdevId, clusterBytes, mdPages, 0, 0, 0, 0); }
/** Load the store on a bdev; `readOnly` 1: opened for reading only, nothing written (a dirty store recovers in memory). */
export function bs_load(req: u32, bdevId: u32, readOnly: u32): i32 { return post(K_LOAD, req, 0, 0, bdevId, readOnly, 0, 0, 0, 0, 0); }
export function bs_unload(req: u32, store: usize): i32 { return post(K_UNLOAD, req, store, 0, 0, 0, 0, 0, 0, 0, 0); }
export function bs_free_clusters(store: usize): f64 { return <f64>changetype<Store>(store).freeClusters; }
export function bs_total_clusters(store: usize): f64 { return <f64>changetype<Store>(store).totalClusters; }
export function bs_grow(req: u32, store: usize): i32 { return post(K_GROW, req, store, 0, 0, 0, 0, 0, 0, 0, 0); }
export function bs_cluster_bytes(store: usize): u32 { return changetype<Store>(store).clusterBytes; }
export function bs_io_unit_bytes(store: usize): u32 { return changetype<Store>(store).blockSize; }
export function blob_create(req: u32, store: usize, clusters: f64, thin: u32): i32 { return post(K_CREATE, req, store, 0, <u64>clusters, thin, 0, 0, 0, 0, 0); }
export function blob_open(req: u32, store: usize, id: f64): i32 { return post(K_OPEN, req, store, 0, <u64>id, 0, 0, 0, 0, 0, 0); }
export function blob_close(req: u32, blob: usize): i32 { return post(K_CLOSE, req, 0, blob, 0, 0, 0, 0, 0, 0, 0); }
export function blob_sync(req: u32, blob: usize): i32 { return post(K_SYNC, req, 0, blob, 0, 0, 0, 0, 0, 0, 0); }
export function blob_resize(req: u32, blob: usize, clusters: f64): i32 { return post(K_RESIZE, req, 0, blob, <u64>clusters, 0, 0, 0, 0, 0, 0); }
export function blob_delete(req: u32, store: usize, id: f64): i32 { return post(K_DELETE, req, store, 0, <u64>id, 0, 0, 0, 0, 0, 0); }
export function blob_set_xattr(req: u32, blob: usize, name: usize, nameBytes: u32, value: usize, valueBytes: u32): i32 {
  return post(K_SET_XATTR, req, 0, blob, 0, 0, 0, name, nameBytes, value, valueBytes);
}
export function blob_xattr_names(req: u32, blob: usize): i32 { return post(K_XATTR_NAMES, req, 0, blob, 0, 0, 0, 0, 0, 0, 0); }
export function blob_get_xattr(req: u32, blob: usize, name: usize, nameBytes: u32): i32 { return post(K_GET_XATTR, req, 0, blob, 0, 0, 0, name, nameBytes, 0, 0); }
export function blob_remove_xattr(req: u32, blob: usize, name: usize, nameBytes: u32): i32 { return post(K_REMOVE_XATTR, req, 0, blob, 0, 0, 0, name, nameBytes, 0, 0); }
export function blob_clusters(blob: usize): f64 { return <f64>blobClusters(changetype<Blob>(blob)); }

/** Next blob (its md page) at or after md page `from`, -1 at the end: the host walks a store's blobs. */
export function bs_next_blob(store: usize, from: u32): i32 {
  const s = changetype<Store>(store);
  for (let p = from; p < s.mdLen; p++) {
    if ((load<u8>(s.usedIds + (p >> 3)) & (<u8>1 << <u8>(p & 7))) != 0) return <i32>p;
  }
  return -1;
}
export function blob_is_thin(blob: usize): u32 { return blobIsThin(changetype<Blob>(blob)) ? 1 : 0; }
export function blob_allocated_clusters(blob: usize): f64 { return <f64>blobAllocatedClusters(changetype<Blob>(blob)); }

export function bs_set_super(req: u32, store: usize, id: f64): i32 { return post(K_SET_SUPER, req, store, 0, <u64>id, 0, 0, 0, 0, 0, 0); }
export function bs_get_super(store: usize): f64 { return <f64>storeGetSuper(changetype<Store>(store)); }

export function blob_snapshot(req: u32, blob: usize): i32 { return post(K_SNAPSHOT, req, 0, blob, 0, 0, 0, 0, 0, 0, 0); }
export function blob_inflate(req: u32, blob: usize): i32 { return post(K_INFLATE, req, 0, blob, 0, 0, 0, 0, 0, 0, 0); }
export function blob_decouple(req: u32, blob: usize): i32 { return post(K_DECOUPLE, req, 0, blob, 0, 0, 0, 0, 0, 0, 0); }
export function blob_clone(req: u32, store: usize, snapshotId: f64): i32 { return post(K_CLONE, req, store, 0, <u64>snapshotId, 0, 0, 0, 0, 0, 0); }
export function blob_parent(blob: usize): f64 { return <f64>blobParentId(changetype<Blob>(blob)); }
export function blob_is_snapshot(blob: usize): u32 { return blobIsSnapshot(changetype<Blob>(blob)) ? 1 : 0; }

/** Load like bs_load, but a bdev with no blobstore on it fails with -ENODATA and no error report (examine). */
export function bs_probe(req: u32, bdevId: u32): i32 { return post(K_PROBE, req, 0, 0, bdevId, 0, 0, 0, 0, 0, 0); }
export function blob_set_read_only(req: u32, blob: usize): i32 { return post(K_SET_READ_ONLY, req, 0, blob, 0, 0, 0, 0, 0, 0, 0); }
export function blob_is_read_only(blob: usize): u32 { return blobIsReadOnly(changetype<Blob>(blob)) ? 1 : 0; }
