// A file bdev mapped into the engine's memory (createFile's `mmap`): its bytes are the file's, through
// the page cache; flush, unmap and write_zeroes still go through io_uring; the mapping and its pages
// go with the bdev.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, WstorError } from '../../host/index.js';

const MiB = 1 << 20;
const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');

function scratchFile(t: { after(fn: () => void): void }, bytes: number): string {
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir(), 'wstor-mmap-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'store.img');
  fs.writeFileSync(file, '');
  fs.truncateSync(file, bytes);
  return file;
}

/** Bytes from a xorshift generator: no 64-byte run repeats within a test's data. */
function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < bytes; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 0xff; }
  return out;
}

test('a blobstore on a mapped file: the bytes are the file\'s, and a buffered bdev reads them back after', async (t) => {
  const file = scratchFile(t, 32 * MiB);
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 * MiB, logLevel: 'error' });
  try {
    const { direct } = engine.bdev.createFile('mm', { path: file, mmap: true });
    assert.equal(direct, false);
    assert.equal(engine.bdev.info('mm').mmap, true);
    let bs = await engine.blobstore.init('mm', { clusterSize: MiB });
    const id = await bs.create({ size: 8 * MiB, xattrs: { name: 'mapped' } });
    let blob = await bs.open(id);
    const data = pattern(8 * MiB, 1);
    // Many 4 KiB writes in flight from both reactors' I/O threads, then a large one over part of them.
    await Promise.all(Array.from({ length: 2048 }, (_, i) => blob.write(i * 4096, data.subarray(i * 4096, (i + 1) * 4096))));
    const tail = pattern(MiB, 2);
    await blob.write(7 * MiB, tail);
    data.set(tail, 7 * MiB);
    assert.ok(Buffer.from(await blob.read(0, 8 * MiB)).equals(data), 'read back through the mapping');

    // The page cache is the file's: before any flush, an ordinary read of the file finds every
    // cluster of the blob (wherever the store put it).
    const raw = fs.readFileSync(file);
    for (let c = 0; c < 8; c++) {
      const cluster = data.subarray(c * MiB, (c + 1) * MiB);
      const at = raw.indexOf(Buffer.from(cluster.subarray(0, 64)));
      assert.ok(at >= 0 && raw.subarray(at, at + MiB).equals(cluster), `cluster ${c} of the blob is in the file`);
    }

    await blob.close();
    await bs.unload();
    await engine.bdev.delete('mm');

    // The same file, buffered (io_uring): the store loads and the data is there.
    engine.bdev.createFile('buf', { path: file });
    bs = await engine.blobstore.load('buf');
    blob = await bs.open(id);
    assert.equal(new TextDecoder().decode(await blob.getXattr('name')), 'mapped');
    assert.ok(Buffer.from(await blob.read(0, 8 * MiB)).equals(data), 'read back through a buffered bdev');
    await blob.close();
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('unmap on a mapped file zeroes the range and keeps its disk blocks (a hole would fault a later store)', async (t) => {
  const file = scratchFile(t, 16 * MiB);
  const engine = await Engine.start({ reactors: 1, memoryBytes: 96 * MiB, logLevel: 'error' });
  try {
    engine.bdev.createFile('mm', { path: file, mmap: true });
    const allocated = fs.statSync(file).blocks * 512;
    assert.ok(allocated >= 16 * MiB, `every block allocated when mapped (${allocated} bytes)`);
    const bs = await engine.blobstore.init('mm', { clusterSize: MiB });
    const blob = await bs.open(await bs.create({ size: 4 * MiB }));
    await blob.write(0, pattern(4 * MiB, 3));
    await blob.unmap(MiB, 2 * MiB);
    const back = await blob.read(0, 4 * MiB);
    assert.deepEqual(back.subarray(MiB, 3 * MiB), new Uint8Array(2 * MiB));
    assert.deepEqual(back.subarray(0, MiB), pattern(4 * MiB, 3).subarray(0, MiB));
    assert.ok(engine.bdev.stats('mm').ops.unmap > 0, 'the blob\'s unmap reached the bdev');
    assert.ok(fs.statSync(file).blocks * 512 >= 16 * MiB, 'no hole punched');
    await blob.write(MiB, pattern(MiB, 4));               // into the zeroed range: must not fault
    assert.deepEqual(await blob.read(MiB, MiB), pattern(MiB, 4));
    await blob.close();
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('deleting a mapped bdev unmaps the file and gives its pages back; refusals say what to do', async (t) => {
  const file = scratchFile(t, 56 * MiB);
  const engine = await Engine.start({ reactors: 1, memoryBytes: 96 * MiB, logLevel: 'error' });
  try {
    // 56 MiB twice would not fit in 96 MiB: each create must find the previous one's pages free.
    for (let i = 0; i < 6; i++) {
      engine.bdev.createFile(`mm${i}`, { path: file, mmap: true });
      await engine.bdev.delete(`mm${i}`);
    }
    engine.bdev.createFile('held', { path: file, mmap: true });
    assert.throws(() => engine.bdev.createFile('second', { path: file, mmap: true }),
      (e: WstorError) => e.code === 'ENOMEM' && /no room to map .* memoryBytes larger/.test(e.message));
    assert.throws(() => engine.bdev.createFile('both', { path: file, mmap: true, direct: true }),
      (e: WstorError) => e.code === 'EINVAL' && /mmap and direct exclude each other/.test(e.message));
    assert.throws(() => engine.bdev.rescan('held'), (e: WstorError) => e.code === 'ENOTSUP' && /delete and create it again/.test(e.message));
    assert.equal(engine.bdev.list().filter((b) => b.name === 'second').length, 0, 'a refused create leaves no bdev');
    await engine.bdev.delete('held');
  } finally {
    await engine.stop();
  }
});

test('wstor perf verify on a mapped file: every byte read back as written', (t) => {
  const file = scratchFile(t, 32 * MiB);
  const out = execFileSync(process.execPath, [cli, 'perf', '--bdev', `file:${file}:mmap`, '-w', 'verify', '-q', '16', '-o', '4096', '-t', '1', '-r', '2', '--json'],
    { encoding: 'utf8' });
  const r = JSON.parse(out);
  assert.ok(r.total.ios > 1000, `verified I/Os: ${r.total.ios}`);
  assert.equal(r.total.mismatches, 0);
  assert.equal(r.total.errors, 0);
});
