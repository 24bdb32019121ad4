// bdev_nvme methods with SPDK's names, parameters and result shapes: attach an NVMe/TCP controller
// (its namespaces become bdevs NAMEnN), detach it, list controllers. SPDK's parameters for what wstor
// lacks are accepted at their defaults and refused by name otherwise.
import { WstorError } from '../../errors.js';
import { nvmeControllersOf } from '../../bdev-nvme.js';
import type { ParamSpec } from '../schema.js';
import type { Method, Params } from './types.js';
import type { Target } from '../../serve/target.js';

const lacking = (name: string, type: ParamSpec['type'], values: readonly (number | boolean | string)[], why: string, extra: Partial<ParamSpec> = {}): ParamSpec =>
  ({ name, type, description: `not supported: ${why}`, only: { values, lacking: why }, ...extra });

function trtypeOf(v: string): 'tcp' | 'pcie' {
  const t = v.toLowerCase();
  if (t === 'tcp') return 'tcp';
  if (t === 'pcie') return 'pcie';
  throw new WstorError('EINVAL', `trtype ${v}: wstor's NVMe host speaks TCP (pcie is not yet supported; rdma, fc are not)`);
}
function adrfamOf(v: string | undefined): 'ipv4' | 'ipv6' | undefined {
  if (v === undefined) return undefined;
  const a = v.toLowerCase();
  if (a === 'ipv4' || a === 'ipv6') return a;
  throw new WstorError('EINVAL', `adrfam ${v}: IPv4 or IPv6 (NVMe/TCP)`);
}

async function attach(p: Params, t: Target): Promise<string[]> {
  if (p.hostaddr !== undefined || p.hostsvcid !== undefined) {
    throw new WstorError('ENOTSUP', 'hostaddr/hostsvcid: binding the host side of the connection to an address is not supported (omit them)');
  }
  const bdevs = await nvmeControllersOf(t.engine).attach({
    name: p.name, trtype: trtypeOf(p.trtype), traddr: p.traddr, adrfam: adrfamOf(p.adrfam), trsvcid: p.trsvcid, subnqn: p.subnqn,
    hostnqn: p.hostnqn, hdgst: p.hdgst, ddgst: p.ddgst, fabricsConnectTimeoutUs: p.fabrics_connect_timeout_us,
    ctrlrLossTimeoutSec: p.ctrlr_loss_timeout_sec, reconnectDelaySec: p.reconnect_delay_sec, fastIoFailTimeoutSec: p.fast_io_fail_timeout_sec,
  });
  // save_config replays the attach; it is kept under its first bdev (the config lists bdevs that exist).
  if (bdevs.length > 0) t.recordBdev(bdevs[0], 'bdev_nvme_attach_controller', p);
  return bdevs;
}

async function detach(p: Params, t: Target): Promise<boolean> {
  const nvme = nvmeControllersOf(t.engine);
  const [c] = nvme.list(p.name);
  const trid: Record<string, string | undefined> = { traddr: p.traddr, trsvcid: p.trsvcid, subnqn: p.subnqn };
  for (const [k, v] of Object.entries(trid)) {
    if (v !== undefined && v !== (c.trid as Record<string, string>)[k]) {
      throw new WstorError('ENODEV', `controller ${p.name} has no path with ${k} ${v} (it has ${(c.trid as Record<string, string>)[k]})`);
    }
  }
  if (p.trtype !== undefined && trtypeOf(p.trtype) !== 'tcp') throw new WstorError('ENODEV', `controller ${p.name} has no ${p.trtype} path`);
  await nvme.detach(p.name);
  for (const b of c.bdevs) t.forgetBdev(b);
  return true;
}

export const bdevNvmeMethods: Method[] = [
  {
    name: 'bdev_nvme_attach_controller', description: 'Attach an NVMe/TCP controller; each active namespace N becomes bdev NAMEnN (returns their names)',
    params: [
      { name: 'name', type: 'string', required: true, description: 'the controller\'s name (its bdevs are NAMEn1, NAMEn2, ...)' },
      { name: 'trtype', type: 'string', required: true, description: 'tcp (pcie: not yet supported)' },
      { name: 'traddr', type: 'string', required: true, description: 'the controller\'s IP address (a literal: names are not looked up)' },
      { name: 'adrfam', type: 'string', description: 'ipv4 or ipv6 (default: from traddr)' },
      { name: 'trsvcid', type: 'string', description: 'the TCP port (default 4420)' },
      lacking('priority', 'string', ['0'], 'socket priority is not set'),
      { name: 'subnqn', type: 'string', description: 'the subsystem NQN (default: the discovery NQN)' },
      { name: 'hostnqn', type: 'string', description: 'this host\'s NQN' },
      { name: 'hostaddr', type: 'string', description: 'not supported: binding the host side to an address' },
      { name: 'hostsvcid', type: 'string', description: 'not supported: binding the host side to a port' },
      lacking('prchk_reftag', 'boolean', [false], 'protection information is not supported'),
      lacking('prchk_guard', 'boolean', [false], 'protection information is not supported'),
      { name: 'hdgst', type: 'boolean', description: 'ask for header digests (CRC32C)' },
      { name: 'ddgst', type: 'boolean', description: 'ask for data digests (CRC32C)' },
      { name: 'fabrics_connect_timeout_us', type: 'uint64', description: 'bound on TCP connect + IC exchange + Fabrics Connect (default 10 s)' },
      lacking('multipath', 'enum', ['disable'], 'one path per controller (multipath is not supported)', { values: ['disable', 'failover', 'multipath'] }),
      { name: 'num_io_queues', type: 'uint32', description: 'accepted; wstor opens one I/O queue per thread that does I/O' },
      { name: 'ctrlr_loss_timeout_sec', type: 'int32', description: 'reconnect a lost controller for this long (-1: forever; 0: never, the default)' },
      { name: 'reconnect_delay_sec', type: 'uint32', description: 'between reconnect attempts (over 0 when ctrlr_loss_timeout_sec is not 0)' },
      { name: 'fast_io_fail_timeout_sec', type: 'uint32', description: 'held I/O fails after this long (0: it waits while the reconnect tries)' },
      lacking('psk', 'string', [], 'TLS (PSK) is not supported'),
      { name: 'max_bdevs', type: 'uint32', description: 'accepted; a controller gives at most 64 bdevs' },
      lacking('dhchap_key', 'string', [], 'DH-HMAC-CHAP is not supported'),
      lacking('dhchap_ctrlr_key', 'string', [], 'DH-HMAC-CHAP is not supported'),
      lacking('allow_unrecognized_csi', 'boolean', [false], 'only the NVM command set is attached'),
      { name: 'multipath_opts', type: 'object', description: 'not supported: multipath' },
      lacking('disable_sq_flow_control', 'boolean', [false], 'SQ flow control is always on'),
    ],
    run: async (p, t) => {
      if (p.multipath_opts !== undefined) throw new WstorError('ENOTSUP', 'multipath_opts: multipath is not supported (omit it)');
      return attach(p, t);
    },
  },
  {
    name: 'bdev_nvme_detach_controller', description: 'Detach a controller: its bdevs are removed (users see a hot remove), its queues closed',
    params: [
      { name: 'name', type: 'string', required: true, description: 'the controller\'s name' },
      { name: 'trtype', type: 'string', description: 'only the path of this transport type' },
      { name: 'traddr', type: 'string', description: 'only the path at this address' },
      { name: 'adrfam', type: 'string', description: 'only the path of this address family' },
      { name: 'trsvcid', type: 'string', description: 'only the path at this port' },
      { name: 'subnqn', type: 'string', description: 'only the path to this subsystem' },
      { name: 'hostaddr', type: 'string', description: 'only the path from this host address' },
      { name: 'hostsvcid', type: 'string', description: 'only the path from this host port' },
    ],
    run: (p, t) => detach(p, t),
  },
  {
    name: 'bdev_nvme_reset_controller', description: 'Reset a controller: its queues dropped and connected again, I/O held meanwhile',
    params: [
      { name: 'name', type: 'string', required: true, description: 'the controller\'s name' },
      { name: 'cntlid', type: 'uint16', description: 'only if it is this controller id (a controller has one path here)' },
    ],
    run: async (p, t) => {
      const nvme = nvmeControllersOf(t.engine);
      const [c] = nvme.list(p.name);
      if (p.cntlid !== undefined && p.cntlid !== c.cntlid) throw new WstorError('ENODEV', `controller ${p.name} has cntlid ${c.cntlid}, not ${p.cntlid}`);
      await nvme.reset(p.name);
      return true;
    },
  },
  {
    name: 'bdev_nvme_get_controllers', description: 'The attached NVMe controllers (one, by name)',
    params: [{ name: 'name', type: 'string', description: 'one controller' }],
    run: (p, t) => nvmeControllersOf(t.engine).list(p.name).map((c) => ({
      name: c.name,
      ctrlrs: [{ state: c.state === 'ready' ? 'enabled' : c.state, trid: c.trid, cntlid: c.cntlid, host: c.host }],
    })),
  },
];
