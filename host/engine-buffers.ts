// Buffers in the engine's shared memory that blob I/O uses in place: SPDK's spdk_dma_malloc for Node
// programs. A read into one lands there with no copy on the main thread, a write leaves from it with
// none. The copy they save is not cheap: V8 copies out of (and into) shared memory word by word
// (relaxed atomics), ~28 % of the main thread's time at 500 k blob reads a second in a profile.
// A buffer freed while I/O on it is in flight goes back to the heap only when its last I/O ends:
// the core would otherwise write into memory the heap has handed to something else.

import { WstorError } from './errors.js';

/** What EngineBuffers needs of the engine. */
export interface BufferHost {
  readonly memory: WebAssembly.Memory;
  readonly core: unknown;
}

type Core = { wstor_alloc(bytes: number): number; wstor_free(ptr: number): void };

/** The alignment of every buffer: O_DIRECT's, so a file bdev needs no bounce copy for them. */
export const ENGINE_BUFFER_ALIGN = 4096;

/** One buffer from alloc(). */
export class EngineBuffer {
  /** I/Os using it now (blob I/O pins it for its duration). */
  inFlight = 0;
  /** free() was called: no new I/O may pin it; the heap gets it back when inFlight reaches 0. */
  freed = false;
  constructor(readonly raw: number, readonly ptr: number, readonly bytes: number) {}
}

export class EngineBuffers {
  /** The SharedArrayBuffers alloc() made views on (memory.buffer is a new object after each growth). */
  private readonly memories = new WeakSet<ArrayBufferLike>();
  /** Live buffers by start address, ascending (alloc and free are rare; pin is per I/O: a binary search). */
  private readonly live: EngineBuffer[] = [];

  constructor(private readonly host: BufferHost) {}

  private get core(): Core { return this.host.core as Core; }

  /**
   * A zero-filled buffer of `bytes` in the engine's memory, 4096-aligned. Blob reads into it
   * (readv with it as the only buffer) and writes from it skip the copy through a staging buffer.
   * Give it back with free(); it is only valid while the engine runs.
   */
  alloc(bytes: number): Uint8Array {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new WstorError('EINVAL', `buffers.alloc: the size must be a positive integer (got ${bytes})`);
    const raw = this.core.wstor_alloc(bytes + ENGINE_BUFFER_ALIGN - 1) >>> 0;
    if (raw === 0) throw new WstorError('ENOMEM', `no shared memory for a ${bytes}-byte engine buffer (free some, or start the engine with more memoryBytes)`);
    const ptr = Math.ceil(raw / ENGINE_BUFFER_ALIGN) * ENGINE_BUFFER_ALIGN;
    const memory = this.host.memory.buffer;
    this.memories.add(memory);
    const view = new Uint8Array(memory, ptr, bytes);
    view.fill(0);                       // heap memory may hold another blob's data
    this.live.splice(this.indexAfter(ptr), 0, new EngineBuffer(raw, ptr, bytes));
    return view;
  }

  /** Give back a buffer from alloc() (the view alloc returned, or any view starting where it starts). */
  free(view: Uint8Array): void {
    const i = this.memories.has(view.buffer) ? this.indexAfter(view.byteOffset) - 1 : -1;
    const b = i >= 0 ? this.live[i] : undefined;
    if (!b || b.ptr !== view.byteOffset) throw new WstorError('EINVAL', 'buffers.free: not a buffer from engine.buffers.alloc, or freed already');
    this.live.splice(i, 1);
    b.freed = true;
    if (b.inFlight === 0) this.core.wstor_free(b.raw);
  }

  /** Bytes in live buffers. */
  get allocatedBytes(): number {
    let n = 0;
    for (const b of this.live) n += b.bytes;
    return n;
  }

  /**
   * The live buffer `view` lies in, pinned for one I/O (unpin it when the I/O ends); null when `view`
   * is not on the engine's memory (an ordinary Uint8Array). EINVAL for a view of the engine's memory
   * outside every live buffer: the core's own memory, or a buffer already freed. @internal
   */
  pin(view: Uint8Array): EngineBuffer | null {
    if (!this.memories.has(view.buffer)) return null;
    const b = this.live[this.indexAfter(view.byteOffset) - 1];
    if (!b || view.byteOffset + view.byteLength > b.ptr + b.bytes) {
      throw new WstorError('EINVAL', 'an I/O buffer on the engine\'s memory must lie inside a live buffer from engine.buffers.alloc (was it freed?)');
    }
    b.inFlight++;
    return b;
  }

  /** @internal */
  unpin(b: EngineBuffer): void {
    if (--b.inFlight === 0 && b.freed) this.core.wstor_free(b.raw);
  }

  /** How many live buffers start at or before `ptr`. */
  private indexAfter(ptr: number): number {
    let lo = 0, hi = this.live.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.live[mid].ptr <= ptr) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
}
