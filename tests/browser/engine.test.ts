// The engine in Chromium: its browser entry starts two reactors in Workers over one shared memory, and
// the promise API runs a blobstore on a malloc bdev there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, newUserDir, openBrowser, removeUserDir, serveBuild, type BrowserSession } from '../helpers/browser.js';
import { skipIfMissing } from '../helpers/skip.js';
import type { StaticServer } from '../../host/web/server.js';
import type * as Steps from './pages/steps.js';

declare const wstorTest: typeof Steps;

let server: StaticServer | undefined;
let session: BrowserSession | undefined;
let userDir = '';

before(async () => {
  if (chromiumMissing()) return;
  server = await serveBuild({ module: '/tests/browser/pages/steps.js' });
  userDir = newUserDir();
  session = await openBrowser(userDir, server.url);
});

after(async () => {
  await session?.close();
  await server?.close();
  if (userDir) removeUserDir(userDir);
});

test('the page is cross-origin isolated by the static server', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), 'chromium is not installed (apt-get install -y chromium)')) return;
  assert.equal(await session!.page.evaluate(() => wstorTest.isolated()), true);
});

test('two reactors in Workers: blob write, read back and snapshot on a malloc bdev', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), 'chromium is not installed (apt-get install -y chromium)')) return;
  const r = await session!.page.evaluate(() => wstorTest.mallocRoundTrip());
  assert.equal(r.reactors, 2);
  assert.equal(r.mismatch, -1, `read back differs at byte ${r.mismatch}`);
  assert.equal(r.bdevKind, 'malloc');
  assert.equal(r.blobs, 2, 'the blob and its snapshot are listed');
  assert.notEqual(r.ids[0], r.ids[1]);
  assert.deepEqual(session!.errors, []);
});

test('Node-only parts say so in the browser instead of failing obscurely', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), 'chromium is not installed (apt-get install -y chromium)')) return;
  const r = await session!.page.evaluate(() => wstorTest.nodeOnlyRefusals());
  assert.equal(r.vhost.code, 'ENOTSUP');
  assert.match(r.vhost.message, /vhost-user is not available on browser/);
  assert.equal(r.file.code, 'ENOTSUP');
  assert.match(r.file.message, /file bdevs are not available on browser/);
});

test('a plugin bdev works in the browser: ChaCha20 over malloc, made in the page, run by both reactors', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), 'chromium is not installed (apt-get install -y chromium)')) return;
  const r = await session!.page.evaluate(() => wstorTest.pluginRoundTrip());
  assert.equal(r.kind, 'plugin');
  assert.equal(r.mismatch, -1, `read back through the plugin differs at byte ${r.mismatch}`);
  assert.ok(r.fuel > 0, 'metered');
  assert.deepEqual(session!.errors, []);
});
