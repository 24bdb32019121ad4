// A real Linux guest (the shared QEMU harness, TCG) keeps its disk in wstor through vhost-user-blk:
// an ext file system written, the guest powered off and wstor restarted, then a new boot that finds
// every file intact; fio random writes verified on 2 queues with flushes and a discard; and LESSONS 2
// with two controllers on one reactor, one deleted (refused, then forced) while the guest's I/O on the
// other goes on. Runs when WSTOR_GUEST names a built guest (build-guest.sh) and QEMU is installed:
// .ci/run sets that up; elsewhere each test says it is skipped and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, WstorError } from '../../host/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const HARNESS = process.env.WSTOR_HARNESS ?? path.resolve(ROOT, '..', 'shared', 'harness');
const GUEST = process.env.WSTOR_GUEST;
const SCRIPTS = path.join(ROOT, 'tests', 'guest');
const MiB = 1 << 20;

function skipReason(): string | null {
  if (!GUEST) return 'WSTOR_GUEST is not set (build a guest with the harness\'s build-guest.sh; .ci/run does)';
  if (!fs.existsSync(path.join(GUEST, 'vmlinuz'))) return `no guest in ${GUEST}`;
  if (!fs.existsSync(path.join(HARNESS, 'run-guest.sh'))) return `no harness at ${HARNESS} (set WSTOR_HARNESS)`;
  if (spawnSync('qemu-system-x86_64', ['--version']).error) return 'qemu-system-x86_64 is not installed';
  return null;
}

interface GuestRun { code: number | null; out: string }

/** Boot the guest on `socks` with `script`; `onLine` sees the console as it comes. */
function runGuest(socks: string[], script: string, vars: string[], onLine: (line: string) => void = () => undefined): Promise<GuestRun> {
  const args = ['-g', GUEST!, '-q', '2', '-m', '512', '-t', '240', ...socks.flatMap((s) => ['-b', s]), path.join(SCRIPTS, script), ...vars];
  const child = spawn(path.join(HARNESS, 'run-guest.sh'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', partial = '';
  const take = (d: Buffer) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) onLine(l);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
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

test('an ext file system survives a guest power-off and a wstor restart; fio verifies writes on 2 queues with flushes and a discard', { skip: skipReason() ?? false }, async () => {
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

test('LESSONS 2: two controllers on one reactor; deleting B (refused, then forced) never stops the guest\'s I/O on A', { skip: skipReason() ?? false }, async () => {
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
