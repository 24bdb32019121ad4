// CI's share of the power-cut simulation: 1,000 seeded cuts (the soak command runs 10,000).
import { test } from 'node:test';
import { runCut, runCuts } from '../crash/blobstore-powercut.js';

const SEED = process.env.WSTOR_CRASH_SEED;
const COUNT = Number(process.env.WSTOR_CRASH_CUTS ?? 1000);

test(SEED ? `power cut, seed ${SEED}` : `${COUNT} power cuts: synced blobs, their xattrs and flushed data survive; no cluster leaks`, async () => {
  if (SEED) { await runCut(Number(SEED)); return; }
  const ops = await runCuts(1, COUNT);
  console.log(`# ${COUNT} cuts after ${ops} operations`);
});
