// The blob Node API's data path. An I/O through the Node API costs the main thread a promise, a
// request id, copies into and out of the shared memory and the completion's bookkeeping; at a few
// hundred thousand I/Os a second every allocation on that path shows up as garbage collection. So:
// - staging buffers in the shared heap are reused (StagingBuffers), not allocated and freed through
//   the core (two calls under the heap's lock per I/O);
// - what a read returns is cut from a larger ArrayBuffer (ResultBytes), as Node's Buffer pool does,
//   instead of an ArrayBuffer per read;
// - each I/O is one object (BlobIo) that the engine settles directly: one promise, no async layers,
//   and its error text is built only if it fails.

import type { CoreExports } from './core-abi.js';
import type { Engine, PendingRequest } from './engine.js';
import type { EngineBuffer } from './engine-buffers.js';


/** One staging slot: the common I/O size, and the alignment O_DIRECT wants (so no bounce copy). */
export const SLOT_BYTES = 4096;
const SLOTS_PER_CHUNK = 16;
/** Slots kept for reuse at most (4 MiB); past that, staging buffers come from the heap per I/O. */
const MAX_SLOTS = 1024;

/** Reusable SLOT_BYTES staging buffers in the shared heap, 4096-aligned; larger I/Os use the heap. */
export class StagingBuffers {
  private readonly free: number[] = [];
  private slots = 0;
  /** Buffers taken from the heap one by one (larger than a slot, or every slot in use). */
  private readonly oneOff = new Set<number>();
  private view: Uint8Array;
  /** The addon's memcpy (V8 copies shared memory word by word), when the platform has it. */
  private readonly copy: Engine['platform']['memoryCopy'];

  constructor(private readonly engine: Engine) {
    this.view = new Uint8Array(engine.memory.buffer);
    this.copy = engine.platform.memoryCopy;
  }

  private get core(): CoreExports { return this.engine.core; }

  /** A buffer of at least `length` bytes, or 0 when the shared memory is exhausted. */
  take(length: number): number {
    if (length <= SLOT_BYTES) {
      if (this.free.length === 0 && this.slots < MAX_SLOTS) this.addChunk();
      const slot = this.free.pop();
      if (slot !== undefined) return slot;
    }
    const ptr = this.core.wstor_alloc(Math.max(length, 1)) >>> 0;
    if (ptr !== 0) this.oneOff.add(ptr);
    return ptr;
  }

  give(ptr: number): void {
    if (this.oneOff.delete(ptr)) this.core.wstor_free(ptr);
    else this.free.push(ptr);
  }

  /** The whole shared memory, viewed again after it grew past `end`. */
  private memoryTo(end: number): Uint8Array {
    if (end > this.view.length) this.view = new Uint8Array(this.engine.memory.buffer);
    return this.view;
  }

  /** Copy `data` into the shared memory at `ptr + at`. */
  put(ptr: number, data: Uint8Array, at = 0): void {
    const memory = this.memoryTo(ptr + at + data.length);
    if (this.copy) this.copy.into(memory, ptr + at, data);
    else memory.set(data, ptr + at);
  }

  /** Fill `target` from the shared memory at `ptr`. */
  get(ptr: number, target: Uint8Array): void {
    const memory = this.memoryTo(ptr + target.length);
    if (this.copy) this.copy.from(memory, ptr, target);
    else target.set(memory.subarray(ptr, ptr + target.length));
  }

  private addChunk(): void {
    // One heap block per chunk, aligned up by hand; chunks live as long as the engine's memory.
    const raw = this.core.wstor_alloc((SLOTS_PER_CHUNK + 1) * SLOT_BYTES) >>> 0;
    if (raw === 0) return;
    const first = Math.ceil(raw / SLOT_BYTES) * SLOT_BYTES;
    for (let i = SLOTS_PER_CHUNK - 1; i >= 0; i--) this.free.push(first + i * SLOT_BYTES);
    this.slots += SLOTS_PER_CHUNK;
  }
}

const SLAB_BYTES = 256 * 1024;
const SLAB_MAX_CUT = 16 * 1024;

type NodeBuffer = { allocUnsafeSlow(n: number): Uint8Array };
const nodeBuffer = (globalThis as { Buffer?: NodeBuffer }).Buffer;
/** Every byte of a slab is written before it is handed out, so Node's unzeroed allocation is safe. */
const newSlab = (): ArrayBuffer => (nodeBuffer ? nodeBuffer.allocUnsafeSlow(SLAB_BYTES).buffer as ArrayBuffer : new ArrayBuffer(SLAB_BYTES));

/**
 * The Uint8Arrays reads resolve with. Small ones are views into a shared 256 KiB ArrayBuffer (freed
 * when no view of it is left), as Buffer.allocUnsafe does with Node's pool: an ArrayBuffer per 4 KiB
 * read is most of a read's garbage. Each view covers only its own bytes.
 */
export class ResultBytes {
  private slab = new ArrayBuffer(0);
  private at = 0;

  take(length: number): Uint8Array {
    if (length > SLAB_MAX_CUT) return new Uint8Array(length);
    if (this.at + length > this.slab.byteLength) {
      this.slab = newSlab();
      this.at = 0;
    }
    const out = new Uint8Array(this.slab, this.at, length);
    this.at += (length + 7) & ~7;     // keep the next view 8-byte aligned
    return out;
  }
}

/**
 * Whether an I/O with these pins runs in place: on its one buffer, an engine buffer (pinAll in
 * host/blobstore.ts pins the buffer itself then; several buffers are pinned as a list and staged).
 */
export function inPlace(pins: EngineBuffer | EngineBuffer[] | null): pins is EngineBuffer {
  return pins !== null && !Array.isArray(pins);
}

export const enum IoOp { Read = 0, Write = 1, Unmap = 2, WriteZeroes = 3 }
const VERBS = ['reading', 'writing', 'unmapping', 'zeroing'];

/** What a BlobIo needs from the handle that issued it. */
export interface IoIssuer {
  readonly id: bigint;
  /** Its I/O ended (any outcome): leave the blob's I/O gate. */
  ioEnded(): void;
}

/**
 * One blob I/O in flight: registered with the engine as a pending request, settled by it with the
 * reactor that ran it (success) or an error. `ptr` is a staging buffer, given back on every outcome,
 * or the caller's one engine buffer itself when the I/O runs in place (see inPlace): nothing to copy.
 * `pins` are the caller's engine buffers the I/O uses (host/engine-buffers.ts), unpinned on every outcome.
 * Reads resolve with a new Uint8Array, or fill `into` (readv) and resolve with undefined.
 */
export class BlobIo implements PendingRequest {
  reportSeq = 0;
  constructor(
    private readonly issuer: IoIssuer,
    private readonly io: BlobIoPath,
    readonly op: IoOp,
    readonly ptr: number,
    readonly length: number,
    private readonly into: Uint8Array[] | null,
    private readonly pins: EngineBuffer | EngineBuffer[] | null,
    private readonly done: (value: Uint8Array | undefined) => void,
    private readonly failed: (e: Error) => void,
  ) {}

  get what(): string { return `${VERBS[this.op]} blob ${this.issuer.id}`; }

  resolve(ranOn: number): void {
    let result: Uint8Array | undefined;
    if (this.op === IoOp.Read && !inPlace(this.pins)) {
      const staging = this.io.staging;
      if (this.into === null) {
        result = this.io.results.take(this.length);
        staging.get(this.ptr, result);
      } else {
        let at = this.ptr;
        for (const b of this.into) { staging.get(at, b); at += b.length; }
      }
    }
    this.release();
    this.io.completedOn(ranOn);
    this.done(result);
  }

  reject(e: Error): void {
    this.release();
    this.failed(e);
  }

  private release(): void {
    this.io.giveBack(this.ptr, this.pins);
    this.issuer.ioEnded();
  }
}

/** The engine-wide parts of the data path: buffers, and which reactor's I/O thread runs the next I/O. */
export class BlobIoPath {
  readonly staging: StagingBuffers;
  readonly results = new ResultBytes();
  readonly buffers: Engine['buffers'];
  /** Per reactor: the core's I/O thread for blob I/O (created on first use), or 0. */
  private readonly ioThreads: number[];
  private readonly completed: number[];
  private nextReactor = 0;

  constructor(private readonly engine: Engine) {
    this.staging = new StagingBuffers(engine);
    this.buffers = engine.buffers;
    this.ioThreads = new Array<number>(engine.reactorCount).fill(0);
    this.completed = new Array<number>(engine.reactorCount).fill(0);
  }

  /** What an I/O held, on any outcome: its staging buffer (none when it ran in place) and its pins. */
  giveBack(ptr: number, pins: EngineBuffer | EngineBuffer[] | null): void {
    if (!inPlace(pins) && ptr !== 0) this.staging.give(ptr);
    if (pins !== null) this.unpin(pins);
  }

  /** Unpin what an I/O pinned (engine buffers it used). */
  unpin(pins: EngineBuffer | EngineBuffer[]): void {
    if (Array.isArray(pins)) for (const b of pins) this.buffers.unpin(b);
    else this.buffers.unpin(pins);
  }

  /** How many blob I/Os have completed on each reactor. */
  get perReactor(): readonly number[] { return this.completed; }

  completedOn(reactor: number): void {
    if (reactor >= 0 && reactor < this.completed.length) this.completed[reactor]++;
  }

  /** The I/O thread of the next reactor in turn (made on first use); 0 when there is no memory for it. */
  nextIoThread(): number {
    const reactor = this.nextReactor;
    this.nextReactor = reactor + 1 === this.ioThreads.length ? 0 : reactor + 1;
    if (this.ioThreads[reactor] === 0) {
      this.ioThreads[reactor] = this.engine.core.bs_io_thread_create(reactor) >>> 0;
    }
    return this.ioThreads[reactor];
  }

  /** Every I/O thread made so far. */
  threads(): number[] { return this.ioThreads.filter((iot) => iot !== 0); }
}
