// Logical volume methods with SPDK's names, parameters and result shapes (host/lvol.ts does the work).
import { WstorError } from '../../errors.js';
import { exactBytes } from '../../size.js';
import type { ParamSpec } from '../schema.js';
import type { Method, Params } from './types.js';

const MiB = 1 << 20;
const str = (name: string, description: string, required = true): ParamSpec => ({ name, type: 'string', required, description });
const lvsSelector = (uuidName: string): ParamSpec[] => [
  str(uuidName, 'the lvstore\'s UUID (or give lvs_name)', false), str('lvs_name', 'the lvstore\'s name (or give its UUID)', false),
];
const lvsOf = (p: Params, uuidName: string) => ({ uuid: p[uuidName] as string | undefined, name: p.lvs_name as string | undefined });

const CLEAR_METHODS = ['none', 'unmap', 'write_zeroes'];
/** wstor does not scrub clusters; a caller asking for it is told rather than silently ignored. */
function clearMethod(p: Params, method: string): void {
  if (p.clear_method !== undefined && p.clear_method !== 'none') {
    throw new WstorError('ENOTSUP', `${method}: clear_method ${p.clear_method} is not supported by wstor yet (give none, or omit it)`);
  }
}

export const lvolMethods: Method[] = [
  {
    name: 'bdev_lvol_create_lvstore', description: 'A new lvstore on a bdev (its data is lost); returns the lvstore\'s UUID',
    params: [str('bdev_name', 'the base bdev'), str('lvs_name', 'a name for the lvstore'),
      { name: 'cluster_sz', type: 'uint32', description: 'cluster size in bytes (default 4 MiB)' },
      { name: 'clear_method', type: 'enum', values: CLEAR_METHODS, description: 'only none is supported' },
      { name: 'num_md_pages_per_cluster_ratio', type: 'uint32', description: 'not supported: one md page per cluster',
        only: { values: [100], lacking: 'the md region is fixed at one md page per cluster' } },
      { name: 'md_page_size', type: 'uint32', description: 'not supported: md pages are 4096 bytes',
        only: { values: [0, 4096], lacking: 'md pages are 4096 bytes' } }],
    run: async (p, t) => {
      clearMethod(p, 'bdev_lvol_create_lvstore');
      await t.engine.bdev.waitForExamine();
      return t.engine.lvol.createLvstore(p.bdev_name, p.lvs_name, { clusterSize: p.cluster_sz || undefined });   // 0: the default, as in SPDK
    },
  },
  {
    name: 'bdev_lvol_get_lvstores', description: 'Every lvstore (or the one given) with its clusters', params: lvsSelector('uuid'),
    run: (p, t) => t.engine.lvol.listLvstores(lvsOf(p, 'uuid')).map((l) => ({
      uuid: l.uuid, name: l.name, base_bdev: l.baseBdev, total_data_clusters: l.totalDataClusters, free_clusters: l.freeClusters,
      block_size: l.blockSize, cluster_size: l.clusterSize,
    })),
  },
  {
    name: 'bdev_lvol_delete_lvstore', description: 'Delete an lvstore with all its lvols (none may be open)', params: lvsSelector('uuid'),
    run: async (p, t) => { await t.engine.lvol.deleteLvstore(lvsOf(p, 'uuid')); return true; },
  },
  {
    name: 'bdev_lvol_rename_lvstore', description: 'Rename an lvstore (its lvols\' aliases follow)',
    params: [str('old_name', 'the lvstore\'s name'), str('new_name', 'its new name')],
    run: async (p, t) => { await t.engine.lvol.renameLvstore(p.old_name, p.new_name); return true; },
  },
  {
    name: 'bdev_lvol_grow_lvstore', description: 'Take in the clusters its bdev grew by', params: lvsSelector('uuid'),
    run: async (p, t) => { await t.engine.lvol.growLvstore(lvsOf(p, 'uuid')); return true; },
  },
  {
    name: 'bdev_lvol_create', description: 'A new lvol, served as a bdev named by its UUID with the alias lvs/lvol; returns the UUID',
    params: [str('lvol_name', 'a name, unique in its lvstore'), { name: 'size_in_mib', type: 'uint64', required: true, description: 'size in MiB (rounded up to clusters)' },
      { name: 'thin_provision', type: 'boolean', description: 'allocate clusters on first write' }, ...lvsSelector('uuid'),
      { name: 'clear_method', type: 'enum', values: CLEAR_METHODS, description: 'only none is supported' }],
    run: (p, t) => {
      clearMethod(p, 'bdev_lvol_create');
      if (p.size_in_mib === 0) throw new WstorError('EINVAL', 'bdev_lvol_create: size_in_mib must be at least 1');
      const bytes = exactBytes(p.size_in_mib, MiB, `bdev_lvol_create: size_in_mib ${p.size_in_mib}`);
      return t.engine.lvol.create(lvsOf(p, 'uuid'), p.lvol_name, bytes, { thin: p.thin_provision === true });
    },
  },
  {
    name: 'bdev_lvol_get_lvols', description: 'Every lvol (or those of one lvstore)', params: lvsSelector('lvs_uuid'),
    run: (p, t) => t.engine.lvol.list(lvsOf(p, 'lvs_uuid')).map((l) => ({
      alias: l.alias, uuid: l.uuid, name: l.name, is_thin_provisioned: l.thin, is_snapshot: l.snapshot, is_clone: l.clone,
      is_esnap_clone: false, is_degraded: false, lvs: { name: l.lvs.name, uuid: l.lvs.uuid },
      num_allocated_clusters: l.allocatedBytes / l.lvs.clusterSize,
    })),
  },
  {
    name: 'bdev_lvol_snapshot', description: 'A read-only snapshot of an lvol; returns its UUID',
    params: [str('lvol_name', 'the lvol (UUID or lvs/lvol)'), str('snapshot_name', 'a name for the snapshot')],
    run: (p, t) => t.engine.lvol.snapshot(p.lvol_name, p.snapshot_name),
  },
  {
    name: 'bdev_lvol_clone', description: 'A thin, writable clone of a snapshot; returns its UUID',
    params: [str('snapshot_name', 'the snapshot (UUID or lvs/snapshot)'), str('clone_name', 'a name for the clone')],
    run: (p, t) => t.engine.lvol.clone(p.snapshot_name, p.clone_name),
  },
  {
    name: 'bdev_lvol_rename', description: 'Rename an lvol (its alias follows)',
    params: [str('old_name', 'the lvol (UUID or lvs/lvol)'), str('new_name', 'its new name (without the lvstore)')],
    run: async (p, t) => { await t.engine.lvol.rename(p.old_name, p.new_name); return true; },
  },
  {
    name: 'bdev_lvol_resize', description: 'A new size for an lvol (its users get a resize event)',
    params: [str('name', 'the lvol (UUID or lvs/lvol)'), { name: 'size_in_mib', type: 'uint64', required: true, description: 'new size in MiB' }],
    run: async (p, t) => {
      await t.engine.lvol.resize(p.name, exactBytes(p.size_in_mib, MiB, `bdev_lvol_resize: size_in_mib ${p.size_in_mib}`));
      return true;
    },
  },
  {
    name: 'bdev_lvol_set_read_only', description: 'Make an lvol read-only for good', params: [str('name', 'the lvol (UUID or lvs/lvol)')],
    run: async (p, t) => { await t.engine.lvol.setReadOnly(p.name); return true; },
  },
  {
    name: 'bdev_lvol_inflate', description: 'Copy every cluster an lvol reads through its ancestors into it (thick, no parent)',
    params: [str('name', 'the lvol (UUID or lvs/lvol)')],
    run: async (p, t) => { await t.engine.lvol.inflate(p.name); return true; },
  },
  {
    name: 'bdev_lvol_decouple_parent', description: 'Copy the clusters an lvol reads from its parent; it then reads through the parent\'s parent',
    params: [str('name', 'the lvol (UUID or lvs/lvol)')],
    run: async (p, t) => { await t.engine.lvol.decoupleParent(p.name); return true; },
  },
  {
    name: 'bdev_lvol_delete', description: 'Delete an lvol (not while open; a snapshot only with at most one clone)',
    params: [str('name', 'the lvol (UUID or lvs/lvol)')],
    run: async (p, t) => { await t.engine.lvol.delete(p.name); return true; },
  },
];
