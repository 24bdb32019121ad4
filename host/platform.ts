// What the engine needs from the platform it runs on (Node or a browser): loading the core, starting
// reactor workers, and the CPUs it may use. Everything Node-only lives behind this interface.

import type { LevelName } from './core-abi.js';
import type { ReactorStats } from './core-abi.js';
import type { PluginLimits } from './plugins/abi.js';
import type { Engine } from './engine.js';
import type { VhostApi } from './vhost.js';
import type { NvmfApi } from './nvmf.js';
import type { OpfsFiles } from './web/opfs-files.js';

/** Sent to a new reactor worker. */
export interface ReactorInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  reactor: number;
  /** CPU to pin this reactor's OS thread to, or null to keep the process's affinity. */
  pin: number | null;
  /** Eventfd that wakes this reactor from a sleep in the kernel, or -1: it sleeps on its doorbell. */
  wakeFd: number;
}

/** Messages a reactor worker sends to the engine. */
export type WorkerMessage =
  | { type: 'ready'; reactor: number; threadId: number | null }
  | { type: 'report'; reactor: number; level: LevelName; code: number; message: string }
  | { type: 'event'; reactor: number; kind: number; a: number; b: number; c: number }
  | { type: 'stopped'; reactor: number; stats: ReactorStats }
  | { type: 'trap'; reactor: number; message: string; stack: string };

export interface ReactorHandle {
  onMessage(listener: (message: WorkerMessage) => void): void;
  /** The worker ended (code 0 after a clean stop). */
  onExit(listener: (code: number) => void): void;
  terminate(): Promise<void>;
}

export interface Platform {
  readonly name: string;
  /** Bytes of core.wasm (or another build of it, e.g. the test build). */
  loadCore(variant: string): Promise<Uint8Array<ArrayBuffer>>;
  spawnReactor(init: ReactorInit): ReactorHandle;
  /** CPUs this process may use. */
  allowedCpus(): number[];
  /** Files and block devices for file bdevs (Node only). */
  files?: {
    /**
     * Open read-write (read-only when `readOnly`: O_RDONLY, so no write can reach the file); `direct`
     * asks for O_DIRECT and comes back false where the file system refuses it.
     */
    open(path: string, direct: boolean, readOnly?: boolean): { fd: number; bytes: number; direct: boolean };
    close(fd: number): void;
    /** Current size in bytes of an open file or block device (after it grew: bdev_uring_rescan). */
    size(fd: number, path: string): number;
    /**
     * Map [0, bytes) of an open regular file shared into the memory at `offset` (both multiples of the
     * host page), after giving every byte disk blocks: a store through the mapping must never need
     * an allocation that a full disk would refuse with SIGBUS. Throws a WstorError saying why not.
     */
    map?(memory: WebAssembly.Memory, offset: number, bytes: number, fd: number, path: string): void;
    /** Undo map(): the range holds zero pages again. */
    unmap?(memory: WebAssembly.Memory, offset: number, bytes: number): void;
  };
  /**
   * Eventfds that wake reactors sleeping in the kernel (Node with the addon). Made before the workers
   * start and closed only after all have ended: a sender may write one until then.
   */
  wakeFds?: {
    /** A new eventfd, or -errno. */
    create(): number;
    /** Add 1 to it: 0 or -errno. Any thread. */
    write(fd: number): number;
    close(fd: number): void;
  };
  /**
   * memcpy between a view of the whole shared memory and an ordinary Uint8Array (Node with the addon):
   * V8 copies to and from a SharedArrayBuffer word by word. Each returns 0, or -EFAULT (nothing
   * copied) when the range leaves `memory`. Absent: the data path uses TypedArray.set.
   */
  memoryCopy?: {
    from(memory: Uint8Array, offset: number, target: Uint8Array): number;
    into(memory: Uint8Array, offset: number, source: Uint8Array): number;
  };
  /**
   * A plugin module checked and metered (host/plugins/prepare.ts, with binaryen; a browser page loads
   * binaryen through its import map, host/web/vendor.ts). Absent: plugin bdevs are ENOTSUP here.
   */
  preparePlugin?(bytes: Uint8Array, limits: PluginLimits): Promise<Uint8Array<ArrayBuffer>>;
  /** The core's `crc32c` import for an instance over `memory` (host/crc-host.ts); absent: the core's own loop. */
  crc32c?(memory: WebAssembly.Memory): ((crc: number, ptr: number, len: number) => number) | undefined;
  /** How file bdevs will do I/O here (announced once at start when it is not io_uring). */
  probeBlockIo?(memory: WebAssembly.Memory): { mode: string; reason?: string };
  /**
   * Control-plane APIs that need sockets and the addon (Node): made on first use of engine.vhost and
   * engine.nvmf. Absent: those are ENOTSUP here.
   */
  targets?: { vhost(engine: Engine): VhostApi; nvmf(engine: Engine): NvmfApi };
  /** Files in the browser's Origin Private File System for OPFS bdevs (host/web/opfs-files.ts). */
  opfs?: OpfsFiles;
  /** Every reactor of the engine on `memory` has ended: let go of what the platform holds for it. */
  stopped?(memory: WebAssembly.Memory): Promise<void>;
}

/**
 * The platform `Engine.start` uses when its options name none: the entry point the program imported
 * sets it (the Node entry: Node's; the browser entry: a new web platform per engine), so the engine's
 * own module never imports a platform and a browser build carries nothing of Node's.
 */
let defaultPlatformFactory: (() => Platform) | null = null;

export function setDefaultPlatform(factory: () => Platform): void {
  defaultPlatformFactory = factory;
}

/** A platform for a new engine, or null when no entry point set one. */
export function defaultPlatform(): Platform | null {
  return defaultPlatformFactory ? defaultPlatformFactory() : null;
}
