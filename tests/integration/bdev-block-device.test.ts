// A file bdev on a real block device: a loop device over a file in /var/tmp (root and losetup, which CI
// has). Its size comes from the device (a block device's stat size is 0); reads, writes, flush, unmap
// and write_zeroes reach the device, O_DIRECT and buffered; wstor perf's verify passes on it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OP, env, name, client, bytes, aligned } from '../helpers/bdev-env.js';
import { skipIfMissing } from '../helpers/skip.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const DEVICE_BYTES = 64 << 20;

/** A loop device over a fresh sparse file, detached after the test; null (with the test skipped) where there is none to be had. */
function loopDevice(t: TestContext): { device: string; backing: string } | null {
  if (process.getuid?.() !== 0) { skipIfMissing(t, true, 'needs root to attach a loop device'); return null; }
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir(), 'wstor-loop-'));
  const backing = path.join(dir, 'backing.img');
  fs.writeFileSync(backing, '');
  fs.truncateSync(backing, DEVICE_BYTES);
  let device: string;
  try {
    device = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    skipIfMissing(t, true, `losetup could not attach a loop device: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
  t.after(() => {
    spawnSync('losetup', ['--detach', device]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { device, backing };
}

const pattern = (i: number) => (i * 37 + 11) & 0xff;

test('a block device: writes, flush, unmap and write_zeroes reach it, O_DIRECT and buffered; its end is the bdev\'s', async (t) => {
  const loop = loopDevice(t);
  if (loop === null) return;
  for (const direct of [true, false]) {
    const e = await env();
    const fd = fs.openSync(loop.device, fs.constants.O_RDWR | (direct ? fs.constants.O_DIRECT : 0));
    try {
      const id = e.h.core.bdev_uring_create(name(e, `loop_${direct}`), fd, 4096, DEVICE_BYTES / 4096, direct ? 1 : 0, 0);
      assert.ok(id > 0, 'file bdev on the block device');
      const c = client(e, id);
      const buf = aligned(e.h, 8192);
      bytes(e.h, buf, 8192).forEach((_, i, a) => { a[i] = pattern(i); });
      const at = DEVICE_BYTES - 8192;                              // the device's last two blocks
      assert.equal(c.run(OP.write, { buf, off: at, len: 8192 }), 0);
      assert.ok(c.lastOk(), 'write completed');
      c.run(OP.flush);
      assert.ok(c.lastOk(), 'flush completed');
      const onDevice = Buffer.alloc(8192);
      const reader = fs.openSync(loop.backing, 'r');
      try { fs.readSync(reader, onDevice, 0, 8192, at); } finally { fs.closeSync(reader); }
      assert.ok(onDevice.every((v, i) => v === pattern(i)), 'the device (its backing file) holds what was written');
      bytes(e.h, buf, 8192).fill(0);
      c.run(OP.read, { buf, off: at, len: 8192 });
      assert.ok(c.lastOk());
      assert.ok(bytes(e.h, buf, 8192).every((v, i) => v === pattern(i)), 'read back through io_uring');
      c.run(OP.unmap, { off: at, len: 4096 });
      assert.ok(c.lastOk(), 'unmap (punch hole on a block device) completed');
      c.run(OP.writeZeroes, { off: at + 4096, len: 4096 });
      assert.ok(c.lastOk(), 'write_zeroes completed');
      c.run(OP.read, { buf, off: at, len: 8192 });
      assert.ok(bytes(e.h, buf, 8192).every((v) => v === 0), 'unmapped and zeroed blocks read as zeroes');
      assert.equal(c.run(OP.read, { buf, off: DEVICE_BYTES, len: 4096 }), -22, 'past the device\'s end');
    } finally {
      fs.closeSync(fd);
    }
  }
});

test('wstor perf on a block device: the size is the device\'s, and verify passes O_DIRECT and buffered', async (t) => {
  const loop = loopDevice(t);
  if (loop === null) return;
  for (const spec of [`file:${loop.device}:direct`, `file:${loop.device}`]) {
    const r = spawnSync(process.execPath, [CLI, 'perf', '--bdev', spec, '-w', 'verify', '-t', '1', '-q', '16', '-r', '2', '--json'],
      { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${spec}: ${r.stderr}`);
    const report = JSON.parse(r.stdout);
    for (const j of report.jobs) assert.ok(j.ios > 0, `${spec}: job ${j.job} did I/O`);
    assert.equal(report.total.errors, 0, spec);
    assert.equal(report.total.mismatches, 0, spec);
  }
  // Past the end of the device is refused before any I/O: perf sizes each job's share from the device.
  const tooBig = spawnSync(process.execPath, [CLI, 'perf', '--bdev', `file:${loop.device}`, '-o', `${DEVICE_BYTES * 2}`, '-t', '1'],
    { encoding: 'utf8', timeout: 30_000 });
  assert.equal(tooBig.status, 2, tooBig.stderr);
  assert.match(tooBig.stderr, new RegExp(`the bdev \\(${DEVICE_BYTES} bytes\\) is too small`));
});
