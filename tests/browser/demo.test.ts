// The demo page `wstor web` serves, driven by its buttons in Chromium: a store on OPFS that is still
// there after the browser is closed and launched again, snapshots, the blob list, and the perf table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, inBrowser, serveBuild, withUserDir } from '../helpers/browser.js';
import { skipIfMissing } from '../helpers/skip.js';
import { demoPageHtml } from '../../host/web/demo-page.js';
import type { StaticServer } from '../../host/web/server.js';
import type { Page } from 'playwright-core';

let server: StaticServer | undefined;
before(async () => { if (!chromiumMissing()) server = await serveBuild({ page: demoPageHtml() }); });
after(async () => { await server?.close(); });

async function click(page: Page, action: string): Promise<void> {
  await page.click(`button[data-action="${action}"]`);
  // The page disables every button while an action runs.
  await page.waitForFunction(() => [...document.querySelectorAll('button')].every((b) => !b.disabled), null, { timeout: 120_000 });
}

const logText = (page: Page) => page.$eval('#log', (e) => e.textContent ?? '');
const blobRows = (page: Page) => page.$$eval('#blobs tr', (rows) => rows.length - 1);

/** The demo page in a browser over `userDir`, once its engine is up, for the length of `fn`. */
function demo<T>(userDir: string, fn: (page: Page) => Promise<T>): Promise<T> {
  return inBrowser(userDir, server!.url, async (s) => {
    await s.page.waitForFunction(() => document.title === 'wstor ready' || document.title === 'wstor failed', null, { timeout: 30_000 });
    assert.equal(await s.page.title(), 'wstor ready', await s.page.$eval('#status', (e) => e.textContent ?? ''));
    return fn(s.page);
  }, { waitReady: false });
}

test('the demo page: a store on OPFS written, snapshotted, listed, and found again after a relaunch', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), 'chromium is not installed (apt-get install -y chromium)')) return;
  await withUserDir(async (userDir) => {
    await demo(userDir, async (page) => {
      await click(page, 'open store');
      await click(page, 'write blob');
      await click(page, 'snapshot');
      assert.equal(await blobRows(page), 2, 'the blob and its snapshot');
      await click(page, 'read & verify');
      const text = await logText(page);
      assert.match(text, /made a new store on wstor-demo.img/);
      assert.equal((text.match(/all 4194304 bytes as written/g) ?? []).length, 2, 'the blob and its snapshot hold the pattern');
      assert.doesNotMatch(text, /differs|error/i);
      await click(page, 'unload');
    });
    await demo(userDir, async (page) => {
      await click(page, 'open store');
      await click(page, 'read & verify');
      const text = await logText(page);
      assert.match(text, /loaded the store on wstor-demo.img: 2 blobs/);
      assert.equal((text.match(/all 4194304 bytes as written/g) ?? []).length, 2, text);
      await click(page, 'delete store');
      assert.match(await logText(page), /deleted OPFS file wstor-demo.img/);
    });
  });
});

test('the demo page: the perf button fills the rates table for OPFS and malloc', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), 'chromium is not installed (apt-get install -y chromium)')) return;
  await withUserDir((userDir) => demo(userDir, async (page) => {
    await click(page, 'perf');
    const rows = await page.$$eval('#rates tr', (trs) => trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    assert.deepEqual(rows.map((r) => r[0]), ['OPFS', 'malloc']);
    for (const r of rows) for (const v of r.slice(1)) assert.ok(Number(v) > 0, `rate ${v} in ${r.join(' ')}`);
    assert.match(await logText(page), /perf done$/m);
  }));
});
