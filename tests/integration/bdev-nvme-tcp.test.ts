// The nvme bdev module against wstor's own target on loopback: attach makes NAMEnN bdevs that perf's
// verify jobs (one per reactor, each thread on its own I/O qpair) write and read back, with digests
// off and on and with I/O past the in-capsule size and MDTS; a target that vanishes mid-I/O fails
// every I/O once and later I/O with a clear report; detach with I/O in flight; refusals named.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../host/index.js';
import { nvmeControllersOf } from '../../host/bdev-nvme.js';
import { startTarget, stopTarget, SUBNQN, HOSTNQN, type Target } from '../helpers/nvmf-tcp-target.js';
import { runPerf } from '../helpers/perf-run.js';
import { freePort } from '../helpers/free-port.js';
import type { Report } from '../../host/index.js';

async function initiator(): Promise<{ engine: Engine; reports: Report[] }> {
  const reports: Report[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'error', onReport: (r) => reports.push(r) });
  return { engine, reports };
}

const attachTo = (t: Target, extra: Record<string, unknown> = {}) => ({
  name: 'Nvme0', trtype: 'tcp' as const, traddr: '127.0.0.1', trsvcid: String(t.port), subnqn: SUBNQN, hostnqn: HOSTNQN, ...extra,
});

for (const digests of [false, true]) {
  test(`bdev nvme: attach, verify on both reactors, small and past MDTS, detach (digests ${digests ? 'on' : 'off'})`, async () => {
    const target = await startTarget({ transport: { max_io_size: 131072, in_capsule_data_size: 4096 } });
    const { engine } = await initiator();
    try {
      const nvme = nvmeControllersOf(engine);
      const bdevs = await nvme.attach(attachTo(target, { hdgst: digests, ddgst: digests }));
      assert.deepEqual(bdevs, ['Nvme0n1'], 'one bdev per namespace, NAMEnN');
      const info = engine.bdev.info('Nvme0n1');
      assert.equal(info.blockSize, 512);
      assert.equal(info.blockCount, 65536);
      const [c] = nvme.list();
      assert.equal(c.state, 'ready');
      assert.ok(c.cntlid > 0);
      const small = await runPerf(engine, 'Nvme0n1', { workload: 'verify', seconds: 1, queueDepth: 16, ioBytes: 4096 });
      assert.ok(small.ios > 100, `I/O ran (${small.ios})`);
      assert.equal(small.errors, 0);
      assert.equal(small.mismatches, 0, 'every block read back as written');
      // 256 KiB: past the 4 KiB in-capsule size (R2T) and the 128 KiB MDTS (two commands per I/O).
      const large = await runPerf(engine, 'Nvme0n1', { workload: 'verify', seconds: 1, queueDepth: 4, ioBytes: 262144 });
      assert.ok(large.ios > 4, `large I/O ran (${large.ios})`);
      assert.equal(large.errors, 0);
      assert.equal(large.mismatches, 0);
      await nvme.detach('Nvme0');
      assert.equal(engine.bdev.exists('Nvme0n1'), false, 'its bdev is gone');
      assert.deepEqual(nvme.list(), []);
    } finally {
      await engine.stop();
      await stopTarget(target);
    }
  });
}

test('bdev nvme: a target that vanishes mid-I/O: I/O fails, nothing traps, later I/O fails with a clear report', async () => {
  const target = await startTarget();
  const { engine, reports } = await initiator();
  try {
    const nvme = nvmeControllersOf(engine);
    await nvme.attach(attachTo(target));
    const running = runPerf(engine, 'Nvme0n1', { workload: 'randwrite', seconds: 2, queueDepth: 32, ioBytes: 4096 });
    await new Promise((r) => setTimeout(r, 400));
    await stopTarget(target);
    const totals = await running;
    assert.ok(totals.errors > 0, `the I/O in flight and after failed (${totals.errors} errors of ${totals.ios})`);
    const after = await runPerf(engine, 'Nvme0n1', { workload: 'randread', seconds: 0.2, queueDepth: 4, ioBytes: 4096 });
    assert.ok(after.errors > 0, 'I/O on a controller that is gone fails');
    assert.equal(after.errors, after.ios, 'every one of them (perf counts failed I/Os among its ios)');
    assert.ok(reports.some((r) => /NVMe controller is unreachable/.test(r.message)), 'a report says why');
    assert.equal(nvme.list()[0].state, 'failed');
    await nvme.detach('Nvme0');
  } finally {
    await engine.stop();
  }
});

test('bdev nvme: detach with I/O in flight on both reactors completes, each I/O once', async () => {
  const target = await startTarget();
  const { engine } = await initiator();
  try {
    const nvme = nvmeControllersOf(engine);
    await nvme.attach(attachTo(target));
    const running = runPerf(engine, 'Nvme0n1', { workload: 'randwrite', seconds: 2, queueDepth: 32, ioBytes: 4096 });
    await new Promise((r) => setTimeout(r, 300));
    await nvme.detach('Nvme0');
    const totals = await running;
    assert.ok(totals.ios > 0, 'I/O ran before the detach');
    assert.equal(engine.bdev.exists('Nvme0n1'), false);
  } finally {
    await engine.stop();
    await stopTarget(target);
  }
});

test('bdev nvme: refusals are named: trtype pcie, bad traddr, connection refused, unknown subnqn, host not allowed, a name taken', async () => {
  const target = await startTarget();
  const { engine } = await initiator();
  try {
    const nvme = nvmeControllersOf(engine);
    const gone = await freePort();
    await assert.rejects(nvme.attach(attachTo(target, { trtype: 'pcie' })), (e: Error & { code?: string }) => e.code === 'ENOTSUP' && /pcie is not yet supported/.test(e.message));
    await assert.rejects(nvme.attach(attachTo(target, { traddr: 'localhost' })), (e: Error & { code?: string }) => e.code === 'EINVAL' && /not an IPv4 address/.test(e.message));
    await assert.rejects(nvme.attach(attachTo(target, { trsvcid: String(gone) })), (e: Error & { code?: string }) => e.code === 'ECONNREFUSED' && /nothing listens/.test(e.message));
    await assert.rejects(nvme.attach(attachTo(target, { subnqn: 'nqn.2016-06.io.spdk:nosuch' })), (e: Error & { code?: string }) => e.code === 'ENOENT' && /has no subsystem/.test(e.message));
    const e2 = target.engine;
    const str = (s: string) => { const b = Buffer.from(`${s}\0`); const p = e2.core.wstor_alloc(b.length) >>> 0; new Uint8Array(e2.memory.buffer, p, b.length).set(b); return p; };
    const closed = 'nqn.2016-06.io.spdk:closed';
    const sub2 = await e2.request('subsystem', (r) => e2.core.nvmf_subsystem_create(r, str(closed), str('SN2'), str('closed'), 32, 0, 1, 0xffef));
    await e2.request('sub listener', (r) => e2.core.nvmf_subsystem_listener_add(r, sub2, target.listenerId));
    await assert.rejects(nvme.attach(attachTo(target, { subnqn: closed })), (e: Error & { code?: string }) => e.code === 'EPERM' && /does not allow host/.test(e.message));
    await nvme.attach(attachTo(target));
    await assert.rejects(nvme.attach(attachTo(target)), (e: Error & { code?: string }) => e.code === 'EEXIST');
    await assert.rejects(nvme.detach('Nvme9'), (e: Error & { code?: string }) => e.code === 'ENODEV');
    assert.deepEqual(nvme.list().map((c) => c.name), ['Nvme0'], 'the refused ones left nothing behind');
    await nvme.detach('Nvme0');
  } finally {
    await engine.stop();
    await stopTarget(target);
  }
});
