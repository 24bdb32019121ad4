// Messages cannot be lost (issue 16): every lightweight thread gets a 2-entry message ring, so nearly
// every message between threads goes through the ring's overflow. The paths that used to improvise a
// fallback when a ring was full (completions on the wrong thread, ignored sends, log-only detaches,
// walks that ended early) run here end to end, with real reactors: lvol I/O verified from both
// reactors across snapshots, resizes, flushes, clone writes, inflate, decouple and a snapshot folded
// into its clone; a bdev hot-removed under I/O; a vhost guest's I/O on two queues and its controller's
// deletion; and a clean stop. Nothing may fail, mismatch, hang or report an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import type { Report } from '../../host/index.js';
import { runPerf } from '../helpers/perf-run.js';
import { VhostUserClient, BLK } from '../helpers/vhost-user-client.js';

const MiB = 1 << 20;

test('with 2-entry message rings everything still works: lvols, snapshots, hot remove, vhost, stop', async () => {
  const reports: Report[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, messageRingSize: 2, logLevel: 'warn', onReport: (r) => reports.push(r) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-tiny-rings-'));
  let stopped = false;
  try {
    engine.vhost.socketDir = dir;
    engine.bdev.createMalloc('m0', { blockCount: (96 * MiB) / 4096 });
    await engine.lvol.createLvstore('m0', 'lvs0', { clusterSize: MiB });
    await engine.lvol.create({ name: 'lvs0' }, 'vol', 8 * MiB, { thin: true });
    // Thin claims recorded on the md thread, freezes for snapshots and resizes, I/O held and restarted.
    const io = runPerf(engine, 'lvs0/vol', { seconds: 2, queueDepth: 16 });
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await engine.lvol.snapshot('lvs0/vol', `s${i}`);
      if (i % 2 === 1) await engine.lvol.resize('lvs0/vol', (8 + i) * MiB);
    }
    const r = await io;
    assert.ok(r.ios > 500 && r.errors === 0 && r.mismatches === 0, `verified lvol I/O across snapshots: ${JSON.stringify(r)}`);
    // Copy on write in a clone, then inflate and decouple (walks of every thread), then a snapshot
    // folded into its only clone (a walk after durable steps).
    const clone = await engine.lvol.clone('lvs0/s3', 'c0');
    const c = await runPerf(engine, 'lvs0/c0', { seconds: 1, queueDepth: 8 });
    assert.ok(c.errors === 0 && c.mismatches === 0, `clone I/O: ${JSON.stringify(c)}`);
    await engine.lvol.decoupleParent('lvs0/c0');
    await engine.lvol.inflate('lvs0/vol');
    await engine.lvol.delete('lvs0/c0');
    await engine.lvol.delete('lvs0/s0');
    assert.equal(engine.bdev.exists(clone), false);
    const after = await runPerf(engine, 'lvs0/vol', { seconds: 1, queueDepth: 8 });
    assert.ok(after.errors === 0 && after.mismatches === 0, `lvol I/O after the folds: ${JSON.stringify(after)}`);

    // A bdev removed under I/O: every descriptor hears of it, the I/O ends with errors, the delete answers.
    engine.bdev.createMalloc('m1', { blockCount: (16 * MiB) / 4096 });
    await engine.bdev.waitForExamine();         // examine opens m1 for write while it looks for an lvstore
    await engine.bdev.createError('e1', 'm1');
    const doomed = runPerf(engine, 'e1', { seconds: 2, queueDepth: 16, workload: 'randwrite' });
    await new Promise((res) => setTimeout(res, 200));
    await engine.bdev.delete('e1');
    const d = await doomed;
    assert.ok(d.ios > 0, `I/O ran before the removal (${JSON.stringify(d)})`);
    assert.equal(engine.bdev.exists('e1'), false);

    // A guest on two queues (ring attach and detach by message), then its controller deleted.
    engine.bdev.createMalloc('m2', { blockCount: (16 * MiB) / 4096 });
    await engine.vhost.createBlk('vb0', 'm2');
    const guest = await VhostUserClient.connect(path.join(dir, 'vb0'));
    await guest.setup(2);
    const data = Uint8Array.from({ length: 8192 }, (_, i) => (i * 13) & 0xff);
    for (let q = 0; q < 2; q++) {
      for (let k = 0; k < 16; k++) assert.equal((await guest.request(q, BLK.OUT, BigInt((q * 16 + k) * 16), { data })).status, 0, `queue ${q}: write ${k}`);
      const back = await guest.request(q, BLK.IN, BigInt(q * 16 * 16), { readBytes: 8192 });
      assert.deepEqual(back.data, data, `queue ${q}: read back`);
    }
    guest.close();
    await engine.vhost.delete('vb0', { force: true });

    await engine.lvol.deleteLvstore({ name: 'lvs0' });
    await engine.stop();
    stopped = true;
    const bad = reports.filter((x) => x.level === 'error' || x.level === 'fatal')
      .filter((x) => !/bdev e1|removed|hot remov|the guest disconnected/.test(x.message));
    assert.deepEqual(bad.map((x) => x.message), [], 'no error but the removal\'s own');
  } finally {
    if (!stopped) await engine.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
