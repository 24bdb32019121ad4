// LESSONS 5 for the NVMe driver: detach, reset and the target dropping (and coming back) while other
// threads keep admin commands in flight against the controller and perf runs I/O on every reactor.
// The controller and its admin qpair belong to the app thread, each I/O qpair to its thread; admin
// requests from elsewhere go by message and name the controller by id (tests/core/nvme-driver-stress-hooks.ts).
// Checked: no reactor traps, every admin request is called back exactly once, every perf run ends.
// WSTOR_NVME_SOAK_CYCLES lengthens it (`npm run soak:nvme`: 100000); WSTOR_NVME_SOAK_SEED replays one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startTestEngine } from '../helpers/engine.js';
import { nvmeControllersOf } from '../../host/bdev-nvme.js';
import { startTarget, stopTarget, SUBNQN, HOSTNQN, type Target } from '../helpers/nvmf-tcp-target.js';
import { runPerf } from '../helpers/perf-run.js';
import { until } from '../helpers/rpc.js';

const CYCLES = Number(process.env.WSTOR_NVME_SOAK_CYCLES ?? 9);
const SEED = Number(process.env.WSTOR_NVME_SOAK_SEED ?? Date.now() % 100000);
const LOAD = { submitted: 0, completed: 1, doubles: 2, ok: 3, inFlight: 4, stopped: 5 } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small LCG: the seed replays the same sequence of operations. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s >>> 8; };
}

test(`nvme driver stress: detach, reset, target drop under admin load from other threads and I/O on every reactor (${CYCLES} cycles, seed ${SEED})`, { timeout: Math.max(120_000, CYCLES * 3000) }, async () => {
  const rand = rng(SEED);
  let target: Target = await startTarget();
  const port = target.port;
  const t = await startTestEngine({ logLevel: 'fatal' });
  const counts = { reset: 0, detach: 0, drop: 0 };
  try {
    const nvme = nvmeControllersOf(t.engine);
    const attach = () => nvme.attach({
      name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: String(port), subnqn: SUBNQN, hostnqn: HOSTNQN,
      ctrlrLossTimeoutSec: -1, reconnectDelaySec: 1,
    });
    await attach();
    const loads = [0, 1].map((r) => t.core.hn_admin_load_start(t.core.t_thread_create(r), nvme.adminId('Nvme0'), 8));
    const kick = () => { for (const l of loads) t.core.hn_admin_load_kick(l, nvme.list().length > 0 ? nvme.adminId('Nvme0') : 0); };
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const perf = runPerf(t.engine, 'Nvme0n1', { workload: 'randwrite', seconds: 0.3, queueDepth: 16, ioBytes: 4096 });
      kick();
      await sleep(20 + (rand() % 100));
      const op = rand() % 3;
      if (op === 0) {
        counts.reset++;
        await nvme.reset('Nvme0');
      } else if (op === 1) {
        counts.detach++;
        await nvme.detach('Nvme0');
        await perf.catch(() => undefined);
        await attach();
      } else {
        counts.drop++;
        await stopTarget(target);
        await until(() => nvme.list()[0].state === 'resetting', 'the loss seen', 10_000);
        target = await startTarget({ port });
        await until(() => nvme.list()[0].state === 'ready', 'reconnected', 20_000);
      }
      kick();
      await perf.catch(() => undefined);
    }
    for (const l of loads) t.core.hn_admin_load_stop(l);
    kick();
    await until(() => loads.every((l) => t.core.hn_admin_load_stat(l, LOAD.stopped) === 1), 'the admin loads drain', 20_000);
    for (const l of loads) {
      const s = (w: number) => t.core.hn_admin_load_stat(l, w);
      assert.equal(s(LOAD.doubles), 0, 'no admin request called back twice');
      assert.equal(s(LOAD.completed), s(LOAD.submitted), 'every admin request called back');
      assert.ok(s(LOAD.ok) > 0, 'admin requests got through between the storms');
    }
    await nvme.detach('Nvme0');
    assert.ok(counts.reset + counts.detach + counts.drop === CYCLES);
    assert.ok(!t.reports.some((r) => /trapped/.test(r.message)), 'no reactor trapped');
  } finally {
    await t.engine.stop();       // rejects (EREACTORTRAP) if any reactor trapped
    await stopTarget(target).catch(() => undefined);
  }
});
