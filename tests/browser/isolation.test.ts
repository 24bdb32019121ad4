// A page served without COOP/COEP has no shared memory: Engine.start says what the server must send.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { BUILD_DIR, chromiumMissing, inBrowser, withUserDir } from '../helpers/browser.js';
import { skipIfMissing } from '../helpers/skip.js';
import type * as Steps from './pages/steps.js';

declare const wstorTest: typeof Steps;

/** build/ without the isolation headers (the test's own server: ours always sends them). */
async function plainServer(): Promise<{ url: string; close(): Promise<void> }> {
  const page = `<!doctype html><link rel=icon href="data:,"><script type=module>import * as m from '/tests/browser/pages/steps.js'; globalThis.wstorTest = m; document.title = 'ready';</script>`;
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/') { res.writeHead(200, { 'content-type': 'text/html' }); res.end(page); return; }
    const file = path.join(BUILD_DIR, path.posix.normalize(p));
    if (!file.startsWith(BUILD_DIR + path.sep) || !fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
    res.end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

test('Engine.start on a page without COOP/COEP is ENOTSUP naming the headers', async (t) => {
  if (skipIfMissing(t, chromiumMissing(), 'chromium is not installed (apt-get install -y chromium)')) return;
  const server = await plainServer();
  try {
    const r = await withUserDir((dir) => inBrowser(dir, server.url, (s) => s.page.evaluate(() => wstorTest.startUnisolated())));
    assert.equal(r.isolated, false);
    assert.equal(r.code, 'ENOTSUP', r.message);
    assert.match(r.message, /cross-origin isolated page .*Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
  } finally {
    await server.close();
  }
});
