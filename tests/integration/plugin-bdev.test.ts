// Plugin bdevs on real reactors: a pass-through plugin under a verify workload on two reactors over a
// malloc and over a file bdev (what reaches the file is the plugin's output); a hostile plugin failing
// its own bdev while other bdevs on the same reactors keep serving; the RPCs and the config round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import type { Report } from '../../host/index.js';
import { Target } from '../../host/serve/target.js';
import { MethodTable } from '../../host/rpc/methods/index.js';
import { parseConfig, replayConfig, saveConfig } from '../../host/serve/config.js';
import { runPerf } from '../helpers/perf-run.js';
import { pluginBytes } from '../helpers/plugin-wat.js';
import { builtPlugin, withDiskFile } from '../helpers/plugin-files.js';
import { reportsMatching } from '../helpers/engine.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

async function withEngine(body: (engine: Engine, reports: Report[]) => Promise<void>): Promise<void> {
  const reports: Report[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'info', onReport: (r) => reports.push(r) });
  try {
    await body(engine, reports);
  } finally {
    await engine.stop();
  }
}

function tempDir(): string { return fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-plugin-')); }

test('a pass-through plugin under verify I/O on two reactors, over malloc and over a file: no errors, no mismatches; the file holds the plugin\'s output', () =>
  withEngine((engine, reports) => withDiskFile(8 << 20, async (file) => {
    engine.bdev.createMalloc('m0', { blockCount: 4096 });
    engine.bdev.createFile('f0', { path: file });
    await engine.bdev.createPlugin('pm', 'm0', { module: pluginBytes() });
    await engine.bdev.createPlugin('pf', 'f0', { module: pluginBytes() });
    for (const bdev of ['pm', 'pf']) {
      const totals = await runPerf(engine, bdev, { workload: 'verify', seconds: 1, queueDepth: 8, ioBytes: 16384 });
      assert.ok(totals.ios > 100, `${bdev}: ${totals.ios} I/Os`);
      assert.equal(totals.errors, 0, `${bdev}: ${reports.filter((r) => r.level === 'error').map((r) => r.message).join('; ')}`);
      assert.equal(totals.mismatches, 0);
    }
    // Blob data through the plugin: the file has its bytes inverted, never as written.
    const bs = await engine.blobstore.init('pf', { clusterSize: 64 << 10 });
    const blob = await bs.open(await bs.create({ size: 256 << 10 }));
    const data = Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 17) & 0xff);
    await blob.write(0, data);
    assert.deepEqual(await blob.read(0, 4096), data);
    await blob.close();
    await bs.unload();
    await engine.bdev.delete('pf');
    const disk = fs.readFileSync(file);
    const find = (needle: Uint8Array) => disk.indexOf(Buffer.from(needle));
    assert.equal(find(data), -1, 'the plain data is nowhere in the file');
    assert.ok(find(data.map((x) => x ^ 0xff)) >= 0, 'the plugin\'s output is');
    assert.ok(engine.bdev.exists('f0') && !engine.bdev.exists('pf'));
  })));

test('over an O_DIRECT file (4 KiB alignment), a plugin with metadata in the tail: verify I/O is clean', () =>
  withEngine((engine, reports) => withDiskFile(8 << 20, async (file) => {
    const { direct } = engine.bdev.createFile('d0', { path: file, direct: true });
    assert.equal(direct, true, 'the temporary directory\'s file system takes O_DIRECT');
    await engine.bdev.createPlugin('pd', 'd0', { module: builtPlugin('crc32c.wasm') });
    assert.equal(engine.bdev.info('pd').blockCount, 2046, '2048 blocks: 2046 of data, 2 of their 4-byte sums');
    const totals = await runPerf(engine, 'pd', { workload: 'verify', seconds: 1, queueDepth: 8, ioBytes: 8192 });
    assert.ok(totals.ios > 100);
    assert.equal(totals.errors + totals.mismatches, 0, `${reports.filter((r) => r.level === 'error').map((r) => r.message).join('; ')}`);
  })));

test('a plugin that loops forever fails its own bdev after max_traps; a bdev beside it on the same reactors keeps serving', () =>
  withEngine(async (engine, reports) => {
    engine.bdev.createMalloc('m1', { blockCount: 2048 });
    engine.bdev.createMalloc('m2', { blockCount: 2048 });
    await engine.bdev.createPlugin('bad', 'm1', { module: pluginBytes({ ioPrologue: '(loop $forever (br $forever))' }), fuel: 2_000_000, maxTraps: 4 });
    const [bad, good] = await Promise.all([
      runPerf(engine, 'bad', { workload: 'randwrite', seconds: 1, queueDepth: 4 }),
      runPerf(engine, 'm2', { workload: 'verify', seconds: 1, queueDepth: 8 }),
    ]);
    assert.ok(good.ios > 1000, `the good bdev did ${good.ios} I/Os`);
    assert.equal(good.errors + good.mismatches, 0);
    assert.equal(bad.ios, bad.errors, 'every I/O on the hostile plugin\'s bdev failed');
    const info = engine.bdev.info('bad');
    assert.equal(info.plugin!.failed, true);
    assert.ok(info.plugin!.traps >= 4 && info.plugin!.traps <= 4 + 2 * 4, `${info.plugin!.traps} overruns: the budget, plus those in flight on each reactor`);
    assert.equal((await reportsMatching(reports, /bad: its plugin trapped or ran out of fuel/)).length, 1);
    assert.ok(reports.some((r) => /plugin bad: wstor_io ran past its time budget/.test(r.message)));
    const base = await runPerf(engine, 'm2', { workload: 'verify', seconds: 1 });
    assert.equal(base.errors, 0);
    await engine.bdev.delete('bad');
    const m1 = await runPerf(engine, 'm1', { workload: 'verify', seconds: 1 });
    assert.equal(m1.errors + m1.mismatches, 0, 'its base serves again once the plugin bdev is gone');
  }));

test('bdev_plugin_create / get_plugins / delete, errors named, and the config round trip', async () => {
  const dir = tempDir();
  const modulePath = path.join(dir, 'invert.wasm');
  fs.writeFileSync(modulePath, pluginBytes());
  fs.writeFileSync(path.join(dir, 'hostile.wasm'), pluginBytes({ imports: '(import "env" "memory" (memory 1))', memory: '(export "memory" (memory 0))' }));
  let engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  let table = new MethodTable(new Target(engine, {}));
  let saved = '';
  try {
    await table.call('bdev_malloc_create', { name: 'm0', num_blocks: 1024, block_size: 4096 });
    await table.call('bdev_plugin_create', { name: 'p0', base_bdev_name: 'm0', module: modulePath, config: { key: 'k' }, fuel: 5_000_000, max_traps: 7 });
    const listed = await table.call('bdev_plugin_get_plugins', {}) as Any[];
    assert.deepEqual(listed, [{ name: 'p0', base_bdev_name: 'm0', module: modulePath, config: { key: 'k' }, fuel: 5_000_000, memory_pages: 64,
      max_traps: 7, trap_window_ms: 10_000, meta_bytes_per_block: 0, traps: 0, state: 'serving' }]);
    const bdevs = await table.call('bdev_get_bdevs', { name: 'p0' }) as Any[];
    assert.equal(bdevs[0].product_name, 'Wasm plugin');
    assert.equal(bdevs[0].supported_io_types.unmap, false);
    await assert.rejects(table.call('bdev_plugin_create', { name: 'p1', base_bdev_name: 'm0', module: path.join(dir, 'none.wasm') }), /plugin module .*none\.wasm could not be read/);
    await table.call('bdev_malloc_create', { name: 'm1', num_blocks: 64, block_size: 4096 });
    await assert.rejects(table.call('bdev_plugin_create', { name: 'p1', base_bdev_name: 'm1', module: path.join(dir, 'hostile.wasm') }), /plugin refused: it imports memory env\.memory/);
    await assert.rejects(table.call('bdev_plugin_create', { name: 'p1', base_bdev_name: 'm0', module: modulePath }), /claim|EPERM/i, 'm0 is claimed by p0');
    await assert.rejects(table.call('bdev_plugin_create', { name: 'p1', base_bdev_name: 'm1', module: modulePath, memory_pages: 2 }), /may grow to 4 pages, above this bdev's limit of 2 pages/);
    assert.ok(!engine.bdev.exists('p1'), 'no refused create left a bdev');
    saved = JSON.stringify(await saveConfig(['bdev'], (name) => table.call('framework_get_config', { name })));
    assert.match(saved, /"method":"bdev_plugin_create"/);
  } finally {
    await engine.stop();
  }
  engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  table = new MethodTable(new Target(engine, {}));
  try {
    await replayConfig(parseConfig(saved, 'saved.json'), 'saved.json', ['bdev'], (m, p) => table.call(m, p), () => undefined);
    const listed = await table.call('bdev_plugin_get_plugins', { name: 'p0' }) as Any[];
    assert.equal(listed[0].max_traps, 7);
    assert.deepEqual(listed[0].config, { key: 'k' });
    const totals = await runPerf(engine, 'p0', { workload: 'verify', seconds: 1 });
    assert.equal(totals.errors + totals.mismatches, 0);
    assert.equal(await table.call('bdev_plugin_delete', { name: 'p0' }), true);
    assert.deepEqual(await table.call('bdev_plugin_get_plugins', {}), []);
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
