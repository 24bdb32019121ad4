// A real Linux guest (the shared QEMU harness, TCG) keeps its disk in wstor through vhost-user-blk:
// an ext file system written, the guest powered off and wstor restarted, then a new boot that finds
// every file intact; fio random writes verified on 2 queues with flushes and a discard; LESSONS 2
// with two controllers on one reactor, one deleted (refused, then forced) while the guest's I/O on the
// other goes on; and `wstor serve` killed and restarted under the guest's verified writes, QEMU
// reconnecting (reconnect=1) and the writes in flight resubmitted. Runs when WSTOR_GUEST names a built guest (build-guest.sh) and QEMU is installed:
// .ci/run sets that up; elsewhere each test says it is skipped and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, WstorError } from '../../host/index.js';
import { skipIfMissing } from '../helpers/skip.js';
import { ROOT, guestSkipReason, runHarnessGuest, type GuestRun } from '../helpers/guest-harness.js';

const SCRIPTS = path.join(ROOT, 'tests', 'guest');
const MiB = 1 << 20;
const skipReason = guestSkipReason;


/** Boot the guest on `socks` with `script`; `onLine` sees the console as it comes. */
function runGuest(socks: string[], script: string, vars: string[], onLine?: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env): Promise<GuestRun> {
  return runHarnessGuest(['-q', '2', '-m', '512', '-t', '240', ...socks.flatMap((s) => ['-b', s]), path.join(SCRIPTS, script), ...vars], onLine, env);
}

async function startEngine(dir: string): Promise<Engine> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 2048 * MiB, logLevel: 'error' });
  engine.vhost.socketDir = dir;
  void engine.lvol;
  return engine;
}

/** A file with an lvstore on it and thin lvols `names` of `mib` MiB each, served by one controller each. */
async function serveLvols(engine: Engine, file: string, names: string[], mib: number, create: boolean, cpumask = '0x1'): Promise<void> {
  engine.bdev.createFile('disk', { path: file });
  await engine.bdev.waitForExamine();
  if (create) {
    await engine.lvol.createLvstore('disk', 'vg', { clusterSize: MiB });
    for (const n of names) await engine.lvol.create({ name: 'vg' }, n, mib * MiB, { thin: true });
  }
  for (const n of names) await engine.vhost.createBlk(n, `vg/${n}`, { cpumask });
}

function tempFile(dir: string, mib: number): string {
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, mib * MiB);
  return file;
}

test('an ext file system survives a guest power-off and a wstor restart; fio verifies writes on 2 queues with flushes and a discard', async (t) => {
  if (skipIfMissing(t, skipReason() !== null, skipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-e2e-'));
  const file = tempFile(dir, 512);
  try {
    let engine = await startEngine(dir);
    try {
      await serveLvols(engine, file, ['root'], 256, true);
      const r = await runGuest([path.join(dir, 'root')], 'fs-write.sh', []);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /FS_WRITTEN files=16/);
    } finally {
      await engine.stop();                 // controllers deleted, the lvstore unloaded cleanly
    }
    engine = await startEngine(dir);
    try {
      await serveLvols(engine, file, ['root'], 256, false);
      let r = await runGuest([path.join(dir, 'root')], 'fs-verify.sh', []);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /FS_OK 16 files/);
      r = await runGuest([path.join(dir, 'root')], 'fio-verify.sh', []);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /2 queue\(s\)/);
      assert.match(r.out, /FIO_VERIFY_OK \d+ jobs/);
      assert.match(r.out, /DISCARD_OK/);
      const [c] = engine.vhost.list('root');
      assert.equal(c.failedRequests, 0, 'no request failed');
    } finally {
      await engine.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('LESSONS 2: two controllers on one reactor; deleting B (refused, then forced) never stops the guest\'s I/O on A', async (t) => {
  if (skipIfMissing(t, skipReason() !== null, skipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-e2e-'));
  const file = tempFile(dir, 256);
  const engine = await startEngine(dir);
  try {
    await serveLvols(engine, file, ['A', 'B'], 64, true, '0x1');
    let deleted: Promise<string> | null = null;
    const r = await runGuest([path.join(dir, 'A'), path.join(dir, 'B')], 'two-disks.sh', ['SECS=12'], (line) => {
      if (!line.includes('TWO_DISKS_READY') || deleted) return;
      deleted = (async () => {
        await new Promise((res) => setTimeout(res, 3000));
        await assert.rejects(engine.vhost.delete('B'), (e: WstorError) => e.code === 'EBUSY');
        await new Promise((res) => setTimeout(res, 1000));
        const t = performance.now();
        await engine.vhost.delete('B', { force: true });
        return `forced delete took ${(performance.now() - t).toFixed(1)} ms`;
      })();
    });
    assert.ok(deleted, `the guest started its I/O (${r.out})`);
    const note = await deleted!;
    assert.equal(r.code, 0, r.out);
    const seconds = [...r.out.matchAll(/A_IOPS (\d+) (\d+)/g)].map((m) => Number(m[2]));
    assert.ok(seconds.length >= 10, `a count for each second (${seconds.length}; ${note})`);
    assert.ok(seconds.every((n) => n > 0), `A did I/O every second: ${seconds.join(' ')} (${note})`);
    assert.deepEqual(engine.vhost.list().map((c) => c.name), ['A']);
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * run-guest.sh has no option for the chardev's reconnect=: a qemu-system-x86_64 first on PATH adds it
 * to each vhost-user socket and runs the real one.
 */
function qemuWithReconnect(dir: string): NodeJS.ProcessEnv {
  const real = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).stdout.trim();
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'qemu-system-x86_64'), `#!/bin/bash
a=(); for x in "$@"; do [[ $x == socket,id=vub* ]] && x="$x,reconnect=1"; a+=("$x"); done
exec ${real} "\${a[@]}"
`, { mode: 0o755 });
  return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
}

/** `wstor serve` on `file` with one controller at `sock` (scripts/vhost-backend.sh), up once the socket is. */
async function serveFile(sock: string, file: string): Promise<ChildProcess> {
  fs.rmSync(sock, { force: true });
  const child = spawn(path.join(ROOT, 'scripts', 'vhost-backend.sh'), [sock, file], { stdio: 'ignore', env: { ...process.env, WSTOR_MEM: '1GiB' } });
  for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(sock), 'wstor serve is listening');
  return child;
}

test('wstor serve killed under the guest\'s verified writes and started again: QEMU reconnects and no write is lost', async (t) => {
  if (skipIfMissing(t, skipReason() !== null, skipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-e2e-'));
  const file = tempFile(dir, 256);
  const sock = path.join(dir, 'vb0');
  let serve = await serveFile(sock, file);
  try {
    let restart: Promise<string> | null = null;
    let restartedAt = Infinity, fioDoneAt = 0;
    const r = await runGuest([sock], 'reconnect.sh', [], (line) => {
      if (line.includes('RECONNECT_FIO_OK')) fioDoneAt = performance.now();
      if (!line.includes('RECONNECT_GO') || restart) return;
      restart = (async () => {
        await new Promise((res) => setTimeout(res, 1500));          // the writes are under way
        const killed = new Promise((res) => serve.once('exit', res));
        serve.kill('SIGKILL');
        await killed;
        const t = performance.now();
        serve = await serveFile(sock, file);
        restartedAt = performance.now();
        return `restarted in ${(restartedAt - t).toFixed(0)} ms`;
      })();
    }, qemuWithReconnect(dir));
    assert.ok(restart, `the guest started its writes (${r.out})`);
    const note = await restart!;
    assert.equal(r.code, 0, `${note}\n${r.out}`);
    assert.match(r.out, /2 queue\(s\)/);
    assert.match(r.out, /RECONNECT_FIO_OK \d+ jobs/, note);
    assert.ok(restartedAt < fioDoneAt, `wstor was killed and back while the guest's writes ran (${note})`);
  } finally {
    serve.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
