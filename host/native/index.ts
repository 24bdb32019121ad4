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
  /** uringWait calls that waited in the kernel. */
  sleeps: number;
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
  // The reactor's sleep inside its ring (host/native/src/uring_sleep.c has the contract). Each throws
  // ENOSYS on a ring that cannot sleep in the kernel (fallback mode).
  /** A watch id (0..63): eventfd `fd` now ends uringWait. Throws EINVAL (not an eventfd) or ENOSPC. */
  uringWatch(handle: number, fd: number): number;
  /** The watch ends; call it before closing the fd. Throws EINVAL for an id that is not a watch. */
  uringUnwatch(handle: number, id: number): void;
  /** Waits up to timeoutUs for a completion or a watched eventfd: 1 (something is ready) or 0 (timeout). */
  uringWait(handle: number, timeoutUs: number): number;

  // NVMe/TCP's OS seam (host/native/src/tcp.c). Throws an Error whose `code` is the errno name and whose
  // message names the address and port (EADDRINUSE, EACCES, EADDRNOTAVAIL, EINVAL for a bad argument).
  /** A nonblocking, CLOEXEC listening TCP socket on an IPv4 or IPv6 literal (SO_REUSEADDR; IPv6 only for IPv6). */
  tcpListen(addr: string, port: number, backlog: number): number;
  /** The peer of connected socket `fd`: its port, with its numeric address written NUL-terminated at memory[ptr]
   *  (an IPv4-mapped IPv6 peer as IPv4); or -errno: -EFAULT ([ptr, ptr + cap) outside memory), -ENOSPC (cap too
   *  small), -ENOTCONN, -EBADF, -ENOTSOCK, -EAFNOSUPPORT (not an IP socket). Never throws for a bad fd. */
  tcpPeerName(fd: number, memory: VhostMemory, ptr: number, cap: number): number;
  /** A nonblocking, CLOEXEC TCP socket (TCP_NODELAY) for the IP literal NUL-terminated at memory[addrPtr], and the
   *  sockaddr of `addr` port `port` as {u32 len, bytes} at memory[outPtr] for the core's ring to connect it: the fd,
   *  or -errno: -EINVAL (no IP literal, port not 1..65535), -EFAULT (outside memory), -ENOSPC (cap too small). */
  tcpSocket(memory: VhostMemory, addrPtr: number, port: number, outPtr: number, cap: number): number;

  // vhost-user's OS seam (host/native/src/vhost.h has the contract). No state but the lock-free guard table of
  // guest mappings (guard.h); any thread may call these.
  // Arguments of the wrong JavaScript type throw (code EINVAL); everything else returns a negative errno
  // and never throws: bad values (ranges, alignment, fds, counts) and every OS error. EINTR is retried.
  // `memory` is the shared WebAssembly.Memory, its SharedArrayBuffer, or a Uint8Array over all of it;
  // every range is checked against its length as this thread sees it now (-EFAULT when outside).
  // Fds made here are CLOEXEC; sockets and eventfds are nonblocking; fds received are made nonblocking.
  /** Listening unix stream socket at `path` whose file has exactly `mode` (default 0600) whatever the umask,
   *  replacing a stale socket nobody answers on. -EADDRINUSE: a listener answers there; -EEXIST: the path is
   *  not a socket (never replaced); -ENAMETOOLONG: ≥ 108 bytes; -EINVAL: a mode outside 0..0777. */
  unixListen(path: string, mode?: number): number;
  /** A connection from the listener's queue, or -EAGAIN when none waits. */
  unixAccept(listenFd: number): number;
  /** A connected socket, or -ENOENT / -ECONNREFUSED / -EAGAIN (the listener's backlog is full). */
  unixConnect(path: string): number;
  /**
   * One recvmsg into memory [ptr, ptr + cap); fds (SCM_RIGHTS) stored as i32 at fdsPtr, each made
   * O_NONBLOCK. Result ≥ 0: bytes + fds * 2^32 + flags * 2^36 (decode with VHOST_RECV); 0 = the peer closed.
   * A peer that sent more than maxFds fds (or more than 8: MSG_CTRUNC), or an fd that cannot be made
   * nonblocking (O_PATH), gets flag FDS_REFUSED and every fd closed; MSG_TRUNC gets
   * DATA_TRUNCATED. Errors: -EAGAIN (nothing there), -EFAULT (a range outside memory), -EINVAL (cap 0,
   * maxFds > 8, ranges overlap), -EBADF, -ENOTSOCK.
   */
  recvMsg(fd: number, memory: VhostMemory, ptr: number, cap: number, fdsPtr: number, maxFds: number): number;
  /** One sendmsg of memory [ptr, ptr + len) with up to 8 fds (they travel with the first byte); bytes sent
   *  (fewer than len: send the rest without the fds), or -EAGAIN (socket full), -EPIPE (peer gone), -EFAULT,
   *  -EINVAL (len 0, > 8 fds), -EBADF. */
  sendMsg(fd: number, memory: VhostMemory, ptr: number, len: number, fds: number[]): number;
  /** 0 or -errno; -EBADF for 0, 1 and 2 (never closed here). */
  closeFd(fd: number): number;
  /**
   * Maps fd [fdOffset, fdOffset + length) shared and read-write over memory [offset, offset + length): 0, or
   * -EINVAL (length 0, or offset, length or fdOffset not multiples of hostPageSize(), or of the huge page size
   * on hugetlbfs), -EFAULT (outside memory), -EBADF, -ENODEV (not a regular file or memfd), -EACCES (fd not
   * O_RDWR), -ENXIO (past the fd's size), or mmap's own errno (the range then reads as zeroes). Never
   * read-only: V8's grow would make it writable again, or abort the process (vhost.c says why).
   * With guardOffset (a u32 in memory) and guardValue (≥ 1): a SIGBUS inside the mapping (its file shrank, or
   * could not fault a page in) puts zero pages over it and guardValue in that word, and the access runs again
   * (host/native/src/guard.h); -EINVAL for a misaligned word or value 0, -EFAULT outside memory, -ENOSPC when
   * 4096 mappings are guarded already. Without: such a SIGBUS ends the process.
   */
  mapIntoMemory(memory: VhostMemory, offset: number, length: number, fd: number, fdOffset: number, guardOffset?: number, guardValue?: number): number;
  /** Guarded mappings now (guest memory mapped with a guard word) and SIGBUS repairs since the process started. */
  guardStats(): { armed: number; repairs: number };
  /**
   * Guest memory outside the Wasm memory (host/native/src/guestmem.h): maps fd [fdOffset, fdOffset + length)
   * shared and read-write wherever the kernel puts it, any size below 2^53, guarded as mapIntoMemory's
   * (guardOffset/guardValue are required here). The addon keeps its own dup of fd (the caller closes its
   * one). A handle in [1, 2^31), or -EINVAL (length 0 or ≥ 2^53, a misaligned guard word, value 0, fdOffset
   * not page-aligned), -EFAULT (guard word outside memory), -ENOSPC (4096 regions mapped already), or
   * mapIntoMemory's fd errors (-EBADF, -ENODEV, -EACCES, -ENXIO).
   */
  guestRegionMap(memory: VhostMemory, guardOffset: number, guardValue: number, fd: number, fdOffset: number, length: number): number;
  /** Retires a region at once (every later access is -EBADF); its mapping goes with its last in-flight I/O. 0 or -EBADF. */
  guestRegionUnmap(handle: number): number;
  /**
   * Region [offset, offset + len) into / from Wasm [ptr, ptr + len): 0, -EBADF (no such region), -EFAULT (a
   * range outside it or outside `memory`). `memory` is the caller's own Uint8Array over the whole shared
   * memory (checked cheaply, as copyFromMemory's: one made before a grow ends at the old size).
   */
  guestRead(memory: Uint8Array, handle: number, offset: number, ptr: number, len: number): number;
  guestWrite(memory: Uint8Array, handle: number, offset: number, ptr: number, len: number): number;
  /**
   * Region [regionOffset, + length) mapped (shared, guarded) over Wasm [wasmOffset, + length) too: 0, -EINVAL
   * (length 0 or not whole host pages), -EFAULT (outside memory or region), -EBADF. Undone by unmapFromMemory.
   */
  guestWindowMap(memory: VhostMemory, guardOffset: number, guardValue: number, wasmOffset: number, length: number, handle: number, regionOffset: number): number;
  /** Regions mapped now, and how many of them are retired but still held by in-flight I/O. */
  guestMemStats(): { mapped: number; retired: number };
  /** madvise(MADV_RANDOM) over memory [offset, offset + length) (a mapped file: no read-ahead into large folios): 0 or -errno. */
  adviseRandom(memory: VhostMemory, offset: number, length: number): number;
  /** Zero pages, read-write, back over memory [offset, offset + length): 0, -EINVAL or -EFAULT as above. */
  unmapFromMemory(memory: VhostMemory, offset: number, length: number): number;
  /** A memfd of `bytes` whose size is sealed (no shrink, no grow), or -errno (-ENAMETOOLONG: > 249 bytes). */
  memfdCreate(name: string, bytes: number): number;
  /** Size of a regular file or memfd, -ENODEV for anything else, or -EBADF. */
  fdSize(fd: number): number;
  /** What the fd is: VHOST_FD_KIND (an eventfd, a pipe or FIFO, a regular file, a socket, other), or -EBADF. */
  fdKind(fd: number): number;
  /** A nonblocking eventfd (counter 0), or -errno. */
  eventfdCreate(): number;
  /** Adds value (≥ 1) to the counter: 0, -EAGAIN (it would overflow), -EINVAL, -EBADF. Any fd gets 8 bytes. */
  eventfdWrite(fd: number, value: number): number;
  /** The counter, reset to 0; -EAGAIN when it is 0; -EINVAL if fd is not an eventfd (read ≠ 8 bytes). */
  eventfdRead(fd: number): number;
  /** The unit of mapIntoMemory's offsets and lengths (4096 on x86-64). */
  hostPageSize(): number;
  /** Disk blocks for every byte of [0, bytes) of the file (fallocate mode 0): 0, or -errno (-EOPNOTSUPP). */
  fileAllocate(fd: number, bytes: number): number;
  /**
   * memcpy from `memory` (a Uint8Array, normally over the whole shared memory) at `offset` into
   * `target` / from `source` into `memory` at `offset` (host/native/src/copy.c): 0, or -EFAULT when
   * the range leaves `memory` (nothing copied). Wrong argument types throw EINVAL.
   */
  copyFromMemory(memory: Uint8Array, offset: number, target: Uint8Array): number;
  copyIntoMemory(memory: Uint8Array, offset: number, source: Uint8Array): number;
  /**
   * CRC32C of [offset, offset + length) of the shared memory with the CPU's instruction, continuing
   * `crc` (0 to start; host/native/src/crc32c.c): the CRC, -EFAULT outside the memory, -ENOTSUP when
   * the CPU has no such instruction (`crc32cHardware` is false then).
   */
  crc32cMemory(memory: Uint8Array, offset: number, length: number, crc: number): number;
  readonly crc32cHardware: boolean;
}

/** What the vhost functions accept as the Wasm memory. ArrayBuffer only because TypeScript types a
 *  shared memory's `buffer` so; a buffer that is not shared is refused (EINVAL) at run time. */
export type VhostMemory = WebAssembly.Memory | SharedArrayBuffer | ArrayBuffer | Uint8Array;

/** recvMsg's packing (host/native/src/vhost.h). */
export const VHOST_RECV = {
  FDS_MAX: 8,
  FDS_SCALE: 2 ** 32,
  FLAGS_SCALE: 2 ** 36,
  /** The peer sent more fds than allowed; all were closed. */
  FDS_REFUSED: 1,
  /** The message was longer than cap (datagram sockets only). */
  DATA_TRUNCATED: 2,
} as const;

/** fdKind's answers (host/native/src/vhost.h; the core's host_vu_fd_kind uses the same). */
export const VHOST_FD_KIND = { EVENTFD: 1, PIPE: 2, FILE: 3, SOCKET: 4, OTHER: 5 } as const;

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
