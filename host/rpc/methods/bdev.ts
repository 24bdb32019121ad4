// bdev methods with SPDK's names, parameters and result shapes: listing and statistics, and the
// malloc, null, file (uring and aio), error and delay modules. Every bdev made here is recorded with
// the call that made it, so framework_get_config can write it back out.
import type { BdevInfo, IoType } from '../../bdev.js';
import { WstorError } from '../../errors.js';
import { exactBytes } from '../../size.js';
import type { LvolInfo } from '../../lvol.js';
import type { Target } from '../../serve/target.js';
import type { ParamSpec } from '../schema.js';
import type { Method, Params } from './types.js';

const MiB = 1 << 20;

const PRODUCT: Record<BdevInfo['kind'], string> = {
  malloc: 'Malloc disk', null: 'Null disk', file: 'URING bdev', opfs: 'OPFS file', error: 'Error Injection Disk', delay: 'delay',
  crash: 'Crash simulation disk', lvol: 'Logical Volume', plugin: 'Wasm plugin', nvme: 'NVMe disk',
};

const name = (description: string, required = true): ParamSpec => ({ name: 'name', type: 'string', required, description });
const uuid: ParamSpec = { name: 'uuid', type: 'uuid', description: 'the bdev\'s UUID (random if not given)' };
const blockSize = (required: boolean): ParamSpec => ({ name: 'block_size', type: 'uint32', required, description: 'bytes per block: 512 or 4096' });

/** A parameter of SPDK's for a feature wstor lacks: accepted at its default values only. */
const lacking = (name: string, type: ParamSpec['type'], values: readonly (number | boolean)[], why: string): ParamSpec =>
  ({ name, type, description: `not supported: ${why}`, only: { values, lacking: why } });
const NO_METADATA = 'metadata (md, DIF/DIX) is not supported by wstor';
/** SPDK's md/DIF parameters of malloc and null bdevs. */
const metadataParams = [
  lacking('md_size', 'uint32', [0], NO_METADATA), lacking('dif_type', 'int32', [0], NO_METADATA),
  lacking('dif_is_head_of_md', 'boolean', [false], NO_METADATA), lacking('dif_pi_format', 'uint32', [0], NO_METADATA),
];
/** physical_block_size: 0 (the block size) only: wstor reports no separate physical block size. */
const physicalBlockSize = lacking('physical_block_size', 'uint32', [0], 'a physical block size other than the block size is not supported');

/** Wait for bdevs being examined (lvols appear that way) before looking a base up by name. */
export async function existing(t: Target, bdev: string): Promise<void> {
  await t.engine.bdev.waitForExamine();
  if (!t.engine.bdev.exists(bdev)) throw new WstorError('ENODEV', `no bdev named ${bdev}`);
}

/** Bdevs listed per turn of the event loop: a long list lets other connections' calls run between chunks. */
const DESCRIBE_CHUNK = 1000;

/** bdev_get_bdevs' entries for `bdevs`, the lvols looked up once for all of them. */
async function describeAll(t: Target, bdevs: BdevInfo[]): Promise<Record<string, unknown>[]> {
  const lvols = bdevs.some((b) => b.kind === 'lvol') ? new Map(t.engine.lvol.list().map((l) => [l.uuid, l])) : new Map<string, LvolInfo>();
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < bdevs.length; i += DESCRIBE_CHUNK) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const b of bdevs.slice(i, i + DESCRIBE_CHUNK)) out.push(describe(b, lvols.get(b.name)));
  }
  return out;
}

function describe(b: BdevInfo, l: LvolInfo | undefined): Record<string, unknown> {
  const io = (type: IoType) => b.ioTypes.includes(type);
  const out: Record<string, unknown> = {
    name: b.name, aliases: b.aliases, product_name: PRODUCT[b.kind], block_size: b.blockSize, num_blocks: b.blockCount,
    uuid: b.uuid, assigned_rate_limits: { rw_ios_per_sec: 0, rw_mbytes_per_sec: 0, r_mbytes_per_sec: 0, w_mbytes_per_sec: 0 },
    claimed: b.claimed, zoned: false,
    supported_io_types: {
      read: io('read'), write: io('write'), unmap: io('unmap'), flush: io('flush'), reset: io('reset'), write_zeroes: io('write_zeroes'),
      compare: false, compare_and_write: false, abort: false, nvme_admin: false, nvme_io: false,
    },
    driver_specific: {},
  };
  if (b.kind === 'file') out.driver_specific = { uring: { filename: b.path, direct: b.direct, ...(b.mmap ? { mmap: true } : {}) } };
  if (b.kind === 'lvol') {
    if (l) {
      out.driver_specific = {
        lvol: {
          lvol_store_uuid: l.lvs.uuid, base_bdev: l.lvs.baseBdev, thin_provision: l.thin, num_allocated_clusters: l.allocatedBytes / l.lvs.clusterSize,
          snapshot: l.snapshot, clone: l.clone, ...(l.parent ? { base_snapshot: l.parent.split('/')[1] } : {}),
          ...(l.clones.length ? { clones: l.clones.map((c) => c.split('/')[1]) } : {}),
        },
      };
    }
  }
  return out;
}

let mallocCount = 0;

/** Record the call that made `bdev` (with its uuid, so a replay gives it the same one); answer with its name. */
export function made(t: Target, bdev: string, method: string, params: Params): string {
  t.recordBdev(bdev, method, { ...params, uuid: t.engine.bdev.info(bdev).uuid });
  return bdev;
}

export async function deleteOf(t: Target, bdev: string, kind: BdevInfo['kind']): Promise<boolean> {
  await t.engine.bdev.delete(bdev, kind);
  t.forgetBdev(bdev);
  return true;
}

/** wstor's own parameters of the file bdev methods (not SPDK's): how the file is reached. */
const fileAccess = [
  { name: 'direct', type: 'boolean', description: 'wstor: O_DIRECT where the file system allows it (buffered otherwise)' },
  { name: 'mmap', type: 'boolean', description: 'wstor: map the file into the engine\'s memory (copies through the page cache; the file must fit in the memory)' },
] as const;

function fileCreate(method: 'bdev_uring_create' | 'bdev_aio_create') {
  return (p: Params, t: Target) => {
    const access = { ...(p.direct === true ? { direct: true } : {}), ...(p.mmap === true ? { mmap: true } : {}) };
    // block_size 0 is SPDK's "take the device's" (what rpc.py sends when none is given).
    t.engine.bdev.createFile(p.name, { path: p.filename, blockSize: p.block_size || undefined, uuid: p.uuid, ...access });
    return made(t, p.name, method, { name: p.name, filename: p.filename, ...(p.block_size ? { block_size: p.block_size } : {}), ...access });
  };
}

export const bdevMethods: Method[] = [
  {
    name: 'bdev_get_bdevs', description: 'Every bdev (or the one named), with its geometry, io types and module facts',
    params: [name('a bdev name or alias', false), { name: 'timeout', type: 'uint64', description: 'ms to wait for the named bdev to appear' }],
    run: async (p, t) => {
      if (p.name === undefined) return describeAll(t, t.engine.bdev.list());
      const until = Date.now() + (p.timeout ?? 0);
      while (!t.engine.bdev.exists(p.name) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      return describeAll(t, [t.engine.bdev.info(p.name)]);
    },
  },
  {
    name: 'bdev_get_iostat', description: 'I/O counts, bytes and latency per bdev (ticks are ns)',
    params: [{ name: 'names', type: 'array', description: 'bdev names (default: all)' },
      lacking('per_channel', 'boolean', [false], 'per-channel statistics are not kept (totals only)'),
      { name: 'reset_mode', type: 'enum', values: ['none', 'all', 'maxmin'], only: { values: ['none'], lacking: 'resetting statistics is not supported' },
        description: 'not supported: statistics are never reset' }],
    run: (p, t) => {
      const given = (p.names ?? []) as unknown[];
      if (given.some((n) => typeof n !== 'string')) throw new WstorError('EINVAL', 'bdev_get_iostat: names must be an array of bdev names');
      const names = given.length === 0 ? t.engine.bdev.list().map((b) => b.name) : (given as string[]).map((n) => t.engine.bdev.info(n).name);
      return {
        tick_rate: 1e9, ticks: Math.round(performance.now() * 1e6),
        bdevs: names.map((n) => {
          const s = t.engine.bdev.stats(n);
          return {
            name: n, bytes_read: s.bytes.read, num_read_ops: s.ops.read, bytes_written: s.bytes.write, num_write_ops: s.ops.write,
            bytes_unmapped: s.bytes.unmap, num_unmap_ops: s.ops.unmap, bytes_copied: 0, num_copy_ops: 0,
            latency_ticks: s.latencyNs.sum, max_latency_ticks: s.latencyNs.max, min_latency_ticks: s.latencyNs.min,
            io_error: Object.values(s.errors).reduce((a, b) => a + b, 0),
          };
        }),
      };
    },
  },
  {
    name: 'bdev_wait_for_examine', description: 'Returns once every bdev has been examined (lvstores found)', params: [], startup: true,
    run: async (_p, t) => { await t.engine.bdev.waitForExamine(); return true; },
  },
  {
    name: 'bdev_malloc_create', description: 'A RAM disk in the engine\'s shared memory',
    params: [name('bdev name (default MallocN)', false), blockSize(true), { name: 'num_blocks', type: 'uint64', required: true, description: 'size in blocks' }, uuid,
      lacking('optimal_io_boundary', 'uint32', [0], 'splitting I/O at a boundary is not supported'),
      ...metadataParams, lacking('md_interleave', 'boolean', [false], NO_METADATA), physicalBlockSize,
      lacking('numa_id', 'int32', [-1], 'NUMA placement is not supported (-1: any node)')],
    run: (p, t) => {
      let bdev = p.name as string | undefined;
      while (bdev === undefined || (p.name === undefined && t.engine.bdev.exists(bdev))) bdev = `Malloc${mallocCount++}`;
      t.engine.bdev.createMalloc(bdev, { blockSize: p.block_size, blockCount: p.num_blocks, uuid: p.uuid });
      return made(t, bdev, 'bdev_malloc_create', { name: bdev, block_size: p.block_size, num_blocks: p.num_blocks });
    },
  },
  { name: 'bdev_malloc_delete', description: 'Delete a malloc bdev', params: [name('malloc bdev')], run: (p, t) => deleteOf(t, p.name, 'malloc') },
  {
    name: 'bdev_null_create', description: 'Reads return zeroes, writes are dropped (measures overhead)',
    params: [name('bdev name'), blockSize(true), { name: 'num_blocks', type: 'uint64', required: true, description: 'size in blocks' }, uuid,
      ...metadataParams, physicalBlockSize,
      ...['preferred_write_granularity', 'preferred_write_alignment', 'optimal_write_size', 'preferred_unmap_granularity', 'preferred_unmap_alignment']
        .map((n) => lacking(n, 'uint32', [0], 'write and unmap size hints are not supported'))],
    run: (p, t) => {
      t.engine.bdev.createNull(p.name, { blockSize: p.block_size, blockCount: p.num_blocks, uuid: p.uuid });
      return made(t, p.name, 'bdev_null_create', { name: p.name, block_size: p.block_size, num_blocks: p.num_blocks });
    },
  },
  { name: 'bdev_null_delete', description: 'Delete a null bdev', params: [name('null bdev')], run: (p, t) => deleteOf(t, p.name, 'null') },
  {
    name: 'bdev_null_resize', description: 'A null bdev\'s new size (open users get a resize event)',
    params: [name('null bdev'), { name: 'new_size', type: 'uint64', required: true, description: 'new size in MiB' }],
    run: (p, t) => {
      const info = t.engine.bdev.info(p.name);
      const bytes = exactBytes(p.new_size, MiB, `bdev_null_resize: new_size ${p.new_size} MiB`);
      if (bytes % info.blockSize !== 0) throw new WstorError('EINVAL', `bdev_null_resize: ${p.new_size} MiB is not a whole number of ${info.blockSize}-byte blocks`);
      const blocks = bytes / info.blockSize;
      t.engine.bdev.resize(p.name, blocks);
      t.updateBdev(info.name, { num_blocks: blocks });
      return true;
    },
  },
  {
    name: 'bdev_uring_create', description: 'A file or block device through io_uring',
    params: [{ name: 'filename', type: 'string', required: true, description: 'path of the file or block device' }, name('bdev name'), blockSize(false), uuid, ...fileAccess],
    run: fileCreate('bdev_uring_create'),
  },
  { name: 'bdev_uring_delete', description: 'Delete a file bdev', params: [name('file bdev')], run: (p, t) => deleteOf(t, p.name, 'file') },
  {
    name: 'bdev_uring_rescan', description: 'Take the file\'s current size (after it grew)', params: [name('file bdev')],
    run: (p, t) => { t.engine.bdev.rescan(p.name); return true; },
  },
  {
    name: 'bdev_aio_create', description: 'A file or block device (served by the io_uring module)',
    params: [name('bdev name'), { name: 'filename', type: 'string', required: true, description: 'path of the file or block device' }, blockSize(false),
      lacking('readonly', 'boolean', [false], 'read-only file bdevs are not supported'),
      lacking('fallocate', 'boolean', [false], 'fallocate at create is not supported (allocate the file beforehand)'),
      lacking('nowait', 'boolean', [false], 'RWF_NOWAIT submission is not supported'), uuid, ...fileAccess],
    run: fileCreate('bdev_aio_create'),
  },
  { name: 'bdev_aio_delete', description: 'Delete a file bdev', params: [name('file bdev')], run: (p, t) => deleteOf(t, p.name, 'file') },
  {
    name: 'bdev_error_create', description: 'An error-injection bdev EE_<base> over a base bdev',
    params: [{ name: 'base_name', type: 'string', required: true, description: 'the base bdev' }, uuid],
    run: async (p, t) => {
      await existing(t, p.base_name);
      const bdev = `EE_${p.base_name}`;
      await t.engine.bdev.createError(bdev, p.base_name, { uuid: p.uuid });
      return made(t, bdev, 'bdev_error_create', { base_name: p.base_name });
    },
  },
  { name: 'bdev_error_delete', description: 'Delete an error bdev', params: [name('error bdev')], run: (p, t) => deleteOf(t, p.name, 'error') },
  {
    name: 'bdev_error_inject_error', description: 'Fail, hold or corrupt the next I/Os of a type',
    params: [name('error bdev'),
      { name: 'io_type', type: 'enum', required: true, values: ['all', 'read', 'write', 'flush', 'unmap', 'write_zeroes', 'reset'], description: 'which I/Os' },
      { name: 'error_type', type: 'enum', required: true, values: ['failure', 'pending', 'corrupt_data'], description: 'what happens to them' },
      { name: 'num', type: 'uint32', description: 'how many (default 1; 0 clears)' },
      lacking('nvme_sct', 'uint32', [0], 'NVMe status codes are not injected (the error bdev fails I/O as a whole)'),
      lacking('nvme_sc', 'uint32', [0], 'NVMe status codes are not injected (the error bdev fails I/O as a whole)'),
      lacking('queue_depth', 'uint64', [0], 'the nomem error type is not supported'),
      lacking('corrupt_offset', 'uint64', [0], 'corrupt_data corrupts wstor\'s own choice of byte'),
      lacking('corrupt_value', 'uint8', [0], 'corrupt_data corrupts wstor\'s own choice of byte')],
    run: (p, t) => { t.engine.bdev.injectError(p.name, p.io_type, p.error_type, p.num ?? 1); return true; },
  },
  {
    name: 'bdev_delay_create', description: 'A pass-through that adds latency (µs) to reads and writes',
    params: [name('bdev name'), { name: 'base_bdev_name', type: 'string', required: true, description: 'the base bdev' },
      ...['avg_read_latency', 'p99_read_latency', 'avg_write_latency', 'p99_write_latency'].map((n): ParamSpec => ({ name: n, type: 'uint64', required: true, description: 'µs' })),
      uuid],
    run: async (p, t) => {
      await existing(t, p.base_bdev_name);
      await t.engine.bdev.createDelay(p.name, p.base_bdev_name,
        { avgReadUs: p.avg_read_latency, p99ReadUs: p.p99_read_latency, avgWriteUs: p.avg_write_latency, p99WriteUs: p.p99_write_latency }, { uuid: p.uuid });
      const { uuid: _u, ...rest } = p;
      return made(t, p.name, 'bdev_delay_create', rest);
    },
  },
  { name: 'bdev_delay_delete', description: 'Delete a delay bdev', params: [name('delay bdev')], run: (p, t) => deleteOf(t, p.name, 'delay') },
  {
    name: 'bdev_delay_update_latency', description: 'Change one of a delay bdev\'s latencies',
    params: [{ name: 'delay_bdev_name', type: 'string', required: true, description: 'the delay bdev' },
      { name: 'latency_type', type: 'enum', required: true, values: ['avg_read', 'p99_read', 'avg_write', 'p99_write'], description: 'which latency' },
      { name: 'latency_us', type: 'uint64', required: true, description: 'µs' }],
    run: (p, t) => {
      t.engine.bdev.updateDelay(p.delay_bdev_name, p.latency_type, p.latency_us);
      t.updateBdev(p.delay_bdev_name, { [`${p.latency_type}_latency`]: p.latency_us });
      return true;
    },
  },
];
