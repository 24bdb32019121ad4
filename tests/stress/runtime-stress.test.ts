// Issue 2's stress: 2 and 4 reactors (on however many cores there are) allocating, tagging, freeing
// (some blocks freed on another reactor) and messaging with per-sender sequence numbers at once.
// 0 corrupted blocks, 0 lost or duplicated messages, every block returned, clean shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEngine } from '../helpers/engine.js';

const TOTAL_OPS = Number(process.env.WSTOR_STRESS_OPS ?? 10_000_000);

const cases = [
  { reactors: 2, ops: TOTAL_OPS, ringSize: 0 },
  { reactors: 4, ops: TOTAL_OPS, ringSize: 0 },
  // Rings of 8 slots: most messages go through the overflow while both reactors send at full rate.
  { reactors: 2, ops: Math.ceil(TOTAL_OPS / 4), ringSize: 8 },
];

for (const { reactors, ops, ringSize } of cases) {
  const rings = ringSize === 0 ? '' : ` through ${ringSize}-slot message rings`;
  test(`${reactors} reactors: ${ops} alloc/free/message operations${rings}, nothing corrupted, lost, reordered or leaked`, async () => {
    const t = await startTestEngine({ reactors, memoryBytes: 512 << 20 });
    let stopped = false;
    try {
      const baseline = t.core.t_live_blocks_all();
      const threadsBefore = t.core.thread_count();
      const perWorker = Math.ceil(ops / reactors);
      const seed = Number(process.env.WSTOR_STRESS_SEED ?? Date.now() % 1e9);
      const started = performance.now();
      const run = t.core.t_stress_start(reactors, perWorker, seed, ringSize);
      assert.notEqual(run, 0, `stress run started (reports: ${JSON.stringify(t.reports)})`);
      const done = await t.nextEvents(reactors, () => true, 300_000);
      const seconds = (performance.now() - started) / 1000;
      let sent = 0, received = 0, awayBlocks = 0, overflowed = 0;
      for (const e of done) {
        assert.equal(e.b, 0, `worker ${e.a} counted ${e.b} errors (seed ${seed})`);
        assert.equal(e.c, perWorker);
      }
      for (let i = 0; i < reactors; i++) {
        assert.equal(t.core.t_stress_counter(run, i, 5), 0, 'no allocation failed');
        sent += t.core.t_stress_counter(run, i, 2);
        received += t.core.t_stress_counter(run, i, 3);
        awayBlocks += t.core.t_stress_counter(run, i, 4);
        overflowed += t.core.t_stress_counter(run, i, 6);
      }
      // Fin messages are counted as sent but checked separately from data messages on receipt.
      assert.equal(received, sent - reactors * (reactors - 1), 'every data message arrived exactly once');
      assert.ok(awayBlocks > 1000, `blocks freed on another reactor: ${awayBlocks}`);
      if (ringSize !== 0) assert.ok(overflowed > 1000, `messages through the overflow: ${overflowed}`);
      // The workers exit on their own; their reactors destroy them just after the last event.
      for (let i = 0; i < 500 && t.core.thread_count() !== threadsBefore; i++) await new Promise((r) => setTimeout(r, 2));
      assert.equal(t.core.thread_count(), threadsBefore, 'every stress thread exited and was destroyed');
      t.core.t_stress_free(run, reactors);
      assert.equal(t.core.t_live_blocks_all(), baseline, 'every block allocated during the run was freed');
      await t.engine.stop();
      stopped = true;
      const errors = t.reports.filter((r) => r.level === 'error' || r.level === 'fatal');
      assert.deepEqual(errors, []);
      console.log(`# ${reactors} reactors: ${(reactors * perWorker / seconds / 1e6).toFixed(2)} M ops/s, ` +
        `${sent} messages (${overflowed} through the overflow), ${awayBlocks} cross-reactor frees, ${seconds.toFixed(1)} s, seed ${seed}`);
    } finally {
      if (!stopped) await t.engine.stop().catch(() => undefined);
    }
  });
}
