// Where an idle reactor sleeps (EngineOptions.sleep). In the kernel (the default with the addon) a
// completion of the reactor's own io_uring and a guest's kick end its sleep, so a reactor waiting only
// for I/O or for a guest need not poll; on the doorbell it must. A scripted guest (the vhost-user
// client) drives a controller over an O_DIRECT file; in the kernel test each reactor spins 0 µs and
// may sleep 10 s, so only the right wake finishes the work in time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, WstorError } from '../../host/index.js';
import { VhostUserClient, BLK } from '../helpers/vhost-user-client.js';

const MiB = 1 << 20;
const LONG_SLEEP_US = 10_000_000;

/** A file on a disk (O_DIRECT I/O completes later than its submission; tmpfs would complete at once). */
function diskFile(bytes: number): string {
  const dir = fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir();
  const file = path.join(dir, `wstor-sleep-${process.pid}-${Date.now()}.img`);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, bytes);
  return file;
}

function sleepLong(engine: Engine): void {
  for (let i = 0; i < engine.reactorCount; i++) engine.core.reactor_set_idle_policy(i, 0, LONG_SLEEP_US);
}

/**
 * Run `body` with an engine (`sleep` as given), a vhost controller over an O_DIRECT file bdev, and a
 * scripted guest on it (its buffers are page-aligned); everything is removed afterwards.
 */
async function withGuestOnFile(sleep: 'kernel' | 'doorbell', body: (engine: Engine, c: VhostUserClient) => Promise<void>): Promise<void> {
  const file = diskFile(16 * MiB);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-sleep-'));
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'fatal', sleep });
  let c: VhostUserClient | null = null;
  try {
    engine.vhost.socketDir = dir;
    assert.equal(engine.bdev.createFile('f0', { path: file, direct: true }).direct, true, 'O_DIRECT on this file system');
    await engine.vhost.createBlk('vb0', 'f0');
    c = await VhostUserClient.connect(path.join(dir, 'vb0'));
    await c.setup();
    await body(engine, c);
  } finally {
    c?.close();
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(file, { force: true });
  }
}

/** `count` requests one at a time, alternately writing a block and reading it back. */
async function oneAtATime(c: VhostUserClient, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const sector = BigInt((i % 256) * 8);
    const data = new Uint8Array(4096).fill(i & 0xff);
    assert.equal((await c.request(0, BLK.OUT, sector, { data })).status, 0);
    const back = await c.request(0, BLK.IN, sector, { readBytes: 4096 });
    assert.equal(back.status, 0);
    assert.deepEqual(back.data, data);
  }
}

test('a reactor sleeping in the kernel wakes on a guest\'s kick and on its I/O completions', () => withGuestOnFile('kernel', async (engine, c) => {
  sleepLong(engine);
  await new Promise((r) => setTimeout(r, 50));          // the reactors now sleep with the new policy
  const before = engine.reactorStats();
  const started = performance.now();
  // Each request is kicked into an idle ring and waits for an O_DIRECT completion: with a 10 s
  // sleep cap, a kick or a completion that did not end the sleep would show as a 10 s stall.
  await oneAtATime(c, 50);
  const took = performance.now() - started;
  const after = engine.reactorStats();
  const slept = after.reduce((n, s, i) => n + s.sleeps - before[i].sleeps, 0);
  const loops = after.reduce((n, s, i) => n + s.loops - before[i].loops, 0);
  assert.ok(took < 8_000, `100 requests one at a time took ${took.toFixed(0)} ms`);
  assert.ok(c.kicks[0] >= 50, `the idle ring asked for a kick before each request (${c.kicks[0]} kicks)`);
  assert.ok(slept >= 100, `the reactors slept between requests (${slept} sleeps)`);
  // Polling for the completions instead of sleeping costs a loop per microsecond of I/O (measured:
  // 9,000-17,000 loops here, against ~800 when asleep); timed pollers (the controller's messages,
  // every 250 µs) add a few loops per millisecond.
  const bound = 3_000 + 8 * took;
  assert.ok(loops < bound, `the reactors slept while the I/O was in flight (${loops} loops, bound ${bound.toFixed(0)})`);
}));

test('on the doorbell, reactors poll rings and I/O in flight, and the guest never needs to kick', () => withGuestOnFile('doorbell', async (_engine, c) => {
  await new Promise((r) => setTimeout(r, 50));
  await oneAtATime(c, 20);
  // EVENT_IDX starts with avail_event 0, which the first request passes; none after it.
  assert.ok(c.kicks[0] <= 1, `kicks stay suppressed: the keepalive poller looks at the ring (${c.kicks[0]} kicks)`);
}));

test('sleep must be kernel or doorbell', async () => {
  await assert.rejects(Engine.start({ reactors: 1, sleep: 'nap' as 'kernel' }), (e: WstorError) =>
    e.code === 'EINVAL' && /sleep must be 'kernel' or 'doorbell'/.test(e.message));
});
