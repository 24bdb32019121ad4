// The Node API for block devices: create, inspect, fault-inject and delete bdevs. Names live here
// (the core has ids); every call checks its arguments and turns core errnos into WstorErrors.
import type { CoreExports } from './core-abi.js';
import type { Engine } from './engine.js';
import { writeCoreString } from './core-abi.js';
import { WstorError } from './errors.js';
import { exactBytes, shown } from './size.js';
import type { PluginBdevOptions, PluginFacts } from './plugins/bdev-plugin.js';

export type IoType = 'read' | 'write' | 'flush' | 'unmap' | 'write_zeroes' | 'reset';
export const IO_TYPES: IoType[] = ['read', 'write', 'flush', 'unmap', 'write_zeroes', 'reset'];
export type ErrorKind = 'failure' | 'pending' | 'corrupt_data';
const ERROR_KINDS: ErrorKind[] = ['failure', 'pending', 'corrupt_data'];

/** Which module serves a bdev. */
export type BdevKind = 'malloc' | 'null' | 'file' | 'opfs' | 'error' | 'delay' | 'crash' | 'lvol' | 'plugin' | 'nvme';

export interface BdevInfo {
  id: number; name: string; kind: BdevKind; aliases: string[]; uuid: string; blockSize: number; blockCount: number; ioTypes: IoType[];
  openDescriptors: number;
  /** A module holds the exclusive write claim (a blobstore, a pass-through on top). */
  claimed: boolean;
  /** The file behind a file bdev; the base bdev of a pass-through. */
  path?: string; base?: string; direct?: boolean;
  /** A file bdev mapped into the engine's memory (createFile's `mmap`). */
  mmap?: boolean;
  /** A plugin bdev: its module, config and limits, and how often its plugin trapped; failed once past its limit. */
  plugin?: PluginFacts & { traps: number; failed: boolean };
}

export interface BdevStats {
  ops: Record<IoType, number>;
  bytes: Record<IoType, number>;
  errors: Record<IoType, number>;
  latencyNs: { sum: number; min: number; max: number };
  /** Latency histogram: count per bucket; bucketStartsNs[i] is where bucket i starts. */
  histogram: number[];
}

const HIST_OFFSET = 8 * 22;

function checkName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:/-]{1,255}$/.test(name)) {
    throw new WstorError('EINVAL', `bdev name "${name}" must be 1-255 characters of letters, digits and _ . : / -`);
  }
}

/** How many 1 ms looks forgetRemoved takes for bdevs that are on their way out. */
const REMOVAL_SETTLE_ROUNDS = 1000;
/** The host page (x86-64, and arm64's usual kernels): a mapping's length is a multiple of it. */
const HOST_PAGE_BYTES = 4096;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The uuid a caller gave (checked, lower case), or a new random one. */
function uuidOf(given: string | undefined): string {
  if (given === undefined) return globalThis.crypto.randomUUID();
  if (!UUID_RE.test(given)) throw new WstorError('EINVAL', `uuid "${given}" is not a UUID (like 01234567-89ab-cdef-0123-456789abcdef)`);
  return given.toLowerCase();
}

/** A power-of-two block size, and a block count whose bytes are exact (SIZE_MAX_BYTES at most). */
function checkGeometry(blockSize: number, blockCount: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
    throw new WstorError('EINVAL', `block size ${shown(blockSize)} must be a power of two of at least 512 (512 or 4096)`);
  }
  if (!Number.isInteger(blockCount) || blockCount < 1) throw new WstorError('EINVAL', `block count ${shown(blockCount)} must be a positive integer`);
  exactBytes(blockCount, blockSize, `${shown(blockCount)} blocks of ${blockSize} bytes`);
}

interface BdevRecord {
  name: string; kind: BdevKind; aliases: string[]; uuid: string; fd?: number; path?: string; base?: string; direct?: boolean;
  /** A mapped file bdev: where its file is mapped into the memory, and how many bytes. */
  map?: { offset: number; bytes: number };
  plugin?: PluginFacts;
}

export class BdevApi {
  private readonly bdevs = new Map<number, BdevRecord>();
  /** Every name and alias → id (kept with `bdevs` by remember/forget/addAlias/removeAlias). */
  private readonly byName = new Map<string, number>();
  /** Every uuid (lower case) → id: a bdev answers to its uuid too, and no two share one (SPDK's uuid alias). */
  private readonly byUuid = new Map<string, number>();
  /** Pass-throughs (records with a base): the bdevs the core may remove on its own, when their base goes. */
  private readonly passthroughs = new Set<number>();
  /** Uuids of bdevs being made on the app thread (pass-throughs): taken, though not yet in byUuid. */
  private readonly uuidsInCreation = new Set<string>();
  private readonly createdListeners = new Set<(name: string) => Promise<void>>();
  private readonly removingListeners = new Set<(name: string) => Promise<void>>();
  private readonly examining = new Set<Promise<void>>();

  constructor(private readonly engine: Engine) {}

  /**
   * Run `listener` on every bdev created from now on (SPDK's examine: the lvol layer looks for its
   * stores). Failures are the listener's to report. Returns a function that removes it.
   */
  onCreated(listener: (name: string) => Promise<void>): () => void {
    this.createdListeners.add(listener);
    return () => this.createdListeners.delete(listener);
  }

  /**
   * Run `listener` before a bdev is deleted, for it and for every pass-through on it (those the core
   * removes with it), top first: a layer that keeps a bdev open for good (the lvol layer's stores) lets
   * go of it there, as SPDK's modules do on a hot remove. Returns a function that removes it.
   */
  onRemoving(listener: (name: string) => Promise<void>): () => void {
    this.removingListeners.add(listener);
    return () => this.removingListeners.delete(listener);
  }

  /** `id` and the pass-throughs stacked on it, those on top first (they go before what is under them). */
  private stackOn(id: number): number[] {
    const name = this.bdevs.get(id)!.name;
    const above = [...this.passthroughs].filter((p) => this.bdevs.get(p)?.base === name);
    return [...above.flatMap((p) => this.stackOn(p)), id];
  }

  /**
   * Forget a bdev another layer removed in the core (an lvol detached from its going store): it is no
   * longer listed or found, though the core frees it only once its last user closes it.
   */
  disown(name: string): void {
    this.forget(this.id(name));
  }

  /** Resolves once every examine started so far has finished (SPDK's bdev_wait_for_examine). */
  async waitForExamine(): Promise<void> {
    while (this.examining.size > 0) await Promise.allSettled([...this.examining]);
  }

  private announce(name: string): void {
    for (const listener of this.createdListeners) {
      const p = listener(name).finally(() => this.examining.delete(p));
      this.examining.add(p);
    }
  }

  private get core(): CoreExports { return this.engine.core; }

  private created(rc: number, what: string, record: BdevRecord): number {
    if (rc === -12) {
      throw new WstorError('ENOMEM', `${what} ${record.name}: the engine's memory (${this.engine.memoryBytes} bytes) has no room for it: ` +
        'delete other bdevs, or start the engine with more memory', rc);
    }
    if (rc < 0) throw WstorError.fromErrno(rc, `${what} ${record.name}`);
    this.remember(rc, record);
    this.announce(record.name);
    return rc;
  }

  private nameExists(name: string): void {
    if (this.find(name) !== undefined) throw new WstorError('EEXIST', `a bdev named ${name} already exists`);
  }

  /** A new bdev's uuid: the one given unless another bdev has it (EEXIST), else a random one. */
  private newUuid(given: string | undefined, name: string): string {
    const uuid = uuidOf(given);
    const holder = this.byUuid.get(uuid);
    if (this.uuidsInCreation.has(uuid)) throw new WstorError('EEXIST', `${name}: another bdev with uuid ${uuid} is being created`);
    if (holder !== undefined) {
      throw new WstorError('EEXIST', `${name}: bdev ${this.bdevs.get(holder)!.name} already has uuid ${uuid}: give another uuid, or none for a random one`);
    }
    return uuid;
  }

  /** The id of the bdev with this name, alias or uuid (SPDK's spdk_bdev_get_by_name), if any. */
  find(name: string): number | undefined {
    return this.byName.get(name) ?? (UUID_RE.test(name) ? this.byUuid.get(name.toLowerCase()) : undefined);
  }

  private id(name: string): number {
    const id = this.find(name);
    if (id === undefined) throw new WstorError('ENODEV', `no bdev named ${name}`);
    return id;
  }

  private record(name: string): BdevRecord { return this.bdevs.get(this.id(name))!; }

  private remember(id: number, r: BdevRecord): void {
    this.bdevs.set(id, r);
    this.byName.set(r.name, id);
    for (const a of r.aliases) this.byName.set(a, id);
    this.byUuid.set(r.uuid, id);
    if (r.base !== undefined) this.passthroughs.add(id);
  }

  private forget(id: number): void {
    const r = this.bdevs.get(id);
    if (!r) return;
    this.bdevs.delete(id);
    for (const n of [r.name, ...r.aliases]) if (this.byName.get(n) === id) this.byName.delete(n);
    if (this.byUuid.get(r.uuid) === id) this.byUuid.delete(r.uuid);
    this.passthroughs.delete(id);
  }

  /** Whether a bdev has this name or alias. */
  exists(name: string): boolean { return this.find(name) !== undefined; }

  /** Give a bdev another name it answers to (an lvol's "lvs/lvol"); EEXIST if some bdev has it. */
  addAlias(name: string, alias: string): void {
    checkName(alias); this.nameExists(alias);
    this.record(name).aliases.push(alias);
    this.byName.set(alias, this.id(name));
  }

  removeAlias(name: string, alias: string): void {
    const r = this.record(name);
    r.aliases = r.aliases.filter((a) => a !== alias);
    this.byName.delete(alias);
  }

  /**
   * Register a bdev another layer created in the core (the lvol layer): it is then listed, looked up
   * by name and alias and deleted like the others.
   */
  adopt(id: number, name: string, kind: BdevKind, opts: { aliases?: string[]; uuid?: string } = {}): void {
    this.remember(id, { name, kind, aliases: [...(opts.aliases ?? [])], uuid: this.newUuid(opts.uuid, name) });
    this.announce(name);
  }

  /** A RAM disk in the engine's shared memory (zero-filled). */
  createMalloc(name: string, opts: { blockSize?: number; blockCount: number; uuid?: string }): number {
    checkName(name); this.nameExists(name);
    const blockSize = opts.blockSize ?? 4096;
    checkGeometry(blockSize, opts.blockCount);
    const uuid = this.newUuid(opts.uuid, name);
    const bytes = blockSize * opts.blockCount;
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    const rc = this.core.bdev_malloc_create(str, blockSize, opts.blockCount);
    // -EINVAL past the 4 GiB address space: too big for any memory.
    if (rc === -12 || (rc === -22 && bytes > this.engine.memoryBytes)) throw this.mallocTooBig(name, bytes, blockSize);
    return this.created(rc, 'creating malloc bdev', { name, kind: 'malloc', aliases: [], uuid });
  }

  /** Why a malloc bdev of `bytes` does not fit: how big one may be now, and the memory it is part of. */
  private mallocTooBig(name: string, bytes: number, blockSize: number): WstorError {
    // The longest run of free pages, less two for the bdev's own small blocks (each may need a slab page).
    const pages = Math.max(0, this.core.pages_room_bytes() - 2 * 65536);
    const room = pages - (pages % blockSize);
    return new WstorError('ENOMEM', `malloc bdev ${name} needs ${bytes} bytes; the engine's memory (${this.engine.memoryBytes} bytes, ` +
      `--mem or memoryBytes) has room for one of at most ${room} bytes now: make it smaller, delete other bdevs, or start with more memory`, -12);
  }

  /** Reads return zeroes, writes are dropped. */
  createNull(name: string, opts: { blockSize?: number; blockCount: number; uuid?: string }): number {
    checkName(name); this.nameExists(name);
    const blockSize = opts.blockSize ?? 4096;
    checkGeometry(blockSize, opts.blockCount);
    const uuid = this.newUuid(opts.uuid, name);
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    return this.created(this.core.bdev_null_create(str, blockSize, opts.blockCount), 'creating null bdev', { name, kind: 'null', aliases: [], uuid });
  }

  /**
   * A regular file or block device through io_uring. `direct` asks for O_DIRECT; where the file system
   * refuses it, the bdev is buffered and the returned `direct` says so.
   * `mmap` maps a regular file into the engine's memory (shared, its blocks allocated first): reads
   * and writes are memory copies through the page cache, as lmdb's are, and flush is fdatasync.
   * The memory must have room for the whole file (memoryBytes, at most 4 GiB in all). What it costs:
   * a read of a page not in the page cache blocks its reactor for the device's latency, and a read
   * error of the device is a SIGBUS that ends the process, not an I/O error; the file must not be
   * truncated by anyone while the bdev exists (the same SIGBUS).
   * `readOnly` opens the file O_RDONLY: a write through the bdev fails (EBADF from the kernel), none
   * reaches the file. Not with `mmap` (a mapping of the engine's memory is read-write).
   */
  createFile(name: string, opts: { path: string; direct?: boolean; mmap?: boolean; blockSize?: number; uuid?: string; readOnly?: boolean }): { id: number; direct: boolean } {
    checkName(name); this.nameExists(name);
    const blockSize = opts.blockSize ?? 4096;
    checkGeometry(blockSize, 1);
    const uuid = this.newUuid(opts.uuid, name);
    const files = this.engine.platform.files;
    if (!files) throw new WstorError('ENOTSUP', `file bdevs are not available on ${this.engine.platform.name}`);
    if (opts.mmap && opts.direct) throw new WstorError('EINVAL', `${name}: mmap and direct exclude each other (a mapping goes through the page cache)`);
    if (opts.mmap && opts.readOnly) throw new WstorError('EINVAL', `${name}: a mapped file bdev cannot be read-only (the mapping is read-write)`);
    const { fd, bytes, direct } = files.open(opts.path, opts.direct ?? false, opts.readOnly ?? false);
    let blockCount = Math.floor(bytes / blockSize);
    let map: BdevRecord['map'];
    try {
      if (blockCount < 1) throw new WstorError('EINVAL', `${opts.path} is smaller than one ${blockSize}-byte block`);
      if (opts.mmap) {
        map = this.mapFile(opts.path, fd, blockCount * blockSize);
        blockCount = Math.floor(map.bytes / blockSize);
      }
    } catch (err) {
      files.close(fd);
      throw err;
    }
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    const rc = this.core.bdev_uring_create(str, fd, blockSize, blockCount, direct ? 1 : 0, map?.offset ?? 0);
    const record: BdevRecord = { name, kind: 'file', aliases: [], uuid, fd, path: opts.path, direct, map };
    if (rc < 0) this.release(record);
    const id = this.created(rc, 'creating file bdev', record);
    return { id, direct };
  }

  /**
   * A file in the browser's Origin Private File System (browser only): the file bdev's core over a
   * worker that owns the file's sync access handle; flush is its flush(). `sizeBytes` makes the file
   * (or grows it) to that size, a multiple of the block size; without it the file must exist and
   * keeps its size. A quota too small for it is ENOSPC; a file open elsewhere EBUSY.
   */
  async createOpfs(name: string, opts: { file: string; sizeBytes?: number; blockSize?: number; uuid?: string }): Promise<number> {
    checkName(name); this.nameExists(name);
    const blockSize = opts.blockSize ?? 4096;
    checkGeometry(blockSize, 1);
    const size = opts.sizeBytes;
    if (size !== undefined && !(Number.isSafeInteger(size) && size > 0 && size % blockSize === 0)) {
      throw new WstorError('EINVAL', `${name}: sizeBytes ${shown(size)} must be a positive multiple of the block size (${blockSize})`);
    }
    const uuid = this.newUuid(opts.uuid, name);
    const opfs = this.engine.platform.opfs;
    if (!opfs) throw new WstorError('ENOTSUP', `OPFS bdevs are only available in a browser (this is ${this.engine.platform.name}): use a file bdev`);
    const { fd, bytes } = await opfs.open(opts.file, size ?? null, size !== undefined);
    const record: BdevRecord = { name, kind: 'opfs', aliases: [], uuid, fd, path: opts.file, direct: false };
    const blockCount = Math.floor(bytes / blockSize);
    let rc: number;
    try {
      if (blockCount < 1) throw new WstorError('EINVAL', `OPFS file ${opts.file} holds ${bytes} bytes, less than one ${blockSize}-byte block: give sizeBytes`);
      this.nameExists(name);               // taken while the file opened?
      rc = this.core.bdev_uring_create(writeCoreString(this.engine.core, this.engine.memory, name), fd, blockSize, blockCount, 0, 0);
    } catch (err) {
      this.release(record);
      throw err;
    }
    if (rc < 0) this.release(record);
    return this.created(rc, 'creating OPFS bdev', record);
  }

  /** Reserve room in the memory for a file's first `bytes` (whole host pages) and map it there. */
  private mapFile(path: string, fd: number, bytes: number): { offset: number; bytes: number } {
    const files = this.engine.platform.files!;
    if (!files.map) throw new WstorError('ENOTSUP', `mapped file bdevs are not available on ${this.engine.platform.name}`);
    const mapped = Math.floor(bytes / HOST_PAGE_BYTES) * HOST_PAGE_BYTES;
    if (mapped === 0) throw new WstorError('EINVAL', `${path} is smaller than one ${HOST_PAGE_BYTES}-byte page: too small to map`);
    const offset = this.core.pages_reserve(mapped) >>> 0;
    if (offset === 0) {
      throw new WstorError('ENOMEM', `the engine's memory has no room to map ${mapped} bytes of ${path}: start it with ` +
        `memoryBytes larger by at least that (at most 4 GiB in all), or create the bdev without mmap`);
    }
    try {
      files.map(this.engine.memory, offset, mapped, fd, path);
    } catch (err) {
      this.core.pages_release(offset, mapped);
      throw err;
    }
    return { offset, bytes: mapped };
  }

  /** What a file bdev held once the core is done with it: its mapping, its pages, its fd. */
  private release(r: BdevRecord): void {
    if (r.map) {
      this.engine.platform.files!.unmap!(this.engine.memory, r.map.offset, r.map.bytes);
      this.core.pages_release(r.map.offset, r.map.bytes);
      r.map = undefined;
    }
    if (r.fd === undefined) return;
    if (r.kind === 'opfs') {
      const fd = r.fd;
      this.engine.platform.opfs!.close(fd).catch((err: Error) => this.engine.log('error', `closing OPFS file ${r.path} of bdev ${r.name}: ${err.message}`));
    } else {
      this.engine.platform.files?.close(r.fd);
    }
  }

  private async passthrough(name: string, base: string, kind: BdevKind, post: (reqId: number, str: number, baseId: number) => number, uuid?: string): Promise<number> {
    checkName(name); this.nameExists(name);
    const baseId = this.id(base);
    const bdevUuid = this.newUuid(uuid, name);
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    this.uuidsInCreation.add(bdevUuid);
    try {
      const id = await this.engine.request(`creating ${kind} bdev ${name} on ${base}`, (req) => post(req, str, baseId));
      return this.created(id, `creating ${kind} bdev`, { name, kind, aliases: [], uuid: bdevUuid, base: this.bdevs.get(baseId)!.name });
    } finally {
      this.uuidsInCreation.delete(bdevUuid);
    }
  }

  /** SPDK's error bdev over `base`: fails, holds or corrupts injected I/Os. */
  createError(name: string, base: string, opts: { uuid?: string } = {}): Promise<number> {
    return this.passthrough(name, base, 'error', (r, s, b) => this.core.bdev_error_create(r, s, b), opts.uuid);
  }

  /** Adds latency to reads and writes (µs; about 1 in 100 I/Os gets the p99 value). */
  createDelay(name: string, base: string, l: { avgReadUs: number; p99ReadUs: number; avgWriteUs: number; p99WriteUs: number }, opts: { uuid?: string } = {}): Promise<number> {
    for (const [k, v] of Object.entries(l)) if (!Number.isInteger(v) || v < 0) throw new WstorError('EINVAL', `${k} must be a non-negative integer (µs)`);
    return this.passthrough(name, base, 'delay',
      (r, s, b) => this.core.bdev_delay_create(r, s, b, l.avgReadUs, l.p99ReadUs, l.avgWriteUs, l.p99WriteUs), opts.uuid);
  }

  /**
   * A sandboxed Wasm plugin over `base` (docs/plugins.md): the module is checked, metered and started
   * once here (a plugin that cannot start is this call's error), then runs on each reactor doing I/O.
   */
  async createPlugin(name: string, base: string, opts: PluginBdevOptions): Promise<number> {
    checkName(name); this.nameExists(name);
    const prepare = this.engine.platform.preparePlugin;
    if (!prepare) throw new WstorError('ENOTSUP', `plugin bdevs are not available on ${this.engine.platform.name}: it cannot check and meter a plugin (binaryen)`);
    const { stagePlugin } = await import('./plugins/bdev-plugin.js');
    const staged = await stagePlugin(this.core, this.engine.memory, name, this.core.bdev_info(this.id(base), 0), opts, (bytes, limits) => prepare(bytes, limits));
    let posted = false;
    try {
      const id = await this.passthrough(name, base, 'plugin', (r, s, b) => {
        const rc = this.core.bdev_plugin_create(r, s, b, staged.module, staged.moduleLen, staged.config, staged.configLen, staged.limits);
        posted = rc === 0;
        return rc;
      }, opts.uuid);
      this.bdevs.get(id)!.plugin = staged.facts;
      return id;
    } finally {
      staged.free(posted);
    }
  }

  /** A volatile write cache over `base` that a test can cut like a power failure. */
  createCrash(name: string, base: string, opts: { cacheMiB?: number } = {}): Promise<number> {
    const cacheMiB = opts.cacheMiB ?? 256;
    return this.passthrough(name, base, 'crash', (r, s, b) => this.core.bdev_crash_create(r, s, b, cacheMiB));
  }

  /** Fail/hold/corrupt the next `count` I/Os of a type ('all' for every type); count 0 clears. */
  injectError(name: string, type: IoType | 'all', kind: ErrorKind, count: number): void {
    const t = type === 'all' ? 255 : IO_TYPES.indexOf(type);
    const k = ERROR_KINDS.indexOf(kind) + 1;
    if (t < 0) throw new WstorError('EINVAL', `io type ${type} must be one of all, ${IO_TYPES.join(', ')}`);
    if (k <= 0) throw new WstorError('EINVAL', `error type ${kind} must be one of ${ERROR_KINDS.join(', ')}`);
    const rc = this.core.bdev_error_inject(this.id(name), t, k, count);
    if (rc < 0) throw WstorError.fromErrno(rc, `injecting errors into ${name} (is it an error bdev?)`);
  }

  updateDelay(name: string, which: 'avg_read' | 'p99_read' | 'avg_write' | 'p99_write', us: number): void {
    const i = ['avg_read', 'p99_read', 'avg_write', 'p99_write'].indexOf(which);
    const rc = this.core.bdev_delay_update_latency(this.id(name), i, us);
    if (rc < 0) throw WstorError.fromErrno(rc, `updating latency of ${name} (is it a delay bdev?)`);
  }

  /** Power cut on a crash bdev: what happened to each unflushed write. */
  async crashCut(name: string, mode: 'drop' | 'keep' | 'random', seed = 1): Promise<{ kept: number; dropped: number; torn: number }> {
    const m = ['drop', 'keep', 'random'].indexOf(mode);
    const v = await this.engine.request(`power cut on ${name}`, (r) => this.core.bdev_crash_cut(r, this.id(name), m, seed >>> 0));
    return { kept: v % 65536, dropped: Math.floor(v / 65536) % 65536, torn: Math.floor(v / 4294967296) };
  }

  /**
   * Hot remove: resolves once the bdev is gone (every descriptor closed). `kind`, when given, must be
   * the bdev's (bdev_malloc_delete does not delete a null bdev).
   */
  async delete(name: string, kind?: BdevKind): Promise<void> {
    const id = this.id(name);
    const r = this.bdevs.get(id)!;
    if (kind !== undefined && r.kind !== kind) throw new WstorError('ENODEV', `${name} is a ${r.kind} bdev, not a ${kind} bdev`);
    for (const above of this.stackOn(id)) {
      const aboveName = this.bdevs.get(above)?.name;
      if (aboveName !== undefined) for (const listener of this.removingListeners) await listener(aboveName);
    }
    await this.engine.request(`deleting ${name}`, (req) => this.core.bdev_delete(req, id));
    this.forget(id);
    this.release(r);
    await this.forgetRemoved();
  }

  /**
   * Drop the records of bdevs the core removed on its own: a pass-through goes when its base does
   * (SPDK's hot remove). Their removal completes by message, so look again briefly until it has.
   */
  private async forgetRemoved(): Promise<void> {
    for (let round = 0; round < REMOVAL_SETTLE_ROUNDS; round++) {
      let pending = false;
      for (const id of [...this.passthroughs]) {
        if (!Number.isNaN(this.core.bdev_info(id, 0))) { pending ||= this.core.bdev_info(id, 5) === 1; continue; }
        const r = this.bdevs.get(id)!;
        this.forget(id);
        this.release(r);
      }
      if (!pending) return;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Flush the bdev's volatile cache: resolves once everything written before is durable. */
  async flush(name: string): Promise<void> {
    const id = this.id(name);
    await this.engine.request(`flushing ${name}`, (r) => this.core.bdev_flush(r, id));
  }

  /** A null bdev's new size in blocks (SPDK's bdev_null_resize); open descriptors are told. */
  resize(name: string, blockCount: number): void {
    const r = this.record(name);
    if (r.kind !== 'null') throw new WstorError('ENOTSUP', `${name} is a ${r.kind} bdev: only null bdevs are resized this way`);
    checkGeometry(this.info(name).blockSize, blockCount);
    const rc = this.core.bdev_resize(this.id(name), blockCount);
    if (rc < 0) throw WstorError.fromErrno(rc, `resizing ${name}`);
  }

  /** A file bdev takes its file's current size (after the file or device grew). Returns the block count. */
  rescan(name: string): number {
    const r = this.record(name);
    if (r.kind !== 'file' || r.fd === undefined || r.path === undefined) throw new WstorError('ENOTSUP', `${name} is a ${r.kind} bdev, not a file bdev`);
    if (r.map) throw new WstorError('ENOTSUP', `${name} is mapped into the engine's memory at its size when created: delete and create it again to take a new size`);
    const info = this.info(name);
    const blocks = Math.floor(this.engine.platform.files!.size(r.fd, r.path) / info.blockSize);
    if (blocks !== info.blockCount) {
      const rc = this.core.bdev_resize(info.id, blocks);
      if (rc < 0) throw WstorError.fromErrno(rc, `rescanning ${name}`);
    }
    return blocks;
  }

  info(name: string): BdevInfo {
    const id = this.id(name);
    const r = this.bdevs.get(id)!;
    const mask = this.core.bdev_info(id, 2);
    const info: BdevInfo = {
      id, name: r.name, kind: r.kind, aliases: [...r.aliases], uuid: r.uuid, blockSize: this.core.bdev_info(id, 0), blockCount: this.core.bdev_info(id, 1),
      ioTypes: IO_TYPES.filter((_, i) => (mask >> i) & 1), openDescriptors: this.core.bdev_info(id, 3), claimed: this.core.bdev_info(id, 4) === 1,
    };
    if (r.path !== undefined) { info.path = r.path; info.direct = r.direct; }
    if (r.map) info.mmap = true;
    if (r.base !== undefined) info.base = r.base;
    if (r.plugin) info.plugin = { ...r.plugin, traps: this.core.bdev_plugin_info(id, 0), failed: this.core.bdev_plugin_info(id, 1) === 1 };
    return info;
  }

  list(): BdevInfo[] { return [...this.bdevs.values()].map((r) => this.info(r.name)); }

  stats(name: string): BdevStats {
    const id = this.id(name);
    const bytes = this.core.bdev_stats_bytes();
    const out = this.core.wstor_alloc(bytes) >>> 0;
    if (out === 0) throw new WstorError('ENOMEM', `statistics of ${name}: the engine's memory has no room for the ${bytes}-byte block they are read into`, -12);
    try {
      const rc = this.core.bdev_stats(id, out);
      if (rc < 0) throw WstorError.fromErrno(rc, `statistics of ${name}`);
      const v = new BigUint64Array(this.engine.memory.buffer, out, bytes / 8);
      const per = (base: number) => Object.fromEntries(IO_TYPES.map((t, i) => [t, Number(v[base + i])])) as Record<IoType, number>;
      const min = v[19] === 0xffffffffffffffffn ? 0 : Number(v[19]);
      return {
        ops: per(0), bytes: per(6), errors: per(12),
        latencyNs: { sum: Number(v[18]), min, max: Number(v[20]) },
        histogram: Array.from(v.subarray(HIST_OFFSET / 8), Number),
      };
    } finally {
      this.core.wstor_free(out);
    }
  }
}
