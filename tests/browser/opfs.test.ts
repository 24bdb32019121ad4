// OPFS bdevs in Chromium, in a persistent context (a user-data directory kept across launches, as a
// browser profile is): a blobstore written, the browser closed and launched again, loaded and checked;
// a tab that closes on a dirty store; refusals with their codes; a reactor that traps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, inBrowser, serveBuild, withUserDir } from '../helpers/browser.js';
import type { Page } from 'playwright-core';
import { skipIfMissing } from '../helpers/skip.js';
import type { StaticServer } from '../../host/web/server.js';
import type * as Steps from './pages/steps.js';

declare const wstorTest: typeof Steps;

const MISSING = 'chromium is not installed (apt-get install -y chromium)';
const MiB = 1 << 20;
let server: StaticServer | undefined;

before(async () => { if (!chromiumMissing()) server = await serveBuild({ module: '/tests/browser/pages/steps.js' }); });
after(async () => { await server?.close(); });

const run = <T>(userDir: string, step: (page: Page) => Promise<T>) => inBrowser(userDir, server!.url, (s) => step(s.page));

for (const unload of [true, false]) {
  const how = unload ? 'unloaded cleanly' : 'left dirty as a closing tab leaves it';
  test(`a blobstore on OPFS, ${how}, loads after the browser is closed and launched again`, async (t) => {
    if (skipIfMissing(t, chromiumMissing(), MISSING)) return;
    await withUserDir(async (userDir) => {
      const store = { file: 'store.img', sizeBytes: 16 * MiB, seed: unload ? 3 : 4, length: 2 * MiB + 8192 };
      const written = await run(userDir, (page) => page.evaluate((a) => wstorTest.opfsWrite(a), { ...store, unload }));
      assert.equal(written.kind, 'opfs');
      assert.equal(written.blockCount, 4096);
      const checked = await run(userDir, (page) => page.evaluate((a) => wstorTest.opfsVerify(a), { ...store, id: written.id }));
      assert.equal(checked.mismatch, -1, `the blob read back differs at byte ${checked.mismatch}`);
      assert.equal(checked.blobs, 1);
      assert.equal(checked.bytes, 16 * MiB, 'the file kept its size');
    });
  });
}

test('OPFS bdevs refuse what they cannot do with a code and a reason', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), MISSING)) return;
  await withUserDir(async (userDir) => {
    const r = await run(userDir, (page) => page.evaluate((f) => wstorTest.opfsRefusals(f), 'refusals.img'));
    assert.equal(r.missing.code, 'ENOENT');
    assert.match(r.missing.message, /no OPFS file named refusals.img-missing \(create it by giving sizeBytes\)/);
    assert.equal(r.badName.code, 'EINVAL');
    assert.match(r.badName.message, /OPFS file name "dir\/file" must be/);
    assert.equal(r.unaligned.code, 'EINVAL');
    assert.match(r.unaligned.message, /sizeBytes 1048676 must be a positive multiple of the block size \(4096\)/);
    assert.equal(r.overQuota.code, 'ENOSPC');
    assert.match(r.overQuota.message, /cannot grow to 1125899906842624 bytes: this origin uses \d+ of its \d+-byte quota/);
    assert.equal(r.first.code, 'none');
    assert.equal(r.sameFile.code, 'EBUSY', 'the first bdev holds the file\'s one access handle');
    assert.equal(r.busy.code, 'EBUSY');
    assert.match(r.busy.message, /open elsewhere/);
    assert.equal(r.shrink.code, 'EINVAL');
    assert.match(r.shrink.message, /holds 1048576 bytes, more than the 4096 asked for/);
    assert.equal(r.reopened.code, 'none', 'deleting the bdev closed its handle');
  });
});

test('a reactor that traps in the browser is reported on the page, and stop says so', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), MISSING)) return;
  await withUserDir(async (userDir) => {
    const r = await run(userDir, (page) => page.evaluate(() => wstorTest.trapOnReactor()));
    assert.match(r.error, /reactor 1 trapped/);
    assert.match(r.error, /unreachable|wasm/i);
    assert.equal(r.stop.code, 'EREACTORTRAP');
    assert.ok(r.reports.some((m) => /reactor 1 trapped/.test(m)), r.reports.join('\n'));
  });
});

test('a web platform serves a second engine once the first has stopped (its OPFS worker and rings start afresh)', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), MISSING)) return;
  await withUserDir(async (userDir) => {
    assert.deepEqual(await run(userDir, (page) => page.evaluate((f) => wstorTest.platformReused(f), 'reused.img')), [256, 256]);
  });
});
