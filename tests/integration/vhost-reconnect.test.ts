// Reconnect with INFLIGHT_SHMFD: `wstor serve` is killed (SIGKILL) while a guest's writes are in flight
// (a delay bdev holds them), started again, and the scripted client reconnects as QEMU's reconnect=
// does (same guest memory and rings, the inflight region it kept, the ring base from the used index).
// The restarted backend submits the writes again and completes them; nothing the guest waited for is
// lost, and new requests are served after them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VhostUserClient, BLK } from '../helpers/vhost-user-client.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13) & 0xff);

async function serve(dir: string, config: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config, '-S', dir, '-r', path.join(dir, 'rpc.sock'), '--mem', '256MiB'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  for (let i = 0; i < 300 && !/ready on/.test(err); i++) {
    if (child.exitCode !== null) throw new Error(`serve exited: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(err, /ready on/);
  return child;
}

test('a restarted wstor resubmits the writes that were in flight when it died', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-reconnect-'));
  const img = path.join(dir, 'disk.img');
  fs.writeFileSync(img, Buffer.alloc(0));
  fs.truncateSync(img, 32 << 20);
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ subsystems: [
    { subsystem: 'bdev', config: [
      { method: 'bdev_aio_create', params: { name: 'disk', filename: img } },
      { method: 'bdev_delay_create', params: { name: 'slow', base_bdev_name: 'disk', avg_read_latency: 1000, p99_read_latency: 1000, avg_write_latency: 400000, p99_write_latency: 400000 } },
    ] },
    { subsystem: 'vhost_blk', config: [{ method: 'vhost_create_blk_controller', params: { ctrlr: 'vr', dev_name: 'slow' } }] },
  ] }));
  let backend = await serve(dir, config);
  const client = await VhostUserClient.connect(path.join(dir, 'vr'));
  try {
    await client.setup(1, { inflight: true });
    assert.ok(client.inflightFd >= 0, 'GET_INFLIGHT_FD gave a region');
    const writes = [0, 1, 2].map((i) => ({ sector: BigInt(8 + i * 64), data: pattern(8192, i + 1) }));
    const pending = writes.map((w) => client.submit(0, BLK.OUT, w.sector, { data: w.data }));
    await new Promise((r) => setTimeout(r, 100));       // taken by the backend, held by the delay bdev
    backend.kill('SIGKILL');
    await new Promise((r) => backend.on('exit', r));
    for (const p of pending) assert.equal(client.statusOf(p.status), 0xee, 'not completed before the crash');

    backend = await serve(dir, config);
    client.reconnect(path.join(dir, 'vr'));
    await client.setup(1, { inflight: true, resume: true });
    const done = new Set<number>();
    for (let i = 0; i < pending.length; i++) done.add((await client.used(0, 10_000)).id);
    assert.deepEqual([...done].sort((a, b) => a - b), pending.map((p) => p.head).sort((a, b) => a - b), 'every in-flight head came back');
    for (const p of pending) assert.equal(client.statusOf(p.status), 0, 'completed OK after the reconnect');
    for (const w of writes) {
      const r = await client.request(0, BLK.IN, w.sector, { readBytes: w.data.length });
      assert.equal(r.status, 0);
      assert.deepEqual(r.data, w.data, 'the write reached the disk');
    }
  } finally {
    client.close();
    if (backend.exitCode === null && backend.signalCode === null) {
      backend.kill('SIGTERM');
      await new Promise((r) => backend.on('exit', r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
