// The core's only seam to the world (SQLite's VFS idea): everything the core needs from its host is
// imported here, so Node and the browser differ only in how they fill this in.

/** Wall clock shared by every reactor: microseconds since the epoch (performance.timeOrigin + now()). */
// @ts-ignore: decorator
@external("host", "clock_us")
export declare function host_clock_us(): f64;

/**
 * A report to the host. `fmt` is a static string with `%s` (s1, then s2) and `%d` (n1, then n2)
 * placeholders; s1/s2 are static strings or 0. The host decodes and formats them, so the core never
 * builds a string at run time.
 */
// @ts-ignore: decorator
@external("host", "report")
export declare function host_report(level: i32, code: i32, fmt: usize, s1: usize, s2: usize, n1: f64, n2: f64): void;

/** An event for the embedding program (completion of a host request, demo output...). */
// @ts-ignore: decorator
@external("host", "event")
export declare function host_event(kind: i32, a: f64, b: f64, c: f64): void;

export const LEVEL_ERROR: i32 = 1;
export const LEVEL_WARN: i32 = 2;
export const LEVEL_NOTICE: i32 = 3;
export const LEVEL_INFO: i32 = 4;
export const LEVEL_DEBUG: i32 = 5;
/** Fatal: the host stops the engine after this report (the core traps right after sending it). */
export const LEVEL_FATAL: i32 = 0;

/** Report a broken invariant and stop this instance. The host turns the trap into a clean shutdown. */
export function fatal(code: i32, fmt: string, s1: usize = 0, s2: usize = 0, n1: f64 = 0, n2: f64 = 0): void {
  host_report(LEVEL_FATAL, code, changetype<usize>(fmt), s1, s2, n1, n2);
  unreachable();
}

export function report(level: i32, code: i32, fmt: string, s1: usize = 0, s2: usize = 0, n1: f64 = 0, n2: f64 = 0): void {
  host_report(level, code, changetype<usize>(fmt), s1, s2, n1, n2);
}

export function now_us(): u64 {
  return <u64>host_clock_us();
}

/**
 * Block I/O through this instance's own io_uring (one ring per reactor, LESSONS 4), in the host's
 * native addon. `descs` points at `count` 32-byte descriptors (bdev/uring/wire.ts); returns how many
 * were accepted (each gets exactly one completion) or a negative errno (-ENOSYS: no ring here).
 * `memoryPages` is memory.size(): the host learns the memory grew without polling it.
 */
// @ts-ignore: decorator
@external("host", "uring_submit")
export declare function host_uring_submit(descs: usize, count: u32, memoryPages: u32): i32;

/** Copy up to `max` completions ({u32 user_data, i32 res}) to `cqes`; returns how many. No syscall. */
// @ts-ignore: decorator
@external("host", "uring_reap")
export declare function host_uring_reap(cqes: usize, max: u32): i32;

/**
 * CRC32C of [ptr, ptr + len) continuing `crc` (crc32cUpdate's convention) computed by the host with the
 * CPU's instruction: the CRC (0 .. 2^32 - 1), or negative when the host cannot (no addon, no such
 * instruction, a browser), after which the core keeps to its own loop.
 */
// @ts-ignore: decorator
@external("host", "crc32c")
export declare function host_crc32c(crc: u32, ptr: usize, len: u32): f64;

/**
 * The peer of connected socket `fd`: its numeric address NUL-terminated in [ptr, ptr + cap), and its
 * port as the result; or -errno (-ENOSPC: cap too small; -ENOTCONN; -ENOSYS: no sockets on this host).
 */
// @ts-ignore: decorator
@external("host", "sock_peer_name")
export declare function host_sock_peer_name(fd: i32, ptr: usize, cap: u32): i32;

/**
 * A nonblocking TCP socket (CLOEXEC, TCP_NODELAY) for the IPv4 or IPv6 literal NUL-terminated at `addr`,
 * and the sockaddr of that address and `port` as {u32 len, bytes} in [out, out + cap), for a CONNECT on
 * the ring: the fd, or -errno (-EINVAL: no IP literal or port 0; -ENOSPC; -ENOSYS: no sockets here).
 * One nonblocking syscall, no name lookup: fine on a reactor.
 */
// @ts-ignore: decorator
@external("host", "sock_tcp_socket")
export declare function host_sock_tcp_socket(addr: usize, port: u32, out: usize, cap: u32): i32;

// ---- a reactor's sleep in the kernel (Node with the addon: host/uring-host.ts; elsewhere -ENOSYS) ----
// A reactor that sleeps here wakes on the first of: a completion of its io_uring, a watched eventfd
// (its wake fd, vhost kicks), or the timeout. Without it the reactor sleeps on its doorbell (Atomics.wait).

/** Sleep in this instance's io_uring for at most `timeoutUs`: 1 when something is ready, 0 on timeout, -errno. */
// @ts-ignore: decorator
@external("host", "reactor_wait")
export declare function host_reactor_wait(timeoutUs: u32): i32;

/** Let eventfd `fd` wake this instance's kernel sleep: a watch id ≥ 0, or -errno (-EINVAL: not an eventfd). */
// @ts-ignore: decorator
@external("host", "fd_watch")
export declare function host_fd_watch(fd: i32): i32;

/** End watch `id` (before its fd is closed). 0 or -errno. */
// @ts-ignore: decorator
@external("host", "fd_unwatch")
export declare function host_fd_unwatch(id: i32): i32;

/** Wake a reactor sleeping in the kernel: add 1 to its wake eventfd (from any instance). 0 or -errno. */
// @ts-ignore: decorator
@external("host", "reactor_wake")
export declare function host_reactor_wake(fd: i32): i32;

// ---- vhost-user (Node: host/vhost-host.ts; elsewhere every call is -ENOSYS) ----
// Sockets, fds and mappings are the host's; what the messages mean is decided here, in the core.

/** Accept a connection on a listening socket: its fd, or -EAGAIN when none is waiting. */
// @ts-ignore: decorator
@external("host", "vu_accept")
export declare function host_vu_accept(listenFd: i32): i32;

/**
 * One recvmsg of at most `cap` bytes into `ptr`; fds that came with them are written as i32s at
 * `fds` (at most `maxFds`). Returns bytes | fdCount << 16, 0 when the peer closed, -EAGAIN when
 * nothing is there, another -errno on error (a truncated message: every fd is closed).
 */
// @ts-ignore: decorator
@external("host", "vu_recv")
export declare function host_vu_recv(fd: i32, ptr: usize, cap: u32, fds: usize, maxFds: u32): i32;

/** Send `len` bytes (and `nfds` fds from `fds`); bytes sent or -errno. */
// @ts-ignore: decorator
@external("host", "vu_send")
export declare function host_vu_send(fd: i32, ptr: usize, len: u32, fds: usize, nfds: u32): i32;

// @ts-ignore: decorator
@external("host", "fd_close")
export declare function host_fd_close(fd: i32): void;

/**
 * Map `length` bytes of `fd` from `fdOffset` over [offset, offset + length) of this memory (shared,
 * writable): guest memory becomes addressable by the core. 0 or -errno (the host refuses any range
 * outside the memory, a misaligned one, or one past the end of the fd). With `guard` (the address of
 * a u32, 0: none), a SIGBUS inside the mapping (its file shrank) puts zero pages over the whole of it
 * and `guardValue` in that word, and the access runs again: the core notices the word and ends the
 * guest's session (host/native/src/guard.h). Guest memory is always mapped with a guard.
 */
// @ts-ignore: decorator
@external("host", "vu_map")
export declare function host_vu_map(offset: usize, length: f64, fd: i32, fdOffset: f64, guard: usize, guardValue: u32): i32;

/** Bytes of the regular file `fd` (a guest's memory), or -errno (-ENODEV: not a regular file). */
// @ts-ignore: decorator
@external("host", "vu_fd_bytes")
export declare function host_vu_fd_bytes(fd: i32): f64;

/** Put zero-filled private pages back over a mapped range. 0 or -errno. */
// @ts-ignore: decorator
@external("host", "vu_unmap")
export declare function host_vu_unmap(offset: usize, length: f64): i32;

// Guest memory outside this memory (host/native/src/guestmem.h): the host maps each region wherever
// it likes and names it by a handle; the core reaches it only through these calls, each checked by
// the host against the region (offset and length whole), and through ring windows.

/**
 * Map `length` bytes of `fd` from `fdOffset` outside this memory, guarded as host_vu_map's (`guard`
 * must be given): the region's handle (>= 1), or -errno (host_vu_map's fd errors; -ENOSPC: the host's
 * table of regions is full). The host keeps its own fd: the caller still closes `fd`.
 */
// @ts-ignore: decorator
@external("host", "vu_region_map")
export declare function host_vu_region_map(guard: usize, guardValue: u32, fd: i32, fdOffset: f64, length: f64): i32;

/** Retire a region: every later access is -EBADF; its mapping goes once the I/O pinned on it completes. */
// @ts-ignore: decorator
@external("host", "vu_region_unmap")
export declare function host_vu_region_unmap(handle: i32): i32;

/** Copy region [offset, offset + len) into [ptr, ptr + len) of this memory: 0, -EBADF, -EFAULT. */
// @ts-ignore: decorator
@external("host", "vu_guest_read")
export declare function host_vu_guest_read(handle: i32, offset: f64, ptr: usize, len: u32): i32;

/** Copy [ptr, ptr + len) of this memory into region [offset, offset + len): 0, -EBADF, -EFAULT. */
// @ts-ignore: decorator
@external("host", "vu_guest_write")
export declare function host_vu_guest_write(handle: i32, offset: f64, ptr: usize, len: u32): i32;

/**
 * Map region [regionOffset, regionOffset + length) over [wasmOffset, wasmOffset + length) of this
 * memory too (whole host pages, guarded): a ring's window. 0 or -errno; undone with host_vu_unmap.
 */
// @ts-ignore: decorator
@external("host", "vu_window_map")
export declare function host_vu_window_map(guard: usize, guardValue: u32, wasmOffset: usize, length: f64, handle: i32, regionOffset: f64): i32;

/** Signal an eventfd (a vring's call). 0 or -errno. */
// @ts-ignore: decorator
@external("host", "eventfd_write")
export declare function host_eventfd_write(fd: i32): i32;

/** What an fd a guest handed over is: one of FD_KIND_* (the addon's numbers: host/native/src/vhost.h), or -errno. */
// @ts-ignore: decorator
@external("host", "vu_fd_kind")
export declare function host_vu_fd_kind(fd: i32): i32;
export const FD_KIND_EVENTFD: i32 = 1;
export const FD_KIND_PIPE: i32 = 2;        // a pipe or FIFO
export const FD_KIND_FILE: i32 = 3;        // a regular file (memfd, tmpfs, hugetlbfs, ...)
export const FD_KIND_SOCKET: i32 = 4;
export const FD_KIND_OTHER: i32 = 5;

/** A memfd of `bytes` (zero-filled, size sealed) the core may map and hand to QEMU; fd or -errno. */
// @ts-ignore: decorator
@external("host", "memfd_create")
export declare function host_memfd_create(bytes: f64): i32;

/**
 * Plugins (assembly/bdev/plugin; the host's side is host/plugins/reactor-plugins.ts). Open plugin `id`
 * on this instance (a reference count: the first open compiles and instantiates it here): its metered
 * module at [bytes, bytes + bytesLen), its config at [config, config + configLen), `name` a string for
 * reports. 0, or -errno (-EINVAL: it could not start; -ENOSYS: no plugins on this host).
 */
// @ts-ignore: decorator
@external("host", "plugin_open")
export declare function host_plugin_open(id: u32, bytes: usize, bytesLen: u32, config: usize, configLen: u32, blockSize: u32, fuel: u32, name: usize): i32;

/** Drop one reference to plugin `id` on this instance; the last one discards the instance. */
// @ts-ignore: decorator
@external("host", "plugin_close")
export declare function host_plugin_close(id: u32): void;

/**
 * Run plugin `id` over an I/O of `numBlocks` at `offsetBlocks` (op 0 read: the data in the iovecs, in
 * place, with the blocks' metadata read from `meta`; op 1 write: from the iovecs into the contiguous
 * buffer `out`, the blocks' new metadata right after the data). 0, or -EIO (the plugin failed it),
 * -EFAULT (it trapped; the host replaced it), -ETIMEDOUT (it ran out of fuel; replaced), -ENOENT (not
 * open on this instance), -EINVAL. `memoryPages` is memory.size(): the host learns the memory grew
 * without asking for memory.buffer on every call.
 */
// @ts-ignore: decorator
@external("host", "plugin_io")
export declare function host_plugin_io(id: u32, op: u32, offsetBlocks: f64, numBlocks: u32, iovs: usize, iovcnt: u32, out: usize, meta: usize, memoryPages: u32): i32;
