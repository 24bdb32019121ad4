// Loads the native addon (built by node-gyp during `npm ci`). Node only; the browser has no addon.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface UringCreateOptions {
  /** Run the synchronous fallback even if io_uring is available (tests, comparisons). */
  forceFallback?: boolean;
}

export interface UringInfo {
  mode: 'io_uring' | 'fallback';
  /** SQ size (the requested entries rounded up to a power of two). */
  entries: number;
  /** Why the fallback is in use; present only in 'fallback' mode. */
  reason?: string;
  /** Accepted descriptors whose completion has not been reaped yet (at most 2 * entries). */
  inFlight: number;
  /** io_uring_enter calls that handed SQEs to the kernel so far (0 in 'fallback' mode). */
  submitCalls: number;
  /** The kernel took IORING_SETUP_DEFER_TASKRUN (6.1+): completions post when uringReap enters it. */
  deferredTaskrun: boolean;
}

export interface NativeAddon {
  getThreadAffinity(): number[];
  setThreadAffinity(cpus: number[]): void;
  getThreadId(): number;

  // One io_uring per reactor thread (host/native/src/uring.h has the formats). Descriptors are 32 bytes,
  // completions 8 bytes ({u32 user_data, i32 res}), both in Wasm memory. Every accepted descriptor
  // completes exactly once; a descriptor that fails its checks completes at once with -EINVAL or -EFAULT.
  // Errors thrown carry the errno name in `code` (EBADF, EPERM, EINVAL, EFAULT, EBUSY, EMFILE, ENOMEM).
  /** memory: new Uint8Array(sharedMemory.buffer). Returns a handle usable only on the calling thread. */
  uringCreate(memory: Uint8Array, entries: number, options?: UringCreateOptions): number;
  /** After memory.grow: a new view over the same memory (same base, larger length). */
  uringSetMemory(handle: number, memory: Uint8Array): void;
  /** Takes up to `count` descriptors at descOffset; returns how many it accepted (fewer when full). */
  uringSubmit(handle: number, descOffset: number, count: number): number;
  /** Writes up to `max` completions at cqeOffset; returns how many. */
  uringReap(handle: number, cqeOffset: number, max: number): number;
  uringInfo(handle: number): UringInfo;
  /** Waits up to 1 s for in-flight I/O (else throws EBUSY and the ring stays open), then closes the ring. */
  uringDestroy(handle: number): void;
}

let cached: NativeAddon | null | undefined;

/** The addon, or null if it was not built (callers then fall back and say so). */
export function loadNative(): NativeAddon | null {
  if (cached !== undefined) return cached;
  // Compiled to build/host/native/index.js; the addon stays in the source tree's host/native/build.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '..', '..', '..');
  const addonPath = path.join(root, 'host', 'native', 'build', 'Release', 'wstor_native.node');
  try {
    cached = createRequire(import.meta.url)(addonPath) as NativeAddon;
  } catch {
    cached = null;
  }
  return cached;
}
