// The control plane's half of a plugin bdev: the limits and config checked, the module checked and
// metered (prepare.ts), started once here so a plugin that cannot start is an error of the create
// call, and staged in the engine's memory (heap blocks the core's plugin bdev takes over).

import type { CoreExports } from '../core-abi.js';
import { WstorError } from '../errors.js';
import { CONFIG_BYTES_MAX, DEFAULT_LIMITS, FUEL_MAX, MAX_TRAPS_MAX, MEMORY_PAGES_MAX, type PluginLimits } from './abi.js';
import { PluginSlot } from './slot.js';

export interface PluginBdevOptions extends Partial<PluginLimits> {
  /** The plugin's module (a .wasm file's bytes). */
  module: Uint8Array;
  /** What to call the module in listings and saved configs (the path it came from). */
  moduleName?: string;
  /** Handed to the plugin's wstor_init as JSON (default {}). */
  config?: unknown;
  uuid?: string;
}

/** What a plugin bdev remembers of its making (bdev_plugin_get_plugins, save_config). */
export interface PluginFacts {
  module: string; config: unknown; limits: PluginLimits;
  /** Metadata bytes the plugin keeps per block (wstor_meta_bytes), in the base's tail. */
  metaBytes: number;
}

function limitsOf(opts: Partial<PluginLimits>): PluginLimits {
  const l = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in DEFAULT_LIMITS && v !== undefined)) } as PluginLimits;
  const within = (key: keyof PluginLimits, what: string, lo: number, hi: number) => {
    const v = l[key];
    if (!Number.isInteger(v) || v < lo || v > hi) throw new WstorError('EINVAL', `plugin ${what} ${v} must be an integer from ${lo} to ${hi}`);
  };
  within('fuel', 'fuel', 1000, FUEL_MAX);
  within('memoryPages', 'memory_pages', 1, MEMORY_PAGES_MAX);
  within('maxTraps', 'max_traps', 1, MAX_TRAPS_MAX);
  within('trapWindowMs', 'trap_window_ms', 1, 86_400_000);
  return l;
}

/** A plugin ready for bdev_plugin_create: heap blocks holding its metered module, its config, its limits. */
export interface StagedPlugin {
  facts: PluginFacts;
  module: number; moduleLen: number; config: number; configLen: number;
  /** bdev_plugin_create's limits block (assembly/app/plugin-exports.ts PluginLimits: four u32). */
  limits: number;
  /** Give the module and config back (only while the core has not taken them) and the limits block (always the host's). */
  free(taken: boolean): void;
}

function heapCopy(core: CoreExports, memory: WebAssembly.Memory, bytes: Uint8Array, what: string): number {
  const ptr = core.wstor_alloc(Math.max(1, bytes.length)) >>> 0;
  if (ptr === 0) throw new WstorError('ENOMEM', `the engine's memory has no room for the plugin's ${what} (${bytes.length} bytes): free something, or start with more memory`, -12);
  new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

/** Check, meter, start once (then discard) and stage plugin bdev `name`'s plugin. */
export async function stagePlugin(core: CoreExports, memory: WebAssembly.Memory, name: string, blockSize: number, opts: PluginBdevOptions,
  prepare: (bytes: Uint8Array, limits: PluginLimits) => Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer>>): Promise<StagedPlugin> {
  if (!(opts.module instanceof Uint8Array) || opts.module.length === 0) throw new WstorError('EINVAL', `plugin bdev ${name}: module must be the bytes of a .wasm file`);
  const limits = limitsOf(opts);
  const configJson = JSON.stringify(opts.config ?? {});
  const config = new TextEncoder().encode(configJson);
  if (config.length > CONFIG_BYTES_MAX) throw new WstorError('EINVAL', `plugin bdev ${name}: its config is ${config.length} bytes of JSON; at most ${CONFIG_BYTES_MAX}`);
  const metered = await prepare(opts.module, limits);
  // Compiled asynchronously: a browser page may not compile a large module synchronously.
  const compiled = await WebAssembly.compile(metered);
  let metaBytes: number;
  try {
    metaBytes = new PluginSlot({ name, module: compiled, config, blockSize, fuel: limits.fuel, log: () => {} }, () => {}).metaBytes;
  } catch (err) {
    if (err instanceof WstorError) throw err;
    throw new WstorError('EINVAL', `plugin bdev ${name}: the plugin could not start: ${(err as Error).message}`);
  }
  const words = new Uint8Array(new Uint32Array([limits.fuel, limits.maxTraps, limits.trapWindowMs, metaBytes]).buffer);
  const blocks: number[] = [];
  try {
    for (const [bytes, what] of [[metered, 'module'], [config, 'config'], [words, 'limits']] as const) blocks.push(heapCopy(core, memory, bytes, what));
  } catch (err) {
    for (const b of blocks) core.wstor_free(b);
    throw err;
  }
  const [modulePtr, configPtr, limitsPtr] = blocks;
  return {
    facts: { module: opts.moduleName ?? `<${opts.module.length} bytes>`, config: JSON.parse(configJson), limits, metaBytes },
    module: modulePtr, moduleLen: metered.length, config: configPtr, configLen: config.length, limits: limitsPtr,
    free: (taken) => {
      if (!taken) { core.wstor_free(modulePtr); core.wstor_free(configPtr); }
      core.wstor_free(limitsPtr);
    },
  };
}
