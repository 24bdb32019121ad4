// Wake-up storms: threads hopping between reactors that spin 0 µs and may sleep 10 s, so every hop
// needs the other reactor woken, and several movers race on its wake (the kernel sleep's wakeSent
// flag and eventfd; the doorbell's atomic notify). A lost wake-up shows as a 10 s stall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTestEngine } from '../helpers/engine.js';

const MOVERS = 4;
const HOPS = 25_000;
const LONG_SLEEP_US = 10_000_000;

for (const sleep of ['kernel', 'doorbell'] as const) {
  test(`${MOVERS} threads hop ${HOPS} times each between reactors that sleep ${sleep === 'kernel' ? 'in the kernel' : 'on the doorbell'} at once; no wake is lost`, () => withTestEngine(async (t) => {
    for (let i = 0; i < 2; i++) t.core.reactor_set_idle_policy(i, 0, LONG_SLEEP_US);
    // Let both reactors take the new policy (a sleep begun before it ends by the old cap).
    await new Promise((r) => setTimeout(r, 50));
    const before = t.engine.reactorStats();
    const started = performance.now();
    for (let m = 0; m < MOVERS; m++) assert.equal(t.core.t_mover_start(HOPS - 1), 0);
    const events = await t.nextEvents(MOVERS * HOPS, () => true, 60_000);
    const took = performance.now() - started;
    const after = t.engine.reactorStats();
    assert.equal(events.length, MOVERS * HOPS);
    const sleeps = after.reduce((n, s, i) => n + s.sleeps - before[i].sleeps, 0);
    const timedOut = after.reduce((n, s, i) => n + s.wakesTimedOut - before[i].wakesTimedOut, 0);
    assert.equal(timedOut, 0, `no sleep ran into its 10 s cap (${sleeps} sleeps, ${took.toFixed(0)} ms)`);
    assert.ok(sleeps > 100, `the reactors did sleep between hops (${sleeps} sleeps)`);
    assert.ok(took < 30_000, `${MOVERS * HOPS} hops took ${took.toFixed(0)} ms`);
  }, { sleep }));
}
