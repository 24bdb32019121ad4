// Fixed addresses below the static data (asc --memoryBase 65536). Every instance on the shared memory
// agrees on these without being told; everything else is reached through pointers stored here.

/** asc puts static data at this address; [0, MEMORY_BASE) holds the control blocks below. */
export const MEMORY_BASE: usize = 65536;

/** Word that guards the one-time copy of the passive data segments (written by scripts/passive-data.mjs). */
export const DATA_INIT_FLAG: usize = 1024;

/** The shared page allocator's root (PageRoot, 64 bytes). */
export const PAGE_ROOT: usize = 1088;

/** Engine-wide registry root (threads, io_devices), see thread/registry.ts. 256 bytes. */
export const REGISTRY_ROOT: usize = 1280;

/** The bdev registry's root (bdev/registry.ts). 64 bytes. */
export const BDEV_ROOT: usize = 1536;

/** Pointer to the app thread (app/request.ts). */
export const APP_THREAD: usize = 1600;

/** The host's completion queue (app/completions.ts): ring pointer, doorbell, host-waiting flag, count. 64 bytes. */
export const HOST_COMPLETIONS: usize = 1664;

/** The NVMe-oF target's registry root (nvme/registry.ts). 64 bytes. */
export const NVMF_ROOT: usize = 1728;

/** Table of per-instance heap arenas: MAX_ARENAS pointers. */
export const ARENA_TABLE: usize = 2048;

/** Table of reactors: MAX_REACTORS pointers. */
export const REACTOR_TABLE: usize = 4096;

/** Arenas: one per Wasm instance (each reactor, plus the host's control instance). */
export const MAX_ARENAS: u32 = 64;

/** Reactors: at most one per CPU the process may use. */
export const MAX_REACTORS: u32 = 63;

/** Unit of the shared page allocator (one Wasm page). */
export const PAGE_SIZE: usize = 65536;
export const PAGE_SHIFT: u32 = 16;
