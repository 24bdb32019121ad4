// The nvmf_* RPC methods (host/rpc/methods/nvmf.ts) on a real engine, with the fake TCP transport the
// test registers: results in SPDK's field names, refusals by name (values wstor does not support among
// them), the referral removed, and save_config loading back into a fresh engine as the same config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../host/index.js';
import { Target } from '../../host/serve/target.js';
import { MethodTable } from '../../host/rpc/methods/index.js';
import { SUBSYSTEMS } from '../../host/rpc/methods/framework.js';
import { parseConfig, replayConfig, saveConfig } from '../../host/serve/config.js';
import { RpcError } from '../../host/rpc/errors.js';
import { registerNvmfTransport } from '../../host/nvmf.js';
import { useFakeTcpTransport } from '../helpers/fake-nvmf-transport.js';

const NQN = 'nqn.2016-06.io.spdk:cnode1';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:0c3f6a2e-2d1b-4c3d-8e4f-5a6b7c8d9e01';
const DISCOVERY = 'nqn.2014-08.org.nvmexpress.discovery';
const LISTEN = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: '4420' };
const ENOTSUP = -95;
const INVALID_PARAMS = -32602;

const rpcCode = (code: number, message: RegExp) => (e: RpcError) => {
  assert.equal(e.code, code, e.message);
  assert.match(e.message, message);
  return true;
};

async function withTable(body: (table: MethodTable, engine: Engine) => Promise<void>): Promise<void> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    await body(new MethodTable(new Target(engine, {})), engine);
  } finally {
    await engine.stop();
  }
}

/** A target with a transport, a subsystem with a host, a namespace and a listener, a discovery listener and a referral. */
async function populate(table: MethodTable): Promise<void> {
  await table.call('bdev_malloc_create', { name: 'm0', num_blocks: 256, block_size: 4096 });
  await table.call('nvmf_create_transport', { trtype: 'TCP', max_queue_depth: 64 });
  await table.call('nvmf_create_subsystem', { nqn: NQN, serial_number: 'WSTOR0001', model_number: 'wstor test', max_namespaces: 8 });
  await table.call('nvmf_subsystem_add_host', { nqn: NQN, host: HOST });
  assert.equal(await table.call('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'm0', uuid: '7d8e1c2a-0000-4000-8000-000000000001' } }), 1);
  await table.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: LISTEN });
  await table.call('nvmf_subsystem_add_listener', { nqn: DISCOVERY, listen_address: { ...LISTEN, trsvcid: '8009' } });
  await table.call('nvmf_discovery_add_referral', { address: { trtype: 'TCP', traddr: '10.0.0.9', trsvcid: '8009' } });
}

test('nvmf_create_transport without a TCP module registered: ENOTSUP naming the transport', async () => {
  const withdrawn = registerNvmfTransport('TCP', null);
  try {
    await withTable(async (table) => {
      await assert.rejects(table.call('nvmf_create_transport', { trtype: 'TCP' }), rpcCode(ENOTSUP, /NVMe-oF TCP transport is not available/));
      assert.deepEqual(await table.call('nvmf_get_transports', {}), []);
      assert.deepEqual(await table.call('nvmf_get_stats', {}), {
        tick_rate: 1e9, poll_groups: [{ name: 'nvmf_tgt_poll_group_000', transports: [] }, { name: 'nvmf_tgt_poll_group_001', transports: [] }],
      }, 'a poll group per reactor, transports or not');
    });
  } finally {
    withdrawn();
  }
});

test('results in SPDK\'s fields: subsystems, listeners, transports, referrals, stats; empty controllers and qpairs', async () => {
  const fake = useFakeTcpTransport();
  try {
    await withTable(async (table) => {
      await populate(table);
      assert.deepEqual(await table.call('nvmf_get_subsystems', {}), [
        { nqn: DISCOVERY, subtype: 'Discovery', listen_addresses: [{ ...LISTEN, trsvcid: '8009' }], allow_any_host: true, hosts: [] },
        {
          nqn: NQN, subtype: 'NVMe', listen_addresses: [LISTEN], allow_any_host: false, hosts: [{ nqn: HOST }],
          serial_number: 'WSTOR0001', model_number: 'wstor test', max_namespaces: 8, passthrough: false, min_cntlid: 1, max_cntlid: 0xffef,
          dmrsl: 0, wzsl: 0, namespaces: [{ nsid: 1, bdev_name: 'm0', name: 'm0', uuid: '7d8e1c2a-0000-4000-8000-000000000001' }],
        },
      ]);
      assert.deepEqual(await table.call('nvmf_subsystem_get_listeners', { nqn: NQN }), [{ address: LISTEN }]);
      assert.deepEqual(await table.call('nvmf_subsystem_get_controllers', { nqn: NQN }), []);
      assert.deepEqual(await table.call('nvmf_subsystem_get_qpairs', { nqn: NQN }), []);
      assert.deepEqual(await table.call('nvmf_subsystem_get_controllers', { nqn: DISCOVERY }), []);
      const [t] = await table.call('nvmf_get_transports', { trtype: 'tcp' }) as Record<string, unknown>[];
      assert.deepEqual([t.trtype, t.max_queue_depth, t.io_unit_size], ['TCP', 64, 131072]);
      assert.deepEqual(await table.call('nvmf_discovery_get_referrals', {}),
        [{ address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '10.0.0.9', trsvcid: '8009' }, secure_channel: false, subnqn: DISCOVERY }]);
      const stats = await table.call('nvmf_get_stats', {}) as { poll_groups: { name: string; transports: { trtype: string }[] }[] };
      assert.deepEqual(stats.poll_groups.map((g) => [g.name, g.transports.map((x) => x.trtype)]),
        [['nvmf_tgt_poll_group_000', ['TCP']], ['nvmf_tgt_poll_group_001', ['TCP']]]);
      assert.equal(fake.created[0].listening.size, 2);
    });
  } finally {
    fake.restore();
  }
});

test('refusals by name: TLS, ANA, admin labels, other targets, unknown fields, unknown subsystems, a missing transport', async () => {
  const fake = useFakeTcpTransport();
  try {
    await withTable(async (table) => {
      await table.call('nvmf_create_subsystem', { nqn: NQN });
      await assert.rejects(table.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: LISTEN }), rpcCode(-19, /no TCP transport serves 127\.0\.0\.1:4420/));
      await table.call('nvmf_create_transport', { trtype: 'TCP' });
      await assert.rejects(table.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: LISTEN, secure_channel: true }), rpcCode(ENOTSUP, /secure_channel true: wstor has no TLS/));
      await assert.rejects(table.call('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, psk: 'key0' }), rpcCode(ENOTSUP, /psk "key0": wstor has no TLS/));
      await assert.rejects(table.call('nvmf_discovery_add_referral', { address: LISTEN, secure_channel: true }), rpcCode(ENOTSUP, /wstor has no TLS/));
      await assert.rejects(table.call('nvmf_create_subsystem', { nqn: 'nqn.2016-06.io.spdk:cnode2', ana_reporting: true }), rpcCode(ENOTSUP, /wstor has no ANA reporting/));
      await assert.rejects(table.call('nvmf_create_subsystem', { nqn: 'nqn.2016-06.io.spdk:cnode2', admin_label: 'x' }), rpcCode(ENOTSUP, /wstor keeps no admin labels \(omit it\)/));
      await assert.rejects(table.call('nvmf_get_subsystems', { tgt_name: 'other' }), rpcCode(ENOTSUP, /wstor has one NVMe-oF target/));
      await assert.rejects(table.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: { ...LISTEN, colour: 'red' } }),
        rpcCode(INVALID_PARAMS, /nvmf_subsystem_add_listener: listen_address: unknown parameter "colour"/));
      await assert.rejects(table.call('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { nsid: 1 } }), rpcCode(INVALID_PARAMS, /namespace: missing required parameter "bdev_name"/));
      await assert.rejects(table.call('nvmf_subsystem_get_qpairs', { nqn: 'nqn.2016-06.io.spdk:none' }), rpcCode(-19, /no subsystem nqn\.2016-06\.io\.spdk:none/));
      await assert.rejects(table.call('nvmf_set_config', { poll_groups_mask: '0x3' }), rpcCode(ENOTSUP, /poll_groups_mask: wstor has a poll group on every reactor/));
      await assert.rejects(table.call('nvmf_create_subsystem', { nqn: 'not-an-nqn' }), rpcCode(-22, /"not-an-nqn" is not an NQN/));
      assert.equal((await table.call('nvmf_get_subsystems', {}) as unknown[]).length, 2, 'nothing made on the way');
      assert.equal(fake.created[0].listening.size, 0);
    });
  } finally {
    fake.restore();
  }
});

test('nvmf_discovery_remove_referral takes SPDK\'s params, checks the subnqn when given, and the referral is gone', async () => {
  await withTable(async (table) => {
    const address = { trtype: 'TCP', adrfam: 'IPv4', traddr: '10.0.0.9', trsvcid: '8009' };
    await table.call('nvmf_discovery_add_referral', { address, subnqn: NQN });
    await assert.rejects(table.call('nvmf_discovery_remove_referral', { address, subnqn: DISCOVERY }), rpcCode(-2, /is for nqn\.2016-06\.io\.spdk:cnode1, not/));
    await assert.rejects(table.call('nvmf_discovery_remove_referral', { address, secure_channel: false }), rpcCode(INVALID_PARAMS, /unknown parameter "secure_channel"/));
    assert.equal(await table.call('nvmf_discovery_remove_referral', { address, subnqn: NQN, tgt_name: 'nvmf_tgt' }), true);
    assert.deepEqual(await table.call('nvmf_discovery_get_referrals', {}), []);
    await assert.rejects(table.call('nvmf_discovery_remove_referral', { address }), rpcCode(-2, /no referral to 10\.0\.0\.9:8009/));
  });
});

test('save_config round trip: the nvmf config saved, loaded into a fresh engine, saves the same', async () => {
  const fake = useFakeTcpTransport();
  const subsystems = SUBSYSTEMS.map((s) => s.subsystem);
  try {
    let saved = '';
    await withTable(async (table) => {
      await populate(table);
      await table.call('nvmf_create_subsystem', { nqn: 'nqn.2016-06.io.spdk:cnode2', allow_any_host: true, min_cntlid: 5, max_cntlid: 9 });
      await table.call('nvmf_subsystem_add_listener', { nqn: 'nqn.2016-06.io.spdk:cnode2', listen_address: LISTEN });
      saved = JSON.stringify(await saveConfig(subsystems, (name) => table.call('framework_get_config', { name })), null, 1);
    });
    assert.match(saved, /"nvmf_discovery_add_referral"/);
    await withTable(async (table) => {
      const n = await replayConfig(parseConfig(saved, 'saved.json'), 'saved.json', subsystems, (m, p) => table.call(m, p), () => undefined);
      assert.ok(n >= 10, `${n} calls replayed`);
      const again = JSON.stringify(await saveConfig(subsystems, (name) => table.call('framework_get_config', { name })), null, 1);
      assert.equal(again, saved);
      assert.equal(fake.created.length, 2, 'one transport per engine');
      assert.equal(fake.created[1].listening.size, 2, 'the shared address and the discovery one listen again');
    });
  } finally {
    fake.restore();
  }
});
