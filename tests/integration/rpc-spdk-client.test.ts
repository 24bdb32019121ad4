// SPDK's own client, exactly: its generated scripts/rpc.py sends every optional parameter it knows
// (booleans as false, numbers at their defaults). Every SPDK method wstor serves is called here with
// all of its parameters from SPDK's schema (tests/fixtures), optional ones at their defaults, and must
// succeed; a value for a feature wstor lacks is refused naming the parameter and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../host/index.js';
import { Target } from '../../host/serve/target.js';
import { MethodTable } from '../../host/rpc/methods/index.js';
import { RpcError } from '../../host/rpc/errors.js';
import { freePort } from '../helpers/free-port.js';


interface SpdkParam { name: string; type: string; required?: boolean }
interface SpdkMethod { name: string; params: SpdkParam[] }
const here = path.dirname(fileURLToPath(import.meta.url));
const SPDK = JSON.parse(fs.readFileSync(path.resolve(here, '..', '..', '..', 'tests', 'fixtures', 'spdk-rpc-methods.json'), 'utf8')) as { methods: SpdkMethod[] };

/** SPDK's defaults where they are not false or 0. */
const DEFAULTS: Record<string, unknown> = {
  'bdev_malloc_create.numa_id': -1, 'bdev_lvol_create_lvstore.num_md_pages_per_cluster_ratio': 100,
  'bdev_get_iostat.reset_mode': 'none', 'bdev_error_inject_error.num': 1,
};
const NUMERIC = new Set(['int32', 'uint32', 'uint64', 'int64', 'uint8', 'uint16', 'number']);

/** A call with every SPDK parameter: `given` for the required ones (and any chosen), optional ones at their defaults. */
function everyParam(m: SpdkMethod, given: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of m.params) {
    const key = `${m.name}.${p.name}`;
    if (p.name in given) out[p.name] = given[p.name];
    else if (p.required) throw new Error(`${key} is required: the scenario must give it`);
    else if (key in DEFAULTS) out[p.name] = DEFAULTS[key];
    else if (p.type === 'boolean') out[p.name] = false;
    else if (NUMERIC.has(p.type)) out[p.name] = 0;
    // strings, UUIDs, enums without a default, arrays and objects: rpc.py leaves them out
  }
  return out;
}

test('SPDK\'s rpc.py sending every parameter at its default: every method wstor serves takes it', async () => {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'fatal' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-spdk-client-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 64 << 20);
  engine.vhost.socketDir = dir;
  const table = new MethodTable(new Target(engine, {}));
  const byName = new Map(SPDK.methods.map((m) => [m.name, m]));
  const called = new Set<string>();
  const call = async (method: string, given: Record<string, unknown> = {}) => {
    const m = byName.get(method);
    assert.ok(m, `${method} is in SPDK's schema`);
    called.add(method);
    try {
      return await table.call(method, everyParam(m, given));
    } catch (err) {
      throw new Error(`${method}: ${(err as Error).message}`);
    }
  };
  try {
    // In an order that gives each call what it needs.
    await call('spdk_get_version');
    await call('rpc_get_methods');
    await call('framework_wait_init');
    await call('framework_get_subsystems');
    await call('framework_get_reactors');
    await call('thread_get_stats');
    await call('log_get_level');
    await call('log_set_level', { level: 'NOTICE' });
    await call('bdev_malloc_create', { name: 'm0', block_size: 4096, num_blocks: 4096 });
    await call('bdev_null_create', { name: 'n0', block_size: 512, num_blocks: 2048 });
    await call('bdev_null_resize', { name: 'n0', new_size: 2 });
    await call('bdev_uring_create', { filename: file, name: 'f0' });
    await call('bdev_uring_rescan', { name: 'f0' });
    await call('bdev_error_create', { base_name: 'n0' });
    await call('bdev_error_inject_error', { name: 'EE_n0', io_type: 'read', error_type: 'failure' });
    await call('bdev_delay_create', { name: 'd0', base_bdev_name: 'm0', avg_read_latency: 10, p99_read_latency: 20, avg_write_latency: 10, p99_write_latency: 20 });
    await call('bdev_delay_update_latency', { delay_bdev_name: 'd0', latency_type: 'avg_read', latency_us: 15 });
    await call('bdev_wait_for_examine');
    await call('bdev_get_bdevs');
    await call('bdev_get_iostat');
    await call('bdev_lvol_create_lvstore', { bdev_name: 'f0', lvs_name: 'lvs' });
    await call('bdev_lvol_get_lvstores');
    await call('bdev_lvol_create', { lvol_name: 'v0', size_in_mib: 8, lvs_name: 'lvs' });
    await call('bdev_lvol_get_lvols');
    await call('bdev_lvol_resize', { name: 'lvs/v0', size_in_mib: 12 });
    await call('bdev_lvol_snapshot', { lvol_name: 'lvs/v0', snapshot_name: 's0' });
    await call('bdev_lvol_clone', { snapshot_name: 'lvs/s0', clone_name: 'c0' });
    await call('bdev_lvol_decouple_parent', { name: 'lvs/c0' });
    await call('bdev_lvol_inflate', { name: 'lvs/v0' });
    await call('bdev_lvol_rename', { old_name: 'lvs/c0', new_name: 'c1' });
    await call('bdev_lvol_set_read_only', { name: 'lvs/c1' });
    await call('bdev_lvol_delete', { name: 'lvs/c1' });
    await call('bdev_lvol_rename_lvstore', { old_name: 'lvs', new_name: 'lvs2' });
    await call('bdev_lvol_grow_lvstore', { lvs_name: 'lvs2' });
    await call('bdev_malloc_create', { name: 'm1', block_size: 512, num_blocks: 2048 });
    await call('vhost_create_blk_controller', { ctrlr: 'vc0', dev_name: 'm1' });
    await call('vhost_controller_set_coalescing', { ctrlr: 'vc0', delay_base_us: 0, iops_threshold: 0 });
    await call('vhost_get_controllers');
    await call('framework_get_config', { name: 'bdev' });
    await call('nvmf_set_max_subsystems', { max_subsystems: 1024 });
    await call('nvmf_set_config');
    await call('nvmf_get_targets');
    await call('nvmf_create_transport', { trtype: 'TCP' });
    await call('nvmf_get_transports');
    const nqn = 'nqn.2016-06.io.spdk:cnode1';
    const listen = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(await freePort()) };
    await call('nvmf_create_subsystem', { nqn });
    await call('nvmf_subsystem_add_ns', { nqn, namespace: { bdev_name: 'm1' } });
    await call('nvmf_subsystem_add_listener', { nqn, listen_address: listen });
    await call('nvmf_subsystem_add_host', { nqn, host: 'nqn.2014-08.org.example:h1' });
    await call('nvmf_subsystem_allow_any_host', { nqn, allow_any_host: true });
    // The NVMe/TCP host attaches to this very target over loopback.
    assert.deepEqual(await call('bdev_nvme_attach_controller', { name: 'nv0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: listen.trsvcid, subnqn: nqn }), ['nv0n1']);
    const [nv0] = await call('bdev_nvme_get_controllers') as { ctrlrs: { cntlid: number }[] }[];
    await call('bdev_nvme_reset_controller', { name: 'nv0', cntlid: nv0.ctrlrs[0].cntlid });
    await call('bdev_nvme_detach_controller', { name: 'nv0' });
    await call('nvmf_discovery_add_referral', { address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.2', trsvcid: '4420' } });
    await call('nvmf_discovery_get_referrals');
    await call('nvmf_discovery_remove_referral', { address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.2', trsvcid: '4420' } });
    await call('nvmf_get_subsystems');
    await call('nvmf_subsystem_get_listeners', { nqn });
    await call('nvmf_subsystem_get_controllers', { nqn });
    await call('nvmf_subsystem_get_qpairs', { nqn });
    await call('nvmf_get_stats');
    await call('framework_get_config', { name: 'nvmf' });
    await call('nvmf_subsystem_remove_host', { nqn, host: 'nqn.2014-08.org.example:h1' });
    await call('nvmf_subsystem_remove_listener', { nqn, listen_address: listen });
    await call('nvmf_subsystem_remove_ns', { nqn, nsid: 1 });
    await call('nvmf_delete_subsystem', { nqn });
    await call('vhost_delete_controller', { ctrlr: 'vc0' });
    await call('bdev_delay_delete', { name: 'd0' });
    await call('bdev_error_delete', { name: 'EE_n0' });
    await call('bdev_lvol_delete_lvstore', { lvs_name: 'lvs2' });
    await call('bdev_uring_delete', { name: 'f0' });
    await call('bdev_aio_create', { name: 'a0', filename: file });
    await call('bdev_wait_for_examine');
    assert.deepEqual(await table.call('bdev_lvol_get_lvstores', {}), [], 'the deleted lvstore is not found again on its file');
    await call('bdev_aio_delete', { name: 'a0' });
    await call('bdev_null_delete', { name: 'n0' });
    await call('bdev_malloc_delete', { name: 'm0' });
    await call('bdev_malloc_delete', { name: 'm1' });
    // framework_start_init belongs to --wait-for-rpc (rpc-methods.test.ts drives it).
    const notCalled = SPDK.methods.map((m) => m.name).filter((n) => !called.has(n) && n !== 'framework_start_init');
    assert.deepEqual(notCalled, [], 'every SPDK method wstor serves was called');
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a value for a feature wstor lacks is refused with ENOTSUP naming the parameter and why', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'fatal' });
  const table = new MethodTable(new Target(engine, {}));
  const refused = (method: string, params: Record<string, unknown>, message: RegExp) =>
    assert.rejects(table.call(method, params), (e: RpcError) => e.code === -95 && message.test(e.message));
  try {
    await refused('bdev_malloc_create', { name: 'm', block_size: 512, num_blocks: 64, md_size: 8 },
      /bdev_malloc_create: md_size 8: metadata \(md, DIF\/DIX\) is not supported by wstor \(omit it or send 0\)/);
    await refused('bdev_malloc_create', { name: 'm', block_size: 512, num_blocks: 64, md_interleave: true }, /md_interleave true: metadata/);
    await refused('bdev_malloc_create', { name: 'm', block_size: 512, num_blocks: 64, numa_id: 1 }, /numa_id 1: NUMA placement is not supported.*send -1/);
    await refused('bdev_null_create', { name: 'n', block_size: 512, num_blocks: 64, preferred_write_granularity: 8 }, /write and unmap size hints/);
    await refused('bdev_get_iostat', { reset_mode: 'all' }, /reset_mode "all": resetting statistics is not supported \(omit it or send "none"\)/);
    await refused('bdev_get_iostat', { per_channel: true }, /per_channel true: per-channel statistics are not kept/);
    await refused('bdev_nvme_attach_controller', { name: 'nv', trtype: 'tcp', traddr: '127.0.0.1', psk: 'key' }, /psk "key": TLS \(PSK\) is not supported/);
    await refused('bdev_nvme_attach_controller', { name: 'nv', trtype: 'pcie', traddr: '0000:01:00.0' }, /pcie is not yet supported/);
    assert.deepEqual(engine.bdev.list(), [], 'nothing was created by a refused call');
  } finally {
    await engine.stop();
  }
});
