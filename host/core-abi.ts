// The boundary between the host and core.wasm: the imports the core expects, how its reports are
// decoded, and the typed view of its exports. Portable: no Node-only API here (the browser uses it too).

import { WstorError } from './errors.js';
import type { CoreExportFunctions } from './core-exports.js';
import type { PluginHandlers } from './plugins/reactor-plugins.js';

// Report levels, host_event kinds, errno values and reactor statistics come from the core's own
// declarations (scripts/core-constants.mjs writes core-constants.ts at build time).
import { LEVEL_NAMES, LEVEL_FATAL, REACTOR_STAT_NAMES } from './core-constants.js';
export {
  LEVEL_FATAL, LEVEL_ERROR, LEVEL_WARN, LEVEL_NOTICE, LEVEL_INFO, LEVEL_DEBUG, LEVEL_NAMES, REACTOR_STAT_NAMES,
  EVENT_DEMO_STEP, EVENT_DEMO_DONE, EVENT_THREAD_READY, EVENT_PERF_JOB_DONE, EVENT_REQUEST_DONE, EVENT_TEST, ERRNO,
} from './core-constants.js';
export type LevelName = (typeof LEVEL_NAMES)[number];

/** Arena used by the host's own instance; reactors use arenas 0..reactors-1. */
export const CONTROL_ARENA = 63;
export const MAX_REACTORS = 63;
export const PAGE_BYTES = 65536;
/** The module declares this maximum (asconfig.json maximumMemory): 4 GiB. */
export const MAX_MEMORY_PAGES = 65536;

export type ReactorStats = Record<(typeof REACTOR_STAT_NAMES)[number], number>;

export function readReactorStats(core: CoreExports, id: number): ReactorStats {
  const stats = {} as ReactorStats;
  REACTOR_STAT_NAMES.forEach((name, i) => { stats[name] = core.reactor_stat(id, i); });
  return stats;
}

export interface Report {
  level: LevelName;
  code: number;
  message: string;
  /** Which instance sent it: a reactor id, or 'control'. */
  source: number | 'control';
}

export interface CoreEvent {
  kind: number;
  a: number;
  b: number;
  c: number;
  reactor: number | 'control';
}

/** Exports of core.wasm, typed from their one declaration (core-exports.ts). */
export type CoreExports = CoreExportFunctions;

/** Read an AssemblyScript static string (UTF-16, its byte length in the header word before it). */
export function readCoreString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return '';
  const buffer = memory.buffer;
  if (ptr < 4 || ptr + 4 > buffer.byteLength) return `<bad string pointer ${ptr}>`;
  const byteLength = new Uint32Array(buffer, ptr - 4, 1)[0];
  if (byteLength > 1 << 16 || ptr + byteLength > buffer.byteLength) return `<bad string at ${ptr}>`;
  // Copy out of the shared buffer: TextDecoder refuses views of a SharedArrayBuffer in browsers.
  const bytes = new Uint8Array(byteLength);
  bytes.set(new Uint8Array(buffer, ptr, byteLength));
  return new TextDecoder('utf-16le').decode(bytes);
}

/**
 * Make a core string object holding `text` (for names passed to the core's create calls): the core
 * allocates it with its byte length in the header, the host fills in the UTF-16LE code units.
 */
export function writeCoreString(core: CoreExports, memory: WebAssembly.Memory, text: string): number {
  // A usize comes back as a signed i32: above 2 GiB it would be negative without >>> 0.
  const ptr = core.wstor_string_new(text.length * 2) >>> 0;
  if (ptr === 0) {
    throw new WstorError('ENOMEM', `the engine's memory has no room for the name "${text.slice(0, 64)}" (${text.length * 2} bytes): ` +
      'free something, or start the engine with more memory', -12);
  }
  // Read the buffer after the call: the allocation may have grown the memory.
  const buffer = memory.buffer;
  if (ptr + text.length * 2 > buffer.byteLength) throw new WstorError('EFAULT', `wstor_string_new(${text.length * 2}) returned a bad pointer ${ptr}`);
  const view = new DataView(buffer, ptr, text.length * 2);
  for (let i = 0; i < text.length; i++) view.setUint16(i * 2, text.charCodeAt(i), true);
  return ptr;
}

/** Fill a report's format: %s takes s1 then s2, %d takes n1 then n2. */
export function formatReport(memory: WebAssembly.Memory, fmt: number, s1: number, s2: number, n1: number, n2: number): string {
  const strings = [s1, s2];
  const numbers = [n1, n2];
  return readCoreString(memory, fmt).replace(/%[sd]/g, (spec) =>
    spec === '%s' ? readCoreString(memory, strings.shift() ?? 0) : String(numbers.shift() ?? 0));
}

export interface ImportHandlers {
  report(level: number, code: number, message: string): void;
  event(kind: number, a: number, b: number, c: number): void;
  /** This instance's io_uring (Node: host/uring-host.ts). Without it file bdevs get -ENOSYS. */
  uring?: UringHandlers;
  /** Sockets, fds and guest-memory mappings for vhost-user (Node: host/vhost-host.ts); else -ENOSYS. */
  vhost?: VhostHandlers;
  /** Wake a reactor sleeping in the kernel: add 1 to its eventfd (Platform.wakeFds.write). */
  wake?: (fd: number) => number;
  /** CRC32C with the CPU's instruction (host/crc-host.ts): the CRC or -errno; absent: -ENOSYS, the core's loop. */
  crc32c?: (crc: number, ptr: number, len: number) => number;
  /** This instance's plugins (host/plugins/reactor-plugins.ts); absent: plugin bdevs get -ENOSYS here. */
  plugins?: PluginHandlers;
}

/**
 * The vhost-user seam (assembly/runtime/host.ts documents each): the core decides, these only move
 * bytes and fds and map memory, refusing any range outside the Wasm memory.
 */
export interface VhostHandlers {
  accept(listenFd: number): number;
  /** bytes | fdCount << 16, 0 when the peer closed, -errno (-EAGAIN: nothing there). */
  recv(fd: number, ptr: number, cap: number, fdsPtr: number, maxFds: number): number;
  send(fd: number, ptr: number, len: number, fdsPtr: number, nfds: number): number;
  close(fd: number): void;
  /** `guard` 0: none; else the address of the u32 that gets `guardValue` if the mapping breaks (SIGBUS). */
  map(offset: number, length: number, fd: number, fdOffset: number, guard: number, guardValue: number): number;
  unmap(offset: number, length: number): number;
  eventfdWrite(fd: number): number;
  memfdCreate(bytes: number): number;
  /** VHOST_FD_KIND (host/native/index.ts) of an fd a guest sent, or -errno. */
  fdKind(fd: number): number;
  /** Bytes of a regular file, or -errno (-ENODEV: not one). */
  fdBytes(fd: number): number;
  /** Guest memory outside the Wasm memory (host/native/src/guestmem.h): a region's handle (>= 1) or -errno. */
  regionMap(guard: number, guardValue: number, fd: number, fdOffset: number, length: number): number;
  /** Retire a region (its mapping goes with its last I/O): 0 or -EBADF. */
  regionUnmap(handle: number): number;
  /** Copy region [offset, offset + len) into Wasm [ptr, ptr + len) / the other way: 0, -EBADF or -EFAULT. */
  guestRead(handle: number, offset: number, ptr: number, len: number): number;
  guestWrite(handle: number, offset: number, ptr: number, len: number): number;
  /** Map region [regionOffset, + length) over Wasm [wasmOffset, + length) too (a ring's window): 0 or -errno. */
  windowMap(guard: number, guardValue: number, wasmOffset: number, length: number, handle: number, regionOffset: number): number;
}

/** The block-I/O seam: descriptors and completions in Wasm memory (bdev/uring/wire.ts). */
export interface UringHandlers {
  /** `memoryBytes`: the memory's size now, so the host can tell it grew without touching memory.buffer. */
  submit(descs: number, count: number, memoryBytes: number): number;
  reap(cqes: number, max: number): number;
  /** The reactor's sleep inside this ring (assembly/runtime/host.ts documents each); -errno when it cannot. */
  wait?(timeoutUs: number): number;
  watch?(fd: number): number;
  unwatch?(id: number): number;
  /** A connected socket's peer: the port, its numeric address NUL-terminated at [ptr, ptr + cap); or -errno. */
  peerName?(fd: number, ptr: number, cap: number): number;
  /** An unconnected TCP socket for the IP literal at addrPtr, its sockaddr ({u32 len, bytes}) at outPtr; the fd or -errno. */
  tcpSocket?(addrPtr: number, port: number, outPtr: number, cap: number): number;
}

const ENOSYS = -38;

// Node defines the global `performance` as a lazy getter: looking it up costs a getter call and a
// property check each time, a few % of a busy reactor (which reads the clock every loop).
const perf = performance;
const timeOrigin = perf.timeOrigin;

/** Clock shared by all workers: absolute microseconds (each worker has its own performance origin). */
export function clockUs(): number {
  return (timeOrigin + perf.now()) * 1000;
}

/** The import object for one instance. */
export function coreImports(memory: WebAssembly.Memory, handlers: ImportHandlers): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort(msg: number, file: number, line: number, column: number) {
        const text = `${readCoreString(memory, msg)} at ${readCoreString(memory, file)}:${line}:${column}`;
        handlers.report(LEVEL_FATAL, -22, `assertion failed: ${text}`);
        throw new WebAssembly.RuntimeError(`core abort: ${text}`);
      },
    },
    host: {
      clock_us: clockUs,
      report(level: number, code: number, fmt: number, s1: number, s2: number, n1: number, n2: number) {
        handlers.report(level, code, formatReport(memory, fmt, s1, s2, n1, n2));
      },
      event(kind: number, a: number, b: number, c: number) {
        handlers.event(kind, a, b, c);
      },
      uring_submit: (descs: number, count: number, memoryPages: number) =>
        (handlers.uring ? handlers.uring.submit(descs >>> 0, count, memoryPages * PAGE_BYTES) : ENOSYS),
      uring_reap: (cqes: number, max: number) => (handlers.uring ? handlers.uring.reap(cqes >>> 0, max) : 0),
      crc32c: (crc: number, ptr: number, len: number) => (handlers.crc32c ? handlers.crc32c(crc >>> 0, ptr >>> 0, len >>> 0) : ENOSYS),
      sock_peer_name: (fd: number, ptr: number, cap: number) => handlers.uring?.peerName?.(fd, ptr >>> 0, cap >>> 0) ?? ENOSYS,
      sock_tcp_socket: (addr: number, port: number, out: number, cap: number) =>
        handlers.uring?.tcpSocket?.(addr >>> 0, port >>> 0, out >>> 0, cap >>> 0) ?? ENOSYS,
      reactor_wait: (timeoutUs: number) => handlers.uring?.wait?.(timeoutUs >>> 0) ?? ENOSYS,
      fd_watch: (fd: number) => handlers.uring?.watch?.(fd) ?? ENOSYS,
      fd_unwatch: (id: number) => handlers.uring?.unwatch?.(id) ?? ENOSYS,
      reactor_wake: (fd: number) => handlers.wake?.(fd) ?? ENOSYS,
      vu_accept: (fd: number) => (handlers.vhost ? handlers.vhost.accept(fd) : ENOSYS),
      vu_recv: (fd: number, ptr: number, cap: number, fds: number, maxFds: number) =>
        (handlers.vhost ? handlers.vhost.recv(fd, ptr >>> 0, cap, fds >>> 0, maxFds) : ENOSYS),
      vu_send: (fd: number, ptr: number, len: number, fds: number, nfds: number) =>
        (handlers.vhost ? handlers.vhost.send(fd, ptr >>> 0, len, fds >>> 0, nfds) : ENOSYS),
      fd_close: (fd: number) => { handlers.vhost?.close(fd); },
      vu_map: (offset: number, length: number, fd: number, fdOffset: number, guard: number, guardValue: number) =>
        (handlers.vhost ? handlers.vhost.map(offset >>> 0, length, fd, fdOffset, guard >>> 0, guardValue >>> 0) : ENOSYS),
      vu_unmap: (offset: number, length: number) => (handlers.vhost ? handlers.vhost.unmap(offset >>> 0, length) : ENOSYS),
      eventfd_write: (fd: number) => (handlers.vhost ? handlers.vhost.eventfdWrite(fd) : ENOSYS),
      memfd_create: (bytes: number) => (handlers.vhost ? handlers.vhost.memfdCreate(bytes) : ENOSYS),
      vu_fd_kind: (fd: number) => (handlers.vhost ? handlers.vhost.fdKind(fd) : ENOSYS),
      vu_fd_bytes: (fd: number) => (handlers.vhost ? handlers.vhost.fdBytes(fd) : ENOSYS),
      plugin_open: (id: number, bytes: number, bytesLen: number, config: number, configLen: number, blockSize: number, fuel: number, name: number) =>
        (handlers.plugins ? handlers.plugins.open(id >>> 0, bytes >>> 0, bytesLen >>> 0, config >>> 0, configLen >>> 0, blockSize >>> 0, fuel >>> 0, name >>> 0) : ENOSYS),
      plugin_close: (id: number) => { handlers.plugins?.close(id >>> 0); },
      plugin_io: (id: number, op: number, offsetBlocks: number, numBlocks: number, iovs: number, iovcnt: number, out: number, meta: number, memoryPages: number) =>
        (handlers.plugins ? handlers.plugins.io(id >>> 0, op, offsetBlocks, numBlocks >>> 0, iovs >>> 0, iovcnt >>> 0, out >>> 0, meta >>> 0, memoryPages * PAGE_BYTES) : ENOSYS),
      vu_region_map: (guard: number, guardValue: number, fd: number, fdOffset: number, length: number) =>
        (handlers.vhost ? handlers.vhost.regionMap(guard >>> 0, guardValue >>> 0, fd, fdOffset, length) : ENOSYS),
      vu_region_unmap: (handle: number) => (handlers.vhost ? handlers.vhost.regionUnmap(handle >>> 0) : ENOSYS),
      vu_guest_read: (handle: number, offset: number, ptr: number, len: number) =>
        (handlers.vhost ? handlers.vhost.guestRead(handle >>> 0, offset, ptr >>> 0, len >>> 0) : ENOSYS),
      vu_guest_write: (handle: number, offset: number, ptr: number, len: number) =>
        (handlers.vhost ? handlers.vhost.guestWrite(handle >>> 0, offset, ptr >>> 0, len >>> 0) : ENOSYS),
      vu_window_map: (guard: number, guardValue: number, wasmOffset: number, length: number, handle: number, regionOffset: number) =>
        (handlers.vhost ? handlers.vhost.windowMap(guard >>> 0, guardValue >>> 0, wasmOffset >>> 0, length, handle >>> 0, regionOffset) : ENOSYS),
    },
  };
}

/** Instantiate the compiled core over `memory` and run its start-up (globals of this instance). */
export async function instantiateCore(module: WebAssembly.Module, memory: WebAssembly.Memory, handlers: ImportHandlers): Promise<CoreExports> {
  const instance = await WebAssembly.instantiate(module, coreImports(memory, handlers));
  const exports = instance.exports as unknown as CoreExports;
  exports._start();
  return exports;
}

export function levelName(level: number): LevelName {
  return LEVEL_NAMES[level] ?? 'error';
}
