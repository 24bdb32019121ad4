// The target's method table with a real engine (no socket: the server is tested on its own): every
// method's parameters against SPDK's schema, results in SPDK's shapes, each error code, the
// --wait-for-rpc state, and the config round trip (save, start a new target with it, compare).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../host/index.js';
import { Target } from '../../host/serve/target.js';
import { MethodTable, INVALID_STATE } from '../../host/rpc/methods/index.js';
import { parseConfig, replayConfig, saveConfig } from '../../host/serve/config.js';
import { RpcError } from '../../host/rpc/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SPDK = JSON.parse(fs.readFileSync(path.resolve(here, '..', '..', '..', 'tests', 'fixtures', 'spdk-rpc-methods.json'), 'utf8')) as
  { methods: { name: string; params: { name: string; type: string; required?: boolean }[] }[] };

/** Methods of wstor's own, for what SPDK has no method for (each description starts "wstor:"). */
const WSTOR_METHODS = new Set(['rpc_get_method_params', 'bdev_plugin_create', 'bdev_plugin_delete', 'bdev_plugin_get_plugins']);

/** Parameters wstor adds to SPDK methods (each documented in its method's description). */
const WSTOR_EXTENSIONS: Record<string, string[]> = {
  vhost_delete_controller: ['force'], bdev_uring_create: ['direct', 'mmap'], bdev_aio_create: ['direct', 'mmap'],
};

async function newTarget(opts: { waitForRpc?: boolean } = {}): Promise<{ engine: Engine; target: Target; table: MethodTable }> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'fatal' });
  const target = new Target(engine, opts);
  return { engine, target, table: new MethodTable(target) };
}

/** A new sparse file of `bytes` in a new temporary directory (remove the directory afterwards). */
function sparseFile(prefix: string, bytes: number): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, bytes);
  return { dir, file };
}

const rpcCode = (code: number, message?: RegExp) => (e: RpcError) => e.code === code && (message === undefined || message.test(e.message));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

test('every method wstor serves under an SPDK name takes SPDK\'s parameters, with SPDK\'s types and required flags', async () => {
  const { engine, table } = await newTarget();
  try {
    const ours = new Map(table.schemas().map((s) => [s.name, s]));
    const spdkNames = new Set(SPDK.methods.map((m) => m.name));
    for (const name of ours.keys()) assert.ok(spdkNames.has(name) || WSTOR_METHODS.has(name), `${name} is an SPDK method`);
    for (const m of SPDK.methods) {
      const mine = ours.get(m.name);
      assert.ok(mine, `${m.name} is served`);
      for (const p of m.params.filter((x) => x.required)) {
        const q = mine.params.find((x) => x.name === p.name);
        assert.ok(q && q.required, `${m.name}: SPDK's required parameter ${p.name} is required here too`);
      }
      for (const q of mine.params) {
        if (WSTOR_EXTENSIONS[m.name]?.includes(q.name)) continue;
        const p = m.params.find((x) => x.name === q.name);
        assert.ok(p, `${m.name}: parameter ${q.name} is one of SPDK's`);
        assert.ok(p.type === q.type || (p.type === 'string' && q.type === 'uuid'), `${m.name}.${q.name}: ${q.type} where SPDK has ${p.type}`);
      }
    }
  } finally {
    await engine.stop();
  }
});

test('bdev methods: create, list in SPDK\'s shape, statistics, delete, and each error code', async () => {
  const { engine, table } = await newTarget();
  try {
    assert.equal(await table.call('bdev_malloc_create', { num_blocks: 2048, block_size: 4096 }), 'Malloc0', 'SPDK\'s default name');
    assert.equal(await table.call('bdev_null_create', { name: 'n0', num_blocks: 1024, block_size: 512 }), 'n0');
    await table.call('bdev_wait_for_examine', {});        // examine claims a new bdev while it looks for an lvstore
    const [m] = await table.call('bdev_get_bdevs', { name: 'Malloc0' }) as Any[];
    assert.equal(m.product_name, 'Malloc disk');
    assert.equal(m.num_blocks, 2048);
    assert.equal(m.block_size, 4096);
    assert.match(m.uuid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(Object.keys(m.supported_io_types).slice(0, 6), ['read', 'write', 'unmap', 'flush', 'reset', 'write_zeroes']);
    assert.equal(m.claimed, false);
    assert.equal((await table.call('bdev_get_bdevs', {}) as Any[]).length, 2);
    assert.equal(await table.call('bdev_error_create', { base_name: 'n0' }), 'EE_n0');
    assert.equal((await table.call('bdev_get_bdevs', { name: 'n0' }) as Any[])[0].claimed, true, 'the error bdev claims its base');
    assert.equal(await table.call('bdev_error_inject_error', { name: 'EE_n0', io_type: 'read', error_type: 'failure', num: 2 }), true);
    assert.equal(await table.call('bdev_null_resize', { name: 'n0', new_size: 1 }), true);
    assert.equal((await table.call('bdev_get_bdevs', { name: 'n0' }) as Any[])[0].num_blocks, 2048, '1 MiB of 512-byte blocks');
    const stat = await table.call('bdev_get_iostat', { names: ['Malloc0'] }) as Any;
    assert.equal(stat.tick_rate, 1e9);
    assert.equal(stat.bdevs.length, 1);
    assert.equal(stat.bdevs[0].name, 'Malloc0');
    assert.equal(stat.bdevs[0].num_write_ops, 0);

    await assert.rejects(table.call('bdev_nonsense', {}), rpcCode(-32601, /Method not found: bdev_nonsense/));
    await assert.rejects(table.call('bdev_malloc_create', { block_size: 4096 }), rpcCode(-32602, /missing required parameter "num_blocks"/));
    await assert.rejects(table.call('bdev_malloc_create', { num_blocks: '9', block_size: 4096 }), rpcCode(-32602, /"num_blocks" must be a whole number/));
    await assert.rejects(table.call('bdev_malloc_create', { num_blocks: 9, block_size: 4096, colour: 'red' }), rpcCode(-32602, /unknown parameter "colour"/));
    await assert.rejects(table.call('bdev_malloc_create', [1, 2]), rpcCode(-32602, /params must be an object/));
    await assert.rejects(table.call('bdev_error_inject_error', { name: 'EE_n0', io_type: 'sideways', error_type: 'failure' }), rpcCode(-32602, /one of all, read/));
    await assert.rejects(table.call('bdev_get_bdevs', { name: 'ghost' }), rpcCode(-19, /no bdev named ghost/));
    await assert.rejects(table.call('bdev_malloc_create', { name: 'Malloc0', num_blocks: 8, block_size: 4096 }), rpcCode(-17));
    await assert.rejects(table.call('bdev_malloc_delete', { name: 'n0' }), rpcCode(-19, /null bdev, not a malloc bdev/));
    assert.equal(await table.call('bdev_null_delete', { name: 'n0' }), true);
    assert.deepEqual((await table.call('bdev_get_bdevs', {}) as Any[]).map((b) => b.name), ['Malloc0'], 'the error bdev went with its base (hot remove)');
  } catch (err) {
    throw err;
  } finally {
    await engine.stop();
  }
});

test('bdev_uring_rescan takes a grown file\'s size; vhost controllers are in framework_get_config', async () => {
  const { engine, table } = await newTarget();
  const { dir, file } = sparseFile('wstor-rescan-', 4 << 20);
  engine.vhost.socketDir = dir;
  try {
    await table.call('bdev_uring_create', { name: 'g', filename: file });
    assert.equal((await table.call('bdev_get_bdevs', { name: 'g' }) as Any[])[0].num_blocks, 1024);
    fs.truncateSync(file, 8 << 20);
    assert.equal(await table.call('bdev_uring_rescan', { name: 'g' }), true);
    assert.equal((await table.call('bdev_get_bdevs', { name: 'g' }) as Any[])[0].num_blocks, 2048, 'the bdev grew with its file');
    await assert.rejects(table.call('bdev_uring_rescan', { name: 'nope' }), rpcCode(-19));
    assert.equal(await table.call('vhost_create_blk_controller', { ctrlr: 'vc', dev_name: 'g', readonly: true }), true);
    const config = await table.call('framework_get_config', { name: 'vhost_blk' }) as Any[];
    assert.deepEqual(config.map((e) => [e.method, e.params.ctrlr, e.params.dev_name, e.params.readonly]), [['vhost_create_blk_controller', 'vc', 'g', true]]);
    const [c] = await table.call('vhost_get_controllers', {}) as Any[];
    assert.equal(c.ctrlr, 'vc');
    assert.equal(c.backend_specific.block.readonly, true);
    await assert.rejects(table.call('vhost_create_blk_controller', { ctrlr: 'vc', dev_name: 'g' }), rpcCode(-17));
    await assert.rejects(table.call('vhost_create_blk_controller', { ctrlr: 'bad/name', dev_name: 'g' }), rpcCode(-22));
    assert.equal(await table.call('vhost_delete_controller', { ctrlr: 'vc' }), true);
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bdev_uring_create and bdev_aio_create take wstor\'s direct and mmap; framework_get_config keeps them', async () => {
  const { engine, table } = await newTarget();
  const { dir, file } = sparseFile('wstor-mmap-rpc-', 4 << 20);
  try {
    await table.call('bdev_uring_create', { name: 'm', filename: file, mmap: true });
    const [m] = await table.call('bdev_get_bdevs', { name: 'm' }) as Any[];
    assert.deepEqual(m.driver_specific.uring, { filename: file, direct: false, mmap: true });
    assert.equal(engine.bdev.info('m').mmap, true, 'the file is mapped into the engine\'s memory');
    await assert.rejects(table.call('bdev_aio_create', { name: 'x', filename: file, mmap: true, direct: true }), rpcCode(-22), 'mmap and direct exclude each other');
    await assert.rejects(table.call('bdev_uring_create', { name: 'y', filename: file, mmap: 'yes' }), rpcCode(-32602), 'mmap is a boolean');
    const config = await table.call('framework_get_config', { name: 'bdev' }) as Any[];
    const entry = config.find((e) => e.params.name === 'm');
    assert.equal(entry.method, 'bdev_uring_create');
    assert.equal(entry.params.mmap, true, 'a saved config maps the file again');
    assert.equal(await table.call('bdev_uring_delete', { name: 'm' }), true);
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--wait-for-rpc: only startup methods run until framework_start_init, which runs once', async () => {
  const { engine, target, table } = await newTarget({ waitForRpc: true });
  try {
    await assert.rejects(table.call('bdev_get_bdevs', {}), rpcCode(INVALID_STATE, /framework_start_init/));
    const before = await table.call('rpc_get_methods', { current: true }) as string[];
    assert.ok(before.includes('framework_start_init') && !before.includes('bdev_malloc_create'));
    let waited = false;
    const wait = table.call('framework_wait_init', {}).then(() => { waited = true; });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(waited, false, 'framework_wait_init waits');
    assert.equal(await table.call('log_set_level', { level: 'DEBUG' }), true);
    assert.equal(await table.call('log_get_level', {}), 'DEBUG');
    assert.equal(await table.call('framework_start_init', {}), true);
    await wait;
    assert.equal(target.state, 'running');
    await assert.rejects(table.call('framework_start_init', {}), rpcCode(-1, /already initialised/));
    assert.ok((await table.call('rpc_get_methods', {}) as string[]).includes('bdev_malloc_create'));
    const [schema] = await table.call('rpc_get_method_params', { method: 'bdev_lvol_create' }) as Any[];
    assert.equal(schema.params.find((p: Any) => p.name === 'size_in_mib').required, true);
    const reactors = await table.call('framework_get_reactors', {}) as Any;
    assert.equal(reactors.reactors.length, 2);
  } finally {
    await engine.stop();
  }
});

test('lvol methods in SPDK\'s shapes', async () => {
  const { engine, table } = await newTarget();
  try {
    await table.call('bdev_malloc_create', { name: 'm', num_blocks: 16384, block_size: 4096 });
    const lvs = await table.call('bdev_lvol_create_lvstore', { bdev_name: 'm', lvs_name: 'lvs', cluster_sz: 1 << 20 }) as string;
    const [store] = await table.call('bdev_lvol_get_lvstores', { lvs_name: 'lvs' }) as Any[];
    assert.deepEqual(Object.keys(store), ['uuid', 'name', 'base_bdev', 'total_data_clusters', 'free_clusters', 'block_size', 'cluster_size']);
    assert.equal(store.uuid, lvs);
    const vol = await table.call('bdev_lvol_create', { lvol_name: 'v', size_in_mib: 4, thin_provision: true, uuid: lvs }) as string;
    const snap = await table.call('bdev_lvol_snapshot', { lvol_name: 'lvs/v', snapshot_name: 's' }) as string;
    await table.call('bdev_lvol_clone', { snapshot_name: 'lvs/s', clone_name: 'c' });
    const lvols = await table.call('bdev_lvol_get_lvols', { lvs_name: 'lvs' }) as Any[];
    const v = lvols.find((l) => l.name === 'v');
    assert.deepEqual({ alias: v.alias, uuid: v.uuid, thin: v.is_thin_provisioned, clone: v.is_clone, lvs: v.lvs }, { alias: 'lvs/v', uuid: vol, thin: true, clone: true, lvs: { name: 'lvs', uuid: lvs } });
    assert.equal(lvols.find((l) => l.name === 's').is_snapshot, true);
    const [bdev] = await table.call('bdev_get_bdevs', { name: 'lvs/s' }) as Any[];
    assert.equal(bdev.name, snap);
    assert.equal(bdev.product_name, 'Logical Volume');
    assert.deepEqual(bdev.driver_specific.lvol.clones.sort(), ['c', 'v']);
    for (const [method, params] of [['bdev_lvol_rename', { old_name: 'lvs/c', new_name: 'c2' }], ['bdev_lvol_resize', { name: 'lvs/c2', size_in_mib: 8 }],
      ['bdev_lvol_inflate', { name: 'lvs/c2' }], ['bdev_lvol_decouple_parent', { name: 'lvs/v' }], ['bdev_lvol_set_read_only', { name: 'lvs/c2' }],
      ['bdev_lvol_delete', { name: 'lvs/s' }], ['bdev_lvol_rename_lvstore', { old_name: 'lvs', new_name: 'lvs2' }],
      ['bdev_lvol_grow_lvstore', { lvs_name: 'lvs2' }]] as [string, object][]) {
      assert.equal(await table.call(method, params), true, method);
    }
    assert.equal((await table.call('bdev_get_bdevs', { name: 'lvs2/c2' }) as Any[])[0].num_blocks, 2048);
    await assert.rejects(table.call('bdev_lvol_create', { lvol_name: 'x', size_in_mib: 1, lvs_name: 'lvs2', clear_method: 'unmap' }), rpcCode(-95, /clear_method unmap/));
    await assert.rejects(table.call('bdev_lvol_create', { lvol_name: 'x', size_in_mib: 1 }), rpcCode(-22, /uuid or by lvs_name/));
    assert.equal(await table.call('bdev_lvol_delete_lvstore', { lvs_name: 'lvs2' }), true);
    assert.deepEqual(await table.call('bdev_lvol_get_lvstores', {}), []);
  } finally {
    await engine.stop();
  }
});

test('config round trip: what framework_get_config gives back starts an identical target', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-config-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 32 << 20);
  const describe = async (table: MethodTable) => {
    const bdevs = (await table.call('bdev_get_bdevs', {}) as Any[]).map((b) => [b.name, b.uuid, b.num_blocks, b.block_size, b.aliases, b.product_name]);
    const lvols = (await table.call('bdev_lvol_get_lvols', {}) as Any[]).map((l) => [l.alias, l.uuid, l.is_snapshot]);
    return { bdevs: bdevs.sort(), lvols: lvols.sort() };
  };
  try {
    let { engine, table } = await newTarget();
    let saved: string;
    let before: unknown;
    try {
      await table.call('bdev_malloc_create', { name: 'm0', num_blocks: 1024, block_size: 512 });
      await table.call('bdev_null_create', { name: 'n0', num_blocks: 100, block_size: 4096 });
      await table.call('bdev_uring_create', { name: 'f0', filename: file });
      await table.call('bdev_delay_create', { name: 'd0', base_bdev_name: 'n0', avg_read_latency: 5, p99_read_latency: 9, avg_write_latency: 6, p99_write_latency: 10 });
      await table.call('bdev_delay_update_latency', { delay_bdev_name: 'd0', latency_type: 'avg_read', latency_us: 7 });
      await table.call('bdev_lvol_create_lvstore', { bdev_name: 'f0', lvs_name: 'disk', cluster_sz: 1 << 20 });
      await table.call('bdev_lvol_create', { lvs_name: 'disk', lvol_name: 'a', size_in_mib: 4 });
      await table.call('bdev_lvol_snapshot', { lvol_name: 'disk/a', snapshot_name: 'a0' });
      await table.call('bdev_error_create', { base_name: 'disk/a' });
      await table.call('bdev_malloc_create', { name: 'gone', num_blocks: 8, block_size: 4096 });
      await table.call('bdev_malloc_delete', { name: 'gone' });
      const config = await saveConfig(['bdev'], (name) => table.call('framework_get_config', { name }));
      saved = JSON.stringify(config, null, 2);
      assert.ok(!saved.includes('gone'), 'a deleted bdev is not in the config');
      assert.match(saved, /"avg_read_latency": 7/, 'the delay\'s updated latency is');
      before = await describe(table);
      await table.call('bdev_error_delete', { name: 'EE_disk/a' });
      await engine.lvol.unloadAll();
    } finally {
      await engine.stop();
    }
    ({ engine, table } = await newTarget());
    try {
      const n = await replayConfig(parseConfig(saved, 'saved.json'), 'saved.json', ['bdev'], (m, p) => table.call(m, p), () => undefined);
      assert.ok(n >= 6);
      assert.deepEqual(await describe(table), before, 'the same bdevs (names, uuids, sizes) and lvols');
      await engine.lvol.unloadAll();
    } finally {
      await engine.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a config that is wrong stops with the subsystem, entry and field named', async () => {
  const { engine, table } = await newTarget();
  try {
    const replay = (text: string) => replayConfig(parseConfig(text, 'c.json'), 'c.json', ['bdev'], (m, p) => table.call(m, p), () => undefined);
    await assert.rejects(replay('{"subsystems": [{"subsystem": "bdev", "config": [{"method": "bdev_malloc_create", "params": {"name": "a", "num_blocks": 8, "block_size": 4096}}, {"method": "bdev_malloc_create", "params": {"name": "b", "block_size": 4096}}]}]}'),
      /config c.json: subsystems\[0\] \(bdev\) config\[1\] bdev_malloc_create: .*missing required parameter "num_blocks"/);
    assert.throws(() => parseConfig('{"subsystems": [{"subsystem": "bdev", "config": [{"params": {}}]}]}', 'c.json'), /subsystems\[0\].config\[0\]: "method" must be a string/);
    assert.throws(() => parseConfig('{"subsystems": {}}', 'c.json'), /"subsystems" must be an array/);
    assert.throws(() => parseConfig('{"subsystems": [', 'c.json'), /is not valid JSON/);
    await assert.rejects(replay('{"subsystems": [{"subsystem": "nvmf", "config": [{"method": "nvmf_create_transport", "params": {}}]}]}'), /subsystem "nvmf" is not part of wstor/);
    assert.equal(await replay('{"subsystems": [{"subsystem": "accel", "config": []}, {"subsystem": "iobuf", "config": null}]}'), 0, 'empty foreign subsystems are skipped');
  } finally {
    await engine.stop();
  }
});
