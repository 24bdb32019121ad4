// The core's vhost imports (VhostHandlers, core-abi.ts) on a Node reactor thread: straight calls into
// the addon with the core's numbers. recvMsg's result is repacked as the core reads it
// (bytes | fds << 16); a peer that sent too many fds gets -EPROTO (the addon closed them all). Guest
// memory copies go through a cached view of the Wasm memory.
import { loadNative } from './native/index.js';
import { decodeRecv } from './vhost-host.js';
import type { VhostHandlers } from './core-abi.js';

const EPROTO = -71;

export function nodeVhostHandlers(memory: WebAssembly.Memory): VhostHandlers | undefined {
  const native = loadNative();
  if (!native?.unixAccept) return undefined;
  // Guest copies run for every request (header, status, malloc's data): one view of the memory, made
  // again only when a copy reaches past it (the memory grew), rather than the addon's full check per call.
  let view = new Uint8Array(memory.buffer);
  const viewOver = (end: number): Uint8Array => {
    if (end > view.byteLength) view = new Uint8Array(memory.buffer);
    return view;
  };
  return {
    accept: (listenFd) => native.unixAccept(listenFd),
    recv(fd, ptr, cap, fdsPtr, maxFds) {
      const r = native.recvMsg(fd, memory, ptr, cap, fdsPtr, maxFds);
      if (r < 0) return r;
      const got = decodeRecv(r);
      if (got.fdsRefused || got.dataTruncated || got.bytes > 0xffff) return EPROTO;
      return got.bytes | (got.fds << 16);
    },
    send(fd, ptr, len, fdsPtr, nfds) {
      const fds = Array.from(new Int32Array(memory.buffer, fdsPtr, nfds));
      return native.sendMsg(fd, memory, ptr, len, fds);
    },
    close: (fd) => { native.closeFd(fd); },
    map: (offset, length, fd, fdOffset, guard, guardValue) =>
      (guard === 0 ? native.mapIntoMemory(memory, offset, length, fd, fdOffset) : native.mapIntoMemory(memory, offset, length, fd, fdOffset, guard, guardValue)),
    unmap: (offset, length) => native.unmapFromMemory(memory, offset, length),
    eventfdWrite: (fd) => native.eventfdWrite(fd, 1),
    memfdCreate: (bytes) => native.memfdCreate('wstor-vhost-inflight', bytes),
    fdKind: (fd) => native.fdKind(fd),
    fdBytes: (fd) => native.fdSize(fd),
    regionMap: (guard, guardValue, fd, fdOffset, length) => native.guestRegionMap(memory, guard, guardValue, fd, fdOffset, length),
    regionUnmap: (handle) => native.guestRegionUnmap(handle),
    guestRead: (handle, offset, ptr, len) => native.guestRead(viewOver(ptr + len), handle, offset, ptr, len),
    guestWrite: (handle, offset, ptr, len) => native.guestWrite(viewOver(ptr + len), handle, offset, ptr, len),
    windowMap: (guard, guardValue, wasmOffset, length, handle, regionOffset) =>
      native.guestWindowMap(memory, guard, guardValue, wasmOffset, length, handle, regionOffset),
  };
}

