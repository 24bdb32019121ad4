// vhost-user's OS seam for the Node host: the addon's vhost functions (host/native/src/vhost.c) with their
// negative errnos turned into WstorErrors that say what to do. "Nothing there yet" (EAGAIN) is not an error
// here: it comes back as null. The core, which wants numbers, may call loadNative() directly instead.
import os from 'node:os';
import { loadNative, VHOST_RECV, type NativeAddon, type VhostMemory } from './native/index.js';
import { WstorError } from './errors.js';

export type { VhostMemory } from './native/index.js';

/** One received message: bytes in memory at ptr, `fds` fds stored as i32 at fdsPtr. */
export interface VhostRecv {
  /** 0: the peer closed the connection. */
  bytes: number;
  fds: number;
  /** The peer sent more fds than allowed: all were closed (drop the connection). */
  fdsRefused: boolean;
  /** The message was longer than cap: its tail is lost (datagram sockets only). */
  dataTruncated: boolean;
}

/** Decodes recvMsg's non-negative result (host/native/src/vhost.h). */
export function decodeRecv(result: number): VhostRecv {
  if (!(Number.isSafeInteger(result) && result >= 0)) throw new RangeError(`decodeRecv: ${result} is not a recvMsg result`);
  const flags = Math.floor(result / VHOST_RECV.FLAGS_SCALE);
  return {
    bytes: result % VHOST_RECV.FDS_SCALE,
    fds: Math.floor(result / VHOST_RECV.FDS_SCALE) % (VHOST_RECV.FLAGS_SCALE / VHOST_RECV.FDS_SCALE),
    fdsRefused: (flags & VHOST_RECV.FDS_REFUSED) !== 0,
    dataTruncated: (flags & VHOST_RECV.DATA_TRUNCATED) !== 0,
  };
}

const ERRNO_NAME = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
const EAGAIN = -os.constants.errno.EAGAIN;

type Hints = Partial<Record<string, string>>;

const FD_HINTS: Hints = {
  EBADF: 'the fd is not open (closed already?)',
  EMFILE: 'this process has too many open fds: raise the limit (ulimit -n) or close idle connections',
  ENFILE: 'the system has too many open files: close some, or raise fs.file-max',
  ENOTSOCK: 'the fd is not a socket',
  ECONNRESET: 'the peer reset the connection: close it',
  EPIPE: 'the peer closed the connection: close it',
};
const LISTEN_HINTS: Hints = {
  EADDRINUSE: 'another process is listening there: stop it, or choose another socket directory (-S)',
  EEXIST: 'the path exists and is not a socket, so it is not replaced: remove it or choose another path',
  ENAMETOOLONG: 'a unix socket path is at most 107 bytes: use a shorter socket directory',
  EINVAL: 'the path is empty or holds a NUL byte, or the mode is outside 0000-0777',
  ENOENT: 'its directory does not exist: create it first',
  EACCES: 'no permission to create it: check the directory\'s permissions',
};
const ACCEPT_HINTS: Hints = { EINVAL: 'the fd is not listening' };
const CONNECT_HINTS: Hints = {
  ENOENT: 'no socket there: is the target running, and is the path right?',
  ECONNREFUSED: 'nobody listens there (a socket left by a process that ended): start the target',
  EAGAIN: 'the listener\'s backlog is full: try again shortly',
  ENAMETOOLONG: 'a unix socket path is at most 107 bytes',
};
const RECV_HINTS: Hints = {
  EFAULT: 'the buffer or the fd slots lie outside the Wasm memory: a bug in the caller',
  EINVAL: `cap must be at least 1, maxFds at most ${VHOST_RECV.FDS_MAX}, and the buffer and fd slots must not overlap`,
};
const SEND_HINTS: Hints = {
  EFAULT: 'the buffer lies outside the Wasm memory: a bug in the caller',
  EINVAL: `len must be at least 1 and fds at most ${VHOST_RECV.FDS_MAX}`,
  EBADF: 'the socket or one of the fds to send is not open',
};
const CLOSE_HINTS: Hints = { EBADF: 'it is not open (closed twice?), or it is stdin, stdout or stderr' };
const MAP_HINTS: Hints = {
  EINVAL: 'offset, length and fdOffset must be multiples of the page size (hostPageSize(); the huge page size on hugetlbfs), and length not 0',
  EFAULT: 'the range lies outside the Wasm memory: reserve it in the core (and grow the memory) first',
  ENODEV: 'the fd is not a regular file or memfd: guest memory must be shared (QEMU: memory-backend-memfd, or -file with share=on)',
  EACCES: 'the fd is not open read-write: guest memory must be shared read-write',
  ENXIO: 'the region runs past the end of the fd: the frontend sent a region larger than its memory',
  EPERM: 'the fd is sealed against writes, so it cannot be shared read-write',
  ENOMEM: 'the kernel refused another mapping (vm.max_map_count): unmap regions no longer used',
};
const UNMAP_HINTS: Hints = {
  EINVAL: 'offset and length must be multiples of the page size (hostPageSize()), and length not 0',
  EFAULT: 'the range lies outside the Wasm memory: a bug in the caller',
};
const MEMFD_HINTS: Hints = {
  ENAMETOOLONG: 'memfd names are at most 249 bytes',
  EINVAL: 'the name holds a NUL byte',
  EFBIG: 'larger than this process may make a file (ulimit -f)',
  ENOSPC: 'no room left in memory for it',
};
const SIZE_HINTS: Hints = { ENODEV: 'it is not a regular file or memfd' };
const EVENTFD_HINTS: Hints = { EINVAL: 'the value must be at least 1, and the fd an eventfd' };

/** rc when it is not negative, else a WstorError; what() runs only then, so success builds no string. */
function must(rc: number, what: () => string, hints: Hints): number {
  if (rc >= 0) return rc;
  const name = ERRNO_NAME.get(-rc) ?? `E${-rc}`;
  const hint = hints[name] ?? FD_HINTS[name] ?? 'unexpected error from the kernel';
  throw new WstorError(name, `${what()}: ${hint} (${name}, ${rc})`, rc);
}

/** As must(), but null for EAGAIN ("nothing yet" is not an error). */
function orNull(rc: number, what: () => string, hints: Hints): number | null {
  return rc === EAGAIN ? null : must(rc, what, hints);
}

/** The addon's vhost functions, each throwing a WstorError on failure. */
export class VhostNative {
  /** The unit of map()'s offsets and lengths. */
  readonly pageBytes: number;

  constructor(private readonly native: NativeAddon) {
    this.pageBytes = native.hostPageSize();
  }

  /** Throws ENOTSUP when the addon is not built (the browser has none; vhost-user is Node only). */
  static load(): VhostNative {
    const native = loadNative();
    if (!native) throw new WstorError('ENOTSUP', 'vhost-user needs the native addon, which is not built: run npm run build:native');
    return new VhostNative(native);
  }

  /** A listening socket at `path` whose file has exactly `mode`, whatever the umask. */
  listen(path: string, mode = 0o600): number {
    return must(this.native.unixListen(path, mode), () => `cannot listen on ${path}`, LISTEN_HINTS);
  }

  /** A new connection, or null when none waits. */
  accept(listenFd: number): number | null {
    return orNull(this.native.unixAccept(listenFd), () => `cannot accept on fd ${listenFd}`, ACCEPT_HINTS);
  }

  connect(path: string): number {
    return must(this.native.unixConnect(path), () => `cannot connect to ${path}`, CONNECT_HINTS);
  }

  /** One message, or null when nothing is there yet; bytes 0 means the peer closed. */
  recv(fd: number, memory: VhostMemory, ptr: number, cap: number, fdsPtr: number, maxFds: number): VhostRecv | null {
    const rc = orNull(this.native.recvMsg(fd, memory, ptr, cap, fdsPtr, maxFds),
      () => `cannot receive on fd ${fd} into [${ptr}, ${ptr + cap}) with ${maxFds} fd slots at ${fdsPtr}`, RECV_HINTS);
    return rc === null ? null : decodeRecv(rc);
  }

  /** Bytes sent (the fds went with the first one), or null when the socket is full. */
  send(fd: number, memory: VhostMemory, ptr: number, len: number, fds: number[] = []): number | null {
    return orNull(this.native.sendMsg(fd, memory, ptr, len, fds),
      () => `cannot send [${ptr}, ${ptr + len}) with ${fds.length} fds on fd ${fd}`, SEND_HINTS);
  }

  close(fd: number): void {
    must(this.native.closeFd(fd), () => `cannot close fd ${fd}`, CLOSE_HINTS);
  }

  /** Maps fd [fdOffset, fdOffset + length) read-write and shared over Wasm memory [offset, offset + length). */
  map(memory: VhostMemory, offset: number, length: number, fd: number, fdOffset: number): void {
    must(this.native.mapIntoMemory(memory, offset, length, fd, fdOffset),
      () => `cannot map fd ${fd} [${fdOffset}, ${fdOffset + length}) at Wasm offset ${offset} (page: ${this.pageBytes} bytes)`, MAP_HINTS);
  }

  /** Zero pages back over Wasm memory [offset, offset + length); the memory stays usable. */
  unmap(memory: VhostMemory, offset: number, length: number): void {
    must(this.native.unmapFromMemory(memory, offset, length),
      () => `cannot unmap Wasm [${offset}, ${offset + length}) (page: ${this.pageBytes} bytes)`, UNMAP_HINTS);
  }

  /** A memfd of `bytes` whose size is sealed. */
  memfd(name: string, bytes: number): number {
    return must(this.native.memfdCreate(name, bytes), () => `cannot create a memfd "${name}" of ${bytes} bytes`, MEMFD_HINTS);
  }

  fdSize(fd: number): number {
    return must(this.native.fdSize(fd), () => `cannot size fd ${fd}`, SIZE_HINTS);
  }

  eventfd(): number {
    return must(this.native.eventfdCreate(), () => 'cannot create an eventfd', EVENTFD_HINTS);
  }

  /** Adds `value` to the counter; false when it would overflow (the reader has plenty to see already). */
  signal(fd: number, value = 1): boolean {
    return orNull(this.native.eventfdWrite(fd, value), () => `cannot signal eventfd ${fd}`, EVENTFD_HINTS) !== null;
  }

  /** The counter, now reset to 0, or null when it was 0. */
  drain(fd: number): number | null {
    return orNull(this.native.eventfdRead(fd), () => `cannot read eventfd ${fd}`, EVENTFD_HINTS);
  }
}
