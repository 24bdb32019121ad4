// Issue 15 with real guests (the shared QEMU harness, TCG): `wstor serve` started with NO --mem serves
// an 8 GiB guest, then four 2 GiB guests at once on one target, each writing 8 MiB to its own disk with
// O_DIRECT and verifying it (the harness's blk-verify-fio.sh, no fio). Guest RAM never enters the
// engine's memory, so its size is not the engine's business; QEMU allocates it lazily, so this costs
// the machine little. Runs when WSTOR_GUEST names a built guest and QEMU is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { skipIfMissing } from '../helpers/skip.js';
import { ROOT, HARNESS, guestSkipReason, runHarnessGuest } from '../helpers/guest-harness.js';

const MiB = 1 << 20;
const VERIFY = path.join(HARNESS, 'tests', 'blk-verify-fio.sh');

/** `wstor serve` (no --mem) with a 256 MiB file disk and a controller for each name, up once every socket is. */
async function serve(dir: string, names: string[]): Promise<{ child: ChildProcess; log: () => string }> {
  const bdevs = names.map((n) => {
    const file = path.join(dir, `${n}.img`);
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, 256 * MiB);
    return { method: 'bdev_aio_create', params: { name: `d-${n}`, filename: file } };
  });
  const ctrlrs = names.map((n, i) => ({ method: 'vhost_create_blk_controller', params: { ctrlr: n, dev_name: `d-${n}`, cpumask: i % 2 === 0 ? '0x1' : '0x2' } }));
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ subsystems: [{ subsystem: 'bdev', config: bdevs }, { subsystem: 'vhost_blk', config: ctrlrs }] }));
  const child = spawn(process.execPath, [path.join(ROOT, 'build', 'host', 'cli.js'), 'serve', '--config', config, '-S', dir, '-r', path.join(dir, 'rpc.sock'), '-m', '0x3'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  for (let i = 0; i < 400 && !names.every((n) => fs.existsSync(path.join(dir, n))); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(names.every((n) => fs.existsSync(path.join(dir, n))), `wstor serve is listening:\n${log}`);
  return { child, log: () => log };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function guest(sock: string, memMiB: number) {
  return runHarnessGuest(['-q', '2', '-m', String(memMiB), '-t', '300', '-b', sock, VERIFY, 'RT=0']);
}

test('wstor serve without --mem: one 8 GiB guest writes and verifies its disk', { timeout: 400_000 }, async (t) => {
  if (skipIfMissing(t, guestSkipReason() !== null, guestSkipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-e2e-big-'));
  const { child, log } = await serve(dir, ['big']);
  try {
    const r = await guest(path.join(dir, 'big'), 8192);
    assert.equal(r.code, 0, `${r.out}\n--- wstor:\n${log()}`);
    assert.match(r.out, /PATTERN_OK/);
    assert.doesNotMatch(log(), /could not be mapped|refused/, log());
  } finally {
    await stop(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('wstor serve without --mem: four 2 GiB guests at once on one target, each verifying its own disk', { timeout: 600_000 }, async (t) => {
  if (skipIfMissing(t, guestSkipReason() !== null, guestSkipReason() ?? '')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-e2e-four-'));
  const names = ['g0', 'g1', 'g2', 'g3'];
  const { child, log } = await serve(dir, names);
  try {
    const runs = await Promise.all(names.map((n) => guest(path.join(dir, n), 2048)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, `${names[i]}: ${r.out}\n--- wstor:\n${log()}`);
      assert.match(r.out, /PATTERN_OK/, names[i]);
    });
    assert.doesNotMatch(log(), /could not be mapped|refused/, log());
  } finally {
    await stop(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
