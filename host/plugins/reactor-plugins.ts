// The plugins of one instance of the core (a reactor, or the host's control instance): the host
// imports plugin_open / plugin_close / plugin_io land here. Data moves between the engine's memory
// (an I/O's iovecs) and a plugin's window by copies the host makes, checked against the engine's
// memory; a plugin never sees the engine's memory. Portable (a browser reactor uses it too).

import { readCoreString } from '../core-abi.js';
import { ERRNO } from '../core-constants.js';
import type { Platform } from '../platform.js';
import { OP_READ, OP_WRITE } from './abi.js';
import { PluginSlot, type ReportFn } from './slot.js';

/** The host side of assembly/bdev/plugin's imports (assembly/runtime/host.ts documents each). */
export interface PluginHandlers {
  open(id: number, bytesPtr: number, bytesLen: number, configPtr: number, configLen: number, blockSize: number, fuel: number, namePtr: number): number;
  close(id: number): void;
  io(id: number, op: number, offsetBlocks: number, numBlocks: number, iovs: number, iovcnt: number, out: number, meta: number, memoryBytes?: number): number;
  /** Metadata bytes per block plugin `id` keeps (wstor_meta_bytes), or -ENOENT when it is not open here. */
  metaBytes(id: number): number;
}

interface Open { slot: PluginSlot; refs: number; blockSize: number }

/** An iovec of the core (bdev/iov.ts): u32 base, u32 length. */
const IOVEC_BYTES = 8;

/** Copies between the engine's memory (a whole-memory view) and a plugin's window. */
interface Copier {
  from(engine: Uint8Array, offset: number, target: Uint8Array): void;
  into(engine: Uint8Array, offset: number, source: Uint8Array): void;
}

/** TypedArray.set: V8 copies out of a SharedArrayBuffer word by word (the platform's memcpy is faster). */
const TYPED_ARRAY_COPY: Copier = {
  from: (engine, offset, target) => target.set(engine.subarray(offset, offset + target.length)),
  into: (engine, offset, source) => engine.set(source, offset),
};

/** The platform's memcpy (ranges are checked before each copy, so its -EFAULT cannot happen). */
function platformCopy(copy: NonNullable<Platform['memoryCopy']>): Copier {
  return { from: (engine, offset, target) => { copy.from(engine, offset, target); }, into: (engine, offset, source) => { copy.into(engine, offset, source); } };
}

export class ReactorPlugins implements PluginHandlers {
  private readonly open_ = new Map<number, Open>();
  private readonly copy: Copier;
  /** A view of the whole engine memory, made again when the memory has grown (memory.buffer costs a call). */
  private engineView: Uint8Array | null = null;

  /** `memoryCopy`: the platform's memcpy into and out of the memory (Node with the addon), if it has one. */
  constructor(private readonly memory: WebAssembly.Memory, private readonly report: ReportFn, memoryCopy?: Platform['memoryCopy']) {
    this.copy = memoryCopy ? platformCopy(memoryCopy) : TYPED_ARRAY_COPY;
  }

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
  io(id: number, op: number, offsetBlocks: number, numBlocks: number, iovs: number, iovcnt: number, out: number, meta: number, memoryBytes?: number): number {
    const o = this.open_.get(id);
    if (o === undefined) return -ERRNO.ENOENT;
    const mb = o.slot.metaBytes, dataBytes = numBlocks * o.blockSize;
    if ((op !== OP_READ && op !== OP_WRITE) || (op === OP_WRITE) !== (out !== 0) || (op === OP_READ && mb > 0 && meta === 0)) return -ERRNO.EINVAL;
    const engine = this.engineMemory(memoryBytes);
    const iov = this.iovecs(engine, iovs, iovcnt, dataBytes);
    const outEnd = out + dataBytes + numBlocks * mb;
    if (iov === null || (out !== 0 && outEnd > engine.length) || (op === OP_READ && meta + numBlocks * mb > engine.length)) {
      this.report('error', -ERRNO.EFAULT, `plugin I/O: a buffer lies outside the engine's memory (a core bug): refused`);
      return -ERRNO.EFAULT;
    }
    const perCall = Math.floor(o.slot.dataBytes / o.blockSize);
    for (let done = 0; done < numBlocks; done += perCall) {
      const blocks = Math.min(perCall, numBlocks - done);
      const at = done * o.blockSize, bytes = blocks * o.blockSize, metaAt = done * mb, metaLen = blocks * mb;
      const copy = this.copy;
      const rc = o.slot.run(op, offsetBlocks + done, blocks,
        (window) => {
          gather(copy, engine, iov, at, window.subarray(0, bytes));
          if (op === OP_READ && mb > 0) copy.from(engine, meta + metaAt, window.subarray(bytes, bytes + metaLen));
        },
        (window) => {
          if (op === OP_READ) { scatter(copy, window.subarray(0, bytes), engine, iov, at); return; }
          copy.into(engine, out + at, window.subarray(0, bytes));
          if (mb > 0) copy.into(engine, out + dataBytes + metaAt, window.subarray(bytes, bytes + metaLen));
        });
      if (rc !== 0) return rc;
    }
    return 0;
  }

  /**
   * The view of the engine's memory: the cached one while `memoryBytes` (the core's memory.size(), when
   * it says) is its length, else a new one of memory.buffer (the memory grew, or no size was given).
   */
  private engineMemory(memoryBytes: number | undefined): Uint8Array {
    if (this.engineView === null || memoryBytes === undefined || memoryBytes !== this.engineView.length) this.engineView = new Uint8Array(this.memory.buffer);
    return this.engineView;
  }

  /** The iovecs as [base, length] pairs, if each lies inside the memory and they hold `bytes` in all. */
  private iovecs(engine: Uint8Array, iovs: number, iovcnt: number, bytes: number): Array<[number, number]> | null {
    if (iovs + iovcnt * IOVEC_BYTES > engine.length) return null;
    const out: Array<[number, number]> = [];
    let total = 0;
    for (let i = 0; i < iovcnt; i++) {
      const at = iovs + i * IOVEC_BYTES;
      const base = (engine[at] | engine[at + 1] << 8 | engine[at + 2] << 16 | engine[at + 3] << 24) >>> 0;
      const len = (engine[at + 4] | engine[at + 5] << 8 | engine[at + 6] << 16 | engine[at + 7] << 24) >>> 0;
      if (base + len > engine.length) return null;
      out.push([base, len]);
      total += len;
    }
    return total >= bytes ? out : null;
  }
}

/** Copy `dst.length` bytes starting `at` bytes into the iovecs' data into `dst`. */
function gather(copy: Copier, engine: Uint8Array, iov: Array<[number, number]>, at: number, dst: Uint8Array): void {
  let skip = at, filled = 0;
  for (const [base, len] of iov) {
    if (filled === dst.length) return;
    if (skip >= len) { skip -= len; continue; }
    const n = Math.min(len - skip, dst.length - filled);
    copy.from(engine, base + skip, dst.subarray(filled, filled + n));
    filled += n;
    skip = 0;
  }
}

/** Copy `src` into the iovecs' data starting `at` bytes in. */
function scatter(copy: Copier, src: Uint8Array, engine: Uint8Array, iov: Array<[number, number]>, at: number): void {
  let skip = at, put = 0;
  for (const [base, len] of iov) {
    if (put === src.length) return;
    if (skip >= len) { skip -= len; continue; }
    const n = Math.min(len - skip, src.length - put);
    copy.into(engine, base + skip, src.subarray(put, put + n));
    put += n;
    skip = 0;
  }
}
