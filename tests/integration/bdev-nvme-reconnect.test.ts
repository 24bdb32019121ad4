// The nvme bdev's reset and reconnect: bdev_nvme_reset_controller under I/O on both reactors, and a
// target killed and started again on the same port (a file namespace, so its data stays): I/O is held
// and resumes, a verify run reads back everything written (nothing acknowledged is lost); past
// ctrlr_loss_timeout_sec the controller fails its I/O; past fast_io_fail_timeout_sec held I/O fails.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import { nvmeControllersOf } from '../../host/bdev-nvme.js';
import { startTarget, stopTarget, SUBNQN, HOSTNQN, type Target } from '../helpers/nvmf-tcp-target.js';
import { runPerf } from '../helpers/perf-run.js';
import { until } from '../helpers/rpc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function diskFile(): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-nvme-reconnect-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 32 << 20);
  return { dir, file };
}

const attachTo = (t: Target, extra: Record<string, unknown> = {}) => ({
  name: 'Nvme0', trtype: 'tcp' as const, traddr: '127.0.0.1', trsvcid: String(t.port), subnqn: SUBNQN, hostnqn: HOSTNQN, ...extra,
});

test('bdev nvme: bdev_nvme_reset_controller under verify I/O on both reactors: nothing fails, nothing lost', async () => {
  const target = await startTarget();
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    const nvme = nvmeControllersOf(engine);
    await nvme.attach(attachTo(target));        // the default policy (no reconnect after a loss): an asked-for reset still holds I/O
    const running = runPerf(engine, 'Nvme0n1', { workload: 'verify', seconds: 2, queueDepth: 16, ioBytes: 4096 });
    for (let i = 0; i < 3; i++) { await sleep(300); await nvme.reset('Nvme0'); }
    const totals = await running;
    assert.equal(nvme.resets('Nvme0'), 3, 'three resets done');
    assert.ok(totals.ios > 100, `I/O ran (${totals.ios})`);
    assert.equal(totals.errors, 0, 'held and retried, none failed');
    assert.equal(totals.mismatches, 0, 'every block read back as written');
    assert.equal(nvme.list()[0].state, 'ready');
    await nvme.detach('Nvme0');
  } finally {
    await engine.stop();
    await stopTarget(target);
  }
});

test('bdev nvme: the target killed and started again on its port: I/O is held, resumes, nothing acknowledged lost', async () => {
  const { dir, file } = diskFile();
  let target = await startTarget({ file });
  const port = target.port;
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    const nvme = nvmeControllersOf(engine);
    await nvme.attach({ ...attachTo(target), ctrlrLossTimeoutSec: 20, reconnectDelaySec: 1 });
    const running = runPerf(engine, 'Nvme0n1', { workload: 'verify', seconds: 4, queueDepth: 16, ioBytes: 4096 });
    await sleep(600);
    await stopTarget(target);
    await until(() => nvme.list()[0].state === 'resetting', 'the host sees the loss', 10_000);
    await sleep(1200);
    target = await startTarget({ file, port });
    await until(() => nvme.list()[0].state === 'ready', 'reconnected', 20_000);
    const totals = await running;
    assert.ok(nvme.resets('Nvme0') >= 1, 'a reconnect');
    assert.equal(totals.errors, 0, 'held I/O resumed, none failed');
    assert.equal(totals.mismatches, 0, 'what was acknowledged reads back');
    await nvme.detach('Nvme0');
  } finally {
    await engine.stop();
    await stopTarget(target).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bdev nvme: past fast_io_fail_timeout_sec held I/O fails; past ctrlr_loss_timeout_sec the controller is failed', async () => {
  const target = await startTarget();
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    const nvme = nvmeControllersOf(engine);
    await nvme.attach({ ...attachTo(target), ctrlrLossTimeoutSec: 3, reconnectDelaySec: 1, fastIoFailTimeoutSec: 1 });
    await stopTarget(target);
    await until(() => nvme.list()[0].state === 'resetting', 'the host sees the loss', 10_000);
    const started = Date.now();
    const held = await runPerf(engine, 'Nvme0n1', { workload: 'randread', seconds: 0.2, queueDepth: 4, ioBytes: 4096 });
    assert.ok(held.errors > 0 && held.errors === held.ios, 'held I/O failed once fast_io_fail passed');
    assert.ok(Date.now() - started >= 500, 'after being held a while');
    await until(() => nvme.list()[0].state === 'failed', 'the controller given up on', 10_000);
    await assert.rejects(nvme.attach({ ...attachTo(target, { name: 'Nvme1' }), ctrlrLossTimeoutSec: 2, reconnectDelaySec: 3 }), /reconnect_delay_sec 3 is over ctrlr_loss_timeout_sec 2/);
    await nvme.detach('Nvme0');
  } finally {
    await engine.stop();
  }
});
