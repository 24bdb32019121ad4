// The Blobstore's public surface (SPDK's include/spdk/blob.h, in wstor's names).
export { Store, Blob, BsOpCb } from "./types";
export { blobAttach, storeInit, storeLoad, storeUnload, storeAbandon, storeGetChannel, storeFreeClusters, storeTotalClusters, storeSetSuper, storeGetSuper, storeGrow } from "./store";
export {
  blobCreate, blobOpen, blobClose, blobSync, blobResize, blobDelete, blobSetXattr, blobGetXattr, blobRemoveXattr,
  blobClusters, blobAllocatedClusters, blobIsThin, xattrValueBytes, blobXattrNames, xattrNamesBytes, blobSnapshot, blobClone, blobParentId, blobIsSnapshot,
  blobSetReadOnly, blobIsReadOnly,
} from "./blob";
export { blobIo, blobOp, blobOpv, BlobIoCb, BLOB_READ, BLOB_WRITE, BLOB_UNMAP, BLOB_WRITE_ZEROES, BLOB_MAX_IOVS } from "./io";
export { blobInflate, blobDecouple } from "./inflate";
export { blobFreeze, blobUnfreeze, blobIsFrozen } from "./freeze";
export { cloneIndexCount, cloneIndexParent, cloneIndexVerify } from "./clone-index";
