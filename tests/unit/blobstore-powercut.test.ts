// CI's share of the power-cut simulation: 1,000 seeded cuts (the soak command runs 10,000).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCut, runCuts } from '../crash/blobstore-powercut.js';

const SEED = process.env.WSTOR_CRASH_SEED;
const COUNT = Number(process.env.WSTOR_CRASH_CUTS ?? 1000);

test(SEED ? `power cut, seed ${SEED}` : `${COUNT} power cuts: synced blobs, their xattrs and flushed data survive, snapshots are all or nothing; no cluster leaks`, async () => {
  if (SEED) { await runCut(Number(SEED)); return; }
  const { ops, snapshotsDiscarded, copyUps } = await runCuts(1, COUNT);
  console.log(`# ${COUNT} cuts after ${ops} operations (${copyUps} inflates, decouples and snapshot deletes); ${snapshotsDiscarded} interrupted snapshots discarded at load`);
  if (COUNT >= 200) assert.ok(snapshotsDiscarded > 0, 'some cuts land inside a snapshot before its origin moved: the repair ran');
  if (COUNT >= 200) assert.ok(copyUps > 0, 'the workload inflated, decoupled or deleted snapshots into their clone');
});
