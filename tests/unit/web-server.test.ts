// The static server behind `wstor web`: cross-origin isolation headers on every answer, nothing
// outside its directory, loopback by default, in-memory pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { startStaticServer, resolveUnder } from '../../host/web/server.js';

/** A raw GET (fetch would normalise the ../ away before it is sent). */
function get(url: string, rawPath: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function tempRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-web-'));
  fs.mkdirSync(path.join(root, 'host'));
  fs.writeFileSync(path.join(root, 'host', 'a.js'), 'export const a = 1;\n');
  fs.writeFileSync(path.join(root, 'core.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
  fs.writeFileSync(path.join(path.dirname(root), 'wstor-web-secret.txt'), 'TOP-SECRET-CONTENT');
  return root;
}

test('files are served with their types and the COOP/COEP headers; 404s carry them too', async () => {
  const root = tempRoot();
  const server = await startStaticServer({ root, files: { '/': { contentType: 'text/html; charset=utf-8', body: '<p>hi</p>' } } });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'loopback by default');
    const page = await get(server.url, '/');
    assert.equal(page.status, 200);
    assert.equal(page.body, '<p>hi</p>');
    for (const [p, type] of [['/host/a.js', 'text/javascript; charset=utf-8'], ['/core.wasm', 'application/wasm']]) {
      const r = await get(server.url, p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers['content-type'], type, p);
    }
    const missing = await get(server.url, '/nope.js');
    assert.equal(missing.status, 404);
    for (const r of [page, missing]) {
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
    }
    const head = await get(server.url, '/host/a.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await get(server.url, '/host/a.js', 'POST')).status, 405);
  } finally {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('nothing outside the served directory is reachable', async () => {
  const root = tempRoot();
  const server = await startStaticServer({ root });
  try {
    for (const p of ['/../wstor-web-secret.txt', '/%2e%2e/wstor-web-secret.txt', '/host/..%2f..%2fwstor-web-secret.txt', '/%00']) {
      const r = await get(server.url, p);
      assert.ok(r.status === 403 || r.status === 404, `${p}: ${r.status}`);
      assert.doesNotMatch(r.body, /TOP-SECRET-CONTENT/, p);
    }
  } finally {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  assert.equal(resolveUnder('/srv/build', '/../etc/passwd'), '/srv/build/etc/passwd', 'a leading .. stays inside');
  assert.equal(resolveUnder('/srv/build', '/a/%E0%A4%A'), null, 'bad percent-encoding is refused');
});

test('a port in use is an error that says to choose another', async () => {
  const root = tempRoot();
  const first = await startStaticServer({ root });
  try {
    const port = Number(new URL(first.url).port);
    await assert.rejects(startStaticServer({ root, port }), (err: Error & { code?: string }) =>
      err.code === 'EADDRINUSE' && /choose another --port/.test(err.message));
  } finally {
    await first.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
