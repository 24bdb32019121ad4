// NVMe-oF target methods with SPDK's names, parameters and result shapes (host/nvmf.ts does the
// work). wstor has one target (SPDK's default "nvmf_tgt"), TCP as its transport, and no ANA, TLS,
// DH-HMAC-CHAP or passthrough: their parameters take only the values SPDK's rpc.py sends by default.
import { WstorError } from '../../errors.js';
import { checkParams, type ParamSpec } from '../schema.js';
import { DISCOVERY_NQN, pollGroupName, type ListenAddress, type SubsystemInfo, type ListenAddressFull } from '../../nvmf.js';
import type { Method, Params } from './types.js';

const TGT_NAME: ParamSpec = { name: 'tgt_name', type: 'string', description: 'the target (wstor has one: nvmf_tgt)', only: { values: ['nvmf_tgt'], lacking: 'wstor has one NVMe-oF target' } };
const NQN: ParamSpec = { name: 'nqn', type: 'string', required: true, description: 'subsystem NQN' };

const LISTEN_ADDRESS_FIELDS: ParamSpec[] = [
  { name: 'trtype', type: 'string', required: true, description: 'transport type: TCP' },
  { name: 'adrfam', type: 'string', description: 'IPv4 or IPv6 (default: from traddr)' },
  { name: 'traddr', type: 'string', required: true, description: 'the address to listen on (127.0.0.1 for loopback only)' },
  { name: 'trsvcid', type: 'string', description: 'the TCP port (default 4420)' },
];

const NAMESPACE_FIELDS: ParamSpec[] = [
  { name: 'bdev_name', type: 'string', required: true, description: 'the bdev the namespace serves' },
  { name: 'nsid', type: 'uint32', description: 'namespace id (default: the lowest free one)' },
  { name: 'nguid', type: 'string', description: 'namespace globally unique id: 32 hex digits (default: from the bdev)' },
  { name: 'eui64', type: 'string', description: 'IEEE extended unique id: 16 hex digits (default: from the bdev)' },
  { name: 'uuid', type: 'uuid', description: 'namespace UUID (default: the bdev\'s)' },
  { name: 'ptpl_file', type: 'string', description: 'not supported: persistent reservations', only: { values: [], lacking: 'wstor has no reservations' } },
  { name: 'anagrpid', type: 'uint32', description: 'not supported: ANA groups', only: { values: [0], lacking: 'wstor has no ANA reporting' } },
  { name: 'no_auto_visible', type: 'boolean', description: 'not supported: per-host namespace visibility', only: { values: [false], lacking: 'every namespace is visible to every allowed host' } },
  { name: 'hide_metadata', type: 'boolean', description: 'accepted: wstor\'s namespaces have no metadata' },
];

/** A nested object parameter, checked like a method's params (unknown fields, types, required ones). */
function nested<T>(method: string, name: string, value: unknown, fields: ParamSpec[]): T {
  return checkParams({ name: `${method}: ${name}`, description: '', params: fields }, value) as T;
}

const address = (a: ListenAddressFull) => ({ trtype: a.trtype, adrfam: a.adrfam, traddr: a.traddr, trsvcid: a.trsvcid });

function subsystemJson(s: SubsystemInfo): Record<string, unknown> {
  const base = { nqn: s.nqn, subtype: s.subtype, listen_addresses: s.listeners.map(address), allow_any_host: s.allowAnyHost, hosts: s.hosts.map((nqn) => ({ nqn })) };
  if (s.subtype === 'Discovery') return base;
  return {
    // passthrough, dmrsl and wzsl as SPDK writes them: wstor sets none of them.
    ...base, serial_number: s.serialNumber, model_number: s.modelNumber, max_namespaces: s.maxNamespaces, passthrough: false,
    min_cntlid: s.minCntlid, max_cntlid: s.maxCntlid, dmrsl: 0, wzsl: 0,
    namespaces: s.namespaces.map((n) => ({ nsid: n.nsid, bdev_name: n.bdev, name: n.bdev, ...(n.uuid ? { uuid: n.uuid } : {}), ...(n.nguid ? { nguid: n.nguid } : {}), ...(n.eui64 ? { eui64: n.eui64 } : {}) })),
  };
}

/** nvmf_create_transport's options other than trtype and tgt_name: the transport module checks them. */
const TRANSPORT_OPTIONS: ParamSpec[] = [
  { name: 'max_queue_depth', type: 'uint16', description: 'entries per queue (default 128)' },
  { name: 'max_io_qpairs_per_ctrlr', type: 'uint16', description: 'I/O queues per controller (default 127)' },
  { name: 'in_capsule_data_size', type: 'uint32', description: 'bytes of data a command capsule may carry (default 4096)' },
  { name: 'max_io_size', type: 'uint32', description: 'bytes one command may move (default 131072)' },
  { name: 'io_unit_size', type: 'uint32', description: 'the transport\'s buffer unit (default 131072)' },
  { name: 'max_aq_depth', type: 'uint32', description: 'entries of the admin queue (default 128)' },
  { name: 'num_shared_buffers', type: 'uint32', description: 'data buffers per poll group (default 511)' },
  { name: 'buf_cache_size', type: 'uint32', description: 'buffers a poll group keeps (SPDK\'s; wstor\'s pools are per poll group already)' },
  { name: 'iobuf_small_cache_size', type: 'uint32', description: 'SPDK\'s iobuf cache (accepted, no effect)' },
  { name: 'iobuf_large_cache_size', type: 'uint32', description: 'SPDK\'s iobuf cache (accepted, no effect)' },
  { name: 'zcopy', type: 'boolean', description: 'not supported: zero-copy bdev API', only: { values: [false], lacking: 'wstor has no zcopy bdev API' } },
  { name: 'num_cqe', type: 'int32', description: 'RDMA only', only: { values: [0, -1, 4096], lacking: 'num_cqe is an RDMA option' } },
  { name: 'max_srq_depth', type: 'uint32', description: 'RDMA only', only: { values: [0, 4096], lacking: 'max_srq_depth is an RDMA option' } },
  { name: 'no_srq', type: 'boolean', description: 'RDMA only', only: { values: [false], lacking: 'no_srq is an RDMA option' } },
  { name: 'c2h_success', type: 'boolean', description: 'send C2HData with SUCCESS instead of a response capsule (default true)' },
  { name: 'dif_insert_or_strip', type: 'boolean', description: 'not supported: DIF', only: { values: [false], lacking: 'wstor has no DIF' } },
  { name: 'sock_priority', type: 'uint32', description: 'SO_PRIORITY of connections (0-6)' },
  { name: 'acceptor_backlog', type: 'int32', description: 'listen() backlog (default 100)' },
  { name: 'abort_timeout_sec', type: 'uint32', description: 'seconds an Abort waits (default 1)' },
  { name: 'no_wr_batching', type: 'boolean', description: 'RDMA only', only: { values: [false], lacking: 'no_wr_batching is an RDMA option' } },
  { name: 'control_msg_num', type: 'uint16', description: 'control messages per poll group (accepted)' },
  { name: 'disable_mappable_bar0', type: 'boolean', description: 'vfio-user only', only: { values: [false], lacking: 'a vfio-user option' } },
  { name: 'disable_adaptive_irq', type: 'boolean', description: 'vfio-user only', only: { values: [false], lacking: 'a vfio-user option' } },
  { name: 'disable_shadow_doorbells', type: 'boolean', description: 'vfio-user only', only: { values: [false], lacking: 'a vfio-user option' } },
  { name: 'acceptor_poll_rate', type: 'uint32', description: 'µs between accept polls (accepted: wstor accepts through io_uring)' },
  { name: 'ack_timeout', type: 'uint32', description: 'RDMA only', only: { values: [0], lacking: 'ack_timeout is an RDMA option' } },
  { name: 'data_wr_pool_size', type: 'uint32', description: 'RDMA only', only: { values: [0], lacking: 'data_wr_pool_size is an RDMA option' } },
  { name: 'disable_command_passthru', type: 'boolean', description: 'accepted: wstor has no passthrough' },
  { name: 'kas', type: 'uint16', description: 'keep-alive granularity in 100 ms units (default 10)' },
  { name: 'min_kato', type: 'uint32', description: 'the least keep-alive timeout a host may ask for, in ms (default 10000)' },
  { name: 'masked_oncs', type: 'bitmask', description: 'not supported: hiding optional commands', only: { values: [0], lacking: 'wstor does not mask ONCS' } },
  { name: 'masked_fuses', type: 'bitmask', description: 'not supported: fused commands', only: { values: [0], lacking: 'wstor has no fused commands' } },
];

export const nvmfMethods: Method[] = [
  {
    name: 'nvmf_get_targets', description: 'The NVMe-oF targets (wstor has one: nvmf_tgt)',
    params: [],
    run: () => ['nvmf_tgt'],
  },
  {
    name: 'nvmf_create_transport', description: 'Create the NVMe-oF transport of a type (TCP)',
    params: [{ name: 'trtype', type: 'string', required: true, description: 'transport type: TCP' }, TGT_NAME, ...TRANSPORT_OPTIONS],
    run: async (p, t) => {
      const { trtype, tgt_name: _tgt, ...options } = p;
      await t.engine.nvmf.createTransport(trtype, options);
      return true;
    },
  },
  {
    name: 'nvmf_get_transports', description: 'The transports and their options',
    params: [TGT_NAME, { name: 'trtype', type: 'string', description: 'one transport type' }],
    run: (p, t) => t.engine.nvmf.transports(p.trtype).map((x) => ({ trtype: x.trtype, ...x.options })),
  },
  {
    name: 'nvmf_set_max_subsystems', description: 'The most subsystems the target may have (before the first is created)', startup: true,
    params: [{ name: 'max_subsystems', type: 'uint32', required: true, description: 'limit, with the discovery subsystem' }],
    run: (p, t) => { t.engine.nvmf.setMaxSubsystems(p.max_subsystems); return true; },
  },
  {
    name: 'nvmf_set_config', description: 'Target-wide settings (wstor takes SPDK\'s defaults only)', startup: true,
    params: [
      { name: 'admin_cmd_passthru', type: 'object', description: 'not supported: admin command passthrough' },
      { name: 'poll_groups_mask', type: 'string', description: 'not supported: wstor has a poll group on every reactor' },
      { name: 'discovery_filter', type: 'string', description: 'match_any only', only: { values: ['match_any'], lacking: 'the discovery log always lists every allowed subsystem and listener' } },
      { name: 'discovery_filters', type: 'bitmask', description: 'match_any only (0)', only: { values: [0], lacking: 'the discovery log always lists every allowed subsystem and listener' } },
      { name: 'dhchap_digests', type: 'bitmask', description: 'not supported: DH-HMAC-CHAP' },
      { name: 'dhchap_dhgroups', type: 'bitmask', description: 'not supported: DH-HMAC-CHAP' },
      { name: 'dup_host_policy', type: 'enum', values: ['allow', 'restrict_per_listener'], description: 'allow only', only: { values: ['allow'], lacking: 'wstor does not restrict a host to one connection per listener' } },
    ],
    run: (p) => {
      const passthru = p.admin_cmd_passthru as Record<string, unknown> | undefined;
      if (passthru && Object.values(passthru).some((v) => v !== false)) throw new WstorError('ENOTSUP', 'admin_cmd_passthru: wstor has no passthrough (omit it or set every field false)');
      if (p.poll_groups_mask !== undefined) throw new WstorError('ENOTSUP', 'poll_groups_mask: wstor has a poll group on every reactor (choose reactors with --cpus)');
      return true;
    },
  },
  {
    name: 'nvmf_create_subsystem', description: 'Create an NVM subsystem (unknown hosts refused unless allow_any_host)',
    params: [
      NQN, TGT_NAME,
      { name: 'serial_number', type: 'string', description: 'up to 20 ASCII characters (default 00000000000000000000)' },
      { name: 'model_number', type: 'string', description: 'up to 40 ASCII characters' },
      { name: 'admin_label', type: 'string', description: 'not supported', only: { values: [], lacking: 'wstor keeps no admin labels' } },
      { name: 'max_namespaces', type: 'uint32', description: 'namespaces it may hold (default 32)' },
      { name: 'allow_any_host', type: 'boolean', description: 'let any host NQN connect (default false)' },
      { name: 'ana_reporting', type: 'boolean', description: 'not supported: ANA', only: { values: [false], lacking: 'wstor has no ANA reporting' } },
      { name: 'min_cntlid', type: 'uint16', description: 'lowest controller id (default 1)' },
      { name: 'max_cntlid', type: 'uint16', description: 'highest controller id (default 65519)' },
      { name: 'dmrsl', type: 'uint32', description: 'not supported: DSM range size limit', only: { values: [0], lacking: 'wstor sets no DSM range limit' } },
      { name: 'wzsl', type: 'uint8', description: 'not supported: write zeroes size limit', only: { values: [0], lacking: 'wstor sets no write zeroes limit' } },
      { name: 'passthrough', type: 'boolean', description: 'not supported', only: { values: [false], lacking: 'wstor has no passthrough' } },
      { name: 'enable_nssr', type: 'boolean', description: 'not supported: NVM subsystem reset', only: { values: [false], lacking: 'wstor has no subsystem reset' } },
    ],
    run: async (p, t) => {
      await t.engine.nvmf.createSubsystem(p.nqn, {
        serialNumber: p.serial_number, modelNumber: p.model_number, maxNamespaces: p.max_namespaces, allowAnyHost: p.allow_any_host,
        minCntlid: p.min_cntlid, maxCntlid: p.max_cntlid,
      });
      return true;
    },
  },
  {
    name: 'nvmf_delete_subsystem', description: 'Delete a subsystem, disconnecting its hosts',
    params: [NQN, TGT_NAME],
    run: async (p, t) => { await t.engine.nvmf.deleteSubsystem(p.nqn); return true; },
  },
  {
    name: 'nvmf_subsystem_add_ns', description: 'Add a namespace over a bdev; returns its nsid',
    params: [NQN, { name: 'namespace', type: 'object', required: true, description: 'bdev_name, and optionally nsid, uuid, nguid, eui64' }, TGT_NAME],
    run: (p, t) => {
      const ns = nested<Params>('nvmf_subsystem_add_ns', 'namespace', p.namespace, NAMESPACE_FIELDS);
      return t.engine.nvmf.addNamespace(p.nqn, { bdev: ns.bdev_name, nsid: ns.nsid || undefined, uuid: ns.uuid, nguid: ns.nguid, eui64: ns.eui64 });
    },
  },
  {
    name: 'nvmf_subsystem_remove_ns', description: 'Remove a namespace (its in-flight commands end once; hosts learn by an event)',
    params: [NQN, { name: 'nsid', type: 'uint32', required: true, description: 'namespace id' }, TGT_NAME],
    run: async (p, t) => { await t.engine.nvmf.removeNamespace(p.nqn, p.nsid); return true; },
  },
  {
    name: 'nvmf_subsystem_add_listener', description: 'Let a subsystem accept connections on an address',
    params: [
      NQN, TGT_NAME,
      { name: 'listen_address', type: 'object', required: true, description: 'trtype, adrfam, traddr, trsvcid' },
      { name: 'secure_channel', type: 'boolean', description: 'not supported: TLS', only: { values: [false], lacking: 'wstor has no TLS' } },
      { name: 'ana_state', type: 'enum', values: ['optimized', 'non_optimized', 'inaccessible'], description: 'not supported: ANA', only: { values: ['optimized'], lacking: 'wstor has no ANA reporting' } },
      { name: 'sock_impl', type: 'string', description: 'posix only', only: { values: ['posix'], lacking: 'wstor\'s sockets run on io_uring' } },
      { name: 'numa_id', type: 'int32', description: 'accepted (no effect)' },
    ],
    run: async (p, t) => {
      await t.engine.nvmf.addListener(p.nqn, nested<ListenAddress>('nvmf_subsystem_add_listener', 'listen_address', p.listen_address, LISTEN_ADDRESS_FIELDS));
      return true;
    },
  },
  {
    name: 'nvmf_subsystem_remove_listener', description: 'Stop a subsystem accepting connections on an address (connected hosts stay)',
    params: [NQN, TGT_NAME, { name: 'listen_address', type: 'object', required: true, description: 'trtype, adrfam, traddr, trsvcid' }],
    run: async (p, t) => {
      await t.engine.nvmf.removeListener(p.nqn, nested<ListenAddress>('nvmf_subsystem_remove_listener', 'listen_address', p.listen_address, LISTEN_ADDRESS_FIELDS));
      return true;
    },
  },
  {
    name: 'nvmf_subsystem_add_host', description: 'Allow a host NQN to connect',
    params: [
      NQN, { name: 'host', type: 'string', required: true, description: 'host NQN' }, TGT_NAME,
      { name: 'psk', type: 'string', description: 'not supported: TLS', only: { values: [], lacking: 'wstor has no TLS' } },
      { name: 'dhchap_key', type: 'string', description: 'not supported: DH-HMAC-CHAP', only: { values: [], lacking: 'wstor has no in-band authentication' } },
      { name: 'dhchap_ctrlr_key', type: 'string', description: 'not supported: DH-HMAC-CHAP', only: { values: [], lacking: 'wstor has no in-band authentication' } },
    ],
    run: async (p, t) => { await t.engine.nvmf.addHost(p.nqn, p.host); return true; },
  },
  {
    name: 'nvmf_subsystem_remove_host', description: 'Stop allowing a host NQN (its connections stay until they end)',
    params: [NQN, { name: 'host', type: 'string', required: true, description: 'host NQN' }, TGT_NAME, { name: 'timeout_ms', type: 'uint64', description: 'accepted (nothing is waited for)' }],
    run: async (p, t) => { await t.engine.nvmf.removeHost(p.nqn, p.host); return true; },
  },
  {
    name: 'nvmf_subsystem_allow_any_host', description: 'Allow any host NQN, or only those added',
    params: [NQN, { name: 'allow_any_host', type: 'boolean', required: true, description: 'true: any host' }, TGT_NAME],
    run: async (p, t) => { await t.engine.nvmf.allowAnyHost(p.nqn, p.allow_any_host); return true; },
  },
  {
    name: 'nvmf_get_subsystems', description: 'Every subsystem (or the one named) with its listeners, hosts and namespaces',
    params: [{ name: 'nqn', type: 'string', description: 'one subsystem' }, TGT_NAME],
    run: (p, t) => t.engine.nvmf.subsystems(p.nqn).map(subsystemJson),
  },
  {
    name: 'nvmf_subsystem_get_listeners', description: 'A subsystem\'s listen addresses',
    params: [NQN, TGT_NAME],
    run: (p, t) => t.engine.nvmf.subsystems(p.nqn)[0].listeners.map((a) => ({ address: address(a) })),
  },
  {
    name: 'nvmf_subsystem_get_controllers', description: 'A subsystem\'s connected controllers',
    params: [NQN, TGT_NAME],
    run: (p, t) => {
      const cntrltype = p.nqn === DISCOVERY_NQN ? 'discovery' : 'io';
      // SPDK's num_io_qpairs counts every connected queue, the admin queue too: so does qpairCount.
      return t.engine.nvmf.controllers(p.nqn).map((c) => ({ cntlid: c.cntlid, cntrltype, hostnqn: c.hostnqn, hostid: c.hostid, num_io_qpairs: c.qpairCount }));
    },
  },
  {
    name: 'nvmf_subsystem_get_qpairs', description: 'A subsystem\'s queue pairs (one per connection)',
    params: [NQN, TGT_NAME],
    run: (p, t) => t.engine.nvmf.qpairs(p.nqn).map((q) => ({
      cntlid: q.cntlid, qid: q.qid, state: q.state, thread: pollGroupName(q.reactor), hostnqn: q.hostnqn,
      ...(q.listen ? { listen_address: address(q.listen) } : {}),
      ...(q.peerAddr ? { peer_address: { trtype: q.listen?.trtype ?? 'TCP', adrfam: q.peerAddr.includes(':') ? 'IPv6' : 'IPv4', traddr: q.peerAddr, trsvcid: String(q.peerPort) } } : {}),
    })),
  },
  {
    name: 'nvmf_get_stats', description: 'Per poll group counters',
    params: [TGT_NAME],
    run: (_p, t) => ({ tick_rate: 1e9, poll_groups: t.engine.nvmf.pollGroupStats() }),
  },
  {
    name: 'nvmf_discovery_add_referral', description: 'List another discovery service in the discovery log',
    params: [
      TGT_NAME, { name: 'address', type: 'object', required: true, description: 'trtype, adrfam, traddr, trsvcid' },
      { name: 'secure_channel', type: 'boolean', description: 'not supported: TLS', only: { values: [false], lacking: 'wstor has no TLS' } },
      { name: 'subnqn', type: 'string', description: 'the referred NQN (default: the discovery NQN)' },
    ],
    run: async (p, t) => {
      await t.engine.nvmf.addReferral(nested<ListenAddress>('nvmf_discovery_add_referral', 'address', p.address, LISTEN_ADDRESS_FIELDS), p.subnqn);
      return true;
    },
  },
  {
    name: 'nvmf_discovery_remove_referral', description: 'Take a referral out of the discovery log',
    params: [
      TGT_NAME, { name: 'address', type: 'object', required: true, description: 'trtype, adrfam, traddr, trsvcid' },
      { name: 'subnqn', type: 'string', description: 'the NQN it refers to (checked when given)' },
    ],
    run: async (p, t) => {
      await t.engine.nvmf.removeReferral(nested<ListenAddress>('nvmf_discovery_remove_referral', 'address', p.address, LISTEN_ADDRESS_FIELDS), p.subnqn);
      return true;
    },
  },
  {
    name: 'nvmf_discovery_get_referrals', description: 'The discovery log\'s referrals',
    params: [TGT_NAME],
    run: (_p, t) => t.engine.nvmf.referrals().map((r) => ({ address: address(r.addr), secure_channel: false, subnqn: r.subnqn })),
  },
];
