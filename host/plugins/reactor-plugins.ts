// The plugins of one instance of the core (a reactor, or the host's control instance): the host
// imports plugin_open / plugin_close / plugin_io land here. Data moves between the engine's memory
// (an I/O's iovecs) and a plugin's window by copies the host makes, checked against the engine's
// memory; a plugin never sees the engine's memory. Portable (a browser reactor uses it too).

import { readCoreString } from '../core-abi.js';
import { ERRNO } from '../core-constants.js';
import { OP_READ, OP_WRITE } from './abi.js';
import { PluginSlot, type ReportFn } from './slot.js';

/** The host side of assembly/bdev/plugin's imports (assembly/runtime/host.ts documents each). */
export interface PluginHandlers {
  open(id: number, bytesPtr: number, bytesLen: number, configPtr: number, configLen: number, blockSize: number, fuel: number, namePtr: number): number;
  close(id: number): void;
  io(id: number, op: number, offsetBlocks: number, numBlocks: number, iovs: number, iovcnt: number, out: number, meta: number): number;
  /** Metadata bytes per block plugin `id` keeps (wstor_meta_bytes), or -ENOENT when it is not open here. */
  metaBytes(id: number): number;
}

interface Open { slot: PluginSlot; refs: number; blockSize: number }

/** An iovec of the core (bdev/iov.ts): u32 base, u32 length. */
const IOVEC_BYTES = 8;

export class ReactorPlugins implements PluginHandlers {
  private readonly open_ = new Map<number, Open>();

  constructor(private readonly memory: WebAssembly.Memory, private readonly report: ReportFn) {}

  /** A copy of [ptr, ptr + len) of the engine's memory, or null when the range is not inside it. */
  private copyOut(ptr: number, len: number): Uint8Array<ArrayBuffer> | null {
    const buffer = this.memory.buffer;
    if (ptr + len > buffer.byteLength) return null;
    const copy = new Uint8Array(len);
    copy.set(new Uint8Array(buffer, ptr, len));
    return copy;
  }

  open(id: number, bytesPtr: number, bytesLen: number, configPtr: number, configLen: number, blockSize: number, fuel: number, namePtr: number): number {
    const known = this.open_.get(id);
    if (known !== undefined) { known.refs++; return 0; }
    const name = readCoreString(this.memory, namePtr);
    const bytes = this.copyOut(bytesPtr, bytesLen);
    const config = this.copyOut(configPtr, configLen);
    if (bytes === null || config === null) {
      this.report('error', -ERRNO.EFAULT, `plugin ${name}: its module or config lies outside the engine's memory`);
      return -ERRNO.EFAULT;
    }
    try {
      // Compiled on each instance that opens it: a Module cannot be shared through the Wasm memory.
      const module = new WebAssembly.Module(bytes);
      const slot = new PluginSlot({ name, module, config, blockSize, fuel, log: (line) => this.report('info', 0, `plugin ${name}: ${line}`) }, this.report);
      this.open_.set(id, { slot, refs: 1, blockSize });
      return 0;
    } catch (err) {
      this.report('error', -ERRNO.EINVAL, `plugin ${name}: could not start on this reactor: ${(err as Error).message}`);
      return -ERRNO.EINVAL;
    }
  }

  close(id: number): void {
    const o = this.open_.get(id);
    if (o === undefined) return;
    if (--o.refs === 0) this.open_.delete(id);
  }

  metaBytes(id: number): number { return this.open_.get(id)?.slot.metaBytes ?? -ERRNO.ENOENT; }

  /** How many plugins this instance has open (for tests and statistics). */
  get openCount(): number { return this.open_.size; }

  /** Instances made after a trap, for plugin `id` on this instance. */
  replacedOf(id: number): number { return this.open_.get(id)?.slot.replaced ?? 0; }

  /**
   * Run plugin `id` over an I/O, one window at a time. Read: the data in `iovs` (what the base
   * returned) goes through the plugin and back into `iovs`, with its blocks' metadata from `meta`.
   * Write: the data in `iovs` (the caller's, left unchanged) goes through the plugin into the
   * contiguous buffer at `out`, and the metadata the plugin made for it right after that data.
   */
  io(id: number, op: number, offsetBlocks: number, numBlocks: number, iovs: number, iovcnt: number, out: number, meta: number): number {
    const o = this.open_.get(id);
    if (o === undefined) return -ERRNO.ENOENT;
    const mb = o.slot.metaBytes, dataBytes = numBlocks * o.blockSize;
    if ((op !== OP_READ && op !== OP_WRITE) || (op === OP_WRITE) !== (out !== 0) || (op === OP_READ && mb > 0 && meta === 0)) return -ERRNO.EINVAL;
    const buffer = this.memory.buffer;
    const engine = new Uint8Array(buffer);
    const iov = this.iovecs(buffer, iovs, iovcnt, dataBytes);
    const outEnd = out + dataBytes + numBlocks * mb;
    if (iov === null || (out !== 0 && outEnd > buffer.byteLength) || (op === OP_READ && meta + numBlocks * mb > buffer.byteLength)) {
      this.report('error', -ERRNO.EFAULT, `plugin I/O: a buffer lies outside the engine's memory (a core bug): refused`);
      return -ERRNO.EFAULT;
    }
    const perCall = Math.floor(o.slot.dataBytes / o.blockSize);
    for (let done = 0; done < numBlocks; done += perCall) {
      const blocks = Math.min(perCall, numBlocks - done);
      const at = done * o.blockSize, bytes = blocks * o.blockSize, metaAt = done * mb, metaLen = blocks * mb;
      const rc = o.slot.run(op, offsetBlocks + done, blocks,
        (window) => {
          gather(engine, iov, at, window.subarray(0, bytes));
          if (op === OP_READ && mb > 0) window.set(engine.subarray(meta + metaAt, meta + metaAt + metaLen), bytes);
        },
        (window) => {
          if (op === OP_READ) { scatter(window.subarray(0, bytes), engine, iov, at); return; }
          engine.set(window.subarray(0, bytes), out + at);
          if (mb > 0) engine.set(window.subarray(bytes, bytes + metaLen), out + dataBytes + metaAt);
        });
      if (rc !== 0) return rc;
    }
    return 0;
  }

  /** The iovecs as [base, length] pairs, if each lies inside the memory and they hold `bytes` in all. */
  private iovecs(buffer: ArrayBufferLike, iovs: number, iovcnt: number, bytes: number): Array<[number, number]> | null {
    if (iovs + iovcnt * IOVEC_BYTES > buffer.byteLength) return null;
    const view = new DataView(buffer, iovs, iovcnt * IOVEC_BYTES);
    const out: Array<[number, number]> = [];
    let total = 0;
    for (let i = 0; i < iovcnt; i++) {
      const base = view.getUint32(i * IOVEC_BYTES, true), len = view.getUint32(i * IOVEC_BYTES + 4, true);
      if (base + len > buffer.byteLength) return null;
      out.push([base, len]);
      total += len;
    }
    return total >= bytes ? out : null;
  }
}

/** Copy `dst.length` bytes starting `at` bytes into the iovecs' data into `dst`. */
function gather(engine: Uint8Array, iov: Array<[number, number]>, at: number, dst: Uint8Array): void {
  let skip = at, filled = 0;
  for (const [base, len] of iov) {
    if (filled === dst.length) return;
    if (skip >= len) { skip -= len; continue; }
    const n = Math.min(len - skip, dst.length - filled);
    dst.set(engine.subarray(base + skip, base + skip + n), filled);
    filled += n;
    skip = 0;
  }
}

/** Copy `src` into the iovecs' data starting `at` bytes in. */
function scatter(src: Uint8Array, engine: Uint8Array, iov: Array<[number, number]>, at: number): void {
  let skip = at, put = 0;
  for (const [base, len] of iov) {
    if (put === src.length) return;
    if (skip >= len) { skip -= len; continue; }
    const n = Math.min(len - skip, src.length - put);
    engine.set(src.subarray(put, put + n), base + skip);
    put += n;
    skip = 0;
  }
}
