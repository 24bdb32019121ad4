// vhost-user-blk methods with SPDK's names, parameters and result shapes (host/vhost.ts does the work).
// `force` on vhost_delete_controller is wstor's: without it a connected guest makes the delete EBUSY,
// as in SPDK; with it the guest is disconnected first. Neither waits on a reactor.
import { WstorError } from '../../errors.js';
import type { Method } from './types.js';

export const vhostMethods: Method[] = [
  {
    name: 'vhost_create_blk_controller', description: 'A vhost-user-blk controller serving a bdev on socket <socket dir>/<ctrlr>',
    params: [
      { name: 'ctrlr', type: 'string', required: true, description: 'controller name (the socket\'s file name)' },
      { name: 'dev_name', type: 'string', required: true, description: 'the bdev to serve' },
      { name: 'readonly', type: 'boolean', description: 'refuse writes (the guest sees a read-only disk)' },
      { name: 'packed_ring', type: 'boolean', description: 'not supported: split rings only' },
      { name: 'cpumask', type: 'string', description: 'the reactor to run on: a core mask (0x2) or list ([1])' },
      { name: 'transport', type: 'string', description: 'only vhost_user_blk' },
    ],
    run: async (p, t) => {
      if (p.transport !== undefined && p.transport !== 'vhost_user_blk') throw new WstorError('ENOTSUP', `transport ${p.transport} is not supported (vhost_user_blk only)`);
      await t.engine.bdev.waitForExamine();
      await t.engine.vhost.createBlk(p.ctrlr, p.dev_name, { readOnly: p.readonly, cpumask: p.cpumask, packedRing: p.packed_ring });
      return true;
    },
  },
  {
    name: 'vhost_get_controllers', description: 'Every controller (or the one named) with its socket and session',
    params: [{ name: 'name', type: 'string', description: 'a controller name' }],
    run: (p, t) => t.engine.vhost.list(p.name).map((c) => ({
      ctrlr: c.name, cpumask: c.cpumask, delay_base_us: c.delayBaseUs, iops_threshold: c.iopsThreshold, socket: c.socket,
      sessions: c.connected ? [{ vid: 0, id: c.sessions - 1, name: `${c.name}s${c.sessions - 1}`, started: true }] : [],
      backend_specific: { block: { readonly: c.readOnly, bdev: c.bdev, transport: 'vhost_user_blk' } },
    })),
  },
  {
    name: 'vhost_delete_controller', description: 'Delete a controller (EBUSY while a guest is connected, unless force)',
    params: [
      { name: 'ctrlr', type: 'string', required: true, description: 'controller name' },
      { name: 'force', type: 'boolean', description: 'wstor: disconnect a connected guest first' },
    ],
    run: async (p, t) => { await t.engine.vhost.delete(p.ctrlr, { force: p.force === true }); return true; },
  },
  {
    name: 'vhost_controller_set_coalescing', description: 'Interrupt coalescing: above iops_threshold, at most one interrupt per delay_base_us',
    params: [
      { name: 'ctrlr', type: 'string', required: true, description: 'controller name' },
      { name: 'delay_base_us', type: 'uint32', required: true, description: 'base delay in µs (0: off)' },
      { name: 'iops_threshold', type: 'uint32', required: true, description: 'IOPS above which coalescing starts' },
    ],
    run: (p, t) => { t.engine.vhost.setCoalescing(p.ctrlr, p.delay_base_us, p.iops_threshold); return true; },
  },
];
