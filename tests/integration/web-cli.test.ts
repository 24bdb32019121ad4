// `wstor web`: serves the browser build and the demo page cross-origin isolated, and stops on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');

test('wstor web --port 0 serves the demo page, the browser entry and core.wasm, and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [CLI, 'web', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => { out += c; const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out); if (m) resolve(m[1]); });
      child.on('exit', (code) => reject(new Error(`wstor web exited ${code} before serving: ${out}`)));
    });
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(await page.text(), /<script type="module" src="\/host\/web\/demo.js">/);
    for (const p of ['host/web/index.js', 'host/web/demo.js', 'host/web/reactor-worker.js', 'host/web/opfs-worker.js', 'core.wasm']) {
      const r = await fetch(url + p);
      assert.equal(r.status, 200, p);
      await r.arrayBuffer();
    }
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('wstor web refuses a port above 65535 with a usage error', async () => {
  const child = spawn(process.execPath, [CLI, 'web', '--port', '70000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => { err += c; });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 2);
  assert.match(err, /--port 70000: a TCP port is at most 65535/);
});
