// CI's share of the seeded corruption loop (tests/crash/blobstore-corrupt.ts): WSTOR_CORRUPT_COUNT
// seeds (default 1,000) on a clean and on a dirty image; `npm run soak:bs-corrupt` runs 20,000. A
// failure names its seed: WSTOR_CORRUPT_SEED=n replays just that one, on both variants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFixture, runCorruption, runCorruptions } from '../crash/blobstore-corrupt.js';

const SEED = process.env.WSTOR_CORRUPT_SEED;
const COUNT = Number(process.env.WSTOR_CORRUPT_COUNT ?? 1000);
const FIRST = Number(process.env.WSTOR_CORRUPT_FIRST ?? 1);

test(SEED ? `corrupted image, seed ${SEED}` : `${COUNT} corrupted images, clean and dirty: each a clear refusal or blobs that read their own data, never a trap or another blob's data`, async () => {
  if (SEED) {
    for (const clean of [true, false]) runCorruption(await buildFixture(clean), Number(SEED));
    return;
  }
  const t = await runCorruptions(FIRST, COUNT);
  console.log(`${t.runs} images: ${t.refusedLoads} loads refused, ${t.readOnly} read-only; ${t.blobsOpened} blobs opened, ${t.blobsRefused} refused`);
  if (COUNT >= 200) {
    assert.ok(t.refusedLoads > 0 && t.refusedLoads < t.runs, 'some loads are refused, most are not');
    assert.ok(t.blobsRefused > 0, 'some blobs are refused');
  }
});
