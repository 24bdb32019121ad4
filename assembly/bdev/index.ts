// The bdev layer's public surface (SPDK's include/spdk/bdev.h and bdev_module.h, in wstor's names).
export * from "./types";
export { bdevAlloc, bdevRegister, bdevOpen, bdevClaim, bdevClose, bdevUnregister, bdevIsRemoving, bdevResize, DEFAULT_POOL_SIZE } from "./bdev";
export {
  bdevSubmitBlocks, bdevSubmitExternal, bdevRead, bdevReadLent, bdevIoData, bdevWrite, bdevUnmap, bdevWriteZeroes, bdevFlush, bdevIoComplete, bdevIoCompleteList, bdevFreeIo,
  bdevQueueIoWait, bdevIoStatus, bdevIoBytes, bdevChannelOf,
} from "./io";
export { bdevReset } from "./reset";
export { bdevScratchGet, bdevScratchPut, SCRATCH_BUFFERS_MAX, ScratchCb } from "./scratch";
export { bdevStatsRead, STATS_BLOCK_BYTES } from "./channel";
export { bdevById, bdevCount, descFromHandle } from "./registry";
export { deferRegister, deferComplete, moduleChannelOf } from "./defer";
export { EXT_IOV_BYTES, extIovSet, extIovHandle, extIovLen, extIovOffset, extIovCopy } from "./extiov";
