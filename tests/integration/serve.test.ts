// `wstor serve` as a child process, driven over its socket: the embedded default config, a config
// on a file with lvols that survive a restart (SIGTERM unloads cleanly: the next load needs no
// recovery), 100 concurrent clients, a bad config that stops start-up naming the entry, and refused
// listening addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../host/index.js';
import { RpcClient } from '../../host/rpc/index.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const MiB = 1 << 20;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

interface Served { child: ChildProcess; socket: string; stderr: () => string; exited: Promise<number | null> }

async function serve(dir: string, args: string[]): Promise<Served> {
  const socket = path.join(dir, `rpc-${Math.random().toString(36).slice(2)}.sock`);
  const child = spawn(process.execPath, [CLI, 'serve', '-r', socket, '--mem', '128MiB', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 300 && !/ready on/.test(err); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(err, /ready on/, `serve started (stderr: ${err})`);
  return { child, socket, stderr: () => err, exited };
}

/** A new temporary directory with a sparse 64 MiB disk.img in it. */
function dirWithDisk(): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-serve-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 64 * MiB);
  return { dir, file };
}

async function stop(s: Served): Promise<void> {
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0, `serve exits 0 on SIGTERM (stderr: ${s.stderr()})`);
  assert.match(s.stderr(), /stopped cleanly/);
  assert.equal(fs.existsSync(s.socket), false, 'the socket file is removed');
}

test('npm start\'s default: a malloc bdev with an lvstore and one lvol, reachable over the socket', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-serve-'));
  try {
    const s = await serve(dir, []);
    const c = await RpcClient.connect({ socket: s.socket });
    const bdevs = await c.call('bdev_get_bdevs') as Any[];
    assert.deepEqual(bdevs.map((b) => b.aliases[0] ?? b.name).sort(), ['Malloc0', 'lvs0/lvol0']);
    assert.equal((fs.statSync(s.socket).mode & 0o777), 0o600, 'the socket is 0600');
    c.close();
    await stop(s);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a config on a file: lvols made over RPC survive a restart, and SIGTERM leaves the store clean', async () => {
  const { dir, file } = dirWithDisk();
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ subsystems: [{ subsystem: 'bdev', config: [
    { method: 'bdev_aio_create', params: { name: 'disk', filename: file } },
    { method: 'bdev_wait_for_examine' },
  ] }] }));
  try {
    let s = await serve(dir, ['--config', config]);
    let c = await RpcClient.connect({ socket: s.socket });
    await c.call('bdev_lvol_create_lvstore', { bdev_name: 'disk', lvs_name: 'vg', cluster_sz: MiB });
    const uuid = await c.call('bdev_lvol_create', { lvs_name: 'vg', lvol_name: 'data', size_in_mib: 8, thin_provision: true });
    const saved = { subsystems: [{ subsystem: 'bdev', config: await c.call('framework_get_config', { name: 'bdev' }) }] };
    c.close();
    await stop(s);

    // The store was unloaded cleanly: loading it needs no recovery.
    const reports: string[] = [];
    const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'info', onReport: (r) => reports.push(r.message) });
    try {
      engine.bdev.createFile('f', { path: file });
      await (await engine.blobstore.load('f')).unload();
    } finally {
      await engine.stop();
    }
    assert.ok(!reports.some((m) => /not unloaded cleanly/.test(m)), `clean at exit (${reports.join('; ')})`);

    fs.writeFileSync(config, JSON.stringify(saved));
    s = await serve(dir, ['--config', config]);
    c = await RpcClient.connect({ socket: s.socket });
    const lvols = await c.call('bdev_lvol_get_lvols') as Any[];
    assert.deepEqual(lvols.map((l) => [l.alias, l.uuid]), [['vg/data', uuid]]);
    c.close();
    await stop(s);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('100 clients at once are each served', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-serve-'));
  try {
    const s = await serve(dir, ['--no-config']);
    const setup = await RpcClient.connect({ socket: s.socket });
    for (let i = 0; i < 10; i++) await setup.call('bdev_null_create', { name: `n${i}`, num_blocks: 1024, block_size: 4096 });
    setup.close();
    const results = await Promise.all(Array.from({ length: 100 }, async () => {
      const c = await RpcClient.connect({ socket: s.socket });
      try { return (await c.call('bdev_get_bdevs') as Any[]).length; } finally { c.close(); }
    }));
    assert.deepEqual(new Set(results), new Set([10]));
    await stop(s);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('start-up refuses a bad config naming the entry and field, and a non-loopback TCP address', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-serve-'));
  try {
    const config = path.join(dir, 'bad.json');
    fs.writeFileSync(config, JSON.stringify({ subsystems: [{ subsystem: 'bdev', config: [
      { method: 'bdev_malloc_create', params: { name: 'm', num_blocks: 64, block_size: 4096 } },
      { method: 'bdev_null_create', params: { name: 'n', num_blocks: 64, block_size: 'big' } },
    ] }] }));
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'serve', '-r', path.join(dir, 's.sock'), '--mem', '64MiB', ...args], { encoding: 'utf8', timeout: 30_000 });
    let r = run(['--config', config]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /config .*bad.json: subsystems\[0\] \(bdev\) config\[1\] bdev_null_create: .*"block_size" must be a whole number/);
    r = run(['--no-config', '--rpc-listen', '0.0.0.0:0']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--rpc-listen-any/);
    r = run(['--rpc-listen', 'nonsense']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--rpc-listen takes HOST:PORT/);
    r = run(['--sleep', 'nap']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--sleep must be kernel or doorbell \(got "nap"\)/);
    r = run(['--idle-spin-us', '2000000']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--idle-spin-us must be from 0 to 1000000/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an RPC socket path over 107 bytes, or in a directory that does not exist, stops start-up with a clear error and leaves nothing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-serve-'));
  try {
    const run = (socket: string) => spawnSync(process.execPath, [CLI, 'serve', '-r', socket, '--mem', '64MiB', '--no-config'],
      { encoding: 'utf8', timeout: 30_000 });
    const long = path.join(dir, `${'s'.repeat(120 - dir.length)}.sock`);
    let r = run(long);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`RPC socket path .* is ${Buffer.byteLength(long)} bytes; a unix socket path is at most 107 bytes`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(fs.readdirSync(dir), [], 'no socket file (truncated or not) is left behind');
    const missing = path.join(dir, 'no-such-dir');
    r = run(path.join(missing, 'rpc.sock'));
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`directory ${missing} does not exist`));
    assert.doesNotMatch(r.stderr, /EACCES|permission denied/);
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the last resort: an exception nothing caught is logged, lvstores are unloaded cleanly, and serve exits 70', async () => {
  const { dir, file } = dirWithDisk();
  // A serve whose code throws out of a timer after making an lvstore with an lvol (no such bug is known:
  // this stands in for one).
  const script = path.join(dir, 'crash.mjs');
  const serveJs = path.resolve(path.dirname(CLI), 'cli', 'serve.js');
  fs.writeFileSync(script, `
    import { Serve, parseServeArgs, installLastResort } from ${JSON.stringify(serveJs)};
    const serve = await Serve.start(parseServeArgs(['-r', ${JSON.stringify(path.join(dir, 'rpc.sock'))}, '--no-config', '--mem', '128MiB']));
    installLastResort(serve);
    await serve.methods.call('bdev_aio_create', { name: 'disk', filename: ${JSON.stringify(file)} });
    await serve.methods.call('bdev_lvol_create_lvstore', { bdev_name: 'disk', lvs_name: 'vg', cluster_sz: ${MiB} });
    await serve.methods.call('bdev_lvol_create', { lvs_name: 'vg', lvol_name: 'data', size_in_mib: 4 });
    setTimeout(() => { throw new Error('injected: a bug nothing caught'); }, 10);
  `);
  try {
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 70, r.stderr);
    assert.match(r.stderr, /uncaught exception: Error: injected: a bug nothing caught/);
    assert.match(r.stderr, /lvstores unloaded after the internal error/);
    assert.equal(fs.existsSync(path.join(dir, 'rpc.sock')), false, 'the socket is removed');
    const reports: string[] = [];
    const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'info', onReport: (rep) => reports.push(rep.message) });
    try {
      void engine.lvol;                 // examine from the first bdev on
      engine.bdev.createFile('f', { path: file });
      await engine.bdev.waitForExamine();
      const lvols = engine.lvol.list();
      assert.deepEqual(lvols.map((l) => l.alias), ['vg/data'], 'the lvstore and its lvol are there');
    } finally {
      await engine.stop();
    }
    assert.ok(!reports.some((m) => /not unloaded cleanly|recover/i.test(m)), `it was unloaded cleanly (${reports.join('; ')})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
