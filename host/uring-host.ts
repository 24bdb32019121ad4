// This thread's io_uring, as the core's uring_submit/uring_reap imports (Node only). One ring per
// thread and memory, created on first use (LESSONS 4: a ring is never shared between reactors).
import { loadNative } from './native/index.js';
import type { UringHandlers } from './core-abi.js';

const RING_ENTRIES = 1024;
/** Set to 1 to run every ring in the addon's synchronous fallback (as on a kernel without io_uring): tests, comparisons. */
const FORCE_FALLBACK = process.env.WSTOR_URING_FORCE_FALLBACK === '1';
const ERRNO: Record<string, number> = { EFAULT: -14, EINVAL: -22, EBADF: -9, EPERM: -1, ENOMEM: -12, EBUSY: -16, EMFILE: -24, ENOSPC: -28, ENOSYS: -38 };

function toErrno(err: unknown): number {
  return ERRNO[(err as { code?: string }).code ?? ''] ?? -5;
}

/** Handlers for an instance on `memory`, or undefined when the native addon is not built. */
export function nodeUringHandlers(memory: WebAssembly.Memory): UringHandlers | undefined {
  const native = loadNative();
  if (!native) return undefined;
  let handle = -1;
  let knownBytes = 0;
  // memory.buffer is not read per call: on a shared memory each read may make a new object, and the
  // garbage it leaves at a million calls a second stalled reactors for milliseconds. The core passes
  // the memory's current size instead, and the view is refreshed only when it grew.
  const ring = (memoryBytes: number): number => {
    if (handle < 0 || memoryBytes > knownBytes) {
      const view = new Uint8Array(memory.buffer);
      if (handle < 0) handle = native.uringCreate(view, RING_ENTRIES, { forceFallback: FORCE_FALLBACK });
      else native.uringSetMemory(handle, view);       // the memory grew; its base never moves
      knownBytes = view.byteLength;
    }
    return handle;
  };
  return {
    submit(descs, count, memoryBytes) {
      try { return native.uringSubmit(ring(memoryBytes), descs, count); } catch (err) { return toErrno(err); }
    },
    reap(cqes, max) {
      try { return native.uringReap(ring(0), cqes, max); } catch { return 0; }
    },
    wait(timeoutUs) {
      try { return native.uringWait(ring(0), timeoutUs); } catch (err) { return toErrno(err); }
    },
    watch(fd) {
      try { return native.uringWatch(ring(0), fd); } catch (err) { return toErrno(err); }
    },
    unwatch(id) {
      try { native.uringUnwatch(ring(0), id); return 0; } catch (err) { return toErrno(err); }
    },
    peerName(fd, ptr, cap) {
      try { return native.tcpPeerName(fd, new Uint8Array(memory.buffer), ptr, cap); } catch (err) { return toErrno(err); }
    },
    tcpSocket(addrPtr, port, outPtr, cap) {
      try { return native.tcpSocket(new Uint8Array(memory.buffer), addrPtr, port, outPtr, cap); } catch (err) { return toErrno(err); }
    },
  };
}

/** Eventfds that wake reactors sleeping in their rings (Platform.wakeFds), or undefined without the addon. */
export function nodeWakeFds(): { create(): number; write(fd: number): number; close(fd: number): void } | undefined {
  const native = loadNative();
  if (!native) return undefined;
  return {
    create: () => native.eventfdCreate(),
    write: (fd) => native.eventfdWrite(fd, 1),
    close: (fd) => { native.closeFd(fd); },
  };
}

/** Whether io_uring works here, and if not why (for the one-time announcement at engine start). */
export function probeUring(memory: WebAssembly.Memory): { mode: 'io_uring' | 'fallback' | 'none'; reason?: string } {
  const native = loadNative();
  if (!native) return { mode: 'none', reason: 'the native addon is not built (npm run build:native)' };
  const h = native.uringCreate(new Uint8Array(memory.buffer), 8, { forceFallback: FORCE_FALLBACK });
  try {
    const info = native.uringInfo(h);
    return { mode: info.mode, reason: info.reason };
  } finally {
    native.uringDestroy(h);
  }
}
