// The runtime's public surface: the shared heap, locks, rings, pools and the host seam.
export * from "./layout";
export * from "./errno";
export * from "./host";
export * from "./events";
export * from "./host-bell";
export { heapAttach, heapStackMark, heapStackReset, heapArenaId, heapAlloc, heapAllocZeroed, heapFree, heapRealloc, heapBlockBytes, heapLiveBlocks, heapLiveBlocksOf, heapLiveBlocksAll } from "./heap";
export { pagesInit, pagesInUse, pagesFreeCount, pagesAlloc, pagesFree, pagesSetLimit, pagesLargestRun, heapCapacityBytes } from "./pages";
export * from "./context";
export * from "./spinlock";
export { rawLock, rawTryLock, rawUnlock, rawLocksHeld } from "./rawlock";
export * from "./ring";
export * from "./spsc";
export * from "./pool";
export * from "./histogram";
export * from "./crc32c";
