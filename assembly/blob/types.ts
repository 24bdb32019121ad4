// The Blobstore's in-memory structures. All metadata changes happen on the store's md thread; I/O
// threads read blobs' cluster maps and claim clusters under the store's spinlock (SPDK's used_lock).

import { SpinLock } from "../runtime";

/** (ctx, rc, value): completion of a store or blob operation, on the thread that started it. */
export type BsOpCb = (ctx: usize, rc: i32, value: u64) => void;

@unmanaged export class Store {
  bdev: usize;
  desc: u32;
  readOnly: u32;
  mdThread: usize;
  mdChannel: usize;         // io_channel of the bdev on the md thread
  blockSize: u32;
  blockShift: u32;
  clusterBytes: u32;
  clusterShift: u32;
  unitsPerCluster: u32;     // io units (bdev blocks) per cluster
  mdStart: u32;
  mdLen: u32;
  maskStart: u32;
  maskLen: u32;
  clusterMaskBits: u32;
  totalClusters: u64;
  firstDataCluster: u64;
  freeClusters: u64;        // under clusterLock
  usedMd: usize;            // bitmaps (md thread)
  usedIds: usize;
  usedClusters: usize;      // under clusterLock (I/O threads claim thin clusters)
  refusedIds: usize;        // blob ids refused at load (a parent chain that loops): open says so (md thread)
  superBlob: u64;
  generation: u64;
  mdTag: u32;               // format.ts storeTag: every md page written carries it, every one read must
  sb: usize;                // 4 KiB copy of the super block
  openBlobs: usize;         // Blob list (md thread)
  busy: u32;                // a store-level operation (unload) is running
  cloneParents: usize;      // clone-index.ts: per md page, the parent's md page + 1 (0: none), as on disk
  cloneCounts: usize;       // clone-index.ts: per md page, how many blobs read through it
  // The SpinLock (16 bytes) lives inline here. A field of class type would be a 4-byte pointer, not
  // room for the struct: two u64s reserve the space.
  clusterLock0: u64;
  clusterLock1: u64;
}

export function storeLock(s: Store): SpinLock { return changetype<SpinLock>(changetype<usize>(s) + offsetof<Store>("clusterLock0")); }

@unmanaged export class Blob {
  store: usize;
  md: usize;                // BlobMd (md.ts)
  id: u64;
  openRef: u32;
  dirty: u32;               // md changed since the last sync
  readOnly: u32;
  syncing: u32;
  chain: usize;             // u32 md page indexes of the chain on disk (first is the blob's own page)
  chainLen: u32;
  next: usize;              // store's open list
  deleting: u32;            // 1 while a delete is under way: opens are refused (blob.ts, snapshot-delete.ts)
  parent: usize;            // the open Blob this one reads unallocated clusters from (clones, snapshots' origins)
  claims: usize;            // io.ts: writes claiming a cluster for this blob now (BlobIoReq list, under the store lock)
  mdBusy: u32;              // a multi-step md op (snapshot, inflate, decouple, a snapshot delete merging into it)
                            // owns this blob's md: others that would change it are refused (EBUSY)
  // ---- I/O freeze (freeze.ts) ----
  frozen: u32;              // nested freezes (md thread writes, I/O threads read: atomic)
  ioInflight: u32;          // blob I/Os admitted and not yet completed (atomic)
  queueHead: usize;         // I/O started while frozen, in arrival order (under freezeLock)
  queueTail: usize;
  queueCount: u32;          // under freezeLock
  // SpinLock (16 bytes) inline, as in Store
  freezeLock0: u64;
  freezeLock1: u64;
}

export function blobFreezeLock(b: Blob): SpinLock { return changetype<SpinLock>(changetype<usize>(b) + offsetof<Blob>("freezeLock0")); }
