// The plugin ABI, version 1 (docs/plugins.md describes it for plugin authors): what a plugin module
// may import, what it must export and with which signatures, and the limits the engine holds it to.
// Declared once here; the load-time check (check.ts) and the runtime (instance.ts) both read it.

export const PLUGIN_ABI_VERSION = 1;

/** Wasm value types as the ABI writes them. */
export type AbiType = 'i32' | 'i64';

export interface AbiFunction { params: AbiType[]; results: AbiType[] }

/** The only import a plugin may have: a log line of UTF-8 bytes at [ptr, ptr + len) of its memory. */
export const IMPORT_MODULE = 'wstor';
export const ALLOWED_IMPORTS: Record<string, AbiFunction> = {
  log: { params: ['i32', 'i32'], results: [] },
};

/** Every function export the ABI requires, with its signature. */
export const REQUIRED_EXPORTS: Record<string, AbiFunction> = {
  /** The ABI version the plugin was written for: must be PLUGIN_ABI_VERSION. */
  wstor_abi_version: { params: [], results: ['i32'] },
  /** (bytes) -> offset of a window of at least `bytes` bytes in its memory, fixed for the instance's life. */
  wstor_window: { params: ['i32'], results: ['i32'] },
  /** (config_len, block_size) -> 0, or a negative errno refusing the config (its JSON is in the window). */
  wstor_init: { params: ['i32', 'i32'], results: ['i32'] },
  /** (op, offset_blocks, num_blocks) -> 0, or a negative errno failing the I/O; the data is in the window. */
  wstor_io: { params: ['i32', 'i64', 'i32'], results: ['i32'] },
};

/**
 * Optional: () -> bytes of metadata the plugin keeps per block (0 to META_BYTES_MAX; absent: 0). The
 * engine stores them in a reserved tail of the base bdev and passes each call's in the window, right
 * after its data (docs/plugins.md, "Per-block metadata").
 */
export const OPTIONAL_EXPORTS: Record<string, AbiFunction> = {
  wstor_meta_bytes: { params: [], results: ['i32'] },
};
export const META_BYTES_MAX = 64;

/** The plugin's own memory, exported under this name (it must not import one). */
export const MEMORY_EXPORT = 'memory';

/** Names the loader adds to a plugin (the fuel counter); a plugin may not use them itself. */
export const RESERVED_PREFIX = '__wstor';
export const FUEL_GLOBAL = '__wstor_fuel';
/** The import the metering pass calls when the fuel runs out (the loader provides it; no plugin may). */
export const FUEL_MODULE = '__wstor';
export const FUEL_OUT_IMPORT = 'out_of_fuel';

/** wstor_io's `op`. */
export const OP_READ = 0;
export const OP_WRITE = 1;

/** What the engine asks a window for: data is copied through it at most this many bytes at a time. */
export const WINDOW_BYTES = 128 * 1024;
/** A plugin's config (JSON, UTF-8) is copied into its window: at most this long. */
export const CONFIG_BYTES_MAX = 64 * 1024;

export const WASM_PAGE_BYTES = 65536;

/** The limits one plugin bdev holds its plugin to (bdev_plugin_create's optional params). */
export interface PluginLimits {
  /** Fuel for one call (init, or one window of an I/O); about one unit per instruction. */
  fuel: number;
  /** Most pages (64 KiB) its memory may have: its declared maximum must not be above this. */
  memoryPages: number;
  /** Traps (or budget overruns) within `trapWindowMs` after which the bdev fails every I/O. */
  maxTraps: number;
  trapWindowMs: number;
}

export const DEFAULT_LIMITS: PluginLimits = { fuel: 20_000_000, memoryPages: 64, maxTraps: 5, trapWindowMs: 10_000 };
export const FUEL_MAX = 0x7fffffff;
export const MEMORY_PAGES_MAX = 16384;
export const MAX_TRAPS_MAX = 1000;
/** At most this many log lines per call reach the engine's log (the rest are counted, then dropped). */
export const LOG_LINES_PER_CALL = 4;
export const LOG_LINE_BYTES_MAX = 1024;
