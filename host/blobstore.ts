// The Blobstore's Node API: stores on bdevs, blobs with promise-returning read/write/xattr/sync.
// Metadata calls are requests to the engine's app thread (the store's md thread); blob I/O goes to I/O
// threads, one per reactor, taken in turn. Any number may be in flight at once. Data crosses into the
// shared memory through staging buffers the host reuses (host/blob-io.ts: the data path).
import type { CoreExports } from './core-abi.js';
import type { Engine } from './engine.js';
import { WstorError } from './errors.js';
import { BlobIo, BlobIoPath, IoOp, inPlace, type IoIssuer } from './blob-io.js';
import type { EngineBuffer } from './engine-buffers.js';


export interface InitOptions {
  /** Cluster size in bytes: a power of two, at least 4096 (default 1 MiB). */
  clusterSize?: number;
  /** Metadata pages to reserve (default one per cluster). */
  mdPages?: number;
}

export interface LoadOptions {
  /** Open the bdev for reading only and write nothing to it (default false). */
  readOnly?: boolean;
}

export interface BlobInfo {
  id: bigint; size: number; thin: boolean; allocatedBytes: number;
  /** Read-only: made by blob.snapshot(). */
  snapshot: boolean;
  /** The snapshot this blob reads through (a snapshotted blob or a clone), if any. */
  parent?: bigint;
  /** Its xattr names (values: blob.getXattr). */
  xattrs: string[];
  /** Why the blob cannot be opened (its md is damaged, or the load refused it), if it cannot; the fields above are then empty. */
  error?: string;
}

export interface CreateOptions {
  /** Size in bytes (rounded up to whole clusters). */
  size: number;
  /** Allocate clusters on first write instead of now. */
  thin?: boolean;
  /** User xattrs set (and synced) right after creation. */
  xattrs?: Record<string, string | Uint8Array>;
}

const encoder = new TextEncoder();
const toBytes = (v: string | Uint8Array) => (typeof v === 'string' ? encoder.encode(v) : v);

/** A blob I/O's arguments while it waits for the blob's gate. */
class BlobIoArgs {
  constructor(readonly op: IoOp, readonly offset: number, readonly length: number, readonly ptr: number,
    readonly into: Uint8Array[] | null, readonly pins: EngineBuffer | EngineBuffer[] | null) {}
}

function totalLength(buffers: Uint8Array[]): number {
  if (!Array.isArray(buffers) || buffers.length === 0) throw new WstorError('EINVAL', 'readv/writev take a non-empty array of Uint8Arrays');
  let n = 0;
  for (let i = 0; i < buffers.length; i++) n += buffers[i].length;
  return n;
}

/** Host-owned bytes in the shared heap, for one request. */
class HeapBytes {
  readonly ptr: number;
  constructor(private readonly engine: Engine, readonly length: number) {
    const ptr = engine.core.wstor_alloc(Math.max(length, 1)) >>> 0;
    if (ptr === 0) throw new WstorError('ENOMEM', `no shared memory for a ${length}-byte buffer (start the engine with more memoryBytes)`);
    this.ptr = ptr;
  }
  static of(engine: Engine, data: Uint8Array): HeapBytes {
    const b = new HeapBytes(engine, data.length);
    new Uint8Array(engine.memory.buffer, b.ptr, data.length).set(data);
    return b;
  }
  free(): void { this.engine.core.wstor_free(this.ptr); }
}

/**
 * The Node API's I/O in flight on one open blob (shared by every handle of it), and the operations
 * that must wait until there is none: close (the last one frees the blob), resize (may move its
 * cluster map while an I/O thread reads it) and snapshot (rewrites the map in steps). While one of
 * those waits or runs, new I/O waits for it.
 */
class IoGate {
  private io = 0;
  private exclusive = 0;              // waiting or running
  private running = false;
  private waiters: (() => void)[] = [];
  handles = 0;

  /** Count an I/O in now if nothing exclusive is pending; false: call enter(). */
  tryEnter(): boolean {
    if (this.exclusive !== 0) return false;
    this.io++;
    return true;
  }
  async enter(): Promise<void> {
    while (this.exclusive !== 0) await this.wait();
    this.io++;
  }
  leave(): void {
    if (--this.io === 0) this.wake();
  }
  /** Run `fn` with no Node API I/O in flight on the blob and none starting. */
  async alone<T>(fn: () => Promise<T>): Promise<T> {
    this.exclusive++;
    try {
      while (this.io !== 0 || this.running) await this.wait();
      this.running = true;
      try { return await fn(); } finally { this.running = false; }
    } finally {
      this.exclusive--;
      this.wake();
    }
  }
  private wait(): Promise<void> { return new Promise((resolve) => this.waiters.push(resolve)); }
  private wake(): void { const w = this.waiters; this.waiters = []; for (const f of w) f(); }
}

export class BlobstoreApi {
  /** The data path's buffers and I/O threads. @internal */
  readonly ioPath: BlobIoPath;

  constructor(private readonly engine: Engine) {
    this.ioPath = new BlobIoPath(engine);
  }

  /** How many Node API blob I/Os (reads, writes, unmaps, write-zeroes) have completed on each reactor. */
  get ioPerReactor(): readonly number[] { return this.ioPath.perReactor; }

  /**
   * Have every I/O thread put back its channel on the store (before an unload: the store's bdev is
   * closed then). A later I/O takes a channel again.
   * @internal
   */
  async releaseChannels(storePtr: number, bdev: string): Promise<void> {
    const core = this.engine.core;
    await Promise.all(this.ioPath.threads().map((iot) =>
      this.engine.request(`releasing the I/O channels of the blobstore on ${bdev}`, (r) => core.bs_io_release(r, iot, storePtr))));
  }

  /** Lay out a new, empty store on a bdev (everything on it is lost). */
  async init(bdev: string, opts: InitOptions = {}): Promise<BlobStore> {
    const clusterSize = opts.clusterSize ?? 1 << 20;
    if (!Number.isInteger(clusterSize) || clusterSize < 4096 || (clusterSize & (clusterSize - 1)) !== 0) {
      throw new WstorError('EINVAL', `clusterSize ${clusterSize} must be a power of two of at least 4096`);
    }
    const id = this.engine.bdev.info(bdev).id;
    const core = this.engine.core;
    const ptr = await this.engine.request(`initialising a blobstore on ${bdev}`, (r) => core.bs_init(r, id, clusterSize, opts.mdPages ?? 0));
    return new BlobStore(this.engine, ptr, bdev);
  }

  /**
   * Load the store on a bdev if it holds one (SPDK's examine): undefined when the bdev has no blobstore
   * signature; a damaged store or a claimed bdev is still an error.
   */
  async probe(bdev: string): Promise<BlobStore | undefined> {
    const id = this.engine.bdev.info(bdev).id;
    const core = this.engine.core;
    try {
      const ptr = await this.engine.request(`looking for a blobstore on ${bdev}`, (r) => core.bs_probe(r, id));
      return new BlobStore(this.engine, ptr, bdev);
    } catch (err) {
      if (err instanceof WstorError && err.code === 'ENODATA') return undefined;
      throw err;
    }
  }

  /**
   * Load the store on a bdev (recovering it if it was not unloaded cleanly). `readOnly`: nothing is
   * ever written to the bdev (no claim either): blobs open read-only, a dirty store is recovered in
   * memory only, and unload writes nothing.
   */
  async load(bdev: string, opts: LoadOptions = {}): Promise<BlobStore> {
    const id = this.engine.bdev.info(bdev).id;
    const core = this.engine.core;
    const readOnly = opts.readOnly === true;
    const ptr = await this.engine.request(`loading the blobstore on ${bdev}${readOnly ? ' read-only' : ''}`, (r) => core.bs_load(r, id, readOnly ? 1 : 0));
    return new BlobStore(this.engine, ptr, bdev);
  }
}

export class BlobStore {
  readonly clusterSize: number;
  readonly ioUnitSize: number;
  private unloaded = false;
  /** The I/O gate of each blob open through this API, by the core's pointer to it. */
  private readonly gates = new Map<number, IoGate>();

  constructor(private readonly engine: Engine, private readonly ptr: number, readonly bdev: string) {
    const core = engine.core;
    this.clusterSize = core.bs_cluster_bytes(ptr) >>> 0;
    this.ioUnitSize = core.bs_io_unit_bytes(ptr) >>> 0;
  }

  private get core(): CoreExports { return this.engine.core; }
  private check(): void { if (this.unloaded) throw new WstorError('EBADF', `the blobstore on ${this.bdev} was unloaded`); }

  get freeClusters(): number { this.check(); return this.core.bs_free_clusters(this.ptr); }
  get totalClusters(): number { this.check(); return this.core.bs_total_clusters(this.ptr); }

  /**
   * Take in the clusters a grown device has past the store's end (after its file or disk grew, and the
   * bdev was created again over it). Resolves with how many clusters were added (0 if none).
   */
  async grow(): Promise<number> {
    this.check();
    const before = this.totalClusters;
    await this.engine.request('growing the blobstore', (r) => this.core.bs_grow(r, this.ptr));
    return this.totalClusters - before;
  }

  /** Create a blob; resolves with its id. */
  async create(opts: CreateOptions): Promise<bigint> {
    this.check();
    if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new WstorError('EINVAL', `size ${opts.size} must be a non-negative integer (bytes)`);
    const clusters = Math.ceil(opts.size / this.clusterSize);
    const id = await this.engine.request('creating a blob', (r) => this.core.blob_create(r, this.ptr, clusters, opts.thin ? 1 : 0));
    const blobId = BigInt(id);
    if (opts.xattrs && Object.keys(opts.xattrs).length > 0) {
      try {
        const blob = await this.open(blobId);
        try {
          for (const [k, v] of Object.entries(opts.xattrs)) await blob.setXattr(k, v);
          await blob.sync();
        } finally {
          await blob.close();
        }
      } catch (err) {
        // All or nothing: a blob without the xattrs asked for is not what the caller created.
        await this.delete(blobId).catch(() => undefined);
        throw err;
      }
    }
    return blobId;
  }

  async open(id: bigint): Promise<BlobHandle> {
    this.check();
    const ptr = await this.engine.request(`opening blob ${id}`, (r) => this.core.blob_open(r, this.ptr, Number(id)));
    let gate = this.gates.get(ptr);
    if (!gate) { gate = new IoGate(); this.gates.set(ptr, gate); }
    gate.handles++;
    return new BlobHandle(this.engine, this.ptr, ptr, id, this.ioUnitSize, this.clusterSize, gate,
      () => { if (--gate.handles === 0) this.gates.delete(ptr); });
  }

  /** The store's super blob (SPDK's: a blob an application finds its other metadata through), if set. */
  get superBlob(): bigint | undefined {
    this.check();
    const v = this.core.bs_get_super(this.ptr);
    return v === 0 ? undefined : BigInt(v);
  }

  /** Record `id` as the super blob (undefined clears it); durable when this resolves. */
  async setSuperBlob(id: bigint | undefined): Promise<void> {
    this.check();
    await this.engine.request('setting the super blob', (r) => this.core.bs_set_super(r, this.ptr, id === undefined ? 0 : Number(id)));
  }

  /** The ids of every blob in the store (without opening them). */
  ids(): bigint[] {
    this.check();
    const out: bigint[] = [];
    for (let p = this.core.bs_next_blob(this.ptr, 0); p >= 0; p = this.core.bs_next_blob(this.ptr, p + 1)) out.push((1n << 32n) | BigInt(p));
    return out;
  }

  /**
   * Every blob of the store with its size and provisioning (each is opened to read it). Snapshots stay
   * open until the end, so the blobs that read through them do not read the same chain again. A blob
   * that cannot be opened for damage (EIO: refused when the store loaded, or md that does not hold
   * up) is listed with `error` saying why, and its other fields empty.
   */
  async list(): Promise<BlobInfo[]> {
    this.check();
    const out: BlobInfo[] = [];
    const kept: BlobHandle[] = [];
    try {
      for (const id of this.ids()) {
        let blob: BlobHandle;
        try {
          blob = await this.open(id);
        } catch (err) {
          if (!(err instanceof WstorError) || err.code !== 'EIO') throw err;
          out.push({ id, size: 0, thin: false, allocatedBytes: 0, snapshot: false, xattrs: [], error: err.message });
          continue;
        }
        try {
          out.push({ id: blob.id, size: blob.size, thin: blob.thin, allocatedBytes: blob.allocatedBytes, snapshot: blob.isSnapshot, parent: blob.parent,
            xattrs: await blob.xattrNames() });
        } finally {
          if (blob.isSnapshot) kept.push(blob); else await blob.close();
        }
      }
    } finally {
      // Clones before their snapshots: the last reference to an ancestor goes last.
      for (const blob of kept.reverse()) await blob.close();
    }
    return out;
  }

  /** A thin clone of a snapshot: reads the snapshot's data, writes its own (copy on write). */
  async clone(snapshotId: bigint): Promise<bigint> {
    this.check();
    return BigInt(await this.engine.request(`cloning snapshot ${snapshotId}`, (r) => this.core.blob_clone(r, this.ptr, Number(snapshotId))));
  }

  /**
   * Delete a blob no handle holds open. A snapshot may go while its one clone is open and busy: the
   * core freezes the clone's I/O while the clone takes the snapshot's clusters, and its handles keep
   * working, reading through the snapshot's parent (or nothing) after. EBUSY: open, or a snapshot
   * with more than one clone.
   */
  async delete(id: bigint): Promise<void> {
    this.check();
    await this.engine.request(`deleting blob ${id}`, (r) => this.core.blob_delete(r, this.ptr, Number(id)));
  }

  /** Write the masks and a clean super block; every blob must be closed first (EBUSY otherwise). */
  async unload(): Promise<void> {
    this.check();
    await this.engine.blobstore.releaseChannels(this.ptr, this.bdev);
    await this.engine.request(`unloading the blobstore on ${this.bdev}`, (r) => this.core.bs_unload(r, this.ptr));
    this.unloaded = true;
  }
}

export class BlobHandle implements IoIssuer {
  private closed = false;
  constructor(private readonly engine: Engine, private readonly store: number, private readonly ptr: number,
    readonly id: bigint, private readonly ioUnit: number, private readonly clusterSize: number,
    private readonly gate: IoGate, private readonly onClosed: () => void) {}

  /**
   * One I/O of `length` bytes at `offset` (checked: whole io units) on an I/O thread, counted in the
   * blob's gate. `ptr` is its staging buffer (given back on every outcome), or the caller's engine
   * buffer when `pins` is that one buffer (in place); `pins` are unpinned on every outcome. Not
   * async: the data path makes one promise per I/O (host/blob-io.ts).
   */
  private io(op: IoOp, offset: number, length: number, ptr: number, into: Uint8Array[] | null,
    pins: EngineBuffer | EngineBuffer[] | null = null): Promise<Uint8Array | undefined> {
    if (!this.gate.tryEnter()) return this.ioAfterGate(new BlobIoArgs(op, offset, length, ptr, into, pins));
    return new Promise((resolve, reject) => this.post(new BlobIo(this, this.ioPath, op, ptr, length, into, pins, resolve, reject), offset));
  }

  /** The gate is shut (close, resize or snapshot pending): wait, then post unless the blob closed. */
  private async ioAfterGate(a: BlobIoArgs): Promise<Uint8Array | undefined> {
    await this.gate.enter();
    if (this.closed) {
      this.gate.leave();
      this.ioPath.giveBack(a.ptr, a.pins);
      this.check();
    }
    return new Promise((resolve, reject) =>
      this.post(new BlobIo(this, this.ioPath, a.op, a.ptr, a.length, a.into, a.pins, resolve, reject), a.offset));
  }

  private post(io: BlobIo, offset: number): void {
    const id = this.engine.track(io);
    if (id === 0) return;
    const iot = this.ioPath.nextIoThread();
    if (iot === 0) {
      this.engine.posted(id, -12, 'no memory for a blob I/O thread (start the engine with more memoryBytes)');
      return;
    }
    this.engine.posted(id, this.core.blob_io_on(id, iot, this.store, this.ptr, io.op, io.ptr, offset / this.ioUnit, io.length / this.ioUnit));
  }

  /** @internal (IoIssuer) */
  ioEnded(): void { this.gate.leave(); }

  private get ioPath(): BlobIoPath { return this.engine.blobstore.ioPath; }

  /** A staging buffer for `length` bytes, or ENOMEM. */
  private stage(length: number): number {
    const ptr = this.ioPath.staging.take(length);
    if (ptr === 0) throw new WstorError('ENOMEM', `no shared memory for a ${length}-byte I/O buffer (start the engine with more memoryBytes)`);
    return ptr;
  }

  private get core(): CoreExports { return this.engine.core; }
  private check(): void { if (this.closed) throw new WstorError('EBADF', `blob ${this.id} is closed`); }

  /** Size in bytes (whole clusters). */
  get size(): number { this.check(); return this.core.blob_clusters(this.ptr) * this.clusterSize; }
  /** Clusters are allocated on first write. */
  get thin(): boolean { this.check(); return this.core.blob_is_thin(this.ptr) === 1; }
  /** A read-only snapshot (its data never changes; clones read through it). */
  get isSnapshot(): boolean { this.check(); return this.core.blob_is_snapshot(this.ptr) === 1; }
  /** Writes are refused: a snapshot, a blob made read-only (setReadOnly), or a store loaded read-only. */
  get readOnly(): boolean { this.check(); return this.core.blob_is_read_only(this.ptr) === 1; }
  /** The core's pointer to the open blob (for bdevs built over it: host/lvol.ts). */
  get corePointer(): number { this.check(); return this.ptr; }
  /** The blob this one reads unallocated clusters from (a clone's snapshot), if any. */
  get parent(): bigint | undefined { this.check(); const p = this.core.blob_parent(this.ptr); return p === 0 ? undefined : BigInt(p); }
  /** Bytes of clusters allocated so far. */
  get allocatedBytes(): number { this.check(); return this.core.blob_allocated_clusters(this.ptr) * this.clusterSize; }

  /** Throws EINVAL unless offset and length are whole io units (length > 0). */
  private checkUnits(offset: number, length: number, verb: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 ||
      offset % this.ioUnit !== 0 || length % this.ioUnit !== 0) {
      throw new WstorError('EINVAL', `${verb} blob ${this.id}: offset ${offset} and length ${length} must be non-negative multiples of the io unit (${this.ioUnit} bytes), length > 0`);
    }
  }

  // The data methods are not async (one promise per I/O, host/blob-io.ts), so each turns its own
  // argument errors into a rejected promise, as an async function would.

  /** Resolves with a new Uint8Array of the bytes (a view into a pooled ArrayBuffer, like Node's Buffer pool). */
  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      this.check();
      this.checkUnits(offset, length, 'reading');
      return this.io(IoOp.Read, offset, length, this.stage(length), null) as Promise<Uint8Array>;
    } catch (e) { return Promise.reject(e); }
  }

  /** Write `data`; a buffer from engine.buffers.alloc is written from in place (no copy). */
  write(offset: number, data: Uint8Array): Promise<void> {
    let pin: EngineBuffer | null = null;
    try {
      this.check();
      this.checkUnits(offset, data.length, 'writing');
      pin = this.ioPath.buffers.pin(data);
      if (pin !== null) return this.io(IoOp.Write, offset, data.length, data.byteOffset, null, pin) as Promise<undefined>;
      const ptr = this.stage(data.length);
      this.ioPath.staging.put(ptr, data);
      return this.io(IoOp.Write, offset, data.length, ptr, null) as Promise<undefined>;
    } catch (e) {
      if (pin !== null) this.ioPath.unpin(pin);
      return Promise.reject(e);
    }
  }

  /**
   * Read into several buffers (any lengths, together a multiple of the io unit) from `offset`. One
   * buffer from engine.buffers.alloc is read into in place (no copy).
   */
  readv(offset: number, buffers: Uint8Array[]): Promise<void> { return this.vectored(IoOp.Read, offset, buffers); }

  /**
   * Write several buffers (any lengths, together a multiple of the io unit) back to back from
   * `offset`. One buffer from engine.buffers.alloc is written from in place (no copy).
   */
  writev(offset: number, buffers: Uint8Array[]): Promise<void> { return this.vectored(IoOp.Write, offset, buffers); }

  /** readv and writev: in place on one engine buffer, else through a staging buffer. */
  private vectored(op: IoOp.Read | IoOp.Write, offset: number, buffers: Uint8Array[]): Promise<void> {
    let pins: EngineBuffer | EngineBuffer[] | null = null;
    try {
      this.check();
      const length = totalLength(buffers);
      this.checkUnits(offset, length, op === IoOp.Read ? 'reading' : 'writing');
      pins = this.pinAll(buffers);
      if (inPlace(pins)) return this.io(op, offset, length, buffers[0].byteOffset, null, pins) as Promise<undefined>;
      const ptr = this.stage(length);
      if (op === IoOp.Write) {
        let at = 0;
        for (const b of buffers) { this.ioPath.staging.put(ptr, b, at); at += b.length; }
      }
      return this.io(op, offset, length, ptr, op === IoOp.Read ? buffers : null, pins) as Promise<undefined>;
    } catch (e) {
      if (pins !== null) this.ioPath.unpin(pins);
      return Promise.reject(e);
    }
  }

  /**
   * Pin the engine buffers among `buffers` for one I/O: the one buffer itself when it is the only
   * buffer (the I/O runs in place), a list when several are (the I/O copies through staging, into
   * them at completion for a read, so they must not go back to the heap meanwhile), or null.
   */
  private pinAll(buffers: Uint8Array[]): EngineBuffer | EngineBuffer[] | null {
    const engineBuffers = this.ioPath.buffers;
    if (buffers.length === 1) return engineBuffers.pin(buffers[0]);
    let pins: EngineBuffer[] | null = null;
    try {
      for (const b of buffers) {
        const pin = engineBuffers.pin(b);
        if (pin !== null) (pins ??= []).push(pin);
      }
    } catch (e) {
      if (pins !== null) this.ioPath.unpin(pins);
      throw e;
    }
    return pins;
  }

  /**
   * Snapshot this blob: the snapshot takes its data as it is now (read-only), this blob keeps reading
   * the same and writes copy on write from then on. Resolves with the snapshot's id.
   */
  async snapshot(): Promise<bigint> {
    this.check();
    return BigInt(await this.gate.alone(() => this.engine.request(`snapshotting blob ${this.id}`, (r) => this.core.blob_snapshot(r, this.ptr))));
  }

  /**
   * Inflate: copy into this blob every cluster it reads through its ancestors (and allocate the rest),
   * so it is thick and has no parent. Its data does not change; the ancestors are no longer needed.
   */
  async inflate(): Promise<void> {
    this.check();
    await this.engine.request(`inflating blob ${this.id}`, (r) => this.core.blob_inflate(r, this.ptr));
  }

  /**
   * Decouple from the parent: copy the clusters the parent itself holds; the blob then reads through
   * the parent's parent (if any). Its data does not change. EINVAL if it has no parent.
   */
  async decouple(): Promise<void> {
    this.check();
    await this.engine.request(`decoupling blob ${this.id} from its parent`, (r) => this.core.blob_decouple(r, this.ptr));
  }

  /** The range reads as zeroes afterwards (the device may discard it). */
  async unmap(offset: number, length: number): Promise<void> {
    this.check();
    this.checkUnits(offset, length, 'unmapping');
    await this.io(IoOp.Unmap, offset, length, 0, null);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check();
    this.checkUnits(offset, length, 'zeroing');
    await this.io(IoOp.WriteZeroes, offset, length, 0, null);
  }

  /** New size in bytes (rounded up to clusters); persisted by the next sync or close. */
  async resize(size: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(size) || size < 0) throw new WstorError('EINVAL', `size ${size} must be a non-negative integer (bytes)`);
    await this.gate.alone(() => this.engine.request(`resizing blob ${this.id}`, (r) => this.core.blob_resize(r, this.ptr, Math.ceil(size / this.clusterSize))));
  }

  async setXattr(name: string, value: string | Uint8Array): Promise<void> {
    this.check();
    const n = HeapBytes.of(this.engine, encoder.encode(name));
    const v = HeapBytes.of(this.engine, toBytes(value));
    try {
      await this.engine.request(`setting xattr ${name} of blob ${this.id}`, (r) => this.core.blob_set_xattr(r, this.ptr, n.ptr, n.length, v.ptr, v.length));
    } finally { n.free(); v.free(); }
  }

  /** The xattr's bytes, or undefined if the blob has none by that name. */
  /** The names of the blob's xattrs (internal ones, wstor's own, are not listed). */
  async xattrNames(): Promise<string[]> {
    this.check();
    const v = await this.engine.request(`listing the xattrs of blob ${this.id}`, (r) => this.core.blob_xattr_names(r, this.ptr));
    const ptr = v % 4294967296, len = Math.floor(v / 4294967296);
    const text = new TextDecoder().decode(new Uint8Array(this.engine.memory.buffer, ptr, len).slice());
    this.core.wstor_free(ptr);
    return text === '' ? [] : text.slice(0, -1).split('\0');
  }

  async getXattr(name: string): Promise<Uint8Array | undefined> {
    this.check();
    const n = HeapBytes.of(this.engine, encoder.encode(name));
    try {
      const v = await this.engine.request(`reading xattr ${name} of blob ${this.id}`, (r) => this.core.blob_get_xattr(r, this.ptr, n.ptr, n.length));
      const ptr = v % 4294967296, len = Math.floor(v / 4294967296);
      const bytes = new Uint8Array(this.engine.memory.buffer, ptr, len).slice();
      this.core.wstor_free(ptr);
      return bytes;
    } catch (err) {
      if ((err as WstorError).code === 'ENOENT') return undefined;
      throw err;
    } finally { n.free(); }
  }

  async removeXattr(name: string): Promise<void> {
    this.check();
    const n = HeapBytes.of(this.engine, encoder.encode(name));
    try {
      await this.engine.request(`removing xattr ${name} of blob ${this.id}`, (r) => this.core.blob_remove_xattr(r, this.ptr, n.ptr, n.length));
    } finally { n.free(); }
  }

  /** Make the blob read-only for good (durable when this resolves); writes fail with EPERM after. */
  async setReadOnly(): Promise<void> {
    this.check();
    await this.engine.request(`making blob ${this.id} read-only`, (r) => this.core.blob_set_read_only(r, this.ptr));
  }

  /** Persist size, clusters and xattrs (durable when this resolves). */
  async sync(): Promise<void> {
    this.check();
    await this.engine.request(`syncing blob ${this.id}`, (r) => this.core.blob_sync(r, this.ptr));
  }

  /** Waits for this blob's I/O in flight through the Node API; I/O started after it fails with EBADF. */
  async close(): Promise<void> {
    this.check();
    await this.gate.alone(async () => {
      this.check();                     // a second close() while the first waited
      await this.engine.request(`closing blob ${this.id}`, (r) => this.core.blob_close(r, this.ptr));
      this.closed = true;
      this.onClosed();
    });
  }
}
