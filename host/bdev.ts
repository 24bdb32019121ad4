// The Node API for block devices: create, inspect, fault-inject and delete bdevs. Names live here
// (the core has ids); every call checks its arguments and turns core errnos into WstorErrors.
import type { Engine } from './engine.js';
import { writeCoreString } from './core-abi.js';
import { WstorError } from './errors.js';

export type IoType = 'read' | 'write' | 'flush' | 'unmap' | 'write_zeroes' | 'reset';
export const IO_TYPES: IoType[] = ['read', 'write', 'flush', 'unmap', 'write_zeroes', 'reset'];
export type ErrorKind = 'failure' | 'pending' | 'corrupt_data';
const ERROR_KINDS: ErrorKind[] = ['failure', 'pending', 'corrupt_data'];

export interface BdevInfo { id: number; name: string; blockSize: number; blockCount: number; ioTypes: IoType[]; openDescriptors: number }

export interface BdevStats {
  ops: Record<IoType, number>;
  bytes: Record<IoType, number>;
  errors: Record<IoType, number>;
  latencyNs: { sum: number; min: number; max: number };
  /** Latency histogram: count per bucket; bucketStartsNs[i] is where bucket i starts. */
  histogram: number[];
}

type Core = Record<string, (...args: number[]) => number>;
const HIST_OFFSET = 8 * 22;

function checkName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:/-]{1,255}$/.test(name)) {
    throw new WstorError('EINVAL', `bdev name "${name}" must be 1-255 characters of letters, digits and _ . : / -`);
  }
}

function checkGeometry(blockSize: number, blockCount: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
    throw new WstorError('EINVAL', `block size ${blockSize} must be a power of two of at least 512 (512 or 4096)`);
  }
  if (!Number.isInteger(blockCount) || blockCount < 1) throw new WstorError('EINVAL', `block count ${blockCount} must be a positive integer`);
}

export class BdevApi {
  private readonly names = new Map<number, string>();
  private readonly fds = new Map<number, number>();

  constructor(private readonly engine: Engine) {}

  private get core(): Core { return this.engine.core as unknown as Core; }

  private created(name: string, rc: number, what: string): number {
    if (rc < 0) throw WstorError.fromErrno(rc, `${what} ${name}`);
    this.names.set(rc, name);
    return rc;
  }

  private nameExists(name: string): void {
    for (const n of this.names.values()) if (n === name) throw new WstorError('EEXIST', `a bdev named ${name} already exists`);
  }

  private id(name: string): number {
    for (const [id, n] of this.names) if (n === name) return id;
    throw new WstorError('ENODEV', `no bdev named ${name}`);
  }

  /** A RAM disk in the engine's shared memory (zero-filled). */
  createMalloc(name: string, opts: { blockSize?: number; blockCount: number }): number {
    checkName(name); this.nameExists(name);
    const blockSize = opts.blockSize ?? 4096;
    checkGeometry(blockSize, opts.blockCount);
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    return this.created(name, this.core.bdev_malloc_create(str, blockSize, opts.blockCount), 'creating malloc bdev');
  }

  /** Reads return zeroes, writes are dropped. */
  createNull(name: string, opts: { blockSize?: number; blockCount: number }): number {
    checkName(name); this.nameExists(name);
    const blockSize = opts.blockSize ?? 4096;
    checkGeometry(blockSize, opts.blockCount);
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    return this.created(name, this.core.bdev_null_create(str, blockSize, opts.blockCount), 'creating null bdev');
  }

  /**
   * A regular file or block device through io_uring. `direct` asks for O_DIRECT; where the file system
   * refuses it, the bdev is buffered and the returned `direct` says so.
   */
  createFile(name: string, opts: { path: string; direct?: boolean; blockSize?: number }): { id: number; direct: boolean } {
    checkName(name); this.nameExists(name);
    const blockSize = opts.blockSize ?? 4096;
    checkGeometry(blockSize, 1);
    const files = this.engine.platform.files;
    if (!files) throw new WstorError('ENOTSUP', `file bdevs are not available on ${this.engine.platform.name}`);
    const { fd, bytes, direct } = files.open(opts.path, opts.direct ?? false);
    const blockCount = Math.floor(bytes / blockSize);
    if (blockCount < 1) { files.close(fd); throw new WstorError('EINVAL', `${opts.path} is smaller than one ${blockSize}-byte block`); }
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    const rc = this.core.bdev_uring_create(str, fd, blockSize, blockCount, direct ? 1 : 0);
    if (rc < 0) files.close(fd);
    const id = this.created(name, rc, 'creating file bdev');
    this.fds.set(id, fd);
    return { id, direct };
  }

  private async passthrough(name: string, base: string, what: string, post: (reqId: number, str: number, baseId: number) => number): Promise<number> {
    checkName(name); this.nameExists(name);
    const baseId = this.id(base);
    const str = writeCoreString(this.engine.core, this.engine.memory, name);
    const id = await this.engine.request(`${what} ${name} on ${base}`, (req) => post(req, str, baseId));
    this.names.set(id, name);
    return id;
  }

  /** SPDK's error bdev over `base`: fails, holds or corrupts injected I/Os. */
  createError(name: string, base: string): Promise<number> {
    return this.passthrough(name, base, 'creating error bdev', (r, s, b) => this.core.bdev_error_create(r, s, b));
  }

  /** Adds latency to reads and writes (µs; about 1 in 100 I/Os gets the p99 value). */
  createDelay(name: string, base: string, l: { avgReadUs: number; p99ReadUs: number; avgWriteUs: number; p99WriteUs: number }): Promise<number> {
    for (const [k, v] of Object.entries(l)) if (!Number.isInteger(v) || v < 0) throw new WstorError('EINVAL', `${k} must be a non-negative integer (µs)`);
    return this.passthrough(name, base, 'creating delay bdev',
      (r, s, b) => this.core.bdev_delay_create(r, s, b, l.avgReadUs, l.p99ReadUs, l.avgWriteUs, l.p99WriteUs));
  }

  /** A volatile write cache over `base` that a test can cut like a power failure. */
  createCrash(name: string, base: string, opts: { cacheMiB?: number } = {}): Promise<number> {
    const cacheMiB = opts.cacheMiB ?? 256;
    return this.passthrough(name, base, 'creating crash bdev', (r, s, b) => this.core.bdev_crash_create(r, s, b, cacheMiB));
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

  /** Hot remove: resolves once the bdev is gone (every descriptor closed). */
  async delete(name: string): Promise<void> {
    const id = this.id(name);
    await this.engine.request(`deleting ${name}`, (r) => this.core.bdev_delete(r, id));
    this.names.delete(id);
    const fd = this.fds.get(id);
    if (fd !== undefined) { this.engine.platform.files?.close(fd); this.fds.delete(id); }
  }

  info(name: string): BdevInfo {
    const id = this.id(name);
    const mask = this.core.bdev_info(id, 2);
    return {
      id, name, blockSize: this.core.bdev_info(id, 0), blockCount: this.core.bdev_info(id, 1),
      ioTypes: IO_TYPES.filter((_, i) => (mask >> i) & 1), openDescriptors: this.core.bdev_info(id, 3),
    };
  }

  list(): BdevInfo[] { return [...this.names.values()].map((n) => this.info(n)); }

  stats(name: string): BdevStats {
    const id = this.id(name);
    const bytes = this.core.bdev_stats_bytes();
    const out = this.core.wstor_alloc(bytes) >>> 0;
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
