// One instantiation of a (checked, metered) plugin module, and the slot that keeps one alive on a
// reactor: it calls the plugin with its fuel set, tells a trap from a budget overrun, and replaces
// an instance that trapped. Portable: no Node API (reactors in a browser run it too).

import { WstorError } from '../errors.js';
import {
  FUEL_GLOBAL, FUEL_MODULE, FUEL_OUT_IMPORT, IMPORT_MODULE, LOG_LINES_PER_CALL, META_BYTES_MAX, LOG_LINE_BYTES_MAX, MEMORY_EXPORT, PLUGIN_ABI_VERSION, WINDOW_BYTES,
} from './abi.js';

/** What a plugin needs to be instantiated, the same for every instance of it. */
export interface PluginSpec {
  /** For reports: the plugin bdev's name. */
  name: string;
  module: WebAssembly.Module;
  /** The config as JSON in UTF-8 (bdev_plugin_create's `config`). */
  config: Uint8Array;
  blockSize: number;
  /** Fuel for one call. */
  fuel: number;
  log(line: string): void;
}

interface PluginExports {
  memory: WebAssembly.Memory;
  [FUEL_GLOBAL]: WebAssembly.Global;
  wstor_abi_version(): number;
  wstor_window(bytes: number): number;
  wstor_init(configBytes: number, blockSize: number): number;
  wstor_io(op: number, offsetBlocks: bigint, numBlocks: number): number;
  wstor_meta_bytes?(): number;
}

/** How a plugin call ended when it did not return: a trap of its own, or its fuel ran out. */
export class PluginTrap extends Error {
  constructor(readonly reason: 'trap' | 'fuel', message: string) {
    super(message);
    this.name = 'PluginTrap';
  }
}

/** Thrown by the metering pass's out-of-fuel call, through the plugin's frames, to `guard`. */
class OutOfFuel extends Error {}

/** The data bytes the engine copies through a window at most: whole blocks, at least one. */
export function windowBytesFor(blockSize: number): number {
  return Math.max(blockSize, WINDOW_BYTES - (WINDOW_BYTES % blockSize));
}

export class PluginInstance {
  private logLines = 0;
  private logDropped = 0;
  private readonly exports: PluginExports;
  /** Where the window starts in the plugin's memory, and its length (data, then per-block metadata). */
  readonly windowOffset: number;
  readonly windowBytes: number;
  /** Data bytes one call carries at most; metadata bytes per block (wstor_meta_bytes). */
  readonly dataBytes: number;
  readonly metaBytes: number;

  /** Instantiate and initialise (throws a WstorError naming what went wrong; a trap is a PluginTrap). */
  constructor(private readonly spec: PluginSpec) {
    this.dataBytes = windowBytesFor(spec.blockSize);
    const imports = {
      [IMPORT_MODULE]: { log: (ptr: number, len: number) => this.log(ptr, len) },
      [FUEL_MODULE]: { [FUEL_OUT_IMPORT]: () => { throw new OutOfFuel(); } },
    };
    this.exports = this.guard('instantiation', () => new WebAssembly.Instance(spec.module, imports).exports as unknown as PluginExports);
    const version = this.call('wstor_abi_version', () => this.exports.wstor_abi_version());
    if (version !== PLUGIN_ABI_VERSION) {
      throw new WstorError('EINVAL', `plugin refused: ${spec.name} is written for plugin ABI version ${version}; this engine speaks version ${PLUGIN_ABI_VERSION}`);
    }
    this.metaBytes = this.exports.wstor_meta_bytes ? this.call('wstor_meta_bytes', () => this.exports.wstor_meta_bytes!()) : 0;
    if (this.metaBytes < 0 || this.metaBytes > META_BYTES_MAX) {
      throw new WstorError('EINVAL', `plugin refused: ${spec.name} asks for ${this.metaBytes} bytes of metadata per block; at most ${META_BYTES_MAX}`);
    }
    this.windowBytes = this.dataBytes + (this.dataBytes / spec.blockSize) * this.metaBytes;
    const at = this.call('wstor_window', () => this.exports.wstor_window(this.windowBytes)) >>> 0;
    const memoryBytes = this.exports.memory.buffer.byteLength;
    if (at === 0 || at + this.windowBytes > memoryBytes) {
      throw new WstorError('EINVAL', `plugin refused: ${spec.name} gave a window of ${this.windowBytes} bytes at ${at}, ` +
        `which is not inside its memory of ${memoryBytes} bytes (the window must be a non-zero offset with the whole length inside)`);
    }
    this.windowOffset = at;
    if (spec.config.length > this.windowBytes) {
      throw new WstorError('EINVAL', `plugin ${spec.name}: its config is ${spec.config.length} bytes, more than its ${this.windowBytes}-byte window`);
    }
    this.window().set(spec.config);
    const rc = this.call('wstor_init', () => this.exports.wstor_init(spec.config.length, spec.blockSize));
    if (rc !== 0) throw new WstorError('EINVAL', `plugin ${spec.name} refused its config: wstor_init returned ${rc} (its log may say why)`);
  }

  private windowView: Uint8Array | null = null;

  /** The window as it is now: a memory.grow in the plugin gives its memory a new buffer, and the view is made again. */
  window(): Uint8Array {
    const buffer = this.exports.memory.buffer;
    if (this.windowView === null || this.windowView.buffer !== buffer) this.windowView = new Uint8Array(buffer, this.windowOffset, this.windowBytes);
    return this.windowView;
  }

  /** wstor_io on the window's data: the plugin's result (0 or its negative errno). Traps as PluginTrap. */
  io(op: number, offsetBlocks: number, numBlocks: number): number {
    return this.call('wstor_io', () => this.exports.wstor_io(op, BigInt(offsetBlocks), numBlocks));
  }

  /** Run one export with a full tank; a trap is a PluginTrap saying which kind. */
  private call(what: string, fn: () => number): number {
    this.exports[FUEL_GLOBAL].value = this.spec.fuel;
    this.logLines = 0;
    const rc = this.guard(what, fn);
    if (this.logDropped > 0) {
      this.spec.log(`(${this.logDropped} more log lines of this call dropped)`);
      this.logDropped = 0;
    }
    return rc | 0;
  }

  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof WstorError || err instanceof PluginTrap) throw err;
      const e = err as Error;
      if (err instanceof OutOfFuel) throw new PluginTrap('fuel', `plugin ${this.spec.name}: ${what} ran past its time budget of ${this.spec.fuel} fuel units and was stopped`);
      throw new PluginTrap('trap', `plugin ${this.spec.name}: ${what} trapped (${e?.message ?? String(err)})`);
    }
  }

  /** wstor.log: a bounded line from the plugin's memory; a range outside its memory is its fault (a trap). */
  private log(ptr: number, len: number): void {
    const memory = this.exports.memory.buffer;
    const start = ptr >>> 0, bytes = len >>> 0;
    if (start + bytes > memory.byteLength) {
      throw new PluginTrap('trap', `plugin ${this.spec.name}: log(${start}, ${bytes}) reaches outside its memory of ${memory.byteLength} bytes`);
    }
    if (this.logLines >= LOG_LINES_PER_CALL) { this.logDropped++; return; }
    this.logLines++;
    const shown = new Uint8Array(memory, start, Math.min(bytes, LOG_LINE_BYTES_MAX));
    this.spec.log(new TextDecoder('utf-8', { fatal: false }).decode(shown.slice()) + (bytes > LOG_LINE_BYTES_MAX ? ' …' : ''));
  }
}
